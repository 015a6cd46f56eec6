"""The one redaction (:func:`rtpose.utils.redact.redact`): URLs, ``user:password@host:port`` and sentences."""

from __future__ import annotations

import pytest

from rtpose.utils.redact import redact, split_credentials


@pytest.mark.parametrize("value, shown", [
    ("triton://u:pw@10.0.0.5:8001/yolo_detector", "triton://u:***@10.0.0.5:8001/yolo_detector"),
    ("user:pw@gpu-box:8001", "user:***@gpu-box:8001"),
    ("user:p@ss@gpu-box", "user:***@gpu-box"),
    ("https://host/yolo.pt?token=abc&v=2", "https://host/yolo.pt?token=***&v=2"),
    ("https://u:p%40x@mirror.example/weights/", "https://u:***@mirror.example/weights/"),
    ("The Triton server user:pw@127.0.0.1:1 is not reachable.", "The Triton server user:***@127.0.0.1:1 is not "
                                                               "reachable."),
    ("from 'rtsp://a:b@cam/live' and https://h/x?api_key=k", "from 'rtsp://a:***@cam/live' and https://h/x?api_key=***"),
])
def test_redact_hides_credentials_and_tokens(value, shown):
    assert redact(value) == shown
    assert redact(shown) == shown  # twice changes nothing


@pytest.mark.parametrize("value", ["127.0.0.1:8001", "gpu-box:8001", "video.mp4", "/data/a:b/c.jpg", "12:30 ok",
                                   "rtsp://cam/live", "input_size=(256, 192) is too large", "udp://@239.0.0.1:1234"])
def test_redact_leaves_what_holds_no_secret(value):
    assert redact(value) == value


def test_split_credentials_for_basic_auth():
    assert split_credentials("https://u:p%40ss%3Aw@mirror/x/?t=1") == ("https://mirror/x/?t=1", "u", "p@ss:w")
    assert split_credentials("https://TOKEN@mirror/x") == ("https://mirror/x", "TOKEN", None)
    assert split_credentials("https://mirror/x") == ("https://mirror/x", None, None)


def test_library_errors_and_log_lines_never_hold_a_secret():
    """What a program embedding rtpose sees through its own handlers and exceptions, not only the CLI."""
    import logging

    from rtpose.errors import RtposeError
    from rtpose.log import say, warn

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    said: list[str] = []
    logger, keep = logging.getLogger("rtpose"), Keep()
    logger.addHandler(keep)
    level, logger.level = logger.level, logging.INFO
    try:
        say("connecting to triton://u:hunter2@gpu:8001/yolo_detector")
        warn("server admin:hunter2@gpu:8001 is slow")
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
    assert said == ["connecting to triton://u:***@gpu:8001/yolo_detector", "server admin:***@gpu:8001 is slow"]
    error = RtposeError("detector='https://h/yolo.pt?token=hunter2' cannot be read.")
    assert "hunter2" not in str(error) and error.parameter == "detector"
