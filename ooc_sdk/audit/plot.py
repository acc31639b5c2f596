"""A picture of an energy audit (``ooc audit energy --plot``): the parts of each layer's energy
stacked, beside the totals out-of-core and in SRAM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ooc_sdk.audit.energy import PARTS
from ooc_sdk.errors import InvalidArgumentError

LABELS = {
    "compute": "compute",
    "crypto": "crypto (software AES + tags)",
    "flash_read": "flash read",
    "flash_program": "flash program",
    "flash_erase": "flash erase",
    "mcu_wait": "MCU waiting for flash",
    "flash_standby": "flash standby",
}
COLORS = {
    "compute": "tab:blue",
    "crypto": "tab:red",
    "flash_read": "tab:green",
    "flash_program": "tab:purple",
    "flash_erase": "tab:brown",
    "mcu_wait": "tab:orange",
    "flash_standby": "tab:gray",
}


def plot_energy(report: dict[str, Any], path: Path) -> None:
    """Write a PNG of ``report`` (ooc_sdk.audit.energy.energy_report): stacked bars per layer
    out-of-core with the in-SRAM figure of each layer marked, and the two totals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(report["per_layer"])
    if report["unattributed"]["total"] > 0:
        rows.append({"index": "-", "op": "unattributed", **report["unattributed"], "in_sram": None})
    if not rows:
        raise InvalidArgumentError("the audit has no layers to plot")
    parts = [p for p in PARTS if report["energy_uj_per_inference"][p] > 0]
    in_sram = report["in_sram"]

    fig, (ax, tot) = plt.subplots(
        1, 2, figsize=(max(8.0, 3.0 + 0.28 * len(rows)), 5.5), layout="constrained",
        gridspec_kw={"width_ratios": [max(3.0, len(rows) / 8), 1]},
    )  # fmt: skip
    try:
        x = list(range(len(rows)))
        bottom = [0.0] * len(rows)
        for p in parts:
            values = [float(r[p]) for r in rows]
            ax.bar(x, values, 0.8, bottom=bottom, color=COLORS[p], label=LABELS[p])
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        marks = [(i, r["in_sram"]) for i, r in enumerate(rows) if r.get("in_sram") is not None]
        if marks:
            ax.scatter(
                [i for i, _ in marks], [v for _, v in marks], marker="_", s=160, color="black",
                linewidths=2, zorder=3, label="in SRAM (same layer)",
            )  # fmt: skip
        ax.set_xticks(x, [f"{r['index']} {r['op']}" for r in rows], rotation=90, fontsize=7)
        ax.set_ylabel("uJ per inference")
        ax.set_title("per layer, out-of-core")
        ax.set_ylim(0, max(bottom) * 1.35 or 1.0)  # room for the legend above the bars
        ax.legend(fontsize=8, loc="upper left", ncols=3)
        ax.grid(axis="y", alpha=0.3)

        names = ["out-of-core"] + (["in SRAM"] if in_sram else [])
        sides = [report["energy_uj_per_inference"]] + (
            [in_sram["energy_uj_per_inference"]] if in_sram else []
        )
        base = [0.0] * len(names)
        for p in parts:
            values = [float(s[p]) for s in sides]
            tot.bar(names, values, 0.6, bottom=base, color=COLORS[p])
            base = [b + v for b, v in zip(base, values, strict=True)]
        for i, side in enumerate(sides):
            note = f"{side['total']:,.0f} uJ"
            if i == 1 and not in_sram["fits_sram"]:
                note += "\n(does not fit SRAM)"
            tot.annotate(note, (i, side["total"]), ha="center", va="bottom", fontsize=8)
        tot.set_ylim(0, max(s["total"] for s in sides) * 1.18)
        tot.set_title("total")
        tot.grid(axis="y", alpha=0.3)
        fig.suptitle(
            f"{report['model']} on {report['mcu']} + {report['flash']}: energy per inference "
            f"({report['kernels']} kernels, {report['cycles_per_instruction']:g} cycles per "
            "instruction)",
            fontsize=10,
        )
        try:
            fig.savefig(path, dpi=110)
        except OSError as exc:
            raise InvalidArgumentError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
