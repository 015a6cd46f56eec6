"""The viewer as a person runs it: ``rtpose gui`` in a real X server with GL (Xvfb + Mesa), keys typed.

Covers what Qt's offscreen platform cannot: the xcb platform plugin with its system libraries, Mesa's
GL next to PyTorch (a crash once), a real model built through the default backend path (ONNX export
included) with an empty cache, recording and snapshots from the keyboard, SIGTERM while recording,
and the one-sentence errors for a display that does not answer and for missing xcb libraries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.conftest import BUS, DETECTOR_WEIGHTS, ROOT, VIDEO_MULTI
from tests.support.cli_helpers import count_video_frames
from tests.support.xserver import require, wait_for_window, xdotool, xvfb

pytest.importorskip("PyQt5")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def display():
    with xvfb() as name:
        yield name


def _env(display: str, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "WAYLAND"))}
    env.update(DISPLAY=display, RTPOSE_CACHE=str(tmp_path / "cache"), RTPOSE_ENGINES=str(tmp_path / "engines"),
               PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
    return env


def _wait_for_file(pattern: str, folder: Path, timeout: float = 60) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern))
        if found:
            return found
        time.sleep(0.2)
    return []


def test_viewer_plays_records_snapshots_and_stops_on_sigterm(display, tmp_path, small_weights):
    """The default backend (ONNX export + OpenVINO/ONNX Runtime) in a real X server: no crash, files valid."""
    work = tmp_path / "work"
    work.mkdir()
    cmd = [sys.executable, "-m", "rtpose", "gui", "--weights", str(small_weights), "--detector",
           str(DETECTOR_WEIGHTS), "--device", "cpu", "--source", str(VIDEO_MULTI)]
    log = tmp_path / "viewer.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env={**_env(display, tmp_path), "PYTHONPATH": str(ROOT)},
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        # The title names the source once the model is built and frames flow.
        window = wait_for_window(display, "vtest-480x360.avi", proc=proc)
        xdotool(display, "windowfocus", "--sync", window)
        time.sleep(4)  # a few frames on two cores
        xdotool(display, "key", "--clearmodifiers", "ctrl+r")  # record
        time.sleep(5)
        xdotool(display, "key", "--clearmodifiers", "ctrl+s")  # snapshot
        snapshots = _wait_for_file("rtpose-*.png", work, timeout=30)
        xdotool(display, "key", "--clearmodifiers", "ctrl+r")  # stop recording: finalised
        time.sleep(1.2)  # recordings are named by the second
        xdotool(display, "key", "--clearmodifiers", "ctrl+r")  # record again …
        time.sleep(5)
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)  # … and the service manager stops us mid-recording
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert proc.returncode == 128 + signal.SIGTERM, text
    assert "Traceback" not in text and "Fatal Python error" not in text
    assert "ONNX" in text  # the model went through the real export path, with an empty cache
    assert len(snapshots) == 1
    image = cv2.imread(str(snapshots[0]))
    assert image is not None and image.shape == (360, 480, 3)
    recordings = sorted(work.glob("rtpose-*.mp4"))
    assert len(recordings) == 2, recordings
    assert all(count_video_frames(path) >= 1 for path in recordings)  # both finalised, the second by SIGTERM


def test_display_that_does_not_answer_is_one_sentence(tmp_path):
    env = {**_env(":987", tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "rtpose", "gui"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "DISPLAY=:987" in proc.stderr and "does not answer" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def _libraries_folder(name: str) -> Path:
    found = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in found.splitlines():
        if line.strip().startswith(name + " ") and "x86-64" in line or line.strip().startswith(name + " ("):
            return Path(line.split("=>")[-1].strip()).resolve().parent
    pytest.skip(f"{name} is not installed here")


def test_missing_xcb_libraries_are_named_with_the_apt_line(display, tmp_path):
    """The xcb libraries removed (in a private mount namespace): one sentence and exit 1, not Qt's abort."""
    require("unshare")
    hidden = ["libxcb-icccm.so.4", "libxkbcommon-x11.so.0"]
    folder = _libraries_folder(hidden[0])
    real = tmp_path / "real-libs"
    real.mkdir()
    # Inside a new mount namespace: keep the real folder reachable, cover it with an empty tmpfs and link back
    # every file but the hidden ones (in Python: with the folder covered, ln and sh's helpers cannot start).
    # Nothing changes outside this one process tree.
    script = (
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def mount(source, target, kind, flags):\n"
        "    if libc.mount(source.encode(), target.encode(), kind and kind.encode(), flags, None):\n"
        "        sys.exit(f'unshare failed: mount {target}: {os.strerror(ctypes.get_errno())}')\n"
        f"folder, real, hidden = {str(folder)!r}, {str(real)!r}, {tuple(hidden)!r}\n"
        "mount(folder, real, None, 4096)\n"  # MS_BIND
        "mount('tmpfs', folder, 'tmpfs', 0)\n"
        "for name in os.listdir(real):\n"
        "    if not name.startswith(hidden):\n"
        "        os.symlink(os.path.join(real, name), os.path.join(folder, name))\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'rtpose', 'gui'])\n"
    )
    env = {**_env(display, tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", script],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if "unshare failed" in proc.stderr or "Operation not permitted" in proc.stderr:
        pytest.skip(f"no private mount namespace here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "libxcb-icccm.so.4" in lines[0] and "libxkbcommon-x11.so.0" in lines[0]
    assert "apt-get install libxcb-icccm4 libxkbcommon-x11-0" in lines[0]


def test_show_window_of_one_image_closes_on_ctrl_c(display, tmp_path, small_weights):
    """``rtpose --source photo.jpg --show`` waits for q/Esc in an OpenCV window; Ctrl-C must end it too."""
    env = {**_env(display, tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "rtpose", "--source", str(BUS), "--show", "--weights",
                             str(small_weights), "--detector", str(DETECTOR_WEIGHTS), "--backend", "torch"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_window(display, "rtpose", proc=proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "4 people in bus.jpg" in err and "Traceback" not in err and "QFontDatabase" not in err


def test_segmentation_toggles_by_keyboard_change_what_is_saved(display, tmp_path, small_weights, seg_weights):
    """``rtpose gui --seg parts``: P hides the body parts (the masks show), M the masks; Ctrl+S saves each view."""
    work = tmp_path / "work"
    work.mkdir()
    cmd = [sys.executable, "-m", "rtpose", "gui", "--weights", str(small_weights), "--detector", str(DETECTOR_WEIGHTS),
           "--backend", "torch", "--device", "cpu", "--max-people", "2", "--seg", "parts", "--seg-weights",
           str(seg_weights["lip"]), "--source", str(BUS)]
    log = tmp_path / "viewer.log"

    def snapshots(count: int) -> list[Path]:
        """Ctrl+S until there are ``count`` snapshots (the first only once the frame is through the models)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            xdotool(display, "key", "--clearmodifiers", "ctrl+s")
            time.sleep(1)
            found = sorted(work.glob("rtpose-*.png"), key=lambda path: path.stat().st_mtime_ns)
            if len(found) >= count:
                return found
        raise AssertionError(log.read_text())

    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=work, env={**_env(display, tmp_path), "PYTHONPATH": str(ROOT)},
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        window = wait_for_window(display, "bus.jpg", proc=proc)
        xdotool(display, "windowfocus", "--sync", window)
        snapshots(1)
        xdotool(display, "key", "--clearmodifiers", "p")
        snapshots(2)
        xdotool(display, "key", "--clearmodifiers", "m")
        shots = snapshots(3)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text()
    parts, masks, neither = (cv2.imread(str(path)) for path in shots)
    assert parts.shape == masks.shape == neither.shape == cv2.imread(str(BUS)).shape
    # Each key changed the picture, only where a person is tinted: the rest of the frame stays as it was.
    tinted = (masks != neither).any(axis=2)
    assert 0.05 < tinted.mean() < 0.95
    outside = (parts != masks).any(axis=2) & ~tinted
    assert (parts != masks).any() and outside.sum() < 1e-3 * tinted.sum()  # a tint can round to the pixel itself
