"""The PyQt5 viewer in-process, in a real X server (Xvfb + Mesa, Qt's xcb platform): frames with
overlays, pause/resume/step, stop, close, errors, recording, tracking, model reloads.

pytest-qt's ``qtbot`` drives it; its QApplication is created on the Xvfb display (see ``qapp`` below).
One estimator (HRNet-W18 with deterministic weights + YOLOv8n-person, at most two people per frame to
keep two CPU cores quick) is shared by the tests. ``tests/gui/test_gui_x11.py`` runs ``rtpose gui`` itself.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt5")
pytest.importorskip("pytestqt")

import gui  # noqa: E402  (qapp below prepares the Qt environment)
from tests.conftest import BUS, DETECTOR_WEIGHTS, ROOT, VIDEO_MULTI, VIDEO_ONE_BY_ONE  # noqa: E402
from tests.support.xserver import xvfb  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="session")
def qapp():
    """Overrides pytest-qt's: the QApplication lives on a real X server for the whole session."""
    from PyQt5.QtWidgets import QApplication

    with xvfb(outlive_clients=True) as display:
        saved = {k: os.environ.get(k) for k in ("DISPLAY", "QT_QPA_PLATFORM")}
        os.environ["DISPLAY"], os.environ["QT_QPA_PLATFORM"] = display, "xcb"
        gui.prepare_qt_environment()
        app = QApplication.instance() or QApplication(["rtpose-tests"])
        assert app.platformName() == "xcb"
        try:
            yield app
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _rtpose_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rtpose")]


@pytest.fixture(scope="module")
def config(small_weights):
    from gui.worker import ModelConfig

    # The PyTorch backend: no one-off ONNX export in the test run.
    return ModelConfig(weights=str(small_weights), detector=str(DETECTOR_WEIGHTS), backend="torch", device="cpu",
                       max_people=2)


@pytest.fixture(scope="module")
def estimator(config):
    from rtpose.pose.factory import build_estimator

    return build_estimator(config)


@pytest.fixture
def window(qtbot, qapp, config, estimator, tmp_path):
    from gui.main_window import MainWindow
    from gui.theme import apply_theme

    apply_theme(qapp)
    win = MainWindow(config, output_dir=tmp_path, load_model=False)
    win.set_estimator(estimator, config)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    assert win.wait_for_threads(30.0)  # a frame still in the model finishes; nothing leaks into the next test


def _wait_frames(qtbot, win, count: int, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: win.frames_shown >= count, timeout=timeout)


def test_video_frames_overlays_pause_resume_stop_close(qtbot, window):
    window.open_source(str(VIDEO_MULTI))
    _wait_frames(qtbot, window, 2)
    result, annotated = window.last_result, window.last_annotated
    assert len(result), "vtest has people in every frame"
    assert annotated.shape == result.frame.image.shape == (360, 480, 3)
    # The overlay changed the pixels where people are (and the raw frame was not drawn on).
    x1, y1, x2, y2 = (int(v) for v in result[0].box)
    region = (slice(max(y1, 0), y2 + 1), slice(max(x1, 0), x2 + 1))
    assert np.abs(annotated[region].astype(int) - result.frame.image[region].astype(int)).sum() > 0
    assert window.view.image is not None and window.view.image.width() == 480
    assert window.readouts.values["people"].text() == str(len(result))
    assert window.position.maximum() > 700  # a file: the position slider spans its frames

    # Seek with the position slider's path.
    window.seek(400)
    qtbot.waitUntil(lambda: window.last_result.frame.index >= 400, timeout=30_000)
    # Pause: at most the frame in flight still arrives, then nothing.
    window.toggle_pause()
    assert window.controller.paused
    paused_at = window.frames_shown
    qtbot.wait(2500)  # the frame in flight (~1 s on two cores) may still arrive
    shown = window.frames_shown
    assert shown <= paused_at + 1
    qtbot.wait(1500)
    assert window.frames_shown == shown
    # Step one frame forward while paused.
    index = window.last_result.frame.index
    window.step(1)
    qtbot.waitUntil(lambda: window.last_result.frame.index == index + 1, timeout=30_000)
    # Toggles re-render the paused frame.
    before = window.last_annotated.copy()
    window.show_boxes.setChecked(False)
    window.show_hud.setChecked(False)
    assert not np.array_equal(before, window.last_annotated)
    # Resume.
    window.toggle_pause()
    assert not window.controller.paused
    _wait_frames(qtbot, window, window.frames_shown + 1)
    # Stop, then close: every thread ends.
    window.stop()
    assert not window.controller.running
    window.close()
    qtbot.waitUntil(lambda: not _rtpose_threads(), timeout=1500)


def test_close_while_running_stops_threads_within_a_second(qtbot, window):
    window.open_source(str(VIDEO_MULTI))
    _wait_frames(qtbot, window, 1)
    assert window.controller.running
    window.close()
    qtbot.waitUntil(lambda: not _rtpose_threads(), timeout=1000)


def test_bad_source_shows_error_and_window_stays_usable(qtbot, window, tmp_path):
    window.open_source(str(tmp_path / "missing.avi"))
    qtbot.waitUntil(lambda: window.view.banner is not None, timeout=10_000)
    assert "does not exist" in window.view.banner
    assert "does not exist" in window.statusBar().currentMessage()
    assert not window.controller.running
    # A corrupt file too.
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    window.open_source(str(bad))
    qtbot.waitUntil(lambda: window.view.banner is not None and "corrupt" in window.view.banner, timeout=10_000)
    # Then a good source plays, and the error banner goes away.
    window.open_source(str(VIDEO_MULTI))
    _wait_frames(qtbot, window, 1)
    assert window.view.banner is None


def test_recording_and_snapshot(qtbot, window, tmp_path):
    import cv2

    window.open_source(str(VIDEO_MULTI))
    _wait_frames(qtbot, window, 1)
    path = tmp_path / "recording.mp4"
    assert window.start_recording(path)
    start = window.frames_shown
    _wait_frames(qtbot, window, start + 3)
    snap = window.snapshot(tmp_path / "snap.png")
    saved = window.stop_recording()
    assert saved == path and window.recorder is None
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) >= 3
    assert frames[0].shape == (360, 480, 3)
    image = cv2.imread(str(snap))
    assert image is not None and image.shape == (360, 480, 3)


def test_drop_a_file_opens_it(qtbot, window, tmp_path):
    from PyQt5.QtCore import QMimeData, QPoint, Qt, QUrl
    from PyQt5.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "dropped.avi"))])
    event = QDropEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.view.banner is not None, timeout=10_000)
    assert "dropped.avi does not exist" in window.view.banner


def test_keyboard_shortcuts(window):
    shortcuts = {a.shortcut().toString() for a in window.actions()}
    assert {"Space", "Ctrl+O", "Ctrl+R", "Ctrl+S", "F", "Ctrl+Q"} <= shortcuts


def test_no_weights_loads_the_default_and_offline_says_what_to_do(qtbot, qapp, tmp_path, monkeypatch):
    from gui.main_window import MainWindow
    from gui.worker import ModelConfig

    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("RTPOSE_WEIGHTS_URL", "http://127.0.0.1:9/")  # nothing listens there: offline
    win = MainWindow(ModelConfig(weights=None, detector=str(DETECTOR_WEIGHTS)))
    qtbot.addWidget(win)
    win.show()
    assert win.weights_label.full_text() == "hrnet_w32_coco_256x192 (default)"
    qtbot.waitUntil(lambda: win.model_error is not None, timeout=30_000)
    banner = win.view.banner
    assert "hrnet_w32_coco_256x192-c78dce93_20200708.pth" in banner and "127.0.0.1:9" in banner
    assert "--weights" in banner
    assert win.estimator is None
    # Opening a source without a model explains again instead of failing.
    win.open_source(str(VIDEO_MULTI))
    assert "hrnet_w32_coco_256x192" in win.statusBar().currentMessage()
    win.close()


def test_tracking_is_on_by_default_and_switches_between_frames(qtbot, window):
    assert window.tracking.isChecked() and window.show_ids.isChecked()  # as in 'rtpose run'
    window.open_source(str(VIDEO_MULTI))
    _wait_frames(qtbot, window, 2)
    assert all(p.track_id is not None for p in window.last_result)
    window.tracking.setChecked(False)
    shown = window.frames_shown
    _wait_frames(qtbot, window, shown + 3)
    assert all(p.track_id is None for p in window.last_result)


def test_reloading_the_model_closes_the_old_backend(qtbot, qapp, config, tmp_path):
    from gui.main_window import MainWindow
    from rtpose.pose.factory import build_estimator

    first, second = build_estimator(config), build_estimator(config)
    win = MainWindow(config, output_dir=tmp_path, load_model=False)
    qtbot.addWidget(win)
    win.set_estimator(first, config)
    win.show()
    win.open_source(str(VIDEO_MULTI))
    _wait_frames(qtbot, win, 1)
    win.set_estimator(second, config)  # a reload: what ran restarts with the new model
    assert first.backend.model is None  # released once its pipeline had stopped (a TensorRT context would leak)
    assert second.backend.model is not None
    _wait_frames(qtbot, win, win.frames_shown + 1)
    win.close()
    assert win.wait_for_threads(30.0)


def test_model_load_error_is_shown(qtbot, qapp, tmp_path):
    from gui.main_window import MainWindow
    from gui.worker import ModelConfig

    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"garbage")
    win = MainWindow(ModelConfig(weights=str(bogus), detector=str(DETECTOR_WEIGHTS), backend="torch"))
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.model_error is not None, timeout=30_000)
    assert "not a readable PyTorch checkpoint" in win.view.banner
    win.close()


def test_screenshot_of_the_window(qtbot, window, tmp_path):
    window.resize(1360, 900)
    window.open_source(str(VIDEO_MULTI))
    _wait_frames(qtbot, window, 2)
    window.toggle_pause()
    qtbot.wait(100)
    path = tmp_path / "window.png"
    assert window.grab().save(str(path))
    import cv2

    shot = cv2.imread(str(path))
    assert shot is not None and shot.shape[1] >= 1000


def test_no_display_is_one_sentence_and_exit_1():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "gui"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert "No display found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_rtpose_gui_subcommand_comes_from_the_viewer_and_loads_no_qt_until_it_runs():
    code = (
        "import sys\n"
        "from rtpose.cli import build_parser, commands\n"
        "assert commands()['gui'] == 'gui.command'  # the viewer's entry point, not a library module\n"
        "parser = build_parser('gui')\n"
        "args = parser.parse_args(['--source', 'x.mp4', '--kpt-thr', '0.5'])\n"
        "assert args.source == ['x.mp4'] and args.kpt_thr == 0.5\n"
        "assert parser.parse_args(['--source', 'a.mp4', '--source', 'b.mp4']).source == ['a.mp4', 'b.mp4']\n"
        "assert 'PyQt5' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_qt_plugin_path_of_opencv_is_cleared():
    import cv2  # noqa: F401

    from gui import prepare_qt_environment

    prepare_qt_environment()
    assert "cv2" not in os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "")


def test_camera_open_plays_live_frames_and_unplugging_is_shown(qtbot, window, monkeypatch):
    """Camera → Open through the OpenCV boundary: a stand-in camera serving real frames at 10 frames/s."""
    from tests.support.fake_camera import Device, install

    install({0: Device(str(VIDEO_MULTI), unplug_after=20)}, monkeypatch)
    window.camera_index.setValue(0)
    window.btn_camera.click()
    _wait_frames(qtbot, window, 2)
    assert window._source_info["is_live"] and window._source_info["name"] == "camera 0"
    assert not window.position.isEnabled()  # a live source cannot seek
    assert len(window.last_result)
    qtbot.waitUntil(lambda: window.view.banner is not None, timeout=60_000)
    assert "camera 0 stopped sending frames" in window.view.banner
    assert window.view.banner.count("camera 0") == 1  # named once, not prefixed again
    assert not window.controller.running


def test_whole_body_model_offers_part_toggles(qtbot, qapp, tmp_path, fill_state_dict):
    """A 133-keypoint model (COCO-WholeBody layout): body, feet, face and hands can be shown or hidden."""
    import torch

    from gui.main_window import MainWindow
    from gui.worker import ModelConfig
    from rtpose.models import HRNet
    from rtpose.pose.factory import build_estimator

    path = tmp_path / "hrnet_w18_wholebody_reference.pth"
    torch.save(fill_state_dict(HRNet(width=18, num_joints=133).state_dict()), path)
    config = ModelConfig(weights=str(path), detector=str(DETECTOR_WEIGHTS), backend="torch", device="cpu",
                         max_people=2)
    win = MainWindow(config, output_dir=tmp_path, load_model=False)
    qtbot.addWidget(win)
    win.set_estimator(build_estimator(config), config)
    win.show()
    assert list(win.part_boxes) == ["body", "feet", "face", "left_hand", "right_hand"]
    assert win.parts_widget.isVisible()
    win.open_source(str(VIDEO_MULTI))
    _wait_frames(qtbot, win, 1)
    win.toggle_pause()
    assert len(win.last_result[0].keypoints) == 133
    win.show_hud.setChecked(False)
    everything = win.last_annotated.copy()
    win.part_boxes["face"].setChecked(False)
    win.part_boxes["left_hand"].setChecked(False)
    assert not np.array_equal(everything, win.last_annotated)  # face and hand points are no longer drawn
    win.part_boxes["face"].setChecked(True)
    win.part_boxes["left_hand"].setChecked(True)
    np.testing.assert_array_equal(everything, win.last_annotated)
    win.close()
    assert win.wait_for_threads(30.0)


def test_the_backend_list_comes_from_the_backend_table(qtbot, qapp, monkeypatch):
    from gui.main_window import MainWindow
    from gui.worker import ModelConfig
    from rtpose.runtime import select

    spec = select.BackendSpec("threaded-torch", "torch", select.BACKENDS["torch"].from_checkpoint)
    monkeypatch.setitem(select.BACKENDS, "threaded-torch", spec)
    win = MainWindow(ModelConfig(detector=str(DETECTOR_WEIGHTS)), load_model=False)
    qtbot.addWidget(win)
    items = [win.backend_combo.itemText(i) for i in range(win.backend_combo.count())]
    assert items[0] == "auto" and "threaded-torch" in items and "torch" in items
    win.close()


# ------------------------------------------------------------------------------------- several streams
def test_two_videos_play_in_a_grid_with_a_readout_per_stream(qtbot, window, tmp_path):
    """Dropping two files opens one stream over both: each stream's frames in its tile, a row each."""
    import cv2
    from PyQt5.QtCore import QMimeData, QPoint, Qt, QUrl
    from PyQt5.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(VIDEO_MULTI)), QUrl.fromLocalFile(str(VIDEO_ONE_BY_ONE))])
    window.dropEvent(QDropEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    qtbot.waitUntil(lambda: set(window._stream_results) == {0, 1}, timeout=90_000)
    assert window.controller.stream is not None and len(window.controller.stream.sources) == 2
    assert "2 streams" in window.windowTitle()
    window.show_hud.setChecked(False)  # compare bare tiles with the frames
    window.show_boxes.setChecked(False)
    window.show_keypoints.setChecked(False)
    grid = window.last_annotated
    tile = window._tile
    assert grid.shape == (tile[1], 2 * tile[0], 3)  # one row, two tiles
    assert window.view.image.width() == grid.shape[1]
    for stream, result in window._stream_results.items():
        frame = result.frame.image
        x1, y1, x2, y2 = (0, 0, tile[0], tile[1]) if stream == 0 else (tile[0], 0, 2 * tile[0], tile[1])
        cell = grid[y1:y2, x1:x2]
        scale = min(tile[0] / frame.shape[1], tile[1] / frame.shape[0])
        w, h = int(frame.shape[1] * scale), int(frame.shape[0] * scale)
        oy, ox = (tile[1] - h) // 2, (tile[0] - w) // 2
        expected = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        assert np.abs(cell[oy:oy + h, ox:ox + w].astype(int) - expected.astype(int)).mean() < 1.0, stream
    # Per-stream readouts: a row each, with figures.
    table = window.stream_table
    qtbot.waitUntil(lambda: all(table.figures(r)["FPS"] != "–" for r in range(2)), timeout=30_000)
    assert table.isVisible() and table.rowCount() == 2
    assert table.figures(0)["#"] == "1" and "vtest-480x360.avi" in table.figures(0)["name"]
    assert table.figures(1)["#"] == "2" and "one-by-one-person.mp4" in table.figures(1)["name"]
    # The recording is of the grid.
    recording = tmp_path / "grid.mp4"
    assert window.start_recording(recording)
    _wait_frames(qtbot, window, window.frames_shown + 3)
    assert window.stop_recording() == recording
    capture = cv2.VideoCapture(str(recording))
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape == grid.shape
    # Several streams cannot seek; pause and resume work for all.
    assert not window.position.isEnabled() and not window.act_fwd.isEnabled()
    window.toggle_pause()
    assert window.controller.paused
    qtbot.wait(2500)
    shown = window.frames_shown
    qtbot.wait(1500)
    assert window.frames_shown == shown
    window.toggle_pause()
    _wait_frames(qtbot, window, shown + 2)
    # Back to one source: no grid, no table.
    window.open_source(str(VIDEO_MULTI))
    qtbot.waitUntil(lambda: "2 streams" not in window.windowTitle() and window.frames_shown >= 1, timeout=60_000)
    assert window.last_annotated.shape == (360, 480, 3)
    assert not window.stream_table.isVisible()


def test_gui_several_sources_on_the_command_line_open_together(qapp, monkeypatch):
    from gui import app
    from gui.main_window import MainWindow

    opened = []
    monkeypatch.setattr(MainWindow, "reload_model", lambda self: None)
    monkeypatch.setattr(MainWindow, "open_sources", lambda self, specs: opened.append(list(specs)))
    args = app.build_parser().parse_args(["--source", "a.mp4", "--source", "b.mp4", "--detector",
                                          str(DETECTOR_WEIGHTS)])
    win = app.create_window(args)
    try:
        assert opened == [["a.mp4", "b.mp4"]]
    finally:
        win.close()


# ---------------------------------------------------------------------------------------------- mends
def _result_with_a_person_at_the_top_left():
    from rtpose.io.sources import Frame
    from rtpose.results import PoseResult

    image = np.full((360, 480, 3), 128, np.uint8)
    image[::8] = 200  # texture: darkening shows
    keypoints = np.zeros((1, 17, 3), np.float32)
    return PoseResult(boxes=[[2, 2, 160, 300]], scores=[0.9], keypoints=keypoints, fps=12.5, latency_ms=80.0,
                      frame=Frame(0, 0.0, image))


def test_hud_does_not_cover_a_person_in_the_top_left_corner(window):
    result = _result_with_a_person_at_the_top_left()
    window.show_hud.setChecked(False)
    bare = window.render(result)
    window.show_hud.setChecked(True)
    with_hud = window.render(result)
    x1, y1, x2, y2 = window.hud_rect
    assert x1 >= 160 or y1 >= 300  # clear of the box (2, 2, 160, 300)
    np.testing.assert_array_equal(with_hud[0:302, 0:162], bare[0:302, 0:162])  # the person is not darkened
    assert not np.array_equal(with_hud, bare)  # the HUD is drawn, elsewhere


def test_failed_open_clears_the_old_source_and_space_does_not_restart_it(qtbot, window, tmp_path):
    window.open_source(str(VIDEO_MULTI))
    _wait_frames(qtbot, window, 1)
    qtbot.waitUntil(lambda: window.readouts.fps.text() != "–", timeout=30_000)
    window.open_source(str(tmp_path / "missing.avi"))
    qtbot.waitUntil(lambda: window.view.banner is not None, timeout=10_000)
    assert "does not exist" in window.view.banner
    qtbot.wait(300)
    assert window.view.image is None and window.last_annotated is None and window.last_result is None
    assert window.windowTitle() == "rtpose viewer"
    assert window.readouts.fps.text() == "–" and window.readouts.values["people"].text() == "–"
    assert window.source_label.text() == "No source"
    assert not window.act_pause.isEnabled() and not window.act_snapshot.isEnabled()
    window.toggle_pause()  # Space
    qtbot.wait(500)
    assert not window.controller.running and window.frames_shown == 0


def test_a_dropped_stream_is_named_once_in_the_banner(window):
    url = "rtsp://192.0.2.7:8554/live"
    window._source_info = {"name": url, "spec": url, "is_live": True}
    window._run_finished(f"{url} stopped sending frames (camera unplugged or stream ended).", None)
    assert window.view.banner.count(url) == 1
    window._run_finished("the decoder failed.", None)  # a sentence that does not name it gets the name
    assert window.view.banner.startswith(url)
    other = "rtsp://192.0.2.8:8554/live"  # several streams: the one lost is named, once
    window._source_info = {"name": f"{url}, {other}", "spec": [url, other], "is_live": True,
                           "streams": [{"name": url, "is_live": True}, {"name": other, "is_live": True}]}
    window._run_finished(f"{other} stopped sending frames (camera unplugged or stream ended).", None)
    assert window.view.banner.count(other) == 1 and url not in window.view.banner


def test_a_still_image_shows_no_frame_rate(qtbot, window):
    window.open_source(str(BUS))
    _wait_frames(qtbot, window, 1)
    qtbot.waitUntil(lambda: window.readouts.values["people"].text() != "–", timeout=30_000)
    assert window.readouts.fps.text() != "0.0" and window.readouts.fps_unit.text() == "still image"
    hud = " ".join(window.hud_lines(window.last_result))
    assert "FPS" not in hud and "still image" in hud


def test_snapshot_path_stays_visible_until_the_next_action(qtbot, window, tmp_path):
    window.open_source(str(VIDEO_MULTI))
    _wait_frames(qtbot, window, 1)
    path = window.snapshot(tmp_path / "kept.png")
    assert path is not None and path.is_file()
    window.statusBar().clearMessage()  # what a 2-s message would have done
    qtbot.wait(100)
    assert str(path) in window.snapshot_label.text() and window.snapshot_label.isVisible()
    window.open_source(str(VIDEO_MULTI))  # the next action
    assert window.snapshot_label.text() == ""


def test_open_several_files_urls_and_the_url_box_open_one_stream_over_all(window, monkeypatch):
    from PyQt5.QtWidgets import QFileDialog, QInputDialog

    opened = []
    monkeypatch.setattr(window, "_open", lambda spec, start_index=0: opened.append(spec))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (["/v/a.mp4", "/v/b.mp4"], "")))
    window.act_open_several.trigger()
    monkeypatch.setattr(QInputDialog, "getMultiLineText",
                        staticmethod(lambda *a, **k: ("rtsp://h/1\n\nrtsp://h/2\n0\n", True)))
    window.act_open_urls.trigger()
    window.url_edit.setText("rtsp://h/3  rtsp://h/4")
    window.btn_url.click()
    window.url_edit.setText("rtsp://h/5")
    window.btn_url.click()
    assert opened == [["/v/a.mp4", "/v/b.mp4"], ["rtsp://h/1", "rtsp://h/2", 0], ["rtsp://h/3", "rtsp://h/4"],
                      "rtsp://h/5"]


# ------------------------------------------------------------------------------- segmentation, Triton



@pytest.fixture
def bare_window(qtbot, qapp, config, tmp_path):
    """A window with no model yet (the model panel builds one); the shared estimator stays out of it."""
    from gui.main_window import MainWindow

    win = MainWindow(config, output_dir=tmp_path, load_model=False)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    assert win.wait_for_threads(30.0)
    win.release_models()


def _choose(combo, text: str) -> None:
    """Pick ``text`` in a combo box as a user does (``activated`` is what the viewer listens to)."""
    index = combo.findText(text)
    assert index >= 0, text
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def _bare_overlay(win) -> None:
    for box in (win.show_hud, win.show_boxes, win.show_keypoints):
        box.setChecked(False)


def test_segmentation_toggles_are_greyed_out_without_segmentation(window):
    from gui.segview import NEEDS_SEG

    assert window.seg_combo.currentText() == "off"
    for widget in (window.show_masks, window.show_seg_parts, window.background_combo, window.act_masks,
                   window.act_seg_parts):
        assert not widget.isEnabled()
    assert window.show_masks.toolTip() == NEEDS_SEG == window.background_combo.toolTip()
    assert "Segment row" in NEEDS_SEG
    assert not window.server_row.isVisible()  # the torch backend: no server field
    shortcuts = {a.shortcut().toString() for a in window.actions()}
    assert {"M", "P"} <= shortcuts


def test_person_segmentation_is_chosen_in_the_model_panel_and_blurs_the_background(qtbot, bare_window,
                                                                                    seg_weights):
    from gui.segview import NEEDS_PARTS, seg_mode
    from rtpose.io.render import apply_background, draw_masks

    win = bare_window
    win.load_seg_weights(str(seg_weights["voc"]))  # segmentation still off: nothing rebuilt
    assert win.config.seg is None and win.seg_weights_label.full_text() == "hrnetv2_w18_voc.pth"
    _choose(win.seg_combo, "person")
    qtbot.waitUntil(lambda: seg_mode(win.estimator) == "person", timeout=90_000)
    assert win.config.seg == "person" and win.config.seg_weights == str(seg_weights["voc"])
    assert "seg person" in win.model_label.text()
    assert win.show_masks.isEnabled() and win.background_combo.isEnabled()
    assert not win.show_seg_parts.isEnabled() and win.show_seg_parts.toolTip() == NEEDS_PARTS
    win.estimator.segmenter.input_size = 160  # a small input keeps the frame quick on two cores
    _bare_overlay(win)
    _choose(win.background_combo, "Blur")
    win.open_source(str(BUS))
    _wait_frames(qtbot, win, 1)
    result = win.last_result
    frame = result.frame.image
    assert result.person_mask is not None and result.person_mask.shape == frame.shape[:2]
    expected = draw_masks(apply_background(frame.copy(), result, "blur"), result)
    np.testing.assert_array_equal(win.last_annotated, expected)
    assert not np.array_equal(win.last_annotated, frame)
    # Segmentation off: the model is rebuilt without it, the toggles grey out and draw nothing.
    _choose(win.seg_combo, "off")
    qtbot.waitUntil(lambda: win.estimator is not None and seg_mode(win.estimator) is None, timeout=90_000)
    assert win.config.seg is None and win.config.seg_weights is None
    assert not win.background_combo.isEnabled() and win.background_combo.currentText() == "Blur"
    np.testing.assert_array_equal(win.last_annotated, frame)


def test_body_parts_masks_and_background_redraw_as_the_library_draws(qtbot, qapp, config, seg_weights, tmp_path,
                                                                      monkeypatch):
    import cv2
    from PyQt5.QtGui import QColor
    from PyQt5.QtWidgets import QColorDialog, QFileDialog

    from gui.main_window import MainWindow
    from rtpose.io.render import apply_background, draw_masks
    from rtpose.pose.factory import build_estimator
    from tests.conftest import DATA

    parts_config = dataclasses.replace(config, seg="parts", seg_weights=str(seg_weights["lip"]))
    estimator = build_estimator(parts_config)
    estimator.segmenter.input_size = 160
    win = MainWindow(parts_config, output_dir=tmp_path, load_model=False)
    qtbot.addWidget(win)
    win.set_estimator(estimator, parts_config)
    win.show()
    assert win.seg_combo.currentText() == "parts" and win.seg_weights_label.full_text() == "hrnetv2_w18_lip.pth"
    assert win.show_masks.isEnabled() and win.show_seg_parts.isEnabled() and win.background_combo.isEnabled()
    _bare_overlay(win)
    win.open_source(str(BUS))
    _wait_frames(qtbot, win, 1)
    result = win.last_result
    frame = result.frame.image
    people = result.masks.any(axis=0)
    assert result.part_map is not None and people.any() and not people.all()

    def shown_is(expected):
        np.testing.assert_array_equal(win.last_annotated, expected)

    shown_is(draw_masks(frame.copy(), result))  # by default the parts, as 'rtpose run --seg parts' draws
    win.act_seg_parts.trigger()  # P: the parts off, each person's mask in their track colour
    assert not win.show_seg_parts.isChecked()
    masks = draw_masks(frame.copy(), result.replace(part_map=None))
    shown_is(masks)
    assert not np.array_equal(masks, draw_masks(frame.copy(), result))
    assert not np.array_equal(masks[people], frame[people]) and np.array_equal(masks[~people], frame[~people])
    win.act_masks.trigger()  # M: no masks either
    shown_is(frame)

    _choose(win.background_combo, "Blur")
    shown_is(apply_background(frame.copy(), result, "blur"))
    assert np.array_equal(win.last_annotated[people], frame[people])  # the people stay sharp
    assert not np.array_equal(win.last_annotated[~people], frame[~people])
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor("#00ff00")))
    _choose(win.background_combo, "Colour…")
    assert (win.last_annotated[~people] == (0, 255, 0)).all()  # BGR green
    assert win.background_combo.currentText() == "Colour #00ff00…"
    picture = DATA / "images" / "zidane.jpg"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(picture), "")))
    _choose(win.background_combo, "Image…")
    replaced = apply_background(frame.copy(), result, cv2.imread(str(picture)))
    shown_is(replaced)
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a picture")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(notes), "")))
    _choose(win.background_combo, "Image zidane.jpg…")
    assert "is not an image OpenCV can read" in win.view.banner
    assert win.background_combo.currentText() == "Image zidane.jpg…"
    shown_is(replaced)  # the previous background stays
    win.act_masks.trigger()
    win.act_seg_parts.trigger()
    shown_is(draw_masks(replaced.copy(), result))
    # A snapshot (Ctrl+S) is what is shown.
    path = win.snapshot(tmp_path / "parts.png")
    np.testing.assert_array_equal(cv2.imread(str(path)), win.last_annotated)
    win.close()
    assert win.wait_for_threads(30.0)
    win.release_models()


def test_triton_server_field_and_a_refused_connection_in_the_banner(qtbot, bare_window):
    from PyQt5.QtCore import Qt

    from tests.support.triton_server import free_port

    win = bare_window
    if win.backend_combo.findText("triton") < 0:
        pytest.skip("tritonclient is not installed: the backend list has no triton")
    assert not win.server_row.isVisible()
    _choose(win.backend_combo, "triton")
    assert win.server_row.isVisible() and win.focusWidget() is win.server_edit  # ready to type in
    assert win.config.backend == "torch" and not win.loader.busy  # nothing built before a server is typed
    address = f"127.0.0.1:{free_port()}"  # nobody listens there
    qtbot.keyClicks(win.server_edit, address)
    qtbot.keyClick(win.server_edit, Qt.Key_Return)
    qtbot.waitUntil(lambda: win.model_error is not None, timeout=60_000)
    banner = win.view.banner
    assert banner.startswith(f"Model: The Triton server {address} is not reachable"), banner
    assert "\n" not in banner and "Traceback" not in banner
    assert win.config.backend == "triton" and win.config.server == address and win.estimator is None
    # The viewer stays usable: back to torch, a model is built and an image is shown.
    _choose(win.backend_combo, "torch")
    assert not win.server_row.isVisible()
    qtbot.waitUntil(lambda: win.estimator is not None, timeout=90_000)
    assert win.view.banner is None
    win.open_source(str(BUS))
    _wait_frames(qtbot, win, 1)


def test_command_line_preselects_segmentation_triton_and_background(qapp, monkeypatch, seg_weights):
    from gui import app
    from gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "reload_model", lambda self: None)
    args = app.build_parser().parse_args(["--backend", "triton", "--server", "gpu1:8001,gpu2:8001", "--seg", "person",
                                          "--seg-weights", str(seg_weights["voc"]), "--background", "blur",
                                          "--detector", str(DETECTOR_WEIGHTS)])
    app.check_background(args)
    win = app.create_window(args)
    try:
        assert win.backend_combo.currentText() == "triton" and not win.server_row.isHidden()
        assert win.server_edit.text() == "gpu1:8001,gpu2:8001"
        assert win.seg_combo.currentText() == "person" and win.seg_weights_label.full_text() == "hrnetv2_w18_voc.pth"
        assert win.background_combo.currentText() == "Blur"
    finally:
        win.close()


@pytest.mark.parametrize(("flags", "words"), [
    (["--background", "blur"], "--background needs --seg person or --seg parts."),
    (["--seg", "person", "--background", "pink"], "--background pink: give 'blur', a colour"),
])
def test_a_background_that_cannot_work_is_one_sentence_before_anything_starts(flags, words):
    proc = subprocess.run([sys.executable, "-m", "gui", *flags], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DISPLAY": ""})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("mode", ["skeleton", "faces"])
def test_privacy_reaches_what_the_viewer_shows_records_and_snapshots(qtbot, qapp, config, estimator, tmp_path, mode):
    """rtpose gui --privacy: the picture shown, each recorded frame and the snapshot are private alike."""
    import cv2

    from gui.main_window import MainWindow
    from rtpose.io.privacy import PLAIN_BACKGROUND, apply_privacy

    win = MainWindow(config, output_dir=tmp_path, load_model=False, privacy=mode)
    win.set_estimator(estimator, config)
    qtbot.addWidget(win)
    win.show()
    try:
        win.open_source(str(VIDEO_MULTI))
        _wait_frames(qtbot, win, 1)
        assert win.start_recording(tmp_path / "private.mp4")
        shown = win.frames_shown
        qtbot.waitUntil(lambda: win.frames_shown >= shown + 3, timeout=60_000)
        recording = win.stop_recording()
        for box in (win.show_boxes, win.show_keypoints, win.show_ids, win.show_hud):
            box.setChecked(False)  # the bare picture: what privacy made of the frame, nothing drawn on it
        win._rerender()
        snapshot = cv2.imread(str(win.snapshot(tmp_path / "private.png")))
        result, kpt_thr = win.last_result, win.kpt_slider.value()
    finally:
        win.close()
        assert win.wait_for_threads(30.0)
    expected = apply_privacy(result.image.copy(), result, mode, kpt_thr=kpt_thr)
    assert snapshot is not None and np.array_equal(snapshot, expected)
    assert not np.array_equal(expected, result.image)  # and privacy did change the picture
    capture = cv2.VideoCapture(str(recording))
    ok, recorded = capture.read()
    capture.release()
    assert ok
    plain = (np.abs(recorded.astype(int) - PLAIN_BACKGROUND).max(axis=-1) <= 12).mean()  # (a lossy video)
    assert plain > 0.6 if mode == "skeleton" else plain < 0.05


def test_a_recording_or_snapshot_onto_an_input_is_refused_and_the_input_kept(qtbot, window, config, tmp_path):
    """The viewer's outputs follow the command line's one path check: never onto the source or the weights."""
    import shutil

    video = tmp_path / "input.avi"
    shutil.copyfile(VIDEO_MULTI, video)
    before, weights_before = video.read_bytes(), Path(config.weights).read_bytes()
    window.open_source(str(video))
    _wait_frames(qtbot, window, 1)
    assert not window.start_recording(video) and window.recorder is None
    assert window.snapshot(config.weights) is None
    assert video.read_bytes() == before and Path(config.weights).read_bytes() == weights_before
    assert window.start_recording(tmp_path / "fine.mp4")  # and elsewhere they work
    assert window.stop_recording() is not None
