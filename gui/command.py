"""``rtpose gui``: open the desktop viewer (needs the ``gui`` extra: ``pip install 'rtpose[gui]'``).

The viewer is an application on top of the rtpose library, so the library does not import it: this
module adds the ``gui`` command to ``rtpose`` through the ``rtpose.commands`` entry point (see
pyproject.toml), and imports nothing of Qt until the command runs.
"""

from __future__ import annotations

import argparse

from gui.options import HELP, configure


def main(args: argparse.Namespace) -> int:
    """Run the viewer until its window closes; returns the exit code."""
    from gui.app import run

    return run(args)


__all__ = ["HELP", "configure", "main"]
