"""The verdicts on the first screen of ``ooc report`` (docs/audit.md, "Report"): does the build
fit its SRAM budget, is it bit-exact against tflite-micro, its latency against the same model in
SRAM, its energy per inference, its flash lifetime against the target.

Each verdict is ``pass``, ``fail`` or ``not checked`` (an input is missing: no limit given, the
oracle not installed), with its number and a sentence: what it was checked against, and for a
failure what would meet it, for a missing input how to give it. The page shows the status as
text as well as colour. The limits (:class:`Limits`) come from ``ooc report``'s options; where
none is given the verdict says "not checked" rather than guess, except two defaults the CLI
documents: the inference rate (``--rate``, 1/s) sets the time one inference may take, and the
lifetime target (``--target-years``) is 10 years on the command line.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from ooc_sdk.units import format_size

PASS, FAIL, NOT_CHECKED = "pass", "fail", "not checked"
_BADGE = {PASS: "\u2714 PASS", FAIL: "\u2718 FAIL", NOT_CHECKED: "\u2013 NOT CHECKED"}
_SECONDS_PER_YEAR = 365.25 * 86400


@dataclass(frozen=True)
class Limits:
    """What the build is judged against; None: not given (that verdict is not checked)."""

    target_years: float | None = None  # the flash must last this long at the wear audit's rate
    max_latency_ratio: float | None = None  # out-of-core latency / in-SRAM latency
    max_energy_uj: float | None = None  # energy per inference

    def to_json(self) -> dict[str, float | None]:
        return {
            "target_years": self.target_years,
            "max_latency_ratio": self.max_latency_ratio,
            "max_energy_uj": self.max_energy_uj,
        }


@dataclass(frozen=True)
class Verdict:
    key: str  # budget, exact, latency, energy, lifetime
    title: str
    status: str  # PASS, FAIL or NOT_CHECKED
    value: str  # the number
    detail: str  # against what; for a failure what meets it; when not checked, how to check

    def to_json(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("key", "title", "status", "value", "detail")}


def judge(d: dict[str, Any]) -> list[Verdict]:
    """The verdicts on ``d`` (:func:`ooc_sdk.audit.report.collect`), in page order."""
    limits = Limits(**d.get("limits", {}))
    return [
        _budget(d),
        _exact(d.get("exact")),
        _latency(d, limits.max_latency_ratio),
        _energy(d, limits.max_energy_uj),
        _lifetime(d["wear"], limits.target_years),
    ]


# -- formatting ------------------------------------------------------------------------------------


def _bytes(n: int) -> str:
    return f"{format_size(n)} ({n:,} B)"


def _duration(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.3g} us"
    if s < 1:
        return f"{s * 1e3:.4g} ms"
    return f"{s:,.4g} s"


def _years(y: float) -> str:
    days = y * _SECONDS_PER_YEAR / 86400
    if days < 1:
        return f"{days * 24:.3g} hours"
    if y < 0.1:
        return f"{days:.3g} days"
    return f"{y:,.3g} years"


def rate_text(per_s: float) -> str:
    """An inference rate in the largest unit that gives at least one: 1/s, 1/min, 4.57/h."""
    for unit, seconds in (("s", 1), ("min", 60), ("h", 3600), ("day", 86400)):
        if per_s * seconds >= 1 or unit == "day":
            return f"{per_s * seconds:.3g}/{unit}"
    raise AssertionError("unreachable")


# -- the verdicts ----------------------------------------------------------------------------------


def _budget(d: dict[str, Any]) -> Verdict:
    p = d["plan"]
    sram = int(p["sram_bytes"])
    budget = p.get("budget_bytes", d["info"].get("budget_bytes"))
    mcu, mcu_name = int(d["mcu_sram"]["value"]), d["mcu_sram"]["name"]
    limit = int(budget) if budget is not None else mcu
    run = d["energy"].get("run") or {}
    high = run.get("sram_high_water_bytes")
    problems = []
    if sram > limit:
        problems.append(f"the plan needs {sram - limit:,} B more than {_bytes(limit)}")
    if budget is not None and sram > mcu:
        problems.append(f"the plan needs more than the {mcu_name}'s SRAM, {_bytes(mcu)}")
    if high is not None and int(high) > sram:
        problems.append(f"the Cortex-M4 run used {int(high):,} B, more than the plan's {sram:,} B")
    split = (
        f"activations {p.get('activation_bytes', 0):,} B + chunk slots "
        f"{p.get('slots_total_bytes', 0):,} B + runtime state {p.get('state_bytes', 0):,} B + "
        f"stack {p.get('stack_bytes', 0):,} B = {sram:,} B"
    )
    measured = (
        f"; the Cortex-M4 run (QEMU) linked into it: high-water {int(high):,} B"
        if high is not None
        else ""
    )
    against = (
        f"the budget (ooc build --sram); {mcu_name} SRAM {format_size(mcu)}"
        if budget is not None
        else f"the {mcu_name}'s SRAM: the build was given no budget (ooc build --sram)"
    )
    detail = f"Planned {split}{measured}; against {against}"
    if problems:
        said = "; ".join(problems)
        detail = f"{said[0].upper()}{said[1:]}. {detail}"
    return Verdict(
        "budget",
        "Fits the SRAM budget",
        FAIL if problems else PASS,
        f"{sram:,} of {limit:,} B ({100 * sram / limit:.3g}%)",
        detail,
    )


def _exact(x: dict[str, Any] | None) -> Verdict:
    title = "Bit-exact against tflite-micro"
    if not x or not x.get("checked"):
        reason = (x or {}).get("reason", "no comparison was run")
        how = (x or {}).get("how", "run ooc report without --no-golden")
        return Verdict(
            "exact", title, NOT_CHECKED, "not compared", f"Not compared: {reason}; to check: {how}"
        )
    n, bad = int(x["runs"]), list(x["mismatches"])
    where = "; ".join(x.get("where", []))
    if bad:
        shown = "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
        return Verdict(
            "exact", title, FAIL, f"{len(bad)} of {n} runs differ",
            f"Outputs differ from tflite-micro's on the same inputs: {shown}",
        )  # fmt: skip
    return Verdict(
        "exact", title, PASS, f"{n} of {n} runs identical",
        f"Every output byte equal to tflite-micro's on the same inputs: {where}",
    )  # fmt: skip


def _latency(d: dict[str, Any], max_ratio: float | None) -> Verdict:
    e, p = d["energy"], d["plan"]
    lat, ins = float(e["time_s"]["latency"]), e.get("in_sram")
    if ins:
        ref = float(ins["latency_s"])
        src = "the energy audit's (instructions counted under QEMU, flash stalls modelled)"
    else:
        lat = float(p.get("estimated_latency_s") or lat)
        ref = float(p.get("in_sram_latency_s") or 0)
        src = "the plan's estimate"
    ratio = lat / ref if ref > 0 else float(p.get("latency_ratio") or 0)
    rate = float(d["wear"]["rate_per_s"])
    period = 1.0 / rate
    problems = []
    if lat > period:
        problems.append(
            f"{_duration(lat)} per inference is longer than the {_duration(period)} between "
            f"inferences at {rate_text(rate)} (--rate): at most {rate_text(1 / lat)}"
        )
    if max_ratio is not None and ratio > max_ratio:
        problems.append(f"{ratio:.3g}x is over the limit of {max_ratio:g}x (--max-latency-ratio)")
    if problems:
        detail = "; ".join(problems)
    else:
        detail = f"Fits the {_duration(period)} between inferences at {rate_text(rate)} (--rate)"
        detail += (
            f" and the limit of {max_ratio:g}x (--max-latency-ratio)"
            if max_ratio is not None
            else "; no limit on the ratio given (--max-latency-ratio)"
        )
    return Verdict(
        "latency",
        "Latency ratio",
        FAIL if problems else PASS,
        f"{ratio:.3g}x ({_duration(lat)} vs {_duration(ref)} in SRAM)",
        f"{detail}. Figures: {src}",
    )


def _energy(d: dict[str, Any], max_uj: float | None) -> Verdict:
    e = d["energy"]
    total = float(e["energy_uj_per_inference"]["total"])
    over = e.get("out_of_core_over_in_sram")
    rate = float(d["wear"]["rate_per_s"])
    value = f"{total:,.1f} uJ" + (f" ({over:.3g}x in SRAM)" if over else "")
    mean = f"At {rate_text(rate)} it averages {_power(total * rate)} (boot not included)"
    if max_uj is None:
        return Verdict(
            "energy", "Energy per inference", NOT_CHECKED, value,
            f"No energy budget given; to check: ooc report --max-energy-uj N. {mean}",
        )  # fmt: skip
    ok = total <= max_uj
    return Verdict(
        "energy", "Energy per inference", PASS if ok else FAIL, value,
        f"{'Within' if ok else 'Over'} the budget of {max_uj:,.6g} uJ (--max-energy-uj). {mean}",
    )  # fmt: skip


def _power(uw: float) -> str:
    return f"{uw / 1e3:.3g} mW" if uw >= 1e3 else f"{uw:.3g} uW"


def _lifetime(w: dict[str, Any], target: float | None) -> Verdict:
    title = "Flash lifetime"
    rate = float(w["rate_per_s"])
    life = w.get("lifetime_years")
    if life is None and w.get("lifetime_years_without_wear_leveling") is None:
        return Verdict(
            "lifetime", title, PASS, "unlimited by wear",
            "The build never programs or erases the flash during inference: wear does not limit "
            "its life at any rate or target (measured on the host NOR emulator)",
        )  # fmt: skip
    lay = w["layout"]
    n, sector = int(lay["scratch_sectors"]), int(lay["sector_bytes"])
    value = f"{_years(float(life))} at {rate_text(rate)}" if life is not None else "unlimited"
    source = str(w["endurance_source"]).split(":")[0]  # "flash profile NAME" or "--endurance"
    basis = (
        f"Endurance {w['endurance_cycles']:,} cycles ({source}), the build's {n} scratch sectors "
        f"({format_size(n * sector)}) wear-levelled"
    )
    if target is None:
        return Verdict(
            "lifetime", title, NOT_CHECKED, value,
            f"No lifetime target given; to check: ooc report --target-years Y. {basis}",
        )  # fmt: skip
    if life is None or float(life) >= target:
        return Verdict(
            "lifetime", title, PASS, value,
            f"Meets the target of {target:g} years (--target-years). {basis}",
        )  # fmt: skip
    # levelled life is proportional to 1 / rate: the rate the build's scratch sustains
    keep = f"at most {rate_text(rate * float(life) / target)} with the build's scratch"
    t = w.get("target") or {}
    need = t.get("scratch_sectors_needed")
    if need is None:
        fix = keep
    elif t.get("reachable"):
        fix = (
            f"{need:,} scratch sectors at {rate_text(rate)} (ooc build --scratch "
            f"{need * sector // 1024}KiB), or {keep}"
        )
    else:
        fix = (
            f"{keep}; no scratch size on this chip at {rate_text(rate)} ({need:,} sectors needed, "
            f"{int(t['available_sectors']):,} outside the image: with all of them at most "
            f"{rate_text(float(t['max_rate_per_s']))})"
        )
    return Verdict(
        "lifetime", title, FAIL, value,
        f"Below the target of {target:g} years (--target-years). Meets it: {fix}. {basis}",
    )  # fmt: skip


# -- HTML ------------------------------------------------------------------------------------------

CSS = """
table.verdicts { width: 100%; border-collapse: separate; border-spacing: 0 5px; margin: .2em 0; }
table.verdicts td { border: none; padding: .4em .7em; vertical-align: top; }
.verdict td.status { font-weight: bold; white-space: nowrap; width: 8.5em; color: #fff; }
.verdict .title { display: inline-block; min-width: 17em; font-weight: bold; }
.verdict .value { font-weight: bold; font-size: 1.1em; font-variant-numeric: tabular-nums; }
.verdict .detail { font-size: .85em; color: #333; margin-top: .15em; }
tr.pass { background: #e3f3e6; } tr.pass td.status { background: #1b7f33; }
tr.fail { background: #fbe3e3; } tr.fail td.status { background: #b3261e; }
tr.not-checked { background: #eeeeee; } tr.not-checked td.status { background: #666; }
"""


def verdicts_html(verdicts: list[Verdict]) -> str:
    """The verdicts as a table: one row each, its status as a word on its colour, its title
    and number, the sentence below them."""
    rows = ['<table class="verdicts">']
    for v in verdicts:
        e = html.escape
        rows.append(
            f'<tr class="verdict {v.status.replace(" ", "-")}" data-verdict="{e(v.key)}">'
            f'<td class="status">{e(_BADGE[v.status])}</td>'
            f'<td><span class="title">{e(v.title)}</span> <span class="value">{e(v.value)}</span>'
            f'<div class="detail">{e(v.detail)}</div></td></tr>'
        )
    rows.append("</table>")
    return "\n".join(rows)
