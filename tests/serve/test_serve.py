"""``rtpose serve`` as a user runs it: a real process on 127.0.0.1 serving two live streams (MJPEG over HTTP with
credentials in its URL, and RTSP; a video file where GStreamer's RTSP server is missing), real HTTP clients, a real
broker and a real browser.

The served run's tests share one process (loading the model once); they run in file order and the last one
stops it with SIGTERM.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess

import cv2
import numpy as np
import pytest

from rtpose.cli import main
from tests.conftest import VIDEO_MULTI, VIDEO_ONE_BY_ONE
from tests.support.cli_helpers import one_error_line
from tests.support.serve_processes import (
    CHROMIUM,
    Broker,
    LiveStream,
    Rtpose,
    RtspStream,
    Subscriber,
    get,
    model_args,
    needs_broker,
    needs_browser,
    rtsp_missing,
    wait_until,
)

TOKEN = "t0ken-for-tests"
SECRET = "s3cr3tpw"
FRAMES = 30  # per stream: --max-frames


# ---------------------------------------------------------------------------------------------- bad values


def _busy_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


@pytest.mark.parametrize("extra, code, words", [
    (["--port", "BUSY"], 1, "is busy"),
    (["--host", "0.0.0.0"], 1, "--token"),
    (["--host", "192.0.2.1", "--token", "x"], 1, "no network interface"),
    (["--port", "70000"], 2, "0 to 65535"),
    (["--mqtt", "mqtt://127.0.0.1:1883"], 2, "names no topic"),
    (["--mqtt", "http://127.0.0.1/poses"], 2, "mqtt://"),
    (["--mqtt", "mqtt://user:hunter2@127.0.0.1:notaport/x"], 2, "not a valid URL"),
    (["--privacy", "nose"], 2, "invalid choice"),
])
def test_bad_values_are_one_sentence_before_the_model_loads(capsys, tmp_path, extra, code, words):
    busy = _busy_port()
    try:
        extra = [str(busy.getsockname()[1]) if e == "BUSY" else e for e in extra]
        # the weights do not exist: an error about them would mean the model was being loaded
        argv = ["serve", "--source", str(VIDEO_MULTI), "--weights", str(tmp_path / "missing.pth"), *extra]
        assert _exit_code(argv) == code
    finally:
        busy.close()
    line = one_error_line(capsys)
    assert words in line and "missing.pth" not in line and "hunter2" not in line, line


def _exit_code(argv: list[str]) -> int:
    """``rtpose ARGV``'s exit code (argparse's usage errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_rtpose_run_refuses_a_malformed_mqtt_url(capsys, tmp_path):
    assert _exit_code(["--source", str(VIDEO_MULTI), "--weights", str(tmp_path / "missing.pth"), "--mqtt",
                       "mqtt://:1883/x"]) == 2
    assert "names no broker host" in one_error_line(capsys)


# ---------------------------------------------------------------------------------------------- a served run


class Served:
    """The run every test below looks at: broker, live stream, ``rtpose serve`` and an MQTT subscriber."""

    def __init__(self, weights, tmp_path) -> None:
        self.broker = Broker().start()
        self.subscriber = Subscriber(self.broker.port, "site")
        self.live = LiveStream(4.0, str(VIDEO_MULTI))
        self.url = self.live.url(f"admin:{SECRET}@")
        # the second stream: RTSP where GStreamer's RTSP server runs (Debian's packages, as .ci/run installs), else
        # a video file played at its rate
        self.rtsp = None if rtsp_missing() else RtspStream(5.0)
        second = self.rtsp.url if self.rtsp else str(VIDEO_ONE_BY_ONE)
        self.json = tmp_path / "served.jsonl"
        self.rtpose = Rtpose("serve", "--source", self.url, "--source", second, "--realtime",
                             *model_args(weights), "--port", "0", "--token", TOKEN, "--kpt-thr", "0",
                             "--max-frames", str(FRAMES), "--json", str(self.json), "--mqtt",
                             self.broker.url("site"))
        line = self.rtpose.wait_for("listening on http://127.0.0.1:", 120)
        self.base = line.split("listening on ")[1].split()[0].rstrip("/")
        self.port = int(self.base.rsplit(":", 1)[1])
        self.held: list = []  # connections kept open until the SIGTERM

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.rtpose.kill()
        self.subscriber.close()
        self.live.kill()
        if self.rtsp is not None:
            self.rtsp.kill()
        self.broker.kill()


@pytest.fixture(scope="module")
def served(small_weights, tmp_path_factory):
    pytest.importorskip("aiohttp")
    run = Served(small_weights, tmp_path_factory.mktemp("served"))
    try:
        yield run
    finally:
        run.close()


def _mjpeg(port: int, stream: int, token: str | None = TOKEN) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", f"/streams/{stream}/video", headers={"Authorization": f"Bearer {token}"} if token else {})
    return conn, conn.getresponse()


def _jpegs(reply, count: int) -> list[np.ndarray]:
    """The next ``count`` pictures of an MJPEG reply, decoded."""
    pictures = []
    while len(pictures) < count:
        line = reply.fp.readline()
        if line.lower().startswith(b"content-length:"):
            size = int(line.split(b":")[1])
            reply.fp.readline()  # the blank line
            data = reply.fp.read(size)
            picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            assert picture is not None
            pictures.append(picture)
        elif not line:
            raise AssertionError("the MJPEG stream ended")
    return pictures


@needs_broker
@pytest.mark.slow
@pytest.mark.server
def test_health_is_open_and_everything_else_needs_the_token(served):
    base = served.base
    assert get(f"{base}/healthz")[0] == 200
    wait_until(lambda: get(f"{base}/readyz")[0] == 200, 300, "readyz")  # the model is loaded, streams open
    for path in ("/", "/streams", "/metrics", "/streams/0/video", "/streams/1/poses"):
        assert get(base + path)[0] == 401, path
        assert get(base + path, token="wrong")[0] == 401, path
        assert get(base + path + "?token=wrong")[0] == 401, path
        assert get(base + path, token=TOKEN[:-1])[0] == 401, path
    status, page, _ = get(f"{base}/?token={TOKEN}")
    assert status == 200
    text = page.decode()
    assert '/streams/0/video' in text and '/streams/1/video' in text
    assert f"admin:***@127.0.0.1:{served.live.port}" in text and SECRET not in text  # redacted name
    status, body, headers = get(f"{base}/metrics", token=TOKEN)
    assert status == 200 and headers["Content-Type"].startswith("text/plain") and SECRET.encode() not in body


def _metric(base: str, name: str, stream: int) -> float | None:
    _, body, _ = get(f"{base}/metrics", token=TOKEN)
    line = next((line for line in body.decode().splitlines() if line.startswith(name + "{")
                 and f'stream="{stream}"' in line), None)
    return None if line is None else float(line.split()[-1])


@needs_broker
@pytest.mark.slow
@pytest.mark.server
def test_a_stream_outage_is_counted_and_published(served):
    served.live.kill()  # the camera's server goes away, then comes back on the same port
    served.rtpose.wait_for("reconnecting", 120)
    assert get(f"{served.base}/readyz")[0] == 200  # reconnecting counts as ready
    served.live.start()
    wait_until(lambda: _metric(served.base, "rtpose_stream_reconnects_total", 0) == 1.0, 120, "the reconnect")
    assert _metric(served.base, "rtpose_stream_outages_total", 0) == 1.0
    assert _metric(served.base, "rtpose_stream_outages_total", 1) == 0.0  # the other stream never stopped
    events = wait_until(lambda: [e["event"] for e in served.subscriber.payloads("site/0/events")
                                 if e["event"].startswith("stream_")] == ["stream_lost", "stream_back"] or None,
                        30, "stream_lost and stream_back on MQTT")
    assert events


@needs_broker
@pytest.mark.slow
@pytest.mark.server
def test_three_clients_one_never_reading(served):
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", served.port))
    stalled.sendall(f"GET /streams/0/video HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    served.held.append(stalled)  # never read, kept open until the SIGTERM
    first, first_reply = _mjpeg(served.port, 0)
    second, second_reply = _mjpeg(served.port, 0, token=None)  # no token: refused, then with ?token=
    assert second_reply.status == 401
    second.close()
    second = http.client.HTTPConnection("127.0.0.1", served.port, timeout=120)
    second.request("GET", f"/streams/0/video?token={TOKEN}")
    second_reply = second.getresponse()
    assert first_reply.status == second_reply.status == 200
    assert first_reply.getheader("Content-Type").startswith("multipart/x-mixed-replace")
    a, b = _jpegs(first_reply, 3), _jpegs(second_reply, 3)
    assert all(p.shape == (360, 480, 3) for p in a + b)  # vtest's size
    _, body, _ = get(f"{served.base}/metrics", token=TOKEN)
    assert 'rtpose_http_clients{kind="video",source="http://admin:***@' in body.decode()
    clients = [line for line in body.decode().splitlines() if line.startswith('rtpose_http_clients{kind="video"')
               and 'stream="0"' in line]
    assert float(clients[0].split()[-1]) == 3.0
    # the poses, as Server-Sent Events of rtpose.poses records
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=120)
    conn.request("GET", "/streams/0/poses", headers={"Authorization": f"Bearer {TOKEN}"})
    reply = conn.getresponse()
    assert reply.getheader("Content-Type").startswith("text/event-stream")
    events, data = [], []
    while len(events) < 3:
        line = reply.fp.readline().decode().rstrip("\n")
        if line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            events.append(json.loads("\n".join(data)))
            data = []
    header, *records = events
    assert header["schema"] == "rtpose.poses" and header["stream"] == 0 and SECRET not in header["source"]
    assert all(r["stream"] == 0 and set(r) == {"stream", "frame", "timestamp", "file", "people"} for r in records)
    assert records[1]["frame"] > records[0]["frame"] and records[0]["people"]  # vtest has people in every frame
    conn.close()
    served.held += [first, second]  # two viewers connected at the SIGTERM (one of them reads no more)


@needs_broker
@needs_browser
@pytest.mark.slow
@pytest.mark.server
def test_browser_shows_the_video_with_skeletons(served, tmp_path):
    shot = tmp_path / "page.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,520", "--timeout=8000",
           f"--screenshot={shot}", f"{served.base}/?token={TOKEN}"]
    subprocess.run(cmd, capture_output=True, timeout=180)
    image = cv2.imread(str(shot))
    assert image is not None, "no screenshot"
    view = image[40:420, 0:510]  # stream 0's picture: the first figure, top left
    assert view.std() > 25  # a picture, not the page's plain background
    hsv = cv2.cvtColor(view, cv2.COLOR_BGR2HSV)
    vivid = int(((hsv[..., 1] > 180) & (hsv[..., 2] > 180)).sum())
    # vtest's own frames hold at most ~110 such vivid pixels; the skeletons, dots and boxes add thousands
    assert vivid > 1000, vivid


@needs_broker
@pytest.mark.slow
@pytest.mark.server
def test_mqtt_gets_records_status_and_headers(served):
    sub = served.subscriber
    wait_until(lambda: len(sub.payloads("/0/poses")) >= 2, 300, "records on site/0/poses")
    records = sub.payloads("/0/poses")
    assert all(r["stream"] == 0 and "people" in r for r in records)
    assert {"state": "online"} in sub.payloads("site/status")
    headers = sub.payloads("/0/header")
    assert headers and headers[0]["schema"] == "rtpose.poses" and SECRET not in headers[0]["source"]
    events = sub.payloads("/0/events")
    assert any(e["event"] == "track_appeared" and isinstance(e["track_id"], int) for e in events), events


@needs_broker
@pytest.mark.slow
@pytest.mark.server
def test_metrics_match_the_summary_and_sigterm_is_clean(served):
    from prometheus_client.parser import text_string_to_metric_families

    served.rtpose.wait_for("every stream ended", 600)  # --max-frames of both: the figures stand still
    _, body, _ = get(f"{served.base}/metrics", token=TOKEN)
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}

    def per_stream(name: str) -> dict[int, float]:
        return {int(s.labels["stream"]): s.value for s in families[name].samples if s.name == name + "_total"}

    frames, dropped = per_stream("rtpose_frames"), per_stream("rtpose_frames_dropped")
    latency = {int(s.labels["stream"]): s.value for s in families["rtpose_latency_seconds"].samples
               if s.name == "rtpose_latency_seconds_count"}
    # every frame observed once; a round already in the pipeline's second inference thread may add one frame
    # past --max-frames (the pipeline's behaviour, as the summary says too)
    assert frames == latency and frames[0] >= FRAMES
    assert "rtpose_triton_failures" in families and "rtpose_stream_outages" in families
    mqtt = {s.name: s.value for f in families.values() if f.name.startswith("rtpose_mqtt_") for s in f.samples}
    assert mqtt["rtpose_mqtt_published_total"] > frames[0] + frames[1] and mqtt["rtpose_mqtt_dropped_total"] == 0
    assert get(f"{served.base}/streams/7/video", token=TOKEN)[0] == 404
    assert all(SECRET not in s.labels.get("source", "") for f in families.values() for s in f.samples)
    assert get(f"{served.base}/readyz")[0] == 503  # every stream ended
    code = served.rtpose.stop(signal.SIGTERM)
    err = served.rtpose.err
    assert code == 0, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err and SECRET not in err and TOKEN not in err, err
    for i in (0, 1):
        line = next(line for line in err.splitlines() if line.startswith(f"  stream {i} source "))
        # "  stream 0 source NAME: F frames processed, D dropped, ..."
        words = line.split(": ", 1)[1].split(", ")
        assert int(words[0].split()[0]) == frames[i], (line, frames)
        assert int(words[1].split()[0]) == dropped[i], (line, dropped)
    lines = served.json.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # valid JSON Lines to the end
    assert len([r for r in records if "schema" not in r]) == frames[0] + frames[1]
    wait_until(lambda: {"state": "offline", "reason": "stopped"} in served.subscriber.payloads("site/status"), 30,
               "the offline status")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", served.port), timeout=5).close()  # the port is closed
