"""Flash wear of an ``ooc build`` (``ooc audit wear``; docs/audit.md, "Wear"): the lifetime
model, the build audit, and the text and heatmap of both audits (the flash dump's is
:mod:`ooc_sdk.audit.dump`).

Only the scratch partition (the activation spill ring, docs/spill.md) is programmed and erased
during inference; the header, weights and metadata are written when the image is flashed. So the
flash's life under inference is the scratch partition's life, and it is set by its most-erased
sector.

The model (all per scratch sector; ``e`` = erases per inference, ``r`` = inferences per second,
``E`` = endurance in program/erase cycles per sector, ``n`` = scratch sectors, Y = seconds per year):

- **with wear levelling** (the ring): the ring opens sectors in order and erases one only when it
  comes back to it, so every sector takes ``e / n`` erases per inference (counts never differ by
  more than one): life = ``E * n / (e * r)`` seconds.
- **without wear levelling** (spills at fixed addresses): every erase can land on the same sector,
  and a sector that is programmed is erased at least once per inference before it can be
  programmed again: the worst sector takes ``max(e, 1)`` erases per inference (0 without
  programs), life = ``E / (max(e, 1) * r)``.
- **scratch size for a target life** (with levelling): ``n = ceil(e * r * Y * years / E)`` sectors
  (at least 2, the ring's minimum). When that is more sectors than the chip has outside the image,
  the highest rate that reaches the target with all of them is ``E * n_max / (e * Y * years)``.

With ``e = 0`` (a build that never programs or erases during inference, which is every build until
the planner spills) wear does not limit the life: the lifetimes are null, never a made-up number.
"""

from __future__ import annotations

import math
import re
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.formats import norwear
from ooc_sdk.plan import spill as spill_model
from ooc_sdk.targets import FlashProfile, load_flash

if TYPE_CHECKING:
    from ooc_sdk.build.directory import BuildDir

SECONDS_PER_YEAR = 365.25 * 86400
DEFAULT_INFERENCES = 20
NO_WEAR = (
    "this build never programs or erases the flash during inference; wear does not limit its life"
)
_RATE_UNITS = {"ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hour": 3600.0,
               "d": 86400.0, "day": 86400.0}  # fmt: skip
_SUFFIX = {"": 1, "k": 10**3, "m": 10**6}

Progress = Callable[[str], None]


# -- parsing the options -------------------------------------------------------------------------


def parse_rate(text: str) -> float:
    """Inferences per second from ``1/s``, ``10/min``, ``2/h``, ``5/day`` or a plain number (per
    second)."""
    s = str(text).strip().lower().replace(" ", "")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)(?:/([a-z]+))?", s)
    if not m or (m.group(2) is not None and m.group(2) not in _RATE_UNITS):
        raise InvalidArgumentError(
            f"`rate` {text!r}: give inferences per time unit, e.g. 1/s, 10/min, 2/h, 5/day, or a "
            "number per second",
            param="rate",
        )
    rate = float(m.group(1)) / _RATE_UNITS[m.group(2) or "s"]
    if not rate > 0 or not math.isfinite(rate):
        raise InvalidArgumentError(f"`rate` {text!r} must be positive", param="rate")
    return rate


def parse_endurance(text: str) -> int:
    """Program/erase cycles per sector from ``100k``, ``1M``, ``1e5`` or ``100000``."""
    s = str(text).strip().lower().replace("_", "").replace(",", "")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)([km]?)", s)
    value = float(m.group(1)) * _SUFFIX[m.group(2)] if m else float("nan")
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise InvalidArgumentError(
            f"`endurance` {text!r}: give program/erase cycles per sector, e.g. 100k, 1e5, 100000",
            param="endurance",
        )
    return int(value)


# -- the lifetime model --------------------------------------------------------------------------


def lifetime_years(
    erases_per_inference: float,
    program_bytes_per_inference: float,
    scratch_sectors: int,
    rate_per_s: float,
    endurance: int,
    *,
    levelled: bool = True,
) -> float | None:
    """Years until the most-erased scratch sector reaches ``endurance``; None when the build does
    not erase (wear does not limit its life)."""
    worst = worst_sector_erases_per_inference(
        erases_per_inference, program_bytes_per_inference, scratch_sectors, levelled=levelled
    )
    if worst <= 0:
        return None
    return endurance / (worst * rate_per_s * SECONDS_PER_YEAR)


def worst_sector_erases_per_inference(
    erases_per_inference: float,
    program_bytes_per_inference: float,
    scratch_sectors: int,
    *,
    levelled: bool = True,
) -> float:
    """Erases per inference of the most-erased scratch sector (module docstring)."""
    e = float(erases_per_inference)
    if e < 0 or program_bytes_per_inference < 0:
        raise InvalidArgumentError("erases and programmed bytes per inference cannot be negative")
    if levelled:
        if e == 0:
            return 0.0
        if scratch_sectors < 1:
            raise InvalidArgumentError("a build that erases needs a scratch partition")
        return e / scratch_sectors
    if e == 0 and program_bytes_per_inference == 0:
        return 0.0
    return max(e, 1.0)


def propose_scratch(
    erases_per_inference: float,
    rate_per_s: float,
    endurance: int,
    target_years: float,
    *,
    sector_bytes: int,
    current_sectors: int,
    available_sectors: int,
) -> dict[str, Any]:
    """The scratch size (with the ring's levelling) that lasts ``target_years`` at the rate, or,
    when the chip has too few sectors, the highest rate that does with all it has."""
    if not target_years > 0:
        raise InvalidArgumentError("`target_years` must be positive", param="target_years")
    out: dict[str, Any] = {"target_years": target_years}
    e = float(erases_per_inference)
    if e == 0:
        out.update(
            scratch_sectors_needed=None,
            scratch_bytes_needed=None,
            reachable=True,
            max_rate_per_s=None,
            statement=f"{NO_WEAR}: any scratch size reaches {target_years:g} years",
        )
        return out
    need = max(2, math.ceil(e * rate_per_s * SECONDS_PER_YEAR * target_years / endurance))
    reachable = need <= available_sectors
    max_rate = endurance * available_sectors / (e * SECONDS_PER_YEAR * target_years)
    out.update(
        scratch_sectors_needed=need,
        scratch_bytes_needed=need * sector_bytes,
        current_sectors=current_sectors,
        available_sectors=available_sectors,
        reachable=reachable,
        max_rate_per_s=None if reachable else max_rate,
    )
    if reachable:
        out["statement"] = (
            f"{need} scratch sectors ({need * sector_bytes:,} bytes) last {target_years:g} years "
            f"at {rate_per_s:g} inferences/s (the build has {current_sectors})"
        )
    else:
        out["statement"] = (
            f"{target_years:g} years at {rate_per_s:g} inferences/s needs {need} scratch sectors, "
            f"more than the {available_sectors} the chip has outside the image; with all of them "
            f"the highest rate that lasts {target_years:g} years is {max_rate:.4g} inferences/s"
        )
    return out


def lifetimes(
    erases_per_inference: float,
    program_bytes_per_inference: float,
    *,
    scratch_sectors: int,
    free_sectors: int,
    rate_per_s: float,
    endurance: int,
) -> dict[str, Any]:
    """Every lifetime figure of the report (years, None when wear does not limit)."""
    e, p = erases_per_inference, program_bytes_per_inference
    scratch = lifetime_years(e, p, scratch_sectors, rate_per_s, endurance)
    return {
        "lifetime_years": scratch,
        "lifetime_years_without_wear_leveling": lifetime_years(
            e, p, scratch_sectors, rate_per_s, endurance, levelled=False
        ),
        # only the scratch partition is erased during inference: the chip wears out when the
        # scratch partition's most-erased sector does
        "lifetime_years_whole_flash": scratch,
        # the ceiling: the ring levelled over the scratch partition and every sector outside
        # the image (if the firmware leaves them free)
        "lifetime_years_levelled_over_free_flash": lifetime_years(
            e, p, scratch_sectors + free_sectors, rate_per_s, endurance
        ),
        "worst_sector_erases_per_inference": worst_sector_erases_per_inference(
            e, p, scratch_sectors
        ),
        "worst_sector_erases_per_inference_without_wear_leveling": (
            worst_sector_erases_per_inference(e, p, scratch_sectors, levelled=False)
        ),
    }


# -- the emulator's wear sidecar (ooc_sdk/formats/norwear.py) ----------------------------------


def read_wear_sidecar(path: Path) -> dict[str, Any] | None:
    """The lifetime counters and per-sector erase counts of ``<flash>.wear`` (its layout:
    ooc_sdk/formats/norwear.py); None if absent."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(raw) < norwear.FIXED_BYTES:
        raise InvalidArgumentError(f"{path} is not an emulator wear file (too short)")
    head = norwear.HEADER.unpack(raw[: norwear.HEADER.size])
    n = head["n_sectors"]
    if (
        head["magic"] != norwear.MAGIC
        or head["version"] != norwear.VERSION
        or len(raw) != norwear.sidecar_bytes(n)
        or struct.unpack_from("<I", raw, len(raw) - norwear.CRC_BYTES)[0]
        != zlib.crc32(raw[: -norwear.CRC_BYTES])
    ):
        raise InvalidArgumentError(f"{path} is not a valid emulator wear file (magic, size or CRC)")
    counts = list(struct.unpack_from(f"<{n}I", raw, norwear.HEADER.size))
    return {
        "sector_bytes": head["sector_bytes"],
        "n_sectors": n,
        **{k: head[k] for k in norwear.LIFETIME},
        "erase_counts": counts,
    }


# -- ooc audit wear BUILD_DIR/ -------------------------------------------------------------------


def resolve_endurance(flash: FlashProfile, given: int | None) -> tuple[int, str]:
    """The endurance in cycles and its source: ``given``, else the flash profile's."""
    if given is not None:
        return given, "--endurance"
    src = flash.sources.get("endurance_cycles", "profile default")
    return flash.endurance_cycles, f"flash profile {flash.name}: {src}"


def scratch_layout(
    partitions: list[tuple[int, int, int]], flash_bytes: int, image_bytes: int, sector: int
) -> dict[str, Any]:
    """Where the scratch partition is in the image, its sectors, and the chip's sectors (all and
    outside the image): the report's ``layout``."""
    scratch = next(((o, n) for k, o, n in partitions if k == fmt.PART_SCRATCH), (0, 0))
    scratch_sectors = scratch[1] // sector
    return {
        "scratch_offset": scratch[0],
        "scratch_bytes": scratch[1],
        "scratch_sectors": scratch_sectors,
        "sector_bytes": sector,
        "flash_sectors": flash_bytes // sector,
        # sectors of the chip outside the image (below its base offset or after its end)
        "free_sectors": max(0, (flash_bytes - image_bytes) // sector),
    }


@dataclass(frozen=True)
class _EmulatorRun:
    """One audit run of a build on a copy of its flash.bin: the host runner's report (the NOR
    emulator's counters of its last inference), the emulator's wear sidecar before and after the
    run (None without one) and the number of flash bytes the run changed."""

    report: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    flash_bytes_changed: int
    samples: dict[str, Any]  # seeds of the inputs and the outputs described, per inference


def audit_build(
    out_dir: Path,
    device: Any,
    *,
    rate: str | float = 1.0,
    endurance: str | int | None = None,
    inferences: int = DEFAULT_INFERENCES,
    flash: str | None = None,
    target_years: float | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Wear of the build in ``out_dir``: predicted from its plan, measured by running it
    ``inferences`` times on the host NOR emulator (a copy of OUT/flash.bin), and projected."""
    from ooc_sdk.build.directory import BuildDir

    say = progress or (lambda _msg: None)
    rate_s = parse_rate(rate) if isinstance(rate, str) else float(rate)
    if not rate_s > 0:
        raise InvalidArgumentError("`rate` must be positive", param="rate")
    cycles = parse_endurance(endurance) if isinstance(endurance, str) else endurance
    if inferences < 1:
        raise InvalidArgumentError("`inferences` must be at least 1", param="inferences")
    bd = BuildDir.open(out_dir)
    plan = bd.plan_json()
    flash_p = load_flash(flash) if flash else bd.request().flash
    cycles, cycles_src = resolve_endurance(flash_p, cycles)
    flash_file = bd.flash_file()
    if device is None:
        raise InvalidArgumentError(
            f"{out_dir} is a build directory: give `device` (the key file its image was "
            "wrapped for) so that the build can run on the emulator",
            param="device",
        )
    layout = _build_layout(bd, flash_p)
    predicted = _planned_traffic(plan)
    run = _run_on_copy(bd, device, flash_file, inferences, seed, say)
    invokes = inferences + 1  # the runner invokes its first sample twice
    spill_run = _spill_run(plan, run.report, invokes, flash_p.page_bytes)
    if spill_run is not None:
        # a spilling build's traffic depends on where the ring's write position is: predict the
        # inference the runner measured (its last) from where it started, exactly
        predicted.update(_spill_prediction(plan, spill_run))
    measured, scratch_run = _measured(run, layout, inferences, invokes)
    checks = _agreement(predicted, measured, spill_run, invokes)
    average = predicted.get("cycle_average", predicted)
    e, p = float(average["erases_per_inference"]), float(average["program_bytes_per_inference"])
    # the worse of the two drives the projection: the truth, even when it is bad news
    e = max(e, float(measured["erases_per_inference"] or 0))
    p = max(p, float(measured["program_bytes_per_inference"] or 0))
    n = layout["scratch_sectors"]
    report: dict[str, Any] = {
        "mode": "build",
        "build": str(out_dir),
        "model": bd.info.model_name,
        "flash": flash_p.name,
        "rate_per_s": rate_s,
        "endurance_cycles": cycles,
        "endurance_source": cycles_src,
        "layout": layout,
        "predicted": predicted,
        "measured": measured,
        "agreement": checks,
        "agree": all(checks.values()),
        **lifetimes(
            e,
            p,
            scratch_sectors=n,
            free_sectors=layout["free_sectors"],
            rate_per_s=rate_s,
            endurance=cycles,
        ),
        "erases_per_sector_per_inference": {
            "predicted_levelled": [e / n if n else 0.0] * n,
            "measured_run": [c / invokes for c in scratch_run],
        },
    }
    report["statement"] = _statement(report)
    if target_years is not None:
        report["target"] = propose_scratch(
            e, rate_s, cycles, target_years, sector_bytes=layout["sector_bytes"],
            current_sectors=n, available_sectors=n + layout["free_sectors"],
        )  # fmt: skip
    return report


def _build_layout(bd: BuildDir, flash_p: FlashProfile) -> dict[str, Any]:
    """The build's scratch layout (:func:`scratch_layout`) from its image, on ``flash_p``'s chip
    at the build's flash offset."""
    from ooc_sdk.image.reader import parse_image

    try:
        image = parse_image(bd.file("image.bin").read_bytes())
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot read the build's image: {exc.strerror or exc}"
        ) from None
    sector = image.superblock["sector_bytes"]
    layout = scratch_layout(image.partitions, flash_p.size_bytes, len(image.data), sector)
    layout["image_offset"] = bd.info.flash_offset
    return layout


def _planned_traffic(plan: dict[str, Any]) -> dict[str, Any]:
    """The flash traffic per inference plan.json gives: the prediction of a build that does not
    spill."""
    return {
        "read_bytes_per_inference": plan.get("flash_read_bytes_per_inference", 0),
        "read_commands_per_inference": plan.get("flash_read_commands_per_inference"),
        "program_bytes_per_inference": plan.get("flash_program_bytes_per_inference", 0),
        "erases_per_inference": plan.get("erases_per_inference", 0),
        "source": "plan.json",
    }


def _run_on_copy(
    bd: BuildDir, device: Any, flash_file: Path, inferences: int, seed: int, say: Progress
) -> _EmulatorRun:
    """Run the build ``inferences`` times (random inputs from ``seed``) on the host NOR emulator,
    on a copy of ``flash_file`` and of its wear sidecar, so that the build's own are untouched."""
    from ooc_sdk.model.inputs import random_inputs
    from ooc_sdk.run.host import run_build

    graph = bd.graph()
    samples = [random_inputs(graph, seed + i) for i in range(inferences)]
    say(f"running the build {inferences} times on the host NOR emulator (a copy of flash.bin)")
    with tempfile.TemporaryDirectory(prefix="ooc-wear-") as tmp:
        copy = Path(tmp) / "flash.bin"
        shutil.copyfile(flash_file, copy)
        wear_file = Path(str(flash_file) + ".wear")
        if wear_file.exists():
            shutil.copyfile(wear_file, Path(str(copy) + ".wear"))
        before_bytes = copy.read_bytes()
        before = read_wear_sidecar(Path(str(copy) + ".wear"))
        result = run_build(bd.path, graph, device, samples, flash_file=copy)
        after = read_wear_sidecar(Path(str(copy) + ".wear"))
        after_bytes = copy.read_bytes()
    changed = (
        sum(a != b for a, b in zip(before_bytes, after_bytes, strict=False))
        if after_bytes != before_bytes
        else 0
    )
    from ooc_sdk.audit.exact import describe_outputs

    outputs = [describe_outputs(o) for o in result.outputs]
    samples = {"seeds": [seed + i for i in range(inferences)], "outputs": outputs}
    return _EmulatorRun(result.report, before, after, changed, samples)


def _spill_prediction(plan: dict[str, Any], spill_run: dict[str, Any]) -> dict[str, Any]:
    """A spilling build's prediction of the measured inference (:func:`_spill_run`), and the
    ring's cycle average from plan.json beside it."""
    last = spill_run["last"]
    return {
        "read_bytes_per_inference": plan["flash_read_bytes_per_inference"]
        + plan["spill"]["read_back_bytes_per_inference"]
        + spill_model.OPEN_READ_BYTES * last.erases,
        "read_commands_per_inference": plan["flash_read_commands_per_inference"]
        + plan["spill"]["read_back_commands_per_inference"]
        + spill_model.OPEN_READS * last.erases,
        "program_bytes_per_inference": last.bytes_programmed,
        "page_programs_per_inference": last.page_programs,
        "erases_per_inference": last.erases,
        "source": "plan.json, with the spill ring model (ooc_sdk/plan/spill.py) from the "
        f"ring's write position before the measured inference ({spill_run['start']})",
        "cycle_average": {
            "program_bytes_per_inference": plan["flash_program_bytes_per_inference"],
            "erases_per_inference": plan["erases_per_inference"],
            "note": "the ring's steady state from a blank ring: the lifetime uses the "
            "worse of this and the measured inference",
        },
    }


def _measured(
    run: _EmulatorRun, layout: dict[str, Any], inferences: int, invokes: int
) -> tuple[dict[str, Any], list[int]]:
    """The report's ``measured`` (the runner's counters of its last inference, and the whole
    run's from the wear sidecar), and the whole run's erases per scratch sector."""
    rep, before, after = run.report, run.before, run.after
    run_delta: dict[str, Any] = {"sidecar": before is not None and after is not None}
    sector = layout["sector_bytes"]
    first = (layout["image_offset"] + layout["scratch_offset"]) // sector
    per_sector = [0] * layout["flash_sectors"]
    if before is not None and after is not None:
        for k in ("bytes_programmed", "program_ops", "erase_ops"):
            run_delta[k] = after[k] - before[k]
        per_sector = [
            a - b for a, b in zip(after["erase_counts"], before["erase_counts"], strict=True)
        ]
    scratch_run = per_sector[first : first + layout["scratch_sectors"]]
    run_delta["erases_outside_scratch"] = sum(per_sector) - sum(scratch_run)
    measured = {
        "read_bytes_per_inference": rep.get("flash_read_bytes"),
        "read_commands_per_inference": rep.get("flash_read_commands"),
        "program_bytes_per_inference": rep.get("flash_program_bytes"),
        "page_programs_per_inference": rep.get("page_programs"),
        "erases_per_inference": rep.get("erases"),
        "source": "the host runner's NOR emulator counters of one inference (its last)",
        "note": "a build that spills programs and erases only its scratch partition's spill "
        "ring; any other build opens the emulated flash read-only, so a program or erase "
        "would fail the run, never go uncounted",
        "inferences": inferences,
        "invokes": invokes,
        "samples": run.samples,
        "run": {
            **run_delta,
            "flash_bytes_changed": run.flash_bytes_changed,
            "note": "the emulator's wear sidecar and the flash file before and after the whole "
            f"run ({invokes} invokes, mount and init included)",
        },
    }
    return measured, scratch_run


def _agreement(
    predicted: dict[str, Any],
    measured: dict[str, Any],
    spill_run: dict[str, Any] | None,
    invokes: int,
) -> dict[str, bool]:
    """The report's ``agreement``: prediction against measurement, per inference and (with the
    wear sidecar) over the whole run."""
    checks = {
        key: predicted[key] == measured[key]
        for key in (
            "read_bytes_per_inference",
            "program_bytes_per_inference",
            "erases_per_inference",
        )
    }
    if spill_run is not None:
        checks["page_programs_per_inference"] = (
            predicted["page_programs_per_inference"] == measured["page_programs_per_inference"]
        )
    run_delta = measured["run"]
    if run_delta.get("erase_ops") is not None:
        # the whole run: every invoke (and, spilling, the ring mount's own boot record)
        run_erases = predicted["erases_per_inference"] * invokes
        run_programmed = predicted["program_bytes_per_inference"] * invokes
        if spill_run is not None:
            run_erases, run_programmed = spill_run["run_erases"], spill_run["run_programmed"]
        checks["run_erases"] = run_delta["erase_ops"] == run_erases
        checks["run_programmed_bytes"] = run_delta["bytes_programmed"] == run_programmed
    return checks


def _spill_run(
    plan: dict[str, Any], rep: dict[str, Any], invokes: int, page_bytes: int
) -> dict[str, Any] | None:
    """For a spilling build: the ring model's cost of the runner's last inference, from the
    write position the runner reports, and of the whole run (the mount's own traffic, which the
    runner reports, plus every invoke from the mount's position). None for other builds."""
    spill = plan.get("spill")
    if not spill or "spill" not in rep:
        return None
    if "record_payload_bytes" not in spill or "sector_bytes" not in spill:
        raise InvalidArgumentError(
            "plan.json lacks the spill ring's record sizes (an older ooc made this build): "
            "build it again to audit its wear"
        )
    lens = [int(n) for n in spill["record_payload_bytes"]]
    sector = int(spill["sector_bytes"])
    r = rep["spill"]
    last, _ = spill_model.predict(page_bytes, sector, int(r["position_before_last"]), lens)
    pos, erases, programmed = int(r["mount_position"]), 0, 0
    for _ in range(invokes):
        cost, pos = spill_model.predict(page_bytes, sector, pos, lens)
        erases += cost.erases
        programmed += cost.bytes_programmed
    return {
        "last": last,
        "start": int(r["position_before_last"]),
        "run_erases": int(r["mount_erases"]) + erases,
        "run_programmed": int(r["mount_program_bytes"]) + programmed,
    }


def _years(v: float | None) -> str:
    if v is None:
        return "unlimited by wear"
    if v < 0.1:  # days or hours say it plainer
        days = v * SECONDS_PER_YEAR / 86400
        return (
            f"{v:.3g} years ({days:.3g} days)"
            if days >= 1
            else f"{v:.3g} years ({days * 24:.3g} hours)"
        )
    return f"{v:,.3g} years" if v < 1e6 else f"{v:.3g} years"


def _statement(r: dict[str, Any]) -> str:
    if r["lifetime_years"] is None and r["lifetime_years_without_wear_leveling"] is None:
        return NO_WEAR
    return (
        f"at {r['rate_per_s']:g} inferences/s and {r['endurance_cycles']:,} cycles, the scratch "
        f"partition (and so the flash) wears out in {_years(r['lifetime_years'])} with the ring's "
        f"wear levelling, {_years(r['lifetime_years_without_wear_leveling'])} without it"
    )


# -- text ------------------------------------------------------------------------------------------


def _bytes(v: Any) -> str:
    return "-" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:,.4g}"


def render(r: dict[str, Any]) -> list[str]:
    """The audit as text (either mode)."""
    if r["mode"] == "dump":
        return _render_dump(r)
    lay, pr, me = r["layout"], r["predicted"], r["measured"]
    lines = [
        f"ooc audit wear: {r['model']} on {r['flash']}, {r['rate_per_s']:g} inferences/s, "
        f"endurance {r['endurance_cycles']:,} cycles ({r['endurance_source']})",
        f"  scratch partition: {lay['scratch_sectors']} sectors of {lay['sector_bytes']:,} bytes "
        f"at image offset {lay['scratch_offset']:#x}; {lay['free_sectors']:,} chip sectors outside "
        "the image",
        f"  {'per inference':<22} {'predicted':>12} {'measured':>12}",
    ]
    for key, name in (
        ("read_bytes_per_inference", "bytes read"),
        ("program_bytes_per_inference", "bytes programmed"),
        ("erases_per_inference", "sector erases"),
    ):
        ok = "" if r["agreement"].get(key, True) else "   DISAGREE"
        lines.append(f"  {name:<22} {_bytes(pr[key]):>12} {_bytes(me[key]):>12}{ok}")
    run = me["run"]
    lines.append(
        f"  measured over {me['inferences']} inferences ({me['invokes']} invokes) on a copy of "
        f"flash.bin: {run.get('erase_ops', '-')} erases, {run.get('bytes_programmed', '-')} bytes "
        f"programmed, {run['flash_bytes_changed']} flash bytes changed; "
        + (
            "prediction and measurement agree"
            if r["agree"]
            else "prediction and measurement DISAGREE"
        )
    )
    lines.append(
        f"  worst sector: {r['worst_sector_erases_per_inference']:.4g} erases per inference with "
        f"wear levelling, {r['worst_sector_erases_per_inference_without_wear_leveling']:.4g} "
        "without"
    )
    lines.append(
        f"  lifetime: scratch and whole flash {_years(r['lifetime_years'])}; without wear "
        f"levelling {_years(r['lifetime_years_without_wear_leveling'])}; levelled over every "
        f"free sector {_years(r['lifetime_years_levelled_over_free_flash'])}"
    )
    lines.append(f"  {r['statement']}")
    if "target" in r:
        lines.append(f"  target: {r['target']['statement']}")
    return lines


def _render_dump(r: dict[str, Any]) -> list[str]:
    img, meta, lay = r["image"], r["metadata"], r["layout"]
    lines = [
        f"ooc audit wear --dump {r['dump']}: image of {img['model']} (build {img['build_id']}) at "
        f"offset {r['image_offset']:#x}, {lay['scratch_sectors']} scratch sectors of "
        f"{lay['sector_bytes']:,} bytes; endurance {r['endurance_cycles']:,} "
        f"({r['endurance_source']})",
    ]
    if meta["error"]:
        lines.append(f"  metadata partition: unreadable: {meta['error']}")
    else:
        lines.append(
            f"  metadata partition (littlefs): {', '.join(meta['files'])}; model "
            f"{meta.get('model')}, build {meta.get('build_id')}"
            + ("" if r["metadata_matches_image"] else " (does NOT match the image header)")
        )
    lines.append(f"  {'sector':>6} {'state':<8} {'erases':>10} {'ring_seq':>9} {'boot':>6}  note")
    for s in r["sectors"]:
        note = (
            s.get("reason")
            or s.get("count_from")
            or ("head" if s["index"] == r["head_sector"] else "")
        )
        if not s.get("count_known", True):
            note = (note + "; " if note else "") + "count unknown, taken as 0"
        lines.append(
            f"  {s['index']:>6} {s['state']:<8} {s['erase_count']:>10,} "
            f"{s.get('ring_seq', '-')!s:>9} {s.get('boot', '-')!s:>6}  {note}".rstrip()
        )
    lines.append(
        f"  erases: max {r['max_erases']:,} (sector {r['worst_sector']}), mean "
        f"{r['mean_erases']:,.1f}, min {r['min_erases']:,}; {len(r['damaged_sectors'])} damaged, "
        f"{len(r['erased_sectors'])} erased"
    )
    lines.append(f"  {r['statement']}")
    return lines


# -- the heatmap -------------------------------------------------------------------------------------


def plot_wear(report: dict[str, Any], path: Path) -> None:
    """A heatmap PNG of erases per scratch sector: the dump's counts, or the build's erases per
    sector per inference with and without wear levelling (predicted) and measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    if report["mode"] == "dump":
        rows = {"erase count": [float(c) for c in report["erase_counts"]]}
        title = f"erases per scratch sector: {report['dump']}"
        unit = "erases"
    else:
        n = report["layout"]["scratch_sectors"]
        e = report["worst_sector_erases_per_inference"]
        measured = list(report["erases_per_sector_per_inference"]["measured_run"])
        worst = report["worst_sector_erases_per_inference_without_wear_leveling"]
        rows = {
            "predicted, ring": [e] * n,
            "predicted, fixed": [worst] + [0.0] * (n - 1) if n else [],
            "measured": measured + [0.0] * (n - len(measured)),
        }
        title = f"erases per scratch sector per inference: {report['model']}"
        unit = "erases per inference"
    grid = np.array(list(rows.values()), dtype=float)
    if grid.size == 0:
        grid = np.zeros((len(rows), 1))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * grid.shape[1] + 3), 1.2 + 0.6 * len(rows)))
    top = float(grid.max()) if grid.max() > 0 else 1.0
    im = ax.imshow(grid, aspect="auto", cmap="inferno", vmin=0, vmax=top)
    if grid.shape[1] <= 64:  # the value in each cell
        for (row, col), v in np.ndenumerate(grid):
            color = "black" if v > 0.6 * top else "white"
            ax.text(col, row, f"{v:.3g}", ha="center", va="center", fontsize=7, color=color)
    if report["mode"] == "build" and report["lifetime_years"] is None:
        title += "\n(no programs or erases during inference: wear does not limit its life)"
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_xlabel("scratch sector")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label=unit)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)
