"""Model inputs: checking what a caller gives against the model, and drawing random ones."""

from __future__ import annotations

import numpy as np

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.model.ir import DType, Graph


def random_inputs(graph: Graph, seed: int) -> list[np.ndarray]:
    """Deterministic inputs for every graph input: uniform over the int8 range,
    or over the represented real range for float32 inputs (via the QUANTIZE that reads them)."""
    rng = np.random.default_rng(seed)
    out = []
    for t_index in graph.inputs:
        t = graph.tensor(t_index)
        if t.dtype is DType.INT8:
            out.append(rng.integers(-128, 128, size=t.shape, dtype=np.int8))
        elif t.dtype is DType.FLOAT32:
            lo, hi = -1.0, 1.0
            for op_index in graph.consumers(t_index):
                op = graph.operators[op_index]
                q = graph.tensor(op.outputs[0]).quant
                if op.op_type == "QUANTIZE" and q is not None:
                    lo = (-128 - q.zero_point[0]) * q.scale[0]
                    hi = (127 - q.zero_point[0]) * q.scale[0]
            out.append(rng.uniform(lo, hi, size=t.shape).astype(np.float32))
        else:
            raise InvalidArgumentError(f"cannot draw inputs for a {t.dtype.label} model input")
    return out


def check_inputs(graph: Graph, inputs: list[np.ndarray]) -> None:
    """Raise InvalidArgumentError unless ``inputs`` match the model's inputs in number, dtype and shape."""
    if len(inputs) != len(graph.inputs):
        raise InvalidArgumentError(f"model takes {len(graph.inputs)} inputs, got {len(inputs)}")
    for x, t_index in zip(inputs, graph.inputs, strict=True):
        t = graph.tensor(t_index)
        if tuple(x.shape) != t.shape or x.dtype != t.dtype.numpy:
            raise InvalidArgumentError(
                f"input '{t.name}' must be {t.dtype.label} {list(t.shape)}, got {x.dtype} {list(x.shape)}"
            )
