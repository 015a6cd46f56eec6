"""``rtpose export-triton`` fails in one sentence and leaves the repository as it was (issues 28 and 29).

The real command in a subprocess, with no network (a proxy on a closed port for Ultralytics' download),
real files, and a repository that already holds a model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DETECTOR_WEIGHTS, ROOT

EVIL = '''
import os, sys, torch
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
torch.save({"model": Evil()}, sys.argv[1])
'''


def _env(tmp_path: Path) -> dict[str, str]:
    """This checkout's code, its own caches, and no way out to the internet (downloads fail at once)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               RTPOSE_CACHE=str(tmp_path / "cache"), RTPOSE_ENGINES=str(tmp_path / "engines"),
               YOLO_CONFIG_DIR=str(tmp_path / "ultralytics"))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env[name] = "http://127.0.0.1:9"
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return env


def export_triton(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    work = tmp_path / "work"  # an empty current directory: no yolov8n.pt lies around
    work.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "rtpose", "export-triton", *args], capture_output=True, text=True,
                          cwd=work, env=_env(tmp_path), timeout=600)


def one_sentence(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("rtpose: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part") or "stage" in p.name)


def test_offline_default_detector_is_one_sentence_and_writes_nothing(tmp_path, small_weights):
    repo = tmp_path / "repo"
    line = one_sentence(export_triton(tmp_path, "--weights", str(small_weights), "--repo", str(repo)))
    assert "yolov8n.pt" in line and "--detector" in line and "--no-detector" in line
    assert not repo.exists()  # not even an empty folder
    assert leftovers(tmp_path) == []


def test_a_failed_export_leaves_an_existing_repository_as_it_was(tmp_path, small_weights):
    repo = tmp_path / "repo"
    (repo / "hrnet_pose" / "1").mkdir(parents=True)
    (repo / "hrnet_pose" / "config.pbtxt").write_text('name: "hrnet_pose"  # the one being served\n')
    (repo / "hrnet_pose" / "1" / "model.onnx").write_bytes(b"served model")
    (repo / "other_model").mkdir()
    (repo / "other_model" / "config.pbtxt").write_text("someone else's\n")
    before = tree(repo)
    one_sentence(export_triton(tmp_path, "--weights", str(small_weights), "--repo", str(repo)))
    assert tree(repo) == before
    assert leftovers(tmp_path) == [] and leftovers(repo) == []


def test_a_refused_detector_is_one_sentence_before_the_pose_model_is_written(tmp_path, small_weights):
    evil, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    subprocess.run([sys.executable, "-c", EVIL, str(evil), str(marker)], check=True)
    repo = tmp_path / "repo"
    line = one_sentence(export_triton(tmp_path, "--weights", str(small_weights), "--repo", str(repo),
                                      "--detector", str(evil)))
    assert "can only be loaded unsafely" in line and "--trust-detector" in line
    assert not marker.exists() and not repo.exists()


def test_a_missing_engine_is_one_sentence_before_anything_is_written(tmp_path, small_weights):
    repo = tmp_path / "repo"
    line = one_sentence(export_triton(tmp_path, "--weights", str(small_weights), "--repo", str(repo),
                                      "--engine", str(tmp_path / "model.plan"), "--no-detector"))
    assert "--engine" in line and "model.plan" in line and "does not exist" in line
    assert not repo.exists()


@pytest.mark.parametrize("where", ["file", "under_a_file", "too_long", "proc"])
def test_a_repository_that_cannot_be_written_is_one_sentence(tmp_path, small_weights, where):
    target = tmp_path / "taken"
    target.write_text("a file of the user's\n")
    repo = {"file": target, "under_a_file": target / "repo", "too_long": tmp_path / ("r" * 300),
            "proc": Path("/proc/rtpose-repo")}[where]
    line = one_sentence(export_triton(tmp_path, "--weights", str(small_weights), "--repo", str(repo),
                                      "--no-detector"))
    assert "model repository" in line
    assert target.read_text() == "a file of the user's\n"
    assert leftovers(tmp_path) == []


def test_a_read_only_repository_folder_is_one_sentence(tmp_path, small_weights):
    if os.geteuid() == 0:
        pytest.skip("root writes in read-only folders (the /proc case above covers a place nobody can write)")
    repo = tmp_path / "repo"
    repo.mkdir()
    repo.chmod(0o555)
    try:
        line = one_sentence(export_triton(tmp_path, "--weights", str(small_weights), "--repo", str(repo),
                                          "--no-detector"))
    finally:
        repo.chmod(0o755)
    assert "model repository" in line and list(repo.iterdir()) == []


def test_a_complete_export_replaces_the_models_and_keeps_the_others(tmp_path, small_weights):
    repo = tmp_path / "repo"
    (repo / "hrnet_pose" / "1").mkdir(parents=True)
    (repo / "hrnet_pose" / "1" / "stale.onnx").write_bytes(b"old")
    (repo / "other_model").mkdir()
    (repo / "other_model" / "config.pbtxt").write_text("someone else's\n")
    proc = export_triton(tmp_path, "--weights", str(small_weights), "--repo", str(repo), "--detector",
                         str(DETECTOR_WEIGHTS), "--python-backend")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(repo / "hrnet_pose"), str(repo / "yolo_detector")]
    assert sorted(tree(repo / "hrnet_pose")) == ["1/model.onnx", "1/model.py", "config.pbtxt"]  # stale.onnx went
    assert sorted(tree(repo / "yolo_detector")) == ["1/model.onnx", "1/model.py", "config.pbtxt"]
    assert (repo / "other_model" / "config.pbtxt").read_text() == "someone else's\n"
    assert leftovers(tmp_path) == [] and leftovers(repo) == []
