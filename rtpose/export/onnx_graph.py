"""Facts about an exported pose ONNX graph: its interface, a structural check, its precision.

A leaf module (it imports onnx, never PyTorch or the exporter), so the runtimes that read ONNX files
(ONNX Runtime, OpenVINO, the TensorRT builder) can use it without pulling in the export code.

The graph rtpose writes has one input ``"input"`` float32 ``(batch, 3, H, W)`` and one output
``"heatmaps"`` float32 ``(batch, K, H/4, W/4)``; only the batch axis is dynamic.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from rtpose.errors import EngineError, exception_gist
from rtpose.export.sidecar import read_sidecar

INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"


def check_graph(path: str | os.PathLike) -> None:
    """``onnx.checker`` plus the interface rtpose relies on; EngineError when it does not hold."""
    import onnx

    path = Path(path)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        first = exception_gist(exc, 200)
        raise EngineError(f"{path} fails onnx.checker ({first}); re-export it.") from None
    model = onnx.load(str(path), load_external_data=False)
    inputs = [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input]
    outputs = [(o.name, o.type.tensor_type.elem_type) for o in model.graph.output]
    if inputs[:1] != [(INPUT_NAME, onnx.TensorProto.FLOAT)] or outputs[:1] != [(OUTPUT_NAME, onnx.TensorProto.FLOAT)]:
        raise EngineError(
            f"{path} does not have float32 '{INPUT_NAME}' → '{OUTPUT_NAME}' I/O; re-export it with rtpose."
        )


def graph_info(path: str | os.PathLike) -> dict[str, Any]:
    """Input shape (batch symbolic), I/O dtypes, opset and weight dtype counts of an ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def describe(value) -> tuple[str, str, list]:
        tensor = value.type.tensor_type
        dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
        return value.name, onnx.TensorProto.DataType.Name(tensor.elem_type), dims

    weights: dict[str, int] = {}
    for init in model.graph.initializer:
        name = onnx.TensorProto.DataType.Name(init.data_type).lower()
        weights[name] = weights.get(name, 0) + 1
    return {
        "input": describe(model.graph.input[0]),
        "output": describe(model.graph.output[0]),
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "weight_dtypes": weights,
    }


def onnx_precision(path: str | os.PathLike) -> str:
    """"fp16" or "fp32": the sidecar's word, else what most of the graph's weights are."""
    with contextlib.suppress(EngineError):
        meta = read_sidecar(path)
        if meta.get("precision") in ("fp16", "fp32"):
            return meta["precision"]
    dtypes = graph_info(path)["weight_dtypes"]
    return "fp16" if dtypes.get("float16", 0) > dtypes.get("float", 0) else "fp32"


__all__ = ["INPUT_NAME", "OUTPUT_NAME", "check_graph", "graph_info", "onnx_precision"]
