"""The ``rtpose`` command line: ``rtpose [run] --source …`` plus subcommands.

Each subcommand lives in its own module exposing ``HELP`` (one line), ``configure(parser)`` and
``main(args) -> int``; modules are imported only when their command runs, so ``--help`` is quick.
User errors (:class:`rtpose.errors.RtposeError`) print one sentence and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rtpose.errors import RtposeError

#: command → module. ``run`` is the default when the first argument is not a command.
COMMANDS: dict[str, str] = {
    "run": "rtpose.cli.run",
    "eval": "rtpose.cli.evaluate",
    "weights": "rtpose.cli.weights",
    "export-onnx": "rtpose.cli.export",
    "build-engine": "rtpose.cli.engine",
    "gui": "rtpose.cli.gui",
    "check": "rtpose.cli.check",
}

_COMMAND_HELP = {
    "run": "estimate poses on a camera, video, stream, image or folder (the default command)",
    "eval": "score predictions or a model on a COCO keypoint set",
    "weights": "list, download and verify HRNet checkpoints",
    "export-onnx": "export the pose model to ONNX",
    "build-engine": "compile a TensorRT engine from the ONNX model",
    "gui": "open the desktop viewer",
    "check": "report the GPU/backend setup and check every backend against PyTorch FP32",
}


def _epilog() -> str:
    lines = ["commands (rtpose COMMAND --help for details):"]
    lines += [f"  {name:<14}{text}" for name, text in _COMMAND_HELP.items()]
    return "\n".join(lines)


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of one command (``run`` also serves as the top-level ``rtpose`` parser)."""
    module = importlib.import_module(COMMANDS[command])
    prog = "rtpose" if command == "run" else f"rtpose {command}"
    parser = argparse.ArgumentParser(
        prog=prog,
        description=module.HELP,
        epilog=_epilog() if command == "run" else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.configure(parser)
    parser.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rtpose`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--version":
        from rtpose import __version__

        print(f"rtpose {__version__}")
        return 0
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "run"
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
        return int(args._main(args) or 0)
    except RtposeError as exc:
        print(f"rtpose: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rtpose: interrupted", file=sys.stderr)
        return 130
