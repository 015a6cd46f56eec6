"""Sources: files, folders, images, streams, and one clear sentence for every bad source."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from rtpose.errors import SourceError
from rtpose.io.sources import CaptureSource, FolderSource, ImageSource, VideoSource, open_source
from tests.conftest import BUS, VIDEO_MULTI


def _one_sentence(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.endswith(".") and len(text) < 200, text
    return text


def test_video_file_frames_seek_and_metadata():
    with open_source(str(VIDEO_MULTI)) as src:
        assert isinstance(src, VideoSource) and not src.is_live
        assert src.size == (480, 360) and src.fps == pytest.approx(10.0) and src.frame_count == 795
        frames = [src.read() for _ in range(3)]
        assert [f.index for f in frames] == [0, 1, 2]
        assert frames[0].image.shape == (360, 480, 3) and frames[0].image.dtype == np.uint8
        assert frames[0].timestamp <= frames[1].timestamp <= time.perf_counter()
        src.seek(790)
        assert [f.index for f in src] == [790, 791, 792, 793, 794]
        assert src.read() is None
        with pytest.raises(SourceError):
            src.seek(795)


def test_realtime_file_playback_skips_late_frames():
    with open_source(str(VIDEO_MULTI), realtime=True) as src:  # 10 fps: frame i is due at i/10 s
        first = src.read()
        time.sleep(0.35)
        later = src.read()
        assert later.index >= first.index + 3 and src.dropped >= 2


def test_folder_in_name_order_and_single_image(tmp_path):
    for name, value in (("b.png", 20), ("a.png", 10), ("c.jpg", 30)):
        cv2.imwrite(str(tmp_path / name), np.full((24, 32, 3), value, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    with open_source(str(tmp_path)) as src:
        assert isinstance(src, FolderSource) and src.frame_count == 3 and src.size == (32, 24)
        frames = list(src)
        assert [f.index for f in frames] == [0, 1, 2]
        assert [int(f.image.mean()) for f in frames][:2] == [10, 20]
    with open_source(BUS) as src:
        assert isinstance(src, ImageSource) and src.frame_count == 1 and src.size == (810, 1080)
        assert src.read().image.shape == (1080, 810, 3) and src.read() is None


def test_every_source_declares_what_consumers_read(tmp_path):
    """is_camera, path, end_reason, expected_frames, skipped and interrupt() are on every source, no probing."""
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((24, 32, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"not a png")
    for spec, path in ((str(VIDEO_MULTI), VIDEO_MULTI), (str(tmp_path), tmp_path), (str(BUS), BUS)):
        with open_source(spec) as src:
            assert not src.is_camera and src.path == path and src.end_reason is None
            assert src.expected_frames is None and not src.ended_early
            src.interrupt()  # nothing of its own to wait for: reading goes on
            frames = list(src)
            assert len(frames) == (795 if path == VIDEO_MULTI else 1)
            assert src.skipped == (1 if path == tmp_path else 0)
            assert src.skipped_files == (["b.png"] if path == tmp_path else [])


@pytest.mark.parametrize(
    "spec, words",
    [
        (99, "Camera 99"),
        ("99", "Camera 99"),
        ("/no/such/video.mp4", "does not exist"),
    ],
)
def test_bad_sources_fail_with_one_sentence(spec, words):
    start = time.perf_counter()
    with pytest.raises(SourceError) as info:
        open_source(spec, timeout=2)
    assert words in _one_sentence(info.value)
    assert time.perf_counter() - start < 30  # a hang guard, not a speed test


@pytest.mark.parametrize("name", ["corrupt.mp4", "corrupt.jpg", "empty.avi"])
def test_corrupt_files(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else bytes(range(256)) * 64)
    with pytest.raises(SourceError) as info:
        open_source(str(path))
    assert str(path.name) in _one_sentence(info.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_stream_refused(scheme):
    start = time.perf_counter()
    with pytest.raises(SourceError) as info:
        open_source(f"{scheme}://127.0.0.1:{_closed_port()}/live", timeout=2)
    assert "stream" in _one_sentence(info.value)
    assert time.perf_counter() - start < 30  # a hang guard, not a speed test


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_stream_that_never_answers_times_out(scheme):
    with socket.socket() as server:  # accepts connections (kernel backlog) but never says a word
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        start = time.perf_counter()
        with pytest.raises(SourceError) as info:
            open_source(f"{scheme}://127.0.0.1:{port}/live", timeout=1.5)
        elapsed = time.perf_counter() - start
    _one_sentence(info.value)
    assert elapsed < 30, elapsed  # the open gave up (bounded), rather than hanging


class _MjpegHandler(BaseHTTPRequestHandler):
    frames = 12

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        for i in range(self.frames):
            ok, buf = cv2.imencode(".jpg", np.full((120, 160, 3), 20 * i, np.uint8))
            head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(buf)
            self.wfile.write(head + buf.tobytes() + b"\r\n")
            self.wfile.flush()
            time.sleep(0.01)
        # then the server dies mid-stream: the connection just closes

    def log_message(self, *args):
        pass


@pytest.fixture
def mjpeg_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MjpegHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/stream.mjpg"
    server.shutdown()
    server.server_close()


def test_stream_that_dies_midway_ends_cleanly(mjpeg_url):
    """With reconnect_timeout=0 a stream that stops ends (test_stream_sources.py has the streams that come back)."""
    start = time.perf_counter()
    with open_source(mjpeg_url, timeout=3, reconnect_timeout=0) as src:
        assert isinstance(src, CaptureSource) and src.is_live and src.frame_count is None
        frames = list(src)
        assert src.ended_early
        with pytest.raises(SourceError):
            src.seek(0)
    assert 1 <= len(frames) <= _MjpegHandler.frames
    # the frames read while opening (to measure the rate) count as dropped, all but the newest
    assert frames[0].index == src.dropped
    assert [f.index for f in frames] == list(range(src.dropped, src.dropped + len(frames)))
    assert frames[0].image.shape == (120, 160, 3)
    assert time.perf_counter() - start < 60  # a hang guard, not a speed test


def test_file_frames_carry_media_time():
    """Filters over time use media time for files (index / fps), never the processing speed."""
    from rtpose.io.sources import open_source
    from tests.conftest import VIDEO_MULTI

    with open_source(str(VIDEO_MULTI)) as source:
        frames = [source.read() for _ in range(3)]
    assert [f.media_time for f in frames] == [0.0, 0.1, 0.2]
    assert all(f.clock == f.media_time for f in frames)
