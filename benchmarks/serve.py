"""What serving costs: four streams served to browser-like clients and published to MQTT, against the same run
with no outputs, in one invocation (alternating, ``--repeats`` times each).

- bare: ``rtpose --source V`` × N ``--no-show --max-frames F`` (no window, no file, no server).
- served: ``rtpose serve --source V`` × N ``--max-frames F --mqtt mqtt://127.0.0.1:PORT/bench``, with a
  browser-like client per stream reading its MJPEG view as fast as it comes and polling ``/streams`` once a
  second (what the page does), another reading its poses (SSE), a scraper on ``/metrics`` every second, and an
  MQTT subscriber on ``bench/#`` (Debian's mosquitto, started here).

Each side's frames/s is its run's own summary (processing time only; the model loading is left out). Printed:
frames/s of each run, the mean of each side, served / bare, the CPU model (lscpu) and the load average (other
programs on the machine change the figures). The goal: served ≥ 0.90 × bare.

    python benchmarks/serve.py                         # 4 streams of vtest, 40 frames each, deterministic W18
    python benchmarks/serve.py --streams 4 --frames 100 --repeats 3 --weights W.pth

Not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT))

from reference_weights import deterministic_weights  # noqa: E402  (benchmarks/ is on sys.path as a script)
from streams import cpu_model  # noqa: E402

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
SUMMARY = re.compile(r"(\d+) streams: (\d+) frames processed, (\d+) dropped, ([\d.]+) frames/s over ([\d.]+) s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fps(err: str) -> float:
    match = SUMMARY.search(err)
    if not match:
        raise SystemExit(f"no summary in rtpose's output:\n{err[-3000:]}")
    return int(match.group(2)) / float(match.group(5))  # more digits than the printed frames/s


def bare(common: list[str]) -> float:
    done = subprocess.run([sys.executable, "-m", "rtpose", *common, "--no-show"], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return _fps(done.stderr)


def _reader(port: int, path: str, stop: threading.Event) -> None:
    """Read a streaming reply as fast as it comes (a browser's <img> on MJPEG, an EventSource on SSE)."""
    while not stop.is_set():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            reply = conn.getresponse()
            while not stop.is_set() and reply.read1(65536):
                pass
            conn.close()
        except OSError:
            time.sleep(0.2)


def _poller(port: int, paths: list[str], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        for path in paths:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", path)
                conn.getresponse().read()
                conn.close()
            except OSError:
                pass


def served(common: list[str], streams: int, broker_port: int) -> float:
    proc = subprocess.Popen([sys.executable, "-m", "rtpose", "serve", *common, "--port", "0", "--mqtt",
                             f"mqtt://127.0.0.1:{broker_port}/bench"], cwd=ROOT, env=ENV, stderr=subprocess.PIPE,
                            text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line for line in proc.stderr), daemon=True)
    reader.start()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        while not any("listening on" in line for line in lines):
            if proc.poll() is not None:
                raise SystemExit("\n".join(lines))
            time.sleep(0.05)
        port = int(next(line for line in lines if "listening on" in line).split(":")[-1].split("/")[0])
        for i in range(streams):
            threads.append(threading.Thread(target=_reader, args=(port, f"/streams/{i}/video", stop), daemon=True))
            threads.append(threading.Thread(target=_reader, args=(port, f"/streams/{i}/poses", stop), daemon=True))
        threads.append(threading.Thread(target=_poller, args=(port, ["/streams", "/metrics"], stop), daemon=True))
        for thread in threads:
            thread.start()
        while not any("every stream ended" in line for line in lines):
            if proc.poll() is not None:
                raise SystemExit("\n".join(lines))
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        reader.join(10)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return _fps("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", default=str(SHARED / "data" / "videos" / "vtest-480x360.avi"))
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--frames", type=int, default=40, help="frames per stream (default: 40)")
    parser.add_argument("--weights", help="HRNet checkpoint (default: deterministic W18 weights)")
    parser.add_argument("--detector", default=str(SHARED / "models" / "yolov8n-person.pt"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(mosquitto):
        raise SystemExit("needs Debian's mosquitto (apt-get install mosquitto)")
    weights = args.weights or str(deterministic_weights(18))
    common = [a for _ in range(args.streams) for a in ("--source", args.video)]
    common += ["--weights", weights, "--detector", args.detector, "--device", args.device, "--max-frames",
               str(args.frames)]
    broker_port = _free_port()
    broker = subprocess.Popen([mosquitto, "-p", str(broker_port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    subscriber = subprocess.Popen([sys.executable, "-c", _SUBSCRIBER, str(broker_port)], stdout=subprocess.PIPE,
                                  text=True)
    results: dict[str, list[float]] = {"bare": [], "served": []}
    try:
        print(f"CPU: {cpu_model()}; load average before: {os.getloadavg()[0]:.2f}", flush=True)
        for repeat in range(args.repeats):
            order = ("bare", "served") if repeat % 2 == 0 else ("served", "bare")
            for side in order:
                fps = bare(common) if side == "bare" else served(common, args.streams, broker_port)
                results[side].append(fps)
                print(f"  {side:<7} run {repeat + 1}: {fps:6.2f} frames/s ({args.streams} streams, {args.frames} "
                      f"frames each; load {os.getloadavg()[0]:.2f})", flush=True)
    finally:
        subscriber.terminate()
        received = subscriber.communicate(timeout=30)[0].strip()
        broker.kill()
        broker.wait()
    b = sum(results["bare"]) / len(results["bare"])
    s = sum(results["served"]) / len(results["served"])
    print(f"bare {b:.2f} frames/s, served to {args.streams} browser-like clients + SSE + /metrics + MQTT "
          f"{s:.2f} frames/s: served/bare = {s / b:.3f} (goal >= 0.90); MQTT messages received: {received}")
    return 0


#: The MQTT subscriber, in its own process (it counts what it gets; prints the count when terminated).
_SUBSCRIBER = """
import signal, sys
import paho.mqtt.client as mqtt
count = [0]
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
c.on_connect = lambda cl, u, f, rc, p=None: cl.subscribe("bench/#", qos=1)
c.on_message = lambda cl, u, m: count.__setitem__(0, count[0] + 1)
signal.signal(signal.SIGTERM, lambda *a: (print(count[0], flush=True), sys.exit(0)))
c.connect_async("127.0.0.1", int(sys.argv[1]))
c.loop_forever(retry_first_connection=True)
"""


if __name__ == "__main__":
    sys.exit(main())
