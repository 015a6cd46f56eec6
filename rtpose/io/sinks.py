"""Where results go: JSON lines, an annotated video, a window (and, for one image, a JSON file / image).

Every sink has ``write(result, annotated)`` and ``close()`` and is a context manager. They are written
so that an interrupted run leaves valid files: JSON lines are flushed one by one and the video is
finalised by ``close()`` (which the CLI calls on Ctrl-C, SIGTERM and SIGHUP too).

JSON output, schema ``rtpose.poses`` version 3 (:data:`SCHEMA`, :data:`SCHEMA_VERSION`):

- JSON Lines (``--json out.jsonl``, any multi-frame source): first one header line per stream
  ``{"schema", "version", "stream", "source", "kind", "fps", "width", "height", "timestamp", "keypoints"}``
  (a line with ``"schema"`` is a header); every further line is one processed frame
  ``{"stream", "frame", "timestamp", "file", "people"}``. ``stream`` is the index of the source (0 when
  there is one; ``rtpose --source A --source B`` numbers them in the order given). Version 1 had no
  ``stream`` fields and one header; version 2 no ``age``.
- A JSON document (``--json out.json`` for a single image): the header's fields and the frame's.
- ``timestamp``: seconds of media time for files (the frame's presentation time; ``frame / fps`` at a
  constant rate), Unix time (seconds since 1970,
  UTC) of the capture for cameras and streams, null for folders of unrelated photos. The header's
  ``timestamp`` says which: ``"media"``, ``"unix"`` or null.
- ``file``: the image's file name for folders and single images, else null.
- ``people``: ``{"box": [x1, y1, x2, y2], "score", "keypoints": [[x, y, score] × K], "track_id", "age"}`` in
  image pixels; ``track_id`` is null when tracking is off (or for folders of photos); ``age``: frames since
  the keypoints were computed (0: fresh; more: carried forward with the box under ``--budget``).
- ``keypoints`` in the header: ``{"set", "names"}``, the order of every person's keypoint rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from rtpose.compat import opencv_qt_fonts
from rtpose.errors import DisplayError, OutputError, RtposeError, exception_gist, oserror_cause
from rtpose.io.paths import output_file
from rtpose.pose.keypoint_sets import DEFAULT_KEYPOINT_SET, KeypointSet, get_keypoint_set

#: FourCC per video file ending (``mp4v`` is what OpenCV's FFmpeg can always write).
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}
#: Image file endings ``--save`` writes for a single image.
IMAGE_OUT_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

#: ``--json -`` names standard output.
STDOUT = "-"

SCHEMA = "rtpose.poses"
SCHEMA_VERSION = 3


def stream_header(source, keypoint_set: KeypointSet | str | None = None, stream: int = 0) -> dict:
    """The header of a JSON output for ``source`` (a :class:`~rtpose.io.sources.FrameSource`).

    ``keypoint_set``: the estimator's :class:`~rtpose.pose.keypoint_sets.KeypointSet` (default: COCO-17);
    ``stream``: the source's index when a run reads several.
    """
    kset = get_keypoint_set(keypoint_set or DEFAULT_KEYPOINT_SET)
    kind = source_kind(source)
    width, height = source.size if source.size else (None, None)
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "stream": int(stream),
        "source": source.name,
        "kind": kind,
        "fps": source.fps,
        "width": width,
        "height": height,
        "timestamp": {"video": "media", "camera": "unix", "stream": "unix"}.get(kind),
        "keypoints": {"set": kset.name, "names": list(kset.keypoint_names)},
    }


def source_kind(source) -> str:
    """``"camera"``, ``"stream"``, ``"video"``, ``"folder"`` or ``"image"``."""
    if source.is_live:
        return "camera" if source.is_camera else "stream"
    name = type(source).__name__
    return {"FolderSource": "folder", "ImageSource": "image"}.get(name, "video")


def frame_record(result) -> dict:
    """The JSON object of one frame: ``frame``, ``timestamp``, ``file``, ``people`` (see the module doc).

    It is :meth:`rtpose.results.PoseResult.to_dict`: what a program gets is what the file holds.
    """
    return result.to_dict()


def check_outputs(save: str | None, json_path: str | None, source) -> None:
    """Refuse, before anything slow starts, outputs that cannot be written or would not be what they say.

    An output that is the source file, or the other output (resolved paths, symlinks included), is refused
    too; ``--json -`` writes to standard output.
    """
    from rtpose.io.paths import check_distinct

    single = source_kind(source) == "image"
    source_path = source.path
    check_distinct({"--save": save, "--json": json_path},
                   {"--source": source_path} if source_path is not None and Path(source_path).is_file() else {})
    if save == STDOUT:
        raise RtposeError("--save - is not supported: a video or image needs a file name (--json - writes to "
                          "standard output).")
    if save:
        path = output_file(save, "--save file")
        suffix = path.suffix.lower()
        if suffix in IMAGE_OUT_SUFFIXES and not single:
            raise RtposeError(
                f"--save {path.name}: the source has many frames, so --save writes a video; name it .mp4 or .avi "
                "(one image per frame is what --json and a folder of stills are for)."
            )
        if suffix not in FOURCC and suffix not in IMAGE_OUT_SUFFIXES:
            images = f"; for one image also {', '.join(IMAGE_OUT_SUFFIXES)}" if single else ""
            raise RtposeError(f"--save {path.name}: rtpose writes {', '.join(FOURCC)} videos{images}.")
    if json_path and json_path != STDOUT:
        path = output_file(json_path, "--json file")
        if path.suffix.lower() == ".json" and not single:
            raise RtposeError(
                f"--json {path.name}: a {source_kind(source)} gives one record per frame, written as JSON Lines "
                f"(one JSON document per line, valid however far the run gets); name it {path.stem}.jsonl."
            )


def _prepare(path: str | os.PathLike) -> Path:
    return output_file(path)


class Sink:
    """The interface of every sink: ``write(result, annotated)``, ``close()``, the two attributes below;
    a context manager.

    :func:`rtpose.engine.stream.run` reads the attributes directly, so a sink that does not subclass
    this class (the viewer's) declares both.

    Attributes:
        needs_image: the sink writes pictures, so the run loop draws each result for it.
        stop_requested: the sink asks the run to end (a window the user closed).
    """

    needs_image = False
    stop_requested = False

    def write(self, result, annotated: np.ndarray | None = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JsonLinesSink(Sink):
    """A header line, then one JSON object per line and frame, written at once (valid if the run is killed).

    ``path`` ``"-"`` writes to standard output. A write that fails (full disk, file size limit) raises
    :class:`~rtpose.errors.OutputError` naming the file and the cause; the file is cut back to its last
    complete line, so that what was written stays valid JSON Lines.
    """

    def __init__(self, path: str | os.PathLike, header: dict | list[dict] | None = None) -> None:
        self.to_stdout = str(path) == STDOUT
        self.path = Path("<stdout>") if self.to_stdout else _prepare(path)
        self.count = 0
        self._good = 0  # bytes of complete lines written
        try:
            self._fd = os.dup(sys.stdout.fileno()) if self.to_stdout else os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as exc:
            raise OutputError(f"Cannot write {self.path} ({oserror_cause(exc)}).") from None
        for line in [header] if isinstance(header, dict) else (header or []):
            self._write_line(line)

    def _write_line(self, record: dict) -> None:
        if self.to_stdout:
            sys.stdout.flush()  # keep the order with anything printed before
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            if self.to_stdout and isinstance(exc, BrokenPipeError):
                raise  # the reader went away (rtpose --json - | head): the CLI ends quietly
            self._fail(exc)
        self._good += len(data)

    def _fail(self, exc: OSError) -> None:
        """Cut the file back to its complete lines, close it, and stop the run with one sentence."""
        fd, self._fd = self._fd, None
        if not self.to_stdout:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._good)
        with contextlib.suppress(OSError):
            os.close(fd)
        frames = f"the first {self.count} frames were written and the file is valid JSON Lines" if self.count else (
            "no frame was written")
        raise OutputError(f"Could not write {self.path}: {oserror_cause(exc)}; {frames}.") from None

    def write(self, result, annotated: np.ndarray | None = None) -> None:
        if self._fd is None:
            return
        self._write_line(frame_record(result))
        self.count += 1

    def close(self) -> None:
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)


class JsonSink(Sink):
    """A single JSON document (for one image): the header's fields and the frame's (see the module doc)."""

    def __init__(self, path: str | os.PathLike, header: dict) -> None:
        self.to_stdout = str(path) == STDOUT
        self.path = Path("<stdout>") if self.to_stdout else _prepare(path)
        self.header = header
        self.count = 0

    def write(self, result, annotated: np.ndarray | None = None) -> None:
        h, w = result.frame.image.shape[:2]
        record = {**self.header, "width": w, "height": h, **frame_record(result)}
        text = json.dumps(record, indent=1) + "\n"
        if self.to_stdout:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            # Through a temporary file and a rename: a full disk leaves no half document behind.
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
            try:
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(tmp, self.path)
            except OSError as exc:
                raise OutputError(f"Could not write {self.path}: {oserror_cause(exc)}; nothing was written.") \
                    from None
            finally:
                tmp.unlink(missing_ok=True)
        self.count += 1


class ImageSink(Sink):
    """Writes the annotated frame to an image file (the last frame written wins)."""

    needs_image = True

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = _prepare(path)
        self.count = 0

    def write(self, result, annotated: np.ndarray | None = None) -> None:
        image = result.frame.image if annotated is None else annotated
        try:
            ok, data = cv2.imencode(self.path.suffix, image)
        except cv2.error:
            ok = False
        if not ok:
            raise RtposeError(f"Cannot write the image {self.path} (unknown image type {self.path.suffix!r}).")
        # Encoded first, then written through a temporary name: a full disk is called a full disk, and leaves
        # no half image behind.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        try:
            with open(tmp, "wb") as f:
                f.write(data.tobytes())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise OutputError(f"Could not write {self.path}: {oserror_cause(exc)}; nothing was written.") from None
        finally:
            tmp.unlink(missing_ok=True)
        self.count += 1


class VideoSink(Sink):
    """The annotated video through ``cv2.VideoWriter`` at the source's frame rate and size.

    The writer opens on the first frame (its size wins when ``size`` is None); frames of another size
    are resized. ``close()`` finalises the file; an mp4 is only playable after it.

    ``real_time``: frames that were dropped to stay current (live sources, ``--realtime``) leave gaps
    in the frame numbers; the previous frame is repeated over each gap, so that the video lasts as
    long as what it recorded and plays at the real pace. ``count`` is the frames written (repeats too).

    A full disk: ``cv2.VideoWriter`` does not report write errors (FFmpeg only prints warnings and leaves an
    mp4 without its index, unplayable). So before each frame the room left for the file (free space of its
    disk, and the process's file size limit) is compared with what finishing the file needs (FFmpeg's
    unwritten buffer, a few frames and the index); when it would not fit, the video is finalised with
    the frames written so far and :class:`~rtpose.errors.OutputError` stops the run. ``close()`` also
    checks that the file really holds its ``count`` frames, and says so when it does not.
    """

    needs_image = True
    #: Bytes FFmpeg may hold before writing (its mp4/avi muxers write in chunks of 256 KiB).
    MUXER_BUFFER = 1 << 18

    def __init__(self, path: str | os.PathLike, fps: float | None = None, size: tuple[int, int] | None = None,
                 real_time: bool = False) -> None:
        self.path = _prepare(path)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.size = tuple(size) if size else None
        self.fourcc = FOURCC.get(self.path.suffix.lower(), "mp4v")
        self.real_time = real_time
        self._writer: cv2.VideoWriter | None = None
        self._previous: tuple[int, np.ndarray] | None = None
        self.count = 0
        self.repeated = 0
        self._chunk = self.MUXER_BUFFER  # largest growth of the file seen at once
        self._last_size = 0

    def _open(self, size: tuple[int, int]) -> None:
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, size)
        if not writer.isOpened():
            raise RtposeError(f"Cannot write the video {self.path} (try a .mp4 or .avi file name).")
        self._writer, self.size = writer, size

    def _room_left(self) -> tuple[int, str]:
        """Bytes the file may still grow by, and why not more (full disk or the file size limit)."""
        import resource

        size = self.path.stat().st_size if self.path.exists() else 0
        stats = os.statvfs(self.path.parent)
        room, why = stats.f_bavail * stats.f_frsize, "the disk is full"
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and limit - size < room:
            room, why = limit - size, f"the file size limit ({limit / 1e6:.1f} MB) was reached"
        return room, why

    def _check_room(self) -> None:
        """Finalise the video and raise OutputError when the next frame might not fit (see the class doc)."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if size > self._last_size:
            self._chunk = max(self._chunk, size - self._last_size)
            self._last_size = size
        w, h = self.size
        per_frame = max(size / self.count if self.count else 0, w * h * 3 / 20)
        needed = 2 * self._chunk + 4 * per_frame + 64 * self.count + (1 << 16)
        room, why = self._room_left()
        if room >= needed:
            return
        self.close(check=False)
        written = self._probe_frames()
        if written == self.count and self.count:
            what = f"the first {self.count} frames were written and the file is valid"
        elif self.count:
            what = f"it holds {written} of the {self.count} frames given to it"
        else:
            what = "no frame was written"
        self.count = min(self.count, written)
        raise OutputError(f"Could not write {self.path}: {why} ({room / 1e6:.1f} MB left); {what}.")

    def _probe_frames(self) -> int:
        """Frames a reader finds in the finished file (0 when it is not a playable video)."""
        cap = cv2.VideoCapture(str(self.path))
        try:
            return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        finally:
            cap.release()

    def _write_frame(self, image: np.ndarray) -> None:
        self._check_room()
        self._writer.write(image)
        self.count += 1

    def write(self, result, annotated: np.ndarray | None = None) -> None:
        image = result.frame.image if annotated is None else annotated
        if self._writer is None:
            if self.count:
                return  # finalised after a write error
            self._open(self.size or (image.shape[1], image.shape[0]))
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        image = np.ascontiguousarray(image)
        index = int(result.frame.index)
        if self.real_time and self._previous is not None:
            last, previous = self._previous
            for _ in range(max(0, index - last - 1)):
                self._write_frame(previous)
                self.repeated += 1
        self._write_frame(image)
        if self.real_time:
            self._previous = (index, image.copy())

    def close(self, check: bool = True) -> None:
        """Finalise the file; with ``check``, OutputError when it does not hold the frames written to it."""
        writer, self._writer = getattr(self, "_writer", None), None
        if writer is None:
            return
        writer.release()
        if check and self.count:
            written = self._probe_frames()
            if written < self.count:
                count, self.count = self.count, written
                state = f"it holds only {written} of its {count} frames" if written else "it is not a playable video"
                raise OutputError(f"Could not finish the video {self.path}: {state} (a write error; is the disk "
                                  "full?).")


def x11_display_reachable(display: str | None = None) -> bool:
    """Whether the X server named by ``display`` (default ``$DISPLAY``) accepts connections."""
    import socket

    display = os.environ.get("DISPLAY", "") if display is None else display
    if display.startswith("/"):  # launchd-style socket path
        return Path(display).exists()
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            return True
        if host == "unix":
            return False
        host = "localhost"
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=0.5):
            return True
    except OSError:
        return False


def display_available() -> bool:
    """Whether an OpenCV window can be opened.

    On Linux, OpenCV's Qt build here talks to X11 (XWayland under Wayland), so ``DISPLAY`` must name
    an X server that answers; a window on a missing display would abort the process, not raise.
    """
    if sys.platform.startswith("linux"):
        return x11_display_reachable()
    return True


class WindowSink(Sink):
    """Shows the annotated frames with ``cv2.imshow``; ``q``/Esc or closing the window sets ``stop_requested``.

    Raises :class:`~rtpose.errors.DisplayError` when there is no display.
    """

    needs_image = True

    def __init__(self, title: str = "rtpose") -> None:
        if not display_available():
            display = os.environ.get("DISPLAY")
            why = f"DISPLAY={display} does not answer" if display else "DISPLAY is not set"
            raise DisplayError(f"--show needs a display, but {why}; use --no-show with --save/--json instead.")
        self.title = title
        self.stop_requested = False
        self._opened = False
        opencv_qt_fonts()

    def show(self, image: np.ndarray, wait_ms: int = 1) -> int:
        """Show one image and pump window events for ``wait_ms`` (0: until a key); returns the key or -1."""
        try:
            if not self._opened:
                cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
                cv2.resizeWindow(self.title, image.shape[1], image.shape[0])
                self._opened = True
            elif cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                self.stop_requested = True  # the user closed the window
                return -1
            cv2.imshow(self.title, image)
            key = cv2.waitKey(wait_ms)
        except cv2.error as exc:
            raise DisplayError(f"Could not open a window ({exception_gist(exc)}).") from None
        if key != -1 and (key & 0xFF) in (ord("q"), ord("Q"), 27):
            self.stop_requested = True
        return key

    def write(self, result, annotated: np.ndarray | None = None) -> None:
        self.show(result.frame.image if annotated is None else annotated)

    def close(self) -> None:
        if getattr(self, "_opened", False):
            self._opened = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass


class ByStream(Sink):
    """One sink per stream of a run that reads several sources (a video each): results go to their stream's."""

    def __init__(self, sinks: list[Sink]) -> None:
        self.sinks = list(sinks)
        self.needs_image = any(s.needs_image for s in self.sinks)

    def write(self, result, annotated: np.ndarray | None = None) -> None:
        self.sinks[result.stream].write(result, annotated)

    def close(self) -> None:
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except RtposeError as exc:  # close every video before saying what went wrong
                errors.append(exc)
        if errors:
            raise errors[0]


class GridWindowSink(Sink):
    """The streams of a run side by side in one window: each stream's newest picture in its tile.

    ``window``: the :class:`WindowSink` that shows the grid; ``streams``: how many; ``tile``: (W, H) of a tile.
    """

    needs_image = True

    def __init__(self, window: WindowSink, streams: int, tile: tuple[int, int] = (640, 360)) -> None:
        self.window = window
        self.columns = int(np.ceil(np.sqrt(streams)))
        self.rows = int(np.ceil(streams / self.columns))
        self.tile = tile
        self.canvas = np.zeros((self.rows * tile[1], self.columns * tile[0], 3), np.uint8)

    @property
    def stop_requested(self) -> bool:
        return self.window.stop_requested

    def write(self, result, annotated: np.ndarray | None = None) -> None:
        image = result.frame.image if annotated is None else annotated
        w, h = self.tile
        scale = min(w / image.shape[1], h / image.shape[0])
        fitted = cv2.resize(image, (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale))),
                            interpolation=cv2.INTER_AREA)
        row, col = divmod(int(result.stream), self.columns)
        cell = self.canvas[row * h:(row + 1) * h, col * w:(col + 1) * w]
        cell[:] = 0
        cell[: fitted.shape[0], : fitted.shape[1]] = fitted
        self.window.show(self.canvas)

    def close(self) -> None:
        self.window.close()


class MaskSink(Sink):
    """One indexed-colour PNG per frame in ``folder`` (``frame_000012.png``; ``s1_frame_000012.png`` for stream 1).

    With body parts (``seg="parts"``) a pixel's index is its part class (the class set's palette, as LIP's
    and VOC's label images); with person masks, 0 is background and person ``i`` of the frame is ``i + 1``
    (coloured by track id where there is one). A result without masks writes nothing.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        from rtpose.io.paths import output_folder

        self.path = output_folder(folder, "--save-masks folder")
        self.count = 0

    def write(self, result, annotated: np.ndarray | None = None) -> None:
        from PIL import Image

        from rtpose.io.render import track_colour

        if result.masks is None and result.part_map is None:
            return
        if result.part_map is not None and result.seg_classes is not None:
            labels = result.part_map.astype(np.uint8)
            palette = np.zeros((256, 3), np.uint8)
            palette[: result.seg_classes.num_classes] = result.seg_classes.palette
        else:
            h, w = result.image.shape[:2]
            labels = np.zeros((h, w), np.uint8)
            palette = np.zeros((256, 3), np.uint8)
            for i, (mask, track_id) in enumerate(zip(result.masks[:255], result.track_id_list()[:255])):
                labels[mask] = i + 1
                palette[i + 1] = track_colour(track_id)[::-1]  # BGR → RGB
        prefix = f"s{result.stream}_" if result.stream else ""
        target = self.path / f"{prefix}frame_{result.index:06d}.png"
        image = Image.fromarray(labels, mode="P")
        image.putpalette(palette.reshape(-1).tolist())
        try:
            image.save(target)
        except OSError as exc:
            raise OutputError(f"Could not write {target} ({oserror_cause(exc)}); the masks of the frames before "
                              f"it were written ({self.count}).") from None
        self.count += 1


def stream_video_paths(folder: str | os.PathLike, sources, suffix: str = ".mp4") -> list[Path]:
    """One video per stream in ``folder``, named after its source (``cam1.mp4``, ``vtest.mp4``; numbered
    where two would have the same name)."""
    import re

    names: list[str] = []
    for i, source in enumerate(sources):
        stem = re.sub(r"[^\w.-]+", "_", Path(str(source.name)).stem or f"stream{i}").strip("._") or f"stream{i}"
        name = stem if stem not in names else f"{stem}-{i}"
        names.append(name)
    return [Path(folder) / f"{name}{suffix}" for name in names]


__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "ByStream",
    "GridWindowSink",
    "MaskSink",
    "check_outputs",
    "stream_video_paths",
    "stream_header",
    "ImageSink",
    "JsonLinesSink",
    "JsonSink",
    "Sink",
    "VideoSink",
    "WindowSink",
    "display_available",
    "frame_record",
]
