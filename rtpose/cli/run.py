"""``rtpose [run]``: poses on a camera, video file, stream, image folder or single image.

Examples::

    rtpose --camera 0 --weights pose_hrnet_w32_256x192.pth
    rtpose --source video.mp4 --weights W --no-show --save out.mp4 --json out.jsonl
    rtpose --source bus.jpg --weights W --save out.jpg --json out.json
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from rtpose.cli.common import add_model_args, fraction, non_negative_int, positive_float, positive_int
from rtpose.errors import RtposeError, SourceError

HELP = "estimate poses on a camera, video, stream, image or folder (the default command)"

_IMAGE_OUT = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def configure(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("source (one of)")
    what = src.add_mutually_exclusive_group()
    what.add_argument("--camera", type=non_negative_int, metavar="N", help="camera index (0 is the first camera)")
    what.add_argument(
        "--source", metavar="SPEC",
        help="video file, image, folder of images (name order), rtsp:// or http(s):// stream, or a camera index",
    )
    src.add_argument("--realtime", action="store_true",
                     help="play files at their frame rate, dropping frames when inference is slower")
    src.add_argument("--timeout", type=positive_float, default=10.0, metavar="S",
                     help="seconds to wait for a stream to connect (default: 10)")
    add_model_args(parser)
    parser.add_argument("--det-every", type=positive_int, default=1, metavar="N",
                        help="run the detector on one frame in N; between, each person's box comes from their "
                             "previous keypoints (default: 1, every frame)")
    out = parser.add_argument_group("output")
    out.add_argument("--kpt-thr", type=fraction, default=0.3, metavar="T",
                     help="hide keypoints scoring below this, 0 to 1 (default: 0.3)")
    out.add_argument("--save", metavar="PATH",
                     help="write the annotated video (.mp4/.avi), or an image file when the source is one image")
    out.add_argument("--json", metavar="PATH",
                     help="write one JSON line per frame (for one image: a JSON file unless the name ends in .jsonl)")
    out.add_argument("--show", action=argparse.BooleanOptionalAction, default=None,
                     help="show a window with the overlay (default: when a display exists); q or Esc quits")
    out.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                     help="stop after N processed frames")
    out.add_argument("--quiet", action="store_true", help="print nothing but errors (no progress, no summary)")
    track = parser.add_argument_group("tracking")
    track.add_argument("--track", action=argparse.BooleanOptionalAction, default=True,
                       help="give people identities across frames (default: on)")
    track.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=True,
                       help="smooth tracked keypoints over time (with --track; default: on)")
    track.add_argument("--track-buffer", type=non_negative_int, default=30, metavar="N",
                       help="frames a lost track is kept before its id is retired (default: 30)")


def _log(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"rtpose: {text}", file=sys.stderr, flush=True)


def _make_tracker(args: argparse.Namespace):
    if not args.track:
        return None
    try:
        from rtpose.tracking import PoseTracker
    except ImportError:
        raise RtposeError("Tracking is not available in this installation (rtpose.tracking is missing).") from None
    return PoseTracker(max_lost=args.track_buffer, smooth=args.smooth, kpt_thr=args.kpt_thr)


def main(args: argparse.Namespace) -> int:
    from rtpose.sinks import WindowSink, display_available
    from rtpose.sources import ImageSource, open_source

    if args.camera is None and args.source is None:
        raise RtposeError("Nothing to run on: give --camera N or --source FILE|FOLDER|URL (see rtpose --help).")
    show = display_available() if args.show is None else args.show
    window = WindowSink() if show else None  # DisplayError before anything slow happens
    source = open_source(args.camera if args.camera is not None else args.source, realtime=args.realtime,
                         timeout=args.timeout)
    try:
        estimator = _build(args)
        if not show and not (args.save or args.json) and not args.quiet:
            _log(args, "no window, --save or --json: only the summary will be printed")
        if isinstance(source, ImageSource):
            return _run_image(args, source, estimator, window)
        return _run_stream(args, source, estimator, window)
    finally:
        source.close()
        if window is not None:
            window.close()


def _build(args: argparse.Namespace):
    from rtpose.cli.common import build_estimator

    return build_estimator(args, quiet=args.quiet)


def _run_image(args, source, estimator, window) -> int:
    """One image: no threads, annotate, write the image and a JSON document."""
    from rtpose.pipeline import FrameResult
    from rtpose.render import draw_people
    from rtpose.sinks import ImageSink, JsonLinesSink, JsonSink, VideoSink
    from rtpose.timing import now

    frame = source.read()
    people = estimator(frame.image)
    tracker = _make_tracker(args)
    if tracker is not None:
        people = tracker.update(people, frame.clock)
    result = FrameResult(frame=frame, people=people, latency_ms=(now() - frame.timestamp) * 1e3)
    annotated = draw_people(frame.image, people, kpt_thr=args.kpt_thr)
    if args.save:
        sink = ImageSink(args.save) if Path(args.save).suffix.lower() in _IMAGE_OUT else VideoSink(args.save, 1.0)
        with sink:
            sink.write(result, annotated)
    if args.json:
        sink = JsonLinesSink(args.json) if args.json.endswith(".jsonl") else JsonSink(args.json, source.name)
        with sink:
            sink.write(result, annotated)
    _log(args, f"{len(people)} people in {source.name} ({result.latency_ms:.0f} ms)")
    if window is not None:
        window.show(annotated, wait_ms=0)
    return 0


def _run_stream(args, source, estimator, window) -> int:
    """Video, camera, stream or folder through the threaded pipeline."""
    from rtpose.pipeline import Pipeline, warmup
    from rtpose.render import draw_hud, draw_people, hud_lines
    from rtpose.signals import stop_on_signals
    from rtpose.sinks import JsonLinesSink, VideoSink
    from rtpose.timing import now

    tracker = _make_tracker(args)
    pipeline = Pipeline(source, estimator, tracker=tracker, max_frames=args.max_frames,
                        det_every=args.det_every)
    timer = pipeline.timer
    sinks = []
    with stop_on_signals(lambda _signum: pipeline.request_stop()) as stop:
        try:
            if args.json:
                sinks.append(JsonLinesSink(args.json))
            if args.save:
                sinks.append(VideoSink(args.save, fps=source.fps, size=source.size))
            if window is not None:
                sinks.append(window)
            backend = estimator.backend
            backend_text = (getattr(backend, "name", ""), getattr(backend, "device", ""))
            total = args.max_frames or source.frame_count
            _log(args, f"running on {source.name}" + (f" ({total} frames)" if total else "") + "; Ctrl-C stops")
            render = bool(args.save or window is not None)
            warmup(estimator, source.size)
            last_log = now()
            if not stop.requested:
                pipeline.start()
            for result in pipeline.results():
                annotated = None
                if render:
                    with timer.stage("render"):
                        annotated = draw_people(result.frame.image, result.people, kpt_thr=args.kpt_thr, copy=False)
                        draw_hud(annotated, hud_lines(result, *backend_text))
                with timer.stage("write"):
                    for sink in sinks:
                        sink.write(result, annotated)
                timer.add("e2e", now() - result.latency_origin)
                if window is not None and window.stop_requested:
                    break
                if not args.quiet and window is None and now() - last_log > 2.0:
                    last_log = now()
                    done = f"{pipeline.frames_processed}" + (f"/{total}" if total else "")
                    print(f"rtpose: frame {done}  {result.fps:.1f} frames/s  latency {result.latency_ms:.0f} ms  "
                          f"{len(result.people)} people", file=sys.stderr, flush=True)
        except KeyboardInterrupt:  # a second signal while stopping
            stop.signum = stop.signum or signal.SIGINT
        finally:
            try:
                pipeline.stop()
                if pipeline.running:  # a pose call cannot be cut short: let it end rather than abort the process
                    pipeline.stop(timeout=30.0)
            finally:
                for sink in sinks:
                    if sink is not window:
                        sink.close()
    if not args.quiet:
        print(pipeline.summary(), file=sys.stderr, flush=True)
        for sink in sinks:
            path = getattr(sink, "path", None)
            if path is not None:
                print(f"rtpose: wrote {path}", file=sys.stderr)
    if stop.requested:
        print(f"rtpose: stopped by {stop.name}", file=sys.stderr)
        return stop.exit_code
    if getattr(source, "ended_early", False):
        if getattr(source, "is_camera", False):
            raise SourceError(
                f"{source.name.capitalize()} stopped sending frames after {pipeline.frames_captured} frames "
                "(unplugged, or taken by another program); everything up to then was written."
            )
        _log(args, f"{source.name} ended (the stream stopped sending frames)")
    return 0


__all__ = ["HELP", "configure", "main"]
