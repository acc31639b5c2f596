"""The row model: how each operator's output rows (and columns) depend on its activation inputs'
rows, for the operators a fused block can run row by row, and the channel-split chains (a 1x1
expansion, an optional PAD, a depthwise convolution and a 1x1 projection) that run as one node.

A window (k, s, p) along rows says output row r reads input rows [r*s - p, r*s - p + k),
clipped to the input; the same triple along columns sizes the strips.
"""

from __future__ import annotations

from dataclasses import dataclass

from ooc_sdk.formats.tables import (
    NODE_OP,
    NODE_PEX,
    NODE_QUANTIZE_IN,
    NODE_REDUCE,
    NODE_TRANSPOSE_IN,
)
from ooc_sdk.lower.prepare import prepare_op
from ooc_sdk.model.ir import DType, Graph, Operator

WINDOW_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")
# one int8 output element per input element: a row of the output from the same row of the input
UNARY_KINDS = (
    "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH", "QUANTIZE",
    "DEQUANTIZE",
)  # fmt: skip
BINARY_KINDS = ("ADD", "MUL", "SUB", "MINIMUM", "MAXIMUM", "SQUARED_DIFFERENCE")
ROW_KINDS = (
    *WINDOW_KINDS, "PAD", "CONCATENATION", "RESIZE_NEAREST_NEIGHBOR", *BINARY_KINDS, *UNARY_KINDS,
)  # fmt: skip


@dataclass(frozen=True)
class RowOp:
    """How one operator's output rows depend on its activation inputs' rows."""

    mode: int
    inputs: tuple[int, ...]  # activation input tensors (row-read), in kernel order
    k: int  # rows of input 0 per output row (effective window)
    s: int
    p: int  # output row r reads input rows [r*s - p, r*s - p + k) (clipped)
    kw: int  # the same along columns
    sw: int
    pw: int
    rows: int  # rows produced (reduce: input rows)
    width: int  # columns produced (reduce: input columns)
    channels: int  # output channels (reduce: accumulators)
    # positions in ``inputs`` read whole and broadcast along rows and columns (a binary
    # operator's per-channel or scalar operand: an activation made before the block, or a
    # constant); the others are row-read
    bcast: tuple[int, ...] = ()
    # RESIZE_NEAREST_NEIGHBOR: the input row (column) each output row (column) copies, in place
    # of the window (monotonic: an upsampling reads each input row for several output rows)
    row_map: tuple[int, ...] | None = None
    col_map: tuple[int, ...] | None = None

    @property
    def row_inputs(self) -> tuple[int, ...]:
        """The activation inputs read row by row."""
        return tuple(t for i, t in enumerate(self.inputs) if i not in self.bcast)


def row_op(graph: Graph, index: int) -> RowOp | None:
    """The row model of operator ``index``; None if it cannot run row by row."""
    op = graph.operators[index]
    t = op.op_type
    y = graph.tensors[op.outputs[0]]
    x = graph.tensors[op.inputs[0]]
    if t in ("QUANTIZE", "DEQUANTIZE") and len(y.shape) == 4 and y.shape[0] == 1:
        return _quantize_row_op(graph, op)
    if x.dtype is not DType.INT8 or y.dtype is not DType.INT8:
        return None
    if (t == "MEAN" or t == "AVERAGE_POOL_2D") and len(x.shape) == 4 and x.shape[0] == 1:
        f = prepare_op(graph, op).fields
        whole = False
        if t == "MEAN":
            whole = f["rank"] == 4 and list(f["reduce"][:4]) == [0, 1, 1, 0]
        else:
            whole = (
                f["out_h"] == 1
                and f["out_w"] == 1
                and f["pad_top"] == 0
                and f["pad_left"] == 0
                and f["filter_h"] >= f["in_h"]
                and f["filter_w"] >= f["in_w"]
                and f["act_min"] <= -128
                and f["act_max"] >= 127
            )
        if whole:
            h, w, c = x.shape[1:]
            return RowOp(NODE_REDUCE, (op.inputs[0],), 1, 1, 0, 1, 1, 0, h, w, c)
    if t not in ROW_KINDS and t != "TRANSPOSE":
        return None
    if len(y.shape) != 4 or y.shape[0] != 1 or len(x.shape) != 4:
        return None
    h, w, c = y.shape[1:]
    if t in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        f = prepare_op(graph, op).fields
        kh = (f["k_h"] - 1) * f["dil_h"] + 1
        kw = (f["k_w"] - 1) * f["dil_w"] + 1
        return RowOp(
            NODE_OP, (op.inputs[0],), kh, f["stride_h"], f["pad_top"], kw, f["stride_w"],
            f["pad_left"], h, w, c,
        )  # fmt: skip
    if t in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        f = prepare_op(graph, op).fields
        return RowOp(
            NODE_OP, (op.inputs[0],), f["filter_h"], f["stride_h"], f["pad_top"], f["filter_w"],
            f["stride_w"], f["pad_left"], h, w, c,
        )  # fmt: skip
    if t == "PAD":
        pads = op.options["paddings"]
        if len(pads) != 4 or tuple(pads[0]) != (0, 0) or tuple(pads[3]) != (0, 0):
            return None
        return RowOp(NODE_OP, (op.inputs[0],), 1, 1, pads[1][0], 1, 1, pads[2][0], h, w, c)
    if t in BINARY_KINDS:
        return _binary_row_op(graph, op)
    if t == "RESIZE_NEAREST_NEIGHBOR":
        f = prepare_op(graph, op).fields
        return RowOp(NODE_OP, (op.inputs[0],), 1, 1, 0, 1, 1, 0, h, w, c,
                     row_map=tuple(f["row_map"]), col_map=tuple(f["col_map"]))  # fmt: skip
    if t == "CONCATENATION":  # along channels: each output row from the same row of each input
        if op.options["axis"] != 3 or any(
            graph.tensors[i].is_constant or graph.tensors[i].shape[:3] != y.shape[:3]
            for i in op.inputs
        ):
            return None
        return RowOp(NODE_OP, tuple(op.inputs), 1, 1, 0, 1, 1, 0, h, w, c)
    if t in UNARY_KINDS:
        return RowOp(NODE_OP, (op.inputs[0],), 1, 1, 0, 1, 1, 0, h, w, c)
    if t == "TRANSPOSE":
        if [int(v) for v in op.options["perm"]] != [0, 2, 3, 1] or op.inputs[0] not in graph.inputs:
            return None
        return RowOp(NODE_TRANSPOSE_IN, (), 1, 1, 0, 1, 1, 0, h, w, c)
    return None


def _binary_row_op(graph: Graph, op: Operator) -> RowOp | None:
    """A binary operator row by row: each operand either the output's shape (an activation,
    row-read) or broadcast over rows and columns (its size the output's channels, or 1: a
    constant, or an activation made before the block and read whole); not both broadcast."""
    y = graph.tensors[op.outputs[0]]
    _, h, w, c = y.shape
    bcast = []
    for i, t in enumerate(op.inputs[:2]):
        x = graph.tensors[t]
        if x.shape == y.shape and not x.is_constant:
            continue
        if x.size not in (1, c) or any(d != 1 for d in x.shape[:-1]):
            return None
        bcast.append(i)
    if len(bcast) == 2 or op.inputs[0] == op.inputs[1]:
        return None
    return RowOp(NODE_OP, tuple(op.inputs[:2]), 1, 1, 0, 1, 1, 0, h, w, c, tuple(bcast))


def _quantize_row_op(graph: Graph, op: Operator) -> RowOp | None:
    """QUANTIZE and DEQUANTIZE row by row: int8 to int8, a float32 model input read a row at a
    time (NODE_QUANTIZE_IN), or int8 rows written to a float32 model output."""
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.shape != y.shape or len(x.shape) != 4:
        return None
    _, h, w, c = y.shape
    if x.dtype is DType.FLOAT32 and y.dtype is DType.INT8:
        if op.inputs[0] not in graph.inputs:
            return None
        return RowOp(NODE_QUANTIZE_IN, (), 1, 1, 0, 1, 1, 0, h, w, c)
    if x.dtype is not DType.INT8:
        return None
    if y.dtype is DType.FLOAT32 and op.outputs[0] not in graph.outputs:
        return None
    return RowOp(NODE_OP, (op.inputs[0],), 1, 1, 0, 1, 1, 0, h, w, c)


def _pointwise(graph: Graph, index: int) -> bool:
    op = graph.operators[index]
    if op.op_type != "CONV_2D":
        return False
    f = prepare_op(graph, op).fields
    return (f["k_h"], f["k_w"], f["stride_h"], f["stride_w"], f["pad_top"], f["pad_left"]) == (
        1, 1, 1, 1, 0, 0,
    )  # fmt: skip


def pex_chain(graph: Graph, a: int, row_ops: list[RowOp | None]) -> tuple[RowOp, int] | None:
    """The row model of the operators from ``a`` run as one channel-split chain (partial
    execution, after Pex), and how many they are: a 1x1 expansion, a spatial PAD of its output
    with its zero point (optional), a depthwise convolution (depth multiplier 1) and a 1x1
    projection, each intermediate read by the next operator alone. The chain reads the
    expansion's input with the depthwise window (the PAD folded into its padding) and makes the
    projection's rows; None when the operators are not such a chain."""
    n = len(graph.operators)
    kinds = [op.op_type for op in graph.operators[a : a + 4]]
    span = 4 if kinds[1:2] == ["PAD"] else 3
    if a + span > n or any(row_ops[j] is None for j in range(a, a + span)):
        return None
    ops = graph.operators[a : a + span]
    if [op.op_type for op in ops if op.op_type != "PAD"] != [
        "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D",
    ]:  # fmt: skip
        return None
    if not (_pointwise(graph, a) and _pointwise(graph, a + span - 1)):
        return None
    for i in range(span - 1):
        t = ops[i].outputs[0]
        if t in graph.outputs or ops[i + 1].inputs[0] != t or graph.consumers(t) != [a + i + 1]:
            return None
    d = prepare_op(graph, ops[-2]).fields
    if d["depth_multiplier"] != 1:
        return None
    dw, pr = row_ops[a + span - 2], row_ops[a + span - 1]
    assert dw is not None and pr is not None
    k, s, p, kw, sw, pw = dw.k, dw.s, dw.p, dw.kw, dw.sw, dw.pw
    if span == 4:  # PAD then depthwise: the padding is the depthwise window's, if it pads with
        pad = prepare_op(graph, ops[1]).fields  # the zero point the depthwise skips
        if pad["pad_value"] != -d["input_offset"]:
            return None
        p += pad["pad_before"][1]
        pw += pad["pad_before"][2]
    return RowOp(NODE_PEX, (ops[0].inputs[0],), k, s, p, kw, sw, pw, pr.rows, pr.width,
                  pr.channels), span  # fmt: skip


def conv_mean(graph: Graph, a: int, row_ops: list[RowOp | None]) -> bool:
    """Whether operators ``a`` and ``a + 1`` can run as one channel-group node (NODE_CONV_MEAN):
    a 1x1 int8 CONV_2D (batch 1) whose output, not a model output, only the next operator reads,
    and that operator a global average (MEAN over H and W, or a whole-input AVERAGE_POOL_2D)."""
    if a + 1 >= len(graph.operators) or graph.operators[a].op_type != "CONV_2D":
        return False
    avg = row_ops[a + 1]
    t = graph.operators[a].outputs[0]
    return (  # the cheap tests first: GraphFacts asks of every operator, every spill round
        avg is not None
        and avg.mode == NODE_REDUCE
        and t not in graph.outputs
        and graph.consumers(t) == [a + 1]
        and graph.tensors[graph.operators[a].inputs[0]].dtype is DType.INT8
        and graph.tensors[t].dtype is DType.INT8
        and _pointwise(graph, a)
        and prepare_op(graph, graph.operators[a]).fields["batches"] == 1
    )


def window_span(r: int, k: int, s: int, p: int, n_in: int) -> tuple[int, int]:
    """Input rows [lo, hi) (clipped) that output row ``r`` of a window (k, s, p) reads."""
    lo = max(0, min(n_in, r * s - p))
    return lo, max(lo, min(n_in, r * s - p + k))


def _rows_needed(n: int, k: int, s: int, p: int, rows_in: int) -> int:
    """Input rows (a prefix) needed to produce the first ``n`` output rows (simulate.py's pull
    loop writes this out inline)."""
    if n <= 0:
        return 0
    return max(0, min(rows_in, (n - 1) * s - p + k))


def _first_row(r: int, s: int, p: int, rows_in: int) -> int:
    """The lowest input row output row ``r`` reads (written out inline in simulate.py's pull
    loop)."""
    return max(0, min(rows_in, r * s - p))
