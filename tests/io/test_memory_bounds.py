"""Memory has bounds: the extreme images (1 × N, N × 1, 20000 × 20000) end cleanly under a memory limit.

Each run is a real process (a program using ``PoseModel``, or the ``rtpose`` command) started with its
address space limited (``RLIMIT_AS`` set in ``preexec_fn``). The limit is 10 GiB: the loaded models
alone take about 5.5 GB of address space here (PyTorch, ONNX Runtime, OpenCV, Ultralytics), a
20000 × 20000 image 1.2 GB, while the unbounded segmentation input of a 1 × 5000 image needs 22.8 GB
(14.6 GiB for its first array). Without the caps of :mod:`rtpose.io.inputs` such a process dies with a
``MemoryError`` traceback (or the kernel kills it when there is no limit); with them every image gives a
correct result or one sentence, and the process exits by itself.
``MALLOC_ARENA_MAX=2`` keeps glibc's per-thread arenas from making the address space depend on the
number of cores.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import DETECTOR_WEIGHTS, ROOT

pytestmark = pytest.mark.slow

LIMIT = 10 << 30
THIN, TALL, HUGE = (1, 5000), (5000, 1), (20000, 20000)

CHILD = """
import json, sys
import numpy as np
import rtpose
from rtpose.errors import RtposeError

weights, detector, seg, seg_weights = sys.argv[1:5]
options = {"seg": seg, "seg_weights": seg_weights} if seg != "none" else {}
with rtpose.PoseModel(weights, detector=detector, device="cpu", backend="onnxruntime", **options) as model:
    for h, w in json.loads(sys.argv[5]):
        image = np.full((h, w, 3), 128, np.uint8)
        try:
            r = model(image)
            record = {"people": len(r), "image": list(r.image.shape),
                      "person_mask": None if r.person_mask is None else list(r.person_mask.shape),
                      "masks": None if r.masks is None else list(r.masks.shape)}
        except RtposeError as error:
            record = {"refused": str(error)}
        print(json.dumps({"shape": [h, w], **record}), flush=True)
        del image
"""


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def _run(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MALLOC_ARENA_MAX="2")
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          preexec_fn=_limited, timeout=timeout)
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}: {proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr, proc.stderr[-3000:]
    return proc


def _one_sentence(text: str) -> None:
    assert "\n" not in text.strip() and len(text) < 300 and text.rstrip().endswith("."), text


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The extremes as image files: a folder with the 1 × 5000 and 5000 × 1 strips, and a 20000 × 20000 PNG."""
    folder = tmp_path_factory.mktemp("extremes")
    strips = folder / "strips"
    strips.mkdir()
    for name, (h, w) in (("thin.png", THIN), ("tall.png", TALL)):
        assert cv2.imwrite(str(strips / name), np.full((h, w, 3), 128, np.uint8))
    huge = folder / "huge.png"
    assert cv2.imwrite(str(huge), np.zeros((*HUGE, 3), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return strips, huge


@pytest.mark.parametrize("seg", [None, "person"])
def test_the_library_gives_a_result_or_one_sentence_for_extreme_images(seg, small_weights, seg_weights):
    shapes = [THIN, TALL, HUGE]
    proc = _run(["-c", CHILD, str(small_weights), str(DETECTOR_WEIGHTS), seg or "none", str(seg_weights["voc"]),
                 json.dumps(shapes)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {tuple(r["shape"]): r for r in map(json.loads, proc.stdout.splitlines())}
    assert set(records) == set(shapes)
    for shape in (THIN, TALL):  # thin strips: a correct (empty) result, with maps of the frame's size
        record = records[shape]
        assert record["people"] == 0 and record["image"] == [*shape, 3], record
        if seg:
            assert record["person_mask"] == list(shape) and record["masks"] == [0, *shape], record
    refused = records[HUGE]["refused"]
    _one_sentence(refused)
    assert refused.startswith("image=") and "400.0 megapixels" in refused


@pytest.mark.parametrize("seg", [None, "person"])
def test_the_command_gives_a_result_or_one_sentence_for_extreme_images(seg, images, small_weights, seg_weights,
                                                                       tmp_path):
    strips, huge = images
    base = ["-m", "rtpose", "--weights", str(small_weights), "--detector", str(DETECTOR_WEIGHTS), "--backend",
            "onnxruntime", "--device", "cpu", "--no-show"]
    if seg:
        base += ["--seg", seg, "--seg-weights", str(seg_weights["voc"])]
    out = tmp_path / "strips.jsonl"
    proc = _run([*base, "--source", str(strips), "--json", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    frames = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert sorted(f["file"] for f in frames) == ["tall.png", "thin.png"]
    assert all(f["people"] == [] for f in frames)

    proc = _run([*base, "--source", str(huge), "--json", str(tmp_path / "huge.jsonl")])
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rtpose: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    _one_sentence(errors[0])
    assert "20000x20000" in errors[0]
