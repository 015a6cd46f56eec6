"""The GPU proof (benchmarks/gpu_proof.py) cannot rot: its dry run runs here, as the GPU machine would run it.

The dry run is the same command with tiny sizes: CUDA sections run on the CPU or say "no CUDA: dry
run", and it writes the same report files. A second run with a budget of a few seconds shows that the
proof stops on time and records what it cut.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import ROOT, SHARED

PROOF = ROOT / "benchmarks" / "gpu_proof.py"
SECTIONS = ["environment", "gpu_tests", "peak", "agreement", "throughput", "tensorrt", "end_to_end", "multi_stream",
            "compile"]
STATUSES = {"ok", "ok (partly cut)", "failed", "skipped", "cut", "not covered", "not available in this checkout"}
HAS_CUDA = torch.cuda.is_available()

pytestmark = pytest.mark.slow


def load_proof_module():
    spec = importlib.util.spec_from_file_location("gpu_proof_under_test", PROOF)
    module = importlib.util.module_from_spec(spec)
    saved = os.environ.get("RTPOSE_SHARED")
    try:
        spec.loader.exec_module(module)
    finally:  # the module sets $RTPOSE_SHARED for its own run: leave this process's environment as it was
        if saved is None:
            os.environ.pop("RTPOSE_SHARED", None)
        else:
            os.environ["RTPOSE_SHARED"] = saved
    return module


def run_proof(out, *extra, timeout=240):
    env = dict(os.environ, RTPOSE_SHARED=str(SHARED), PYTHONPATH=str(ROOT))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(PROOF), "--dry-run", "--out", str(out), *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - start


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("proof")
    proc, seconds = run_proof(out)
    return out, proc, seconds


def test_dry_run_writes_both_reports_with_every_section(dry_run):
    out, proc, seconds = dry_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "report.json").is_file() and (out / "report.md").is_file() and (out / "gpu_tests.log").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "rtpose.gpu_proof" and report["meta"]["dry_run"] is True
    assert list(report["sections"]) == SECTIONS
    for name, section in report["sections"].items():
        assert section["status"] in STATUSES, (name, section)
        assert section["status"] != "failed", (name, section.get("reason"), section.get("traceback"))
        assert section["elapsed_s"] <= section["budget_s"] + 30, (name, section)
    assert report["meta"]["elapsed_s"] < report["meta"]["budget_s"]
    print(f"dry run: {seconds:.1f} s")


def test_dry_run_sections_say_what_they_did(dry_run):
    out, _, _ = dry_run
    sections = json.loads((out / "report.json").read_text())["sections"]
    tests = {t["test"].split("::")[-1]: t for t in sections["gpu_tests"]["tests"]}
    # every test that skips here for want of a GPU is collected (and nothing else)
    for name in ("test_torch_cuda_fp16", "test_estimator_uses_the_device_path_on_cuda", "test_tensorrt_fp16_engine"):
        assert name in tests, sorted(tests)
    assert "test_torch_cpu" not in tests and "test_auto_picks_the_fastest_cpu_backend_and_says_why" not in tests
    if not HAS_CUDA:
        assert {t["outcome"] for t in tests.values()} == {"skipped"}
        assert "no CUDA: dry run" in sections["gpu_tests"]["reason"]
        assert sections["peak"]["reason"].startswith("no CUDA: dry run")
        assert any("no CUDA: dry run" in c for c in sections["throughput"]["cut"])
        assert sections["compile"]["status"] == "skipped" and "no CUDA: dry run" in sections["compile"]["reason"]
    if importlib.util.find_spec("tensorrt") is None:
        assert sections["tensorrt"] == {**sections["tensorrt"], "status": "not covered",
                                        "reason": "TensorRT not installed: not covered"}
    rows = sections["agreement"]["rows"]
    assert rows and all(r["ok"] for r in rows), rows
    assert any(r["path"].startswith("device path") for r in rows)
    models = sections["throughput"]["models"]
    assert [m["model"].split()[0] for m in models] == ["HRNet-W32", "HRNet-W48"]
    assert all(m["gflop_per_crop"] > 0 and m["rows"][0]["cells"]["1"]["crops_per_s"] > 0 for m in models)
    if importlib.util.find_spec("ultralytics") is not None:
        runs = sections["end_to_end"]["runs"]
        assert [r["run"].split()[0] for r in runs] == ["host", "device"]
        assert all(r["frames"] == 2 and r["people_per_frame"] > 5 and "pose" in r["stages"] for r in runs), runs
    multi = sections["multi_stream"]
    if multi["status"] == "not available in this checkout":  # the guard made a real call, no emulation
        assert multi["reason"].startswith("not available in this checkout: ") and "runs" not in multi
    else:
        assert multi["status"] == "ok" and [r["run"] for r in multi["runs"]] == ["1 stream(s)", "2 stream(s)"]


def test_dry_run_markdown_renders_the_tables(dry_run):
    out, _, _ = dry_run
    md = (out / "report.md").read_text()
    assert md.startswith("# rtpose GPU proof\n")
    assert "| section | status | seconds | note |\n|---|---|---|---|\n" in md
    for name in SECTIONS:
        assert f"\n## {name}: " in md
    assert "| test | outcome | s | reason |" in md
    assert "| path | precision | device | max heatmap err | kpts moved | crops/s | result |" in md
    assert "| variant | batch 1 | batch 2 |" in md
    assert "TensorRT not installed: not covered" in md or importlib.util.find_spec("tensorrt") is not None
    if importlib.util.find_spec("ultralytics") is not None:
        assert "| run | frames | frames/s | people/frame | people/pose call | per stream frames |" in md
    for line in md.splitlines():  # every table row has as many cells as its header
        if line.startswith("|"):
            assert line.endswith("|"), line


def test_the_proof_keeps_its_budget_and_says_what_it_cut(tmp_path):
    proc, seconds = run_proof(tmp_path, "--budget", "4", "--only", "environment", "gpu_tests", "agreement")
    report = json.loads((tmp_path / "report.json").read_text())
    sections = report["sections"]
    assert list(sections) == ["environment", "gpu_tests", "agreement"]
    assert sections["gpu_tests"]["status"] in ("cut", "ok")
    if sections["gpu_tests"]["status"] == "cut":  # pytest was stopped (the tests it did not reach say so), or not begun
        tests = sections["gpu_tests"]
        stopped = tests["cut"] and "stopped after" in tests["cut"][0]
        assert stopped or tests["reason"] == "no time left in the run's budget"
    assert sections["agreement"]["status"] == "cut"
    assert sections["agreement"]["reason"] == "no time left in the run's budget"
    assert seconds < 4 + 40, (seconds, proc.stdout[-2000:], proc.stderr[-2000:])  # start-up + a section in flight
    assert "## agreement: cut\n\nno time left in the run's budget" in (tmp_path / "report.md").read_text()


def test_the_gpu_test_selector_reads_skip_reasons():
    proof = load_proof_module()
    needs = ["needs a CUDA GPU (none here)", "needs a CUDA GPU without TensorRT", "needs onnxruntime-gpu and a GPU",
             "needs TensorRT and an NVIDIA GPU (pip install 'rtpose[trt-cu12]' or '[trt-cu13]' on a GPU machine)"]
    others = ["checks the CPU choice; this machine has a CUDA GPU", "TensorRT is installed here",
              "needs a machine where the TensorRT engine lookup fails", "this ONNX Runtime has a CUDA provider"]
    assert all(proof.GPU_REASON.search(r) for r in needs)
    assert not any(proof.GPU_REASON.search(r) for r in others)
    files = proof.gpu_test_files()
    assert "tests/runtime/test_backends.py" in files and "tests/pose/test_device_ops.py" in files


def test_without_ultralytics_the_detector_sections_skip_with_the_reason(tmp_path):
    blocked = tmp_path / "site"
    (blocked / "ultralytics").mkdir(parents=True)
    (blocked / "ultralytics" / "__init__.py").write_text('raise ImportError("ultralytics is blocked in this test")\n')
    env = dict(os.environ, RTPOSE_SHARED=str(SHARED), PYTHONPATH=os.pathsep.join([str(blocked), str(ROOT)]))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(PROOF), "--dry-run", "--out", str(out), "--only", "environment",
                           "end_to_end", "multi_stream"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    sections = json.loads((out / "report.json").read_text())["sections"]
    for name in ("end_to_end", "multi_stream"):
        assert sections[name]["status"] == "skipped", sections[name]
        assert sections[name]["reason"].startswith("Ultralytics does not import ("), sections[name]["reason"]
        assert sections[name]["reason"].endswith("): skipped")
    assert sections["environment"]["facts"]["Ultralytics usable"].startswith("Ultralytics does not import")
