"""``StreamCosts``: weight re-streaming inside fused blocks, for the out-of-core planner. When a
fused block's weights do not fit the chunk slot, its heaviest convolutions may re-read their
weights, piece by piece, for every row their node makes; this module picks the fewest such
operators for a slot size and prices the re-reads in MAC equivalents (docs/DESIGN.md).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ooc_sdk.plan.fusion.model import Block, Node


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
        """Block [a, b)'s streamable operators, heaviest first, and per prefix length k the
        resident bytes and the largest piece (cached per block range)."""
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
