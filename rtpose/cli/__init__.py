"""The ``rtpose`` command line: ``rtpose [run] --source …`` plus subcommands.

Each subcommand lives in its own module exposing ``HELP`` (one line), ``configure(parser)`` and
``main(args) -> int``; modules are imported only when their command runs, so ``--help`` is quick.
Applications add commands through the ``rtpose.commands`` entry point group (the viewer adds ``gui``),
so the library never imports them. User errors (:class:`rtpose.errors.RtposeError`) print one sentence
and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rtpose.cli.words import cli_words
from rtpose.errors import RtposeError
from rtpose.log import attach_stderr, set_verbosity

#: command → module. ``run`` is the default when the first argument is not a command.
COMMANDS: dict[str, str] = {
    "run": "rtpose.cli.run",
    "eval": "rtpose.cli.evaluate",
    "weights": "rtpose.cli.weights",
    "export-onnx": "rtpose.cli.export",
    "build-engine": "rtpose.cli.engine",
    "check": "rtpose.cli.check",
    "cache": "rtpose.cli.cache",
    "export-triton": "rtpose.cli.triton",
}

_COMMAND_HELP = {
    "run": "estimate poses on a camera, video, stream, image or folder (the default command)",
    "eval": "score predictions or a model on a COCO keypoint set",
    "weights": "list, download and verify HRNet checkpoints",
    "export-onnx": "export the pose model to ONNX",
    "build-engine": "compile a TensorRT engine from the ONNX model",
    "check": "report the GPU/backend setup and check every backend against PyTorch FP32",
    "cache": "list and clean downloaded weights and exported ONNX/engine files",
    "export-triton": "write a Triton Inference Server model repository (the pose model and the YOLO detector)",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-sentence errors: ``rtpose: error: …`` and exit 2, without the usage block."""

    def error(self, message: str):
        from rtpose.io.sources import redact_text  # argparse quotes what was typed: a URL's password too

        self.exit(2, f"{self.prog.split()[0]}: error: {redact_text(message)} (see '{self.prog} --help')\n")


#: Entry point group through which installed applications add commands (``gui = "gui.command"``).
PLUGIN_GROUP = "rtpose.commands"


def commands() -> dict[str, str]:
    """Every command → its module: the built-in ones, then those installed applications add."""
    from importlib.metadata import entry_points

    plugins = {ep.name: ep.value for ep in entry_points(group=PLUGIN_GROUP) if ep.name not in COMMANDS}
    return {**COMMANDS, **plugins}


def _epilog() -> str:
    lines = ["commands (rtpose COMMAND --help for details):"]
    lines += [f"  {name:<14}{text}" for name, text in _COMMAND_HELP.items()]
    for name, module in commands().items():
        if name not in _COMMAND_HELP:
            lines.append(f"  {name:<14}{importlib.import_module(module).HELP}")
    return "\n".join(lines)


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of one command (``run`` also serves as the top-level ``rtpose`` parser)."""
    module = importlib.import_module(commands()[command])
    prog = "rtpose" if command == "run" else f"rtpose {command}"
    parser = _Parser(
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
    attach_stderr(translate=cli_words)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--version":
        from rtpose import __version__

        print(f"rtpose {__version__}")
        return 0
    known = commands()
    command = argv.pop(0) if argv and argv[0] in known else "run"
    if command == "run" and argv and not argv[0].startswith("-"):
        from rtpose.io.sources import redact_text

        print(f"rtpose: error: {redact_text(_unknown_command(argv[0], known))}", file=sys.stderr)
        return 2
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
        set_verbosity(quiet=getattr(args, "quiet", False), verbose=getattr(args, "verbose", False))
        return int(args._main(args) or 0)
    except RtposeError as exc:
        print(f"rtpose: error: {cli_words(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # rtpose.engine.signals.Interrupted says by which signal and during what
        _forget_unhandled_interrupt()
        print(f"rtpose: {str(exc) or 'interrupted'}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except BrokenPipeError:  # the reader went away (rtpose cache | head): not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _forget_unhandled_interrupt() -> None:
    """Let our exit code stand after a Ctrl-C that we handled.

    CPython 3.11 marks a KeyboardInterrupt raised inside ``exec``'d code (dataclasses and namedtuple build their
    methods so, e.g. while a module imports) as unhandled even when it is caught, and then ends the process by
    SIGINT (exit status -2) instead of with our 130. Clearing the mark is harmless where it does not exist.
    """
    import contextlib
    import ctypes

    with contextlib.suppress(ValueError, AttributeError, OSError):
        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0


def _unknown_command(word: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(word, known, n=1)
    if close:
        return f"unknown command {word!r}; did you mean 'rtpose {close[0]}'?"
    return f"unknown command {word!r} (give a source with --source or --camera; see 'rtpose --help')"
