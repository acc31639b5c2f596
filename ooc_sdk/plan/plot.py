"""A picture of a fusion plan: working SRAM over the schedule against per-layer execution."""

from __future__ import annotations

from pathlib import Path

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.units import format_size

KIB = 1024.0
LOG_RATIO = 50.0  # a log y axis when the largest value is this many times the smallest


def plot_fusion(plan: FusionPlan, path: Path, tflm_arena_bytes: int | None = None) -> None:
    """Write a PNG of ``plan``: the working SRAM of each block over the operators it runs, the
    per-layer figure for the same operators, and TFLM's activation arena when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    timeline = plan.timeline()
    if not timeline:
        raise InvalidArgumentError("the plan has no blocks to plot")
    edges = [float(row["ops"][0]) for row in timeline] + [float(timeline[-1]["ops"][1])]
    fused = [row["sram_bytes"] / KIB for row in timeline]
    layered = [row["per_layer_bytes"] / KIB for row in timeline]
    values = [v for v in (*fused, *layered) if v > 0]
    if tflm_arena_bytes:
        values.append(tflm_arena_bytes / KIB)
    lo, hi = (min(values), max(values)) if values else (1.0, 1.0)
    log = hi / lo > LOG_RATIO
    floor = lo / 2 if log else 0.0  # a zero cannot be drawn on a log axis

    fig, ax = plt.subplots(figsize=(13, 5), layout="constrained")
    try:
        for blk in plan.blocks:
            if blk.fused:
                ax.axvspan(blk.first, blk.last, color="tab:green", alpha=0.12, lw=0)
                ax.axvline(blk.first, color="tab:green", alpha=0.35, lw=0.6)
        ax.stairs(
            [max(v, floor) for v in layered], edges, color="tab:red", lw=1.6,
            label=f"per layer (working {format_size(plan.per_layer_bytes)})",
        )  # fmt: skip
        ax.stairs(
            [max(v, floor) for v in fused], edges, color="tab:blue", lw=2.2,
            label=f"fused schedule (working {format_size(plan.working_sram_bytes)})",
        )  # fmt: skip
        if tflm_arena_bytes:
            ax.axhline(
                tflm_arena_bytes / KIB, color="tab:gray", ls="--", lw=1.2,
                label=f"TFLM activation arena ({format_size(tflm_arena_bytes)})",
            )  # fmt: skip
        if log:
            ax.set_yscale("log")
        top = hi * (2.5 if log else 1.15)
        ax.set_ylim(floor if log else 0.0, top)
        span = edges[-1] - edges[0]
        for blk in plan.blocks:
            if blk.fused:
                wide = (blk.last - blk.first) >= 0.06 * span
                ax.text(
                    (blk.first + blk.last) / 2, 0.97,
                    f"{blk.strips} strip{'s' if blk.strips > 1 else ''}" if wide else str(blk.strips),
                    transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=7,
                    color="darkgreen",
                )  # fmt: skip
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("operator index (shaded: fused blocks, label: column strips)")
        ax.set_ylabel("working SRAM (KiB)" + (", log scale" if log else ""))
        k = plan.max_mac_overhead
        limit = f"k = {k:g}" if k is not None else f"budget {format_size(plan.sram_budget or 0)}"
        ax.set_title(
            f"{plan.graph.name}: {limit}, MAC overhead {plan.mac_overhead:.3f}x, working SRAM "
            f"{format_size(plan.working_sram_bytes)} (per layer {format_size(plan.per_layer_bytes)}, "
            f"{plan.per_layer_bytes / max(1, plan.working_sram_bytes):.1f}x less)"
        )
        ax.grid(True, which="major", axis="y", alpha=0.3)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        try:
            fig.savefig(Path(path), dpi=120)
        except OSError as e:
            raise InvalidArgumentError(
                f"{path}: cannot write the plot: {e.strerror or e}"
            ) from None
    finally:
        plt.close(fig)
