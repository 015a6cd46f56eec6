"""``python -m train.fit`` refuses, in one sentence and before anything loads, an output it cannot write and
person-mask annotations pycocotools cannot read (issue 29, 6). Real subprocesses, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TRAIN_MINI, TRAIN_MINI_ANN

pytestmark = pytest.mark.skipif(not TRAIN_MINI_ANN.is_file(), reason="needs ../shared/data/coco_train_mini")


def fit(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "train.fit", *args], capture_output=True, text=True, timeout=600,
                          env=env, cwd=ROOT)


def one_sentence(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 1, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("train.fit: error:"), run.stderr
    return lines[0]


def mask_args(ann: Path, output: Path) -> list[str]:
    return ["--task", "person-mask", "--data-root", str(TRAIN_MINI), "--train-ann", str(ann), "--train-images",
            "train2017", "--val-interval", "0", "--device", "cpu", "--workers", "0", "--epochs", "1",
            "--output", str(output)]


@pytest.mark.parametrize("where", ["file", "under_a_file", "too_long"])
def test_an_output_that_cannot_be_a_folder_is_one_sentence(tmp_path, where):
    taken = tmp_path / "taken.pth"
    taken.write_bytes(b"the user's checkpoint")
    output = {"file": taken, "under_a_file": taken / "run", "too_long": tmp_path / ("o" * 300)}[where]
    line = one_sentence(fit(*mask_args(TRAIN_MINI_ANN, output)))
    assert "--output" in line
    assert taken.read_bytes() == b"the user's checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.pth"]


def test_a_read_only_output_folder_is_one_sentence(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes in read-only folders (an output under a file is tested above)")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        line = one_sentence(fit(*mask_args(TRAIN_MINI_ANN, folder / "run")))
    finally:
        folder.chmod(0o755)
    assert "--output" in line


def _with_segmentation(tmp_path: Path, name: str, make) -> tuple[Path, int]:
    """coco_train_mini's annotations with the first non-crowd person's segmentation replaced by ``make(h, w)``."""
    data = json.loads(TRAIN_MINI_ANN.read_text())
    sizes = {i["id"]: (i["height"], i["width"]) for i in data["images"]}
    ann = next(a for a in data["annotations"] if a.get("segmentation") and not a.get("iscrowd"))
    ann["segmentation"] = make(*sizes[ann["image_id"]])
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path, ann["id"]


MALFORMED = {
    "polygon_of_a_box": (lambda h, w: [[10, 10, 50, 50]], "4 numbers"),
    "odd_polygon": (lambda h, w: [[10, 10, 50, 50, 30, 80, 7]], "7 numbers"),
    "polygon_with_text": (lambda h, w: [["a", "b", 1, 2, 3, 4]], "not a finite number"),
    "polygon_not_a_list": (lambda h, w: [5], "not a list"),
    "rle_too_long": (lambda h, w: {"size": [h, w], "counts": [5, h * w]}, "cover"),
    "rle_other_size": (lambda h, w: {"size": [h + 1, w], "counts": [(h + 1) * w]}, "image is"),
    "rle_bad_string": (lambda h, w: {"size": [h, w], "counts": "zz~~"}, "not a COCO RLE character"),
    "rle_without_size": (lambda h, w: {"counts": [h * w]}, "no [height, width] size"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_person_mask_is_one_sentence_naming_the_annotation(tmp_path, case):
    make, words = MALFORMED[case]
    ann, ann_id = _with_segmentation(tmp_path, case, make)
    line = one_sentence(fit(*mask_args(ann, tmp_path / "run")))
    assert f"annotation {ann_id}" in line and "malformed" in line and words in line, line


def test_the_checks_pass_valid_masks_of_every_kind():
    """Polygons, uncompressed RLE and compressed RLE strings that pycocotools itself wrote are all accepted."""
    import numpy as np
    from pycocotools import mask as mask_api

    from train.seg_dataset import segmentation_problem

    rng = np.random.default_rng(0)
    for _ in range(10):
        h, w = (int(v) for v in rng.integers(5, 60, 2))
        mask = np.asfortranarray((rng.random((h, w)) > 0.5).astype(np.uint8))
        compressed = mask_api.encode(mask)
        rle = {"size": [h, w], "counts": compressed["counts"].decode()}
        assert segmentation_problem(rle, h, w) is None
        assert (mask_api.decode({"size": [h, w], "counts": rle["counts"].encode()}) == mask).all()
    assert segmentation_problem([[1, 1, 5, 1, 5, 5], [0, 0, 2, 0, 2, 2.5]], 10, 10) is None
    assert segmentation_problem({"size": [2, 3], "counts": [1, 4, 1]}, 2, 3) is None
