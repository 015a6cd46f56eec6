"""Many streams in one process against one rtpose process per stream, on the same files, side by side.

For N in ``--streams`` (default 1 2 4 8): ``rtpose --source V`` × N in one process (one capture thread per
stream, one inference loop, the detector once per round on the streams' frames and one pose call for all
their people), and N separate ``rtpose --source V`` processes started together, each side ``--repeats``
times, alternating which goes first. Printed per row: total frames/s and people/s over the processing time
(model loading excluded: the figures come from each run's own summary; for N processes, from the first
one's first frame to the last one's end, since they finish loading at different times), people per pose
call, and peak memory (resident set size of all the processes together, sampled every 50 ms), with the CPU
model and the load average. The goal on the CPU: N streams in one process give ≥ 1.2× the people/s of N
processes at ≤ half their memory.

Then, per N, the same N streams in one rtpose process whose pose model and detector are served by a local
Triton server (``--backend triton --detector triton://…``): the repository ``rtpose export-triton
--python-backend`` writes, served by the ``tritonserver`` of ``.triton-venv`` (tests/support/triton_server.py; the
rows are skipped, saying why, where it is missing). Printed: frames/s, people/s, the client's and the
server's memory, and the failed calls of the run's summary.

    python benchmarks/streams.py                            # vtest, 40 frames per stream, deterministic W32
    python benchmarks/streams.py --streams 1 4 --frames 100 --weights W.pth
    python benchmarks/streams.py --streams 1 2 --frames 10 --triton-only
    python benchmarks/streams.py --streams 2 4 --overlap-repeats 8 --repeats 0 --ceiling-repeats 0 --no-triton

Not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT))

from reference_weights import deterministic_weights  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown CPU"
    name = re.search(r"Model name:\s*(.+)", out)
    flags = re.search(r"Flags:\s*(.+)", out)
    extras = [f for f in ("avx512_bf16", "amx_bf16", "avx512f", "avx2") if flags and f in flags.group(1).split()]
    return f"{name.group(1).strip() if name else 'unknown CPU'} ({os.cpu_count()} cores; {', '.join(extras)})"


def run_processes(commands: list[list[str]]) -> tuple[list[str], float, list[float | None]]:
    """Run the commands together; returns their stderr, the peak summed RSS in MB, and for each process when
    its summary line came (``time.monotonic()``): the end of its processing, before the model is released and
    the interpreter exits (None where it printed none)."""
    import psutil

    procs = [subprocess.Popen(c, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) for c in commands]
    handles = [psutil.Process(p.pid) for p in procs]
    errs: list[list[str]] = [[] for _ in procs]
    summary_at: list[float | None] = [None] * len(procs)

    def read(k: int) -> None:
        for line in procs[k].stderr:
            if summary_at[k] is None and "frames processed" in line:
                summary_at[k] = time.monotonic()
            errs[k].append(line)

    readers = [threading.Thread(target=read, args=(k,), daemon=True) for k in range(len(procs))]
    for reader in readers:
        reader.start()
    peak = 0.0
    while any(p.poll() is None for p in procs):
        total = 0
        for h in handles:
            with contextlib.suppress(psutil.Error):  # a process that just ended
                total += h.memory_info().rss
        peak = max(peak, total / 1e6)
        time.sleep(0.05)
    for reader in readers:
        reader.join()
    texts = ["".join(e) for e in errs]
    for p, err in zip(procs, texts):
        if p.returncode != 0:
            raise SystemExit(f"a run failed ({p.returncode}):\n{err[-2000:]}")
    return texts, peak, summary_at


def summary_figures(stderr: str) -> dict:
    """frames, elapsed s, people, pose calls from a run's summary line."""
    head = next(line for line in stderr.splitlines() if "frames processed" in line)
    frames = int(re.search(r"(\d+) frames processed", head).group(1))
    elapsed = float(re.search(r"over ([\d.]+) s", head).group(1))
    people = re.search(r"(\d+) people in (\d+) pose calls", head)
    return {"frames": frames, "elapsed": elapsed, "people": int(people.group(1)) if people else 0,
            "calls": int(people.group(2)) if people else 0}


def triton_figures(stderr: str) -> dict:
    """Failed and total calls of the served parts, and the failures by cause, from the summary's ``triton pose:``
    and ``triton detector:`` rows."""
    found = {}
    for part, failed, calls, causes in re.findall(r"triton (\w+): (\d+) of (\d+) calls failed \((.*)\)", stderr):
        found[part] = {"failed": int(failed), "calls": int(calls),
                       "causes": {c: int(n) for c, n in re.findall(r"([a-z ()]+?) (\d+)(?:, |$)", causes) if int(n)}}
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (Triton's Python backend stubs), MB."""
    import psutil

    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 1e6


def triton_rows(args, weights: str, tmp: Path) -> list[tuple[int, dict]]:
    """The Triton rows: N streams in one process, pose model and detector served by a local tritonserver."""
    from tests.support.triton_server import TritonServer, why_no_server

    reason = why_no_server()
    if reason:
        print(f"Triton rows skipped: {reason}")
        return []
    repo = tmp / "triton-repo"
    subprocess.run([sys.executable, "-m", "rtpose", "export-triton", "--weights", weights, "--repo", str(repo),
                    "--python-backend", "--detector", args.detector, "--queue-timeout-ms", "2000"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = TritonServer(repo, tmp / "triton-server", models=("hrnet_pose", "yolo_detector")).start()
    rows = []
    try:
        base = [sys.executable, "-m", "rtpose", "--weights", weights, "--backend", "triton", "--server", server.url,
                "--detector", f"triton://{server.url}/yolo_detector", "--max-frames", str(args.frames), "--no-show"]
        run_processes([base + ["--source", args.video, "--max-frames", "2"]])  # the server's first executions
        for n in args.streams:
            load = os.getloadavg()[0]
            errs, memory, _ = run_processes([base + [arg for _ in range(n) for arg in ("--source", args.video)]])
            one = summary_figures(errs[0])
            row = {"fps": one["frames"] / one["elapsed"], "people_s": one["people"] / one["elapsed"],
                   "per_call": one["people"] / max(one["calls"], 1), "memory": memory,
                   "server_memory": tree_rss_mb(server.process.pid), "failures": triton_figures(errs[0]), "load": load}
            rows.append((n, row))
            print(json.dumps({"streams": n, "triton": row}))
    finally:
        server.stop()
    return rows


def one_process(base: list[str], video: str, n: int) -> dict:
    """N streams in one rtpose process: its own summary's frames, people, pose calls and time; peak memory."""
    errs, memory, _ = run_processes([base + [arg for _ in range(n) for arg in ("--source", video)]])
    return {**summary_figures(errs[0]), "memory": memory}


def separate_processes(base: list[str], video: str, n: int) -> dict:
    """N rtpose processes of one stream each, started together: their frames, people and pose calls summed,
    timed from the first one's first frame to the last one's end of processing (they finish loading at
    different times, so their own processing times need not overlap; a process's end is when its summary
    line comes, which is also where the one-process side's time ends); peak summed memory."""
    errs, memory, ended = run_processes([base + ["--source", video] for _ in range(n)])
    many = [summary_figures(e) for e in errs]
    # each process's processing ends when it prints its summary (its exit comes later, after releasing the models)
    span = max(ended) - min(end - m["elapsed"] for end, m in zip(ended, many))
    return {"frames": sum(m["frames"] for m in many), "people": sum(m["people"] for m in many),
            "calls": sum(m["calls"] for m in many), "elapsed": span, "memory": memory}


def combined(runs: list[dict]) -> dict:
    """frames/s, people/s and people per pose call over all the runs together; the largest peak memory."""
    elapsed = sum(r["elapsed"] for r in runs)
    return {"fps": sum(r["frames"] for r in runs) / elapsed, "people_s": sum(r["people"] for r in runs) / elapsed,
            "per_call": sum(r["people"] for r in runs) / max(sum(r["calls"] for r in runs), 1),
            "memory": max(r["memory"] for r in runs)}


def batching_ceiling(args, weights: str) -> list[tuple[int, dict]]:
    """What batching alone can buy here: the detector and the pose model timed in one process on the video's
    own frames and people, at the batches N processes make (one frame, its people) and at the batches one
    process makes (N frames, all their people).

    Per N, medians of interleaved repeats: ``det_one_ms`` / ``det_batched_ms`` the detector's time per frame on
    one frame / on N frames at once; ``pose_one_ms`` / ``pose_batched_ms`` the pose model's time per person on
    one frame's crops / on all N frames' crops at once. ``ceiling`` is the model time per frame of N processes
    over that of one process: the people/s ratio one process could reach if nothing but the model calls cost
    time and N processes shared the cores without loss.
    """
    import statistics

    import cv2
    import numpy as np

    import rtpose
    from rtpose.pose.crops import make_input_batch

    model = rtpose.PoseModel(weights, detector=args.detector, backend=args.backend, device=args.device)
    estimator = model.estimator
    capture = cv2.VideoCapture(args.video)
    frames = []
    while len(frames) < max(args.streams) and (grabbed := capture.read())[0]:
        frames.append(grabbed[1])
    capture.release()
    frames = [frames[i % len(frames)] for i in range(max(args.streams))]
    crops = [make_input_batch(f, d.boxes, estimator.codec.input_hw, estimator.padding)[0]
             for f, d in zip(frames, estimator.detector.detect_batch(frames))]

    def timed_ms(call, *arg) -> float:
        start = time.perf_counter()
        call(*arg)
        return (time.perf_counter() - start) * 1e3

    def detect(n: int, batched: bool) -> float:
        """ms per frame for frames[:n]."""
        if batched:
            return timed_ms(estimator.detector.detect_batch, frames[:n]) / n
        return sum(timed_ms(estimator.detector.detect_batch, [f]) for f in frames[:n]) / n

    def pose(n: int, batched: bool) -> float:
        """ms per person for the people of frames[:n]."""
        people = sum(len(c) for c in crops[:n])
        if batched:
            return timed_ms(estimator.run_backend, np.concatenate(crops[:n])) / people
        return sum(timed_ms(estimator.run_backend, c) for c in crops[:n] if len(c)) / people

    rows = []
    for n in args.streams:
        people = sum(len(c) for c in crops[:n])
        if not people:
            continue
        times: dict[str, list[float]] = {f"{part}_{kind}_ms": [] for part in ("det", "pose")
                                         for kind in ("one", "batched")}
        for r in range(args.ceiling_repeats + 1):  # the first round warms every batch shape and is left out
            for batched in (False, True) if r % 2 else (True, False):
                det_ms, pose_ms = detect(n, batched), pose(n, batched)
                if r:
                    kind = "batched" if batched else "one"
                    times[f"det_{kind}_ms"].append(det_ms)
                    times[f"pose_{kind}_ms"].append(pose_ms)
        row = {k: statistics.median(v) for k, v in times.items()}
        per_frame = people / n
        row.update(people_per_frame=per_frame, people_per_call=people, load=os.getloadavg()[0])
        row["ceiling"] = ((row["det_one_ms"] + per_frame * row["pose_one_ms"])
                          / (row["det_batched_ms"] + per_frame * row["pose_batched_ms"]))
        rows.append((n, row))
        print(json.dumps({"streams": n, "batching_ceiling": row}))
    model.close()
    return rows


def overlap_rows(args, weights: str) -> list[tuple[int, dict]]:
    """The loop's two inference threads against one thread (``Pipeline(overlap=False)``), in one process: N
    streams of the video, ``--overlap-frames`` a stream, the two alternated ``--overlap-repeats`` times.

    Per N: the median people/s of each (timed from the first result, so that nothing before the loop counts)
    and the median of the paired ratios (each pair ran back to back: the machine's drift cancels).
    """
    import statistics

    import rtpose
    from rtpose.engine.pipeline import Pipeline
    from rtpose.io.sources import open_source
    from rtpose.utils.timing import now

    model = rtpose.PoseModel(weights, detector=args.detector, backend=args.backend, device=args.device)
    model.warmup()

    def people_per_s(n: int, overlap: bool) -> float:
        sources = [open_source(args.video) for _ in range(n)]
        trackers = [model.stream_defaults.tracker(model.keypoint_set) for _ in sources]
        pipeline = Pipeline(sources if n > 1 else sources[0], model.estimator, max_frames=args.overlap_frames,
                            overlap=overlap, tracker=trackers if n > 1 else trackers[0])
        people, first, skipped = 0, None, 0
        try:
            pipeline.start()
            for result in pipeline.results():
                if first is None:
                    first, skipped = now(), len(result)
                people += len(result)
        finally:
            pipeline.stop()
            for source in sources:
                source.close()
        return (people - skipped) / max(now() - first, 1e-9)

    rows = []
    for n in args.streams:
        rates: dict[bool, list[float]] = {True: [], False: []}
        for r in range(args.overlap_repeats):
            for overlap in (True, False) if r % 2 == 0 else (False, True):
                rates[overlap].append(people_per_s(n, overlap))
        row = {"overlap_people_s": statistics.median(rates[True]),
               "one_thread_people_s": statistics.median(rates[False]),
               "paired_ratio": statistics.median([a / b for a, b in zip(rates[True], rates[False])]),
               "load": os.getloadavg()[0]}
        rows.append((n, row))
        print(json.dumps({"streams": n, "overlap": row}))
    model.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(SHARED / "data" / "videos" / "vtest-480x360.avi"))
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--frames", type=int, default=40, help="frames per stream (default: 40)")
    parser.add_argument("--weights", help="HRNet checkpoint (default: deterministic W32 weights)")
    parser.add_argument("--detector", default=str(SHARED / "models" / "yolov8n-person.pt"))
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each side, alternating which goes first (default: 2; 0 leaves those rows out)")
    parser.add_argument("--no-triton", action="store_true", help="leave out the rows through a local Triton server")
    parser.add_argument("--triton-only", action="store_true", help="only the rows through a local Triton server")
    parser.add_argument("--overlap-repeats", type=int, default=0,
                        help="pairs of runs of the two inference threads against one thread (default: 0, no table)")
    parser.add_argument("--overlap-frames", type=int, default=20, help="frames per stream in those runs (default: 20)")
    parser.add_argument("--ceiling-repeats", type=int, default=15,
                        help="repeats of the batching-ceiling timings (0 leaves that table out; default: 15)")
    args = parser.parse_args(argv)
    if args.no_triton and args.triton_only:
        parser.error("--no-triton and --triton-only contradict each other; pass one of them")

    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or str(deterministic_weights(32, Path(tmp)))
        base = [sys.executable, "-m", "rtpose", "--weights", weights, "--detector", args.detector,
                "--backend", args.backend, "--device", args.device, "--max-frames", str(args.frames), "--no-show"]
        print(f"machine: {cpu_model()}")
        print(f"video: {args.video}, {args.frames} frames per stream; weights: {Path(weights).name}")
        rows = []
        if not args.triton_only:
            # one run first so that every row finds the ONNX and detector exports made
            run_processes([base + ["--source", args.video, "--max-frames", "2"]])
        for n in [] if args.triton_only or args.repeats < 1 else args.streams:
            load = os.getloadavg()[0]
            runs: dict[str, list[dict]] = {"one": [], "apart": []}
            for r in range(args.repeats):  # alternated (one, N, N, one, …) so that neither always goes first
                for kind in ("one", "apart") if r % 2 == 0 else ("apart", "one"):
                    runs[kind].append(one_process(base, args.video, n) if kind == "one" else
                                      separate_processes(base, args.video, n))
            together, apart = combined(runs["one"]), combined(runs["apart"])
            rows.append((n, together, apart, load))
            print(json.dumps({"streams": n, "one_process": together, "separate": apart, "load": load,
                              "runs": runs}))
        served = [] if args.no_triton else triton_rows(args, weights, Path(tmp))
        ceiling = [] if args.triton_only or args.ceiling_repeats < 1 else batching_ceiling(args, weights)
        overlaps = [] if args.triton_only or args.overlap_repeats < 1 else overlap_rows(args, weights)
    if rows:
        print(f"\n{'N':>3} | {'one process: frames/s':>21} {'people/s':>9} {'per call':>9} {'MB':>7} | "
              f"{'N processes: frames/s':>21} {'people/s':>9} {'per call':>9} {'MB':>7} | {'people/s ratio':>14} "
              f"{'memory ratio':>12} | load")
        for n, a, b, load in rows:
            print(f"{n:>3} | {a['fps']:>21.2f} {a['people_s']:>9.1f} {a['per_call']:>9.1f} {a['memory']:>7.0f} | "
                  f"{b['fps']:>21.2f} {b['people_s']:>9.1f} {b['per_call']:>9.1f} {b['memory']:>7.0f} | "
                  f"{a['people_s'] / max(b['people_s'], 1e-9):>14.2f} {a['memory'] / max(b['memory'], 1e-9):>12.2f} | "
                  f"{load:.2f}")
    if ceiling:
        print("\nWhat batching alone can buy here (model calls only, in one process, on the video's frames and people;"
              " medians):")
        print(f"{'N':>3} | {'people per call':>15} | {'detector ms per frame: 1 frame':>30} {'N frames':>8} | "
              f"{'pose ms per person: 1 frame':>27} {'N frames':>8} | {'ceiling':>7} | load")
        for n, c in ceiling:
            print(f"{n:>3} | {c['people_per_call']:>15} | {c['det_one_ms']:>30.1f} {c['det_batched_ms']:>8.1f} | "
                  f"{c['pose_one_ms']:>27.1f} {c['pose_batched_ms']:>8.1f} | {c['ceiling']:>6.2f}x | {c['load']:.2f}")
    if overlaps:
        print(f"\nThe two inference threads against one, in one process ({args.overlap_repeats} pairs, medians):")
        print(f"{'N':>3} | {'two threads: people/s':>21} {'one thread':>10} | {'paired ratio':>12} | load")
        for n, o in overlaps:
            print(f"{n:>3} | {o['overlap_people_s']:>21.1f} {o['one_thread_people_s']:>10.1f} | "
                  f"{o['paired_ratio']:>11.2f}x | {o['load']:.2f}")
    if served:
        print(f"\n{'N':>3} | {'Triton: frames/s':>16} {'people/s':>9} {'per call':>9} {'client MB':>9} "
              f"{'server MB':>9} | failed calls (pose, detector) | load")
        for n, t in served:
            failed = ", ".join(f"{part} {f['failed']} of {f['calls']}"
                               + "".join(f" ({c}: {n})" for c, n in f["causes"].items())
                               for part, f in t["failures"].items())
            print(f"{n:>3} | {t['fps']:>16.2f} {t['people_s']:>9.1f} {t['per_call']:>9.1f} {t['memory']:>9.0f} "
                  f"{t['server_memory']:>9.0f} | {failed:<29} | {t['load']:.2f}")
    print(f"(load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())} at the end, {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
