"""The options schema shared by Python (:class:`rtpose.PoseModel`), the command line and the viewer.

One :class:`~rtpose.options.schema.Option` record per option (:mod:`rtpose.options.table`) gives its type,
default, choices or bounds, help, flag and, for a path, its role; :func:`~rtpose.options.schema.check` is the
one validation. :class:`ModelOptions` and :class:`StreamOptions` are made from the records.
"""

from __future__ import annotations

from rtpose.options.schema import Option, check
from rtpose.options.table import MODEL, OPTIONS, PRECISIONS, RUN, STREAM, option
from rtpose.options.values import ModelOptions, StreamOptions

__all__ = ["MODEL", "OPTIONS", "PRECISIONS", "RUN", "STREAM", "ModelOptions", "Option", "StreamOptions", "check",
           "option"]
