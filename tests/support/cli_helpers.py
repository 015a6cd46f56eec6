"""Small checks the command-line tests share."""

from __future__ import annotations

import os

import cv2


def one_error_line(capsys) -> str:
    """The single ``rtpose: error: …`` line of what a command printed (and no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("rtpose: error:")]
    assert len(lines) == 1, err
    return lines[0]


def count_video_frames(path: str | os.PathLike) -> int:
    """Frames OpenCV decodes from a video file (0 for a file that is not a finalised video)."""
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    return count
