"""The ``rtpose`` command line: ``rtpose [run] --source …`` plus subcommands.

Each subcommand lives in its own module exposing ``HELP`` (one line), ``configure(parser)`` and
``main(args) -> int``; modules are imported only when their command runs, so ``--help`` is quick.
Applications add commands through the ``rtpose.commands`` entry point group (the viewer adds ``gui``),
so the library never imports them. User errors (:class:`rtpose.errors.RtposeError`) print one sentence
and exit non-zero.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys

from rtpose.cli.words import cli_words
from rtpose.errors import OptionError, RtposeError, render_parameter
from rtpose.log import HANDLER, attach_stderr, set_verbosity
from rtpose.utils.redact import redact

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
    "serve": "rtpose.cli.serve",
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
    "serve": "run streams until stopped, serving a live web page, MJPEG, poses (SSE), /metrics and MQTT",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-sentence errors: ``rtpose: error: …`` and exit 2, without the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog.split()[0]}: error: {redact(message)} (see '{self.prog} --help')\n")


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
    """Entry point of the ``rtpose`` console script; returns the exit code.

    Called without ``argv`` (the console script, ``python -m rtpose``), the process itself ends after a
    Ctrl-C: see :func:`_exit_interrupted`.
    """
    process = argv is None
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt as exc:  # rtpose.engine.signals.Interrupted says by which signal and during what
        print(f"rtpose: {redact(str(exc)) or 'interrupted'}", file=sys.stderr)
        code = getattr(exc, "exit_code", 130)
        if process:
            _exit_interrupted(code)
        return code


def _main(argv: list[str]) -> int:
    from rtpose.compat import quiet_ffmpeg

    attach_stderr(translate=cli_words)
    quiet_ffmpeg()
    if argv and argv[0] == "--version":
        from rtpose import __version__

        print(f"rtpose {__version__}")
        return 0
    known = commands()
    command = argv.pop(0) if argv and argv[0] in known else "run"
    if command == "run" and argv and not argv[0].startswith("-"):
        print(f"rtpose: error: {redact(_unknown_command(argv[0], known))}", file=sys.stderr)
        return 2
    parser = None
    try:
        parser = build_parser(command)
        HANDLER.translate = functools.partial(in_flags, parser)  # log lines name this command's flags too
        args = parser.parse_args(argv)
        set_verbosity(quiet=getattr(args, "quiet", False), verbose=getattr(args, "verbose", False))
        return int(args._main(args) or 0)
    except RtposeError as exc:
        print(f"rtpose: error: {error_sentence(exc, parser)}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # the reader went away (rtpose cache | head): not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def flag_for(parser: argparse.ArgumentParser | None, parameter: str | None) -> str | None:
    """The command line's flag for a Python parameter (``input_size`` → ``--input-size``), from the parser's own
    options; None when the parser has no option for it."""
    if parser is None or not parameter:
        return None
    for action in parser._actions:  # argparse keeps no public list of its options
        if action.dest == parameter and action.option_strings:
            return max(action.option_strings, key=len)
    return None


def in_flags(parser: argparse.ArgumentParser | None, text: str) -> str:
    """A library sentence in the command line's words: each ``parameter=value`` of an option of ``parser`` written
    as its flag (``input_size=(256, 192)`` → ``--input-size 256x192``), then the words every command shares
    (:func:`rtpose.cli.words.cli_words`)."""
    if parser is not None and "=" in text:
        for action in parser._actions:  # argparse keeps no public list of its options
            if action.option_strings and action.dest != "help":
                text = render_parameter(text, action.dest, max(action.option_strings, key=len))
    return cli_words(text)


def error_sentence(exc: RtposeError, parser: argparse.ArgumentParser | None = None) -> str:
    """An error's sentence in the command line's words: its parameter as the parser's flag, secrets hidden."""
    text = cli_words(exc) if isinstance(exc, OptionError) else exc.render(flag_for(parser, exc.parameter))
    return redact(in_flags(parser, text))


def _exit_interrupted(code: int) -> None:
    """End the process with ``code`` (130 after Ctrl-C) once a KeyboardInterrupt has been handled.

    CPython marks a KeyboardInterrupt that passed through ``exec``'d code (dataclasses and namedtuple build their
    methods so, e.g. while a module imports) as unhandled even when it was caught, and would end the process by
    SIGINT (exit status -2) instead of with our code. By now every ``finally`` and context manager of the run has
    closed its files, so the outputs are flushed and the process ends here with ``os._exit``.
    """
    import contextlib
    import logging
    import os

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    os._exit(code)


def _unknown_command(word: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(word, known, n=1)
    if close:
        return f"unknown command {word!r}; did you mean 'rtpose {close[0]}'?"
    return f"unknown command {word!r} (give a source with --source or --camera; see 'rtpose --help')"
