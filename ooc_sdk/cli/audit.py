"""``ooc audit`` (energy, wear) and ``ooc report``: what an out-of-core build costs on the device
(the models are :mod:`ooc_sdk.audit`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ooc_sdk.cli.options import EXISTING_FILE, INT, command, emit_json, flash_help, group, mcu_help
from ooc_sdk.errors import InvalidArgumentError


@group()
def audit() -> None:
    """Audit what an out-of-core build costs on the device.

    `ooc audit energy BUILD_DIR/ --device-key KEY` gives the energy per
    inference of an `ooc build`, measured on the emulated Cortex-M4 and costed
    with the MCU and flash profiles (docs/audit.md).

    `ooc audit wear BUILD_DIR/ --device-key KEY --rate 1/s` gives its flash
    wear and lifetime; `ooc audit wear --dump FLASH.bin` reads the wear of a
    device's flash dump.
    """


@audit.command(name="energy")
@click.argument("build_dir", metavar="BUILD_DIR", type=click.Path(path_type=Path))
@click.option(
    "--device-key",
    type=EXISTING_FILE,
    default=None,
    help="The device key file the build's image was wrapped for (the firmware mounts it).",
)
@click.option("--mcu", default=None, help=mcu_help()[:-1] + "; default: the build's.")
@click.option("--flash", "flash", default=None, help=flash_help()[:-1] + "; default: the build's.")
@click.option(
    "--cpi",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Cycles per instruction: turns QEMU's instruction counts into cycles (default: the MCU "
    "profile's cycles_per_instruction, 1.3 for the Cortex-M4).",
)
@click.option(
    "--kernels",
    type=click.Choice(["dsp", "ref"]),
    default="dsp",
    show_default=True,
    help="The firmware's kernels: Cortex-M DSP-extension (SMLAD) or portable reference.",
)
@click.option(
    "--seed", type=INT, default=0, show_default=True, help="Seed of the random input sample."
)
@click.option(
    "--no-in-sram",
    "no_in_sram",
    is_flag=True,
    help="Skip the in-SRAM reference run (in_sram is null).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=900.0,
    show_default=True,
    help="Stop each emulator run after this many seconds and report an error.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a PNG: stacked energy per layer, and the totals out-of-core and in SRAM.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def energy(
    build_dir: Path,
    device_key: Path | None,
    mcu: str | None,
    flash: str | None,
    cpi: float | None,
    kernels: str,
    seed: int,
    no_in_sram: bool,
    timeout: float,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Energy per inference of an out-of-core build, per part and per layer.

    Runs BUILD_DIR (an `ooc build` output) on the emulated Cortex-M4 under
    QEMU, which counts instructions deterministically, with crypto apart, and
    the same model in-core (weights in the MCU's internal flash) as the
    in-SRAM reference. Then, in uJ per inference:

    \b
      compute, crypto  instructions x CPI x the MCU's energy per cycle
      flash read       (bytes / throughput + commands x command time)
                       x read current x supply, bytes from the plan
      program, erase   pages x program time, erases x erase time,
                       x current x supply (spilling builds only)
      MCU wait         the CPU in run mode while flash reads the prefetch
                       does not hide (latency model with the measured
                       instructions), programs and erases are in flight
      flash standby    standby current x supply for the rest

    Every profile value is printed with its source; override any with
    --mcu/--flash FILE.json holding {"base": NAME, "key": value, ...}, and the
    cycles per instruction with --cpi. JSON keys: energy_uj_per_inference,
    per_layer, unattributed, in_sram (null with --no-in-sram), counts, time_s,
    unit_costs, per_boot_uj, assumptions, profiles, run (the sample's seed,
    outputs, SRAM high-water). The build runs on a copy of its flash.bin.
    Progress goes to stderr.
    """
    from ooc_sdk.audit import audit_energy
    from ooc_sdk.image.keys import read_key_file

    if plot is not None and not plot.parent.is_dir():  # before the emulator runs, not after
        raise InvalidArgumentError(f"cannot write {plot}: no directory {plot.parent}")
    device = read_key_file(device_key) if device_key is not None else None
    report = audit_energy(
        build_dir, device, mcu=mcu, flash=flash, cpi=cpi, kernels=kernels,
        in_sram=not no_in_sram, seed=seed, timeout=timeout,
        progress=lambda msg: click.echo(f"  {msg}", err=True),
    )  # fmt: skip
    if plot is not None:
        from ooc_sdk.audit.plot import plot_energy

        plot_energy(report, plot)
    _emit_report(report, render(report), as_json, plot)


def _emit_report(
    report: dict[str, Any], lines: list[str], as_json: bool, plot: Path | None
) -> None:
    if as_json:
        emit_json(report)
        return
    click.echo("\n".join(lines))
    if plot is not None:
        click.echo(f"plot: {plot}")


def _uj(v: float | None) -> str:
    return "-" if v is None else f"{v:,.2f}"


def render(r: dict[str, Any]) -> list[str]:
    """The audit as text: totals, per layer, profile values with sources, assumptions."""
    from ooc_sdk.audit.energy import PART_NAMES

    tot, ins = r["energy_uj_per_inference"], r["in_sram"]
    c, t = r["counts"], r["time_s"]
    lines = [
        f"ooc audit energy: {r['model']} on {r['mcu']} + {r['flash']}, {r['kernels']} kernels, "
        f"{r['cycles_per_instruction']:g} cycles per instruction",
        f"  {'uJ per inference':<18} {'out-of-core':>12} {'in SRAM':>12}",
    ]
    for p, name in PART_NAMES.items():
        inside = ins["energy_uj_per_inference"][p] if ins else None
        lines.append(f"  {name:<18} {_uj(tot[p]):>12} {_uj(inside if inside else None):>12}")
    ratio = r["out_of_core_over_in_sram"]
    lines.append(
        f"  {'total':<18} {_uj(tot['total']):>12} "
        f"{_uj(ins['energy_uj_per_inference']['total'] if ins else None):>12}"
        + (f"   out-of-core = {ratio:.3f} x in SRAM" if ratio else "")
    )
    lines.append(
        f"  latency {t['latency'] * 1e3:,.3f} ms"
        + (f" (in SRAM {ins['latency_s'] * 1e3:,.3f} ms)" if ins else "")
        + f"; {c['instructions']:,} instructions ({c['crypto_instructions']:,} crypto); "
        f"{c['flash_read_bytes']:,.0f} flash bytes read in {c['flash_read_commands']:,.0f} "
        f"commands, {c['flash_program_pages']:g} pages programmed, {c['erases']:g} erases"
    )
    if ins:
        fl = ins["fits_internal_flash"]
        lines.append(
            f"  in SRAM: per-layer arena {ins['arena_bytes']:,} B + runtime state + stack = "
            f"{ins['sram_need_bytes']:,} B of {ins['sram_bytes']:,} B SRAM: "
            + ("fits" if ins["fits_sram"] else "does NOT fit (a reference only)")
            + f"; firmware with weights {ins['internal_flash_need_bytes']:,} B of internal flash"
            + ("" if fl is None else (": fits" if fl else ": does NOT fit"))
        )
    boot = r["per_boot_uj"]
    lines.append(
        f"  once per boot (not above): mount {_uj(boot['mount'])} uJ, init {_uj(boot['init'])} uJ"
    )
    writes = tot["flash_program"] > 0 or tot["flash_erase"] > 0
    cols = ["compute", "crypto", "read"] + (["program", "erase"] if writes else [])
    cols += ["wait+stby", "total", "in SRAM"]
    lines += ["", "per layer (uJ per inference):"]
    lines.append(f"  {'layer':>5}  {'op':<22}" + "".join(f" {h:>10}" for h in cols))
    rows = list(r["per_layer"])
    if r["unattributed"]["total"]:
        rows.append({"index": "-", "op": "(no step)", **r["unattributed"], "in_sram": None})
    for row in rows:
        vals = [row["compute"], row["crypto"], row["flash_read"]]
        if writes:
            vals += [row["flash_program"], row["flash_erase"]]
        vals += [row["mcu_wait"] + row["flash_standby"], row["total"], row["in_sram"]]
        lines.append(
            f"  {row['index']!s:>5}  {row['op']:<22}" + "".join(f" {_uj(v):>10}" for v in vals)
        )
    fused = [row["fused_ops"] for row in r["per_layer"] if row.get("fused_ops")]
    if fused:
        lines.append(
            "  fused blocks, each counted on its first operator as the firmware counts it: ops "
            + ", ".join(f"{a}-{b - 1}" for a, b in fused)
            + "; the in-SRAM reference runs per layer"
        )
    lines += ["", "profile values used (value: source):"]
    cpi = r["profiles"]["cpi"]
    for kind in ("mcu", "flash"):
        prof = r["profiles"][kind]
        for key, item in prof["values"].items():
            src = item["source"]
            if key == "cycles_per_instruction" and cpi["value"] != item["value"]:
                src = f"not used: --cpi {cpi['value']:g} overrides it"
            lines.append(f"  {prof['name']}.{key} = {_value(item['value'])}: {src}")
    return lines + ["", "assumptions:"] + [f"  - {a}" for a in r["assumptions"]]


def _value(v: float) -> str:
    if isinstance(v, int) or (float(v).is_integer() and abs(v) >= 1e4):
        return f"{int(v):,}"
    return f"{v:g}"


@audit.command(name="wear")
@click.argument("build_dir", metavar="BUILD_DIR", type=click.Path(path_type=Path), required=False)
@click.option(
    "--dump",
    type=EXISTING_FILE,
    default=None,
    help="Audit a device's flash dump (FLASH.bin) instead of a build: the wear it actually has.",
)
@click.option(
    "--device-key",
    type=EXISTING_FILE,
    default=None,
    help="The device key file the build's image was wrapped for (to run it on the emulator).",
)
@click.option(
    "--rate",
    default="1/s",
    show_default=True,
    help="Inference rate: 1/s, 10/min, 2/h, 5/day, or a number per second.",
)
@click.option(
    "--endurance",
    default=None,
    help="Program/erase cycles per sector, e.g. 100k or 1e5 (default: the flash profile's).",
)
@click.option(
    "--target-years",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Propose the scratch size that lasts this long at --rate (or the highest rate that can).",
)
@click.option(
    "--inferences",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Inferences to run on the host NOR emulator to measure the build's flash traffic.",
)
@click.option("--flash", "flash", default=None, help=flash_help()[:-1] + "; default: the build's.")
@click.option(
    "--image-offset",
    type=INT,
    default=None,
    help="With --dump: where the image starts in the dump (default: search sector-aligned offsets).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a PNG heatmap of erases per scratch sector.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def wear(
    build_dir: Path | None,
    dump: Path | None,
    device_key: Path | None,
    rate: str,
    endurance: str | None,
    target_years: float | None,
    inferences: int,
    flash: str | None,
    image_offset: int | None,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Flash wear of a build, or of a device's flash dump, and the lifetime it gives.

    \b
    ooc audit wear BUILD_DIR/ --device-key KEY --rate 1/s --endurance 100k
      Per inference: bytes read and programmed and sector erases, predicted
      from the plan and measured by running the build --inferences times on
      the host NOR emulator (a copy of its flash.bin); the worst scratch
      sector; the years until the scratch partition (and so the flash) wears
      out, with the spill ring's wear levelling and without it. A build that
      never programs or erases the flash has no wear limit: the lifetimes
      are null. --target-years proposes the scratch size for that life.
    \b
    ooc audit wear --dump FLASH.bin [--flash PROFILE] [--image-offset N]
      Finds the image, reads every scratch sector header (erase count, CRC;
      erased and damaged sectors flagged) and the littlefs metadata
      partition, and reports the erase counts and the endurance used.

    JSON keys (build): predicted, measured (each with read_bytes_per_inference,
    program_bytes_per_inference, erases_per_inference; measured also samples:
    each inference's input seed and outputs), agreement, agree,
    lifetime_years, lifetime_years_without_wear_leveling,
    lifetime_years_whole_flash, lifetime_years_levelled_over_free_flash,
    worst_sector_erases_per_inference, layout, statement, target. (dump):
    sectors, erase_counts, max_erases, mean_erases, worst_sector,
    lifetime_used, damaged_sectors, erased_sectors, metadata, image.
    """
    from ooc_sdk.audit.dump import audit_dump
    from ooc_sdk.audit.wear import audit_build, plot_wear, render

    if (dump is None) == (build_dir is None):
        raise InvalidArgumentError("give either BUILD_DIR or --dump FLASH.bin")
    if plot is not None and not plot.parent.is_dir():
        raise InvalidArgumentError(f"cannot write {plot}: no directory {plot.parent}")
    if dump is not None:
        if target_years is not None:
            raise InvalidArgumentError("--target-years needs a build (BUILD_DIR), not --dump")
        report = audit_dump(dump, flash=flash, image_offset=image_offset, endurance=endurance)
    else:
        from ooc_sdk.image.keys import read_key_file

        assert build_dir is not None
        device = read_key_file(device_key) if device_key is not None else None
        report = audit_build(
            build_dir, device, rate=rate, endurance=endurance, inferences=inferences,
            flash=flash, target_years=target_years,
            progress=lambda msg: click.echo(f"  {msg}", err=True),
        )  # fmt: skip
    if plot is not None:
        plot_wear(report, plot)
    _emit_report(report, render(report), as_json, plot)


@command("report")
@click.argument("build_dir", metavar="BUILD_DIR", type=click.Path(path_type=Path))
@click.option(
    "--device-key",
    type=EXISTING_FILE,
    default=None,
    help="The device key file the build's image was wrapped for (the audits run the build).",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="The HTML file to write (atomically).",
)
@click.option(
    "--rate",
    default="1/s",
    show_default=True,
    help="Inference rate for the wear lifetime: 1/s, 10/min, 2/h, 5/day, or a number per second.",
)
@click.option(
    "--endurance",
    default=None,
    help="Program/erase cycles per sector, e.g. 100k or 1e5 (default: the flash profile's).",
)
@click.option("--mcu", default=None, help=mcu_help()[:-1] + "; default: the build's.")
@click.option("--flash", "flash", default=None, help=flash_help()[:-1] + "; default: the build's.")
@click.option(
    "--cpi",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Cycles per instruction for the energy audit (default: the MCU profile's).",
)
@click.option(
    "--kernels",
    type=click.Choice(["dsp", "ref"]),
    default="dsp",
    show_default=True,
    help="The firmware's kernels in the energy audit.",
)
@click.option(
    "--inferences",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Inferences the wear audit runs on the host NOR emulator.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=900.0,
    show_default=True,
    help="Stop each emulator run of the energy audit after this many seconds.",
)
@click.option(
    "--target-years",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="The flash lifetime verdict: the life the flash must last at --rate.",
)
@click.option(
    "--max-latency-ratio",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The latency verdict: out-of-core latency / in-SRAM latency at most this (default: "
    "no limit on the ratio; the latency must fit the time between inferences at --rate).",
)
@click.option(
    "--max-energy-uj",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The energy verdict: uJ per inference at most this (default: not checked).",
)
@click.option(
    "--no-golden",
    "no_golden",
    is_flag=True,
    help="Do not compare the audits' outputs with tflite-micro (the verdict: not checked).",
)
def report(
    build_dir: Path,
    device_key: Path | None,
    output: Path,
    rate: str,
    endurance: str | None,
    mcu: str | None,
    flash: str | None,
    cpi: float | None,
    kernels: str,
    inferences: int,
    timeout: float,
    target_years: float,
    max_latency_ratio: float | None,
    max_energy_uj: float | None,
    no_golden: bool,
) -> None:
    """One self-contained HTML page of a build, for sign-off.

    Runs the energy audit and the wear audit of BUILD_DIR (an `ooc build`
    output; both need --device-key), compares their runs' outputs with
    tflite-micro's and writes -o FILE.html. Its first screen gives the
    verdicts, each PASS, FAIL or NOT CHECKED (a limit not given, tflite-micro
    not installed) with its number: fits the SRAM budget, bit-exact against
    tflite-micro, latency ratio (and the latency against the time between
    inferences at --rate), energy per inference (against --max-energy-uj),
    flash lifetime at --rate against --target-years with the scratch size or
    rate that meets it. Then the plots (SRAM over the schedule, energy per
    layer, erases per scratch sector) and, folded, the build's facts, its plan
    with every step, the energy and wear audits, and every profile value and
    assumption with its source. The plots are PNGs inside the page (data
    URIs): no network, no script. The verdicts are also printed; progress
    goes to stderr (docs/audit.md, "Report").
    """
    from ooc_sdk.audit.report import collect, render_html
    from ooc_sdk.audit.verdicts import Limits, judge
    from ooc_sdk.fileio import write_atomic
    from ooc_sdk.image.keys import read_key_file

    if not output.parent.is_dir():  # before minutes of emulation, not after
        raise InvalidArgumentError(f"cannot write {output}: no directory {output.parent}")
    device = read_key_file(device_key) if device_key is not None else None
    limits = Limits(target_years, max_latency_ratio, max_energy_uj)
    data = collect(
        build_dir, device, mcu=mcu, flash=flash, rate=rate, endurance=endurance, cpi=cpi,
        kernels=kernels, inferences=inferences, timeout=timeout, limits=limits,
        golden=not no_golden, progress=lambda msg: click.echo(f"  {msg}", err=True),
    )  # fmt: skip
    write_atomic(output, render_html(data))
    click.echo(f"report: {output}")
    for v in judge(data):
        click.echo(f"  {v.status.upper():<11} {v.title}: {v.value}")
