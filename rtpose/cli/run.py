"""``rtpose [run]``: poses on a camera, video file, stream, image folder or single image.

Examples::

    rtpose --camera 0 --weights pose_hrnet_w32_256x192.pth
    rtpose --source video.mp4 --weights W --no-show --save out.mp4 --json out.jsonl
    rtpose --source bus.jpg --weights W --save out.jpg --json out.json
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
from pathlib import Path

from rtpose.cli.common import (
    add_model_args,
    add_tracking_args,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from rtpose.errors import RtposeError, SourceError
from rtpose.log import say, warn

HELP = "estimate poses on a camera, video, stream, image or folder (the default command)"

def configure(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("source (--camera, or one or more --source / --sources)")
    what = src.add_mutually_exclusive_group()
    what.add_argument("--camera", type=non_negative_int, metavar="N", help="camera index (0 is the first camera)")
    what.add_argument(
        "--source", metavar="SPEC", action="append",
        help="video file, image, folder of images (name order), rtsp:// or http(s):// stream, or a camera index; "
             "give it several times to run several streams in one process (one pose call for all their people)",
    )
    src.add_argument("--sources", metavar="FILE",
                     help="a text file of sources, one per line (# starts a comment), added to any --source")
    src.add_argument("--realtime", action="store_true",
                     help="play files at their frame rate, dropping frames when inference is slower")
    src.add_argument("--timeout", type=positive_float, default=10.0, metavar="S",
                     help="seconds to wait for a stream to connect (default: 10)")
    src.add_argument("--reconnect-timeout", type=non_negative_float, default=30.0, metavar="S",
                     help="seconds a stream that stopped may take to come back before the run ends with exit "
                          "code 1 (default: 30; 0 ends at once)")
    add_model_args(parser)
    add_tracking_args(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--kpt-thr", type=fraction, default=0.3, metavar="T",
                     help="hide keypoints scoring below this, 0 to 1 (default: 0.3)")
    out.add_argument("--save", metavar="PATH",
                     help="write the annotated video (.mp4/.avi), or an image file when the source is one image; "
                          "where frames are dropped (live sources, --realtime) the previous frame fills the gap, "
                          "so the video lasts as long as the source did; with several sources a folder (DIR/): "
                          "one video per stream, named after it")
    out.add_argument("--json", metavar="PATH",
                     help="write JSON Lines (.jsonl): a header line per stream, then one line per frame (for one "
                          "image: a JSON file unless the name ends in .jsonl); - is standard output; schema in "
                          "the README")
    out.add_argument("--mqtt", metavar="URL", type=_mqtt_url,
                     help="publish every frame's record and events (tracks, outages) to an MQTT broker: "
                          "mqtt://[USER:PASSWORD@]HOST[:PORT]/TOPIC or mqtts://; the user and password may come "
                          "from RTPOSE_MQTT_USERNAME and RTPOSE_MQTT_PASSWORD instead")
    out.add_argument("--privacy", choices=("faces", "skeleton"), default=None,
                     help="in every picture written or shown: faces blurs each face, skeleton draws the skeletons "
                          "on a plain background")
    out.add_argument("--save-masks", metavar="DIR", default=None,
                     help="with --seg: one indexed-colour PNG per frame (person i+1, or the body-part class)")
    out.add_argument("--background", metavar="blur|COLOR|IMAGE", default=None,
                     help="with --seg: blur or replace everything that is not a person in the video and window "
                          "(a colour: green, #00ff00 or 0,255,0; or an image file)")
    out.add_argument("--show", action=argparse.BooleanOptionalAction, default=None,
                     help="show a window with the overlay (default: when a display exists); q or Esc quits")
    out.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                     help="stop after N processed frames")
    out.add_argument("--quiet", action="store_true",
                     help="print nothing but warnings and errors (no progress, no summary)")
    out.add_argument("--verbose", action="store_true", help="also print debugging details")


def _mqtt_url(text: str) -> str:
    from rtpose.io.mqtt import mqtt_url_arg

    return mqtt_url_arg(text)


def main(args: argparse.Namespace) -> int:
    from rtpose.io.sinks import WindowSink, check_outputs, display_available
    from rtpose.io.sources import ImageSource, open_source
    from rtpose.model import PoseModel
    from rtpose.options import ModelOptions, StreamOptions

    specs = _source_specs(args)
    if not specs:
        raise RtposeError("Nothing to run on: give --camera N or --source FILE|FOLDER|URL (see rtpose --help).")
    options = StreamOptions.from_args(args).validate()
    if (args.save_masks or args.background) and not args.seg:
        raise RtposeError("--save-masks and --background need --seg person or --seg parts.")
    if args.background:
        from rtpose.io.render import parse_background

        args.background = parse_background(args.background)
    if len(specs) > 1:
        return _run_streams(args, specs, options)
    show = display_available() if args.show is None else args.show
    window = WindowSink() if show else None  # DisplayError before anything slow happens
    source = open_source(specs[0], realtime=options.realtime, timeout=options.timeout,
                         reconnect_timeout=options.reconnect_timeout)
    try:
        check_outputs(args.save, args.json, source)  # before the model loads
        model = PoseModel.from_options(ModelOptions.from_args(args), det_every=options.det_every)
        if not show and not (args.save or args.json):
            say("no window, --save or --json: only the summary will be printed")
        with model:
            if isinstance(source, ImageSource):
                return _run_image(args, source, model, window)
            return _run_stream(args, source, model, options, window)
    finally:
        source.close()
        if window is not None:
            window.close()


def _source_specs(args: argparse.Namespace) -> list:
    """The sources asked for: ``--camera``, every ``--source``, then the lines of ``--sources FILE``."""
    if args.camera is not None:
        return [args.camera]
    specs = list(args.source or [])
    if args.sources:
        try:
            lines = Path(args.sources).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise RtposeError(f"--sources {args.sources}: cannot read it ({getattr(exc, 'strerror', None) or exc}).") \
                from None
        # a comment starts with # at the start of a line or after a space (a URL may hold # itself)
        found = [re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip() for line in lines]
        found = [f for f in found if f]
        if not found:
            raise RtposeError(f"--sources {args.sources} names no source (one per line; # starts a comment).")
        specs += found
    return specs


def _run_streams(args, specs: list, options) -> int:
    """Several sources in one process: one capture thread each, one inference loop, one pose call a round."""
    from rtpose.engine.signals import stop_on_signals
    from rtpose.engine.stream import PoseStream, run
    from rtpose.io.mqtt import MqttSink
    from rtpose.io.render import hud_lines
    from rtpose.io.sinks import (
        ByStream,
        GridWindowSink,
        JsonLinesSink,
        MaskSink,
        VideoSink,
        WindowSink,
        check_outputs,
        display_available,
        stream_video_paths,
    )
    from rtpose.io.sources import open_source
    from rtpose.model import PoseModel
    from rtpose.options import ModelOptions

    show = display_available() if args.show is None else args.show
    window = WindowSink() if show else None
    sources = []
    try:
        for spec in specs:
            sources.append(open_source(spec, realtime=options.realtime, timeout=options.timeout,
                                       reconnect_timeout=options.reconnect_timeout))
        videos: list[Path] = []
        if args.save:
            folder = Path(args.save)
            if folder.exists() and not folder.is_dir() or (not folder.exists() and folder.suffix and
                                                            not str(args.save).endswith("/")):
                raise RtposeError(f"--save {args.save}: with {len(sources)} sources --save takes a folder "
                                  "(DIR/), where each stream's video is written under its own name.")
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RtposeError(f"--save {args.save}: cannot make the folder ({exc.strerror}).") from None
            videos = stream_video_paths(folder, sources)
        for i, source in enumerate(sources):
            check_outputs(str(videos[i]) if videos else None, args.json, source)
        model = PoseModel.from_options(ModelOptions.from_args(args), det_every=options.det_every)
        with model:
            stream = PoseStream(model.estimator, sources, options)
            info = model.info.backend
            sinks = []
            stats = None
            with stop_on_signals(lambda _signum: stream.request_stop()) as stop:
                try:
                    if args.json:
                        sinks.append(JsonLinesSink(args.json, stream.headers()))
                    if videos:
                        sinks.append(ByStream([VideoSink(path, fps=s.fps, size=s.size, real_time=live)
                                               for path, s, live in zip(videos, sources, stream.real_time)]))
                    if window is not None:
                        sinks.append(GridWindowSink(window, len(sources)))
                    if args.save_masks:
                        sinks.append(MaskSink(args.save_masks))
                    if args.mqtt:
                        sinks.append(MqttSink(args.mqtt, stream=stream))
                    say(f"running on {len(sources)} streams: " + ", ".join(s.name for s in sources) + "; Ctrl-C stops")
                    if not stop.requested:
                        stats = run(stream, sinks, kpt_thr=args.kpt_thr, background=args.background,
                                    hud=lambda r: hud_lines(r, info.name, info.device), privacy=args.privacy)
                except KeyboardInterrupt:
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
            if stop.requested:
                say(f"stopped by {stop.name}")
                return stop.exit_code
            lost = []
            for i, source in enumerate(sources):
                if source.ended_early and getattr(source, "end_reason", None):  # a stream that did not come back
                    lost.append(f"Stream {i}: {source.end_reason}")
                elif source.ended_early and getattr(source, "is_camera", False):
                    warn(f"stream {i}: {source.name} stopped sending frames after {stats.streams[i].captured} frames")
            if lost:
                raise SourceError(" ".join(lost))
        return 0
    finally:
        for source in sources:
            source.close()
        if window is not None:
            window.close()


def _run_image(args, source, model, window) -> int:
    """One image: no threads (and no tracking), annotate, write the image and a JSON document."""
    from rtpose.engine.signals import stop_on_signals
    from rtpose.io.render import draw_output
    from rtpose.io.sinks import (
        IMAGE_OUT_SUFFIXES,
        ImageSink,
        JsonLinesSink,
        JsonSink,
        MaskSink,
        VideoSink,
        stream_header,
    )

    frame = source.read()
    result = model(frame.image).replace(frame=frame)
    annotated = draw_output(result, kpt_thr=args.kpt_thr, background=args.background, privacy=args.privacy)
    if args.save_masks:
        with MaskSink(args.save_masks) as sink:
            sink.write(result, annotated)
    if args.save:
        save_image = Path(args.save).suffix.lower() in IMAGE_OUT_SUFFIXES
        with ImageSink(args.save) if save_image else VideoSink(args.save, 1.0) as sink:
            sink.write(result, annotated)
    if args.json:
        header = stream_header(source, model.keypoint_set)
        with JsonLinesSink(args.json, header) if args.json.endswith(".jsonl") else JsonSink(args.json, header) as sink:
            sink.write(result, annotated)
    if args.mqtt:
        from rtpose.io.mqtt import MqttSink

        with MqttSink(args.mqtt, headers=[stream_header(source, model.keypoint_set)]) as sink:
            sink.write(result, annotated)
    say(f"{len(result)} people in {source.name} ({result.latency_ms:.0f} ms)")
    if window is not None:
        say("q, Esc or closing the window quits")
        with stop_on_signals(lambda _signum: None) as stop:
            while not window.stop_requested and not stop.requested:
                window.show(annotated, wait_ms=100)  # short waits, so that Ctrl-C and SIGTERM are seen
        if stop.requested:
            return stop.exit_code
    return 0


def _run_stream(args, source, model, options, window) -> int:
    """Video, camera, stream or folder: the library's stream and run loop, with this command's sinks."""
    from rtpose.engine.signals import stop_on_signals
    from rtpose.engine.stream import PoseStream, run
    from rtpose.io.mqtt import MqttSink
    from rtpose.io.render import hud_lines
    from rtpose.io.sinks import JsonLinesSink, MaskSink, VideoSink
    from rtpose.utils.timing import now

    stream = PoseStream(model.estimator, source, options)
    if stream.stills:
        say(f"{source.name} holds unrelated photos (not numbered frames of one recording): each is "
            "estimated on its own, without tracking")
    info = model.info.backend
    total = options.max_frames or source.frame_count
    last_log = [now()]

    def progress(result) -> None:
        if window is None and now() - last_log[0] > 2.0:
            last_log[0] = now()
            done = f"{stream.pipeline.frames_processed}" + (f"/{total}" if total else "")
            say(f"frame {done}  {result.fps:.1f} frames/s  latency {result.latency_ms:.0f} ms  {len(result)} people")

    sinks = []
    stats = None
    with stop_on_signals(lambda _signum: stream.request_stop()) as stop:
        try:
            if args.json:
                sinks.append(JsonLinesSink(args.json, stream.header()))
            if args.save:
                sinks.append(VideoSink(args.save, fps=source.fps, size=source.size,
                                       real_time=stream.pipeline.drop_frames))
            if window is not None:
                sinks.append(window)
            if args.save_masks:
                sinks.append(MaskSink(args.save_masks))
            if args.mqtt:
                sinks.append(MqttSink(args.mqtt, stream=stream))
            say(f"running on {source.name}" + (f" ({total} frames)" if total else "") + "; Ctrl-C stops")
            if not stop.requested:
                stats = run(stream, sinks, kpt_thr=args.kpt_thr, hud=lambda r: hud_lines(r, info.name, info.device),
                            on_result=progress, background=args.background, privacy=args.privacy)
        except KeyboardInterrupt:  # a second signal while stopping
            stop.signum = stop.signum or signal.SIGINT
        finally:
            stream.close()
            for sink in sinks:
                if sink is not window:
                    sink.close()
    stats = stats or stream.stats()
    if not args.quiet:
        print(stats.format(), file=sys.stderr, flush=True)
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
        warn(f"{source.name} ended after {stats.captured} of {expected} frames (the file is truncated or "
             "damaged); everything up to there was processed")
    elif source.ended_early:
        if getattr(source, "end_reason", None):  # a stream that did not come back
            raise SourceError(f"{source.end_reason[:-1]}; everything up to then was written.")
        if getattr(source, "is_camera", False):
            raise SourceError(
                f"{source.name.capitalize()} stopped sending frames after {stats.captured} frames "
                "(unplugged, or taken by another program); everything up to then was written."
            )
        say(f"{source.name} ended (the stream stopped sending frames)")
    return 0


__all__ = ["HELP", "configure", "main"]
