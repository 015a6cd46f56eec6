"""An output name longer than the file system allows is one sentence, before anything loads (issue 29, 6)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rtpose.errors import OutputError
from rtpose.utils.names import check_name_length
from tests.conftest import BUS, DETECTOR_WEIGHTS, ROOT


def test_check_name_length(tmp_path):
    assert check_name_length(tmp_path / ("a" * 255)) == tmp_path / ("a" * 255)
    with pytest.raises(OutputError, match="256 bytes long, more than the 255"):
        check_name_length(tmp_path / ("a" * 256) / "x.json", "output")
    with pytest.raises(OutputError, match="longer than the 4096 bytes"):
        check_name_length(tmp_path / "/".join(["d" * 200] * 25))


@pytest.mark.parametrize("args", [
    ["--source", str(BUS), "--no-show", "--json", "{long}.json"],
    ["--source", str(BUS), "--no-show", "--save", "{long}.jpg"],
    ["export-onnx", "--out", "{long}"],
])
def test_the_command_line_says_so_in_one_sentence(tmp_path, small_weights, args):
    long = str(tmp_path / ("n" * 300))
    argv = [a.replace("{long}", long) for a in args] + ["--weights", str(small_weights)]
    if argv[0] != "export-onnx":
        argv += ["--detector", str(DETECTOR_WEIGHTS)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), RTPOSE_CACHE=str(tmp_path / "cache"),
               RTPOSE_ENGINES=str(tmp_path / "engines"))
    proc = subprocess.run([sys.executable, "-m", "rtpose", *argv], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rtpose: error:")]
    assert len(errors) == 1 and "more than the 255 the file system allows" in errors[0], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ("cache", "engines")) == []
