"""Keypoint sets as data: names, skeleton links, flip pairs, colours and OKS sigmas, defined once.

Every keypoint array in rtpose is ``(K, 3)`` rows of (x, y, score) in the order of one
:class:`KeypointSet`. The sets are the ones official HRNet checkpoints are published for (mmpose model
zoo). Their definitions are transcribed from mmpose's dataset descriptions, mmpose 1.3.2
``configs/_base_/datasets/{coco,coco_wholebody,halpe,mpii,crowdpose,ap10k}.py``
(https://github.com/open-mmlab/mmpose, Apache-2.0), which cite the datasets:

- COCO (Lin et al., ECCV 2014), 17 body keypoints;
- COCO-WholeBody (Jin et al., ECCV 2020), 133: COCO body, 6 feet, 68 face, 2 × 21 hands;
- Halpe full body (Li et al., CVPR 2020; AlphaPose), 136: 26 body and feet, 68 face, 2 × 21 hands;
- MPII human pose (Andriluka et al., CVPR 2014), 16 (sigmas adapted from COCO by mmpose);
- CrowdPose (Li et al., CVPR 2019), 14;
- AP-10K animals (Yu et al., NeurIPS 2021), 17 animal keypoints.

``flip_pairs`` are mmpose's ``swap`` entries as (lower index, higher index); ``link_colours_bgr`` and
``keypoint_colours_bgr`` are mmpose's RGB colours in OpenCV's BGR order; ``upper_body``/``lower_body``
are mmpose's keypoint ``type``. ``tests/pose/test_keypoint_sets.py`` checks every field against a literal copy
of those files.

The COCO set stays available under the module's historical names (``KEYPOINT_NAMES``,
``FLIP_INDEX``, ``LIMBS``, ``OKS_SIGMAS``, …), which are aliases of :data:`COCO`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rtpose.errors import KeypointSetError


@dataclass(frozen=True)
class KeypointSet:
    """One keypoint definition (see the module docstring for the sources).

    Attributes:
        name: the short name used on the command line (``--keypoints NAME``) and in sidecars.
        title: a human-readable description.
        source: the file the definition is transcribed from.
        keypoint_names: ``K`` names; index ``i`` of a ``(K, 3)`` array is ``keypoint_names[i]``.
        flip_pairs: (left, right) index pairs that swap under a horizontal flip.
        links: skeleton limbs as (from, to) keypoint indices.
        link_colours_bgr: one BGR colour per link.
        keypoint_colours_bgr: one BGR colour per keypoint.
        sigmas: per-keypoint OKS sigmas (COCO-style evaluation and tracking).
        joint_weights: per-keypoint loss weights used in training.
        upper_body / lower_body: keypoint indices of each half (half-body augmentation).
        parts: named index ranges ``[start, stop)`` (body, feet, face, hands); a viewer can toggle them.
        input_hw: the model input (H, W) of the published checkpoints when nothing else says it.
        detector_classes: COCO class ids the detector looks for (0 = person; animals for AP-10K).
        annotation_fields: the COCO-format annotation fields holding the keypoints, in order (one per part
            for COCO-WholeBody, whose files split body, feet, face and hands; ``("keypoints",)`` otherwise).
    """

    name: str
    title: str
    source: str
    keypoint_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    links: tuple[tuple[int, int], ...]
    link_colours_bgr: tuple[tuple[int, int, int], ...]
    keypoint_colours_bgr: tuple[tuple[int, int, int], ...]
    sigmas: tuple[float, ...]
    joint_weights: tuple[float, ...]
    upper_body: tuple[int, ...]
    lower_body: tuple[int, ...]
    parts: dict[str, tuple[int, int]] = field(default_factory=dict)
    input_hw: tuple[int, int] = (256, 192)
    detector_classes: tuple[int, ...] = (0,)
    annotation_fields: tuple[str, ...] = ("keypoints",)

    def __post_init__(self) -> None:
        k = len(self.keypoint_names)
        for label, values in (("keypoint_colours_bgr", self.keypoint_colours_bgr), ("sigmas", self.sigmas),
                              ("joint_weights", self.joint_weights)):
            if len(values) != k:
                raise ValueError(f"{self.name}: {label} has {len(values)} entries for {k} keypoints")
        if len(self.link_colours_bgr) != len(self.links):
            raise ValueError(f"{self.name}: {len(self.links)} links but {len(self.link_colours_bgr)} colours")

    def __hash__(self) -> int:  # ``parts`` is a dict, so the generated hash would fail
        return hash((self.name, self.keypoint_names, self.flip_pairs))

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def flip_index(self) -> np.ndarray:
        """``keypoints[flip_index]`` reorders the keypoints of a mirrored image so that "left" means left again."""
        perm = np.arange(self.num_keypoints)
        for left, right in self.flip_pairs:
            perm[left], perm[right] = right, left
        return perm

    @property
    def oks_sigmas(self) -> np.ndarray:
        """float64 ``(K,)`` OKS sigmas (for COCO: :data:`OKS_SIGMAS`, pycocotools' own values to the last bit)."""
        if self.name == "coco":
            return OKS_SIGMAS.copy()
        return np.asarray(self.sigmas, dtype=np.float64)

    def part_of(self, index: int) -> str:
        """The name of the part keypoint ``index`` belongs to ("body" when the set has no parts)."""
        for part, (start, stop) in self.parts.items():
            if start <= index < stop:
                return part
        return "body"

    def part_mask(self, parts) -> np.ndarray:
        """bool ``(K,)``: True for the keypoints of the named ``parts`` (an iterable of part names)."""
        mask = np.zeros(self.num_keypoints, dtype=bool)
        for part in parts:
            if part not in self.parts:
                raise KeypointSetError(f"{self.name} has no part {part!r}; its parts are {', '.join(self.parts)}.")
            start, stop = self.parts[part]
            mask[start:stop] = True
        return mask


COCO = KeypointSet(
    name="coco",
    title="COCO body (17)",
    source="mmpose 1.3.2 configs/_base_/datasets/coco.py",
    keypoint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle",
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    links=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
        (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    link_colours_bgr=(
        (0, 255, 0), (0, 255, 0), (0, 128, 255), (0, 128, 255), (255, 153, 51), (255, 153, 51), (255, 153, 51),
        (255, 153, 51), (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (255, 153, 51), (255, 153, 51),
        (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51),
    ),
    keypoint_colours_bgr=(
        (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (0, 255, 0), (0, 128, 255),
        (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 255, 0),
        (0, 128, 255), (0, 255, 0), (0, 128, 255),
    ),
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
        0.089, 0.089,
    ),
    joint_weights=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5),
    upper_body=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
    lower_body=(11, 12, 13, 14, 15, 16),
    parts={"body": (0, 17)},
    input_hw=(256, 192),
)


#: The 68 face points (300-W order) of COCO-WholeBody and Halpe, as both name them.
FACE_68: tuple[str, ...] = tuple(f"face-{i}" for i in range(68))
_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")


def hand_names(side: str) -> tuple[str, ...]:
    """The 21 points of one hand as COCO-WholeBody and Halpe name them: the root, then each finger base to tip."""
    return (f"{side}_hand_root", *(f"{side}_{finger}{i}" for finger in _FINGERS for i in range(1, 5)))


#: mmpose's colours (BGR) of the face points, of one hand's 21 points and of one hand's 20 links, the same
#: in COCO-WholeBody and Halpe.
FACE_COLOURS: tuple[tuple[int, int, int], ...] = ((255, 255, 255),) * 68
HAND_COLOURS: tuple[tuple[int, int, int], ...] = (
    (255, 255, 255), (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 128, 255), (255, 153, 255), (255, 153, 255),
    (255, 153, 255), (255, 153, 255), (255, 178, 102), (255, 178, 102), (255, 178, 102), (255, 178, 102),
    (51, 51, 255), (51, 51, 255), (51, 51, 255), (51, 51, 255), (0, 255, 0), (0, 255, 0), (0, 255, 0), (0, 255, 0),
)
HAND_LINK_COLOURS: tuple[tuple[int, int, int], ...] = (
    (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 128, 255), (255, 153, 255), (255, 153, 255), (255, 153, 255),
    (255, 153, 255), (255, 178, 102), (255, 178, 102), (255, 178, 102), (255, 178, 102), (51, 51, 255),
    (51, 51, 255), (51, 51, 255), (51, 51, 255), (0, 255, 0), (0, 255, 0), (0, 255, 0), (0, 255, 0),
)


COCO_WHOLEBODY = KeypointSet(
    name="coco_wholebody",
    title="COCO-WholeBody: body, feet, face, hands (133)",
    source="mmpose 1.3.2 configs/_base_/datasets/coco_wholebody.py",
    keypoint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
        "right_heel", *FACE_68, *hand_names("left"), *hand_names("right"),
    ),
    flip_pairs=(
        (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 20), (18, 21), (19, 22), (23, 39),
        (24, 38), (25, 37), (26, 36), (27, 35), (28, 34), (29, 33), (30, 32), (40, 49), (41, 48), (42, 47), (43, 46),
        (44, 45), (54, 58), (55, 57), (59, 68), (60, 67), (61, 66), (62, 65), (63, 70), (64, 69), (71, 77), (72, 76),
        (73, 75), (78, 82), (79, 81), (83, 87), (84, 86), (88, 90), (91, 112), (92, 113), (93, 114), (94, 115),
        (95, 116), (96, 117), (97, 118), (98, 119), (99, 120), (100, 121), (101, 122), (102, 123), (103, 124),
        (104, 125), (105, 126), (106, 127), (107, 128), (108, 129), (109, 130), (110, 131), (111, 132),
    ),
    links=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
        (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (15, 17), (15, 18), (15, 19), (16, 20), (16, 21),
        (16, 22), (91, 92), (92, 93), (93, 94), (94, 95), (91, 96), (96, 97), (97, 98), (98, 99), (91, 100),
        (100, 101), (101, 102), (102, 103), (91, 104), (104, 105), (105, 106), (106, 107), (91, 108), (108, 109),
        (109, 110), (110, 111), (112, 113), (113, 114), (114, 115), (115, 116), (112, 117), (117, 118), (118, 119),
        (119, 120), (112, 121), (121, 122), (122, 123), (123, 124), (112, 125), (125, 126), (126, 127), (127, 128),
        (112, 129), (129, 130), (130, 131), (131, 132),
    ),
    link_colours_bgr=(
        (0, 255, 0), (0, 255, 0), (0, 128, 255), (0, 128, 255), (255, 153, 51), (255, 153, 51), (255, 153, 51),
        (255, 153, 51), (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (255, 153, 51), (255, 153, 51),
        (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (0, 255, 0), (0, 255, 0),
        (0, 255, 0), (0, 128, 255), (0, 128, 255), (0, 128, 255),
        *HAND_LINK_COLOURS, *HAND_LINK_COLOURS,
    ),
    keypoint_colours_bgr=(
        (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (0, 255, 0), (0, 128, 255),
        (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 255, 0),
        (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 128, 255),
        (0, 128, 255), (0, 128, 255),
        *FACE_COLOURS, *HAND_COLOURS, *HAND_COLOURS,
    ),
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
        0.089, 0.089, 0.068, 0.066, 0.066, 0.092, 0.094, 0.094, 0.042, 0.043, 0.044, 0.043, 0.04, 0.035, 0.031, 0.025,
        0.02, 0.023, 0.029, 0.032, 0.037, 0.038, 0.043, 0.041, 0.045, 0.013, 0.012, 0.011, 0.011, 0.012, 0.012, 0.011,
        0.011, 0.013, 0.015, 0.009, 0.007, 0.007, 0.007, 0.012, 0.009, 0.008, 0.016, 0.01, 0.017, 0.011, 0.009, 0.011,
        0.009, 0.007, 0.013, 0.008, 0.011, 0.012, 0.01, 0.034, 0.008, 0.008, 0.009, 0.008, 0.008, 0.007, 0.01, 0.008,
        0.009, 0.009, 0.009, 0.007, 0.007, 0.008, 0.011, 0.008, 0.008, 0.008, 0.01, 0.008, 0.029, 0.022, 0.035, 0.037,
        0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024, 0.022, 0.026, 0.017, 0.021, 0.021, 0.032, 0.02, 0.019, 0.022,
        0.031, 0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024, 0.022, 0.026, 0.017,
        0.021, 0.021, 0.032, 0.02, 0.019, 0.022, 0.031,
    ),
    joint_weights=(
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0,
    ),
    upper_body=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
    lower_body=(11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22),
    parts={"body": (0, 17), "feet": (17, 23), "face": (23, 91), "left_hand": (91, 112), "right_hand": (112, 133)},
    input_hw=(256, 192),
    annotation_fields=("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts"),
)


HALPE = KeypointSet(
    name="halpe",
    title="Halpe full body: body, feet, face, hands (136)",
    source="mmpose 1.3.2 configs/_base_/datasets/halpe.py",
    keypoint_names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle", "head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe",
        "left_heel", "right_heel", *FACE_68, *hand_names("left"), *hand_names("right"),
    ),
    flip_pairs=(
        (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (20, 21), (22, 23), (24, 25), (26, 42),
        (27, 41), (28, 40), (29, 39), (30, 38), (31, 37), (32, 36), (33, 35), (43, 52), (44, 51), (45, 50), (46, 49),
        (47, 48), (57, 61), (58, 60), (62, 71), (63, 70), (64, 69), (65, 68), (66, 73), (67, 72), (74, 80), (75, 79),
        (76, 78), (81, 85), (82, 84), (86, 90), (87, 89), (91, 93), (94, 115), (95, 116), (96, 117), (97, 118),
        (98, 119), (99, 120), (100, 121), (101, 122), (102, 123), (103, 124), (104, 125), (105, 126), (106, 127),
        (107, 128), (108, 129), (109, 130), (110, 131), (111, 132), (112, 133), (113, 134), (114, 135),
    ),
    links=(
        (15, 13), (13, 11), (11, 19), (16, 14), (14, 12), (12, 19), (17, 18), (18, 19), (18, 5), (5, 7), (7, 9),
        (18, 6), (6, 8), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (15, 20), (15, 22),
        (15, 24), (16, 21), (16, 23), (16, 25), (9, 95), (95, 96), (96, 97), (97, 98), (9, 99), (99, 100), (100, 101),
        (101, 102), (9, 103), (103, 104), (104, 105), (105, 106), (9, 107), (107, 108), (108, 109), (109, 110),
        (9, 111), (111, 112), (112, 113), (113, 114), (10, 116), (116, 117), (117, 118), (118, 119), (10, 120),
        (120, 121), (121, 122), (122, 123), (10, 124), (124, 125), (125, 126), (126, 127), (10, 128), (128, 129),
        (129, 130), (130, 131), (10, 132), (132, 133), (133, 134), (134, 135),
    ),
    link_colours_bgr=(
        (0, 255, 0), (0, 255, 0), (0, 255, 0), (0, 128, 255), (0, 128, 255), (0, 128, 255), (255, 153, 51),
        (255, 153, 51), (0, 255, 0), (0, 255, 0), (0, 255, 0), (0, 128, 255), (0, 128, 255), (0, 128, 255),
        (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51),
        (255, 153, 51), (0, 255, 0), (0, 255, 0), (0, 255, 0), (0, 128, 255), (0, 128, 255), (0, 128, 255),
        *HAND_LINK_COLOURS, *HAND_LINK_COLOURS,
    ),
    keypoint_colours_bgr=(
        (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (0, 255, 0), (0, 128, 255),
        (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 255, 0),
        (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 128, 255),
        (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 128, 255),
        *FACE_COLOURS, *HAND_COLOURS, *HAND_COLOURS,
    ),
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
        0.089, 0.089, 0.08, 0.08, 0.08, 0.089, 0.089, 0.089, 0.089, 0.089, 0.089, 0.015, 0.015, 0.015, 0.015, 0.015,
        0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015,
        0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015,
        0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015,
        0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015,
        0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015,
        0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015,
        0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015, 0.015,
    ),
    joint_weights=(
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0,
    ),
    upper_body=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 18),
    lower_body=(11, 12, 13, 14, 15, 16, 19, 20, 21, 22, 23, 24, 25),
    parts={"body": (0, 20), "feet": (20, 26), "face": (26, 94), "left_hand": (94, 115), "right_hand": (115, 136)},
    input_hw=(384, 288),
)


MPII = KeypointSet(
    name="mpii",
    title="MPII human pose (16)",
    source="mmpose 1.3.2 configs/_base_/datasets/mpii.py",
    keypoint_names=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
        "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
        "left_wrist",
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    links=(
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (8, 12), (12, 11), (11, 10), (8, 13),
        (13, 14), (14, 15),
    ),
    link_colours_bgr=(
        (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 255, 0), (0, 255, 0), (0, 255, 0), (255, 153, 51),
        (255, 153, 51), (255, 153, 51), (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 255, 0), (0, 255, 0),
        (0, 255, 0),
    ),
    keypoint_colours_bgr=(
        (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 255, 0), (0, 255, 0), (0, 255, 0), (255, 153, 51),
        (255, 153, 51), (255, 153, 51), (255, 153, 51), (0, 128, 255), (0, 128, 255), (0, 128, 255), (0, 255, 0),
        (0, 255, 0), (0, 255, 0),
    ),
    sigmas=(
        0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179, 0.179, 0.072, 0.062,
    ),
    joint_weights=(1.5, 1.2, 1.0, 1.0, 1.2, 1.5, 1.0, 1.0, 1.0, 1.0, 1.5, 1.2, 1.0, 1.0, 1.2, 1.5),
    upper_body=(7, 8, 9, 10, 11, 12, 13, 14, 15),
    lower_body=(0, 1, 2, 3, 4, 5, 6),
    parts={"body": (0, 16)},
    input_hw=(256, 256),
)


CROWDPOSE = KeypointSet(
    name="crowdpose",
    title="CrowdPose body (14)",
    source="mmpose 1.3.2 configs/_base_/datasets/crowdpose.py",
    keypoint_names=(
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "top_head", "neck",
    ),
    flip_pairs=((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)),
    links=(
        (10, 8), (8, 6), (11, 9), (9, 7), (6, 7), (0, 6), (1, 7), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (12, 13),
        (1, 13), (0, 13),
    ),
    link_colours_bgr=(
        (0, 255, 0), (0, 255, 0), (0, 128, 255), (0, 128, 255), (255, 153, 51), (255, 153, 51), (255, 153, 51),
        (255, 153, 51), (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (255, 153, 51), (255, 153, 51),
        (255, 153, 51),
    ),
    keypoint_colours_bgr=(
        (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (0, 255, 0), (0, 128, 255),
        (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 255, 0),
    ),
    sigmas=(0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079),
    joint_weights=(0.2, 0.2, 0.2, 1.3, 1.5, 0.2, 1.3, 1.5, 0.2, 0.2, 0.5, 0.2, 0.2, 0.5),
    upper_body=(0, 1, 2, 3, 4, 5, 12, 13),
    lower_body=(6, 7, 8, 9, 10, 11),
    parts={"body": (0, 14)},
    input_hw=(256, 192),
)


AP10K = KeypointSet(
    name="ap10k",
    title="AP-10K animals (17)",
    source="mmpose 1.3.2 configs/_base_/datasets/ap10k.py",
    keypoint_names=(
        "L_Eye", "R_Eye", "Nose", "Neck", "Root of tail", "L_Shoulder", "L_Elbow", "L_F_Paw", "R_Shoulder", "R_Elbow",
        "R_F_Paw", "L_Hip", "L_Knee", "L_B_Paw", "R_Hip", "R_Knee", "R_B_Paw",
    ),
    flip_pairs=((0, 1), (5, 8), (6, 9), (7, 10), (11, 14), (12, 15), (13, 16)),
    links=(
        (0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (3, 5), (5, 6), (6, 7), (3, 8), (8, 9), (9, 10), (4, 11), (11, 12),
        (12, 13), (4, 14), (14, 15), (15, 16),
    ),
    link_colours_bgr=(
        (255, 0, 0), (255, 0, 0), (255, 0, 0), (0, 255, 0), (0, 255, 0), (255, 255, 0), (255, 255, 0), (255, 255, 0),
        (250, 156, 6), (250, 156, 6), (250, 156, 6), (255, 255, 0), (255, 255, 0), (255, 255, 0), (250, 156, 6),
        (250, 156, 6), (250, 156, 6),
    ),
    keypoint_colours_bgr=(
        (0, 255, 0), (0, 128, 255), (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51), (255, 153, 51),
        (0, 255, 0), (0, 255, 0), (0, 128, 255), (0, 255, 0), (0, 128, 255), (0, 128, 255), (0, 255, 0), (0, 255, 0),
        (0, 255, 0), (0, 255, 0),
    ),
    sigmas=(
        0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062, 0.107, 0.087, 0.089, 0.107,
        0.087, 0.089,
    ),
    joint_weights=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5),
    upper_body=(0, 1, 2, 3, 5, 6, 7, 8, 9),
    lower_body=(4, 10, 11, 12, 13, 14, 15, 16),
    parts={"body": (0, 17)},
    input_hw=(256, 256),
    detector_classes=tuple(range(14, 24)),
)



#: Every keypoint set rtpose knows, by name.
KEYPOINT_SETS: dict[str, KeypointSet] = {s.name: s for s in (COCO, COCO_WHOLEBODY, HALPE, MPII, CROWDPOSE, AP10K)}

#: The set assumed when nothing says otherwise.
DEFAULT_KEYPOINT_SET = "coco"


def get_keypoint_set(name: str | KeypointSet) -> KeypointSet:
    """The set called ``name`` (a :class:`KeypointSet` is returned as is); one sentence naming the known ones else."""
    if isinstance(name, KeypointSet):
        return name
    key = str(name).lower().replace("-", "_")
    if key not in KEYPOINT_SETS:
        raise KeypointSetError(f"Unknown keypoint set {name!r}; known sets: {', '.join(KEYPOINT_SETS)}.")
    return KEYPOINT_SETS[key]


def sets_with(num_keypoints: int) -> list[KeypointSet]:
    """The sets with ``num_keypoints`` keypoints (COCO first among the 17-keypoint sets)."""
    return [s for s in KEYPOINT_SETS.values() if s.num_keypoints == int(num_keypoints)]


def keypoint_set_for(num_keypoints: int, name: str | None = None) -> KeypointSet:
    """The set of a model with ``num_keypoints`` heatmaps: ``name`` if given (it must have that many
    keypoints), else the only set with that count, else COCO for 17 (body; pass ``ap10k`` for animals)."""
    if name is not None:
        chosen = get_keypoint_set(name)
        if chosen.num_keypoints != int(num_keypoints):
            raise KeypointSetError(
                f"The model has {num_keypoints} keypoints but the keypoint set {chosen.name} has "
                f"{chosen.num_keypoints}."
            )
        return chosen
    candidates = sets_with(num_keypoints)
    if not candidates:
        known = ", ".join(f"{s.name} ({s.num_keypoints})" for s in KEYPOINT_SETS.values())
        raise KeypointSetError(f"No keypoint set has {num_keypoints} keypoints; known sets: {known}.")
    return candidates[0]


# -- the COCO set under the names the rest of the code has always used ------------------------------------
KEYPOINT_NAMES: tuple[str, ...] = COCO.keypoint_names
NUM_KEYPOINTS = COCO.num_keypoints
#: (left, right) index pairs that swap under a horizontal flip (COCO).
FLIP_PAIRS: tuple[tuple[int, int], ...] = COCO.flip_pairs
#: ``keypoints[FLIP_INDEX]`` reorders COCO keypoints of a mirrored image so that "left" means left again.
FLIP_INDEX: np.ndarray = COCO.flip_index
#: COCO limbs as (from, to) keypoint indices, as drawn by the COCO API (0-based).
LIMBS: tuple[tuple[int, int], ...] = COCO.links
#: Per-keypoint OKS sigmas of the COCO evaluation, computed exactly as pycocotools does
#: (``COCOeval.Params.kpt_oks_sigmas``, tenths divided by 10), so that AP is bit-identical to its default.
OKS_SIGMAS: np.ndarray = (
    np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
    / 10.0
)
#: COCO keypoints of the upper body (head, shoulders, arms), used by half-body augmentation.
UPPER_BODY: tuple[int, ...] = COCO.upper_body


def limb_colour_bgr(limb: tuple[int, int], keypoint_set: KeypointSet = COCO) -> tuple[int, int, int]:
    """The official colour of a limb of ``keypoint_set`` (grey for a pair that is not one of its links)."""
    try:
        return keypoint_set.link_colours_bgr[keypoint_set.links.index(tuple(limb))]
    except ValueError:
        return (200, 200, 200)
