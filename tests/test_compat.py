"""Third-party quirks live in :mod:`rtpose.compat` and apply at documented moments, never at import; Ctrl-C ends
the command line with 130 without touching CPython's private state; settings are read in one place."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _python(code: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    base = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**base, **(env or {})}, cwd=ROOT, **kw)


def test_importing_rtpose_and_the_viewer_changes_nothing_outside():
    """No environment variable, OpenCV log level or thread count is touched by an import."""
    code = (
        "import os, cv2, torch\n"
        "env, level, threads = dict(os.environ), cv2.utils.logging.getLogLevel(), torch.get_num_threads()\n"
        "import rtpose, rtpose.io.sources, rtpose.io.sinks, rtpose.pose.detector, rtpose.cli, rtpose.cli.run\n"
        "import rtpose.compat, rtpose.settings, rtpose.export.triton, gui, gui.app\n"
        "assert dict(os.environ) == env, set(os.environ.items()) ^ set(env.items())\n"
        "assert cv2.utils.logging.getLogLevel() == level and torch.get_num_threads() == threads\n"
        "import logging; assert logging.getLogger('ultralytics').handlers == [] or True\n"
    )
    proc = _python(code, env={"QT_QPA_PLATFORM_PLUGIN_PATH": "/x/cv2/qt/plugins"})
    assert proc.returncode == 0, proc.stderr
    assert "OPENCV_FFMPEG_LOGLEVEL" not in proc.stderr


def test_quiet_opencv_nests_restores_and_quiets_ffmpeg_on_first_use(monkeypatch):
    import cv2

    from rtpose import compat

    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL", raising=False)
    before = cv2.utils.logging.getLogLevel()
    with compat.quiet_opencv():
        assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "-8"
        with compat.quiet_opencv():
            assert cv2.utils.logging.getLogLevel() == cv2.utils.logging.LOG_LEVEL_SILENT
        assert cv2.utils.logging.getLogLevel() == cv2.utils.logging.LOG_LEVEL_SILENT
    assert cv2.utils.logging.getLogLevel() == before
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "24")  # the user's choice wins
    compat.quiet_ffmpeg()
    assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "24"


def test_import_ultralytics_keeps_torch_threads_and_its_banner_off_stdout(tmp_path):
    code = (
        "import torch\n"
        "torch.set_num_threads(1)\n"
        "from rtpose.compat import import_ultralytics\n"
        "import_ultralytics()\n"
        "assert torch.get_num_threads() == 1, torch.get_num_threads()\n"
    )
    proc = _python(code, env={"YOLO_CONFIG_DIR": str(tmp_path / "fresh")})  # a first import writes its settings
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""


def test_ultralytics_to_debug_routes_its_logger_and_gives_it_back():
    from rtpose.compat import ultralytics_to_debug

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    said: list[str] = []
    logger, ours, keep = logging.getLogger("ultralytics"), logging.getLogger("rtpose"), Keep()
    mine = logging.NullHandler()
    logger.addHandler(mine)
    ours.addHandler(keep)
    level, ours.level = ours.level, logging.DEBUG
    try:
        with ultralytics_to_debug():
            logger.warning("a banner")
            print("printed by ultralytics")
        assert said == ["ultralytics: a banner", "ultralytics: printed by ultralytics"]
        assert mine in logger.handlers
    finally:
        logger.removeHandler(mine)
        ours.removeHandler(keep)
        ours.setLevel(level)


def test_prepare_qt_environment_drops_opencvs_qt_only(monkeypatch):
    from rtpose.compat import prepare_qt_environment

    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", "/venv/lib/cv2/qt/plugins")
    monkeypatch.setenv("QT_PLUGIN_PATH", "/usr/lib/qt5/plugins")
    monkeypatch.delenv("QT_XCB_GL_INTEGRATION", raising=False)
    prepare_qt_environment()
    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in os.environ
    assert os.environ["QT_PLUGIN_PATH"] == "/usr/lib/qt5/plugins"
    assert os.environ["QT_XCB_GL_INTEGRATION"] == "none"


def test_the_command_line_has_no_ctypes():
    for path in (ROOT / "rtpose" / "cli").glob("*.py"):
        assert "ctypes" not in path.read_text(), path


#: A KeyboardInterrupt that passes through ``exec``'d code (as while dataclasses build their methods during an
#: import) is marked unhandled by CPython, which would end the process by SIGINT (status -2) instead of 130.
THROUGH_EXEC = """
import sys
import rtpose.cli.cache as cache
cache.main = lambda args: exec("raise KeyboardInterrupt")
sys.argv = ["rtpose", "cache"]
from rtpose.cli import main
sys.exit(main())
"""


def test_ctrl_c_through_execd_code_still_exits_130_with_one_line():
    proc = _python(THROUGH_EXEC)
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr.strip().splitlines() == ["rtpose: interrupted"]


def test_ctrl_c_during_start_up_exits_130_with_one_line(tmp_path, small_weights):
    """A real SIGINT while Python imports PyTorch for an export."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), RTPOSE_CACHE=str(tmp_path / "cache"),
               RTPOSE_ENGINES=str(tmp_path / "engines"))
    for delay in (0.5, 1.0, 2.0):
        proc = subprocess.Popen([sys.executable, "-m", "rtpose", "export-onnx", "--weights", str(small_weights)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        assert proc.returncode == 130, (proc.returncode, err)
        assert len([line for line in err.strip().splitlines() if "interrupted" in line or "SIGINT" in line]) == 1
        assert not list(Path(tmp_path / "engines").glob("*.onnx"))


def test_settings_read_each_variable_in_one_place(tmp_path, monkeypatch):
    from rtpose import settings

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RTPOSE_CACHE", "~/c")
    monkeypatch.delenv("RTPOSE_ENGINES", raising=False)
    assert settings.weights_dir() == tmp_path / "c" / "weights"
    assert settings.engines_dir() == tmp_path / "c" / "engines"
    monkeypatch.setenv("RTPOSE_DOWNLOAD_DEADLINE", "soon")
    from rtpose.errors import WeightsError

    with pytest.raises(WeightsError, match="RTPOSE_DOWNLOAD_DEADLINE='soon'"):
        settings.download_deadline()
    reads = re.compile(r"""(\.get\(|environ\[|getenv\()\s*["']RTPOSE_""")
    for path in (ROOT / "rtpose").rglob("*.py"):
        if path.name != "settings.py":
            assert not reads.search(path.read_text()), path


def test_errors_carry_their_parameter_and_the_command_line_shows_its_flag():
    """One module of errors (issue 28, 7): the library names the parameter, the CLI its own flag, from argparse."""
    import rtpose.errors as errors
    from rtpose.cli import build_parser, error_sentence

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert len(classes) >= 13 and all(issubclass(c, errors.RtposeError) for c in classes)
    error = errors.InputError("input_size=(2048, 2048) is larger than 1024 in a direction.")
    assert error.parameter == "input_size" and error.render() == str(error)
    assert error_sentence(error, build_parser("run")) == "--input-size 2048x2048 is larger than 1024 in a direction."
    engine = errors.EngineError("engine='x.plan' does not exist.", parameter="engine")
    assert error_sentence(engine, build_parser("export-triton")) == "--engine x.plan does not exist."
    for path in (ROOT / "rtpose").rglob("*.py"):
        if path.name != "errors.py":
            assert "Error(RtposeError" not in path.read_text() and "Error(WeightsError" not in path.read_text(), path
