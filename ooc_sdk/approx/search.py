"""The design-space exploration of ``ooc approx``: per-layer skip ratios on a Pareto front.

Every skippable layer gets a skip ratio in 32nds, up to the last probed ratio (28/32:
nothing is extrapolated past a measurement); at ratio r it skips
its ``floor(r * groups)`` least significant groups (:mod:`ooc_sdk.approx.significance`). The
search runs in four steps, each batch of candidate models one tflite-micro process per job:

1. the exact model on every input: the reference outputs, logits and accuracy;
2. probes: each layer alone at ratios 8/32, 16/32, 24/32 and 28/32 on a subset of the inputs,
   measuring how far the exact class's margin falls on the logits (the tensor before a final
   softmax, which moves continuously where top-1 does not; :meth:`_Evaluator.risk`); the
   ratios between are interpolated;
3. a greedy path from the exact model: each step raises by one 32nd the ratio of the
   layer that saves the most modelled instructions per unit of predicted loss (losses assumed
   additive), so the path runs from exact to every layer at 28/32;
4. a Pareto sweep: points spread along the path are measured on every input (top-1 against
   the labels, or agreement with the exact model's top-1), then the stretch where each
   accuracy bound is crossed is bisected; where the path falls off a cliff right after the
   best point within the (last) bound, the layer whose step did it is banned and a detour path
   goes on from that point without it (twice); on small models (which stop at the last probe
   but one, 24/32) the best point within each bound is then polished by trying every layer 1, 2 or 4 steps further, and trades (one
   layer two steps further, another one back).

The front is the measured points no other point beats in both instructions and accuracy; the
chosen configuration for a bound is the cheapest measured one within it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ooc_sdk.approx import cost
from ooc_sdk.approx.data import check
from ooc_sdk.approx.oracle import logits_tensor, model_outputs
from ooc_sdk.approx.significance import LayerSignificance, bias_correction, significance
from ooc_sdk.model import approx
from ooc_sdk.model.ir import Graph

STEPS = 32  # skip ratios are k / STEPS
PROBES = (8, 16, 24, 28)
TOP = PROBES[-1]  # the largest ratio searched: none is extrapolated past the last probe

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Point:
    """One measured configuration."""

    instructions: int
    accuracy: float
    flash_read_bytes: int
    config: approx.ApproxConfig
    ratios: tuple[int, ...]  # per skippable layer, in 32nds (STEPS)

    def to_json(self, exact: Point | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "instructions": self.instructions,
            "accuracy": round(self.accuracy, 6),
            "flash_read_bytes": self.flash_read_bytes,
        }
        if exact is not None:
            doc["instructions_saved"] = round(1 - self.instructions / exact.instructions, 4)
            doc["flash_read_saved"] = round(
                1 - self.flash_read_bytes / max(1, exact.flash_read_bytes), 4
            )
            doc["accuracy_drop"] = round(exact.accuracy - self.accuracy, 6)
        doc["ratios"] = [k / STEPS for k in self.ratios]
        doc["config"] = self.config.to_json()
        return doc


@dataclass
class Exploration:
    exact: Point
    points: list[Point]  # every measured configuration, in measuring order
    labelled: bool  # accuracy is top-1 against labels (else agreement with the exact model)
    seconds: float
    evaluations: int  # candidate models run on tflite-micro (probes included)
    layers: list[LayerSignificance] = field(default_factory=list)
    classes: list[int] = field(default_factory=list)  # inputs per exact top-1 class
    cpu_seconds: float = 0.0  # CPU time of this process and its tflite-micro children

    @property
    def pareto(self) -> list[Point]:
        """The measured points no other beats in both instructions and accuracy, from the
        exact model (most instructions) down; none costs more than the exact model (a bias
        correction may make a costlier skip score above it)."""
        cheaper = [p for p in self.points if p.instructions <= self.exact.instructions]
        ranked = sorted([self.exact, *cheaper], key=lambda p: (p.instructions, -p.accuracy))
        front: list[Point] = []
        for p in ranked:
            if not front or p.accuracy > front[-1].accuracy:
                front.append(p)
        return front[::-1]

    def chosen(self, max_drop: float) -> Point:
        """The cheapest measured configuration within ``max_drop`` of the exact accuracy."""
        ok = [
            p
            for p in [self.exact, *self.points]
            if p.accuracy >= self.exact.accuracy - max_drop - 1e-9
        ]
        return min(ok, key=lambda p: (p.instructions, -p.accuracy))


@dataclass
class _Evaluator:
    """Runs candidate configurations and keeps the reference outputs."""

    model: bytes
    graph: Graph
    x: np.ndarray
    y: np.ndarray | None
    jobs: int
    tensor: int | None
    ref_top1: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ref_logits: np.ndarray = field(default_factory=lambda: np.zeros(0))
    runs: int = 0

    def run(self, configs: Sequence[approx.ApproxConfig], idx: np.ndarray) -> list[tuple]:
        models = [approx.zeroed_tflite(self.model, self.graph, c) for c in configs]
        self.runs += len(models)
        return model_outputs(models, self.graph, self.x[idx], self.jobs, self.tensor)

    def accuracy(self, out: np.ndarray, idx: np.ndarray) -> float:
        top1 = out.argmax(axis=1)
        want = self.y[idx] if self.y is not None else self.ref_top1[idx]
        return float((top1 == want).mean())

    def risk(self, logits: np.ndarray, idx: np.ndarray) -> float:
        """How near the candidate brings the inputs to a changed answer: the mean over inputs of
        the fall of the exact class's margin over the runner-up, in units of the exact margin
        (plus one LSB), clipped to [0, 1]. It is continuous where the top-1 count is not, and
        inputs the exact model already gets wrong (against labels) carry no weight."""
        ref = self.ref_logits[idx]
        cls = self.ref_top1[idx]
        rows = np.arange(len(idx))
        lg = logits.astype(np.float64)

        def margin(v: np.ndarray) -> np.ndarray:
            other = v.copy()
            other[rows, cls] = -np.inf
            return v[rows, cls] - other.max(axis=1)

        fall = np.clip((margin(ref) - margin(lg)) / (margin(ref) + 1.0), 0.0, 1.0)
        if self.y is not None:
            fall = fall * (cls == self.y[idx])
        return float(fall.mean())


def config_for(
    graph: Graph,
    layers: list[LayerSignificance],
    ratios: Sequence[int],
    note: str = "",
    even: bool = False,
) -> approx.ApproxConfig:
    """The configuration skipping the least significant ``ratio`` of each layer's groups (of
    each row's, ``even``), their mean contribution folded into the bias (where the layer has
    one)."""
    out = []
    for layer, k in zip(layers, ratios, strict=True):
        skip = tuple(int(g) for g in layer.skipped(k, STEPS, even))
        if skip:
            name = graph.tensor(layer.tensor).name
            has_bias = approx.bias_tensor(graph, graph.operators[layer.op_index]) is not None
            bias = bias_correction(layer, np.asarray(skip)) if has_bias else ()
            out.append(approx.LayerSkip(layer.tensor, name, layer.op, layer.shape, layer.group,
                                        skip, bias if any(bias) else ()))  # fmt: skip
    return approx.ApproxConfig(graph.sha256, tuple(out), note)


def _savings(graph: Graph, layers: list[LayerSignificance], even: bool) -> np.ndarray:
    """Modelled instructions saved per layer and ratio: [layers, TOP + 1]."""
    out = np.zeros((len(layers), TOP + 1))
    for i, layer in enumerate(layers):
        op = graph.operators[layer.op_index]
        full = cost.op_instructions(graph, op)
        total = layer.group_weights.sum()
        for k in range(1, TOP + 1):
            kept = 1.0 - layer.group_weights[layer.skipped(k, STEPS, even)].sum() / total
            out[i, k] = full - cost.op_instructions(graph, op, kept)
    return out


def _interpolate(probed: dict[int, float]) -> np.ndarray:
    """A non-decreasing loss per ratio 0 .. TOP from the probed ratios (0 at ratio 0)."""
    ks = [0, *sorted(probed)]
    vs = [0.0, *(probed[k] for k in sorted(probed))]
    loss = np.interp(np.arange(TOP + 1), ks, vs)
    return np.maximum.accumulate(np.maximum(loss, 0.0))


def greedy_path(
    loss: np.ndarray, save: np.ndarray, start: Sequence[int] | None = None
) -> list[tuple[int, ...]]:
    """Ratios from all-zero to all at the last column of ``loss``, one layer one step at a time:
    the layer whose best reachable ratio saves the most per unit of loss (looking past steps
    that lose without saving, so a non-convex stretch does not stall it) moves one step."""
    n = loss.shape[0]
    state = list(start) if start is not None else [0] * n
    path = [tuple(state)]
    finite = loss[np.isfinite(loss)]  # a banned layer's losses are inf (a detour)
    eps = 1e-9 + 1e-6 * float(finite.max() if finite.size else 0.0)
    while True:
        best, best_rate = None, -1.0
        for i in range(n):
            k = state[i]
            for k2 in range(k + 1, loss.shape[1]):
                gain = save[i, k2] - save[i, k]
                if gain <= 0 or not np.isfinite(loss[i, k2]):
                    continue
                rate = gain / max(loss[i, k2] - loss[i, k], eps)
                if rate > best_rate:
                    best, best_rate = i, rate
        if best is None:
            return path
        state[best] += 1
        path.append(tuple(state))


def _spread(path_len: int, count: int) -> list[int]:
    """``count`` path indices, denser near the exact end, where the accuracy bounds are."""
    t = np.linspace(0.0, 1.0, count)
    return sorted({round(v) for v in 1 + (path_len - 2) * t**1.5} - {0})


def explore(
    model: bytes,
    graph: Graph,
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    bounds: Sequence[float] = (0.01,),
    calibration: np.ndarray | None = None,
    even_rows: bool = False,
    group: int = 4,
    calibration_inputs: int = 32,
    search_inputs: int = 128,
    path_points: int = 12,
    refine_rounds: int = 3,
    polish_rounds: int = 8,
    detours: int = 2,
    polish_budget: int = 4000,
    jobs: int = 1,
    seed: int = 0,
    progress: Progress | None = None,
) -> Exploration:
    """Explore skip ratios for ``graph`` (whose flatbuffer is ``model``) on inputs ``x``
    ([N, *input shape]) with labels ``y`` or, without, agreement with the exact model.
    ``bounds`` are the accuracy drops whose crossing the sweep refines. Significance and bias
    corrections come from ``calibration`` (inputs apart from ``x``) when given, else from
    ``calibration_inputs`` of ``x`` drawn at random. ``even_rows`` skips as many groups in
    every row of a layer (:meth:`LayerSignificance.skipped`). When the model has
    few enough layers (layers x inputs <= ``polish_budget``), each bound's best point is then
    polished: moves of one or two layers (:func:`_polish_moves`), measured, the cheapest within
    the bound kept, up to
    ``polish_rounds`` times. Long because it runs the steps of the module docstring in order,
    sharing the evaluator, the input subsets and the measured points."""
    data = check(graph, x, y, "inputs")
    x, y = data.x, data.y
    say = progress or (lambda _msg: None)
    t0, cpu0 = time.monotonic(), _cpu()
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x))
    ev = _Evaluator(model, graph, x, y, jobs, logits_tensor(graph))
    every = np.arange(len(x))

    say(f"exact model on {len(x)} inputs")
    out, logits = ev.run([approx.ApproxConfig(graph.sha256)], every)[0]
    ev.ref_top1, ev.ref_logits = out.argmax(axis=1), logits.astype(np.float64)
    exact_cost = cost.estimate(graph)
    zeros = (0,) * len(approx.skippable_layers(graph))
    exact = Point(exact_cost.instructions, ev.accuracy(out, every),
                  exact_cost.flash_read_bytes, approx.ApproxConfig(graph.sha256), zeros)  # fmt: skip

    xc = x[np.sort(perm[:calibration_inputs])] if calibration is None else calibration
    say(f"significance of {len(zeros)} layers' operand groups on {len(xc)} calibration inputs")
    layers = significance(model, graph, xc, group=group, seed=seed)

    sub = np.sort(perm[:search_inputs])
    # small models (polished below) stop at the last probe but one: measured, the longer
    # reach sent the digits CNN's greedy path past its better points (33.7% against 41.7%
    # saved within one point), where vww gains (24.5% against 19.8% within 99% agreement)
    small = len(layers) * len(x) <= polish_budget
    reach = PROBES[:-1] if small else PROBES
    probes = [(i, k) for i in range(len(layers)) for k in reach]
    say(f"probing {len(probes)} single-layer configurations on {len(sub)} inputs")
    configs = [
        config_for(graph, layers, [k if j == i else 0 for j in range(len(layers))], even=even_rows)
        for i, k in probes
    ]
    measured: dict[int, dict[int, float]] = {i: {} for i in range(len(layers))}
    for (i, k), (_, lg) in zip(probes, ev.run(configs, sub), strict=True):
        measured[i][k] = ev.risk(lg, sub)
    loss = np.stack([_interpolate(measured[i]) for i in range(len(layers))])
    loss = loss[:, : reach[-1] + 1]  # nothing past the last probe
    path = greedy_path(loss, _savings(graph, layers, even_rows))

    points: dict[tuple[int, ...], Point] = {}

    def measure(candidates: list[tuple[int, ...]]) -> None:
        todo = list(dict.fromkeys(r for r in candidates if r not in points))
        if not todo:
            return
        say(f"measuring {len(todo)} configurations on {len(x)} inputs")
        cfgs = [config_for(graph, layers, r, even=even_rows) for r in todo]
        for r, c, (o, _) in zip(todo, cfgs, ev.run(cfgs, every), strict=True):
            est = cost.estimate(graph, c)
            points[r] = Point(est.instructions, ev.accuracy(o, every), est.flash_read_bytes, c, r)

    def within(p: Point, bound: float) -> bool:
        return p.accuracy >= exact.accuracy - bound - 1e-9

    def sweep(path: list[tuple[int, ...]], count: int) -> None:
        """Measure ``count`` points along ``path``, then bisect where each bound is crossed."""
        measure([path[i] for i in _spread(len(path), count)])
        for _ in range(refine_rounds):
            extra: list[int] = []
            for bound in bounds:
                on_path = {i: points[r] for i, r in enumerate(path) if r in points}
                g = max((i for i, p in on_path.items() if within(p, bound)), default=0)
                b = min((i for i in on_path if i > g), default=len(path))
                if b - g > 1:
                    extra += _spread_between(g, b, 3)
            measure([path[i] for i in extra])

    sweep(path, path_points)
    # detours: where the path fell off a cliff right after a bound's best point, ban the layer
    # whose step did it and go on from that point without it
    banned: set[int] = set()
    for _ in range(detours):
        bound = bounds[-1]
        on_path = [i for i, r in enumerate(path) if r in points]
        good = [i for i in on_path if within(points[path[i]], bound)]
        g = max(good, default=0)
        if g + 1 >= len(path) or path[g + 1] not in points:
            break
        layer = next(j for j in range(len(layers)) if path[g + 1][j] != path[g][j])
        banned.add(layer)
        capped = loss.copy()
        for j in banned:
            capped[j, path[g][j] + 1 :] = np.inf
        path = greedy_path(capped, _savings(graph, layers, even_rows), start=path[g])
        if len(path) < 3:
            break
        say(f"detour without layer {layers[layer].op_index} ({len(path) - 1} steps)")
        sweep(path, max(4, path_points // 2))
    # polish: from each bound's best point, moves of one or two layers, while one is cheaper
    if small:
        for bound in bounds:
            for _ in range(polish_rounds):
                best = min((p for p in points.values() if within(p, bound)),
                           key=lambda p: p.instructions, default=exact)  # fmt: skip
                steps = _polish_moves(best.ratios, reach[-1])
                measure(steps)
                if not any(within(points[r], bound) and points[r].instructions
                           < best.instructions for r in steps):  # fmt: skip
                    break
    found = sorted(points.values(), key=lambda p: -p.instructions)
    classes = np.bincount(ev.ref_top1, minlength=out.shape[1]).tolist()
    return Exploration(exact, found, y is not None, time.monotonic() - t0, ev.runs, layers, classes,
                       _cpu() - cpu0)  # fmt: skip


def _polish_moves(ratios: tuple[int, ...], top: int) -> list[tuple[int, ...]]:
    """Neighbours of ``ratios``: one layer 1, 2 or 4 steps further, or one layer two steps
    further and another one back (a trade)."""
    out = []
    n = len(ratios)
    for i in range(n):
        for d in (1, 2, 4):
            if ratios[i] + d <= top:
                out.append(tuple(k + d * (j == i) for j, k in enumerate(ratios)))
        for j in range(n):
            if j != i and ratios[i] + 2 <= top and ratios[j] >= 1:
                out.append(tuple(k + 2 * (m == i) - (m == j) for m, k in enumerate(ratios)))
    return out


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _spread_between(lo: int, hi: int, count: int) -> list[int]:
    return sorted({round(v) for v in np.linspace(lo, hi, count + 2)[1:-1]} - {lo, hi})
