"""The run loop: capture threads → inference → results, streams of results, stop signals and run statistics."""
