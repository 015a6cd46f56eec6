"""Keypoint sets against a literal copy of mmpose's official definitions, and their use in flip, render, tracking.

The copies are in ``tests/data/mmpose_datasets`` (see its README); they are parsed with ``ast``, never executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from rtpose.errors import RtposeError
from rtpose.io.render import confidence_colour, draw_result
from rtpose.pose.codec import HeatmapCodec
from rtpose.pose.keypoint_sets import (
    FLIP_INDEX,
    KEYPOINT_NAMES,
    KEYPOINT_SETS,
    LIMBS,
    OKS_SIGMAS,
    UPPER_BODY,
    KeypointSetError,
    get_keypoint_set,
    keypoint_set_for,
)
from rtpose.results import Person, PoseResult
from rtpose.tracking.smoothing import OneEuroFilter
from rtpose.tracking.tracker import PoseTracker, keypoint_oks

OFFICIAL = Path(__file__).parents[1] / "data" / "mmpose_datasets"
FILES = {
    "coco": "coco.py.txt",
    "coco_wholebody": "coco_wholebody.py.txt",
    "halpe": "halpe.py.txt",
    "mpii": "mpii.py.txt",
    "crowdpose": "crowdpose.py.txt",
    "ap10k": "ap10k.py.txt",
}


def _literal(node: ast.AST):
    """A literal of mmpose's config syntax: Python literals plus ``dict(key=value, …)`` calls."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):  # e.g. joint_weights=[1.] * 133
        left, right = _literal(node.left), _literal(node.right)
        return left + right if isinstance(node.op, ast.Add) else left * right
    return ast.literal_eval(node)


def official(name: str) -> dict:
    """The ``dataset_info`` dict of mmpose's definition file for ``name``."""
    tree = ast.parse((OFFICIAL / FILES[name]).read_text())
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == "dataset_info" for t in stmt.targets):
            return _literal(stmt.value)
    raise AssertionError(f"no dataset_info in {FILES[name]}")


def test_every_set_has_an_official_copy():
    assert set(FILES) == set(KEYPOINT_SETS)


@pytest.mark.parametrize("name", list(FILES))
def test_set_equals_the_official_definition(name):
    info = official(name)
    kset = KEYPOINT_SETS[name]
    keypoints = [info["keypoint_info"][i] for i in range(len(info["keypoint_info"]))]
    assert [k["id"] for k in keypoints] == list(range(len(keypoints)))
    names = [k["name"] for k in keypoints]
    assert list(kset.keypoint_names) == names
    index = {n: i for i, n in enumerate(names)}

    # flip pairs: every keypoint with a swap partner, each pair once, both directions agreeing
    official_pairs = {tuple(sorted((i, index[k["swap"]]))) for i, k in enumerate(keypoints) if k["swap"]}
    for k in keypoints:
        if k["swap"]:
            assert keypoints[index[k["swap"]]]["swap"] == k["name"], f"{name}: swap of {k['name']} is not mutual"
    assert set(kset.flip_pairs) == official_pairs
    assert len(kset.flip_pairs) == len(official_pairs)
    expected_flip = np.array([index[k["swap"]] if k["swap"] else i for i, k in enumerate(keypoints)])
    np.testing.assert_array_equal(kset.flip_index, expected_flip)

    links = [info["skeleton_info"][i] for i in range(len(info["skeleton_info"]))]
    assert list(kset.links) == [(index[a], index[b]) for a, b in (s["link"] for s in links)]
    assert list(kset.link_colours_bgr) == [tuple(s["color"][::-1]) for s in links]
    assert list(kset.keypoint_colours_bgr) == [tuple(k["color"][::-1]) for k in keypoints]
    assert list(kset.sigmas) == pytest.approx(info["sigmas"], abs=0)
    assert list(kset.joint_weights) == pytest.approx(info["joint_weights"], abs=0)
    assert list(kset.upper_body) == [i for i, k in enumerate(keypoints) if k["type"] == "upper"]
    assert list(kset.lower_body) == [i for i, k in enumerate(keypoints) if k["type"] == "lower"]


@pytest.mark.parametrize("name", list(FILES))
def test_flip_index_is_an_involution_that_swaps_sides(name):
    kset = KEYPOINT_SETS[name]
    flip = kset.flip_index
    np.testing.assert_array_equal(flip[flip], np.arange(kset.num_keypoints))
    for left, right in kset.flip_pairs:
        a, b = kset.keypoint_names[left], kset.keypoint_names[right]
        if a.startswith(("left", "right")) or b.startswith(("left", "right")):
            assert a.replace("left", "X").replace("right", "left").replace("X", "right") == b, (a, b)


def test_parts_cover_every_keypoint_once():
    for kset in KEYPOINT_SETS.values():
        covered = np.zeros(kset.num_keypoints, int)
        for start, stop in kset.parts.values():
            covered[start:stop] += 1
        assert (covered == 1).all(), kset.name
    wholebody = KEYPOINT_SETS["coco_wholebody"]
    assert wholebody.keypoint_names[slice(*wholebody.parts["face"])][0] == "face-0"
    assert wholebody.keypoint_names[slice(*wholebody.parts["left_hand"])][0] == "left_hand_root"
    assert wholebody.keypoint_names[slice(*wholebody.parts["right_hand"])][-1] == "right_pinky_finger4"
    halpe = KEYPOINT_SETS["halpe"]
    assert halpe.keypoint_names[slice(*halpe.parts["feet"])] == (
        "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel")


def test_coco_aliases_keep_their_values():
    coco = KEYPOINT_SETS["coco"]
    assert coco.keypoint_names == KEYPOINT_NAMES and len(KEYPOINT_NAMES) == 17
    assert coco.links == LIMBS and tuple(range(11)) == UPPER_BODY
    np.testing.assert_array_equal(FLIP_INDEX, [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15])
    # pycocotools' own COCO sigmas
    from pycocotools.cocoeval import Params

    np.testing.assert_array_equal(OKS_SIGMAS, Params(iouType="keypoints").kpt_oks_sigmas)


def test_set_lookup():
    assert keypoint_set_for(133).name == "coco_wholebody"
    assert keypoint_set_for(136).name == "halpe"
    assert keypoint_set_for(16).name == "mpii"
    assert keypoint_set_for(14).name == "crowdpose"
    assert keypoint_set_for(17).name == "coco"  # 17 is ambiguous: body unless told
    assert keypoint_set_for(17, "ap10k").name == "ap10k"
    assert get_keypoint_set("COCO-WholeBody").name == "coco_wholebody"
    with pytest.raises(KeypointSetError, match="has 16") as info:
        keypoint_set_for(17, "mpii")
    assert isinstance(info.value, RtposeError)
    with pytest.raises(KeypointSetError, match="No keypoint set has 21"):
        keypoint_set_for(21)
    with pytest.raises(KeypointSetError, match="Unknown keypoint set 'hands'"):
        get_keypoint_set("hands")


@pytest.mark.parametrize("name", list(FILES))
def test_flip_merge_recovers_each_set(name):
    """What a perfect network gives for a mirrored crop, merged with the set's flip index, is the original."""
    kset = KEYPOINT_SETS[name]
    codec = HeatmapCodec(input_hw=kset.input_hw)
    h, w = codec.heatmap_hw
    rng = np.random.default_rng(kset.num_keypoints)
    mu = rng.uniform([4, 4], [w - 5, h - 5], size=(kset.num_keypoints, 2)).astype(np.float32)
    visible = np.ones(kset.num_keypoints)
    heatmaps, _ = codec.encode(mu * codec.stride, visible)
    mirrored = mu.copy()
    mirrored[:, 0] = w - 1 - mirrored[:, 0]
    flipped, _ = codec.encode(mirrored[kset.flip_index] * codec.stride, visible)
    merged = codec.merge_flipped(heatmaps[None], flipped[None], shift=False, flip_index=kset.flip_index)
    np.testing.assert_allclose(merged[0], heatmaps, atol=1e-6)
    if kset.flip_pairs:  # the identity would get the paired channels wrong
        wrong = codec.merge_flipped(heatmaps[None], flipped[None], shift=False,
                                    flip_index=np.arange(kset.num_keypoints))
        assert np.abs(wrong[0] - heatmaps).max() > 0.1
    with pytest.raises(ValueError, match="channels"):
        codec.merge_flipped(heatmaps[None], flipped[None], flip_index=np.arange(kset.num_keypoints + 1))


def draw_people(image, people, keypoint_set=None, **options):
    return draw_result(image, PoseResult.from_people(people, keypoint_set), **options)


def _grid_person(k: int, spacing: int = 20) -> Person:
    cols = 12
    kpts = np.zeros((k, 3), np.float32)
    kpts[:, 0] = 15 + spacing * (np.arange(k) % cols)
    kpts[:, 1] = 15 + spacing * (np.arange(k) // cols)
    kpts[:, 2] = 0.9
    box = np.array([0, 0, 15 + spacing * cols, 15 + spacing * (k // cols + 1)], np.float32)
    return Person(box=box, score=0.9, keypoints=kpts)


def test_render_draws_all_133_wholebody_points_and_toggles_parts():
    kset = KEYPOINT_SETS["coco_wholebody"]
    person = _grid_person(133)
    image = np.zeros((300, 300, 3), np.uint8)
    out = draw_people(image, [person], show_boxes=False)
    colour = confidence_colour(0.9, 0.3)
    centres = person.keypoints[:, :2].astype(int)
    drawn = [tuple(out[y, x]) == colour for x, y in centres]
    assert all(drawn), f"{drawn.count(False)} of 133 keypoints not drawn"
    # only the face (which has no links): face dots drawn, everything else left black
    face = kset.part_mask(["face"])
    out = draw_people(image, [person], show_boxes=False, keypoint_parts=["face"])
    assert all(tuple(out[y, x]) == colour for x, y in centres[face])
    assert not any(out[y, x].any() for x, y in centres[~face])
    # face and hands are drawn finer than the body: smaller dots, and no dark rim
    body_dot = (draw_people(image, [person], show_boxes=False, keypoint_parts=["body"]) > 0).any(-1).sum()
    face_dot = (out > 0).any(-1).sum()
    assert face_dot / face.sum() < body_dot / 17
    with pytest.raises(KeypointSetError, match="no part 'hands'"):
        draw_people(image, [person], keypoint_parts=["hands"])


@pytest.mark.parametrize("name", ["mpii", "crowdpose", "halpe", "ap10k"])
def test_render_uses_the_sets_links(name):
    kset = KEYPOINT_SETS[name]
    person = _grid_person(kset.num_keypoints, spacing=22)
    out = draw_people(np.zeros((320, 320, 3), np.uint8), [person], show_boxes=False, keypoint_set=kset)
    a, b = kset.links[0]
    mid = ((person.keypoints[a, :2] + person.keypoints[b, :2]) / 2).astype(int)
    assert out[mid[1], mid[0]].any(), "the first link of the set is drawn"
    with pytest.raises(ValueError, match="keypoint set"):
        draw_people(out, [_grid_person(kset.num_keypoints + 1)], keypoint_set=kset)


def test_tracking_oks_uses_the_sets_sigmas():
    rng = np.random.default_rng(0)
    for kset in KEYPOINT_SETS.values():
        a = rng.uniform(0, 100, size=(kset.num_keypoints, 2))
        b = a + rng.normal(0, 3, size=a.shape)
        ok = np.ones(kset.num_keypoints, bool)
        expected = np.exp(-((a - b) ** 2).sum(-1) / (2 * 100.0**2 * (2 * kset.oks_sigmas) ** 2)).mean()
        assert keypoint_oks(a, ok, b, ok, 100.0**2, kset.oks_sigmas) == pytest.approx(expected)
        if kset.name != "ap10k":  # default: the set with K keypoints (COCO for 17)
            assert keypoint_oks(a, ok, b, ok, 100.0**2) == pytest.approx(expected)


def test_tracker_and_smoother_run_on_133_keypoints():
    """Two whole-body people walking: stable IDs, smoothed keypoints of shape (133, 3)."""
    tracker = PoseTracker(keypoint_set="coco_wholebody")
    base = _grid_person(133, spacing=5).keypoints
    for frame in range(6):
        people = []
        for offset in (0, 200):
            kp = base.copy()
            kp[:, 0] += offset + 3 * frame
            box = np.array([kp[:, 0].min(), kp[:, 1].min(), kp[:, 0].max(), kp[:, 1].max()], np.float32)
            people.append(Person(box=box, score=0.9, keypoints=kp))
        out = tracker.update(people, frame / 10)
        assert [p.track_id for p in out] == [1, 2]
        assert out.keypoints.shape == (2, 133, 3)
    smoother = OneEuroFilter()
    assert smoother(base[:, :2], 0.0, scale=100.0).shape == (133, 2)


class _FixedHeatmaps:
    """A backend whose heatmaps have K channels, each with its peak at the crop centre."""

    name, device, input_hw, max_batch = "fixed", "cpu", (256, 192), 8

    def __init__(self, channels: int, num_joints: int | None = None) -> None:
        self.channels = channels
        if num_joints is not None:
            self.num_joints = num_joints

    def infer(self, batch: np.ndarray) -> np.ndarray:
        maps = np.zeros((len(batch), self.channels, 64, 48), np.float32)
        maps[:, :, 32, 24] = 1.0
        return maps


def test_estimator_knows_its_keypoint_set():
    from rtpose.pose.estimator import TopDownEstimator

    image = np.zeros((200, 200, 3), np.uint8)
    box = np.array([[50, 20, 150, 180]], np.float32)
    assert TopDownEstimator(_FixedHeatmaps(16, num_joints=16)).keypoint_set.name == "mpii"
    lazy = TopDownEstimator(_FixedHeatmaps(133), flip=True)
    found = lazy.estimate_boxes(image, box)
    assert lazy.keypoint_set.name == "coco_wholebody" and found.keypoints.shape == (1, 133, 3)
    assert TopDownEstimator(_FixedHeatmaps(17), keypoint_set="ap10k").keypoint_set.name == "ap10k"
    with pytest.raises(KeypointSetError, match="gives 16 heatmaps but the keypoint set coco has 17"):
        TopDownEstimator(_FixedHeatmaps(16), keypoint_set="coco").estimate_boxes(image, box)


def test_results_carry_their_set_to_render_and_tracking():
    """17 animal keypoints are drawn and tracked as AP-10K when the estimator says so, not as COCO body."""
    from rtpose.pose.estimator import TopDownEstimator

    image = np.zeros((200, 200, 3), np.uint8)
    found = TopDownEstimator(_FixedHeatmaps(17), keypoint_set="ap10k").estimate_boxes(
        image, np.array([[50, 20, 150, 180]], np.float32))
    assert found.keypoint_set.name == "ap10k" and found[0].keypoint_set.name == "ap10k"
    animal = PoseResult.from_people([_grid_person(17, spacing=22)], "ap10k")
    canvas = np.zeros((320, 320, 3), np.uint8)
    drawn = draw_result(canvas, animal, show_boxes=False)
    as_coco = draw_result(canvas, animal.replace(keypoint_set=KEYPOINT_SETS["coco"]), show_boxes=False)
    assert (drawn != as_coco).any()
    np.testing.assert_array_equal(PoseTracker()._sigmas(animal), KEYPOINT_SETS["ap10k"].oks_sigmas)
    np.testing.assert_array_equal(PoseTracker()._sigmas(PoseResult.from_people([_grid_person(17)])), OKS_SIGMAS)
