"""Frame sources: cameras, video files, network streams, image folders and single images.

:func:`open_source` turns a user's ``--camera``/``--source`` value into a :class:`FrameSource`; every
frame comes with its 0-based index and its capture time on the :func:`rtpose.utils.timing.now` clock.

Sources are read from one thread at a time (the pipeline's capture thread). They do not buffer:
keeping only the newest frame of a live source is the pipeline's job (see :mod:`rtpose.engine.pipeline`).
Every problem opening a source is a :class:`~rtpose.errors.SourceError` with one sentence.
"""

from __future__ import annotations

import os
import re
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from rtpose.compat import quiet_opencv as _quiet_opencv
from rtpose.errors import SourceError
from rtpose.log import debug, warn
from rtpose.utils.redact import redact_url
from rtpose.utils.timing import now

#: File name endings read as still images (everything else is tried as a video).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".ppm", ".pgm", ".pbm", ".pnm", ".sr", ".ras"}
)
#: URL schemes opened as network streams (live sources).
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
#: Seconds a live stream that stopped or stalled may stay away before it ends (``reconnect_timeout``).
RECONNECT_TIMEOUT = 30.0
#: First and longest wait between two attempts to reopen a stream (the wait doubles after each failure).
RECONNECT_BACKOFF = (0.5, 10.0)
#: A stream's announced frame rate is kept when it is within this fraction of the measured one.
FPS_TOLERANCE = 0.15
#: Schemes whose streams lose what is sent while the reader stalls (datagrams): the frames after a stall are
#: numbered as if the lost ones had been dropped. Over TCP (and SRT, which resends) a stall delays frames, which
#: then arrive in a burst.
DATAGRAM_SCHEMES = ("udp://", "rtp://")
#: A gap between two frames of a datagram stream counts as a stall from this many frame periods (and 0.5 s).
STALL_PERIODS = 4


@dataclass
class Frame:
    """One frame of a source.

    Attributes:
        index: 0-based frame number in the source.
        timestamp: capture time in seconds on the :func:`rtpose.utils.timing.now` clock (``time.perf_counter``).
        image: ``(H, W, 3)`` uint8 BGR.
        media_time: position in the media in seconds for files (the frame's own presentation time, so
            files with a variable frame rate are right; ``index / fps`` where a file has none) and
            folders with a frame rate; None for live sources. Filters over time use it, so that their behaviour
            does not depend on how fast frames are processed.
        file: the image's file name, for folders and single images.
        wall_time: Unix time (``time.time()``, seconds since 1970 UTC) when the frame was captured.
    """

    index: int
    timestamp: float
    image: np.ndarray
    media_time: float | None = None
    file: str | None = None
    wall_time: float = field(default_factory=time.time)

    @property
    def clock(self) -> float:
        """The time filters over frames should use: media time for files, capture time for live sources."""
        return self.timestamp if self.media_time is None else self.media_time


class FrameSource:
    """Base class of all sources: call :meth:`read` until it returns None.

    Every attribute below is declared here with its default, so that a consumer (the pipeline, the CLI,
    the viewer, a JSON header) reads it from any source without probing; a subclass sets what applies.

    Attributes:
        name: what the user asked for, for messages ("camera 0", "vtest.avi", …).
        is_live: True for cameras and streams (frames come at their own pace; stale ones may be dropped).
        is_camera: a local camera (``cv2.VideoCapture(index)``), as opposed to a network stream.
        path: the file or folder read (images, folders, videos), else None.
        fps: nominal frames per second, or None when unknown (folders, some streams).
        size: (W, H) of the frames, or None when unknown.
        frame_count: number of frames of a file/folder, None for live sources.
        dropped: frames this source skipped by itself (see :attr:`realtime` file playback).
        realtime: a file played at its own frame rate; the pipeline then treats it like a live source.
        paced_s: seconds the last :meth:`read` waited for its frame's time (``realtime`` playback), so
            that the time spent reading can be told from the time spent waiting.
        ended_early: the source stopped before its end (a camera unplugged, a stream that died, a file
            cut short).
        end_reason: one sentence saying why a source ended early when it knows more than
            ``ended_early`` says (a stream that did not come back within ``reconnect_timeout``), else None.
        expected_frames: the frame count a file announced when it turned out shorter (``frame_count`` is then
            what it really had), else None.
        skipped_files: files of a folder that could not be read as images (see :attr:`skipped`).
    """

    name: str = "source"
    is_live: bool = False
    is_camera: bool = False
    path: Path | None = None
    fps: float | None = None
    size: tuple[int, int] | None = None
    frame_count: int | None = None
    realtime: bool = False
    end_reason: str | None = None
    expected_frames: int | None = None

    def __init__(self) -> None:
        self.dropped = 0
        self.paced_s = 0.0
        self.ended_early = False
        self.skipped_files: list[str] = []
        self._next_index = 0

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the stream."""
        raise NotImplementedError

    def seek(self, index: int) -> None:
        """Make ``index`` the next frame :meth:`read` returns (files and folders only)."""
        raise SourceError(f"{self.name} is a live source: it cannot seek.")

    def interrupt(self) -> None:
        """Give up waiting: a :meth:`read` blocked in a wait of the source's own (a stream waiting to reconnect)
        returns soon. Safe from any thread and from signal handlers; a source without such waits does nothing."""

    @property
    def skipped(self) -> int:
        """Files that could not be read as images (folders; 0 for other sources)."""
        return len(self.skipped_files)

    @property
    def position(self) -> int:
        """Index of the frame the next :meth:`read` returns."""
        return self._next_index

    def close(self) -> None:
        """Release the device or file (safe to call twice)."""

    def __iter__(self):
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} live={self.is_live} fps={self.fps} size={self.size}>"

    def _check_seek(self, index: int) -> int:
        index = int(index)
        if self.frame_count is not None and not 0 <= index < self.frame_count:
            raise SourceError(f"Frame {index} is outside {self.name} (frames 0 to {self.frame_count - 1}).")
        return index


def _presentation_time(cap: cv2.VideoCapture, index: int, fps: float, origin: float, previous: float) -> float:
    """Seconds from the first frame to the frame ``cap`` just decoded (frame ``index``), from its own time stamp.

    ``origin``: the first frame's position in ms (AVI files start at two frames' time, for one). Where a
    file has no time stamps, or one goes backwards, ``index / fps`` stands in.
    """
    if index == 0:
        return 0.0
    pos = cap.get(cv2.CAP_PROP_POS_MSEC)
    seconds = round((pos - origin) / 1000.0, 6) if pos and pos > 0 else -1.0
    return seconds if seconds > previous else index / fps


class _Pacer:
    """Real-time playback of a file: waits until each frame's time and skips frames that are late.

    The clock starts at the first frame asked for (not when the file was opened: loading a model in
    between must not make the first seconds of the file "late").
    """

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self.start: float | None = None
        self._first = 0

    def reset(self, index: int) -> None:
        self.start, self._first = None, index

    def due_index(self) -> int:
        if self.start is None:
            self.start = now() - self._first * self.period
        return int((now() - self.start) / self.period)

    def wait_for(self, index: int) -> float:
        """Sleep until frame ``index`` is due; returns the seconds slept."""
        self.due_index()  # starts the clock on first use
        delay = self.start + index * self.period - now()
        if delay > 0:
            time.sleep(delay)
        return max(delay, 0.0)


class ImageSource(FrameSource):
    """One still image: a single frame (``frame_count`` 1)."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = self.path.name
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"Could not read {self.path} as an image (unsupported or corrupt file).")
        self.image = image
        self.size = (image.shape[1], image.shape[0])
        self.frame_count = 1

    def read(self) -> Frame | None:
        if self._next_index >= 1:
            return None
        self._next_index = 1
        return Frame(0, now(), self.image.copy(), file=self.path.name)

    def seek(self, index: int) -> None:
        self._next_index = self._check_seek(index)


def is_frame_sequence(names: list[str]) -> bool:
    """Whether file names number the frames of one recording: the same stem before a run of consecutive numbers.

    ``frame_0001.png, frame_0002.png, …`` is a sequence; ``IMG_2041.jpg, IMG_2057.jpg`` (a photo album
    with gaps), ``bus.jpg, zidane.jpg`` or a single file are not.
    """
    numbers: list[int] = []
    stems = set()
    for name in names:
        match = _NUMBERED.match(name)
        if match is None:
            return False
        stems.add((match.group(1), match.group(3).lower()))
        numbers.append(int(match.group(2)))
    numbers.sort()
    return len(names) > 1 and len(stems) == 1 and numbers == list(range(numbers[0], numbers[0] + len(numbers)))


_NUMBERED = re.compile(r"^(.*?)(\d+)(\.[^.]+)$")


class FolderSource(FrameSource):
    """The images of a folder in name order; unreadable files are skipped (named in ``skipped_files``).

    ``is_sequence``: the files are the numbered frames of one recording (see :func:`is_frame_sequence`),
    so tracking across them makes sense; otherwise they are unrelated photos, each on its own.
    """

    def __init__(self, path: str | os.PathLike, realtime: bool = False, fps: float | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = self.path.name or str(self.path)
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise SourceError(f"The folder {self.path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES)[:6])}, …).")
        self.frame_count = len(self.files)
        self.is_sequence = is_frame_sequence([p.name for p in self.files])
        self.fps = fps
        first = cv2.imread(str(self.files[0]), cv2.IMREAD_COLOR)
        if first is not None:
            self.size = (first.shape[1], first.shape[0])
        self.realtime = bool(realtime and fps)
        self._pacer = _Pacer(fps) if self.realtime else None

    def read(self) -> Frame | None:
        while self._next_index < len(self.files):
            index = self._next_index
            if self._pacer is not None:
                due = self._pacer.due_index()
                if due > index:  # late: skip to the frame that is due
                    self.dropped += min(due, len(self.files)) - index
                    index = min(due, len(self.files) - 1)
                self.paced_s = self._pacer.wait_for(index)
            self._next_index = index + 1
            image = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
            if image is None:
                self.skipped_files.append(self.files[index].name)
                continue
            return Frame(index, now(), image, index / self.fps if self.fps else None, file=self.files[index].name)
        return None

    def seek(self, index: int) -> None:
        self._next_index = self._check_seek(index)
        if self._pacer is not None:
            self._pacer.reset(self._next_index)


class VideoSource(FrameSource):
    """A video file read with OpenCV (FFmpeg). ``realtime`` plays it at its frame rate, skipping late frames."""

    def __init__(self, path: str | os.PathLike, realtime: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = self.path.name
        self._cap: cv2.VideoCapture | None = None
        with _quiet_opencv():
            cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"Could not open {self.path} as a video (unsupported format or corrupt file).")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"Could not decode any frame of {self.path} (empty or corrupt video).")
        self._cap = cap
        self._pending: np.ndarray | None = first
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None
        self.size = (first.shape[1], first.shape[0])
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 else None
        self.realtime = bool(realtime and self.fps)
        self._pacer = _Pacer(self.fps) if self.realtime else None
        self._last_media_time = -1.0
        self._time_origin = 0.0
        self._pending_time = self._media_time()

    def read(self) -> Frame | None:
        if self._cap is None:
            return None
        if self._pacer is not None:
            due = self._pacer.due_index()
            while due > self._next_index:  # late: skip frames without decoding them
                if self._pending is not None:
                    self._pending = self._pending_time = None
                elif not self._cap.grab():
                    break
                self._next_index += 1
                self.dropped += 1
            self.paced_s = self._pacer.wait_for(self._next_index)
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            ok, image = self._cap.read()
            if not ok or image is None:
                if self.frame_count is not None and self._next_index < self.frame_count:
                    # Containers over-estimate their length by a frame or so; more is a damaged file.
                    self.ended_early = self._next_index < self.frame_count - 1
                    self.expected_frames = self.frame_count
                    self.frame_count = self._next_index
                return None
        if self._pending_time is not None:
            media_time, self._pending_time = self._pending_time, None
        else:
            media_time = self._media_time()
        frame = Frame(self._next_index, now(), image, media_time)
        self._next_index += 1
        return frame

    def _media_time(self) -> float | None:
        """The presentation time of the frame just decoded (files with a variable frame rate), else ``index / fps``.

        FFmpeg's position after a read is the frame's own time stamp; where a container has none (0 after
        the first frame) or it goes backwards, the frame number over the average rate stands in.
        """
        if not self.fps:
            return None
        seconds = _presentation_time(self._cap, self._next_index, self.fps, self._time_origin,
                                     self._last_media_time)
        if self._next_index == 0:
            self._time_origin = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        self._last_media_time = seconds
        return seconds

    def seek(self, index: int) -> None:
        index = self._check_seek(index)
        if self._cap is None:
            raise SourceError(f"{self.name} is closed.")
        self._pending = self._pending_time = None
        self._last_media_time = -1.0
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        self._next_index = index
        if self._pacer is not None:
            self._pacer.reset(index)

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


def measure_fps(arrivals, expected: float | None = None) -> float | None:
    """Frames per second of a stream from its frames' arrival times (seconds), or None when they cannot tell.

    Frames that arrive in a burst (what a player buffered while connecting, or while nobody read) are
    left out: intervals under a fifth of the typical one (the upper quartile) do not count, and the rate
    is one over the median of the rest. With ``expected`` (the rate so far), intervals under a quarter
    of its period are a burst, and a window that is mostly burst tells nothing (None).
    """
    times = list(arrivals)
    intervals = [b - a for a, b in zip(times, times[1:], strict=False) if b >= a]
    if len(intervals) < 2:
        return None
    if expected:
        paced = [i for i in intervals if i >= 0.25 / expected]
        return 1.0 / statistics.median(paced) if len(paced) >= max(2, len(intervals) // 2) else None
    typical = statistics.quantiles(intervals, n=4)[2] if len(intervals) >= 4 else max(intervals)
    paced = [i for i in intervals if i >= 0.2 * typical and i > 0]
    if len(paced) < 2:
        span = times[-1] - times[0]
        return (len(times) - 1) / span if span > 0 else None
    return 1.0 / statistics.median(paced)


class CaptureSource(FrameSource):
    """A camera or network stream (live): opened with a bounded timeout, read until it fails.

    The open runs in a worker thread so that a server that accepts but never answers cannot hang us.

    A network stream that stops or stalls (no frame for ``timeout`` seconds) is reopened, waiting
    0.5 s, then 1, 2, 4 … up to 10 s between attempts; the outage is said in one warning line and
    counted (:attr:`outages`, :attr:`reconnects`, :attr:`lost_s`). Frames keep their real capture
    times, and the first frame after the gap is numbered as if the frames of the gap had been dropped,
    so a video saved in real time keeps the stream's duration. A stream that is not back within
    ``reconnect_timeout`` seconds ends (``read`` returns None, ``ended_early`` is set and
    :attr:`end_reason` says why in one sentence); ``reconnect_timeout=0`` ends it at the first failure.
    A datagram stream (``udp://``, ``rtp://``) whose frames pause for a while (at least
    :data:`STALL_PERIODS` frame periods and 0.5 s) but less than ``timeout`` lost the frames of the pause:
    they are numbered as dropped too and counted in :attr:`stalls`. Over TCP (HTTP, RTSP interleaved) a
    pause delays frames, which then arrive in a burst, so the numbering goes on; RTSP, whose transport
    the URL does not tell, is numbered on too.
    A camera that stops simply ends (``ended_early``).

    The frame rate a stream announces is not trusted: MJPEG and some RTSP servers say 25 whatever they
    send. The rate is measured over the frames of the first second or two (read while opening; the
    newest is kept, the older ones count as dropped) and then over the last few seconds of frames;
    :attr:`fps` is the measured rate unless the announced one is within 15 % of it.
    :attr:`announced_fps` is what the stream said, :attr:`measured_fps` the latest measurement.

    A URL that turns out to be a video file (it has a frame count, e.g. ``http://host/clip.mp4``) is
    not live: every frame is processed, as for a local file, or paced with ``realtime``; it is not
    reopened.
    """

    is_live = True
    #: Seconds of frames read while opening a stream to measure its rate (bounded by ``timeout``).
    MEASURE_S = 1.5
    #: Seconds of recent frames the running measurement uses.
    WINDOW_S = 5.0

    def __init__(self, spec: str | int, timeout: float = 10.0, realtime: bool = False,
                 reconnect_timeout: float = RECONNECT_TIMEOUT) -> None:
        super().__init__()
        self.spec = spec
        self.is_camera = isinstance(spec, int)
        self.name = f"camera {spec}" if self.is_camera else redact_url(str(spec))
        self.timeout = float(timeout)
        self.reconnect_timeout = max(float(reconnect_timeout or 0.0), 0.0)
        self.outages = 0
        self.reconnects = 0
        self.lost_s = 0.0
        self.stalls = 0
        self._datagrams = not self.is_camera and str(spec).lower().startswith(DATAGRAM_SCHEMES)
        self.announced_fps: float | None = None
        self.measured_fps: float | None = None
        self._lock = threading.Lock()
        # interrupt() and close() wake the reconnect backoff; reentrant: interrupt() may run in a signal handler.
        self._wake = threading.Condition(threading.RLock())
        self._closing = False
        self._interrupted = False
        self._reading = False
        self._closed = False
        self._pending: Frame | None = None
        self._arrivals: deque[float] = deque(maxlen=512)
        self._last_arrival: float | None = None
        cap = self._open(spec, timeout)
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = self.announced_fps = float(fps) if fps and 0 < fps < 1000 else None
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        self.size = (w, h) if w > 0 and h > 0 else None
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._pacer = None
        self._last_media_time = -1.0
        self._time_origin = 0.0
        if not self.is_camera and count > 0:  # a file behind a URL
            self.is_live = False
            self.frame_count = count
            self.realtime = bool(realtime and self.fps)
            self._pacer = _Pacer(self.fps) if self.realtime else None
        elif not self.is_camera:
            self._measure_at_open()

    @property
    def reconnecting(self) -> bool:
        """Whether this source reopens its stream when it stops (live network streams, ``reconnect_timeout`` > 0)."""
        return self.is_live and not self.is_camera and self.reconnect_timeout > 0

    def _open(self, spec: str | int, timeout: float) -> cv2.VideoCapture:
        ms = int(max(timeout, 0.1) * 1000)
        box: dict = {}

        def work() -> None:
            try:
                with _quiet_opencv():
                    if self.is_camera:
                        cap = cv2.VideoCapture(spec)
                    else:
                        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
                        cap = cv2.VideoCapture(str(spec), cv2.CAP_FFMPEG, params)
                if box.get("abandoned"):
                    cap.release()
                else:
                    box["cap"] = cap
            except Exception as exc:  # cv2.error on odd URLs
                box["error"] = exc

        worker = threading.Thread(target=work, name="rtpose-source-open", daemon=True)
        start = now()
        worker.start()
        # Short joins, not one long one: a Ctrl-C that the OS delivers to the connecting thread only wakes this
        # thread at its next check, so one long join would sit out the whole timeout before honouring it.
        try:
            while worker.is_alive() and now() - start < timeout + 1.0 and not self._stopping():
                worker.join(0.1)
        except BaseException:
            box["abandoned"] = True
            raise
        if worker.is_alive():
            box["abandoned"] = True
            if self._stopping():
                raise SourceError(f"{self.name} was closed while connecting.")
            raise SourceError(f"{self.name} did not connect within {timeout:g} s.")
        cap = box.get("cap")
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            if self.is_camera:
                raise SourceError(f"Camera {spec} could not be opened (no such device, or it is busy).")
            if now() - start >= 0.9 * timeout:
                raise SourceError(f"The stream {self.name} did not answer within {timeout:g} s.")
            raise SourceError(f"Could not connect to the stream {self.name} (unreachable, refused or not a video).")
        return cap

    # ------------------------------------------------------------------ frame rate
    def _measure_at_open(self) -> None:
        """Read the first second or so of a stream to measure its frame rate; keep the newest frame."""
        start = now()
        limit = min(self.MEASURE_S + 1.0, self.timeout)
        read = 0
        while now() - start < limit:
            with _quiet_opencv():
                ok, image = self._cap.read()
            if not ok or image is None:
                break  # read() meets the failure again and handles it
            frame = self._frame(image)
            read += 1
            self._pending = frame
            if self._arrivals and self._arrivals[-1] - self._arrivals[0] >= self.MEASURE_S and len(self._arrivals) >= 4:
                break
        if read > 1:
            self.dropped += read - 1  # read while opening; only the newest is worth processing
        self._update_fps()
        if self.announced_fps and self.measured_fps and self.fps != self.announced_fps:
            debug(f"{self.name} announces {self.announced_fps:g} frames/s but sends {self.measured_fps:.2f}")

    def _update_fps(self, running: bool = False) -> None:
        while len(self._arrivals) > 2 and self._arrivals[-1] - self._arrivals[0] > self.WINDOW_S:
            self._arrivals.popleft()
        measured = measure_fps(self._arrivals, self.fps if running else None)
        if measured is None or not 0 < measured < 1000:
            return
        self.measured_fps = round(measured, 2)
        current = self.fps or self.announced_fps
        if current and abs(current - measured) <= FPS_TOLERANCE * measured:
            return  # the announced (or the current) rate is right: keep its round number
        self.fps = self.measured_fps

    def _frame(self, image: np.ndarray) -> Frame:
        """A Frame for an image just read (numbered, timed, measured)."""
        if self.size is None:
            self.size = (image.shape[1], image.shape[0])
        arrival = now()
        media_time = None
        if not self.is_live and self.fps:
            media_time = self._media_time()
        elif self.is_live and not self.is_camera:
            self._number_after_stall(arrival)
            self._arrivals.append(arrival)
            if len(self._arrivals) % 16 == 0:
                self._update_fps(running=True)
        self._last_arrival = arrival
        frame = Frame(self._next_index, arrival, image, media_time)
        self._next_index += 1
        return frame

    def _number_after_stall(self, arrival: float) -> None:
        """A datagram stream that stalled lost the frames of the stall: number on as if they had been dropped."""
        if not self._datagrams or not self.fps or self._last_arrival is None:
            return
        gap = arrival - self._last_arrival
        if gap >= max(STALL_PERIODS / self.fps, 0.5):
            self._next_index += max(0, round(gap * self.fps) - 1)
            self.stalls += 1
            self.lost_s += gap
            debug(f"{self.name} stalled for {gap:.1f} s; its frames of that time are lost")

    def _media_time(self) -> float:
        """The presentation time of the frame just read (variable frame rates), else ``index / fps``."""
        if self._cap is None:
            return self._next_index / self.fps
        seconds = _presentation_time(self._cap, self._next_index, self.fps, self._time_origin,
                                     self._last_media_time)
        if self._next_index == 0:
            self._time_origin = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        self._last_media_time = seconds
        return seconds

    # ------------------------------------------------------------------ reading
    def read(self) -> Frame | None:
        with self._lock:
            if self._closed or self._cap is None:
                return None
            self._reading = True
            cap = self._cap
        frame = None
        try:
            if self._pending is not None and self._stale(self._pending):
                self._pending = None  # read while opening, and a model loaded since: the stream has newer ones
                self.dropped += 1
            if self._pending is not None:
                frame, self._pending = self._pending, None
                self.paced_s = 0.0
            else:
                if self._pacer is not None:
                    while self._pacer.due_index() > self._next_index and cap.grab():  # late: skip, do not decode
                        self._next_index += 1
                        self.dropped += 1
                    self.paced_s = self._pacer.wait_for(self._next_index)
                else:
                    self.paced_s = 0.0
                with _quiet_opencv():
                    ok, image = cap.read()
                if ok and image is not None:
                    frame = self._frame(image)
                elif self.reconnecting and not self._stopping():
                    frame = self._reconnect(cap)
                else:
                    self._ended()
        finally:
            with self._lock:
                self._reading = False
                release = self._closed
                cap = self._cap
                if release:
                    self._cap = None
            if release and cap is not None:  # close() was called while we were blocked in read(): release here
                cap.release()
        return None if release else frame

    def interrupt(self) -> None:
        """Stop reconnecting and waiting: a :meth:`read` in progress returns soon (safe from signal handlers)."""
        with self._wake:
            self._interrupted = True
            self._wake.notify_all()

    def _stopping(self) -> bool:
        return self._interrupted or self._closing

    def _pause(self, seconds: float) -> bool:
        """Wait up to ``seconds`` (the reconnect backoff); True as soon as the source is closed or interrupted."""
        with self._wake:
            return self._wake.wait_for(self._stopping, timeout=max(0.0, seconds))

    def _stale(self, frame: Frame) -> bool:
        """Whether a frame kept from the open is older than the stream's next one would be."""
        period = 1.0 / self.fps if self.fps else 0.0
        return now() - frame.timestamp > max(0.5, 2 * period)

    def _ended(self) -> None:
        if self.is_live:
            self.ended_early = True  # cameras and live streams never end on their own
        elif self.frame_count is not None and self._next_index < self.frame_count - 1:
            self.ended_early = True

    def _reconnect(self, old: cv2.VideoCapture) -> Frame | None:
        """Reopen a stream that stopped, with backoff, until it sends again or ``reconnect_timeout`` passes."""
        lost = now()
        last = self._last_arrival if self._last_arrival is not None else lost
        self.outages += 1
        warn(f"{self.name} stopped sending frames; reconnecting (for up to {self.reconnect_timeout:g} s)")
        with self._lock:
            if self._cap is old:
                self._cap = None
        old.release()
        deadline = lost + self.reconnect_timeout
        wait, longest = RECONNECT_BACKOFF
        attempts = 0
        while not self._stopping():
            remaining = deadline - now()
            if remaining <= 0:
                break
            attempts += 1
            cap = image = None
            try:
                cap = self._open(self.spec, min(self.timeout, max(remaining, 0.5)))
                with _quiet_opencv():
                    ok, image = cap.read()
                if not ok:
                    image = None
            except SourceError:
                pass
            if image is not None:
                with self._lock:
                    if not self._closed:
                        self._cap = cap
                        cap = None
                if cap is not None:  # closed meanwhile
                    cap.release()
                    return None
                back = now()
                self.reconnects += 1
                self.lost_s += back - last
                self.paced_s = back - lost  # waiting for the stream is not reading it (the capture figure)
                if self.fps:  # number the frame as if the gap's frames had been dropped: a real-time video keeps
                    self._next_index += max(0, round((back - last) * self.fps) - 1)  # the duration
                self._arrivals.clear()
                self._last_arrival = None  # the gap is numbered here, not again as a stall
                debug(f"{self.name} is back after {back - lost:.1f} s ({attempts} attempt(s))")
                return self._frame(image)
            if cap is not None:
                cap.release()
            if self._pause(max(0.0, min(wait, deadline - now()))):
                break
            wait = min(wait * 2, longest)
        self.lost_s += now() - last
        self.paced_s = now() - lost
        self.ended_early = True
        if not self._stopping():
            self.end_reason = (f"The stream {self.name} stopped sending frames and did not come back within "
                               f"{self.reconnect_timeout:g} s (reconnect_timeout={self.reconnect_timeout:g}).")
        return None

    def seek(self, index: int) -> None:
        if self.is_live:
            super().seek(index)
        index = self._check_seek(index)
        with self._lock:
            if self._cap is not None:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        self._next_index = index
        self._last_media_time = -1.0
        if self._pacer is not None:
            self._pacer.reset(index)

    def close(self) -> None:
        """Release the device; if another thread is blocked in :meth:`read`, that thread releases it."""
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            cap, reading = self._cap, self._reading
            self._cap = None if not reading else self._cap
        if cap is not None and not reading:
            cap.release()


def open_source(spec: str | int | os.PathLike, *, realtime: bool = False, timeout: float = 10.0,
                reconnect_timeout: float = RECONNECT_TIMEOUT) -> FrameSource:
    """Open what the user named.

    - an int or a string of digits: camera index;
    - ``rtsp://``, ``http(s)://`` … : a network stream (live), connecting within ``timeout`` seconds; one
      that stops or stalls is reopened for up to ``reconnect_timeout`` seconds (0: not reopened; see
      :class:`CaptureSource`);
    - a folder: its images in name order;
    - an image file: one frame;
    - any other file: a video.

    ``realtime`` plays files and folders at their frame rate, skipping frames that are late (folders
    have no frame rate and ignore it). Problems raise :class:`~rtpose.errors.SourceError`.
    """
    if isinstance(spec, bool):
        raise SourceError(f"Not a source: {spec!r}.")
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        return CaptureSource(index, timeout=timeout)
    text = os.fspath(spec)
    if not text.strip():
        raise SourceError("The source is empty: give a camera index, a file, a folder or a stream URL.")
    if text.lower().startswith(STREAM_SCHEMES):
        return CaptureSource(text, timeout=timeout, realtime=realtime, reconnect_timeout=reconnect_timeout)
    scheme, sep, rest = text.partition("://")
    if sep and scheme.lower() == "file":
        text = rest
    elif sep and scheme.isalpha():
        schemes = ", ".join(s.removesuffix("://") for s in STREAM_SCHEMES)
        raise SourceError(f"{scheme}:// URLs cannot be read; rtpose opens {schemes} streams and local files.")
    path = Path(text).expanduser()
    if not path.exists():
        raise SourceError(f"{path} does not exist.")
    if path.is_dir():
        return FolderSource(path, realtime=realtime)
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path} is not readable (permission denied).")
    if path.stat().st_size == 0:
        raise SourceError(f"{path} is an empty file.")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    return VideoSource(path, realtime=realtime)


__all__ = [
    "RECONNECT_TIMEOUT",
    "CaptureSource",
    "FolderSource",
    "Frame",
    "FrameSource",
    "ImageSource",
    "VideoSource",
    "open_source",
]
