"""``GraphFacts``: what the fusion search reuses about one graph -- each operator's row model and
channel-split chains, producers and last uses (a RESHAPE's output counted as its input's memory),
which model inputs stream and which activations are spilled or may be -- and the whole tensors
live while a block runs. Also an operator run alone as a block (``single_block``): per-layer
execution's figure, the unit every fused schedule falls back to.
"""

from __future__ import annotations

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats.tables import NODE_OP, NODE_QUANTIZE_IN, NODE_REDUCE, NODE_TRANSPOSE_IN
from ooc_sdk.lower.memplan import ALIGNMENT
from ooc_sdk.lower.prepare import prepare_op
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.fusion.model import CHANNEL_SPLIT, Block
from ooc_sdk.plan.fusion.rows import RowOp, conv_mean, pex_chain, row_op
from ooc_sdk.plan.spill import max_payload


def align(n: int) -> int:
    """``n`` rounded up to the arena's alignment."""
    return -(-n // ALIGNMENT) * ALIGNMENT


def reshape_aliases(graph: Graph) -> dict[int, int]:
    """Each RESHAPE's output -> its input: the two share one buffer."""
    return {op.outputs[0]: op.inputs[0] for op in graph.operators if op.op_type == "RESHAPE"}


def buffer_groups(graph: Graph, alias: dict[int, int]) -> dict[int, list[int]]:
    """The activation tensors by the buffer they share (its root tensor -> its members)."""
    groups: dict[int, list[int]] = {}
    for t in graph.activation_tensors:
        root = t
        while root in alias:
            root = alias[root]
        groups.setdefault(root, []).append(t)
    return groups


def output_bytes(graph: Graph) -> int:
    """The bytes the model outputs take at the top of a fused arena (``layout``), above the
    working SRAM: each buffer holding an output, at its largest member, aligned."""
    return sum(
        max(align(graph.tensors[t].nbytes) for t in members)
        for members in buffer_groups(graph, reshape_aliases(graph)).values()
        if any(t in graph.outputs for t in members)
    )


class GraphFacts:
    """Facts about the graph the search reuses: built once per search (``spilled``: the
    activations this search spills to flash; ``stream_inputs``: read model inputs row by row
    where every consumer can; ``spill_sector_bytes``: the flash's erase sector, which bounds a
    spill record, or None where nothing may spill)."""

    def __init__(
        self,
        graph: Graph,
        stream_inputs: bool,
        spilled: frozenset[int] = frozenset(),
        channel_split: str = "auto",
        spill_sector_bytes: int | None = None,
    ):
        self.graph = graph
        self._whole_live: dict[int, int] = {}  # whole_live by first operator
        if channel_split not in CHANNEL_SPLIT:
            raise InvalidArgumentError(f"channel split must be one of {', '.join(CHANNEL_SPLIT)}")
        self.channel_split = channel_split
        self.n = len(graph.operators)
        self.row_ops = [row_op(graph, i) for i in range(self.n)]
        self.producer = {op.outputs[0]: op.index for op in graph.operators}
        self.last_use = self._last_uses()
        # a model input is streamed when every consumer reads it row by row
        self.streamed: set[int] = self._row_read_inputs() if stream_inputs else set()
        self.reshape_alias = reshape_aliases(graph)
        # channel-split chains by their first operator, with their expanded tensor's H, W, C and
        # their depthwise filter's taps
        self.pex: dict[int, RowOp] = {}
        self.pex_expanded: dict[int, tuple[int, int, int]] = {}
        self.pex_taps: dict[int, int] = {}
        self.pex_span: dict[int, int] = {}  # operators in the chain (with a PAD: 4)
        self._find_chains(spilled)
        # spilled activations: written by their producer block's sink, read back as rows
        self.spilled = set(spilled)
        self.streamed |= self.spilled
        if spilled and not spill_sector_bytes:
            raise InvalidArgumentError("spilling activations needs the flash's sector size")
        self.spill_payload = max_payload(spill_sector_bytes) if spill_sector_bytes else 0
        # 1x1 convolutions run a channel group at a time into the global average after them
        # (NODE_CONV_MEAN), by the convolution's index: its input is read whole from the arena
        self.conv_means = {
            a for a in range(self.n - 1)
            if conv_mean(graph, a, self.row_ops)
            and graph.operators[a].inputs[0] not in self.streamed
            and graph.operators[a].outputs[0] not in self.spilled
        }  # fmt: skip
        self._extend_alias_lifetimes()

    def _last_uses(self) -> dict[int, int]:
        """Each activation's last reader (the model outputs: past the last operator)."""
        graph = self.graph
        last_use: dict[int, int] = {}
        for op in graph.operators:
            for t in op.inputs:
                if t >= 0 and not graph.tensors[t].is_constant:
                    last_use[t] = op.index
        for t in graph.outputs:
            last_use[t] = self.n
        return last_use

    def _row_read_inputs(self) -> set[int]:
        """The model inputs every consumer reads row by row."""
        streamed: set[int] = set()
        for t in self.graph.inputs:
            users = self.graph.consumers(t)
            if users and all(
                self.row_ops[u] is not None
                and (
                    t in self.row_ops[u].row_inputs  # type: ignore[union-attr]
                    or self.row_ops[u].mode in (NODE_TRANSPOSE_IN, NODE_QUANTIZE_IN)  # type: ignore[union-attr]
                )
                for u in users
            ):
                streamed.add(t)
        return streamed

    def _find_chains(self, spilled: frozenset[int]) -> None:
        """Record the channel-split chains none of whose intermediates is spilled."""
        graph = self.graph
        for a in range(self.n):
            got = pex_chain(graph, a, self.row_ops)
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

    def _extend_alias_lifetimes(self) -> None:
        """A RESHAPE's output is its input's memory: the input lives until the output's last
        use."""
        for out in self.graph.activation_tensors:
            if out in self.reshape_alias and out in self.last_use:
                root = out
                while root in self.reshape_alias:
                    root = self.reshape_alias[root]
                self.last_use[root] = max(self.last_use.get(root, -1), self.last_use[out])

    def nbytes(self, t: int) -> int:
        return align(self.graph.tensors[t].nbytes)

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
        block) that only row operators read, row by row (a global average among them: a
        squeeze-and-excitation block reads its tensor twice, for the gate and to apply it),
        and not a model input or output."""
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
            and self.row_ops[u].mode in (NODE_OP, NODE_REDUCE)  # type: ignore[union-attr]
            and t in self.row_ops[u].row_inputs  # type: ignore[union-attr]
            for u in users
        )


def single_block(m: GraphFacts, j: int) -> Block:
    """Operator ``j`` run alone, per layer: its whole input and output tensors in SRAM."""
    g = m.graph
    op = g.operators[j]
    out = op.outputs[0]
    own = 0 if out in g.outputs or out in m.reshape_alias else m.nbytes(out)
    blk = Block(j, j + 1, macs=op.macs)
    blk.sram = m.whole_live(j, j + 1) + own
    return blk
