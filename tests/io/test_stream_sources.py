"""Live streams that stop and come back, measured frame rates, variable frame rates and redacted URLs.

The streams are real, on 127.0.0.1, killed and restarted as a camera's server would be: an MJPEG-over-HTTP
server in its own process (tests/support/stream_server.py), GStreamer's RTSP server (tests/support/rtsp_server.py), and
ffmpeg sending MPEG-TS over UDP and serving it over HTTP (``-listen 1``); the variable-rate file is made by
ffmpeg.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from rtpose.io.sources import open_source
from rtpose.utils.redact import redact_text, redact_url
from tests.conftest import DETECTOR_WEIGHTS, ROOT, VIDEO_MULTI
from tests.support.cli_helpers import count_video_frames

# ---------------------------------------------------------------------------------------------- redaction

NASTY = [
    ("rtsp://admin:p@ss:w0rd@10.0.0.5:554/Streaming/101", "rtsp://admin:***@10.0.0.5:554/Streaming/101",
     ["p@ss", "w0rd"]),
    ("rtsp://admin:pa/ss@cam.local/live", "rtsp://admin:***@cam.local/live", ["pa/ss"]),
    ("rtsp://admin:a:b:c@cam/live", "rtsp://admin:***@cam/live", ["a:b:c"]),
    ("rtsp://u:p%40x@cam?auth=1&key=2&signature=3", "rtsp://u:***@cam?auth=***&key=***&signature=***",
     ["p%40x"]),
    ("http://cam/video.cgi?user=admin&pwd=hunter2&channel=1", "http://cam/video.cgi?user=***&pwd=***&channel=1",
     ["admin", "hunter2"]),
    ("http://cam/cgi?password=x1&pass=x2&token=x3&access_token=x4&api_key=x5",
     "http://cam/cgi?password=***&pass=***&token=***&access_token=***&api_key=***", ["x1", "x2", "x3", "x4", "x5"]),
    ("https://bucket/clip.m3u8?X-Amz-Signature=s1&X-Amz-Credential=c1&X-Amz-Date=20260101",
     "https://bucket/clip.m3u8?X-Amz-Signature=***&X-Amz-Credential=***&X-Amz-Date=20260101", ["s1", "c1"]),
    ("http://cam/live;password=x1;pass=x2?a=1&usr=x3", "http://cam/live;password=***;pass=***?a=1&usr=***",
     ["x1", "x2", "x3"]),
    ("https://ghp_TOKEN123@host/x.mp4", "https://***@host/x.mp4", ["ghp_TOKEN123"]),
    ("http://h/p?token=abc#frag", "http://h/p?token=***#frag", ["abc"]),
]


@pytest.mark.parametrize("url, shown, secrets", NASTY)
def test_redact_url_hides_every_secret(url, shown, secrets):
    assert redact_url(url) == shown
    assert not any(secret in redact_url(url) for secret in secrets)
    assert redact_url(redact_url(url)) == shown  # redacting twice changes nothing


@pytest.mark.parametrize("text", ["rtsp://cam/live", "udp://@239.0.0.1:1234", "video.mp4", "0", "http://h:80/",
                                  "../shared/data/videos/vtest-480x360.avi"])
def test_redact_url_leaves_what_holds_no_secret(text):
    assert redact_url(text) == text


def test_redact_text_finds_urls_in_sentences():
    text = "unknown command 'rtsp://a:b@c/x?pwd=1' (see rtpose --help); also \"http://u:v@h\""
    assert redact_text(text) == "unknown command 'rtsp://a:***@c/x?pwd=***' (see rtpose --help); also \"http://u:***@h\""


def test_cli_never_prints_a_password(capsys):
    """Every place the command line quotes a stream (unknown words, argparse errors, failed opens)."""
    from rtpose.cli import main

    url = "rtsp://admin:s3cr@t@127.0.0.1:9/live?pwd=hunter2"
    assert main([url]) == 2  # a URL where a command was expected
    with pytest.raises(SystemExit) as info:  # argparse: unrecognized arguments
        main(["--source", "x.mp4", url])
    assert info.value.code == 2
    assert main(["--source", "http://admin:s3cr@t@127.0.0.1:9/live?pwd=hunter2", "--timeout", "2",
                 "--no-show"]) == 1  # nothing listens on port 9
    err = capsys.readouterr().err
    assert "s3cr" not in err and "hunter2" not in err and "t@127" not in err, err
    assert err.count("admin:***@127.0.0.1:9/live?pwd=***") == 3, err


# ---------------------------------------------------------------------------------------------- servers


class _Process:
    """A server process of a test: ``proc``, killed (and reaped) on :meth:`kill`, restartable with ``start``."""

    proc: subprocess.Popen | None = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()


class StreamServer(_Process):
    """tests/support/stream_server.py (MJPEG over HTTP) or tests/support/rtsp_server.py (GStreamer's RTSP server)
    in its own process: start, kill, start again on the same port."""

    def __init__(self, fps: float, video: str | None = None, rtsp: bool = False) -> None:
        self.fps, self.video, self.rtsp, self.port, self.proc = fps, video, rtsp, 0, None

    def start(self) -> StreamServer:
        if self.rtsp:
            cmd = [SYSTEM_PYTHON, "tests/support/rtsp_server.py", str(self.port), str(self.fps)]
        else:
            cmd = [sys.executable, "-m", "tests.support.stream_server", str(self.port), str(self.fps)]
        if self.video:
            cmd += ["--video", self.video]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        line = self.proc.stdout.readline()  # "port N" once it listens
        assert line.startswith("port "), line
        self.port = int(line.split()[1])
        return self


    def url(self, credentials: str = "") -> str:
        if self.rtsp:
            return f"rtsp://{credentials}127.0.0.1:{self.port}/live"
        return f"http://{credentials}127.0.0.1:{self.port}/live.mjpg"


#: The system's Python, which has the Debian packages' GStreamer bindings (not the test's virtual environment).
SYSTEM_PYTHON = "/usr/bin/python3"


def _rtsp_server_missing() -> str | None:
    """Why GStreamer's RTSP server cannot run here, or None when it can."""
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "assert all(Gst.ElementFactory.find(n) for n in ('videotestsrc', 'jpegenc', 'rtpjpegpay'))")
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return f"no {SYSTEM_PYTHON}"
    if done.returncode:
        return ("needs GStreamer's RTSP server for the system Python (Debian: python3-gi gir1.2-gst-rtsp-server-1.0 "
                "gstreamer1.0-plugins-base gstreamer1.0-plugins-good)")
    return None


@pytest.fixture
def servers():
    made: list[StreamServer] = []

    def make(fps: float, video: str | None = None, rtsp: bool = False) -> StreamServer:
        made.append(StreamServer(fps, video, rtsp))
        return made[-1].start()

    yield make
    for server in made:
        server.kill()


def test_measured_rate_wins_over_the_announced_one(servers):
    """An MJPEG stream sending 2 frames/s is announced as 25: the source's fps is what it really sends."""
    server = servers(2.0)
    with open_source(server.url(), timeout=5) as source:
        assert source.announced_fps != pytest.approx(2.0, rel=0.3)  # FFmpeg says 25 for MJPEG
        assert source.fps == pytest.approx(2.0, rel=0.2), (source.fps, source.measured_fps)
        frames = [source.read() for _ in range(6)]
        assert source.fps == pytest.approx(2.0, rel=0.2)
    times = [f.timestamp for f in frames[1:]]
    assert (times[-1] - times[0]) / (len(times) - 1) == pytest.approx(0.5, rel=0.3)


def test_library_stream_comes_back_and_counts_the_outage(servers, capsys):
    server = servers(10.0)
    with open_source(server.url("me:pa@ss@"), timeout=3, reconnect_timeout=20) as source:
        before = [source.read() for _ in range(5)]
        server.kill()
        server.start()  # the same port, a second later
        after = [source.read() for _ in range(5)]
        assert source.outages == 1 and source.reconnects == 1 and source.lost_s > 0
        assert not source.ended_early and source.end_reason is None
    assert all(f is not None for f in before + after)
    gap = after[0].timestamp - before[-1].timestamp
    assert after[0].wall_time > before[-1].wall_time
    # numbered as if the gap's frames had been dropped: a real-time video keeps the duration
    assert after[0].index - before[-1].index == pytest.approx(gap * source.fps, abs=2)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "reconnecting" in line]
    assert len(lines) == 1 and "me:***@127.0.0.1" in lines[0], err
    assert "pa@ss" not in err and "WARN" not in err and "timeout" not in err.lower(), err


def test_rtsp_stream_comes_back_after_its_server_restarts(servers, capsys):
    """GStreamer's RTSP server (RTP over UDP): a dead server is noticed by the read timeout, then reopened."""
    missing = _rtsp_server_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    server = servers(10.0, rtsp=True)
    with open_source(server.url("cam:se:cr@t@"), timeout=5, reconnect_timeout=30) as source:
        assert source.is_live and source.fps == pytest.approx(10.0, rel=0.2)
        before = [source.read() for _ in range(5)]
        server.kill()
        server.start()
        after = [source.read() for _ in range(5)]
        assert source.outages == 1 and source.reconnects == 1 and not source.ended_early
    assert all(f is not None for f in before + after)
    gap = after[0].timestamp - before[-1].timestamp
    assert after[0].index - before[-1].index == pytest.approx(gap * source.fps, abs=2)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "reconnecting" in line]
    assert len(lines) == 1 and "rtsp://cam:***@127.0.0.1" in lines[0], err
    assert "se:cr" not in err and "WARN" not in err and "timeout" not in err.lower(), err


def test_a_stop_ends_the_wait_for_a_stream_that_stays_away(servers):
    """Ctrl-C while a stream is away: the pipeline's stop interrupts the reconnecting read, without a 60 s wait."""
    import threading

    server = servers(10.0)
    with open_source(server.url(), timeout=3, reconnect_timeout=60) as source:
        assert source.read() is not None
        server.kill()
        done: list = []
        reader = threading.Thread(target=lambda: done.append([source.read() for _ in range(200)]), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while source.outages == 0 and time.monotonic() < deadline:  # it is reconnecting now
            time.sleep(0.05)
        assert source.outages == 1
        source.interrupt()  # what Capture.stop calls, from a signal handler too
        reader.join(30)  # a hang guard: it returns within a backoff slice
        assert not reader.is_alive() and done and done[0][-1] is None
        assert source.ended_early and source.end_reason is None  # stopped, not given up


def test_reconnect_timeout_zero_ends_at_once(servers):
    server = servers(10.0)
    with open_source(server.url(), timeout=3, reconnect_timeout=0) as source:
        assert source.read() is not None
        server.kill()
        while source.read() is not None:  # what was in flight
            pass
        assert source.ended_early and source.outages == 0 and source.end_reason is None


class FfmpegStream(_Process):
    """A shared video sent live by ffmpeg: MPEG-TS over UDP (a sender; the reader binds the port) or over HTTP
    (``-listen 1``: one client), killed and restarted like :class:`StreamServer`."""

    def __init__(self, transport: str, video: str) -> None:
        self.transport, self.video, self.proc = transport, video, None
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]

    def url(self) -> str:
        return f"udp://127.0.0.1:{self.port}" if self.transport == "udp" else f"http://127.0.0.1:{self.port}/live.ts"

    def start(self) -> FfmpegStream:
        out = (["-f", "mpegts", f"{self.url()}?pkt_size=1316"] if self.transport == "udp"
               else ["-f", "mpegts", "-listen", "1", self.url()])
        self.proc = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", self.video,
                                      "-c:v", "mpeg2video", "-q:v", "5", *out], stdin=subprocess.DEVNULL)
        if self.transport == "http":  # a probing connection would be its one client: watch the listen table
            deadline = time.monotonic() + 30
            while not _listening(self.port) and time.monotonic() < deadline:
                time.sleep(0.05)
        return self



def _listening(port: int) -> bool:
    """Whether a TCP socket listens on ``port`` (Linux's /proc/net/tcp: state 0A)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(r.split()[1].endswith(f":{port:04X}") and r.split()[3] == "0A" for r in rows)


@pytest.fixture
def ffmpeg_streams():
    if shutil.which("ffmpeg") is None:
        if os.environ.get("CI"):
            pytest.fail("needs the ffmpeg program (Debian package ffmpeg)")
        pytest.skip("needs the ffmpeg program (Debian package ffmpeg)")
    made: list[FfmpegStream] = []

    def make(transport: str) -> FfmpegStream:
        made.append(FfmpegStream(transport, str(VIDEO_MULTI)))
        return made[-1].start()

    yield make
    for stream in made:
        stream.kill()


def test_udp_stream_that_stalls_keeps_real_time(ffmpeg_streams):
    """Datagrams sent while the sender is away are lost: the frames after the stall are numbered past it."""
    sender = ffmpeg_streams("udp")
    with open_source(sender.url(), timeout=5, reconnect_timeout=20) as source:
        assert source.is_live and source.fps == pytest.approx(10.0, rel=0.2)
        before = [source.read() for _ in range(5)]
        sender.kill()
        time.sleep(2.0)  # shorter than the read timeout: a stall, not an outage
        sender.start()
        after = [source.read() for _ in range(5)]
        assert source.stalls == 1 and source.outages == 0 and not source.ended_early
    assert all(f is not None for f in before + after)
    gap = after[0].timestamp - before[-1].timestamp
    assert gap > 1.5
    assert after[0].index - before[-1].index == pytest.approx(gap * source.fps, abs=2)
    frames = before + after
    steps = [b.index - a.index for a, b in zip(frames, frames[1:], strict=False)]
    assert steps.count(1) == len(steps) - 1  # only the stall skips numbers


def test_udp_stream_that_never_comes_back_ends_with_the_reason(ffmpeg_streams):
    sender = ffmpeg_streams("udp")
    with open_source(sender.url(), timeout=2, reconnect_timeout=2) as source:
        assert source.read() is not None
        sender.kill()
        while source.read() is not None:  # what was in flight, then the timeout and the reconnect attempts
            pass
        assert source.outages == 1 and source.reconnects == 0 and source.ended_early
        assert source.end_reason == (f"The stream {sender.url()} stopped sending frames and did not come back "
                                     "within 2 s (reconnect_timeout=2).")


def test_mpegts_over_http_comes_back_after_its_server_restarts(ffmpeg_streams, capsys):
    """ffmpeg's own HTTP server (``-listen 1``): the connection closes when it dies; reopened once it is back."""
    server = ffmpeg_streams("http")
    with open_source(server.url(), timeout=5, reconnect_timeout=30) as source:
        assert source.is_live and source.fps == pytest.approx(10.0, rel=0.2)
        before = [source.read() for _ in range(5)]
        server.kill()
        time.sleep(1.0)
        server.start()
        after = [source.read() for _ in range(8)]
        assert source.outages == 1 and source.reconnects == 1 and not source.ended_early
    assert all(f is not None for f in before + after)
    jump = max(b.index - a.index for a, b in zip(before + after, before[1:] + after[1:], strict=False))
    assert jump > 5  # the outage: numbered as if its frames had been dropped
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "reconnecting" in line]) == 1, err
    assert "WARN" not in err and "[mpegts" not in err and "[http" not in err, err


def _rtpose(weights, url: str, tmp_path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rtpose", "--source", url, "--weights", str(weights), "--detector",
           str(DETECTOR_WEIGHTS), "--device", "cpu", "--no-show", "--json", str(tmp_path / "out.jsonl"),
           "--save", str(tmp_path / "out.mp4"), "--timeout", "5", *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_records(proc: subprocess.Popen, jsonl, count: int, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if jsonl.exists() and len(jsonl.read_text().splitlines()) >= count + 1:  # the header and the frames
            return
        time.sleep(0.2)
    raise AssertionError(proc.communicate(timeout=60) if proc.poll() is not None else "no frames in time")


@pytest.mark.slow
def test_rtpose_run_survives_a_server_restart(servers, small_weights, tmp_path):
    server = servers(5.0, str(VIDEO_MULTI))
    url = server.url("admin:s3cr@t@") + "?pwd=hunter2"
    proc = _rtpose(small_weights, url, tmp_path, "--max-frames", "10")
    try:
        _wait_for_records(proc, tmp_path / "out.jsonl", 3)
        killed = time.time()
        server.kill()
        time.sleep(2.0)
        server.start()
        back = time.time()
        _, err = proc.communicate(timeout=240)  # a hang guard
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "s3cr" not in err and "hunter2" not in err, err
    assert "WARN" not in err and "Stream timeout" not in err and "[mjpeg" not in err and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "reconnecting" in line]
    assert len(lines) == 1 and "admin:***@127.0.0.1" in lines[0] and lines[0].startswith("rtpose: warning:"), err
    header, *records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert header["kind"] == "stream" and header["timestamp"] == "unix"
    assert header["source"] == redact_url(url) and "hunter2" not in header["source"]
    assert header["fps"] == pytest.approx(5.0, rel=0.2)  # measured, not FFmpeg's 25
    assert len(records) == 10 and all(r["people"] for r in records)  # vtest has people in every frame
    # Both sides of the gap are in the JSON, at their real capture times (Unix time).
    before = [r for r in records if r["timestamp"] < killed + 0.5]  # what was on its way when it was killed
    after = [r for r in records if r["timestamp"] > back]
    assert len(before) >= 3 and after and len(before) + len(after) == len(records), (killed, back, records)
    # The video keeps real time: the frames of the gap are filled with the last one before it.
    gap = after[0]["timestamp"] - before[-1]["timestamp"]
    assert after[0]["frame"] - before[-1]["frame"] >= 0.7 * gap * header["fps"]
    video = tmp_path / "out.mp4"
    assert count_video_frames(video) == records[-1]["frame"] - records[0]["frame"] + 1
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert fps == pytest.approx(header["fps"], rel=0.01)


@pytest.mark.slow
def test_rtpose_run_ends_with_one_sentence_when_the_stream_stays_away(servers, small_weights, tmp_path):
    server = servers(5.0, str(VIDEO_MULTI))
    url = server.url("admin:s3cr@t@")
    proc = _rtpose(small_weights, url, tmp_path, "--reconnect-timeout", "2")
    try:
        _wait_for_records(proc, tmp_path / "out.jsonl", 2)
        server.kill()
        _, err = proc.communicate(timeout=120)  # a hang guard
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "s3cr" not in err and "Traceback" not in err and "WARN" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("rtpose: error:")]
    assert errors == [f"rtpose: error: The stream {redact_url(url)} stopped sending frames and did not come back "
                      "within 2 s (--reconnect-timeout 2); everything up to then was written."], err
    assert len([line for line in err.splitlines() if "reconnecting" in line]) == 1, err
    header, *records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(records) >= 2
    assert count_video_frames(tmp_path / "out.mp4") == records[-1]["frame"] - records[0]["frame"] + 1


# ---------------------------------------------------------------------------------------------- files


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg program (Debian package ffmpeg)")
def test_variable_frame_rate_file_gets_each_frames_own_time(tmp_path):
    """1 s at 5 frames/s then 1 s at 20 frames/s: the average rate (12.5) would put frame 5 at 0.4 s."""
    path = tmp_path / "vfr.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=1",
         "-f", "lavfi", "-i", "testsrc=size=64x48:rate=20:duration=1",
         "-filter_complex", "[0:v][1:v]concat=n=2:v=1,settb=1/1000[v]", "-map", "[v]",
         "-fps_mode", "passthrough", "-c:v", "mpeg4", "-q:v", "5", str(path)],
        check=True, timeout=120,
    )
    expected = [i * 0.2 for i in range(5)] + [1.0 + i * 0.05 for i in range(19)]
    with open_source(path) as source:
        times = [frame.media_time for frame in source]
        assert times == pytest.approx(expected, abs=1e-3)
        source.seek(10)  # after a seek too
        assert source.read().media_time == pytest.approx(1.25, abs=1e-3)


def test_constant_rate_files_keep_frame_over_fps():
    with open_source(VIDEO_MULTI) as source:  # an AVI, whose first time stamp is two frames in
        times = [source.read().media_time for _ in range(30)]
    assert times == [round(i / 10, 6) for i in range(30)]


def test_measure_fps_leaves_bursts_out():
    from rtpose.io.sources import measure_fps

    steady = [i * 0.5 for i in range(6)]
    assert measure_fps(steady) == pytest.approx(2.0)
    # five frames buffered while connecting, then 2 frames/s
    assert measure_fps([0.0, 0.001, 0.002, 0.003, 0.004] + [0.004 + 0.5 * i for i in range(1, 5)]) == pytest.approx(2.0)
    # a backlog drained at once while the stream runs at 5 frames/s: mostly burst, tells nothing
    backlog = [i * 0.002 for i in range(40)] + [0.08 + 0.2 * i for i in range(1, 6)]
    assert measure_fps(backlog, expected=5.0) is None
    assert measure_fps([0.2 * i for i in range(10)], expected=5.0) == pytest.approx(5.0)
    assert measure_fps([0.0]) is None
