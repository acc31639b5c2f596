"""Model ingest: TFLite flatbuffers to the graph IR, and the synthetic model zoo."""

from ooc_sdk.model.ir import (
    Activation,
    DType,
    Graph,
    Lifetime,
    Operator,
    Padding,
    Quantization,
    Tensor,
)
from ooc_sdk.model.ops import SUPPORTED_OP_NAMES
from ooc_sdk.model.reader import load_model, parse_model

__all__ = [
    "SUPPORTED_OP_NAMES",
    "Activation",
    "DType",
    "Graph",
    "Lifetime",
    "Operator",
    "Padding",
    "Quantization",
    "Tensor",
    "load_model",
    "parse_model",
]
