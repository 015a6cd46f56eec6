"""The viewer's command-line options (``rtpose gui``, ``rtpose-gui``): the model and tracking options shared
with ``rtpose run`` (the records of :mod:`rtpose.options.table`), plus an optional first source and view settings."""

from __future__ import annotations

import argparse

from rtpose.cli.common import add_model_args, add_option, add_tracking_args
from rtpose.options.schema import Option
from rtpose.options.table import option

HELP = "open the desktop viewer: live skeletons over a camera, video file or stream"

#: The viewer's own option (not a path, not the library's).
FULLSCREEN = Option("fullscreen", "bool", False, scope="view", help="start in full screen (F toggles)")


def configure(parser: argparse.ArgumentParser) -> None:
    """The viewer's options: the model options shared with ``rtpose run`` plus an optional first source."""
    add_model_args(parser, precision=False)  # the viewer builds its backend with precision auto
    add_tracking_args(parser)
    group = parser.add_argument_group("source (optional: the viewer can also open one later)")
    first = group.add_mutually_exclusive_group()
    add_option(first, option("source", help="video, image, folder or stream URL to open at start; repeat it to "
                                            "open several at once (a grid of the streams)"))
    add_option(first, option("camera", help="camera index to open at start"))
    add_option(group, option("realtime"))
    view = parser.add_argument_group("view")
    add_option(view, option("kpt_thr"))
    add_option(view, FULLSCREEN)
    add_option(view, option("background", help="with --seg: blur or replace everything that is not a person (a "
                                               "colour: green, #00ff00 or 0,255,0; or an image file); the "
                                               "Segmentation group's Background choice changes it"))
    add_option(view, option("privacy", help="faces blurs each face, skeleton draws the skeletons on a plain "
                                            "background: in the view, its recordings and its snapshots"))


__all__ = ["HELP", "configure"]
