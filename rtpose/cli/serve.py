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
import signal
import sys
import threading
from pathlib import Path

from rtpose.cli import run as run_command
from rtpose.errors import RtposeError, SourceError
from rtpose.log import say
from rtpose.settings import serve_token

HELP = "run streams until stopped, serving a live web page, MJPEG, poses (SSE), /metrics and MQTT"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535 (0 picks a free one), got {text}")
    return value


def _quality(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be 1 to 100, got {text}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    run_command.configure(parser)
    group = parser.add_argument_group("serve")
    group.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                       help="address to listen on (default: 127.0.0.1, this machine only; any other needs --token)")
    group.add_argument("--port", type=_port, default=8080, metavar="N",
                       help="TCP port (default: 8080; 0 picks a free one, printed at the start)")
    group.add_argument("--token", default=None, metavar="SECRET",
                       help="the secret every request but /healthz and /readyz must carry, as 'Authorization: "
                            "Bearer SECRET' or ?token=SECRET (default: RTPOSE_TOKEN)")
    group.add_argument("--jpeg-quality", type=_quality, default=80, metavar="Q",
                       help="JPEG quality of the served pictures, 1 to 100 (default: 80)")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only reaches this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(args: argparse.Namespace) -> int:
    from rtpose.engine.signals import stop_on_signals
    from rtpose.options import StreamOptions

    try:
        from rtpose.serve.app import HttpServer
    except ImportError as exc:
        raise RtposeError(f"rtpose serve needs {exc.name or 'aiohttp'}: pip install 'rtpose[serve]' (aiohttp, "
                          "prometheus-client, paho-mqtt).") from None

    specs = run_command._source_specs(args)
    if not specs:
        raise RtposeError("Nothing to serve: give --source FILE|URL (several times), --sources FILE or --camera N.")
    token = args.token or serve_token()
    if not is_loopback(args.host) and not token:
        raise RtposeError(f"--host {args.host} lets other machines in: give --token SECRET (or RTPOSE_TOKEN) too.")
    if args.show:
        raise RtposeError("rtpose serve shows its pictures in the browser; --show is rtpose run's.")
    options = StreamOptions.from_args(args).validate()
    if (args.save_masks or args.background) and not args.seg:
        raise RtposeError("--save-masks and --background need --seg person or --seg parts.")
    if args.background:
        from rtpose.io.render import parse_background

        args.background = parse_background(args.background)
    server = HttpServer(args.host, args.port, token)
    server.start()  # a busy or forbidden port: one sentence, before anything slow
    try:
        say(f"listening on {server.url}" + (" (a token is needed)" if token else ""))
        return _serve(args, specs, options, server, stop_on_signals)
    finally:
        server.stop()


def _serve(args, specs: list, options, server, stop_on_signals) -> int:
    from rtpose.engine.stream import PoseStream, run
    from rtpose.io.render import hud_lines
    from rtpose.io.sinks import ByStream, JsonLinesSink, MaskSink, VideoSink, check_outputs, stream_video_paths
    from rtpose.io.sources import open_source
    from rtpose.model import PoseModel
    from rtpose.options import ModelOptions
    from rtpose.serve.metrics import RunMetrics
    from rtpose.serve.sink import ServeSink

    stopped = threading.Event()
    state: dict = {"stream": None}

    def on_stop(_signum) -> None:
        stopped.set()
        if state["stream"] is not None:
            state["stream"].request_stop()

    sources = []
    with stop_on_signals(on_stop) as stop:
        try:
            for spec in specs:
                sources.append(open_source(spec, realtime=options.realtime, timeout=options.timeout,
                                           reconnect_timeout=options.reconnect_timeout))
            videos = _video_paths(args.save, sources, stream_video_paths)
            for i, source in enumerate(sources):
                check_outputs(str(videos[i]) if videos else None, args.json, source)
            if stop.requested:
                return 0
            model = PoseModel.from_options(ModelOptions.from_args(args), det_every=options.det_every)
            with model:
                stream = state["stream"] = PoseStream(model.estimator, sources, options)
                if stop.requested:
                    stream.request_stop()
                headers = stream.headers()
                metrics = RunMetrics([h["source"] for h in headers])
                metrics.sources = sources
                views = server.attach(headers, metrics)
                metrics.stats = stream.stats
                metrics.extra.append(server.clients)
                ended = threading.Event()
                server.readiness = lambda: _readiness(sources, ended)
                info = model.info.backend
                sinks: list = [ServeSink(views, metrics, sources, jpeg_quality=args.jpeg_quality)]
                stats = None
                try:
                    if args.json:
                        sinks.append(JsonLinesSink(args.json, headers))
                    if videos:
                        sinks.append(ByStream([VideoSink(path, fps=s.fps, size=s.size, real_time=c.drop_frames)
                                               for path, s, c in zip(videos, sources, stream.pipeline.captures)]))
                    if args.save_masks:
                        sinks.append(MaskSink(args.save_masks))
                    if args.mqtt:
                        from rtpose.io.mqtt import MqttSink

                        mqtt = MqttSink(args.mqtt, stream=stream)
                        metrics.extra.append(mqtt.figures)
                        sinks.append(mqtt)
                    say(f"serving {len(sources)} stream(s): " + ", ".join(s.name for s in sources) + "; Ctrl-C stops")
                    if not stop.requested:
                        stats = run(stream, sinks, kpt_thr=args.kpt_thr, background=args.background,
                                    privacy=args.privacy, hud=lambda r: hud_lines(r, info.name, info.device))
                    ended.set()
                    if not stop.requested:
                        say("every stream ended; still serving the last pictures and figures until stopped")
                        while not stopped.wait(0.5):
                            pass
                except KeyboardInterrupt:  # a second signal while stopping
                    stop.signum = stop.signum or signal.SIGINT
                finally:
                    stream.close()
                    for sink in sinks:
                        sink.close()
                stats = stats or stream.stats()
                if not args.quiet:
                    print(stats.format(), file=sys.stderr, flush=True)
                for sink in sinks:
                    for part in getattr(sink, "sinks", [sink]):
                        if isinstance(part, (JsonLinesSink, VideoSink)):
                            say(f"wrote {part.path} ({part.count} frames)")
                        elif part.__class__.__name__ == "MqttSink":
                            say(f"published {part.count} records to {part.path} ({part.dropped} messages dropped)")
            if stop.requested:
                say(f"stopped by {stop.name}")
            lost = [f"Stream {i}: {s.end_reason}" for i, s in enumerate(sources)
                    if s.ended_early and getattr(s, "end_reason", None)]
            if lost:
                raise SourceError(" ".join(lost))
            return 0
        finally:
            for source in sources:
                source.close()


def _video_paths(save: str | None, sources: list, stream_video_paths) -> list[Path]:
    """``--save``: one file for one stream, else a folder with a video per stream (as ``rtpose run``)."""
    if not save:
        return []
    if len(sources) == 1:
        return [Path(save)]
    folder = Path(save)
    if folder.exists() and not folder.is_dir() or (not folder.exists() and folder.suffix and not save.endswith("/")):
        raise RtposeError(f"--save {save}: with {len(sources)} sources --save takes a folder (DIR/), where each "
                          "stream's video is written under its own name.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RtposeError(f"--save {save}: cannot make the folder ({exc.strerror}).") from None
    return stream_video_paths(folder, sources)


def _readiness(sources: list, ended: threading.Event) -> str | None:
    """None when every stream is open or reconnecting; else why not (``/readyz``)."""
    for i, source in enumerate(sources):
        if getattr(source, "end_reason", None):
            return f"stream {i} ({source.name}) is lost"
    if ended.is_set():
        return "every stream ended"
    return None


__all__ = ["HELP", "configure", "is_loopback", "main"]
