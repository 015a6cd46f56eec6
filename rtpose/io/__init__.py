"""Where frames come from and where results go: sources, checked inputs, sinks, drawing and output-path checks."""
