"""One candidate block, simulated: its nodes (streamed inputs, then its operators, a channel-split
chain as one node), its row schedule run once exactly as c_runtime/src/fused.c runs it (each
ring's capacity, the rows each node makes), the column ranges of its strips, and what it costs:
working SRAM and MACs, the strips' recomputation included.
"""

from __future__ import annotations

from dataclasses import dataclass

from ooc_sdk.formats.tables import (
    MAX_BLOCK_NODES,
    NODE_CONV_MEAN,
    NODE_INPUT,
    NODE_PEX,
    NODE_QUANTIZE_IN,
    NODE_REDUCE,
    NODE_SPILL_IN,
    NODE_TRANSPOSE_IN,
)
from ooc_sdk.plan.fusion.graph import GraphFacts, align
from ooc_sdk.plan.fusion.model import CONV_MEAN_GROUP, PEX_GROUP, Block, Node
from ooc_sdk.plan.fusion.rows import window_span


@dataclass
class Sim:
    """A block's simulated row schedule: its nodes (ring capacities and rows made filled in)."""

    nodes: list[Node]
    macs_per_col: list[float]  # per node: MACs per output (column x row) of its operator
    computed_rows: list[int]


def simulate(
    m: GraphFacts, a: int, b: int, pex: bool = False, groups: dict[int, int] | None = None
) -> Sim | None:
    """Build block [a, b)'s nodes and run its row schedule once: ring capacities, rows computed.
    With ``pex``, every channel-split chain inside the block is one node (None if it has none).
    ``groups``: operator -> rows its node makes per call (a row group: a streamed operator's
    pieces are read once per group, docs/DESIGN.md); one row where not given."""
    if b <= a or any(m.row_ops[j] is None for j in range(a, b)):
        return None
    built = _block_nodes(m, a, b, pex)
    if built is None:
        return None
    nodes, macs_per_col = built
    for nd in nodes:
        g = (groups or {}).get(nd.op, 0) if nd.op >= 0 else 0
        nd.rows_per_load = g if g > 1 else 0
    consumers = _consumers(nodes)
    # every node but the sink feeds another node of the block
    if any(not consumers[q] for q in range(len(nodes) - 1)):
        return None
    done, cap, calls = _pull_rows(nodes, consumers)
    if not _size_nodes(m, nodes, done, cap):
        return None
    for nd, c in zip(nodes, calls, strict=True):
        nd.loads = c if nd.rows_per_load else 0
    return Sim(nodes, macs_per_col, done)


def _input_nodes(m: GraphFacts, a: int, b: int) -> list[Node]:
    """The nodes of block [a, b)'s row-read inputs that come from outside the operators: the
    streamed model inputs and the spilled activations it reads, by tensor index."""
    g = m.graph
    streamed_here = set()
    for j in range(a, b):
        for t in m.row_ops[j].row_inputs:  # type: ignore[union-attr]
            if t in m.streamed:
                streamed_here.add(t)
    nodes = []
    for t in sorted(streamed_here):
        x = g.tensors[t]
        _, h, w, c = x.shape
        mode = NODE_SPILL_IN if t in m.spilled else NODE_INPUT
        nodes.append(Node(-1, t, mode, h, w, c, (), (), (), False))
    return nodes


def _block_nodes(m: GraphFacts, a: int, b: int, pex: bool) -> tuple[list[Node], list[float]] | None:
    """Block [a, b)'s nodes, inputs first, and each node's MACs per output; None when the
    operators cannot run as one block (a global average or a spilled tensor not at its end, an
    input made inside the block by no node, too many nodes, or ``pex`` and no chain)."""
    g = m.graph
    nodes = _input_nodes(m, a, b)
    node_of = {nd.tensor: i for i, nd in enumerate(nodes)}  # tensor -> node producing it
    macs_per_col: list[float] = [0.0] * len(nodes)
    skip = 0
    chains = 0
    for j in range(a, b):
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
            if i in ro.bcast:  # read whole: made before the block, or a constant
                if t in node_of or m.producer.get(t, -1) >= a:
                    return None
                src.append(-1)
                deps.append((1, 1, 0))
                cdeps.append((1, 1, 0))
                continue
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
                 tuple(cdeps), whole, row_map=ro.row_map, col_map=ro.col_map)
        )  # fmt: skip
        if ro.mode == NODE_PEX:  # its MACs depend on the windows (block_cost)
            nodes[-1].group = min(PEX_GROUP, m.pex_expanded[j][2])
            nodes[-1].span = skip + 1
        macs_per_col.append(0.0 if ro.mode == NODE_PEX else op.macs / max(1, ro.rows * ro.width))
    if len(nodes) > MAX_BLOCK_NODES or (pex and not chains):
        return None
    return nodes, macs_per_col


Consumer = tuple[int, int, int, int, "tuple[int, ...] | None"]


def _consumers(nodes: list[Node]) -> list[list[Consumer]]:
    """Per node, the nodes reading its rows: (reader, k, s, p) of the reader's window, and the
    reader's row map (a nearest resize: the row each of its rows copies) or None."""
    consumers: list[list[Consumer]] = [[] for _ in nodes]
    for ci, nd in enumerate(nodes):
        for i, q in enumerate(nd.src):
            if q >= 0:
                k, s, p = nd.deps[i]
                consumers[q].append((ci, k, s, p, nd.row_map if i == 0 else None))
    return consumers


def _pull_rows(
    nodes: list[Node], consumers: list[list[Consumer]]
) -> tuple[list[int], list[int], list[int]]:
    """Run the pull schedule until the sink has made all its rows: the sink asks for its next
    row; a node lacking an input row the next row reads makes that row first. A node with a
    row group (``rows_per_load`` G > 1) makes its next G rows (fewer at the bottom) in one
    call, once its inputs hold every row they read. Returns the rows each node made, each
    ring's capacity (the most rows it held at once) and each node's calls."""
    n = len(nodes)
    sink = n - 1
    done = [0] * n
    cap = [0] * n
    calls = [0] * n
    rows = [nd.rows for nd in nodes]
    grp = [max(1, nd.rows_per_load) for nd in nodes]
    # The pull schedule, with rows.py's _rows_needed and _first_row written out (this loop is
    # most of the search's time): per node, its row-read inputs as (producer, k - p, s,
    # producer's rows).
    pulls = [
        [(q, nd.deps[i][0] - nd.deps[i][2], nd.deps[i][1], rows[q],
          nd.row_map if i == 0 else None) for i, q in enumerate(nd.src) if q >= 0]
        for nd in nodes
    ]  # fmt: skip
    readers = [[(c, s, p, rm) for c, _k, s, p, rm in consumers[q]] for q in range(n)]
    ringed = [not nd.whole for nd in nodes]
    sink_rows = rows[sink]
    while done[sink] < sink_rows:
        j = sink
        while True:
            r = min(done[j] + grp[j], rows[j]) - 1  # the last row of the call
            for q, k_p, s, rows_in, rmap in pulls[j]:
                # rows of q that rows [0, r] of j read
                need = r * s + k_p if rmap is None else rmap[r] + 1
                if need > rows_in:
                    need = rows_in
                if done[q] < need:
                    j = q
                    break
            else:
                break
        # produce rows done[j] .. r of node j (one row without a group)
        r = min(done[j] + grp[j], rows[j]) - 1
        if ringed[j]:
            low = done[j]  # the call's first row: all its rows are held at once
            rows_j = rows[j]
            for c, s, p, rm in readers[j]:
                dc = done[c]
                if dc < rows[c]:
                    # the lowest row of j that c's next row reads
                    first = dc * s - p if rm is None else rm[dc]
                    if first < low:
                        low = max(0, min(rows_j, first))
            if r - low + 1 > cap[j]:
                cap[j] = r - low + 1
        calls[j] += 1
        done[j] = r + 1
    return done, cap, calls


def _size_nodes(m: GraphFacts, nodes: list[Node], done: list[int], cap: list[int]) -> bool:
    """Record each node's ring capacity and rows made, and a channel-split chain's expansion
    window rows; False when a whole output was left incomplete."""
    for q, nd in enumerate(nodes):
        if nd.whole and nd.mode != NODE_REDUCE and done[q] != nd.rows:
            return False  # a whole output must be complete
        nd.cap = 0 if nd.whole and nd.mode != NODE_REDUCE else cap[q]
        nd.computed = done[q]
        if nd.mode == NODE_PEX:
            (k, s, p), e_h = nd.deps[0], m.pex_expanded[nd.op][0]
            spans = [hi - lo for lo, hi in (window_span(r, k, s, p, e_h) for r in range(nd.rows))]
            nd.win_max = max(spans)
            nd.win_sum = sum(spans[: nd.computed])
    return True


def strip_cols(sim: Sim, strips: int) -> list[list[tuple[int, int]]] | None:
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
                if i == 0 and nd.col_map is not None:  # a nearest resize's columns
                    c0 = nd.col_map[x0] if x1 > x0 else 0
                    c1 = nd.col_map[x1 - 1] + 1 if x1 > x0 else c0
                else:
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


def node_bytes(nd: Node) -> int:
    """Arena bytes a node holds while its block runs: a reduce's int32 accumulators, or its ring
    at its widest strip (nothing for a whole output)."""
    if nd.mode == NODE_REDUCE:
        return align(4 * nd.channels)
    if nd.mode == NODE_CONV_MEAN:  # a group's accumulators, then one row of the group
        return align(4 * nd.group) + align(nd.width * nd.group)
    return align(nd.cap * nd.max_cols * nd.channels)


def block_cost(m: GraphFacts, a: int, b: int, sim: Sim, strips: int) -> Block | None:
    """Block [a, b) run in ``strips`` column strips: its nodes sized to their widest strip, its
    MACs (recomputed halo columns included), ring and scratch bytes, and the working SRAM live
    while it runs (the search's edge cost); None if the strips cannot cover its whole outputs."""
    cols = strip_cols(sim, strips)
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
        ring += node_bytes(nd)
        if nd.mode == NODE_TRANSPOSE_IN:
            scratch = max(scratch, align(nd.max_cols))
        if nd.mode == NODE_QUANTIZE_IN:  # one strip row of floats
            scratch = max(scratch, align(4 * nd.max_cols * nd.channels))
        # a record straddling the columns read (strips, or a window that skips the last ones)
        if nd.mode == NODE_SPILL_IN and (strips > 1 or nd.max_cols < nd.width):
            scratch = max(scratch, align(min(m.spill_payload, nd.width * nd.channels)))
    whole_out = sum(
        m.nbytes(nd.tensor)
        for nd in nodes
        if nd.whole and nd.op >= 0 and nd.tensor not in g.outputs
    )
    blk = Block(a, b, nodes, strips, cols, round(macs), ring + scratch, scratch)
    blk.sram = m.whole_live(a, b) + whole_out + ring + scratch
    return blk


def _pex_cols(m: GraphFacts, nd: Node, x0: int, x1: int) -> int:
    """Expansion columns (clipped) a channel-split chain's output columns [x0, x1) read."""
    kw, sw, pw = nd.cols_dep[0]
    e_w = m.pex_expanded[nd.op][1]
    lo = max(0, min(e_w, x0 * sw - pw))
    return max(lo, min(e_w, (x1 - 1) * sw - pw + kw)) - lo


def _pex_scratch(m: GraphFacts, nd: Node, x0: int, x1: int) -> int:
    """Scratch bytes fused.c's pex_row uses at most for columns [x0, x1) of a channel-split
    chain (over its rows): the projection's int32 sums, one group's expansion rows and
    depthwise row, and the group's depthwise taps."""
    w, g = x1 - x0, nd.group
    return (
        align(4 * w * nd.channels) + align(nd.win_max * _pex_cols(m, nd, x0, x1) * g)
        + align(w * g) + align(m.pex_taps[nd.op] * g)
    )  # fmt: skip


def _pex_macs(m: GraphFacts, nd: Node, cols: list[tuple[int, int]]) -> float:
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


def conv_mean_block(m: GraphFacts, a: int) -> Block:
    """Operators ``a`` (a 1x1 convolution) and ``a + 1`` (the global average of its output) as
    one NODE_CONV_MEAN node (``m.conv_means``): the convolution's input whole, the average's
    output whole, and only a group's accumulators and one row of the group between them -- no
    recomputation (fused.c runs each group over the whole input)."""
    g = m.graph
    conv, avg = g.operators[a], g.operators[a + 1]
    _, h, w, c = g.tensors[conv.outputs[0]].shape
    out = avg.outputs[0]
    nd = Node(a, out, NODE_CONV_MEAN, h, w, c, (-1,), ((1, 1, 0),), ((1, 1, 0),), True,
              max_cols=w, computed=h, group=min(CONV_MEAN_GROUP, c), span=2)  # fmt: skip
    ring = node_bytes(nd)
    blk = Block(a, a + 2, [nd], 1, [[(0, w)]], conv.macs, ring, 0)
    blk.sram = m.whole_live(a, a + 2) + (0 if out in g.outputs else m.nbytes(out)) + ring
    return blk
