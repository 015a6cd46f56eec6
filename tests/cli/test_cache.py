"""``rtpose cache clean`` removes only what rtpose made; the engines folder lives in the user cache (issue 29, 5).

Real files in real folders, the real command in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("RTPOSE_ENGINES", None)
    env.update(extra)
    return env


def rtpose(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rtpose", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def rtpose_artefacts(engines: Path) -> set[str]:
    """What rtpose's writers leave in an engines folder: exports with their sidecars, an engine, the timing cache,
    a detector export, and the temporary files and folders of killed writers."""
    from rtpose.export.sidecar import write_sidecar

    engines.mkdir(parents=True, exist_ok=True)
    onnx = engines / "hrnet_w32_0123456789ab_256x192_fp32.onnx"
    onnx.write_bytes(b"\0" * 1000)
    write_sidecar(onnx, {"format": "onnx", "input_size": [256, 192]})
    engine = engines / "hrnet_w32_0123456789ab_256x192_fp16.engine"
    engine.write_bytes(b"\0" * 1000)
    write_sidecar(engine, {"format": "tensorrt"})
    (engines / "timing.cache").write_bytes(b"\0" * 10)
    export = engines / "yolov8n_0123456789ab_openvino_model"
    export.mkdir()
    (export / "model.xml").write_text("<net/>")
    (engines / f"{export.name}.json").write_text(json.dumps({"format": "ultralytics-openvino", "file": export.name}))
    dead = dead_pid()
    (engines / f".{onnx.name}.{dead}.0123abcd.part").write_bytes(b"\0" * 10)
    (engines / f".detector-export-{dead}-xyz").mkdir()
    (engines / f".rtpose-stage.{dead}.89abcdef.part").mkdir()
    return {onnx.name, f"{onnx.name}.json", engine.name, f"{engine.name}.json", "timing.cache", export.name,
            f"{export.name}.json", f".{onnx.name}.{dead}.0123abcd.part", f".detector-export-{dead}-xyz",
            f".rtpose-stage.{dead}.89abcdef.part"}


def users_files(folder: Path) -> set[str]:
    """Files of the user's that look like rtpose's but that rtpose did not make."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "my.onnx").write_bytes(b"the user's model")
    (folder / "important.part").write_text("half a download of the user's")
    (folder / "my_openvino_model").mkdir()
    (folder / "my_openvino_model" / "model.xml").write_text("<net/>")
    (folder / "notes.json").write_text('{"mine": true}')
    (folder / "other.engine").write_bytes(b"an engine built by hand")
    (folder / "other.engine.json").write_text('{"file": "something else"}')  # a sidecar that does not name it
    (folder / "model.pth").write_bytes(b"a checkpoint of the user's")
    (folder / f".backup.{os.getpid()}.0123abcd.part").write_text("a running writer's")  # this process: alive
    return {"my.onnx", "important.part", "my_openvino_model", "notes.json", "other.engine", "other.engine.json",
            "model.pth", f".backup.{os.getpid()}.0123abcd.part"}


def test_clean_removes_only_what_rtpose_made(tmp_path):
    engines = tmp_path / "cache" / "engines"
    made = rtpose_artefacts(engines)
    kept = users_files(engines)
    env = _env(RTPOSE_CACHE=str(tmp_path / "cache"))
    listed = rtpose("cache", env=env)
    assert listed.returncode == 0, listed.stderr
    for name in kept - {f".backup.{os.getpid()}.0123abcd.part"}:
        assert f"  {name}" not in listed.stdout, name
    dry = rtpose("cache", "clean", "--dry-run", env=env)
    assert dry.returncode == 0 and f"would remove {len(made)} files" in dry.stderr
    assert {p.name for p in engines.iterdir()} == made | kept
    cleaned = rtpose("cache", "clean", env=env)
    assert cleaned.returncode == 0, cleaned.stderr
    assert {p.name for p in engines.iterdir()} == kept
    assert (engines / "my.onnx").read_bytes() == b"the user's model"
    assert (engines / "my_openvino_model" / "model.xml").read_text() == "<net/>"


def test_clean_weights_removes_registry_checkpoints_only(tmp_path):
    from rtpose.weights.registry import REGISTRY

    weights = tmp_path / "cache" / "weights"
    kept = users_files(weights)
    entry = next(e for e in REGISTRY.values() if e.downloadable)
    (weights / entry.filename).write_bytes(b"\0" * 100)
    leftover = f".{entry.filename}.{dead_pid()}.0123abcd.part"
    (weights / leftover).write_bytes(b"\0" * 10)
    cleaned = rtpose("cache", "clean", "--weights", env=_env(RTPOSE_CACHE=str(tmp_path / "cache")))
    assert cleaned.returncode == 0 and "removed 2 files" in cleaned.stderr, cleaned.stderr
    assert {p.name for p in weights.iterdir()} == kept


def test_the_engines_folder_is_in_the_user_cache_whatever_the_current_directory(tmp_path):
    (tmp_path / "somewhere").mkdir()
    env = _env(RTPOSE_CACHE=str(tmp_path / "cache"))
    listed = rtpose("cache", env=env, cwd=tmp_path / "somewhere")
    assert f"exports: {tmp_path / 'cache' / 'engines'} " in listed.stdout
    assert not (tmp_path / "somewhere" / "engines").exists()


def test_rtpose_cache_with_a_tilde_is_the_home_folder(tmp_path):
    env = _env(RTPOSE_CACHE="~/rtpose-test-cache", HOME=str(tmp_path))
    listed = rtpose("cache", env=env, cwd=tmp_path)
    assert f"weights: {tmp_path / 'rtpose-test-cache' / 'weights'} " in listed.stdout
    assert f"exports: {tmp_path / 'rtpose-test-cache' / 'engines'} " in listed.stdout


def test_an_old_engines_folder_in_the_current_directory_is_still_read_with_a_note(tmp_path, monkeypatch):
    """Exports an older rtpose made in ./engines are found (with a note) and nothing new is written there."""
    from rtpose.export import sidecar

    old = tmp_path / "project" / "engines"
    made = rtpose_artefacts(old)
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RTPOSE_ENGINES", raising=False)
    notes: list[str] = []
    monkeypatch.setattr("rtpose.log.say", notes.append)
    monkeypatch.setattr(sidecar, "_legacy_noted", set())
    assert sidecar.default_engines_dir() == tmp_path / "cache" / "engines"
    found = sidecar.find_artifacts(sidecar.default_engines_dir(), ".onnx")
    assert [p for p, _ in found] == [old.resolve() / "hrnet_w32_0123456789ab_256x192_fp32.onnx"]
    assert len(notes) == 1 and str(old.resolve()) in notes[0] and "RTPOSE_ENGINES" in notes[0]
    sidecar.find_artifacts(sidecar.default_engines_dir(), ".engine")
    assert len(notes) == 1  # said once
    assert {p.name for p in old.iterdir()} == made
    monkeypatch.setenv("RTPOSE_ENGINES", str(tmp_path / "elsewhere"))  # a folder set on purpose: only that one
    assert sidecar.find_artifacts(sidecar.default_engines_dir(), ".onnx") == []
