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
from rtpose.log import say, warn

HELP = "estimate poses on a camera, video, stream, image or folder (the default command)"

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
                     help="write the annotated video (.mp4/.avi), or an image file when the source is one image; "
                          "where frames are dropped (live sources, --realtime) the previous frame fills the gap, "
                          "so the video lasts as long as the source did")
    out.add_argument("--json", metavar="PATH",
                     help="write JSON Lines (.jsonl): a header line, then one line per frame (for one image: a "
                          "JSON file unless the name ends in .jsonl); schema in the README")
    out.add_argument("--show", action=argparse.BooleanOptionalAction, default=None,
                     help="show a window with the overlay (default: when a display exists); q or Esc quits")
    out.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                     help="stop after N processed frames")
    out.add_argument("--quiet", action="store_true",
                     help="print nothing but warnings and errors (no progress, no summary)")
    out.add_argument("--verbose", action="store_true", help="also print debugging details")
    track = parser.add_argument_group("tracking")
    track.add_argument("--track", action=argparse.BooleanOptionalAction, default=True,
                       help="give people identities across frames (default: on)")
    track.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=True,
                       help="smooth tracked keypoints over time (with --track; default: on)")
    track.add_argument("--track-buffer", type=non_negative_int, default=30, metavar="N",
                       help="frames a lost track is kept before its id is retired (default: 30)")


def _make_tracker(args: argparse.Namespace):
    if not args.track:
        return None
    from rtpose.tracking import PoseTracker

    return PoseTracker(max_lost=args.track_buffer, smooth=args.smooth, kpt_thr=args.kpt_thr)


def main(args: argparse.Namespace) -> int:
    from rtpose.cli.common import build_estimator
    from rtpose.sinks import WindowSink, check_outputs, display_available
    from rtpose.sources import ImageSource, open_source

    if args.camera is None and args.source is None:
        raise RtposeError("Nothing to run on: give --camera N or --source FILE|FOLDER|URL (see rtpose --help).")
    show = display_available() if args.show is None else args.show
    window = WindowSink() if show else None  # DisplayError before anything slow happens
    source = open_source(args.camera if args.camera is not None else args.source, realtime=args.realtime,
                         timeout=args.timeout)
    try:
        check_outputs(args.save, args.json, source)  # before the model loads
        estimator = build_estimator(args)
        if not show and not (args.save or args.json):
            say("no window, --save or --json: only the summary will be printed")
        if isinstance(source, ImageSource):
            return _run_image(args, source, estimator, window)
        return _run_stream(args, source, estimator, window)
    finally:
        source.close()
        if window is not None:
            window.close()


def _run_image(args, source, estimator, window) -> int:
    """One image: no threads (and no tracking), annotate, write the image and a JSON document."""
    from rtpose.pipeline import FrameResult
    from rtpose.render import draw_people
    from rtpose.signals import stop_on_signals
    from rtpose.sinks import IMAGE_OUT_SUFFIXES, ImageSink, JsonLinesSink, JsonSink, VideoSink, stream_header
    from rtpose.timing import now

    frame = source.read()
    people = estimator(frame.image)
    result = FrameResult(frame=frame, people=people, latency_ms=(now() - frame.timestamp) * 1e3)
    annotated = draw_people(frame.image, people, kpt_thr=args.kpt_thr)
    if args.save:
        save_image = Path(args.save).suffix.lower() in IMAGE_OUT_SUFFIXES
        with ImageSink(args.save) if save_image else VideoSink(args.save, 1.0) as sink:
            sink.write(result, annotated)
    if args.json:
        header = stream_header(source, estimator.keypoint_set)
        with JsonLinesSink(args.json, header) if args.json.endswith(".jsonl") else JsonSink(args.json, header) as sink:
            sink.write(result, annotated)
    say(f"{len(people)} people in {source.name} ({result.latency_ms:.0f} ms)")
    if window is not None:
        say("q, Esc or closing the window quits")
        with stop_on_signals(lambda _signum: None) as stop:
            while not window.stop_requested and not stop.requested:
                window.show(annotated, wait_ms=100)  # short waits, so that Ctrl-C and SIGTERM are seen
        if stop.requested:
            return stop.exit_code
    return 0


def _run_stream(args, source, estimator, window) -> int:
    """Video, camera, stream or folder through the threaded pipeline."""
    from rtpose.pipeline import Pipeline, warmup
    from rtpose.render import draw_hud, draw_people, hud_lines
    from rtpose.signals import stop_on_signals
    from rtpose.sinks import JsonLinesSink, VideoSink, stream_header
    from rtpose.sources import FolderSource
    from rtpose.timing import now

    stills = isinstance(source, FolderSource) and not source.is_sequence
    if stills:
        say(f"{source.name} holds unrelated photos (not numbered frames of one recording): each is "
            "estimated on its own, without tracking")
    tracker = None if stills else _make_tracker(args)
    pipeline = Pipeline(source, estimator, tracker=tracker, max_frames=args.max_frames,
                        det_every=1 if stills else args.det_every)
    timer = pipeline.timer
    sinks = []
    with stop_on_signals(lambda _signum: pipeline.request_stop()) as stop:
        try:
            if args.json:
                sinks.append(JsonLinesSink(args.json, stream_header(source, estimator.keypoint_set)))
            if args.save:
                sinks.append(VideoSink(args.save, fps=source.fps, size=source.size, real_time=pipeline.drop_frames))
            if window is not None:
                sinks.append(window)
            backend = estimator.backend
            backend_text = (getattr(backend, "name", ""), getattr(backend, "device", ""))
            total = args.max_frames or source.frame_count
            say(f"running on {source.name}" + (f" ({total} frames)" if total else "") + "; Ctrl-C stops")
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
                if window is None and now() - last_log > 2.0:
                    last_log = now()
                    done = f"{pipeline.frames_processed}" + (f"/{total}" if total else "")
                    say(f"frame {done}  {result.fps:.1f} frames/s  latency {result.latency_ms:.0f} ms  "
                        f"{len(result.people)} people")
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
        if sink is window:
            continue
        frames = f"{sink.count} frames" + (f", {sink.repeated} of them repeats of dropped frames"
                                           if getattr(sink, "repeated", 0) else "")
        if isinstance(sink, VideoSink) and sink.count == 0:
            warn(f"no frame was processed, so {sink.path} was not written")
        else:
            say(f"wrote {sink.path} ({frames})")
    skipped = getattr(source, "skipped_files", [])
    if skipped:
        names = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        warn(f"skipped {len(skipped)} unreadable image file(s): {names}")
    if stop.requested:
        say(f"stopped by {stop.name}")
        return stop.exit_code
    if source.ended_early and not source.is_live:
        expected = getattr(source, "expected_frames", None) or source.frame_count
        warn(f"{source.name} ended after {pipeline.frames_captured} of {expected} frames (the file is truncated or "
             "damaged); everything up to there was processed")
    elif source.ended_early:
        if getattr(source, "is_camera", False):
            raise SourceError(
                f"{source.name.capitalize()} stopped sending frames after {pipeline.frames_captured} frames "
                "(unplugged, or taken by another program); everything up to then was written."
            )
        say(f"{source.name} ended (the stream stopped sending frames)")
    return 0


__all__ = ["HELP", "configure", "main"]
