"""A real X server for the viewer tests: Xvfb with GLX (Mesa), as a Linux desktop has it.

Debian packages: ``xvfb`` (the server), Mesa (``libgl1-mesa-dri``, ``libglx-mesa0``), the xcb libraries
Qt's platform plugin loads, and ``xdotool`` to type keys the way a person does. ``.ci/run`` installs
them. Where Xvfb is missing, the tests skip with that reason, except in CI (``CI`` set), where a
missing X server is a failure: the viewer must be tested on a real display there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def require(program: str) -> str:
    """The path of ``program``; skip (fail in CI) when it is not installed."""
    path = shutil.which(program)
    if path is None:
        message = f"{program} is not installed (Debian: see .ci/run for the packages the viewer tests need)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextmanager
def xvfb(width: int = 1600, height: int = 1000, outlive_clients: bool = False) -> Iterator[str]:
    """Start Xvfb on a free display number; yields ``":N"``.

    ``outlive_clients=True`` is for an X client that lives until the process exits (pytest-qt's
    QApplication): the server is not stopped at the end of the block (Qt would exit the process when
    its display goes away) but ends by itself once its last client has disconnected.
    """
    binary = require("Xvfb")
    read_fd, write_fd = os.pipe()
    lifetime = ["-terminate"] if outlive_clients else ["-noreset"]
    proc = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "+extension", "GLX",
         "-nolisten", "tcp", *lifetime],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number.isdigit():
            raise RuntimeError(f"Xvfb did not start (exit code {proc.poll()})")
        display = f":{number}"
        deadline = time.monotonic() + 10
        while not os.path.exists(f"/tmp/.X11-unix/X{number}") and time.monotonic() < deadline:
            time.sleep(0.05)
        yield display
    finally:
        if not (outlive_clients and proc.poll() is None):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def xdotool(display: str, *args: str, timeout: float = 30) -> str:
    """Run xdotool against ``display``; returns its output."""
    binary = require("xdotool")
    done = subprocess.run([binary, *args], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True,
                          timeout=timeout)
    return done.stdout.strip()


def wait_for_window(display: str, title_part: str, timeout: float = 180.0, proc=None) -> str:
    """The id of the first window whose title contains ``title_part`` (waits for it to appear)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = xdotool(display, "search", "--name", title_part)
        if found:
            return found.splitlines()[0]
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the program exited ({proc.returncode}) before a window titled {title_part!r}")
        time.sleep(0.3)
    raise AssertionError(f"no window titled {title_part!r} within {timeout:g} s")
