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
from typing import Protocol

from rtpose.cli.common import (
    add_group,
    add_model_args,
    add_option,
    add_options,
    add_tracking_args,
    check_command_paths,
)
from rtpose.errors import RtposeError, SourceError
from rtpose.log import say, warn
from rtpose.options.table import RUN, STREAM, option

HELP = "estimate poses on a camera, video, stream, image or folder (the default command)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Every record of the shared tables (:mod:`rtpose.options.table`), in its ``--help`` group."""
    src = parser.add_argument_group("source (--camera, or one or more --source / --sources)")
    what = src.add_mutually_exclusive_group()
    add_option(what, option("camera"))
    add_option(what, option("source"))
    add_options(src, [r for r in (*RUN, *STREAM) if r.group == "source" and r.name not in ("camera", "source")])
    add_model_args(parser)
    add_tracking_args(parser)
    add_group(parser, "output", (*STREAM, *RUN))


class RunExtras(Protocol):
    """What another command adds to this one run path (``rtpose serve``: its viewers, metrics and MQTT)."""

    def sinks(self, stream, sources: list, stop, others: list) -> list:
        """More sinks for ``stream`` (closed with ``others``, this command's); ``stop``: the run's
        :class:`~rtpose.engine.signals.StopRequest`."""
        ...

    def ended(self, stop) -> None:
        """Called when every stream has ended by itself (not by a signal), before the summary."""
        ...


def main(args: argparse.Namespace, extras: RunExtras | None = None) -> int:
    """``rtpose run``; ``extras``: what ``rtpose serve`` adds (its sinks, and what it does once the streams end)."""
    from rtpose.io.paths import output_folder
    from rtpose.io.sinks import WindowSink, check_outputs, display_available
    from rtpose.io.sources import open_source
    from rtpose.model import PoseModel
    from rtpose.options import ModelOptions, StreamOptions

    specs = _source_specs(args)
    if not specs:
        raise RtposeError("Nothing to run on: give --camera N or --source FILE|FOLDER|URL (see rtpose --help).")
    check_command_paths(args)  # no output onto an input, or twice: before anything opens
    options = StreamOptions.from_args(args).validate()
    if (args.save_masks or args.background) and not args.seg:
        raise RtposeError("--save-masks and --background need --seg person or --seg parts.")
    model_options = ModelOptions.from_args(args).validate()
    if args.background:
        from rtpose.io.render import parse_background

        args.background = parse_background(args.background)
    if args.save_masks:
        output_folder(args.save_masks, "--save-masks folder")
    show = display_available() if args.show is None else args.show
    window = WindowSink() if show else None  # DisplayError before anything slow happens
    sources, handed = [], False
    try:
        for spec in specs:
            sources.append(open_source(spec, realtime=options.realtime, timeout=options.timeout,
                                       reconnect_timeout=options.reconnect_timeout))
        videos = _stream_videos(args, sources)
        for i, source in enumerate(sources):  # before the model loads
            check_outputs(str(videos[i]) if videos else args.save, args.json, source)
        _resolve_seg_weights(model_options)
        model = PoseModel.from_options(model_options, det_every=options.det_every)
        if len(sources) == 1 and not show and not (args.save or args.json):
            say("no window, --save or --json: only the summary will be printed")
        with model:
            handed = True
            return _run(args, sources, model, options, window, videos, extras)
    finally:
        for source in sources:
            source.close()
        if window is not None and not handed:
            window.close()


def _resolve_seg_weights(model_options) -> None:
    """The segmentation weights' file, found (or fetched) now: a missing or unknown ``--seg-weights`` is said
    before the pose model loads."""
    if model_options.seg is None:
        return
    from rtpose.seg.segmenter import DEFAULT_SEG_WEIGHTS
    from rtpose.weights.registry import resolve_weights

    spec = model_options.seg_weights or DEFAULT_SEG_WEIGHTS[model_options.seg]
    model_options.seg_weights = str(resolve_weights(spec))


def _source_specs(args: argparse.Namespace) -> list:
    """The sources asked for: ``--camera``, every ``--source``, then the lines of ``--sources FILE``."""
    from rtpose.io.paths import read_source_list

    if args.camera is not None:
        return [args.camera]
    specs = list(args.source or [])
    if args.sources:
        found = read_source_list(args.sources)
        if not found:
            raise RtposeError(f"--sources {args.sources} names no source (one per line; # starts a comment).")
        specs += found
    return specs


def _stream_videos(args: argparse.Namespace, sources: list) -> list[Path]:
    """With several sources, ``--save DIR/``: one video per stream in the folder (made here); else []."""
    from rtpose.io.sinks import stream_video_paths

    if not args.save or len(sources) < 2:
        return []
    folder = Path(args.save)
    if folder.exists() and not folder.is_dir() or (not folder.exists() and folder.suffix and
                                                    not str(args.save).endswith("/")):
        raise RtposeError(f"--save {args.save}: with {len(sources)} sources --save takes a folder "
                          "(DIR/), where each stream's video is written under its own name.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RtposeError(f"--save {args.save}: cannot make the folder ({exc.strerror}).") from None
    return stream_video_paths(folder, sources)


class _Last:
    """The newest result and its picture (a single image: shown in the window after the run, and summarised)."""

    needs_image = True
    stop_requested = False

    def __init__(self) -> None:
        self.result, self.annotated, self.count = None, None, 0

    def write(self, result, annotated=None) -> None:
        self.result, self.annotated = result, annotated

    def close(self) -> None:
        pass


def _sinks(args, stream, model, sources: list, window, videos: list, image: bool) -> list:
    """This command's sinks for ``stream``: JSON, the video(s) or image, the window, the masks."""
    from rtpose.io.sinks import (
        IMAGE_OUT_SUFFIXES,
        ByStream,
        GridWindowSink,
        ImageSink,
        JsonLinesSink,
        JsonSink,
        MaskSink,
        VideoSink,
    )

    sinks: list = []
    try:
        if args.json:
            single = image and not args.json.endswith(".jsonl")
            sinks.append(JsonSink(args.json, stream.header()) if single else
                         JsonLinesSink(args.json, stream.headers() if len(sources) > 1 else stream.header()))
        if videos:
            sinks.append(ByStream([VideoSink(path, fps=s.fps, size=s.size, real_time=live)
                                   for path, s, live in zip(videos, sources, stream.real_time)]))
        elif args.save and image:
            image_file = Path(args.save).suffix.lower() in IMAGE_OUT_SUFFIXES
            sinks.append(ImageSink(args.save) if image_file else VideoSink(args.save, 1.0))
        elif args.save:
            sinks.append(VideoSink(args.save, fps=sources[0].fps, size=sources[0].size,
                                   real_time=stream.real_time[0]))
        if window is not None and not image:
            sinks.append(GridWindowSink(window, len(sources)) if len(sources) > 1 else window)
        if args.save_masks:
            sinks.append(MaskSink(args.save_masks))
        if args.mqtt:
            from rtpose.io.mqtt import MqttSink

            sinks.append(MqttSink(args.mqtt, stream=stream))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def _run(args, sources: list, model, options, window, videos: list, extras: RunExtras | None = None) -> int:
    """The one run path: the library's stream and run loop with this command's sinks, then the summary.

    A single image is a one-frame stream without tracking; the window (then shown until q) and the image
    are what :func:`rtpose.engine.stream.run` drew. The stream and every sink are closed once: by ``run``, or
    here when it did not start.
    """
    import dataclasses

    from rtpose.engine.signals import stop_on_signals
    from rtpose.engine.stream import PoseStream, run
    from rtpose.io.render import hud_lines
    from rtpose.io.sources import ImageSource
    from rtpose.utils.timing import now

    image = len(sources) == 1 and isinstance(sources[0], ImageSource)
    if image:
        options = dataclasses.replace(options, track=False)
    stream = PoseStream(model.estimator, sources if len(sources) > 1 else sources[0], options, warm=not image)
    if stream.stills:
        say(f"{sources[0].name} holds unrelated photos (not numbered frames of one recording): each is "
            "estimated on its own, without tracking")
    info = model.info.backend
    total = options.max_frames or sources[0].frame_count
    last_log = [now()]

    def progress(result) -> None:
        if window is None and len(sources) == 1 and now() - last_log[0] > 2.0:
            last_log[0] = now()
            done = f"{stream.frames_processed}" + (f"/{total}" if total else "")
            say(f"frame {done}  {result.fps:.1f} frames/s  latency {result.latency_ms:.0f} ms  {len(result)} people")

    sinks, stats, ran, last = [], None, False, _Last()
    try:
        with stop_on_signals(lambda _signum: stream.request_stop()) as stop:
            try:
                sinks = _sinks(args, stream, model, sources, window, videos, image) + ([last] if image else [])
                if extras is not None:
                    sinks += extras.sinks(stream, sources, stop, sinks)
                if len(sources) > 1:
                    say(f"running on {len(sources)} streams: " + ", ".join(s.name for s in sources) + "; Ctrl-C stops")
                elif not image:
                    say(f"running on {sources[0].name}" + (f" ({total} frames)" if total else "") + "; Ctrl-C stops")
                if not stop.requested:
                    ran = True
                    hud = None if image else lambda r: hud_lines(r, info.name, info.device)
                    stats = run(stream, sinks, kpt_thr=args.kpt_thr, on_result=progress, background=args.background,
                                privacy=args.privacy, hud=hud)
                    if extras is not None and not stop.requested:
                        extras.ended(stop)
            except KeyboardInterrupt:  # a second signal while stopping
                stop.signum = stop.signum or signal.SIGINT
            finally:
                if not ran:
                    stream.close()
                    for sink in sinks:
                        sink.close()
        if image:
            return _image_summary(sources[0], last, window, stop)
        return _summary(args, sources, stream, stats or stream.stats(), sinks, window, stop)
    finally:
        shown_by_run = any(s is window or getattr(s, "window", None) is window for s in sinks)
        if window is not None and (image or not shown_by_run):  # else run() (or the lines above) closed it
            window.close()


def _image_summary(source, last: _Last, window, stop) -> int:
    """One image: how many people; the window shows the picture until q, Esc or a signal."""
    from rtpose.engine.signals import stop_on_signals

    if stop.requested or last.result is None:
        say(f"stopped by {stop.name}" if stop.requested else f"no result for {source.name}")
        return stop.exit_code if stop.requested else 1
    say(f"{len(last.result)} people in {source.name} ({last.result.latency_ms:.0f} ms)")
    if window is not None:
        say("q, Esc or closing the window quits")
        with stop_on_signals(lambda _signum: None) as shown:
            while not window.stop_requested and not shown.requested:
                window.show(last.annotated, wait_ms=100)  # short waits, so that Ctrl-C and SIGTERM are seen
        if shown.requested:
            return shown.exit_code
    return 0


def _summary(args, sources: list, stream, stats, sinks: list, window, stop) -> int:
    """The figures, what was written, skipped files, then how the sources ended (the exit code)."""
    from rtpose.io.sinks import ByStream, VideoSink

    if not args.quiet:
        print(stats.format(), file=sys.stderr, flush=True)
    for sink in sinks:
        for part in sink.sinks if isinstance(sink, ByStream) else [sink]:
            if not hasattr(part, "path") or part is window:
                continue
            frames = f"{part.count} frames" + (f", {part.repeated} of them repeats of dropped frames"
                                               if getattr(part, "repeated", 0) else "")
            if isinstance(part, VideoSink) and part.count == 0:
                warn(f"no frame was processed, so {part.path} was not written")
            else:
                say(f"wrote {part.path} ({frames})")
    for source in sources:
        skipped = source.skipped_files
        if skipped:
            names = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
            warn(f"skipped {len(skipped)} unreadable image file(s): {names}")
    if stop.requested:
        say(f"stopped by {stop.name}")
        return stop.exit_code
    if len(sources) > 1:
        return _streams_ending(sources, stats)
    source = sources[0]
    if source.ended_early and not source.is_live:
        expected = source.expected_frames or source.frame_count
        warn(f"{source.name} ended after {stats.captured} of {expected} frames (the file is truncated or "
             "damaged); everything up to there was processed")
    elif source.ended_early:
        if source.end_reason:  # a stream that did not come back
            raise SourceError(f"{source.end_reason[:-1]}; everything up to then was written.")
        if source.is_camera:
            raise SourceError(
                f"{source.name.capitalize()} stopped sending frames after {stats.captured} frames "
                "(unplugged, or taken by another program); everything up to then was written."
            )
        say(f"{source.name} ended (the stream stopped sending frames)")
    return 0


def _streams_ending(sources: list, stats) -> int:
    """Several streams: those that did not come back end the run with exit 1; a camera that stopped is a warning."""
    lost = []
    for i, source in enumerate(sources):
        if source.ended_early and source.end_reason:
            lost.append(f"Stream {i}: {source.end_reason}")
        elif source.ended_early and source.is_camera:
            warn(f"stream {i}: {source.name} stopped sending frames after {stats.streams[i].captured} frames")
    if lost:
        raise SourceError(" ".join(lost))
    return 0


__all__ = ["HELP", "configure", "main"]
