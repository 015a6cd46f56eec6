"""A live MJPEG-over-HTTP stream server for tests, run as its own process so that a test can kill it.

    python -m tests.support.stream_server PORT FPS [--video FILE]

Serves ``multipart/x-mixed-replace`` JPEG frames at FPS frames per second to every client (FFmpeg reads
such a stream with its ``mpjpeg`` demuxer and, whatever the rate, says 25 frames/s). The frames are
those of ``--video`` in a loop (people, for the pose model) or grey levels. Port 0 picks a free one; the
port is printed on the first line of stdout (``port N``) once the server listens. It serves until killed.
"""

from __future__ import annotations

import argparse
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np


def _frames(video: str | None):
    if video is None:
        i = 0
        while True:
            yield np.full((120, 160, 3), (13 * i) % 256, np.uint8)
            i += 1
    while True:
        cap = cv2.VideoCapture(video)
        while True:
            ok, image = cap.read()
            if not ok:
                break
            yield image
        cap.release()


def serve(port: int, fps: float, video: str | None) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            start = time.monotonic()
            try:
                for n, image in enumerate(_frames(video), 1):
                    ok, buf = cv2.imencode(".jpg", image)
                    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(buf)
                    self.wfile.write(head + buf.tobytes() + b"\r\n")
                    self.wfile.flush()
                    time.sleep(max(0.0, start + n / fps - time.monotonic()))
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.allow_reuse_address = True  # a restart takes the same port at once
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.stream_server")
    parser.add_argument("port", type=int)
    parser.add_argument("fps", type=float)
    parser.add_argument("--video")
    args = parser.parse_args(argv)
    serve(args.port, args.fps, args.video)
    return 0


if __name__ == "__main__":
    sys.exit(main())
