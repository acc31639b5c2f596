"""Energy per inference of an ``ooc build`` directory (``ooc audit energy``; docs/audit.md).

Every figure is a count measured on the emulated Cortex-M4 or taken from the build's plan, times
profile values that carry their sources (ooc_sdk/targets):

- **compute** and **crypto**: instructions counted under QEMU (``ooc_sdk.run.qemu``, ``-icount
  shift=0``: deterministic) x cycles per instruction x the MCU's energy per cycle. QEMU counts
  instructions, not cycles: the CPI is an assumption, stated with its source. The firmware counts
  crypto (tag checks and decryption) apart from the rest.
- **flash read**: (bytes / read throughput + read commands x command time) x read current x supply.
- **flash program** and **erase**: pages x page-program time and erases x sector-erase time (typical
  figures), x their current x supply. Only spilling builds program or erase during an inference.
- **MCU wait**: the CPU stays in run mode while a read the prefetch does not hide, a program or an
  erase is in flight. The read stalls come from the latency model (``ooc_sdk.plan.latency``) fed
  with each step's measured instructions and the measured crypto instructions per byte; the model
  does not overlap programs and erases with anything, so the CPU waits through all of them.
- **flash standby**: the chip's standby current x supply for the rest of the inference.

The in-SRAM reference is the same model run in-core under QEMU with the same kernels: weights as
constants in the MCU's internal flash (reads the energy per cycle covers), activations in SRAM,
no external flash and no crypto, so compute alone. ``fits_sram`` says whether its per-layer arena
+ runtime state + stack fit the MCU's SRAM; the energy is given either way, as a reference.

Per layer: the QEMU report's per-layer instructions (the runtime's work between layers spread
over them by their instructions), the plan's per-step flash bytes and the latency model's per-step
stalls. Parts the plan does not place on a step are reported as ``unattributed``; per layer plus
unattributed equals the totals (to float rounding).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ooc_sdk.build.directory import BuildDir
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.plan.latency import Crypto, Estimate, Step, estimate
from ooc_sdk.plan.schedule import READS_PER_STEP, RUNTIME_STATE_BYTES, STACK_BOUND_BYTES
from ooc_sdk.targets import (
    FlashProfile,
    McuProfile,
    flash_profiles,
    load_flash,
    load_mcu,
    mcu_profiles,
)

# the parts of an inference's energy, in report order (all in uJ), and how tables name them
PART_NAMES = {
    "compute": "compute",
    "crypto": "crypto",
    "flash_read": "flash read",
    "flash_program": "flash program",
    "flash_erase": "flash erase",
    "mcu_wait": "MCU wait",
    "flash_standby": "flash standby",
}
PARTS = tuple(PART_NAMES)
PJ_PER_UJ = 1e6
GEOMETRY = ("size_bytes", "page_bytes", "sector_bytes")
# the profile values the audit uses (reported with their sources)
MCU_KEYS = (
    "energy_per_cycle_pj",
    "cycles_per_instruction",
    "clock_hz",
    "sram_bytes",
    "internal_flash_bytes",
)
FLASH_KEYS = (
    "supply_v",
    "read_current_ma",
    "read_bytes_per_s",
    "read_command_s",
    "program_current_ma",
    "page_program_s",
    "page_bytes",
    "erase_current_ma",
    "sector_erase_s",
    "standby_current_ua",
)
Progress = Callable[[str], None]


# -- profiles ------------------------------------------------------------------------------------


def load_profiles(
    bd: BuildDir, mcu: str | None = None, flash: str | None = None
) -> tuple[McuProfile, FlashProfile]:
    """The MCU and flash profiles to audit with: ``mcu``/``flash`` (a bundled name or a JSON file,
    possibly ``{"base": NAME, ...}``), else the profiles the build was planned with (plan.json
    stores them whole)."""
    req = bd.request()
    return (
        load_mcu(mcu) if mcu is not None else req.mcu,
        load_flash(flash) if flash is not None else req.flash,
    )


def _read_totals(plan: dict[str, Any]) -> tuple[float, float]:
    """Flash bytes and read commands per inference: the weights' (re-streamed pieces included)
    and, for a spilling plan, the spills read back and the two sector headers the ring reads per
    sector it opens (at the ring's cycle average of erases). The steps carry the weights' part;
    the spill part is unattributed."""
    from ooc_sdk.plan import spill as ring

    read_bytes = float(plan["flash_read_bytes_per_inference"])
    read_commands = float(plan["flash_read_commands_per_inference"])
    sp = plan.get("spill")
    if sp:
        erases = float(plan.get("erases_per_inference", 0))
        read_bytes += float(sp["read_back_bytes_per_inference"]) + ring.OPEN_READ_BYTES * erases
        read_commands += float(sp["read_back_commands_per_inference"]) + ring.OPEN_READS * erases
    return read_bytes, read_commands


def _program_pages(plan: dict[str, Any], flash: FlashProfile) -> float:
    """Page programs per inference: the plan's (a spilling plan's is the ring's cycle average,
    so it may be fractional), else its bytes in whole pages."""
    pages = plan.get("flash_program_pages_per_inference")
    if pages is not None:
        return float(pages)
    return math.ceil(float(plan.get("flash_program_bytes_per_inference", 0)) / flash.page_bytes)


def check_profiles(
    plan: dict[str, Any], mcu: McuProfile, flash: FlashProfile, cpi: float | None = None
) -> float:
    """Refuse profiles that lack a figure this audit needs (0 = unknown); returns the CPI."""
    if cpi is not None and not (cpi > 0 and math.isfinite(cpi)):
        raise InvalidArgumentError(f"`cpi` must be a positive number, not {cpi}", param="cpi")
    cpi = cpi if cpi is not None else mcu.cycles_per_instruction
    missing: list[tuple[str, str, str]] = []  # (what, profile, key)
    if mcu.energy_per_cycle_pj <= 0:
        missing.append(("MCU profile", mcu.name, "energy_per_cycle_pj"))
    if cpi <= 0:
        missing.append(("MCU profile", mcu.name, "cycles_per_instruction"))
    need = ["supply_v", "read_current_ma", "standby_current_ua"]
    if _program_pages(plan, flash):
        need.append("program_current_ma")
    if float(plan.get("erases_per_inference", 0)):
        need.append("erase_current_ma")
    missing += [("flash profile", flash.name, k) for k in need if getattr(flash, k) <= 0]
    if missing:
        what = "; ".join(f"{w} {name}: {key}" for w, name, key in missing)
        kind, name, key = missing[0]
        param = "mcu" if kind == "MCU profile" else "flash"
        bundled = name in (mcu_profiles() if param == "mcu" else flash_profiles())
        example = f'{{"base": "{name}", "{key}": ...}}' if bundled else f'"{key}": ...'
        raise InvalidArgumentError(
            f"no energy figure for {what} (0 = unknown): give `{param}` a JSON profile with "
            f"{example} from your datasheet"
            + (", or `cpi`" if key == "cycles_per_instruction" else ""),
            param=(param, "cpi"),
        )
    return float(cpi)


def _source(profile: McuProfile | FlashProfile, key: str) -> str:
    sources = profile.sources
    if key in sources:
        return sources[key]
    if key in GEOMETRY and "geometry" in sources:
        return sources["geometry"]
    return "no source in the profile"


def _values(profile: McuProfile | FlashProfile, keys: Sequence[str]) -> dict[str, Any]:
    return {
        "name": profile.name,
        "values": {k: {"value": getattr(profile, k), "source": _source(profile, k)} for k in keys},
    }


# -- the measurements ----------------------------------------------------------------------------


def measure(
    out_dir: Path,
    device: Any,
    *,
    kernels: str = "dsp",
    in_sram: bool = True,
    seed: int = 0,
    timeout: float | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run the build out-of-core on the emulated Cortex-M4 (on a copy of its flash.bin) and, with
    ``in_sram``, the same model in-core: the two QEMU reports (ooc_sdk.run.qemu.M4Result.report),
    each with its ``outputs`` described (:func:`ooc_sdk.audit.exact.describe_outputs`)."""
    from ooc_sdk.audit.exact import describe_outputs
    from ooc_sdk.model.inputs import random_inputs
    from ooc_sdk.run.qemu import DEFAULT_TIMEOUT_S, run_build_m4, run_model_m4

    say = progress or (lambda _msg: None)
    bd = BuildDir.open(out_dir)
    graph = bd.graph()
    sample = random_inputs(graph, seed)
    limit = timeout if timeout is not None else DEFAULT_TIMEOUT_S
    say("running the build out-of-core on the emulated Cortex-M4 (QEMU)")
    # on a copy of flash.bin: a spilling build programs its scratch ring, and the audit leaves
    # the build as it was (every audit starts from the same ring, as the wear audit does)
    with tempfile.TemporaryDirectory(prefix="ooc-energy-") as tmp:
        copy = Path(tmp) / "flash.bin"
        shutil.copyfile(bd.flash_file(), copy)
        res = run_build_m4(
            out_dir, graph, device, [sample], kernels=kernels, timeout=limit, flash_file=copy
        )
    ooc = {**res.report, "outputs": describe_outputs(res.outputs[0])}
    incore = None
    if in_sram:
        say("running the model in-core on the emulated Cortex-M4 for the in-SRAM reference")
        ref = run_model_m4(graph, [sample], kernels=kernels, timeout=limit)
        incore = {**ref.report, "outputs": describe_outputs(ref.outputs[0])}
    return ooc, incore


# -- the model -----------------------------------------------------------------------------------


def _spread(weights: Sequence[float], total: float) -> list[float]:
    """``total`` split in proportion to ``weights`` (evenly when they are all zero)."""
    if not weights:
        return []
    s = float(sum(weights))
    if s <= 0:
        return [total / len(weights)] * len(weights)
    return [total * w / s for w in weights]


def _step_ranges(schedule: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """The operators [first, last) each step runs (a fused block's, or its one operator)."""
    ranges = []
    for s in schedule:
        first, last = s.get("ops") or (s["op"], s["op"] + 1)
        ranges.append((int(first), int(last)))
    return ranges


def _step_cycles(
    schedule: list[dict[str, Any]], op_instructions: list[float], cpi: float
) -> list[float]:
    """Each step's compute cycles: the measured instructions of the operators it runs, shared
    among the steps that run the same operators (channel pieces) by their MACs."""
    ranges = _step_ranges(schedule)
    n_ops = len(op_instructions)
    # an operator no step names (none in today's plans) goes with the step before it
    owner = [0] * n_ops
    starts = sorted({r[0] for r in ranges})
    for op in range(n_ops):
        owner[op] = max([a for a in starts if a <= op], default=starts[0] if starts else 0)
    group_instr: dict[int, float] = {}
    for op, a in enumerate(owner):
        group_instr[a] = group_instr.get(a, 0.0) + op_instructions[op]
    members: dict[int, list[int]] = {}
    for k, (a, _) in enumerate(ranges):
        members.setdefault(a, []).append(k)
    cycles = [0.0] * len(schedule)
    for a, ks in members.items():
        shares = _spread([float(schedule[k].get("macs", 0)) for k in ks], group_instr.get(a, 0.0))
        for k, share in zip(ks, shares, strict=True):
            cycles[k] = share * cpi
    return cycles


def _timeline(
    steps: list[Step], flash: FlashProfile, mcu: McuProfile, slots: int
) -> tuple[Estimate, list[float], list[float]]:
    """The schedule's latency estimate (software crypto: the measured firmware's), and per step
    the CPU's wait for flash and the wall time. The estimate of the first k steps ends when step
    k's compute does, so differences of prefix estimates give the per-step figures, summing to
    the whole (a block that drains the prefetch waits for a read the prefix does not hold yet:
    that wait shows on the steps up to the read)."""
    crypto = Crypto("none", 128)  # the MCU's aes_cycles_per_byte carries the measured crypto

    def run(part: list[Step]) -> Estimate:
        return estimate(part, flash, mcu, crypto, slots=slots, use_engine=False)

    waits, walls = [], []
    prev_wait = prev_end = 0.0
    for k in range(len(steps)):
        e = run(steps[: k + 1])
        wait = e.seconds - e.compute_seconds - e.crypto_seconds
        waits.append(wait - prev_wait)
        walls.append(e.seconds - prev_end)
        prev_wait, prev_end = wait, e.seconds
    return run(steps), waits, walls


@dataclasses.dataclass(frozen=True)
class _UnitCosts:
    """The profiles' figures as the cost of one unit of work: an instruction, a second of the CPU
    waiting in run mode, a byte and a command read, a page programmed, a sector erased, a second
    of flash standby (the report's ``unit_costs``)."""

    pj_per_instruction: float
    run_w: float  # the CPU in run mode
    nj_per_byte: float
    nj_per_command: float
    uj_per_page: float
    uj_per_erase: float
    standby_w: float

    @classmethod
    def of(cls, mcu: McuProfile, flash: FlashProfile, cpi: float) -> _UnitCosts:
        volts = flash.supply_v
        read_w = volts * flash.read_current_ma * 1e-3
        return cls(
            pj_per_instruction=cpi * mcu.energy_per_cycle_pj,
            run_w=mcu.clock_hz * mcu.energy_per_cycle_pj * 1e-12,
            nj_per_byte=read_w / flash.read_bytes_per_s * 1e9,
            nj_per_command=read_w * flash.read_command_s * 1e9,
            uj_per_page=volts * flash.program_current_ma * 1e-3 * flash.page_program_s * 1e6,
            uj_per_erase=volts * flash.erase_current_ma * 1e-3 * flash.sector_erase_s * 1e6,
            standby_w=volts * flash.standby_current_ua * 1e-6,
        )

    def uj(self, instructions: float) -> float:
        """The energy of ``instructions`` instructions, in uJ."""
        return instructions * self.pj_per_instruction / PJ_PER_UJ

    def to_json(self) -> dict[str, float]:
        return {
            "pj_per_instruction": self.pj_per_instruction,
            "cpu_run_mw": self.run_w * 1e3,
            "flash_read_nj_per_byte": self.nj_per_byte,
            "flash_read_nj_per_command": self.nj_per_command,
            "flash_program_uj_per_page": self.uj_per_page,
            "flash_erase_uj_per_sector": self.uj_per_erase,
            "flash_standby_uw": self.standby_w * 1e6,
        }


@dataclasses.dataclass(frozen=True)
class _Counts:
    """QEMU's counts and the plan's: per inference, per operator (the QEMU report's layers) and
    per step of the schedule."""

    instructions: int
    crypto_instructions: int
    compute_instructions: int
    outside: float  # the runtime's work between layers
    op_compute: list[float]
    op_crypto: list[float]
    op_fetch: list[float]
    ranges: list[tuple[int, int]]  # each step's operators [first, last)
    step_op: list[int]  # the operator each step's flash figures go to
    step_bytes: list[int]
    step_reads: list[int]
    step_pages: list[int]
    step_erases: list[int]
    read_bytes: float
    read_commands: float
    pages: float
    erases: float  # the ring's cycle average when spilling

    @classmethod
    def of(cls, plan: dict[str, Any], ooc: dict[str, Any], flash: FlashProfile) -> _Counts:
        instructions = int(ooc["instructions"])
        crypto_instr = int(ooc["crypto_instructions"])
        compute_instr = instructions - crypto_instr
        layers = ooc["layers"]
        n_ops = len(layers)
        layer_instr = [float(x["instructions"]) for x in layers]
        outside = compute_instr - sum(layer_instr)
        op_compute = _spread(layer_instr, compute_instr)
        schedule = plan["schedule"]
        ranges = _step_ranges(schedule)
        step_op = [min(a, n_ops - 1) for a, _ in ranges]
        step_bytes = [int(s.get("fetch_bytes", 0)) for s in schedule]
        step_reads = [
            int(s.get("read_commands", READS_PER_STEP if s.get("chunks") else 0)) for s in schedule
        ]
        read_bytes, read_commands = _read_totals(plan)
        op_fetch = [0.0] * n_ops
        for k, op in enumerate(step_op):
            op_fetch[op] += step_bytes[k]
        crypto_weights = [float(x["crypto_instructions"]) for x in layers]
        op_crypto = _spread(crypto_weights if sum(crypto_weights) else op_fetch, crypto_instr)
        pages = _program_pages(plan, flash)
        erases = float(plan.get("erases_per_inference", 0))
        page = flash.page_bytes
        step_pages = [
            int(s.get("program_pages", math.ceil(int(s.get("program_bytes", 0)) / page)))
            for s in schedule
        ]
        step_erases = [int(s.get("erases", 0)) for s in schedule]
        return cls(
            instructions=instructions,
            crypto_instructions=crypto_instr,
            compute_instructions=compute_instr,
            outside=outside,
            op_compute=op_compute,
            op_crypto=op_crypto,
            op_fetch=op_fetch,
            ranges=ranges,
            step_op=step_op,
            step_bytes=step_bytes,
            step_reads=step_reads,
            step_pages=step_pages,
            step_erases=step_erases,
            read_bytes=read_bytes,
            read_commands=read_commands,
            pages=pages,
            erases=erases,
        )

    def to_json(self, plan: dict[str, Any], ooc: dict[str, Any]) -> dict[str, Any]:
        return {
            "instructions": self.instructions,
            "compute_instructions": self.compute_instructions,
            "crypto_instructions": self.crypto_instructions,
            "runtime_instructions_between_layers": round(self.outside),
            "instruction_resolution": int(ooc.get("instruction_resolution", 0)),
            "flash_read_bytes": self.read_bytes,
            "flash_read_bytes_measured": int(ooc["flash_read_bytes"]),
            "flash_read_commands": self.read_commands,
            "flash_program_bytes": int(plan.get("flash_program_bytes_per_inference", 0)),
            "flash_program_pages": self.pages,
            "erases": self.erases,
        }


@dataclasses.dataclass(frozen=True)
class _Times:
    """The inference's time: the latency model fed with the measured compute and crypto, plus
    the programs and erases it does not overlap with anything; per step, the CPU's wait for
    flash and the wall time (:func:`_timeline`)."""

    step_wait: list[float]
    step_wall: list[float]
    program_s: float
    erase_s: float
    read_stall_s: float
    latency_s: float
    cpu_s: float
    read_busy_s: float
    standby_s: float

    @classmethod
    def of(
        cls, plan: dict[str, Any], c: _Counts, mcu: McuProfile, flash: FlashProfile, cpi: float
    ) -> _Times:
        schedule = plan["schedule"]
        cycles = _step_cycles(schedule, c.op_compute, cpi)
        fetched = sum(c.step_bytes)
        lat_mcu = dataclasses.replace(
            mcu,
            aes_engine=False,
            aes_engine_bytes_per_s=0.0,
            aes_cycles_per_byte=c.crypto_instructions * cpi / fetched if fetched else 0.0,
            cmac_cycles_per_byte=0.0,
            poly1305_cycles_per_byte=0.0,
        )
        steps = [
            Step(
                int(s.get("macs", 0)),
                c.step_bytes[k],
                c.step_reads[k],
                cycles[k],
                sync=bool(s.get("streamed")),
                drain=bool(s.get("drains_prefetch")),
            )
            for k, s in enumerate(schedule)
        ]
        est, step_wait, step_wall = _timeline(steps, flash, lat_mcu, int(plan.get("slots", 1)))
        program_s = c.pages * flash.page_program_s
        erase_s = c.erases * flash.sector_erase_s
        read_stall_s = max(est.seconds - est.compute_seconds - est.crypto_seconds, 0.0)
        latency_s = est.seconds + program_s + erase_s
        read_busy_s = c.read_bytes / flash.read_bytes_per_s + c.read_commands * flash.read_command_s
        flash_busy_s = read_busy_s + program_s + erase_s
        return cls(
            step_wait=step_wait,
            step_wall=step_wall,
            program_s=program_s,
            erase_s=erase_s,
            read_stall_s=read_stall_s,
            latency_s=latency_s,
            cpu_s=c.instructions * cpi / mcu.clock_hz,
            read_busy_s=read_busy_s,
            standby_s=max(latency_s - flash_busy_s, 0.0),
        )

    @property
    def mcu_wait_s(self) -> float:
        """The CPU waits for the reads the prefetch does not hide, and every program and erase."""
        return self.read_stall_s + self.program_s + self.erase_s

    def to_json(self, plan: dict[str, Any]) -> dict[str, Any]:
        return {
            "latency": self.latency_s,
            "cpu": self.cpu_s,
            "mcu_wait": self.mcu_wait_s,
            "flash_read": self.read_busy_s,
            "flash_program": self.program_s,
            "flash_erase": self.erase_s,
            "flash_standby": self.standby_s,
            "slots": int(plan.get("slots", 1)),
        }


def energy_report(
    plan: dict[str, Any],
    ooc: dict[str, Any],
    incore: dict[str, Any] | None,
    mcu: McuProfile,
    flash: FlashProfile,
    *,
    cpi: float | None = None,
    built_for: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The energy audit of a build from its plan (plan.json), the QEMU report of its out-of-core
    run and, when given, of the in-core run: totals per part, per layer, the in-SRAM reference,
    the profile values used with their sources and the assumptions (docs/audit.md)."""
    cpi_given = cpi is not None
    cpi = check_profiles(plan, mcu, flash, cpi)
    cpi_source = (
        "--cpi on the command line"
        if cpi_given
        else f"the MCU profile's cycles_per_instruction: {_source(mcu, 'cycles_per_instruction')}"
    )
    costs = _UnitCosts.of(mcu, flash, cpi)
    counts = _Counts.of(plan, ooc, flash)
    times = _Times.of(plan, counts, mcu, flash, cpi)
    totals = _totals(counts, times, costs)
    per_op = _per_op(counts, times, costs, totals["flash_standby"], flash)
    unattributed = _unattributed(per_op, totals)
    per_layer = _per_layer(ooc["layers"], incore, counts, per_op, costs)
    in_sram = _in_sram(incore, mcu, cpi, costs.pj_per_instruction, totals["total"])
    assumptions = _assumptions(
        plan, ooc, mcu, flash, cpi, cpi_given, counts.outside, built_for, in_sram,
        costs.nj_per_byte,
    )  # fmt: skip
    return {
        "model": plan.get("model"),
        "mcu": mcu.name,
        "flash": flash.name,
        "kernels": ooc.get("kernels"),
        "cycles_per_instruction": cpi,
        "energy_uj_per_inference": totals,
        "in_sram": in_sram,
        "out_of_core_over_in_sram": (
            totals["total"] / in_sram["energy_uj_per_inference"]["total"] if in_sram else None
        ),
        "counts": counts.to_json(plan, ooc),
        "time_s": times.to_json(plan),
        "unit_costs": costs.to_json(),
        "per_layer": per_layer,
        "unattributed": unattributed,
        "per_boot_uj": {
            "mount": costs.uj(int(ooc.get("mount_instructions", 0))),
            "init": costs.uj(int(ooc.get("init_instructions", 0))),
        },
        "assumptions": assumptions,
        "profiles": {
            "mcu": _values(mcu, MCU_KEYS),
            "flash": _values(flash, FLASH_KEYS),
            "cpi": {"value": cpi, "source": cpi_source},
        },
    }


def _totals(c: _Counts, t: _Times, costs: _UnitCosts) -> dict[str, float]:
    """The energy of each part per inference (uJ), and their total."""
    totals = {
        "compute": costs.uj(c.compute_instructions),
        "crypto": costs.uj(c.crypto_instructions),
        "flash_read": (c.read_bytes * costs.nj_per_byte + c.read_commands * costs.nj_per_command)
        * 1e-3,
        "flash_program": c.pages * costs.uj_per_page,
        "flash_erase": c.erases * costs.uj_per_erase,
        "mcu_wait": t.mcu_wait_s * costs.run_w * 1e6,
        "flash_standby": t.standby_s * costs.standby_w * 1e6,
    }
    totals["total"] = sum(totals[p] for p in PARTS)
    return totals


def _per_op(
    c: _Counts, t: _Times, costs: _UnitCosts, standby_uj: float, flash: FlashProfile
) -> dict[str, list[float]]:
    """Each part's energy per operator (uJ): compute and crypto from the measured instructions,
    the flash parts and the wait from the steps that carry them, standby by wall time."""
    n_ops = len(c.op_compute)
    per_op = {p: [0.0] * n_ops for p in PARTS}
    per_op["compute"] = [costs.uj(x) for x in c.op_compute]
    per_op["crypto"] = [costs.uj(x) for x in c.op_crypto]
    wall_total = sum(t.step_wall)
    for k, op in enumerate(c.step_op):
        per_op["flash_read"][op] += (
            c.step_bytes[k] * costs.nj_per_byte + c.step_reads[k] * costs.nj_per_command
        ) * 1e-3
        per_op["flash_program"][op] += c.step_pages[k] * costs.uj_per_page
        per_op["flash_erase"][op] += c.step_erases[k] * costs.uj_per_erase
        busy = c.step_pages[k] * flash.page_program_s + c.step_erases[k] * flash.sector_erase_s
        per_op["mcu_wait"][op] += (max(t.step_wait[k], 0.0) + busy) * costs.run_w * 1e6
        if wall_total > 0:
            per_op["flash_standby"][op] += standby_uj * t.step_wall[k] / wall_total
    return per_op


def _unattributed(per_op: dict[str, list[float]], totals: dict[str, float]) -> dict[str, float]:
    """What no step carries (a plan without per-step program/erase figures); float rounding
    below a billionth of the total is dropped."""
    unattributed = {p: totals[p] - sum(per_op[p]) for p in PARTS}
    for p in PARTS:
        if abs(unattributed[p]) <= 1e-9 * max(totals["total"], 1.0):
            unattributed[p] = 0.0
    unattributed["total"] = sum(unattributed[p] for p in PARTS)
    return unattributed


def _per_layer(
    layers: list[dict[str, Any]],
    incore: dict[str, Any] | None,
    c: _Counts,
    per_op: dict[str, list[float]],
    costs: _UnitCosts,
) -> list[dict[str, Any]]:
    """The report's rows per layer: the counts, each part, the total and the in-SRAM figure."""
    n_ops = len(c.op_compute)
    in_layers = (
        _spread([float(x["instructions"]) for x in incore["layers"]], int(incore["instructions"]))
        if incore is not None and len(incore["layers"]) == n_ops
        else None
    )
    blocks = {a: [a, b] for a, b in c.ranges if b - a > 1}  # fused: counted on the first op
    per_layer = []
    for i, layer in enumerate(layers):
        row: dict[str, Any] = {
            "index": i,
            "op": layer["op"],
            "fused_ops": blocks.get(i),
            "steps": int(layer.get("steps", 0)),
            "instructions": round(c.op_compute[i]),
            "crypto_instructions": round(c.op_crypto[i]),
            "flash_read_bytes": round(c.op_fetch[i]),
        }
        row.update({p: per_op[p][i] for p in PARTS})
        row["total"] = sum(per_op[p][i] for p in PARTS)
        row["in_sram"] = costs.uj(in_layers[i]) if in_layers is not None else None
        per_layer.append(row)
    return per_layer


def _in_sram(
    incore: dict[str, Any] | None, mcu: McuProfile, cpi: float, pj_instr: float, ooc_total: float
) -> dict[str, Any] | None:
    """The in-SRAM reference: the in-core run's compute, and whether it would fit the MCU."""
    if incore is None:
        return None
    instr = int(incore["instructions"])
    compute = instr * pj_instr / PJ_PER_UJ
    sram_need = int(incore["arena_bytes"]) + RUNTIME_STATE_BYTES + STACK_BOUND_BYTES
    flash_need = int(incore["text_bytes"]) + int(incore["rodata_bytes"]) + int(incore["data_bytes"])
    parts = {p: 0.0 for p in PARTS}
    parts["compute"] = compute
    parts["total"] = compute
    return {
        "energy_uj_per_inference": parts,
        "instructions": instr,
        "latency_s": instr * cpi / mcu.clock_hz,
        "fits_sram": sram_need <= mcu.sram_bytes,
        "sram_need_bytes": sram_need,
        "arena_bytes": int(incore["arena_bytes"]),
        "sram_bytes": mcu.sram_bytes,
        "internal_flash_need_bytes": flash_need,
        "fits_internal_flash": (
            flash_need <= mcu.internal_flash_bytes if mcu.internal_flash_bytes else None
        ),
        "saved_uj_per_inference": ooc_total - compute,
    }


def _assumptions(
    plan: dict[str, Any],
    ooc: dict[str, Any],
    mcu: McuProfile,
    flash: FlashProfile,
    cpi: float,
    cpi_given: bool,
    outside: float,
    built_for: tuple[str, str] | None,
    in_sram: dict[str, Any] | None,
    nj_per_byte: float,
) -> list[str]:
    res = int(ooc.get("instruction_resolution", 40))
    writes = _program_pages(plan, flash) or float(plan.get("erases_per_inference", 0))
    out = [
        f"compute and crypto: instructions counted under QEMU (mps2-an386, -icount shift=0: "
        f"deterministic, {res} instructions per measured interval) x {cpi:g} cycles per "
        f"instruction ({'--cpi' if cpi_given else 'the MCU profile'}; QEMU counts instructions, "
        f"not cycles) x {mcu.energy_per_cycle_pj:g} pJ per cycle",
        "the energy per cycle is the MCU's run current x supply / clock: it covers the core, its "
        "SRAM and its internal flash (code, and the weights of the in-SRAM reference); the QSPI "
        "controller and DMA are not counted apart",
        "crypto is the firmware's software AES-CTR and tag checks (the time inside "
        "ooc_image_open_chunk), counted apart from compute",
        f"the runtime's work between layers ({outside:,.0f} instructions: pager, flash driver, "
        "invoke) is spread over the layers in proportion to their instructions",
        f"flash read: bytes x supply x read current / read throughput ({nj_per_byte:.3f} nJ per "
        "byte), plus each read command's time x the same power; bytes and commands from the plan",
        "program and erase: pages x page_program_s and erases x sector_erase_s (typical times) x "
        "current x supply; a partial page costs a whole page's time"
        + ("" if writes else "; this build programs and erases nothing per inference"),
        f"MCU wait: the CPU waits in run mode ({mcu.clock_hz / 1e6:g} MHz x "
        f"{mcu.energy_per_cycle_pj:g} pJ per cycle) while a flash read the prefetch does not hide "
        "is in flight (the latency model of ooc_sdk/plan/latency.py with each step's measured "
        f"instructions, {plan.get('slots', 1)} chunk slot(s)), and through every page program "
        "and sector erase; waiting in a sleep mode would cost less",
        "flash standby: the chip stays in standby (not deep power-down) for the rest of the "
        "inference; between inferences nothing is counted (deep power-down assumed)",
        "mount and init run once per boot: per_boot_uj, not in the per-inference figures",
    ]
    if mcu.aes_engine:
        out.append(
            f"{mcu.name} has an AES engine, but the measured firmware decrypts in software: the "
            "crypto part is the software cost (the engine's own energy has no sourced figure)"
        )
    if in_sram is not None:
        out.append(
            "in-SRAM reference: the same model in-core under QEMU with the same kernels, weights "
            "as constants in the MCU's internal flash (read at the cost inside the energy per "
            "cycle; its wait states are inside the CPI assumption), activations in SRAM, no "
            "external flash, no crypto; fits_sram compares the per-layer arena + runtime state "
            "+ stack with the MCU's SRAM"
        )
    planned = _read_totals(plan)[0]
    if int(ooc["flash_read_bytes"]) != planned:
        out.append(
            f"the firmware read {int(ooc['flash_read_bytes']):,} flash bytes, the plan says "
            f"{planned:,.0f}: the plan's figure is used"
            + (
                " (a spilling plan's reads of sector headers follow its erases, and the plan "
                "gives their cycle average)"
                if plan.get("spill")
                else ""
            )
        )
    if built_for is not None:
        built = built_for
        if built != (mcu.name, flash.name):
            out.append(
                f"the build was planned for {built[0]} + {built[1]}; its schedule (steps, bytes) "
                f"is costed here with {mcu.name} + {flash.name}"
            )
    return out


# -- the whole audit -----------------------------------------------------------------------------


def audit_energy(
    out_dir: Path,
    device: Any,
    *,
    mcu: str | None = None,
    flash: str | None = None,
    cpi: float | None = None,
    kernels: str = "dsp",
    in_sram: bool = True,
    seed: int = 0,
    timeout: float | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Audit the energy per inference of the build in ``out_dir`` (``ooc audit energy``): check
    the profiles, run the build (and the model in-core) under QEMU, cost the counts."""
    bd = BuildDir.open(out_dir)
    plan = bd.plan_json()
    mcu_p, flash_p = load_profiles(bd, mcu, flash)
    check_profiles(plan, mcu_p, flash_p, cpi)  # before minutes of QEMU, not after
    bd.flash_file()  # a batch build has no flash to run
    if device is None:
        raise InvalidArgumentError(
            f"{out_dir} is a build directory: give `device` (the key file its image was "
            "wrapped for)",
            param="device",
        )
    ooc, incore = measure(
        out_dir, device, kernels=kernels, in_sram=in_sram, seed=seed, timeout=timeout,
        progress=progress,
    )  # fmt: skip
    built_for = (bd.info.mcu, bd.info.flash_profile)
    report = energy_report(plan, ooc, incore, mcu_p, flash_p, cpi=cpi, built_for=built_for)
    report["build"] = str(out_dir)
    # for the report's verdicts: the outputs (ooc_sdk/audit/exact.py) and the SRAM used
    report["run"] = {"seed": seed, "outputs": ooc["outputs"],
                     "in_sram_outputs": incore["outputs"] if incore else None,
                     "sram_linked_bytes": ooc.get("sram_budget_bytes"),
                     "sram_high_water_bytes": ooc.get("sram_high_water_bytes"),
                     "stack_high_water_bytes": ooc.get("stack_high_water_bytes")}  # fmt: skip
    return report
