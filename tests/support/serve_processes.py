"""Real processes for the serve tests: a mosquitto broker, an MQTT subscriber, a live MJPEG stream and
``rtpose serve`` itself, all on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import DETECTOR_WEIGHTS, ROOT

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_broker = pytest.mark.skipif(MOSQUITTO is None,
                                  reason="needs Debian's mosquitto broker (apt-get install mosquitto)")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium (apt-get install chromium)")
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, seconds: float, what: str):
    """Poll ``check()`` until it returns something true (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds:g} s")


class Broker:
    """Debian's mosquitto on a port of its own: start, kill (SIGKILL: the broker is gone), start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen([MOSQUITTO, "-p", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_until(lambda: _listening(self.port), 20, "mosquitto listening")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def url(self, topic: str) -> str:
        return f"mqtt://127.0.0.1:{self.port}/{topic}"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Subscriber:
    """A paho client subscribed to ``TOPIC/#`` (QoS 1) that keeps every message; it reconnects by itself."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}")
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe(f"{topic}/#", qos=1)
        self.client.on_message = self._keep
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _keep(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def payloads(self, suffix: str) -> list[dict]:
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith(suffix)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class LiveStream:
    """tests/support/stream_server.py (MJPEG over HTTP) playing a video in a loop, in its own process."""

    def __init__(self, fps: float, video: str) -> None:
        self.fps, self.video, self.port = fps, video, 0
        self.start()

    def start(self) -> None:
        """Serve on :attr:`port` (a free one the first time; the same one again after :meth:`kill`)."""
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.stream_server", str(self.port),
                                      str(self.fps), "--video", self.video], cwd=ROOT, stdout=subprocess.PIPE,
                                     text=True, env=ENV)
        line = self.proc.stdout.readline()
        assert line.startswith("port "), line
        self.port = int(line.split()[1])

    def url(self, credentials: str = "") -> str:
        return f"http://{credentials}127.0.0.1:{self.port}/live.mjpg"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class RtspStream:
    """tests/support/rtsp_server.py (GStreamer's RTSP server, a live test picture), on the system's Python."""

    def __init__(self, fps: float) -> None:
        from tests.io.test_stream_sources import SYSTEM_PYTHON

        self.proc = subprocess.Popen([SYSTEM_PYTHON, "tests/support/rtsp_server.py", "0", str(fps)], cwd=ROOT,
                                     stdout=subprocess.PIPE, text=True, env=ENV)
        line = self.proc.stdout.readline()
        assert line.startswith("port "), line
        self.url = f"rtsp://127.0.0.1:{int(line.split()[1])}/live"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def rtsp_missing() -> str | None:
    """Why GStreamer's RTSP server cannot run here, or None."""
    from tests.io.test_stream_sources import _rtsp_server_missing

    return _rtsp_server_missing()


def model_args(weights) -> list[str]:
    return ["--weights", str(weights), "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu"]


class Rtpose:
    """An ``rtpose`` command in its own process; its stderr is read as it comes (:meth:`wait_for`)."""

    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "rtpose", *argv], cwd=ROOT, env=ENV,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def err(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, seconds: float = 300) -> str:
        """The first stderr line holding ``text`` (fails with the whole stderr if the process ends first)."""
        def found():
            hit = next((line for line in self.lines if text in line), None)
            if hit is None and self.proc.poll() is not None:
                self._reader.join(5)
                hit = next((line for line in self.lines if text in line), None)
                if hit is None:
                    raise AssertionError(f"rtpose ended ({self.proc.returncode}) without {text!r}:\n{self.err}")
            return hit

        return wait_until(found, seconds, f"{text!r} in rtpose's output")

    def stop(self, sig: int, seconds: float = 120) -> int:
        """Send ``sig`` and wait for the exit (a hang guard); returns the exit code."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=seconds)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def get(url: str, token: str | None = None, header: bool = True, timeout: float = 30) -> tuple[int, bytes, dict]:
    """``(status, body, headers)`` of a GET (401 and 503 included)."""
    request = urllib.request.Request(url)
    if token is not None and header:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read(), dict(reply.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)
