"""The GPU proof: one command on a CUDA machine, then numbers (not a test; its dry run is one).

    python benchmarks/gpu_proof.py --out DIR            # on a CUDA machine: at most ~8 minutes
    python benchmarks/gpu_proof.py --dry-run --out DIR  # anywhere: tiny sizes, seconds, the same report files

Writes ``DIR/report.json`` and ``DIR/report.md`` (rewritten after every section, so a run that is
killed still leaves what it measured) and ``DIR/gpu_tests.log`` (pytest's output). Sections, each with
its own time budget (what did not fit is listed under ``cut``):

- ``environment``: Python, torch and its CUDA, the GPU, Ultralytics, TensorRT, ONNX Runtime providers.
- ``gpu_tests``: every test that skips on a machine without a GPU (a ``skipif`` whose reason says it
  needs a GPU or CUDA), run by pytest in a subprocess with a time limit: pass/fail/skip per test.
- ``peak``: the card's dense FP16/BF16 peak from its spec sheet and as measured here (a big matmul).
- ``agreement``: every GPU path against PyTorch FP32 on the CPU, on the real reference crops, with the
  ``rtpose check`` rule (FP16 rule for FP16 and FP32-on-GPU, BF16 rule for BF16), plus the
  device-resident path (torch crops + DARK) on ``bus.jpg``.
- ``throughput``: HRNet-W32 256x192 and W48 384x288, crops/s at batch 1-64 for FP32, FP16 and BF16
  (channels-last eager and CUDA graphs) and rtpose's own torch backend; FLOP per crop (torch's FLOP
  counter and the conv count) and the share of both peaks.
- ``tensorrt``: an FP16 engine, its agreement and crops/s; "TensorRT not installed: not covered" without it.
- ``end_to_end``: the device-resident path vs the host-crop path on a 1280x720 clip of many people (a
  2x2 grid of vtest frames), through the library (``rtpose.PoseModel`` + ``rtpose.engine.stream.run``):
  frames/s and per-stage ms. Needs Ultralytics (the detector); skipped with the reason without it.
- ``multi_stream``: 1, 4 and 16 streams in one process (``model.stream([src, …])``): frames/s and
  people per pose call. Where this checkout's ``PoseModel.stream`` does not take a list of sources (a
  real call is tried), the section says "not available in this checkout".
- ``compile``: ``torch.compile`` of the FP16/BF16 networks with the time left (``COMPILE_JOBS`` in
  order): compile seconds, crops/s, share of the peaks; the first job's output checked against FP32.

Without ``--weights`` the models get the reference's deterministic weights (speed does not depend on
them; agreement is about backends, not accuracy). The data comes from ``$RTPOSE_SHARED``, else
``../shared``, else ``.whl/shared`` (where ``benchmarks/gpu_proof.sh prepare`` copies what is needed
so it can travel with the wheels). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


def find_shared() -> Path | None:
    """The shared data folder: ``$RTPOSE_SHARED``, ``../shared``, ``.whl/shared`` or ``shared`` (first that exists)."""
    candidates = [os.environ.get("RTPOSE_SHARED"), ROOT.parent / "shared", ROOT / ".whl" / "shared", ROOT / "shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "reference" / "fill.py").is_file():
            return Path(candidate).resolve()
    return None


SHARED = find_shared()
if SHARED is not None:  # before reference_weights is imported: it reads $RTPOSE_SHARED once
    os.environ["RTPOSE_SHARED"] = str(SHARED)
for folder in (str(ROOT), str(HERE)):
    if folder not in sys.path:
        sys.path.insert(0, folder)

#: The environment variable that turns this module into the pytest plugin that selects the GPU tests.
TESTS_LOG_ENV = "RTPOSE_PROOF_TESTS_LOG"
#: A skip reason of a test that needs a GPU (it skips for want of one): "needs a CUDA GPU", "needs … a GPU", …
GPU_REASON = re.compile(r"\bneeds\b.*\b(GPU|CUDA)\b")
#: Test files are scanned for these words before pytest is asked to collect them.
GPU_FILE_HINT = re.compile(r"needs .*(GPU|CUDA)|NO_CUDA|NO_TENSORRT")

NO_CUDA_DRY = "no CUDA: dry run"
NO_TENSORRT = "TensorRT not installed: not covered"
NOT_AVAILABLE = "not available in this checkout"


# -- the pytest plugin (pytest -p gpu_proof, with RTPOSE_PROOF_TESTS_LOG set) ----------------------


def pytest_collection_modifyitems(config, items):  # noqa: D103  (pytest hook)
    if not os.environ.get(TESTS_LOG_ENV):
        return
    keep, drop = [], []
    for item in items:
        reasons = [str(m.kwargs.get("reason", "")) for m in item.iter_markers("skipif")]
        (keep if any(GPU_REASON.search(r) for r in reasons) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
    with open(os.environ[TESTS_LOG_ENV], "a") as log:
        for item in keep:
            log.write(json.dumps({"collected": item.nodeid}) + "\n")


def pytest_runtest_logreport(report):  # noqa: D103  (pytest hook)
    path = os.environ.get(TESTS_LOG_ENV)
    if not path:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed) or (
        report.when == "teardown" and report.failed
    ):
        reason = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif report.failed:
            reason = str(report.longrepr).strip().splitlines()[-1][:300] if report.longrepr else ""
        outcome = report.outcome if report.when != "teardown" else "error"
        if report.when == "setup" and report.failed:
            outcome = "error"
        with open(path, "a") as log:
            log.write(json.dumps({"test": report.nodeid, "outcome": outcome, "seconds": round(report.duration, 3),
                                  "reason": reason}) + "\n")


# -- budget and report ------------------------------------------------------------------------------


class Budget:
    """Seconds left for a section, never past the run's deadline."""

    def __init__(self, seconds: float, deadline: float) -> None:
        self.start = time.monotonic()
        self.end = min(self.start + seconds, deadline)

    def left(self) -> float:
        return self.end - time.monotonic()

    def allows(self, seconds: float) -> bool:
        return self.left() >= seconds


class Report:
    """report.json + report.md in ``out``, rewritten after every section."""

    def __init__(self, out: Path, meta: dict) -> None:
        self.out = out
        self.data: dict = {"schema": "rtpose.gpu_proof", "version": 1, "meta": meta, "sections": {}}
        self.lock = threading.Lock()

    def section(self, name: str, entry: dict) -> None:
        with self.lock:
            self.data["sections"][name] = entry
            self.write()

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        texts = (("report.json", json.dumps(self.data, indent=1, default=str)), ("report.md", render_md(self.data)))
        for name, text in texts:
            tmp = self.out / f".{name}.tmp"
            tmp.write_text(text)
            os.replace(tmp, self.out / name)


def run_section(report: Report, name: str, budget_s: float, deadline: float, fn: Callable, *args) -> dict:
    """Run one section with its budget; its entry always has a ``status`` (ok, failed, skipped, not covered, …)."""
    budget = Budget(budget_s, deadline)
    entry: dict = {"status": "running", "budget_s": round(budget.end - budget.start, 1), "cut": []}
    report.section(name, entry)
    print(f"gpu_proof: {name} (budget {entry['budget_s']:.0f} s)", flush=True)
    if budget.left() <= 1:
        entry.update(status="cut", reason="no time left in the run's budget")
    else:
        try:
            entry.update(fn(budget, entry, *args) or {})
            entry.setdefault("status", "ok")
            if entry["status"] == "running":
                entry["status"] = "ok"
        except Exception as exc:  # a section that breaks is reported, the others still run
            entry.update(status="failed", reason=f"{type(exc).__name__}: {str(exc).strip()[:400]}",
                         traceback=traceback.format_exc()[-3000:])
    entry["elapsed_s"] = round(time.monotonic() - budget.start, 2)
    print(f"gpu_proof: {name}: {entry['status']}" + (f" ({entry['reason']})" if entry.get("reason") else "")
          + f" in {entry['elapsed_s']:.1f} s", flush=True)
    report.section(name, entry)
    return entry


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def md_table(head: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return lines + [""]


def render_md(data: dict) -> str:
    """The report as Markdown: a status table, then one part per section with its tables."""
    meta = data["meta"]
    lines = ["# rtpose GPU proof", ""]
    lines.append(f"{'**Dry run** (no GPU work measured). ' if meta.get('dry_run') else ''}"
                 f"Started {meta.get('started')}, budget {meta.get('budget_s')} s, device {meta.get('device')}.")
    lines.append("")
    sections = data["sections"]
    lines += md_table(["section", "status", "seconds", "note"], [
        [name, s.get("status"), _fmt(s.get("elapsed_s")), (s.get("reason") or "")[:160]] for name, s in sections.items()
    ])
    for name, s in sections.items():
        lines.append(f"## {name}: {s.get('status')}")
        lines.append("")
        if s.get("reason"):
            lines += [s["reason"], ""]
        render = SECTION_MD.get(name)
        if render is not None and s.get("status") not in ("running",):
            with contextlib.suppress(Exception):
                lines += render(s)
        if s.get("cut"):
            lines += ["Not run (the budget, or no CUDA in a dry run): " + "; ".join(s["cut"]), ""]
    return "\n".join(lines) + "\n"


def _md_environment(s: dict) -> list[str]:
    return md_table(["what", "value"], [[k, v] for k, v in s.get("facts", {}).items()])


def _md_gpu_tests(s: dict) -> list[str]:
    counts = s.get("counts", {})
    out = [", ".join(f"{k}: {v}" for k, v in counts.items()) or "no tests", ""]
    return out + md_table(["test", "outcome", "s", "reason"], [
        [t["test"], t["outcome"], _fmt(t.get("seconds"), 2), (t.get("reason") or "")[:160]] for t in s.get("tests", [])
    ])


def _md_peak(s: dict) -> list[str]:
    return md_table(["figure", "TFLOP/s"], [[k, _fmt(v)] for k, v in s.get("tflops", {}).items()])


def _md_agreement(s: dict) -> list[str]:
    return md_table(["path", "precision", "device", "max heatmap err", "kpts moved", "crops/s", "result"], [
        [r["path"], r["precision"], r["device"], _fmt(r.get("max_heatmap_error"), 4), r.get("moved", "-"),
         _fmt(r.get("crops_per_s")), r["result"]] for r in s.get("rows", [])
    ])


def _md_throughput(s: dict) -> list[str]:
    out = []
    for model in s.get("models", []):
        batches = model["batches"]
        out += [f"**{model['model']}**: {_fmt(model['gflop_per_crop'], 2)} GFLOP per crop (torch FLOP counter), "
                f"{_fmt(model['conv_gflop_per_crop'], 2)} by conv count. Crops/s; in brackets the share of the "
                "spec / measured peak of the row's precision (FP32 rows: of the FP16 peak).", ""]
        rows = []
        for row in model["rows"]:
            cells = [row["variant"]]
            for b in batches:
                cell = row["cells"].get(str(b))
                if cell is None:
                    cells.append("-")
                elif "note" in cell:
                    cells.append(cell["note"])
                else:
                    share = cell.get("share_spec")
                    measured = cell.get("share_measured")
                    cells.append(f"{cell['crops_per_s']:.0f}" + (
                        f" ({100 * share:.1f}% / {100 * measured:.1f}%)" if share is not None and measured is not None
                        else ""))
            rows.append(cells)
        out += md_table(["variant"] + [f"batch {b}" for b in batches], rows)
    return out


def _md_tensorrt(s: dict) -> list[str]:
    out = _md_agreement({"rows": s.get("agreement", [])}) if s.get("agreement") else []
    if s.get("crops_per_s"):
        out += md_table(["batch", "crops/s (device in/out)"], [[b, _fmt(v)] for b, v in s["crops_per_s"].items()])
    return out


def _md_runs(s: dict) -> list[str]:
    out = []
    clip = s.get("clip")
    if clip:
        out += [f"Clip: {clip}", ""]
    if s.get("device_over_host"):
        out += [f"Device-resident / host-crop frames/s: {s['device_over_host']:.2f}x", ""]
    runs = s.get("runs", [])
    if not runs:
        return out
    out += md_table(["run", "frames", "frames/s", "people/frame", "people/pose call", "per stream frames"], [
        [r["run"], r["frames"], _fmt(r["fps"], 2), _fmt(r.get("people_per_frame"), 2),
         _fmt(r.get("people_per_call"), 2), r.get("per_stream_frames", "-")] for r in runs
    ])
    stage_names = []
    for r in runs:
        stage_names += [n for n in r.get("stages", {}) if n not in stage_names]
    if stage_names:
        out += ["Per-stage mean / p95 ms:", ""]
        out += md_table(["run"] + stage_names, [
            [r["run"]] + [
                f"{r['stages'][n]['mean_ms']:.2f} / {r['stages'][n]['p95_ms']:.2f}" if n in r.get("stages", {}) else "-"
                for n in stage_names
            ] for r in runs
        ])
    return out


def _md_compile(s: dict) -> list[str]:
    out = md_table(["job", "compile s", "crops/s", "TFLOP/s", "share of spec / measured peak"], [
        [r["job"], _fmt(r.get("compile_s")), _fmt(r.get("crops_per_s")) if "crops_per_s" in r else r.get("result"),
         _fmt(r.get("tflops")),
         f"{100 * r['share_spec']:.1f}% / {100 * r['share_measured']:.1f}%" if "share_spec" in r else "-"]
        for r in s.get("rows", [])
    ]) if s.get("rows") else []
    return out + (_md_agreement({"rows": s["agreement"]}) if s.get("agreement") else [])


SECTION_MD: dict[str, Callable[[dict], list[str]]] = {
    "environment": _md_environment, "gpu_tests": _md_gpu_tests, "peak": _md_peak, "agreement": _md_agreement,
    "throughput": _md_throughput, "tensorrt": _md_tensorrt, "end_to_end": _md_runs, "multi_stream": _md_runs,
    "compile": lambda s: _md_compile(s),
}


# -- helpers ------------------------------------------------------------------------------------------


def cuda_ok() -> bool:
    import torch

    return torch.cuda.is_available()


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_per_call(fn: Callable[[], object], min_s: float, warmup: int = 3, min_iters: int = 5,
                  max_iters: int = 200) -> float:
    if min_s <= 0:  # the dry run: one warm-up, one timed call
        warmup, min_iters = 1, 1
    """Median wall seconds of one call (the device synchronised), after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters or time.perf_counter() - start < min_s):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def gist(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def ultralytics_problem() -> str | None:
    """None when Ultralytics imports, else why not (the detector-dependent sections skip with it)."""
    if importlib.util.find_spec("ultralytics") is None:
        return "Ultralytics is not installed (the person detector needs it): skipped"
    try:
        from rtpose.pose.detector import import_ultralytics

        import_ultralytics()
    except Exception as exc:
        return f"Ultralytics does not import ({gist(exc)}): skipped"
    return None


def weights_for(width: int, folder: Path, given: str | None) -> Path:
    from reference_weights import deterministic_weights

    return Path(given) if given else deterministic_weights(width, folder)


# -- sections -----------------------------------------------------------------------------------------


def section_environment(budget: Budget, entry: dict, args) -> dict:
    import torch

    facts = {
        "python": f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPU cores",
        "torch": f"{torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
                 f"{torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}",
        "CUDA available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        facts["GPU"] = (f"{props.name}, compute capability {props.major}.{props.minor}, "
                        f"{props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs")
        facts["TF32 (cuDNN convs / matmul)"] = (f"{torch.backends.cudnn.allow_tf32} / "
                                                f"{torch.backends.cuda.matmul.allow_tf32}")
    for name in ("ultralytics", "tensorrt", "onnxruntime", "onnxruntime-gpu", "onnx", "opencv-python",
                 "opencv-python-headless", "numpy", "pytest", "pytest-timeout", "triton", "torchvision"):
        facts[name] = package_version(name) or "not installed"
    from rtpose.runtime.onnxruntime_runtime import available_providers

    facts["ONNX Runtime providers"] = ", ".join(available_providers())
    facts["Ultralytics usable"] = ultralytics_problem() or "yes"
    facts["shared data"] = str(SHARED) if SHARED else "not found ($RTPOSE_SHARED, ../shared, .whl/shared)"
    facts["mode"] = "dry run" if args.dry_run else "full"
    return {"facts": facts}


def gpu_test_files() -> list[str]:
    """Test files that hold tests skipping for want of a GPU (a cheap text scan before pytest collects)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                  if p.name != "test_gpu_proof.py" and GPU_FILE_HINT.search(p.read_text(errors="replace")))


def section_gpu_tests(budget: Budget, entry: dict, args) -> dict:
    files = gpu_test_files()
    if not files:
        return {"status": "skipped", "reason": "no test file holds a GPU test"}
    log_path = Path(tempfile.mkdtemp(prefix="rtpose-proof-tests-")) / "tests.jsonl"
    env = dict(os.environ, **{TESTS_LOG_ENV: str(log_path)})
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    no_site = ["-S"] if sys.flags.no_site else []  # the same interpreter flags as this run
    cmd = [sys.executable, *no_site, "-m", "pytest", "-p", "gpu_proof", "-q", "-rA", "-p", "no:cacheprovider", *files]
    if importlib.util.find_spec("pytest_timeout") is not None:
        cmd += ["-o", f"timeout={max(30, int(budget.left() / 2))}"]
    limit = max(1.0, budget.left() - 1)
    text_log = args.out / "gpu_tests.log"
    timed_out = False
    with open(text_log, "w") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            rc = proc.wait()
    collected, tests = [], []
    if log_path.is_file():
        for line in log_path.read_text().splitlines():
            record = json.loads(line)
            if "collected" in record:
                collected.append(record["collected"])
            else:
                tests.append(record)
    seen = {t["test"] for t in tests}
    for nodeid in collected:
        if nodeid not in seen:
            tests.append({"test": nodeid, "outcome": "not run (budget)" if timed_out else "not run", "seconds": None,
                          "reason": f"pytest stopped after {limit:.0f} s" if timed_out else ""})
    counts: dict[str, int] = {}
    for t in tests:
        counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
    result = {"files": files, "tests": tests, "counts": counts, "returncode": rc, "log": text_log.name}
    if timed_out:
        entry["cut"].append(f"pytest stopped after {limit:.0f} s; tests not run are listed as such")
        result["status"] = "cut"
    elif rc not in (0, 5) or counts.get("failed") or counts.get("error"):
        result.update(status="failed", reason=f"pytest exit code {rc}: {counts}")
    elif not tests:
        result.update(status="failed", reason=f"no GPU test was collected (pytest exit code {rc})")
    elif not cuda_ok():
        result["reason"] = f"{NO_CUDA_DRY}: the GPU tests were collected and skip here" if args.dry_run else \
            "no CUDA here: the GPU tests skip"
    return result


def section_peak(budget: Budget, entry: dict, args) -> dict:
    import torch
    from backends import gpu_peak_tflops

    tflops: dict[str, float | None] = {}
    if cuda_ok():
        name = torch.cuda.get_device_name(0)
        spec = gpu_peak_tflops(name)
        tflops["spec dense FP16/BF16 (by GPU name)"] = spec
        n = 8192
        for dtype in (torch.bfloat16, torch.float16):
            a = torch.randn(n, n, device="cuda", dtype=dtype)
            b = torch.randn(n, n, device="cuda", dtype=dtype)
            seconds = time_per_call(lambda a=a, b=b: a @ b, min_s=0.5, warmup=3, min_iters=10)
            tflops[f"measured {str(dtype).removeprefix('torch.')} matmul {n}^3"] = 2 * n**3 / seconds / 1e12
            del a, b
        torch.cuda.empty_cache()
        a = torch.randn(n, n, device="cuda")
        seconds = time_per_call(lambda: a @ a, min_s=0.5, warmup=2, min_iters=5)
        tf32 = torch.backends.cuda.matmul.allow_tf32
        tflops[f"measured float32 matmul {n}^3 (TF32 {tf32})"] = 2 * n**3 / seconds / 1e12
        del a
        torch.cuda.empty_cache()
        measured = max(v for k, v in tflops.items() if k.startswith("measured") and "float32" not in k)
        return {"gpu": name, "tflops": tflops, "spec": spec, "measured": measured}
    n = 256
    a = torch.randn(n, n)
    seconds = time_per_call(lambda: a @ a, min_s=0.05)
    tflops[f"measured float32 matmul {n}^3 on the CPU"] = 2 * n**3 / seconds / 1e12
    return {"reason": f"{NO_CUDA_DRY}: a small CPU matmul stands in", "tflops": tflops, "spec": None,
            "measured": tflops[f"measured float32 matmul {n}^3 on the CPU"]}


class _Wrapped:
    """A backend-like object (``infer``, ``device``, ``name``, ``max_batch``) around a callable on tensors."""

    def __init__(self, name: str, device: str, fn: Callable, torch_device: str, max_batch: int = 1024) -> None:
        self.name, self.device, self.fn, self.torch_device, self.max_batch = name, device, fn, torch_device, max_batch

    def infer(self, batch):
        import numpy as np
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.torch_device)
            return self.fn(x).float().contiguous().cpu().numpy()


def _row(check_row, path: str) -> dict:
    return {"path": path, "precision": check_row.precision, "device": check_row.device,
            "max_heatmap_error": check_row.max_heatmap_error,
            "moved": None if check_row.moved is None else f"{check_row.moved}/{check_row.keypoints}",
            "crops_per_s": check_row.crops_per_s, "ok": bool(check_row.ok),
            "result": ("ok" if check_row.ok else "FAIL") + (f": {check_row.note}" if check_row.note else "")}


def _failed_row(path: str, exc: BaseException) -> dict:
    return {"path": path, "precision": "-", "device": "-", "ok": False, "result": f"FAIL: {gist(exc)}"}


def reference_crops(dry: bool):
    """The four real person crops of the reference (256x192); the dry run: the first, at 128x96 (4x cheaper)."""
    import numpy as np

    crops = np.load(SHARED / "reference" / "hrnet_w32_256x192.npz")["input"].astype(np.float32)
    if not dry:
        return crops
    import torch

    small = torch.nn.functional.interpolate(torch.from_numpy(crops[:1]), size=(128, 96), mode="area")
    return np.ascontiguousarray(small.numpy())


def section_agreement(budget: Budget, entry: dict, args) -> dict:
    import numpy as np
    import torch

    from rtpose.cli.check import BUS_BOXES, check_device_path, compare_to_reference, real_crops
    from rtpose.runtime.torch_runtime import TorchBackend
    from rtpose.weights.pose import load_pose_model

    if SHARED is None:
        return {"status": "skipped", "reason": "the shared data (reference crops) was not found"}
    weights = weights_for(32, args.tmp, args.weights)
    crops = reference_crops(args.dry_run)
    input_hw = (crops.shape[2], crops.shape[3])
    # The reference crops are the model input itself: crop pixels = image pixels for the "moved" count.
    centers = np.tile(np.float32([[input_hw[1] / 2, input_hw[0] / 2]]), (len(crops), 1))
    sizes = np.tile(np.float32([[input_hw[1], input_hw[0]]]), (len(crops), 1))
    cpu = TorchBackend(load_pose_model(weights), device="cpu", input_hw=input_hw)
    with torch.inference_mode():
        reference = cpu.infer(crops)
    rows = []
    iters = 1 if args.dry_run else 3

    def compare(backend, label: str) -> None:
        if not budget.allows(3):
            entry["cut"].append(label)
            return
        try:
            rows.append(_row(compare_to_reference(backend, crops, reference, centers, sizes, iters, label), label))
        except Exception as exc:
            rows.append(_failed_row(label, exc))

    cuda = cuda_ok()
    if cuda:
        name = torch.cuda.get_device_name(0)
        fp32 = TorchBackend(load_pose_model(weights), device="cuda", input_hw=input_hw, fp16=False)
        compare(fp32, "torch cuda fp32 (TF32 convs allowed)")
        fp16 = TorchBackend(load_pose_model(weights), device="cuda", input_hw=input_hw, fp16=True)
        compare(fp16, "torch cuda fp16 channels-last (rtpose backend, host in/out)")
        compare(_Wrapped("torch", fp16.device, fp16.infer_device, "cuda"),
                "torch cuda fp16 infer_device (device in/out)")
        def bf16_row() -> None:
            bf16_model = load_pose_model(weights).cuda().to(memory_format=torch.channels_last).bfloat16().eval()

            def bf16(x, m=bf16_model):
                return m(x.contiguous(memory_format=torch.channels_last).bfloat16())

            compare(_Wrapped("torch", f"cuda:0 ({name}) bf16", bf16, "cuda"), "torch cuda bf16 channels-last")

        def graph_row() -> None:
            # The FP16 network captured in a CUDA graph at the crops' batch size.
            static_in = torch.zeros(len(crops), 3, *input_hw, device="cuda")
            with torch.inference_mode():
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    for _ in range(3):
                        fp16.infer_device(static_in)
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    static_out = fp16.infer_device(static_in)

            def replay(x):
                static_in.copy_(x)
                graph.replay()
                return static_out.clone()

            compare(_Wrapped("torch", fp16.device, replay, "cuda", max_batch=len(crops)), "torch cuda fp16 CUDA graph")

        for label, make_row in (("torch cuda bf16 channels-last", bf16_row), ("torch cuda fp16 CUDA graph", graph_row)):
            try:
                make_row()
            except Exception as exc:  # a path that cannot even start is a failed row, the others still run
                rows.append(_failed_row(label, exc))
        from rtpose.runtime.onnxruntime_runtime import available_providers

        if "CUDAExecutionProvider" in available_providers():
            from rtpose.runtime.select import create_backend

            with contextlib.suppress(Exception):
                compare(create_backend("onnxruntime", str(weights), "cuda", input_hw, False,
                                       engines_dir=str(args.tmp)), "onnxruntime cuda fp32")
        device_backend = fp16
    else:
        entry["cut"].append(f"CUDA rows ({NO_CUDA_DRY}); the CPU rows run the same comparison code")
        compare(_Wrapped("torch", "cpu", cpu.infer_device, "cpu"), "torch cpu fp32 infer_device (stands in)")
        device_backend = cpu
    # The device-resident path (torch crops + DARK) on bus.jpg against the host crop path, as rtpose check does.
    bus = SHARED / "data" / "images" / "bus.jpg"
    if bus.is_file() and budget.allows(5):
        boxes = BUS_BOXES[:1] if args.dry_run else BUS_BOXES
        bus_crops, bus_centers, bus_sizes = real_crops(bus, boxes, input_hw)
        with torch.inference_mode():
            bus_reference = cpu.infer(bus_crops)
        try:
            row = check_device_path(device_backend, bus, boxes, bus_reference, bus_centers, bus_sizes, iters)
            people = "1 person" if len(boxes) == 1 else f"{len(boxes)} people"
            rows.append(_row(row, f"device path (torch crops + DARK) on bus.jpg, {people}"))
        except Exception as exc:
            rows.append(_failed_row("device path (torch crops + DARK) on bus.jpg", exc))
    else:
        entry["cut"].append("device path on bus.jpg")
    failed = [r["path"] for r in rows if not r["ok"]]
    result = {"rows": rows, "crops": f"{len(crops)} reference crops (shared/reference/hrnet_w32_256x192.npz), "
                                     f"input {input_hw[0]}x{input_hw[1]}",
              "rule": "rtpose check: FP32 on the CPU bit-near; FP16 and FP32-on-GPU the FP16 rule; BF16 the BF16 rule"}
    if failed:
        result.update(status="failed", reason="disagree with PyTorch FP32: " + ", ".join(failed))
    elif not cuda:
        result["reason"] = f"{NO_CUDA_DRY}: only the CPU rows ran"
    return result


def _flops(width: int, input_hw: tuple[int, int]) -> tuple[float, float]:
    """(GFLOP per crop by torch's FLOP counter, 2 x multiply-adds of the convolutions), counted on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from rtpose.models import HRNet

    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        kh, kw = module.kernel_size
        macs += output.numel() * (module.in_channels // module.groups) * kh * kw

    with torch.device("meta"):
        model = HRNet(width=width).eval()
        handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 3, *input_hw))
    for h in handles:
        h.remove()
    return counter.get_total_flops() / 1e9, 2 * macs / 1e9


def section_throughput(budget: Budget, entry: dict, args, peak: dict) -> dict:
    import torch

    from rtpose.models import HRNet
    from rtpose.runtime.torch_runtime import TorchBackend

    cuda = cuda_ok()
    device = "cuda" if cuda else "cpu"
    if args.dry_run:
        configs = [(32, (32, 32)), (48, (32, 32))]
        batches = [1, 2]
        min_s = 0.0
    else:
        configs = [(32, (256, 192)), (48, (384, 288))]
        batches = [1, 2, 4, 8, 16, 32, 64]
        min_s = 0.25
    spec = peak.get("spec")
    measured = peak.get("measured")
    models_out = []
    for width, input_hw in configs:
        label = f"HRNet-W{width} {input_hw[0]}x{input_hw[1]}"
        if not budget.allows(30 if cuda else 3):
            entry["cut"].append(label)
            continue
        gflop, conv_gflop = _flops(width, input_hw)
        model_out = {"model": label, "gflop_per_crop": gflop, "conv_gflop_per_crop": conv_gflop,
                     "batches": batches, "rows": []}
        models_out.append(model_out)
        torch.manual_seed(0)
        base = HRNet(width=width).eval()  # speed does not depend on the weights' values

        def copy_as(dtype, base=base):
            return copy.deepcopy(base).cuda().to(memory_format=torch.channels_last).to(dtype).eval()

        variants: list[tuple[str, str, object]] = []  # (variant, precision, network or (kind, object))
        fp32 = base.to(device)
        variants.append(("fp32 eager NCHW" + (" (TF32)" if cuda and torch.backends.cudnn.allow_tf32 else ""),
                         "fp32", fp32))
        if cuda:
            for dtype, tag in ((torch.float16, "fp16"), (torch.bfloat16, "bf16")):
                net = copy_as(dtype)
                variants.append((f"{tag} eager channels-last", tag, net))
                variants.append((f"{tag} CUDA graph channels-last", tag, ("graph", net)))
            backend = TorchBackend(copy.deepcopy(base), device="cuda", input_hw=input_hw)
            variants.append(("rtpose torch backend fp16 infer_device (fp32 in/out)", "fp16", ("backend", backend)))
        for variant, precision, net in variants:
            row = {"variant": variant, "precision": precision, "cells": {}}
            model_out["rows"].append(row)
            for batch in batches:
                if not budget.allows(8 if cuda else 1):
                    entry["cut"].append(f"{label} {variant} batch {batch}")
                    continue
                try:
                    seconds = _time_variant(net, precision, batch, input_hw, device, min_s)
                except Exception as exc:
                    row["cells"][str(batch)] = {"note": f"failed: {gist(exc)[:80]}"}
                    continue
                row["cells"][str(batch)] = _cell(batch / seconds, gflop, precision, spec, measured)
        if not cuda:
            for tag in ("fp16", "bf16"):
                model_out["rows"].append({"variant": f"{tag} eager / CUDA graph", "precision": tag,
                                          "cells": {str(b): {"note": NO_CUDA_DRY} for b in batches}})
        del variants
        if cuda:
            torch.cuda.empty_cache()
    if not cuda:
        entry["cut"].append(f"CUDA graphs ({NO_CUDA_DRY})")
    result = {"models": models_out, "peak_spec_tflops": spec, "peak_measured_tflops": measured,
              "timing": f"median of calls over >= {min_s} s after 3 warm-up calls, device synchronised"}
    if not cuda:
        result["reason"] = f"{NO_CUDA_DRY}: FP32 on the CPU at tiny sizes"
    if entry["cut"]:
        result["status"] = "ok (partly cut)"
    return result


#: torch.compile jobs in the order they are tried (each compile takes tens of seconds): (width, precision, batch).
COMPILE_JOBS = [(32, "fp16", 64), (32, "bf16", 64), (48, "fp16", 64), (32, "fp16", 1), (48, "bf16", 64),
                (32, "fp16", 16)]


def section_compile(budget: Budget, entry: dict, args, peak: dict) -> dict:
    """torch.compile (inductor, static shapes) of the channels-last FP16/BF16 network, as the budget allows.

    The first job compiles HRNet-W32 FP16 with the reference weights: its output on the reference crops (tiled
    to the batch, so no second compile) is checked against PyTorch FP32 with the FP16 rule too.
    """
    if not cuda_ok():
        return {"status": "skipped", "reason": f"{NO_CUDA_DRY}: torch.compile is timed on CUDA only",
                "rows": [], "agreement": []}
    import numpy as np
    import torch

    from rtpose.cli.check import compare_to_reference
    from rtpose.runtime.torch_runtime import TorchBackend
    from rtpose.weights.pose import load_pose_model

    sizes_by_width = {32: (256, 192), 48: (384, 288)}
    spec, measured = peak.get("spec"), peak.get("measured")
    rows, agreement = [], []
    for i, (width, tag, batch) in enumerate(COMPILE_JOBS):
        label = f"HRNet-W{width} {sizes_by_width[width][0]}x{sizes_by_width[width][1]} {tag} batch {batch}"
        if not budget.allows(60 if i == 0 else 45):
            entry["cut"].append(label)
            continue
        input_hw = sizes_by_width[width]
        dtype = torch.float16 if tag == "fp16" else torch.bfloat16
        weights = weights_for(width, args.tmp, args.weights if width == 32 else None)
        net = load_pose_model(weights).cuda().to(memory_format=torch.channels_last).to(dtype).eval()
        compiled = torch.compile(net, dynamic=False)
        x = torch.randn(batch, 3, *input_hw, device="cuda").to(dtype).contiguous(memory_format=torch.channels_last)
        try:
            start = time.perf_counter()
            with torch.inference_mode():
                compiled(x)
                sync()
                compile_s = time.perf_counter() - start
                seconds = time_per_call(lambda c=compiled, x=x: c(x), 0.25)
        except Exception as exc:
            rows.append({"job": label, "result": f"failed: {gist(exc)}"})
            continue
        gflop = _flops(width, input_hw)[0]
        rows.append({"job": label, "compile_s": compile_s, **_cell(batch / seconds, gflop, tag, spec, measured)})
        if i == 0 and SHARED is not None:
            crops = reference_crops(False)
            reference = TorchBackend(load_pose_model(weights), device="cpu", input_hw=input_hw).infer(crops)

            def run(x_in, c=compiled, batch=batch, dtype=dtype):
                # the compiled graph's static batch: the crops repeated, the first len(x_in) results kept
                reps = -(-batch // len(x_in))
                full = x_in.repeat(reps, 1, 1, 1)[:batch].to(dtype).contiguous(memory_format=torch.channels_last)
                return c(full)[: len(x_in)]

            wrapped = _Wrapped("torch", f"cuda:0 ({torch.cuda.get_device_name(0)}) fp16", run, "cuda",
                               max_batch=len(crops))
            centers = np.tile(np.float32([[input_hw[1] / 2, input_hw[0] / 2]]), (len(crops), 1))
            sizes = np.tile(np.float32([[input_hw[1], input_hw[0]]]), (len(crops), 1))
            check = compare_to_reference(wrapped, crops, reference, centers, sizes, 1, "torch.compile fp16")
            agreement.append(_row(check, f"torch cuda fp16 torch.compile (batch {batch}, first {len(crops)} checked)"))
        del compiled, net
        torch._dynamo.reset()
        torch.cuda.empty_cache()
    result = {"rows": rows, "agreement": agreement}
    if any(not r["ok"] for r in agreement):
        result.update(status="failed", reason="torch.compile disagrees with PyTorch FP32")
    elif any("result" in r for r in rows):
        result.update(status="failed", reason="torch.compile failed: " + "; ".join(
            f"{r['job']}: {r['result']}" for r in rows if "result" in r)[:400])
    elif entry["cut"]:
        result["status"] = "ok (partly cut)"
    return result


def _cell(rate: float, gflop: float, precision: str, spec, measured) -> dict:
    cell = {"crops_per_s": rate, "tflops": rate * gflop / 1e3}
    if spec:
        cell["share_spec"] = rate * gflop * 1e9 / (spec * 1e12)
    if measured:
        cell["share_measured"] = rate * gflop * 1e9 / (measured * 1e12)
    return cell


def _time_variant(net, precision: str, batch: int, input_hw, device: str, min_s: float) -> float:
    import torch

    hw = tuple(input_hw)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    with torch.inference_mode():
        if isinstance(net, tuple) and net[0] == "backend":
            x = torch.randn(batch, 3, *hw, device=device)
            return time_per_call(lambda: net[1].infer_device(x), min_s)
        x = torch.randn(batch, 3, *hw, device=device).to(dtype)
        if precision != "fp32":
            x = x.contiguous(memory_format=torch.channels_last)
        if isinstance(net, tuple) and net[0] == "graph":
            model = net[1]
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    model(x)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                model(x)
            return time_per_call(graph.replay, min_s)
        return time_per_call(lambda: net(x), min_s)


def section_tensorrt(budget: Budget, entry: dict, args) -> dict:
    from rtpose.runtime.tensorrt_runtime import tensorrt_available

    if importlib.util.find_spec("tensorrt") is None:
        return {"status": "not covered", "reason": NO_TENSORRT}
    if not tensorrt_available():
        return {"status": "not covered", "reason": "TensorRT is installed but has no usable CUDA GPU here: not covered"}
    if SHARED is None:
        return {"status": "skipped", "reason": "the shared data (reference crops) was not found"}
    import numpy as np
    import torch

    from rtpose.cli.check import compare_to_reference
    from rtpose.export.pose_onnx import ensure_onnx
    from rtpose.export.tensorrt import build_engine
    from rtpose.runtime.tensorrt_runtime import TensorRTBackend
    from rtpose.runtime.torch_runtime import TorchBackend
    from rtpose.weights.pose import load_pose_model

    weights = weights_for(32, args.tmp, args.weights)
    input_hw = (256, 192)
    onnx_path = ensure_onnx(weights, input_hw, fp16=True, out_dir=args.tmp)
    engine = build_engine(onnx_path, out_dir=args.tmp, max_batch=64, opt_batch=16, log=lambda m: None)
    backend = TensorRTBackend(engine)
    crops = reference_crops(False)
    centers = np.tile(np.float32([[96, 128]]), (len(crops), 1))
    sizes = np.tile(np.float32([[192, 256]]), (len(crops), 1))
    reference = TorchBackend(load_pose_model(weights), device="cpu", input_hw=input_hw).infer(crops)
    row = _row(compare_to_reference(backend, crops, reference, centers, sizes, 3, "tensorrt fp16"), "tensorrt fp16")
    rates = {}
    for batch in (1, 2, 4, 8, 16, 32, 64):
        if not budget.allows(5):
            entry["cut"].append(f"batch {batch}")
            continue
        x = torch.randn(batch, 3, *input_hw, device=backend.torch_device)
        rates[str(batch)] = batch / time_per_call(lambda x=x: backend.infer_device(x), 0.25)
    backend.close()
    return {"agreement": [row], "crops_per_s": rates, "status": "ok" if row["ok"] else "failed"}


def make_clip(folder: Path, frames: int, size: tuple[int, int] = (1280, 720)) -> tuple[Path, str]:
    """A clip of many people: each frame a 2x2 grid of vtest frames (four moments of the video), ``size`` (W, H)."""
    import cv2
    import numpy as np

    video = SHARED / "data" / "videos" / "vtest-480x360.avi"
    cap = cv2.VideoCapture(str(video))
    source = []
    while len(source) < frames + 3 * 60:
        ok, frame = cap.read()
        if not ok:
            break
        source.append(frame)
    cap.release()
    if not source:
        raise RuntimeError(f"cannot read {video}")
    w, h = size[0] // 2, size[1] // 2
    path = folder / f"vtest-grid-{size[0]}x{size[1]}.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    offsets = [0, 60, 120, 180]
    for i in range(frames):
        tiles = [cv2.resize(source[(i + o) % len(source)], (w, h), interpolation=cv2.INTER_AREA) for o in offsets]
        writer.write(np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])]))
    writer.release()
    return path, f"{path.name}: {frames} frames, a 2x2 grid of vtest frames (offsets {offsets}), {size[0]}x{size[1]}"


def _stats_row(name: str, stats, results: int | None = None, per_stream: dict | None = None) -> dict:
    data = stats.to_dict()
    return {
        "run": name, "frames": stats.frames, "fps": stats.fps, "elapsed_s": stats.elapsed_s,
        "people_per_frame": stats.people / stats.frames if stats.frames else 0.0,
        "people_per_call": stats.people_per_call, "pose_calls": stats.pose_calls, "dropped": stats.dropped,
        "stages": {k: {"mean_ms": v["mean_ms"], "p50_ms": v["p50_ms"], "p95_ms": v["p95_ms"]}
                   for k, v in data["stages"].items()},
        **({"per_stream_frames": per_stream} if per_stream is not None else {}),
    }


def _pose_model(args, weights: Path, device: str, input_hw: tuple[int, int]):
    import rtpose

    return rtpose.PoseModel(str(weights), backend="torch", device=device, input_size=input_hw,
                            detector=str(SHARED / "models" / "yolov8n-person.pt"))


def section_end_to_end(budget: Budget, entry: dict, args) -> dict:
    problem = ultralytics_problem()
    if problem:
        return {"status": "skipped", "reason": problem}
    if SHARED is None:
        return {"status": "skipped", "reason": "the shared data (video, detector) was not found"}
    from rtpose.engine.stream import run
    from rtpose.pose.device_ops import DevicePosePath

    cuda = cuda_ok()
    device = "cuda" if cuda else "cpu"
    frames = 2 if args.dry_run else 200
    input_hw = (32, 32) if args.dry_run else (256, 192)
    clip, clip_text = make_clip(args.tmp, frames)
    weights = weights_for(32, args.tmp, args.weights)
    runs = []
    model = _pose_model(args, weights, device, input_hw)
    try:
        estimator = model.estimator
        device_path = estimator.device_path or DevicePosePath(estimator.backend, estimator.codec)
        for path in ("host", "device"):
            if not budget.allows(10 if cuda else 3):
                entry["cut"].append(f"{path} path")
                continue
            estimator.device_path = None if path == "host" else device_path
            if path == "device":  # its kernels' first-call costs stay out of the timings
                import numpy as np

                device_path(np.zeros((720, 1280, 3), np.uint8), np.array([[0, 0, 640, 360]], np.float32))
            stream = model.stream(str(clip), track=False, smooth=False)
            sink = _CountStreams(budget)
            stats = run(stream, [sink])
            runs.append(_stats_row(f"{path} crops ({model.info.backend.device})", stats))
            if sink.stop_requested:
                entry["cut"].append(f"{path} path stopped after {stats.frames} of {frames} frames")
    finally:
        model.close()
    result = {"clip": clip_text, "runs": runs, "backend": "torch", "input_hw": list(input_hw)}
    if not runs:
        return {**result, "status": "cut", "reason": "the budget ended before a run"}
    if len(runs) == 2 and runs[0]["fps"]:
        result["device_over_host"] = runs[1]["fps"] / runs[0]["fps"]
    if not cuda:
        result["reason"] = f"{NO_CUDA_DRY}: both paths on the CPU (the device path on CPU tensors), tiny model input"
    return result


def multi_stream_available(model, clip: Path) -> str | None:
    """None when ``model.stream([a, b])`` runs several sources with a ``stream`` index on results, else why not."""
    try:
        stream = model.stream([str(clip), str(clip)], track=False, smooth=False)
    except Exception as exc:
        return f"{NOT_AVAILABLE}: model.stream([clip, clip]) raised {gist(exc)}"
    seen = set()
    try:
        for i, result in enumerate(stream):
            index = getattr(result, "stream", None)
            if index is None:
                return f"{NOT_AVAILABLE}: results of model.stream([clip, clip]) carry no stream index"
            seen.add(index)
            if len(seen) == 2 or i >= 8:
                break
    except Exception as exc:
        return f"{NOT_AVAILABLE}: iterating model.stream([clip, clip]) raised {gist(exc)}"
    finally:
        with contextlib.suppress(Exception):
            stream.close()
    if len(seen) < 2:
        return f"{NOT_AVAILABLE}: model.stream([clip, clip]) gave results of one stream only"
    return None


class _CountStreams:
    """A sink that counts results per ``result.stream`` and asks the run loop to stop when the budget ends."""

    needs_image = False

    def __init__(self, budget: Budget | None = None, margin_s: float = 2.0) -> None:
        self.counts: dict[str, int] = {}
        self.budget = budget
        self.margin_s = margin_s
        self.stop_requested = False

    def write(self, result, annotated=None) -> None:
        key = str(getattr(result, "stream", None))
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.budget is not None and not self.budget.allows(self.margin_s):
            self.stop_requested = True

    def close(self) -> None:
        pass


def section_multi_stream(budget: Budget, entry: dict, args) -> dict:
    problem = ultralytics_problem()
    if problem:
        return {"status": "skipped", "reason": problem}
    if SHARED is None:
        return {"status": "skipped", "reason": "the shared data (video, detector) was not found"}
    from rtpose.engine.stream import run

    cuda = cuda_ok()
    device = "cuda" if cuda else "cpu"
    frames = 2 if args.dry_run else 100
    counts = [1, 2] if args.dry_run else [1, 4, 16]
    input_hw = (32, 32) if args.dry_run else (256, 192)
    clip, clip_text = make_clip(args.tmp, frames)
    weights = weights_for(32, args.tmp, args.weights)
    model = _pose_model(args, weights, device, input_hw)
    runs = []
    try:
        problem = multi_stream_available(model, clip)
        if problem:
            return {"status": NOT_AVAILABLE, "reason": problem, "clip": clip_text}
        for n in counts:
            if not budget.allows(10 if cuda else 2):
                entry["cut"].append(f"{n} streams")
                continue
            sink = _CountStreams(budget)
            stats = run(model.stream([str(clip)] * n, track=False, smooth=False), [sink])
            row = _stats_row(f"{n} stream(s)", stats, per_stream=dict(sorted(sink.counts.items())))
            if sink.stop_requested:
                entry["cut"].append(f"{n} streams stopped after {stats.frames} of {n * frames} frames")
            per = getattr(stats, "streams", None) or getattr(stats, "per_stream", None)
            if per:
                with contextlib.suppress(Exception):
                    row["per_stream_fps"] = [getattr(s, "fps", None) for s in
                                             (per.values() if isinstance(per, dict) else per)]
            runs.append(row)
    finally:
        model.close()
    result = {"clip": clip_text, "runs": runs}
    if not runs:
        return {**result, "status": "cut", "reason": "the budget ended before a run"}
    if not cuda:
        result["reason"] = f"{NO_CUDA_DRY}: on the CPU, tiny model input"
    return result


# -- main ---------------------------------------------------------------------------------------------

#: (section, budget in seconds) in run order; the full run's budgets add up to about 7.5 minutes.
SECTIONS_FULL = [("environment", 10), ("gpu_tests", 120), ("peak", 15), ("agreement", 40), ("throughput", 90),
                 ("tensorrt", 60), ("end_to_end", 45), ("multi_stream", 60), ("compile", 200)]
SECTIONS_DRY = [("environment", 10), ("gpu_tests", 40), ("peak", 5), ("agreement", 25), ("throughput", 20),
                ("tensorrt", 5), ("end_to_end", 20), ("multi_stream", 20), ("compile", 5)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for report.json, report.md, gpu_tests.log")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, seconds: CUDA sections run on the CPU "
                                                                "or say 'no CUDA: dry run'")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole run (default: 450 full, 120 dry run); the run never exceeds it")
    parser.add_argument("--weights", default=None, help="HRNet-W32 checkpoint for agreement and end to end "
                                                        "(default: the reference's deterministic weights)")
    parser.add_argument("--only", nargs="+", default=None, help="run only these sections")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sections = SECTIONS_DRY if args.dry_run else SECTIONS_FULL
    total = args.budget or (120.0 if args.dry_run else 450.0)
    start = time.monotonic()
    deadline = start + total
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    if args.dry_run:  # nothing is measured: one thread keeps it quick on a shared, busy CPU
        torch.set_num_threads(1)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (no CUDA)"
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_proof: no CUDA GPU here; the full run measures GPUs. Use --dry-run to check the script.",
              file=sys.stderr)
        return 2
    report = Report(args.out, {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                               "dry_run": args.dry_run, "budget_s": total, "device": device,
                               "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])])})
    # A watchdog: past the deadline (plus a grace for the section in flight) the report is written and the
    # process ends, whatever is running.
    def watchdog() -> None:
        with report.lock:
            for entry in report.data["sections"].values():
                if entry.get("status") == "running":
                    entry.update(status="cut", reason="the run's budget ended during this section")
            report.data["meta"]["watchdog"] = "the run's budget ended: stopped"
            report.write()
        print("gpu_proof: budget exhausted, report written, stopping", file=sys.stderr, flush=True)
        os._exit(3)

    timer = threading.Timer(total + 15, watchdog)
    timer.daemon = True
    timer.start()
    with tempfile.TemporaryDirectory(prefix="rtpose-proof-") as tmp:
        args.tmp = Path(tmp)
        peak: dict = {}
        fns = {
            "environment": (section_environment, ()), "gpu_tests": (section_gpu_tests, ()),
            "peak": (section_peak, ()), "agreement": (section_agreement, ()),
            "throughput": (section_throughput, (peak,)), "tensorrt": (section_tensorrt, ()),
            "end_to_end": (section_end_to_end, ()), "multi_stream": (section_multi_stream, ()),
            "compile": (section_compile, (peak,)),
        }
        for name, budget_s in sections:
            if args.only and name not in args.only:
                continue
            fn, extra = fns[name]
            entry = run_section(report, name, budget_s, deadline, fn, args, *extra)
            if name == "peak":
                peak.update(spec=entry.get("spec"), measured=entry.get("measured"))
    timer.cancel()
    report.data["meta"]["elapsed_s"] = round(time.monotonic() - start, 1)
    report.write()
    print(f"gpu_proof: report in {args.out / 'report.md'} ({report.data['meta']['elapsed_s']} s)")
    failed = [n for n, s in report.data["sections"].items() if s["status"] == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
