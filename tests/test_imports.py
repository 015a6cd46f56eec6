"""Light imports: the parts that do not run a model must not load PyTorch (quick --help, quick tools)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import DETECTOR_WEIGHTS, ROOT, VIDEO_MULTI


def test_sources_skeleton_sinks_and_the_cli_do_not_import_torch():
    code = (
        "import sys\n"
        "import rtpose, rtpose.io.sources, rtpose.pose.keypoint_sets, rtpose.io.sinks\n"
        "import rtpose.engine.signals, rtpose.cli, rtpose.cli.run\n"
        "from rtpose import __version__\n"
        "heavy = sorted(m for m in ('torch', 'ultralytics', 'onnxruntime', 'openvino') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "from rtpose import HRNet\n"  # the lazy names still work
        "assert HRNet.__name__ == 'HRNet' and 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 1.5])
def test_ctrl_c_during_start_up_is_one_line(tmp_path, small_weights, delay):
    """While Python imports PyTorch or the model loads: 'interrupted' and 130, never a traceback."""
    env = {**os.environ, "RTPOSE_CACHE": str(tmp_path / "cache"), "RTPOSE_ENGINES": str(tmp_path / "engines")}
    proc = subprocess.Popen([sys.executable, "-m", "rtpose", "--source", str(VIDEO_MULTI), "--weights",
                             str(small_weights), "--detector", str(DETECTOR_WEIGHTS), "--no-show"],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] in ("rtpose: interrupted", "rtpose: stopped by SIGINT")
