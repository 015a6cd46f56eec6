"""Issue 19: nothing lost, nothing run that should not be (hostile files, full disks, clashing paths, races).

Everything runs the way a user runs it: the real CLI in a subprocess or in-process, a real pickle, a
real ``RLIMIT_FSIZE``-limited process for a full disk, real racing processes, a real HTTP server.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import BUS, DETECTOR_WEIGHTS, ROOT

EVIL = '''
import os, sys, torch
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
torch.save({"model": Evil()}, sys.argv[1])
'''


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra)
    return env


def rtpose(*args: str, cwd=None, **kw) -> subprocess.CompletedProcess:
    """The real ``rtpose`` command in a subprocess (this checkout's code)."""
    return subprocess.run([sys.executable, "-m", "rtpose", *args], capture_output=True, text=True, cwd=cwd,
                          env=kw.pop("env", None) or _env(), timeout=kw.pop("timeout", 300), **kw)


def _one_sentence(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("rtpose: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


# -- 1. a --detector file that runs code ---------------------------------------------------------------


@pytest.fixture()
def evil_detector(tmp_path):
    """A real ``torch.save`` of an object whose ``__reduce__`` runs a shell command (``touch`` a marker)."""
    evil, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    subprocess.run([sys.executable, "-c", EVIL, str(evil), str(marker)], check=True)
    assert evil.is_file() and not marker.exists()
    return evil, marker


def test_a_detector_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path, evil_detector, small_weights):
    evil, marker = evil_detector
    proc = rtpose("--source", str(BUS), "--no-show", "--weights", str(small_weights), "--detector", str(evil),
                  "--device", "cpu", env=_env(RTPOSE_CACHE=str(tmp_path / "cache")))
    assert proc.returncode == 1
    line = _one_sentence(proc)
    assert "can only be loaded unsafely" in line and "system" in line and "--trust-detector" in line
    assert not marker.exists()  # the command did not run


def test_the_real_detector_still_loads_safely():
    from rtpose.detector import PersonDetector, check_detector_pickle

    check_detector_pickle(DETECTOR_WEIGHTS)  # no refusal
    assert PersonDetector(DETECTOR_WEIGHTS, device="cpu", runtime="torch").runtime == "torch"


def test_a_trusted_detector_file_is_loaded_the_unsafe_way(tmp_path, evil_detector, monkeypatch):
    """The user's word (``RTPOSE_TRUST_DETECTOR=1``, what ``--trust-detector`` sets) skips the refusal."""
    from rtpose.detector import check_detector_pickle
    from rtpose.errors import WeightsError

    evil, _marker = evil_detector
    with pytest.raises(WeightsError):
        check_detector_pickle(evil)
    monkeypatch.setenv("RTPOSE_TRUST_DETECTOR", "1")
    check_detector_pickle(evil)  # no refusal: Ultralytics' own load decides
