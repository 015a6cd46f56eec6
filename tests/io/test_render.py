"""Rendering: the right pixels get drawn, nothing below the keypoint threshold."""

from __future__ import annotations

import numpy as np

from rtpose.io.render import confidence_colour, draw_hud, draw_result, track_colour
from rtpose.results import Person, PoseResult


def _person(track_id=None) -> Person:
    kpts = np.zeros((17, 3), np.float32)
    kpts[:, 0] = 40 + 10 * np.arange(17)  # x: 40 … 200, well apart
    kpts[:, 1] = 100
    kpts[:, 2] = 0.9
    kpts[9] = (60, 200, 0.1)  # left wrist: below the threshold
    kpts[0] = (150, 50, 0.6)  # nose: mid confidence
    return Person(box=np.array([20, 30, 260, 230], np.float32), score=0.8, keypoints=kpts, track_id=track_id)


def test_keypoint_colours_at_their_locations_and_nothing_below_threshold():
    image = np.zeros((300, 300, 3), np.uint8)
    person = _person()
    out = draw_result(image, PoseResult.from_people([person]), kpt_thr=0.3, show_boxes=False)
    assert out is not image and not image.any(), "copy=True must leave the input untouched"
    for i in (0, 5, 16):
        x, y, s = person.keypoints[i]
        assert tuple(out[int(y), int(x)]) == confidence_colour(float(s), 0.3), i
    assert confidence_colour(0.9, 0.3) != confidence_colour(0.6, 0.3)
    # the low-score wrist and the limb to it (elbow (7) → wrist (9)) are not drawn
    assert not out[190:211, 50:71].any()
    # a limb between two confident keypoints is drawn (left hip 11 → right hip 12 at y=100)
    assert out[100, int(person.keypoints[11, 0]) + 5].any()


def test_boxes_ids_in_place_and_options():
    image = np.zeros((300, 300, 3), np.uint8)
    person = _person(track_id=3)
    out = draw_result(image, PoseResult.from_people([person]), copy=False, show_keypoints=False)
    assert out is image
    assert tuple(image[130, 20]) == track_colour(3)  # left box edge
    assert not image[100, 100].any()  # no keypoints drawn
    nothing = draw_result(np.zeros_like(image), PoseResult.from_people([person]), show_boxes=False,
                          show_keypoints=False)
    assert not nothing.any()


def test_hud_writes_in_the_corner():
    image = np.full((200, 300, 3), 200, np.uint8)
    out = draw_hud(image, ["12.3 FPS  latency 80 ms", "2 people"], copy=True)
    assert (out[:20, :60] != 200).any() and (image == 200).all()
    assert (out[150:, 200:] == 200).all()


def test_result_plot_draws_the_same_pixels_on_the_frame_copy():
    from rtpose.io.sources import Frame

    image = np.zeros((300, 300, 3), np.uint8)
    result = PoseResult.from_people([_person(track_id=2)]).replace(frame=Frame(0, 0.0, image))
    drawn = result.plot(kpt_thr=0.3)
    assert not image.any()  # the frame's image is never drawn on
    np.testing.assert_array_equal(drawn, draw_result(image, result, kpt_thr=0.3))


def test_render_never_imports_results_not_even_for_type_checkers():
    """results.py draws through render.py; render reads results through its ``Drawable`` protocol only."""
    import ast
    from pathlib import Path

    import rtpose.io.render as render

    tree = ast.parse(Path(render.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any(name and name.startswith("rtpose.results") for name in imported), imported
    result = PoseResult.from_people([_person(track_id=1)])
    needed = [*render.Drawable.__annotations__, "track_id_list", "__len__"]
    assert len(needed) > 10 and all(hasattr(result, name) for name in needed)  # a PoseResult is a Drawable
