"""Running a network: one interface (:class:`rtpose.runtime.base.Runtime`) for pose and segmentation, several engines.

:func:`create_backend` (from :mod:`rtpose.runtime.select`) picks and builds the pose runtime; it is imported on
first use, so that importing the interface loads no engine.
"""

from __future__ import annotations

from rtpose.runtime.base import Runtime


def __getattr__(name: str):
    if name == "create_backend":
        from rtpose.runtime.select import create_backend

        return create_backend
    raise AttributeError(f"module 'rtpose.runtime' has no attribute {name!r}")


__all__ = ["Runtime", "create_backend"]
