"""The pieces of a fused schedule: ``Node`` (a producer of rows, ``ooc_node_t``), ``Block`` (a run
of operators executed as one unit), ``SpillTensor`` (an activation spilled to the flash ring), the
node modes and limits the C runtime's model tables share, and ``FusionError``.

Plain data: this module reads no graph. The laid-out schedule built from these pieces,
``FusionPlan``, is in ``layout.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from ooc_sdk.errors import OocError
from ooc_sdk.formats.tables import (  # node modes (enum ooc_node_mode) and limits, shared with C
    NODE_CONV_MEAN,
    NODE_INPUT,
    NODE_PEX,
)

PEX_GROUP = 8  # expanded channels per group of a channel-split chain
CONV_MEAN_GROUP = 32  # output channels per group of a 1x1 convolution summed into its average
CHANNEL_SPLIT = ("auto", "off", "always")  # channel-split chains: searched, never, wherever fused


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


class OverBudget(FusionError):
    """No schedule's search peak is within the budget (``FusionSearch.plan(defer_floor=True)``);
    ``floor()`` searches the whole front and returns the full :class:`FusionError` (smallest
    working SRAM, the layer that sets it, what spilling could take out): only wanted when no
    other schedule fits either. ``bound``: at most the floor's smallest working SRAM (the least
    peak of any chain of the candidates, with the spill refs), so a caller may skip floors
    that cannot matter."""

    def __init__(self, floor: Callable[[], object], bound: int = 0):
        super().__init__("no schedule within the budget")
        self._floor = floor
        self.bound = bound

    def floor(self) -> FusionError:
        try:
            self._floor()
        except FusionError as exc:
            return exc
        raise AssertionError("a budget refused once was met")  # pragma: no cover


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
    group: int = 0  # NODE_PEX: expanded channels per group; NODE_CONV_MEAN: output channels
    span: int = 1  # operators it stands for (NODE_PEX: 3, or 4 with a PAD; NODE_CONV_MEAN: 2)
    win_max: int = 0  # NODE_PEX: the most expansion rows one output row's window reads
    win_sum: int = 0  # NODE_PEX: expansion rows the computed output rows' windows read in all
    # a nearest resize: the input row and column each output row and column copies (input 0)
    row_map: tuple[int, ...] | None = None
    col_map: tuple[int, ...] | None = None
    # a row group (out of core, a streamed convolution): rows made per call, its pieces read
    # once per call (0: one row); ``loads``: its calls per strip (0: one per row made)
    rows_per_load: int = 0
    loads: int = 0


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

    @functools.cached_property
    def pex_ops(self) -> frozenset[int]:
        """Operators inside the block's channel-split chains and channel-group averages (their
        weights stay resident)."""
        return frozenset(
            nd.op + i
            for nd in self.nodes
            if nd.mode in (NODE_PEX, NODE_CONV_MEAN)
            for i in range(nd.span)
        )

    @property
    def fused(self) -> bool:
        return bool(self.nodes)


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
