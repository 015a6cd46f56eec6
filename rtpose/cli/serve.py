"""``rtpose serve``: run streams until stopped and serve them over HTTP (page, MJPEG, SSE, /metrics), and MQTT.

Examples::

    rtpose serve --source rtsp://cam1/live --source rtsp://cam2/live --weights W
    rtpose serve --sources cameras.txt --weights W --host 0.0.0.0 --token SECRET --mqtt mqtt://broker:1883/site1
    rtpose serve --source video.mp4 --weights W --privacy faces --port 0

It takes ``rtpose run``'s options (sources, model, tracking, outputs) and these: ``--host`` (default
127.0.0.1; any other address needs ``--token``), ``--port`` (default 8080; 0 picks a free one), ``--token``
(or ``RTPOSE_TOKEN``). It runs until SIGTERM, SIGINT or SIGHUP, then closes every output and exits 0; when
every stream has ended (files) it goes on serving the last pictures and figures until then.
"""

from __future__ import annotations

import argparse
import ipaddress
import threading

from rtpose.cli import run as run_command
from rtpose.cli.common import add_group, check_command_paths
from rtpose.errors import RtposeError
from rtpose.log import say
from rtpose.options.schema import Option
from rtpose.settings import serve_token

HELP = "run streams until stopped, serving a live web page, MJPEG, poses (SSE), /metrics and MQTT"


#: serve's own options (records of the one schema: :mod:`rtpose.options.schema`).
SERVE = (
    Option("host", "str", "127.0.0.1", metavar="ADDRESS", scope="serve", group="serve",
           help="address to listen on (127.0.0.1: this machine only; any other needs --token)"),
    Option("port", "int", 8080, low=0, high=65535, metavar="N", scope="serve", group="serve",
           extra={"range_words": "a port is 0 to 65535 (0 picks a free one)"},
           help="TCP port (0 picks a free one, printed at the start)"),
    Option("token", "str", metavar="SECRET", scope="serve", group="serve",
           help="the secret every request but /healthz and /readyz must carry, as 'Authorization: Bearer SECRET' "
                "or ?token=SECRET (default: RTPOSE_TOKEN)"),
    Option("jpeg_quality", "int", 80, low=1, high=100, metavar="Q", scope="serve", group="serve",
           help="JPEG quality of the served pictures, 1 to 100"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    run_command.configure(parser)
    add_group(parser, "serve", SERVE)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only reaches this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(args: argparse.Namespace) -> int:
    try:
        from rtpose.serve.app import HttpServer
    except ImportError as exc:
        raise RtposeError(f"rtpose serve needs {exc.name or 'aiohttp'}: pip install 'rtpose[serve]' (aiohttp, "
                          "prometheus-client, paho-mqtt).") from None

    check_command_paths(args)  # no output onto an input, or twice: before anything opens
    if not run_command._source_specs(args):
        raise RtposeError("Nothing to serve: give --source FILE|URL (several times), --sources FILE or --camera N.")
    token = args.token or serve_token()
    if not is_loopback(args.host) and not token:
        raise RtposeError(f"--host {args.host} lets other machines in: give --token SECRET (or RTPOSE_TOKEN) too.")
    if args.show:
        raise RtposeError("rtpose serve shows its pictures in the browser; --show is rtpose run's.")
    args.show = False
    server = HttpServer(args.host, args.port, token)
    server.start()  # a busy or forbidden port: one sentence, before anything slow
    try:
        say(f"listening on {server.url}" + (" (a token is needed)" if token else ""))
        serving = _Serving(server, args.jpeg_quality)
        code = run_command.main(args, serving)
        # a service stopped by SIGTERM or Ctrl-C did what it was asked: exit 0 (rtpose run says 128 + signal)
        return 0 if serving.stop is not None and serving.stop.requested and code == serving.stop.exit_code else code
    finally:
        server.stop()


class _Serving:
    """rtpose serve's part of the run path: the viewers' and /metrics' sink, MQTT's figures, /readyz, and serving
    the last pictures once every stream has ended, until stopped."""

    def __init__(self, server, jpeg_quality: int) -> None:
        self.server, self.jpeg_quality = server, jpeg_quality
        self.stop = None
        self.ended_by_itself = threading.Event()

    def sinks(self, stream, sources: list, stop, others: list) -> list:
        from rtpose.io.mqtt import MqttSink
        from rtpose.serve.metrics import RunMetrics
        from rtpose.serve.sink import ServeSink

        self.stop = stop
        headers = stream.headers()
        metrics = RunMetrics([h["source"] for h in headers])
        metrics.sources = sources
        views = self.server.attach(headers, metrics)
        metrics.stats = stream.stats
        metrics.extra.append(self.server.clients)
        self.server.readiness = lambda: _readiness(sources, self.ended_by_itself)
        metrics.extra += [sink.figures for sink in others if isinstance(sink, MqttSink)]  # rtpose_mqtt_*
        return [ServeSink(views, metrics, sources, jpeg_quality=self.jpeg_quality)]

    def ended(self, stop) -> None:
        self.ended_by_itself.set()
        say("every stream ended; still serving the last pictures and figures until stopped")
        stop.wait()


def _readiness(sources: list, ended: threading.Event) -> str | None:
    """None when every stream is open or reconnecting; else why not (``/readyz``)."""
    for i, source in enumerate(sources):
        if source.end_reason:
            return f"stream {i} ({source.name}) is lost"
    if ended.is_set():
        return "every stream ended"
    return None


__all__ = ["HELP", "configure", "is_loopback", "main"]
