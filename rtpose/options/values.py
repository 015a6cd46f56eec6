"""The option values a model and a stream are built from, as dataclasses made from the schema's records.

- :class:`ModelOptions`: what a model is built from (``MODEL``: weights, backend, device, detector…).
- :class:`StreamOptions`: how a stream of frames is processed (``STREAM``: tracking, smoothing,
  detect-every-N, playback).

Their fields, defaults and checks are the records of :mod:`rtpose.options.table`; :meth:`validate` checks
every value with :func:`rtpose.options.schema.check` and the rules between options, raising
:class:`rtpose.errors.OptionError` (``conf=1.5: must be between 0 and 1.``; the command line shows
``--conf 1.5``).
"""

from __future__ import annotations

import argparse
import dataclasses

from rtpose.errors import OptionError
from rtpose.options.schema import check
from rtpose.options.table import MODEL, STREAM


def _fields(records) -> list:
    return [(o.name, object, dataclasses.field(default=o.default)) for o in records]


def _doc(title: str, records) -> str:
    lines = [title, "", "Attributes:"]
    lines += [f"    {o.name}: {o.help.replace('{choices}', 'see the choices')} (default: {o.default!r})"
              for o in records]
    return "\n".join(lines)


def _from_args(cls, args: argparse.Namespace, **overrides):
    """The options of parsed command-line arguments (names the namespace lacks keep their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return cls(**{**values, **overrides})


def _check_fields(self, records) -> None:
    for record in records:
        setattr(self, record.name, check(record, getattr(self, record.name)))


def _validate_model(self) -> ModelOptions:
    """Every value checked (:func:`~rtpose.options.schema.check`), then the rules between options; returns self."""
    _check_fields(self, MODEL)
    if self.seg is None:
        for name in ("seg_weights", "seg_classes", "seg_backend"):
            if getattr(self, name) is not None:
                raise OptionError(name, template="{seg_weights}, {seg_classes} and {seg_backend} need {seg=person} or "
                                                 "{seg=parts}.")
    if self.server is not None and self.backend != "triton":
        raise OptionError("server", template="{server} is for {backend=triton} (the Triton servers to use); give "
                                             "{backend=triton} with it, or leave out {server}.")
    from rtpose.runtime.devices import check_device
    from rtpose.runtime.select import check_seg_backend

    check_device(self.device)  # whether this machine has it
    check_seg_backend(self.seg_backend, self.precision)
    return self


def _validate_stream(self) -> StreamOptions:
    """Every value checked (:func:`~rtpose.options.schema.check`), then the rules between options; returns self."""
    _check_fields(self, STREAM)
    if self.budget_ms is not None and self.det_every != 1:
        raise OptionError("budget_ms", template="{budget_ms} and {det_every} are alternatives: the budget runs the "
                                                "detector when needed, {det_every} on a fixed interval; give one.")
    return self


def _tracker(self, keypoint_set=None):
    """A new :class:`~rtpose.tracking.tracker.PoseTracker` for these options, or None when ``track`` is off."""
    if not self.track:
        return None
    from rtpose.tracking.tracker import PoseTracker

    return PoseTracker(max_lost=self.track_buffer, smooth=self.smooth, kpt_thr=self.kpt_thr,
                       keypoint_set=keypoint_set)


ModelOptions = dataclasses.make_dataclass(
    "ModelOptions",
    [*_fields(MODEL), ("with_detector", bool, dataclasses.field(default=True))],
    namespace={"from_args": classmethod(_from_args), "validate": _validate_model, "__module__": __name__},
)
ModelOptions.__doc__ = _doc("What a pose model is built from (``with_detector``: False for a model always given "
                            "boxes).", MODEL)

StreamOptions = dataclasses.make_dataclass(
    "StreamOptions", _fields(STREAM),
    namespace={"from_args": classmethod(_from_args), "validate": _validate_stream, "tracker": _tracker,
               "__module__": __name__},
)
StreamOptions.__doc__ = _doc("How a stream of frames is processed.", STREAM)


__all__ = ["ModelOptions", "StreamOptions"]
