#!/usr/bin/env bash
# The GPU proof's two steps (see benchmarks/README.md):
#
#   bash benchmarks/gpu_proof.sh prepare          # here (PyPI reachable): wheels + data into .whl/ (git-ignored)
#   bash benchmarks/gpu_proof.sh check            # here: is the wheel list complete? (the dry run, GPU machine's packages)
#   bash benchmarks/gpu_proof.sh run OUTDIR [...]  # there (the GPU machine, .whl carried): install, run the proof
#
# prepare downloads the wheels the GPU machine lacks, for CPython 3.12 on manylinux x86-64, and copies the
# few files of ../shared the proof and the GPU tests read into .whl/shared (../shared does not travel).
# run installs the wheels into /tmp/site (the machine's own packages stay as they are) and runs
# benchmarks/gpu_proof.py with a hard limit of 8 minutes; extra arguments go to gpu_proof.py.
set -euo pipefail
cd "$(dirname "$0")/.."

WHL=.whl
#: The wheels, pinned: Ultralytics (the detector) and its imports that are not on the GPU machine.
WHEELS=(ultralytics==8.4.190 ultralytics-thop==2.2.3 PyYAML==6.0.3 tqdm==4.70.1 pytest-timeout==2.4.0)
#: What the proof and the GPU tests read from ../shared (never data/holdout).
SHARED_FILES=(reference/fill.py reference/hrnet_w32_256x192.npz models/yolov8n-person.pt data/images/bus.jpg
              data/videos/vtest-480x360.avi data/coco_val_dev)

case "${1:-}" in
  prepare)
    shared=${RTPOSE_SHARED:-../shared}
    mkdir -p "$WHL"
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
      -d "$WHL" "${WHEELS[@]}"
    [ -d "$WHL/shared" ] && chmod -R u+w "$WHL/shared"
    for f in "${SHARED_FILES[@]}"; do
      mkdir -p "$WHL/shared/$(dirname "$f")"
      rm -rf "${WHL:?}/shared/$f"
      cp -r "$shared/$f" "$WHL/shared/$f"
    done
    chmod -R u+w "$WHL/shared"  # ../shared is read-only: the copy must stay removable
    ls -l "$WHL"/*.whl
    du -sh "$WHL"/*.whl "$WHL/shared" | sed 's/^/size: /'
    du -sh "$WHL" | sed 's/^/total (carried with the working tree, 64 MiB at most): /'
    ;;
  run)
    out=${2:?usage: gpu_proof.sh run OUTDIR [gpu_proof.py options]}
    # PROOF_SITE: where the wheels go (default /tmp/site); PROOF_PIP_ARGS: extra pip options, e.g. to try this
    # step on another Python: --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64
    site=${PROOF_SITE:-/tmp/site}
    # shellcheck disable=SC2086  # PROOF_PIP_ARGS is a list of options
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade ${PROOF_PIP_ARGS:-} \
      --target "$site" "$WHL"/*.whl
    export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
    if [ -z "${RTPOSE_SHARED:-}" ] && [ -d "$WHL/shared" ]; then export RTPOSE_SHARED=$PWD/$WHL/shared; fi
    export PYTHONUNBUFFERED=1
    timeout -k 10 480 python3 benchmarks/gpu_proof.py --out "$out" "${@:3}"
    ;;
  check)
    # Is the wheel list complete? Here, with .whl prepared: the wheels installed for CPython 3.12, then the dry
    # run under `python3 -S` seeing only the GPU machine's packages (taken from this Python: torch, torchvision,
    # onnx, onnxruntime, OpenCV, numpy, pytest and what they declare), the wheels and the checkout.
    tmp=$(mktemp -d)
    python3 -m pip install -q --no-index --no-deps --only-binary=:all: --python-version 3.12 \
      --platform manylinux2014_x86_64 --target "$tmp/wheels" "$WHL"/*.whl
    python3 - "$tmp/machine" <<'PY'
import os, re, sys
from importlib.metadata import PackageNotFoundError, distribution
from packaging.requirements import Requirement

out, seen, todo = sys.argv[1], {}, ["torch", "torchvision", "onnx", "onnxruntime", "numpy", "pytest",
                                    "opencv-python-headless", "opencv-python"]
while todo:
    name = todo.pop()
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen or key.startswith("nvidia-") or key == "triton":
        continue
    try:
        seen[key] = dist = distribution(name)
    except PackageNotFoundError:
        continue
    for text in dist.requires or []:
        req = Requirement(text)
        if not req.marker or req.marker.evaluate({"extra": ""}):
            todo.append(req.name)
os.makedirs(out, exist_ok=True)
for dist in seen.values():
    for top in {str(f).split("/")[0] for f in dist.files or []} - {".."}:
        src, dst = str(dist.locate_file(top)), os.path.join(out, top)
        if os.path.exists(src) and not os.path.lexists(dst) and not top.endswith((".pth", ".data")):
            os.symlink(src, dst)
print("the GPU machine's packages, as seen here:", ", ".join(sorted(seen)))
PY
    out=${2:-$tmp/out}
    env -u PYTHONPATH RTPOSE_SHARED="$PWD/$WHL/shared" PYTHONPATH="$tmp/machine:$tmp/wheels:$PWD" \
      python3 -S benchmarks/gpu_proof.py --dry-run --out "$out"
    python3 - "$out/report.json" <<'PY'
import json, sys

sections = json.load(open(sys.argv[1]))["sections"]
usable = sections["environment"]["facts"]["Ultralytics usable"]
print(f"Ultralytics usable: {usable}; end_to_end: {sections['end_to_end']['status']}")
sys.exit(0 if usable == "yes" and sections["end_to_end"]["status"] == "ok" else 1)
PY
    ;;
  *)
    echo "usage: $0 prepare | check [OUTDIR] | run OUTDIR [gpu_proof.py options]" >&2
    exit 2
    ;;
esac
