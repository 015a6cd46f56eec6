"""Segmentation class sets as data: names, the person classes, and a palette for indexed PNGs.

A segmentation model's logits have one channel per class; which classes those are follows from, in order:
the ``seg_classes=`` name a caller gives, the checkpoint's own record (``meta.seg_classes`` of an rtpose
checkpoint), the registry entry of a published file name (:mod:`rtpose.weights.registry`), else the only set with
the model's class count (:func:`class_set_for`). A count that several sets share needs the name.

Sets (class index = logit channel):
- ``voc``: PASCAL VOC 2012, 21 classes, ``background`` first, ``person`` = 15;
- ``lip``: Look Into Person human parsing, 20 classes (background + 19 parts/garments, all of a person);
- ``cityscapes``: the 19 evaluated ("train id") classes, ``person`` = 11, ``rider`` = 12;
- ``ade20k``: ADE20K / SceneParsing, 150 classes (label 0 "other" dropped), ``person`` = 12;
- ``pascal_context``: PASCAL Context 59 classes (background dropped, as HRNet's official models);
- ``pascal_context60``: PASCAL Context with background, 60 classes (mmsegmentation's default).

Palettes: Cityscapes uses its official label colours; every other set uses the PASCAL VOC colour map
(:func:`voc_colormap`, the palette of VOC's and LIP's indexed label PNGs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtpose.errors import SegClassesError


def voc_colormap(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map: ``(n, 3)`` uint8 RGB, colour ``i`` from the bits of ``i`` spread over R, G, B."""
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        r = g = b = 0
        c = i
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


@dataclass(frozen=True)
class SegClassSet:
    """One set of segmentation classes.

    Attributes:
        name: the key users pass (``seg_classes="voc"``).
        dataset: the dataset's name in words.
        class_names: one name per logit channel.
        person_classes: indices of the classes that are (part of) a person.
        background: index of the background / "nothing" class, or None when the set has none.
        palette: ``(num_classes, 3)`` uint8 RGB colours, index = class.
        flip_pairs: (left, right) classes that swap under a horizontal flip (LIP's arms, legs, shoes).
    """

    name: str
    dataset: str
    class_names: tuple[str, ...]
    person_classes: tuple[int, ...]
    background: int | None
    palette: np.ndarray
    flip_pairs: tuple[tuple[int, int], ...] = ()

    @property
    def flip_index(self) -> np.ndarray:
        """``logits[:, flip_index]`` relabels the logits of a mirrored image so that "left" means left again."""
        index = np.arange(self.num_classes)
        for a, b in self.flip_pairs:
            index[a], index[b] = b, a
        return index

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def index(self, class_name: str) -> int:
        """The channel of ``class_name``; one sentence naming the set's classes when it has none of that name."""
        try:
            return self.class_names.index(class_name)
        except ValueError:
            raise SegClassesError(
                f"The class set {self.name} has no class {class_name!r}; its classes: {', '.join(self.class_names)}."
            ) from None

    def png_palette(self) -> list[int]:
        """The flat 768-value RGB palette of an indexed (mode "P") PNG: the set's colours, then black."""
        flat = np.zeros((256, 3), dtype=np.uint8)
        flat[: self.num_classes] = self.palette[:256]
        return flat.reshape(-1).tolist()

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """``(H, W)`` integer labels → ``(H, W, 3)`` uint8 RGB image; labels outside the set become black."""
        labels = np.asarray(labels)
        lut = np.zeros((256, 3), dtype=np.uint8)
        lut[: self.num_classes] = self.palette[:256]
        valid = (labels >= 0) & (labels < min(self.num_classes, 256))
        return np.where(valid[..., None], lut[np.clip(labels, 0, 255).astype(np.intp)], 0).astype(np.uint8)


VOC_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

LIP_NAMES = (
    "background", "hat", "hair", "glove", "sunglasses", "upper_clothes", "dress", "coat", "socks", "pants",
    "jumpsuits", "scarf", "skirt", "face", "left_arm", "right_arm", "left_leg", "right_leg", "left_shoe",
    "right_shoe",
)  # fmt: skip

#: Cityscapes' 19 evaluated classes with their official colours (cityscapesScripts ``labels.py``).
CITYSCAPES = (
    ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("building", (70, 70, 70)), ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)), ("pole", (153, 153, 153)), ("traffic light", (250, 170, 30)),
    ("traffic sign", (220, 220, 0)), ("vegetation", (107, 142, 35)), ("terrain", (152, 251, 152)),
    ("sky", (70, 130, 180)), ("person", (220, 20, 60)), ("rider", (255, 0, 0)), ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)), ("bus", (0, 60, 100)), ("train", (0, 80, 100)), ("motorcycle", (0, 0, 230)),
    ("bicycle", (119, 11, 32)),
)  # fmt: skip

ADE20K_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase",
    "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel",
    "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane",
    "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool",
    "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step",
    "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket",
    "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen",
    "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip

#: PASCAL Context's 59 most frequent classes (the evaluated ones), in the label order of the Detail-API
#: conversion that mmsegmentation (and, as far as known, the official HRNet code) trains on; this is not the
#: order of the dataset's own ``59_labels.txt`` (mmsegmentation issue #3021).
PASCAL_CONTEXT_NAMES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "table", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor", "bag", "bed", "bench",
    "book", "building", "cabinet", "ceiling", "cloth", "computer", "cup", "door", "fence", "floor", "flower",
    "food", "grass", "ground", "keyboard", "light", "mountain", "mouse", "curtain", "platform", "sign", "plate",
    "road", "rock", "shelves", "sidewalk", "sky", "snow", "bedclothes", "track", "tree", "truck", "wall", "water",
    "window", "wood",
)  # fmt: skip

_VOC_MAP = voc_colormap()


def _set(name: str, dataset: str, names: tuple[str, ...], person: tuple[int, ...], background: int | None,
         palette: np.ndarray | None = None, flip_pairs: tuple[tuple[int, int], ...] = ()) -> SegClassSet:
    palette = _VOC_MAP[: len(names)].copy() if palette is None else np.asarray(palette, dtype=np.uint8)
    palette.setflags(write=False)
    return SegClassSet(name, dataset, tuple(names), person, background, palette, flip_pairs)


#: Every known class set by name.
SEG_CLASS_SETS: dict[str, SegClassSet] = {
    s.name: s
    for s in (
        _set("voc", "PASCAL VOC 2012", VOC_NAMES, (15,), 0),
        _set("lip", "LIP (Look Into Person)", LIP_NAMES, tuple(range(1, 20)), 0,
             flip_pairs=((14, 15), (16, 17), (18, 19))),
        _set("cityscapes", "Cityscapes", tuple(n for n, _ in CITYSCAPES), (11, 12), None,
             np.array([c for _, c in CITYSCAPES], dtype=np.uint8)),
        _set("ade20k", "ADE20K", ADE20K_NAMES, (12,), None,
             # colour 0 of the VOC map is black; ADE20K has no background, so use colours 1…150
             voc_colormap(151)[1:]),
        _set("pascal_context", "PASCAL Context (59 classes)", PASCAL_CONTEXT_NAMES, (14,), None,
             voc_colormap(60)[1:]),
        _set("pascal_context60", "PASCAL Context (60 classes, with background)",
             ("background", *PASCAL_CONTEXT_NAMES), (15,), 0),
    )
}


def get_class_set(name: str | SegClassSet) -> SegClassSet:
    """The set called ``name`` (a :class:`SegClassSet` is returned as is); one sentence naming the known ones else."""
    if isinstance(name, SegClassSet):
        return name
    key = str(name).lower().replace("-", "_")
    if key not in SEG_CLASS_SETS:
        raise SegClassesError(f"Unknown segmentation class set {name!r}; known sets: {', '.join(SEG_CLASS_SETS)}.")
    return SEG_CLASS_SETS[key]


def class_sets_with(num_classes: int) -> list[SegClassSet]:
    """The sets with ``num_classes`` classes."""
    return [s for s in SEG_CLASS_SETS.values() if s.num_classes == int(num_classes)]


def class_set_for(num_classes: int, name: str | SegClassSet | None = None) -> SegClassSet:
    """The class set of a model with ``num_classes`` logits: ``name`` if given (it must have that many
    classes), else the only set with that count. No set, or several, is an error that says to pass
    ``seg_classes=``."""
    if name is not None:
        chosen = get_class_set(name)
        if chosen.num_classes != int(num_classes):
            raise SegClassesError(
                f"The segmentation model has {num_classes} classes but the class set {chosen.name} has "
                f"{chosen.num_classes}; pass the right seg_classes= name."
            )
        return chosen
    candidates = class_sets_with(num_classes)
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise SegClassesError(
            f"{num_classes} classes could be any of {', '.join(s.name for s in candidates)}; pass "
            f"seg_classes= with one of these names."
        )
    known = ", ".join(f"{s.name} ({s.num_classes})" for s in SEG_CLASS_SETS.values())
    raise SegClassesError(
        f"No known segmentation class set has {num_classes} classes (known: {known}); pass seg_classes= with "
        "a set of that size."
    )
