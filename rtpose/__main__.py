"""``python -m rtpose``: the command line (:func:`rtpose.cli.main`)."""

try:
    from rtpose.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line itself is imported: the same one line and 130
    import os
    import sys

    print("rtpose: interrupted", file=sys.stderr, flush=True)
    os._exit(130)

raise SystemExit(main())
