"""Issue 19: nothing lost, nothing run that should not be (hostile files, full disks, clashing paths, races).

Everything runs the way a user runs it: the real CLI in a subprocess or in-process, a real pickle, a
real ``RLIMIT_FSIZE``-limited process for a full disk, real racing processes, a real HTTP server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtpose.cli import main
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
    from rtpose.pose.detector import PersonDetector, check_detector_pickle

    check_detector_pickle(DETECTOR_WEIGHTS)  # no refusal
    assert PersonDetector(DETECTOR_WEIGHTS, device="cpu", runtime="torch").runtime == "torch"


def test_a_trusted_detector_file_is_loaded_the_unsafe_way(tmp_path, evil_detector, monkeypatch):
    """The user's word (``RTPOSE_TRUST_DETECTOR=1``, what ``--trust-detector`` sets) skips the refusal."""
    from rtpose.errors import WeightsError
    from rtpose.pose.detector import check_detector_pickle

    evil, _marker = evil_detector
    with pytest.raises(WeightsError):
        check_detector_pickle(evil)
    monkeypatch.setenv("RTPOSE_TRUST_DETECTOR", "1")
    check_detector_pickle(evil)  # no refusal: Ultralytics' own load decides


# -- 2. a full disk -------------------------------------------------------------------------------------


def _keep_pytorch_detector(engines: Path) -> Path:
    """An engines folder whose cached decision for the detector is "PyTorch measured faster" (no export made)."""
    import json

    from rtpose.export.detector import FORMAT, export_folder, sidecar_of
    from rtpose.utils.hashing import file_sha256

    sha = file_sha256(DETECTOR_WEIGHTS)
    folder = export_folder(DETECTOR_WEIGHTS, sha, engines)
    folder.mkdir(parents=True)
    (folder / "model.xml").write_text("<net/>")
    sidecar_of(folder).write_text(json.dumps({"format": FORMAT, "detector_sha256": sha, "imgsz": 640,
                                              "faster": "torch", "measured_ms": {"torch": 1.0, "openvino": 2.0}}))
    return engines


def _limited(max_bytes: int):
    """``preexec_fn`` of a process whose files cannot grow past ``max_bytes`` (EFBIG, as on a full disk)."""
    import resource
    import signal

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


def _noise_video(path: Path, frames: int = 80) -> Path:
    """Frames of random noise (no people, large to encode): a video that fills a disk quickly."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture()
def run_env(tmp_path, small_weights):
    engines = _keep_pytorch_detector(tmp_path / "engines")
    env = _env(RTPOSE_CACHE=str(tmp_path / "cache"), RTPOSE_ENGINES=str(engines))
    model = ["--weights", str(small_weights), "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu",
             "--backend", "torch", "--no-show"]
    return env, model


def test_a_full_disk_stops_the_video_with_a_sentence_and_a_playable_file(tmp_path, run_env):
    from tests.support.cli_helpers import count_video_frames

    env, model = run_env
    source, out = _noise_video(tmp_path / "noise.avi"), tmp_path / "out" / "out.mp4"
    out.parent.mkdir()
    proc = rtpose("--source", str(source), *model, "--save", str(out), env=env, preexec_fn=_limited(1_500_000))
    assert proc.returncode == 1, proc.stderr
    line = _one_sentence(proc)
    assert f"Could not write {out}: the file size limit" in line and "the file is valid" in line
    claimed = int(line.split("the first ")[1].split(" frames")[0])
    assert 0 < claimed < 80 and count_video_frames(out) == claimed  # playable, holding what was claimed
    assert "wrote" not in proc.stderr and "[ WARN" not in proc.stderr and "moov" not in proc.stderr


def test_a_full_disk_stops_json_lines_with_a_sentence_and_valid_lines(tmp_path, run_env):
    import json

    from tests.conftest import VIDEO_MULTI

    env, model = run_env
    out = tmp_path / "out.jsonl"
    proc = rtpose("--source", str(VIDEO_MULTI), *model, "--max-frames", "30", "--json", str(out), env=env,
                  preexec_fn=_limited(6_000))
    assert proc.returncode == 1, proc.stderr
    line = _one_sentence(proc)
    assert f"Could not write {out}: the file size limit was reached" in line and "valid JSON Lines" in line
    records = [json.loads(text) for text in out.read_text().splitlines()]  # every line complete
    claimed = int(line.split("the first ")[1].split(" frames")[0])
    assert records[0]["schema"] == "rtpose.poses" and len(records) - 1 == claimed < 30
    assert out.read_text().endswith("\n")


def test_json_dash_writes_standard_output(tmp_path, run_env):
    import json

    from tests.conftest import VIDEO_MULTI

    env, model = run_env
    proc = rtpose("--source", str(VIDEO_MULTI), *model, "--max-frames", "2", "--json", "-", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(text) for text in proc.stdout.splitlines()]
    assert records[0]["schema"] == "rtpose.poses" and [r["frame"] for r in records[1:]] == [0, 1]
    assert not (tmp_path / "-").exists()


# -- 3. outputs that would destroy inputs or each other ------------------------------------------------


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    """No cached weights and no server: a case that reached the model would fail on the download instead."""
    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RTPOSE_WEIGHTS_URL", "http://127.0.0.1:9/")


def test_save_over_the_source_video_is_refused_and_the_input_kept(tmp_path, offline, capsys):
    from tests.support.cli_helpers import count_video_frames, one_error_line

    video = _noise_video(tmp_path / "v.avi", frames=12)
    link = tmp_path / "link.avi"
    link.symlink_to(video)
    for save in (video, link, tmp_path / "." / "v.avi"):
        assert main(["--source", str(video), "--no-show", "--save", str(save)]) == 1
        line = one_error_line(capsys)
        assert "is the --source file: writing it would destroy the input" in line
    assert count_video_frames(video) == 12


def test_save_and_json_on_one_path_are_refused(tmp_path, offline, capsys):
    from tests.support.cli_helpers import one_error_line

    out = tmp_path / "x.jsonl"
    (tmp_path / "y.jsonl").symlink_to(out)
    for json_path in (out, tmp_path / "y.jsonl"):
        assert main(["--source", str(BUS), "--no-show", "--save", str(out), "--json", str(json_path)]) == 1
        assert "--save and --json both name" in one_error_line(capsys)
    assert not out.exists()


def test_eval_out_over_the_annotations_is_refused_and_they_are_kept(tmp_path, offline, capsys):
    from tests.conftest import DATA
    from tests.support.cli_helpers import one_error_line

    ann = tmp_path / "A.json"
    ann.write_bytes((DATA / "eval" / "example_coco_val.json").read_bytes())
    before = ann.read_bytes()
    assert main(["eval", "--ann", str(ann), "--images", str(tmp_path), "--out", str(ann)]) == 1
    assert "--out" in (line := one_error_line(capsys)) and "is the --ann file" in line
    assert ann.read_bytes() == before


def test_export_onnx_over_its_weights_is_refused(tmp_path, offline, small_weights, capsys):
    from tests.support.cli_helpers import one_error_line

    weights = tmp_path / "w.onnx"
    weights.write_bytes(small_weights.read_bytes())
    assert main(["export-onnx", "--weights", str(weights), "--out", str(weights)]) == 1
    assert "is the --weights file" in one_error_line(capsys)
    assert weights.read_bytes() == small_weights.read_bytes()


# -- 4. processes racing on an empty engines folder ----------------------------------------------------


@pytest.mark.slow
def test_processes_started_together_on_an_empty_engines_folder_all_run_and_export_once(tmp_path, small_weights):
    """Three cameras started together (one process each) on one empty engines folder: the real CLI, racing."""
    engines = tmp_path / "engines"
    env = _env(RTPOSE_CACHE=str(tmp_path / "cache"), RTPOSE_ENGINES=str(engines))
    command = [sys.executable, "-m", "rtpose", "--source", str(BUS), "--weights", str(small_weights),
               "--detector", str(DETECTOR_WEIGHTS), "--backend", "onnxruntime", "--device", "cpu", "--no-show"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    for code, err in outcomes:
        assert code == 0 and "Traceback" not in err and "rtpose: error" not in err, err
        assert "people in bus.jpg" in err
    names = sorted(p.name for p in engines.iterdir() if not p.name.endswith(".lock"))
    onnx = [n for n in names if n.endswith(".onnx")]
    assert len(onnx) == 1 and f"{onnx[0]}.json" in names
    assert len([n for n in names if n.endswith("_openvino_model")]) == 1
    assert not [n for n in names if n.endswith((".part", ".tmp")) or n.startswith(".detector-export-")], names
    exports = sum(err.count("exporting it once") + err.count("exports it once") for _code, err in outcomes)
    assert exports == 2  # one HRNet export and one detector export, whichever process made them


# -- 6. stops that are honoured, leftovers that are cleaned ----------------------------------------------


def _start_and_wait_for(command: list[str], env: dict, words: str) -> subprocess.Popen:
    """Start ``command`` and return once a line of its stderr holds ``words`` (the step to interrupt began)."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if words in line:
            return proc
    proc.wait()
    raise AssertionError(f"{words!r} never came:\n{''.join(seen)}")


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(2, 130), (15, 143)])
def test_a_stop_signal_during_the_detector_export_stops_it_and_leaves_nothing(tmp_path, small_weights, signum, code):
    engines = tmp_path / "engines"
    env = _env(RTPOSE_CACHE=str(tmp_path / "cache"), RTPOSE_ENGINES=str(engines))
    command = [sys.executable, "-m", "rtpose", "--source", str(BUS), "--weights", str(small_weights),
               "--detector", str(DETECTOR_WEIGHTS), "--backend", "torch", "--device", "cpu", "--no-show"]
    proc = _start_and_wait_for(command, env, "Ultralytics exports it once")
    proc.send_signal(signum)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == code, rest
    assert "Traceback" not in rest and "people in bus.jpg" not in rest  # stopped, not run to the end
    assert "while exporting the detector" in rest
    leftovers = [p.name for p in engines.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == [], leftovers  # no temporary folder, no half export


def test_ctrl_c_while_a_stream_does_not_answer_stops_at_once(tmp_path, small_weights):
    import signal
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    url = f"http://127.0.0.1:{server.getsockname()[1]}/live"
    env = _env(RTPOSE_CACHE=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "rtpose", "--source", url, "--timeout", "300", "--no-show",
                             "--weights", str(small_weights)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        connection, _ = server.accept()  # rtpose is connecting; the server never answers
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130  # well before the 300 s --timeout
        assert "Traceback" not in proc.stderr.read()
        connection.close()
    finally:
        proc.kill()
        server.close()


def test_cache_lists_and_cleans_the_detector_export_and_what_killed_exports_left(tmp_path):
    engines = tmp_path / "engines"
    export = engines / "yolov8n-person_0123456789ab_openvino_model"
    export.mkdir(parents=True)
    (export / "model.bin").write_bytes(b"\0" * 3_000_000)
    (export / "model.xml").write_text("<net/>")
    (engines / f"{export.name}.json").write_text('{"format": "ultralytics-openvino"}')  # its sidecar
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    (engines / f".detector-export-{dead}-abc123").mkdir()
    (engines / f".detector-export-{dead}-abc123" / "x.pt").write_bytes(b"\0" * 1000)
    (engines / f".hrnet_w18_x.onnx.{dead}.0123abcd.part").write_bytes(b"\0" * 1000)
    running = engines / f".detector-export-{os.getpid()}-def456"  # this test's own process: an export in progress
    running.mkdir()
    env = _env(RTPOSE_ENGINES=str(engines), RTPOSE_CACHE=str(tmp_path / "cache"))
    listed = rtpose("cache", env=env)
    assert listed.returncode == 0 and "exports:" in listed.stdout and "(4 files, 3.0 MB)" in listed.stdout
    assert f"{export.name}/" in listed.stdout and ".detector-export-" in listed.stdout
    cleaned = rtpose("cache", "clean", env=env)
    assert cleaned.returncode == 0 and "removed 4 files, 3.0 MB" in cleaned.stderr
    assert sorted(p.name for p in engines.iterdir()) == [running.name]


# -- 5. downloads without limits -------------------------------------------------------------------------


@pytest.fixture()
def hostile_server():
    """A real HTTP server on 127.0.0.1: ``/endless/…`` never stops sending (no Content-Length), ``/trickle/…``
    sends one byte a second. Yields the base URL; the path's first part picks the behaviour."""
    import http.server
    import threading
    import time

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            try:
                while not stop.is_set():
                    if self.path.startswith("/endless/"):
                        self.wfile.write(b"\0" * 65536)
                    else:
                        self.wfile.write(b"\0")
                        self.wfile.flush()
                        time.sleep(1.0)
            except OSError:
                pass  # the client went away

    stop = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()


def _weights_cache(tmp_path) -> Path:
    return tmp_path / "cache" / "weights"


def test_an_endless_download_stops_at_the_size_the_file_can_have(tmp_path, hostile_server, monkeypatch):
    from dataclasses import replace

    from rtpose.errors import WeightsError
    from rtpose.weights.registry import download, get_entry

    entry = replace(get_entry("hrnet_w32_coco_256x192"), max_bytes=5_000_000)
    with pytest.raises(WeightsError) as info:
        download(entry, cache=_weights_cache(tmp_path), base_url=f"{hostile_server}/endless/", progress=False)
    assert "went past 5 MB, more than this file can be" in str(info.value)
    assert list(_weights_cache(tmp_path).iterdir()) == []  # no partial file
    assert get_entry("hrnet_w48_coco_256x192").size_limit < 10**9  # every registry entry has a cap


def test_an_endless_download_on_a_full_disk_says_the_disk_is_full(tmp_path, hostile_server):
    proc = rtpose("weights", "download", "hrnet_w32_coco_256x192", "--base-url", f"{hostile_server}/endless/",
                  env=_env(RTPOSE_CACHE=str(tmp_path / "cache")), preexec_fn=_limited(2_000_000))
    assert proc.returncode == 1
    line = _one_sentence(proc)
    assert "the file size limit was reached" in line and "check the network" not in line
    assert list(_weights_cache(tmp_path).iterdir()) == []


def test_a_trickling_download_has_a_deadline_and_leaves_nothing(tmp_path, hostile_server):
    proc = rtpose("weights", "download", "hrnet_w32_coco_256x192", "--base-url", f"{hostile_server}/trickle/",
                  env=_env(RTPOSE_CACHE=str(tmp_path / "cache"), RTPOSE_DOWNLOAD_DEADLINE="3"))
    assert proc.returncode == 1
    assert "did not finish within 3 s" in _one_sentence(proc)
    assert list(_weights_cache(tmp_path).iterdir()) == []


def test_sigterm_during_a_download_removes_the_partial_file(tmp_path, hostile_server):
    import signal
    import time

    cache = _weights_cache(tmp_path)
    command = [sys.executable, "-m", "rtpose", "weights", "download", "hrnet_w32_coco_256x192", "--base-url",
               f"{hostile_server}/trickle/"]
    proc = subprocess.Popen(command, env=_env(RTPOSE_CACHE=str(tmp_path / "cache")), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        while not (cache.is_dir() and any(cache.iterdir())):  # the download has begun
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
        assert "Traceback" not in proc.stderr.read()
        assert list(cache.iterdir()) == []
    finally:
        proc.kill()


# -- 7. smaller ones -------------------------------------------------------------------------------------


def _example_annotations(tmp_path, change) -> Path:
    import json

    from tests.conftest import DATA

    data = json.loads((DATA / "eval" / "example_coco_val.json").read_text())
    change(data)
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def test_eval_on_annotations_with_wrong_keypoint_lists_is_one_sentence(tmp_path, capsys):
    from tests.conftest import DATA
    from tests.support.cli_helpers import one_error_line

    def cut(data) -> None:
        person = next(a for a in data["annotations"] if a.get("num_keypoints"))
        person["keypoints"] = person["keypoints"][:-3]

    ann = _example_annotations(tmp_path, cut)
    assert main(["eval", "--ann", str(ann), "--results", str(DATA / "eval" / "example_coco_preds.json")]) == 1
    line = one_error_line(capsys)
    assert "has 48 keypoint numbers, but coco annotations have 51" in line


def test_eval_on_annotations_without_people_says_so_instead_of_minus_ones(tmp_path, capsys):
    from tests.conftest import DATA
    from tests.support.cli_helpers import one_error_line

    def unlabel(data) -> None:
        for a in data["annotations"]:
            a["keypoints"] = [0] * 51
            a["num_keypoints"] = 0

    ann = _example_annotations(tmp_path, unlabel)
    assert main(["eval", "--ann", str(ann), "--results", str(DATA / "eval" / "example_coco_preds.json")]) == 1
    assert "has no person with labelled keypoints" in one_error_line(capsys)
    assert "-1.0" not in capsys.readouterr().out


@pytest.mark.parametrize("override, words", [("train.lr=abc", "train.lr is a number (now 0.001), not 'abc'"),
                                             ("train.amp=maybe", "train.amp is true or false, not 'maybe'"),
                                             ("train.lr_steps=5", "train.lr_steps is a list")])
def test_a_training_override_of_the_wrong_kind_is_one_sentence(tmp_path, override, words):
    proc = subprocess.run([sys.executable, "-m", "train.fit", "--set", override, "--data-root", str(tmp_path),
                           "--output", str(tmp_path / "o")], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.fit: error: ") and words in lines[0], proc.stderr


def test_a_training_override_that_is_a_number_in_yaml_1_1_spelling_is_a_number():
    from train.config import load_config, merged, parse_override

    key, value = parse_override("train.lr=5e-4")  # YAML 1.1 reads this as a string
    assert merged(load_config(), {key: value})["train"]["lr"] == pytest.approx(5e-4)
