"""The viewer's command-line options (``rtpose gui``, ``rtpose-gui``): the model and tracking options shared
with ``rtpose run`` (:mod:`rtpose.cli.common`), plus an optional first source and view settings."""

from __future__ import annotations

import argparse

from rtpose.cli.common import add_model_args, add_tracking_args, fraction, non_negative_int

HELP = "open the desktop viewer: live skeletons over a camera, video file or stream"


def configure(parser: argparse.ArgumentParser) -> None:
    """The viewer's options: the model options shared with ``rtpose run`` plus an optional first source."""
    add_model_args(parser, precision=False)  # the viewer builds its backend with precision auto
    add_tracking_args(parser)
    group = parser.add_argument_group("source (optional: the viewer can also open one later)")
    first = group.add_mutually_exclusive_group()
    first.add_argument("--source", metavar="FILE|URL|FOLDER", action="append",
                       help="video, image, folder or stream URL to open at start; repeat it to open several "
                            "at once (a grid of the streams)")
    first.add_argument("--camera", type=non_negative_int, metavar="N", help="camera index to open at start")
    group.add_argument("--realtime", action="store_true",
                       help="play files at their own frame rate, dropping frames inference cannot keep up with")
    view = parser.add_argument_group("view")
    view.add_argument("--kpt-thr", type=fraction, default=0.3,
                      help="keypoints below this score are hidden, 0 to 1 (default: 0.3)")
    view.add_argument("--fullscreen", action="store_true", help="start in full screen (F toggles)")
    view.add_argument("--background", metavar="blur|COLOR|IMAGE", default=None,
                      help="with --seg: blur or replace everything that is not a person (a colour: green, #00ff00 "
                           "or 0,255,0; or an image file); the Segmentation group's Background choice changes it")


__all__ = ["HELP", "configure"]
