"""The fusion planner: run chains of layers row by row, in column strips, to shrink activation SRAM.

Per-layer execution keeps every operator's whole input and output tensors in SRAM. A *fused
block* runs a run of consecutive operators (convolutions, depthwise convolutions, pooling,
padding, residual ADDs, a global average at the end) row by row instead: each intermediate
tensor lives in a small *ring* holding only the rows its consumers still need, and the block's
last operator (its *sink*) pulls rows through the chain on demand. A block may also run in
``n`` vertical *strips*: each strip computes a column range of the sink's output, top to
bottom, and the halo columns the strips share are computed once per strip (recomputation:
MACs rise, rings narrow). Rows are never recomputed: the ring is the row cache.

The search is a path problem over the operators in execution order: cutting between operators
i and j and running [i, j) as one block (one operator alone is a block too) is an edge, whose
cost is the SRAM live while it runs -- its rings, its accumulators and scratch, the whole tensors
it writes, and every whole tensor produced earlier and still needed (a residual skip that spans
the block) -- and whose MACs include the strips' recomputation. Two objectives:

* ``min_sram(max_mac_overhead=k)``: the smallest working SRAM whose MACs stay <= k x the model's.
* ``min_latency(sram=budget)``: the fewest MACs (hence the lowest estimated latency: in-core, the
  compute is the latency) whose working SRAM fits the budget.

*Working SRAM* is everything the runtime holds in its arena except a model input it reads
through the input callback (streamed, row by row) and the model outputs: what the arena needs
besides the outputs, which the layout places at its top.

The row schedule is deterministic and the C runtime (c_runtime/src/fused.c) runs the very same
one; this module simulates it once per candidate block to size every ring exactly.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import itertools
import math
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ooc_sdk.errors import InvalidArgumentError, OocError
from ooc_sdk.formats.tables import (  # node modes (enum ooc_node_mode) and limits, shared with C
    MAX_BLOCK_NODES,
    NODE_INPUT,
    NODE_OP,
    NODE_PEX,
    NODE_REDUCE,
    NODE_SPILL_IN,
    NODE_TRANSPOSE_IN,
)
from ooc_sdk.lower.memplan import ALIGNMENT, Buffer, place, plan_memory
from ooc_sdk.lower.prepare import prepare_op
from ooc_sdk.model.ir import DType, Graph
from ooc_sdk.plan.spill import STATE_BYTES, max_payload
from ooc_sdk.units import format_size

STRIP_CHOICES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)
MAX_BLOCK_OPS = 40
LAYOUTS_WHEN_NONE_FIT = 16  # schedules laid out to find the smallest when none meets the budget
SPILL_SECTOR_BYTES = 4096  # the scratch ring's erase sector (every supported flash's)
PEX_GROUP = 8  # expanded channels per group of a channel-split chain
CHANNEL_SPLIT = ("auto", "off", "always")  # channel-split chains: searched, never, wherever fused
_VARIANTS = {"auto": (False, True), "off": (False,), "always": (True, False)}  # _simulate's pex
ROW_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "PAD", "ADD", "MUL")


class FusionError(OocError):
    """No fused schedule meets the request; ``minimum`` is the smallest working SRAM possible
    (bytes), ``layer`` the operator that sets it, ``whole`` the whole tensors in SRAM while
    that block runs (what spilling could take out) and ``inner`` the tensors inside it that
    live in rings (spilling one cuts the block in two there)."""

    def __init__(
        self,
        message: str,
        minimum: int | None = None,
        layer: int | None = None,
        whole: list[int] | None = None,
        inner: list[int] | None = None,
    ):
        super().__init__(message)
        self.minimum = minimum
        self.layer = layer
        self.whole = whole or []
        self.inner = inner or []


def _align(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


@dataclass(frozen=True)
class _RowOp:
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


def _row_op(graph: Graph, index: int) -> _RowOp | None:
    """The row model of operator ``index``; None if it cannot run row by row."""
    op = graph.operators[index]
    t = op.op_type
    y = graph.tensors[op.outputs[0]]
    x = graph.tensors[op.inputs[0]]
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
            return _RowOp(NODE_REDUCE, (op.inputs[0],), 1, 1, 0, 1, 1, 0, h, w, c)
    if t not in ROW_KINDS and t != "TRANSPOSE":
        return None
    if len(y.shape) != 4 or y.shape[0] != 1 or len(x.shape) != 4:
        return None
    h, w, c = y.shape[1:]
    if t in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        f = prepare_op(graph, op).fields
        kh = (f["k_h"] - 1) * f["dil_h"] + 1
        kw = (f["k_w"] - 1) * f["dil_w"] + 1
        return _RowOp(
            NODE_OP, (op.inputs[0],), kh, f["stride_h"], f["pad_top"], kw, f["stride_w"],
            f["pad_left"], h, w, c,
        )  # fmt: skip
    if t in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        f = prepare_op(graph, op).fields
        return _RowOp(
            NODE_OP, (op.inputs[0],), f["filter_h"], f["stride_h"], f["pad_top"], f["filter_w"],
            f["stride_w"], f["pad_left"], h, w, c,
        )  # fmt: skip
    if t == "PAD":
        pads = op.options["paddings"]
        if len(pads) != 4 or tuple(pads[0]) != (0, 0) or tuple(pads[3]) != (0, 0):
            return None
        return _RowOp(NODE_OP, (op.inputs[0],), 1, 1, pads[1][0], 1, 1, pads[2][0], h, w, c)
    if t in ("ADD", "MUL"):
        a, b = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
        if a.shape != y.shape or b.shape != y.shape or op.inputs[0] == op.inputs[1]:
            return None
        return _RowOp(NODE_OP, (op.inputs[0], op.inputs[1]), 1, 1, 0, 1, 1, 0, h, w, c)
    if t == "TRANSPOSE":
        if [int(v) for v in op.options["perm"]] != [0, 2, 3, 1] or op.inputs[0] not in graph.inputs:
            return None
        return _RowOp(NODE_TRANSPOSE_IN, (), 1, 1, 0, 1, 1, 0, h, w, c)
    return None


def _pointwise(graph: Graph, index: int) -> bool:
    op = graph.operators[index]
    if op.op_type != "CONV_2D":
        return False
    f = prepare_op(graph, op).fields
    return (f["k_h"], f["k_w"], f["stride_h"], f["stride_w"], f["pad_top"], f["pad_left"]) == (
        1, 1, 1, 1, 0, 0,
    )  # fmt: skip


def _pex_chain(graph: Graph, a: int, row_ops: list[_RowOp | None]) -> tuple[_RowOp, int] | None:
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
    return _RowOp(NODE_PEX, (ops[0].inputs[0],), k, s, p, kw, sw, pw, pr.rows, pr.width,
                  pr.channels), span  # fmt: skip


def _window_span(r: int, k: int, s: int, p: int, n_in: int) -> tuple[int, int]:
    """Input rows [lo, hi) (clipped) that output row ``r`` of a window (k, s, p) reads."""
    lo = max(0, min(n_in, r * s - p))
    return lo, max(lo, min(n_in, r * s - p + k))


def _pex_cols(m: _Model, nd: Node, x0: int, x1: int) -> int:
    """Expansion columns (clipped) a channel-split chain's output columns [x0, x1) read."""
    kw, sw, pw = nd.cols_dep[0]
    e_w = m.pex_expanded[nd.op][1]
    lo = max(0, min(e_w, x0 * sw - pw))
    return max(lo, min(e_w, (x1 - 1) * sw - pw + kw)) - lo


def _pex_scratch(m: _Model, nd: Node, x0: int, x1: int) -> int:
    """Scratch bytes fused.c's pex_row uses at most for columns [x0, x1) of a channel-split
    chain (over its rows): the projection's int32 sums, one group's expansion rows and
    depthwise row, and the group's depthwise taps."""
    w, g = x1 - x0, nd.group
    return (
        _align(4 * w * nd.channels) + _align(nd.win_max * _pex_cols(m, nd, x0, x1) * g)
        + _align(w * g) + _align(m.pex_taps[nd.op] * g)
    )  # fmt: skip


def _pex_macs(m: _Model, nd: Node, cols: list[tuple[int, int]]) -> float:
    """MACs of a channel-split chain over its strips' columns: the depthwise and projection
    once per output, the expansion once per window row and column it recomputes."""
    g = m.graph
    ops = g.operators[nd.op : nd.op + nd.span]
    e_h, e_w, _ = m.pex_expanded[nd.op]
    per_expanded = ops[0].macs / max(1, e_h * e_w)
    per_out = sum(op.macs for op in ops[1:]) / max(1, nd.rows * nd.width)
    return sum(
        per_expanded * nd.win_sum * _pex_cols(m, nd, x0, x1) + per_out * nd.computed * (x1 - x0)
        for x0, x1 in cols
        if x1 > x0
    )


def _rows_needed(n: int, k: int, s: int, p: int, rows_in: int) -> int:
    """Input rows (a prefix) needed to produce the first ``n`` output rows."""
    if n <= 0:
        return 0
    return max(0, min(rows_in, (n - 1) * s - p + k))


def _first_row(r: int, s: int, p: int, rows_in: int) -> int:
    """The lowest input row output row ``r`` reads."""
    return max(0, min(rows_in, r * s - p))


@dataclass
class Node:
    """One producer of rows in a fused block (``ooc_node_t``)."""

    op: int  # operator index, or -1 for a streamed model input
    tensor: int  # tensor it produces rows of (reduce: the operator's output)
    mode: int
    rows: int
    width: int
    channels: int
    src: tuple[int, ...]  # per row-read input: node index in the block, or -1 (a whole tensor)
    deps: tuple[tuple[int, int, int], ...]  # per input: (k, s, p) along rows
    cols_dep: tuple[tuple[int, int, int], ...]  # per input: (k, s, p) along columns
    whole: bool  # the output is a whole tensor in the arena (read after the block)
    cap: int = 0  # ring rows (0 when whole)
    max_cols: int = 0  # widest column range over the strips
    offset: int = 0  # arena offset of the ring / accumulator
    computed: int = 0  # rows it produces per strip
    group: int = 0  # NODE_PEX: expanded channels per group
    span: int = 1  # operators it stands for (NODE_PEX: 3, or 4 with a PAD)
    win_max: int = 0  # NODE_PEX: the most expansion rows one output row's window reads
    win_sum: int = 0  # NODE_PEX: expansion rows the computed output rows' windows read in all


@dataclass
class Block:
    """Operators [first, last) run as one unit: per layer (``nodes`` empty) or fused."""

    first: int
    last: int
    nodes: list[Node] = field(default_factory=list)
    strips: int = 0
    cols: list[list[tuple[int, int]]] = field(default_factory=list)  # [strip][node] -> (x0, x1)
    macs: int = 0
    ring_bytes: int = 0  # rings + accumulators + scratch, at their widest
    scratch: int = 0  # bytes of scratch (a transposed input's channel row)
    scratch_offset: int = 0
    sram: int = 0  # working SRAM live while the block runs (this search's edge cost)
    # out of core: operators whose weights do not stay in the slot but are read again, piece
    # by piece, for every row their node makes (weight re-streaming, docs/DESIGN.md)
    streamed: tuple[int, ...] = ()
    restream_bytes: int = 0  # weight bytes those re-reads add per inference
    cost: float = -1.0  # the search's latency proxy: MACs, plus re-streaming in MAC equivalents

    def __post_init__(self) -> None:
        if self.cost < 0:
            self.cost = float(self.macs)

    def node_of(self, op: int) -> Node:
        return next(nd for nd in self.nodes if nd.op == op and nd.mode != NODE_INPUT)

    @property
    def pex_ops(self) -> frozenset[int]:
        """Operators inside the block's channel-split chains (their weights stay resident)."""
        return frozenset(
            nd.op + i for nd in self.nodes if nd.mode == NODE_PEX for i in range(nd.span)
        )

    @property
    def fused(self) -> bool:
        return bool(self.nodes)


@dataclass
class _Sim:
    nodes: list[Node]
    macs_per_col: list[float]  # per node: MACs per output (column x row) of its operator
    computed_rows: list[int]


class _Model:
    """Facts about the graph the search reuses."""

    def __init__(
        self,
        graph: Graph,
        stream_inputs: bool,
        spilled: frozenset[int] = frozenset(),
        channel_split: str = "auto",
    ):
        self.graph = graph
        self._whole_live: dict[int, int] = {}  # whole_live by first operator
        if channel_split not in CHANNEL_SPLIT:
            raise InvalidArgumentError(f"channel split must be one of {', '.join(CHANNEL_SPLIT)}")
        self.channel_split = channel_split
        self.n = len(graph.operators)
        self.row_ops = [_row_op(graph, i) for i in range(self.n)]
        self.producer = {op.outputs[0]: op.index for op in graph.operators}
        self.last_use: dict[int, int] = {}
        for op in graph.operators:
            for t in op.inputs:
                if t >= 0 and not graph.tensors[t].is_constant:
                    self.last_use[t] = op.index
        for t in graph.outputs:
            self.last_use[t] = self.n
        # a model input is streamed when every consumer reads it row by row
        self.streamed: set[int] = set()
        if stream_inputs:
            for t in graph.inputs:
                users = graph.consumers(t)
                if users and all(
                    self.row_ops[u] is not None
                    and (t in self.row_ops[u].inputs or self.row_ops[u].mode == NODE_TRANSPOSE_IN)
                    for u in users
                ):
                    self.streamed.add(t)
        self.reshape_alias = {
            op.outputs[0]: op.inputs[0] for op in graph.operators if op.op_type == "RESHAPE"
        }
        # channel-split chains by their first operator, with their expanded tensor's H, W, C and
        # their depthwise filter's taps
        self.pex: dict[int, _RowOp] = {}
        self.pex_expanded: dict[int, tuple[int, int, int]] = {}
        self.pex_taps: dict[int, int] = {}
        self.pex_span: dict[int, int] = {}  # operators in the chain (with a PAD: 4)
        for a in range(self.n):
            got = _pex_chain(graph, a, self.row_ops)
            if got is None:
                continue
            ro, span = got
            inner = {graph.operators[j].outputs[0] for j in range(a, a + span - 1)}
            if not inner & spilled:
                self.pex[a] = ro
                self.pex_span[a] = span
                _, e_h, e_w, e_c = graph.tensors[graph.operators[a].outputs[0]].shape
                self.pex_expanded[a] = (e_h, e_w, e_c)
                f = prepare_op(graph, graph.operators[a + span - 2]).fields
                self.pex_taps[a] = f["k_h"] * f["k_w"]
        # spilled activations: written by their producer block's sink, read back as rows
        self.spilled = set(spilled)
        self.streamed |= self.spilled
        self.spill_payload = max_payload(SPILL_SECTOR_BYTES)
        # a RESHAPE's output is its input's memory: the input lives until the output's last use
        for out in graph.activation_tensors:
            if out in self.reshape_alias and out in self.last_use:
                root = out
                while root in self.reshape_alias:
                    root = self.reshape_alias[root]
                self.last_use[root] = max(self.last_use.get(root, -1), self.last_use[out])

    def nbytes(self, t: int) -> int:
        return _align(self.graph.tensors[t].nbytes)

    def whole_live(self, a: int, b: int) -> int:
        """Bytes of whole tensors live while block [a, b) runs, besides its own outputs."""
        got = self._whole_live.get(a)
        if got is None:
            got = self._whole_live[a] = sum(self.nbytes(t) for t in self.whole_live_set(a))
        return got

    def whole_live_set(self, a: int) -> list[int]:
        """Whole tensors produced before operator ``a`` and still needed by it or later."""
        g = self.graph
        out = []
        for t in g.activation_tensors:
            if t in g.outputs or t in self.reshape_alias:
                continue
            pr = self.producer.get(t, -1)
            if pr >= a:
                continue
            if t in self.streamed:
                continue
            if self.last_use.get(t, -1) >= a:
                out.append(t)
        return out

    def spillable(self, t: int) -> bool:
        """Whether activation ``t`` may be spilled: a row operator's output (the sink of its
        block) that only row operators read, row by row, and not a model input or output."""
        g = self.graph
        pr = self.producer.get(t)
        if pr is None or t in g.outputs or t in g.inputs or t in self.reshape_alias:
            return False
        if t in self.reshape_alias.values():
            return False
        ro = self.row_ops[pr]
        if ro is None or ro.mode != NODE_OP or ro.channels > self.spill_payload:
            return False
        users = g.consumers(t)
        return bool(users) and all(
            self.row_ops[u] is not None
            and self.row_ops[u].mode == NODE_OP  # type: ignore[union-attr]
            and t in self.row_ops[u].inputs  # type: ignore[union-attr]
            for u in users
        )


def _simulate(m: _Model, a: int, b: int, pex: bool = False) -> _Sim | None:
    """Build block [a, b)'s nodes and run its row schedule once: ring capacities, rows computed.
    With ``pex``, every channel-split chain inside the block is one node (None if it has none)."""
    g = m.graph
    ops = range(a, b)
    if b <= a or any(m.row_ops[j] is None for j in ops):
        return None
    nodes: list[Node] = []
    node_of: dict[int, int] = {}  # tensor -> node producing it
    streamed_here = set()
    for j in ops:
        for t in m.row_ops[j].inputs:  # type: ignore[union-attr]
            if t in m.streamed:
                streamed_here.add(t)
    for t in sorted(streamed_here):
        x = g.tensors[t]
        _, h, w, c = x.shape
        node_of[t] = len(nodes)
        mode = NODE_SPILL_IN if t in m.spilled else NODE_INPUT
        nodes.append(Node(-1, t, mode, h, w, c, (), (), (), False))
    macs_per_col: list[float] = [0.0] * len(nodes)
    skip = 0
    chains = 0
    for j in ops:
        if skip:
            skip -= 1
            continue
        ro = m.row_ops[j]
        assert ro is not None
        op = g.operators[j]
        if pex and j in m.pex and j + m.pex_span[j] <= b:
            ro = m.pex[j]
            skip = m.pex_span[j] - 1
            op = g.operators[j + skip]
            chains += 1
        if ro.mode == NODE_REDUCE and j != b - 1:
            return None  # a global average ends a block
        src, deps, cdeps = [], [], []
        for i, t in enumerate(ro.inputs):
            if t in node_of:
                src.append(node_of[t])
            elif m.producer.get(t, -1) >= a or t in m.streamed:
                return None
            else:
                src.append(-1)
            deps.append((ro.k, ro.s, ro.p) if i == 0 else (1, 1, 0))
            cdeps.append((ro.kw, ro.sw, ro.pw) if i == 0 else (1, 1, 0))
        out = op.outputs[0]
        whole = ro.mode == NODE_REDUCE or m.last_use.get(out, -1) >= b
        if out in m.spilled:
            if j + skip != b - 1:
                return None  # a spilled tensor is its block's sink, written row by row
            whole = False
        node_of[out] = len(nodes)
        nodes.append(
            Node(j, out, ro.mode, ro.rows, ro.width, ro.channels, tuple(src), tuple(deps),
                 tuple(cdeps), whole)
        )  # fmt: skip
        if ro.mode == NODE_PEX:  # its MACs depend on the windows (_block_cost)
            nodes[-1].group = min(PEX_GROUP, m.pex_expanded[j][2])
            nodes[-1].span = skip + 1
        macs_per_col.append(0.0 if ro.mode == NODE_PEX else op.macs / max(1, ro.rows * ro.width))
    if len(nodes) > MAX_BLOCK_NODES or (pex and not chains):
        return None
    n = len(nodes)
    consumers: list[list[tuple[int, int, int, int]]] = [[] for _ in range(n)]
    for ci, nd in enumerate(nodes):
        for i, q in enumerate(nd.src):
            if q >= 0:
                k, s, p = nd.deps[i]
                consumers[q].append((ci, k, s, p))
    sink = n - 1
    # every node but the sink feeds another node of the block
    if any(not consumers[q] for q in range(n - 1)):
        return None
    done = [0] * n
    cap = [0] * n
    rows = [nd.rows for nd in nodes]
    # The pull schedule, with _rows_needed and _first_row written out (this loop is most of the
    # search's time): per node, its row-read inputs as (producer, k - p, s, producer's rows).
    pulls = [
        [(q, nd.deps[i][0] - nd.deps[i][2], nd.deps[i][1], rows[q]) for i, q in enumerate(nd.src)
         if q >= 0]
        for nd in nodes
    ]  # fmt: skip
    readers = [[(c, s, p) for c, _k, s, p in consumers[q]] for q in range(n)]
    ringed = [not nd.whole for nd in nodes]
    sink_rows = rows[sink]
    while done[sink] < sink_rows:
        j = sink
        while True:
            r = done[j]
            for q, k_p, s, rows_in in pulls[j]:
                need = r * s + k_p  # rows of q that rows [0, r] of j read
                if need > rows_in:
                    need = rows_in
                if done[q] < need:
                    j = q
                    break
            else:
                break
        # produce row done[j] of node j
        r = done[j]
        if ringed[j]:
            low = r
            rows_j = rows[j]
            for c, s, p in readers[j]:
                dc = done[c]
                if dc < rows[c]:
                    first = dc * s - p  # the lowest row of j that c's next row reads
                    if first < low:
                        low = max(0, min(rows_j, first))
            if r - low + 1 > cap[j]:
                cap[j] = r - low + 1
        done[j] += 1
    for q, nd in enumerate(nodes):
        if nd.whole and nd.mode != NODE_REDUCE and done[q] != nd.rows:
            return None  # a whole output must be complete
        nd.cap = 0 if nd.whole and nd.mode != NODE_REDUCE else cap[q]
        nd.computed = done[q]
        if nd.mode == NODE_PEX:
            (k, s, p), e_h = nd.deps[0], m.pex_expanded[nd.op][0]
            spans = [hi - lo for lo, hi in (_window_span(r, k, s, p, e_h) for r in range(nd.rows))]
            nd.win_max = max(spans)
            nd.win_sum = sum(spans[: nd.computed])
    return _Sim(nodes, macs_per_col, done)


def _strip_cols(sim: _Sim, strips: int) -> list[list[tuple[int, int]]] | None:
    """Column ranges per strip per node, from the sink's equal split backwards."""
    nodes = sim.nodes
    n = len(nodes)
    sink_w = nodes[-1].width
    if strips > sink_w:
        return None
    bounds = [round(i * sink_w / strips) for i in range(strips + 1)]
    out = []
    cover: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for s_i in range(strips):
        rng: list[tuple[int, int] | None] = [None] * n
        rng[-1] = (bounds[s_i], bounds[s_i + 1])
        for j in range(n - 1, -1, -1):
            r = rng[j]
            if r is None:
                return None
            x0, x1 = r
            nd = nodes[j]
            for i, q in enumerate(nd.src):
                if q < 0:
                    continue
                k, s, p = nd.cols_dep[i]
                w_in = nodes[q].width
                c0 = max(0, min(w_in, x0 * s - p))
                c1 = max(c0, min(w_in, (x1 - 1) * s - p + k))
                prev = rng[q]
                rng[q] = (c0, c1) if prev is None else (min(prev[0], c0), max(prev[1], c1))
        cols = [r if r is not None else (0, 0) for r in rng]
        for j in range(n):
            cover[j].append(cols[j])
        out.append(cols)
    for j, nd in enumerate(nodes):
        if nd.whole and nd.mode != NODE_REDUCE:
            spans = sorted(cover[j])
            reach = 0
            for c0, c1 in spans:
                if c0 > reach:
                    return None
                reach = max(reach, c1)
            if reach < nd.width:
                return None
    return out


def _node_bytes(nd: Node) -> int:
    """Arena bytes a node holds while its block runs: a reduce's int32 accumulators, or its ring
    at its widest strip (nothing for a whole output)."""
    if nd.mode == NODE_REDUCE:
        return _align(4 * nd.channels)
    return _align(nd.cap * nd.max_cols * nd.channels)


def _block_cost(m: _Model, a: int, b: int, sim: _Sim, strips: int) -> Block | None:
    cols = _strip_cols(sim, strips)
    if cols is None:
        return None
    g = m.graph
    nodes = [Node(**{**nd.__dict__}) for nd in sim.nodes]
    macs = 0.0
    ring = 0
    scratch = 0
    for j, nd in enumerate(nodes):
        widths = [c[j][1] - c[j][0] for c in cols]
        nd.max_cols = max(widths)
        if nd.mode == NODE_PEX:
            macs += _pex_macs(m, nd, [c[j] for c in cols])
            scratch = max(
                scratch,
                max(_pex_scratch(m, nd, x0, x1) for x0, x1 in (c[j] for c in cols) if x1 > x0),
            )
        elif nd.op >= 0:
            macs += sim.macs_per_col[j] * sim.computed_rows[j] * sum(widths)
        ring += _node_bytes(nd)
        if nd.mode == NODE_TRANSPOSE_IN:
            scratch = max(scratch, _align(nd.max_cols))
        if nd.mode == NODE_SPILL_IN and strips > 1:  # a record straddling the strip's columns
            scratch = max(scratch, _align(min(m.spill_payload, nd.width * nd.channels)))
    whole_out = sum(
        m.nbytes(nd.tensor)
        for nd in nodes
        if nd.whole and nd.op >= 0 and nd.tensor not in g.outputs
    )
    blk = Block(a, b, nodes, strips, cols, round(macs), ring + scratch, scratch)
    blk.sram = m.whole_live(a, b) + whole_out + ring + scratch
    return blk


def _single(m: _Model, j: int) -> Block:
    g = m.graph
    op = g.operators[j]
    out = op.outputs[0]
    own = 0 if out in g.outputs or out in m.reshape_alias else m.nbytes(out)
    blk = Block(j, j + 1, macs=op.macs)
    blk.sram = m.whole_live(j, j + 1) + own
    return blk


@dataclass
class SpillTensor:
    """A spilled activation (``ooc_spill_tensor_t``): its columns cut into parts, each row of
    a part one record of the spill ring, numbered in the order the producer writes them."""

    tensor: int
    rows: int
    width: int
    channels: int
    parts: list[tuple[int, int, int, int]]  # (x0, x1, stride, first record)
    state_offset: int = 0  # arena offset of the runtime's ref to record 0

    @property
    def nbytes(self) -> int:
        return self.rows * self.width * self.channels


def _spills(m: _Model, blocks: list[Block]) -> tuple[list[SpillTensor], list[int]]:
    """Each spilled tensor's parts, from its producer's strips (a strip writes whole parts, at
    most a record's payload each), and the record lengths one inference writes, in order."""
    spills: list[SpillTensor] = []
    lens: list[int] = []
    for b in blocks:
        if not b.fused or b.nodes[-1].tensor not in m.spilled:
            continue
        sink = b.nodes[-1]
        c, h = sink.channels, sink.rows
        widest = max(1, m.spill_payload // c)  # pixels per record
        parts: list[tuple[int, int, int, int]] = []
        first = 0
        for strip in b.cols:
            x0, x1 = strip[-1]
            k = -(-(x1 - x0) // widest)
            bounds = [x0 + round(i * (x1 - x0) / k) for i in range(k + 1)]
            mine = list(itertools.pairwise(bounds))
            parts += [(a, z, k, first + i) for i, (a, z) in enumerate(mine)]
            lens += [(z - a) * c for _ in range(h) for a, z in mine]
            first += k * h
        spills.append(SpillTensor(sink.tensor, h, sink.width, c, sorted(parts)))
    return spills, lens


def spill_reads(blocks: list[Block], spills: list[SpillTensor]) -> tuple[int, int]:
    """Flash bytes and read commands of reading the spills back in one inference: each row a
    SPILL_IN node makes reads every record its strip's columns touch (header, ciphertext and
    tag: three reads). Sector openings add two 32-byte header reads each (not counted here)."""
    by_tensor = {sp.tensor: sp for sp in spills}
    nbytes = commands = 0
    for b in blocks:
        for j, nd in enumerate(b.nodes):
            if nd.mode != NODE_SPILL_IN:
                continue
            sp = by_tensor[nd.tensor]
            for strip in b.cols:
                x0, x1 = strip[j]
                for a, z, _st, _f in sp.parts:
                    if a < x1 and z > x0:
                        nbytes += nd.computed * (48 + (z - a) * sp.channels)
                        commands += 3 * nd.computed
    return nbytes, commands


@dataclass
class FusionPlan:
    graph: Graph
    blocks: list[Block]
    objective: str
    max_mac_overhead: float | None
    sram_budget: int | None
    streamed_inputs: list[int]
    offsets: dict[int, int]  # whole tensor -> arena offset
    arena_bytes: int  # working SRAM + the model outputs at the top
    working_sram_bytes: int  # predicted
    per_layer_bytes: int  # per-layer execution's working SRAM (same definition)
    per_layer_arena_bytes: int  # what `ooc codegen` allocates per layer (input and output included)
    search_seconds: float = 0.0
    spills: list[SpillTensor] = field(default_factory=list)
    spill_lens: list[int] = field(default_factory=list)  # record payloads one inference writes

    @property
    def macs(self) -> int:
        return sum(b.macs for b in self.blocks)

    @property
    def digest(self) -> str:
        """Identifies the schedule and layout (the generated tables follow from it)."""
        h = hashlib.sha256(
            f"{self.graph.sha256}|{self.arena_bytes}|{self.working_sram_bytes}".encode()
        )
        h.update(repr(sorted(self.offsets.items())).encode())
        for b in self.blocks:
            h.update(repr((b.first, b.last, b.strips, b.cols, b.scratch_offset)).encode())
            for nd in b.nodes:
                h.update(repr(sorted(nd.__dict__.items())).encode())
        for sp in self.spills:
            h.update(repr(sorted(sp.__dict__.items())).encode())
        return h.hexdigest()

    @property
    def mac_overhead(self) -> float:
        base = self.graph.macs
        return self.macs / base if base else 1.0

    def timeline(self) -> list[dict[str, Any]]:
        """Working SRAM live during each block, with the per-layer figure for its operators."""
        m = _Model(self.graph, stream_inputs=False)  # as per_layer_bytes
        out = []
        for i, b in enumerate(self.blocks):
            per_layer = max(_single(m, j).sram for j in range(b.first, b.last))
            out.append({"block": i, "ops": [b.first, b.last], "sram_bytes": b.sram,
                        "per_layer_bytes": per_layer})  # fmt: skip
        return out

    def to_json(self) -> dict[str, Any]:
        g = self.graph
        return {
            "model": g.name,
            "objective": self.objective,
            "max_mac_overhead": self.max_mac_overhead,
            "sram_budget_bytes": self.sram_budget,
            "working_sram_bytes": self.working_sram_bytes,
            "arena_bytes": self.arena_bytes,
            "output_bytes": sum(g.tensors[t].nbytes for t in g.outputs),
            "streamed_inputs": self.streamed_inputs,
            "spilled_tensors": [
                {
                    "tensor": g.tensors[sp.tensor].name,
                    "bytes": sp.nbytes,
                    "records": sp.rows * len(sp.parts),
                }
                for sp in self.spills
            ],
            "spill_payload_bytes_per_inference": sum(self.spill_lens),
            "per_layer_working_sram_bytes": self.per_layer_bytes,
            "per_layer_arena_bytes": self.per_layer_arena_bytes,
            "reduction": round(self.per_layer_bytes / max(1, self.working_sram_bytes), 2),
            "macs": self.macs,
            "baseline_macs": g.macs,
            "mac_overhead": round(self.mac_overhead, 4),
            "search_seconds": round(self.search_seconds, 3),
            "blocks": [
                {
                    "ops": [b.first, b.last],
                    "op_types": [g.operators[j].op_type for j in range(b.first, b.last)],
                    "fused": b.fused,
                    "strips": b.strips if b.fused else None,
                    "macs": b.macs,
                    "sram_bytes": b.sram,
                    "ring_bytes": b.ring_bytes,
                    "rings": [
                        {
                            "op": nd.op,
                            "tensor": g.tensors[nd.tensor].name,
                            "rows": nd.cap,
                            "cols": nd.max_cols,
                            "channels": nd.channels,
                        }
                        for nd in b.nodes
                        if nd.cap
                    ],
                    "channel_split": [
                        {
                            "ops": [nd.op, nd.op + nd.span],
                            "expanded_channels": g.tensors[g.operators[nd.op].outputs[0]].shape[3],
                            "group": nd.group,
                        }
                        for nd in b.nodes
                        if nd.mode == NODE_PEX
                    ],
                }
                for b in self.blocks
            ],
            "timeline": self.timeline(),
        }


def _candidates(m: _Model) -> dict[tuple[int, int], list[Block]]:
    """Every block worth considering: single operators, and fused runs at each strip count."""
    out: dict[tuple[int, int], list[Block]] = {}
    for a in range(m.n):
        op = m.graph.operators[a]
        rows_io = any(t in m.streamed for t in op.inputs) or op.outputs[0] in m.spilled
        if not rows_io:
            out[(a, a + 1)] = [_single(m, a)]
        for b in range(a + 1, min(m.n, a + MAX_BLOCK_OPS) + 1):
            if m.row_ops[b - 1] is None:
                break
            if b == a + 1 and not rows_io:
                continue  # one operator alone gains nothing from rows unless it streams
            found: list[Block] = []
            for pex in _VARIANTS[m.channel_split]:
                sim = _simulate(m, a, b, pex)
                if sim is None:
                    continue
                if m.channel_split == "always" and not pex and (a, b) in out:
                    continue  # "always": the plain variant only for blocks without a chain
                for s in STRIP_CHOICES:
                    blk = _block_cost(m, a, b, sim, s)
                    if blk is not None and not any(
                        f.sram <= blk.sram and f.macs <= blk.macs for f in found
                    ):
                        found.append(blk)
                if found:
                    out[(a, b)] = found
    return out


def _pareto(
    m: _Model, cands: dict[tuple[int, int], list[Block]], mac_limit: float
) -> list[tuple[int, float, list[Block]]]:
    """(peak SRAM, cost, blocks) for every plan on the SRAM/cost Pareto front whose MACs stay
    within mac_limit (the cost is the MACs unless weights are re-streamed).

    Dynamic programming over the cut positions; each position keeps its front sorted by peak
    (costs falling). Extending by a block of SRAM s, the states whose peak is below s all
    become peak s, so only the cheapest of them (the last) is extended, with every state
    above s. (With re-streaming the cheapest is not always the fewest MACs; under a MAC limit,
    only the k-mode search, which does not stream, binds.)"""
    by_end: dict[int, list[tuple[int, Block]]] = {}
    for (a, b), blks in cands.items():
        by_end.setdefault(b, []).extend((a, blk) for blk in blks)
    # per position: peaks (ascending) and states (peak, cost, macs, chain as (block, rest))
    Chain = tuple[Block, Any] | None
    states: dict[int, tuple[list[int], list[tuple[int, float, int, Chain]]]] = {
        0: ([0], [(0, 0.0, 0, None)])
    }
    key = operator.itemgetter(0, 1)
    for b in range(1, m.n + 1):
        cand: list[tuple[int, float, int, Chain]] = []
        for a, blk in by_end.get(b, []):
            got = states.get(a)
            if not got:
                continue
            peaks, sts = got
            bs, bc, bm = blk.sram, blk.cost, blk.macs
            start = max(0, bisect.bisect_right(peaks, bs) - 1)
            for peak, cost, macs, chain in itertools.islice(sts, start, None):
                total = macs + bm
                if total <= mac_limit:
                    cand.append((peak if peak > bs else bs, cost + bc, total, (blk, chain)))
        cand.sort(key=key)
        front = []
        best = math.inf
        for st in cand:
            if st[1] < best:
                front.append(st)
                best = st[1]
        if front:
            states[b] = ([st[0] for st in front], front)
    out = []
    for peak, cost, _macs, chain in states.get(m.n, ([], []))[1]:
        blocks: list[Block] = []
        while chain is not None:
            blocks.append(chain[0])
            chain = chain[1]
        out.append((peak, cost, blocks[::-1]))
    return out


def _layout(m: _Model, blocks: list[Block]) -> tuple[dict[int, int], int, int]:
    """Arena offsets: whole tensors by block lifetime, each fused block's rings during it, the
    model outputs at the top. Returns (offsets, working bytes, arena bytes)."""
    g = m.graph
    block_of = {}
    for i, b in enumerate(blocks):
        for j in range(b.first, b.last):
            block_of[j] = i
    end = len(blocks)
    # whole tensors: those a block reads or writes whole
    internal = {
        nd.tensor for b in blocks for nd in b.nodes if not nd.whole or nd.mode == NODE_REDUCE
    }
    internal |= {  # a channel-split chain's intermediates are held nowhere
        g.operators[nd.op + i].outputs[0] for b in blocks for nd in b.nodes
        if nd.mode == NODE_PEX for i in range(nd.span - 1)
    }  # fmt: skip
    reduce_out = {nd.tensor for b in blocks for nd in b.nodes if nd.mode == NODE_REDUCE}
    items: list[Buffer] = []
    aliases: dict[int, list[int]] = {}
    for t in g.activation_tensors:
        root = t
        while root in m.reshape_alias:
            root = m.reshape_alias[root]
        aliases.setdefault(root, []).append(t)
    output_groups: list[list[int]] = []
    for root, members in aliases.items():
        if any(t in g.outputs for t in members):
            output_groups.append(members)
            continue
        if root in m.streamed:
            continue
        if all(t in internal and t not in reduce_out for t in members):
            continue
        firsts, lasts = [], []
        for t in members:
            pr = m.producer.get(t)
            firsts.append(block_of[pr] if pr is not None else -1)
            lu = m.last_use.get(t, -1)
            lasts.append(block_of.get(lu, end) if lu >= 0 else firsts[-1])
        size = max(m.nbytes(t) for t in members)
        items.append(Buffer(members, size, min(firsts), max(lasts)))
    for i, b in enumerate(blocks):
        if b.fused:
            items.append(Buffer([-1 - i], b.ring_bytes, i, i))
    offsets, working, _ = place(items)
    working = _align(working)
    arena = working
    for members in output_groups:
        for t in members:
            offsets[t] = arena
        arena += max(m.nbytes(t) for t in members)
    # rings and accumulators of each fused block, packed at the block's region
    for i, b in enumerate(blocks):
        if not b.fused:
            continue
        pos = offsets[-1 - i]
        for nd in b.nodes:
            nd.offset = pos
            pos += _node_bytes(nd)
        b.scratch_offset = pos
        del offsets[-1 - i]
    return offsets, working, arena


def _per_layer(m: _Model) -> int:
    return max((_single(m, j).sram for j in range(m.n)), default=0)


@dataclass
class StreamCosts:
    """What weight re-streaming inside fused blocks costs (the out-of-core planner's figures).

    A fused block's weights normally stay in the chunk slot while all its rows compute. When
    they do not fit, its heaviest convolutions may instead re-read their weights for every row
    their node makes, in output-channel pieces through the room the slot has left (the runtime
    makes each row piece by piece). ``op_bytes[j]`` is operator j's slot need (entries and
    data), ``op_piece[j]`` the need of its smallest piece (None: it cannot be split), and
    ``byte_cost`` what one re-read byte costs in MAC equivalents (flash, decryption and tag
    time over a MAC's)."""

    op_bytes: list[int]
    op_piece: list[int | None]
    byte_cost: float
    # per block range: (streamable operators heaviest first, resident bytes after streaming the
    # first k of them, the largest piece among those k), k = 0, 1, ...
    _order: dict[tuple[int, int, frozenset[int]], tuple[list[int], list[int], list[int]]] = field(
        default_factory=dict, repr=False
    )
    # per block simulation (its node list, kept alive so the id stays its own): rows per node
    _rows: dict[int, tuple[list[Node], dict[int, int]]] = field(default_factory=dict, repr=False)
    # (block id, operators streamed) -> (the block, kept alive, and its streaming copy)
    _made: dict[tuple[int, int], tuple[Block, Block]] = field(default_factory=dict, repr=False)

    def _prefix(
        self, a: int, b: int, keep: frozenset[int] = frozenset()
    ) -> tuple[list[int], list[int], list[int]]:
        got = self._order.get((a, b, keep))
        if got is None:  # ``keep``: operators that stay resident (channel-split chains)
            ops = sorted(
                (j for j in range(a, b) if self.op_piece[j] is not None and j not in keep),
                key=lambda j: -self.op_bytes[j],
            )
            resident = [sum(self.op_bytes[j] for j in range(a, b))]
            piece = [0]
            for j in ops:
                resident.append(resident[-1] - self.op_bytes[j])
                piece.append(max(piece[-1], self.op_piece[j] or 0))
            got = self._order[(a, b, keep)] = (ops, resident, piece)
        return got

    def apply(self, blk: Block, cap: int) -> Block | None:
        """``blk`` with the fewest heaviest operators streamed so that its resident weights and
        one piece of each streamed one fit ``cap``; None when no choice fits."""
        ops, resident, piece = self._prefix(blk.first, blk.last, blk.pex_ops)
        k = next((k for k in range(1, len(ops) + 1) if resident[k] + piece[k] <= cap), 0)
        if k == 0:
            return None
        key = (id(blk), k)
        hit = self._made.get(key)
        if hit is not None and hit[0] is blk:
            return hit[1]
        streamed = ops[:k]
        got = self._rows.get(id(blk.nodes))
        if got is None:  # rows each operator's node makes per strip (the block's simulation)
            got = self._rows[id(blk.nodes)] = (blk.nodes, {nd.op: nd.computed for nd in blk.nodes})
        rows = got[1]
        restream = blk.strips * sum(self.op_bytes[j] * rows[j] for j in streamed)
        out = copy.copy(blk)
        out.streamed = tuple(sorted(streamed))
        out.restream_bytes = restream
        out.cost = blk.macs + self.byte_cost * restream
        self._made[key] = (blk, out)
        return out


class FusionSearch:
    """The search's candidate blocks for one graph, built once (the expensive part), and plans
    drawn from them. The out-of-core planner asks for several plans with different limits on a
    fused block's weights (they must fit one chunk slot together, docs/DESIGN.md)."""

    def __init__(
        self,
        graph: Graph,
        stream_inputs: bool = True,
        spilled: frozenset[int] = frozenset(),
        channel_split: str = "auto",
    ) -> None:
        t0 = time.perf_counter()
        self.graph = graph
        self.stream_inputs = stream_inputs
        self.spilled = spilled
        self.channel_split = channel_split
        self.m = _Model(graph, stream_inputs, spilled, channel_split)
        self.cands = _candidates(self.m)
        self.setup_seconds = time.perf_counter() - t0
        self._per_layer: int | None = None

    def plan(
        self,
        *,
        max_mac_overhead: float | None = None,
        sram: int | None = None,
        block_weight_bytes: Callable[[int, int], int] | None = None,
        max_block_weight_bytes: int | None = None,
        stream: StreamCosts | None = None,
    ) -> FusionPlan:
        """As :func:`plan_fusion`. With ``max_block_weight_bytes``, fused blocks [a, b) whose
        ``block_weight_bytes(a, b)`` exceed it are left out (operators alone stay: the
        out-of-core planner splits those along their output channels), unless ``stream`` lets
        some of their operators re-stream their weights (:meth:`StreamCosts.apply`)."""
        if max_mac_overhead is not None and max_mac_overhead < 1.0:
            raise InvalidArgumentError(
                "`max_mac_overhead` must be at least 1.0", param="max_mac_overhead"
            )
        if sram is not None and sram <= 0:
            raise InvalidArgumentError("the SRAM budget must be positive")
        t0 = time.perf_counter()
        m, graph, base = self.m, self.graph, self.graph.macs
        cands = self.cands
        if max_block_weight_bytes is not None:
            assert block_weight_bytes is not None
            cap = max_block_weight_bytes
            cands = {}
            for (a, b), blks in self.cands.items():
                heavy = block_weight_bytes(a, b) > cap
                keep: list[Block] = []
                for blk in blks:
                    if not blk.fused or not heavy:
                        keep.append(blk)
                    elif stream is not None:
                        sb = stream.apply(blk, cap)
                        if sb is not None:
                            keep.append(sb)
                if keep:
                    cands[(a, b)] = keep

        def laid_out(chain: list[Block]) -> tuple[list[Block], tuple[dict[int, int], int, int]]:
            blocks = [Block(b.first, b.last, [Node(**nd.__dict__) for nd in b.nodes], b.strips,
                            b.cols, b.macs, b.ring_bytes, b.scratch, 0, b.sram, b.streamed,
                            b.restream_bytes, b.cost) for b in chain]  # fmt: skip
            return blocks, _layout(m, blocks)

        # The search's edge costs ignore fragmentation; the arena layout decides. Every plan on
        # the front is laid out, so a budget is checked against the working SRAM the runtime uses.
        if max_mac_overhead is not None:
            limit = base * max_mac_overhead
        else:  # a budget alone: MACs as good as unbounded; no budget: no recomputation
            limit = base * (64.0 if sram is not None else 1.0)
        front = _pareto(m, cands, limit * (1 + 1e-9))
        if not front:
            raise FusionError(f"no schedule within {limit / max(base, 1):.2f}x the model's MACs")
        # the runtime's refs of each spilled tensor (STATE_BYTES each, 8-aligned, above the
        # outputs) count against the budget too
        refs = STATE_BYTES * len(m.spilled) + 8 if m.spilled else 0
        if sram is not None:
            # a layout is never smaller than the search's peak: lay out only the schedules
            # that may fit, or, when none may, the few smallest (for the error's minimum)
            may = [st for st in front if st[0] + refs <= sram] or front[:LAYOUTS_WHEN_NONE_FIT]
            plans = [(cost, *laid_out(chain)) for _peak, cost, chain in may]
            fits = [p for p in plans if p[2][1] + refs <= sram]
            if not fits:
                _, blocks, (_, least, _) = min(plans, key=lambda p: p[2][1])
                least += refs
                worst = max(blocks, key=lambda b: b.sram)
                op = graph.operators[worst.first]
                whole = m.whole_live_set(worst.first)
                if not worst.fused:
                    whole.append(op.outputs[0])
                whole += [nd.tensor for nd in worst.nodes if nd.whole and nd.mode != NODE_REDUCE]
                raise FusionError(
                    f"a working SRAM of {format_size(sram)} cannot be met: the smallest fused "
                    f"schedule needs {format_size(least)} ({least} bytes), set by operator "
                    f"{worst.first} ({op.op_type}, output "
                    f"{list(graph.tensors[op.outputs[0]].shape)})",
                    least,
                    worst.first,
                    [t for t in whole if t not in graph.outputs],
                    [nd.tensor for nd in worst.nodes[:-1] if nd.op >= 0 and not nd.whole],
                )
            _, blocks, (offsets, working, arena) = min(fits, key=lambda p: (p[0], p[2][1]))
            objective = "min-latency"
        else:
            plans = [(cost, *laid_out(chain)) for _peak, cost, chain in front]
            _, blocks, (offsets, working, arena) = min(plans, key=lambda p: (p[2][1], p[0]))
            objective = "min-sram"
        if self._per_layer is None:
            self._per_layer = _per_layer(_Model(graph, stream_inputs=False))
        spills, lens = _spills(m, blocks)
        if spills:  # the runtime's refs of each spilled tensor, above the outputs
            arena = -(-arena // 8) * 8
            for sp in spills:
                sp.state_offset = arena
                arena += STATE_BYTES
            working += STATE_BYTES * len(spills)
        return FusionPlan(
            graph,
            blocks,
            objective,
            max_mac_overhead,
            sram,
            sorted(m.streamed),
            offsets,
            arena,
            working,
            self._per_layer,
            plan_memory(graph).arena_bytes,
            self.setup_seconds + time.perf_counter() - t0,
            spills,
            lens,
        )


def plan_fusion(
    graph: Graph,
    *,
    max_mac_overhead: float | None = None,
    sram: int | None = None,
    stream_inputs: bool = True,
    channel_split: str = "auto",
) -> FusionPlan:
    """A fused schedule: minimum working SRAM within ``max_mac_overhead`` x the model's MACs, or
    (with ``sram``) the fewest MACs within that working SRAM. ``channel_split``: "auto" makes
    channel-split chains a search option per block, "off" leaves them out, "always" runs every
    chain a fused block contains channel-split. Raises FusionError when the budget cannot be met, naming the minimum and
    the operator that sets it."""
    if max_mac_overhead is not None and max_mac_overhead < 1.0:
        raise InvalidArgumentError(
            "`max_mac_overhead` must be at least 1.0", param="max_mac_overhead"
        )
    if sram is not None and sram <= 0:
        raise InvalidArgumentError("the SRAM budget must be positive")
    return FusionSearch(graph, stream_inputs, channel_split=channel_split).plan(
        max_mac_overhead=max_mac_overhead, sram=sram
    )
