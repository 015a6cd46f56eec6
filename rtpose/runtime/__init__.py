"""Pose inference backends: one interface (:mod:`rtpose.runtime.base`), several engines.

:func:`create_backend` (from :mod:`rtpose.runtime.select`) picks and builds one; it is imported on
first use, so that importing the interface loads no engine.
"""

from __future__ import annotations

from rtpose.runtime.base import PoseBackend


def __getattr__(name: str):
    if name == "create_backend":
        from rtpose.runtime.select import create_backend

        return create_backend
    raise AttributeError(f"module 'rtpose.runtime' has no attribute {name!r}")


__all__ = ["PoseBackend", "create_backend"]
