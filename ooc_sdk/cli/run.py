"""``ooc run``: a model or an out-of-core build on this host or on the emulated Cortex-M4 (the
run itself is :func:`ooc_sdk.run.target.run_target`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ooc_sdk.cli.options import (
    EXISTING_FILE,
    INT,
    approx_option,
    check_budgets,
    check_channel_split,
    command,
    describe,
    echo_outputs,
    emit_json,
    fusion_options,
    in_core_budget_options,
    io_options,
    load_inputs,
    save_outputs,
)


@command()
@click.argument("target", metavar="MODEL|BUILD_DIR", type=click.Path(exists=True, path_type=Path))
@io_options
@click.option(
    "--device-key",
    type=EXISTING_FILE,
    default=None,
    help="BUILD_DIR only: the device key file the build's image was wrapped for.",
)
@click.option(
    "--model",
    type=EXISTING_FILE,
    default=None,
    help="BUILD_DIR only: the .tflite the build was made from, when it is no longer where "
    "build.json says (the build holds no copy; its sha256 must match).",
)
@click.option(
    "--repeat",
    type=INT,
    default=1,
    show_default=True,
    help="MODEL only: invoke this many times and report the median time.",
)
@click.option(
    "--sync-reads",
    is_flag=True,
    help="BUILD_DIR only: a port without asynchronous (DMA) reads: no prefetch.",
)
@click.option(
    "--target",
    "platform",
    type=click.Choice(["host", "qemu-m4"]),
    default="host",
    show_default=True,
    help="Where to run: this host, or an emulated Cortex-M4 (QEMU mps2-an386).",
)
@click.option(
    "--kernels",
    type=click.Choice(["dsp", "ref"]),
    default="dsp",
    show_default=True,
    help="qemu-m4: the Cortex-M DSP-extension kernels (SMLAD) or the portable reference ones.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=900.0,
    show_default=True,
    help="qemu-m4: stop the emulator after this many seconds and report an error.",
)
@fusion_options
@in_core_budget_options
@approx_option("the model (not a build directory, which records its own)")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def run(
    target: Path,
    inputs: tuple[Path, ...],
    seed: int,
    output: Path | None,
    device_key: Path | None,
    model: Path | None,
    repeat: int,
    sync_reads: bool,
    platform: str,
    kernels: str,
    timeout: float,
    max_mac_overhead: float | None,
    fuse: bool,
    channel_split: str,
    sram: int | None,
    working_sram: int | None,
    approx_config: Path | None,
    as_json: bool,
) -> None:
    """Run a model, or an out-of-core build, with the ooc C runtime on this host
    or on an emulated Cortex-M4.

    \b
    ooc run MODEL.tflite       in-core: the C tables with every weight in them.
        JSON keys: arena_bytes, invoke_seconds, outputs (shape, dtype, sha256).
    ooc run BUILD_DIR/ --device-key KEY
        out-of-core, as the device runs it: the image is mounted from the emulated
        NOR flash (BUILD_DIR/flash.bin) with the device key; every weight chunk is
        read, verified and decrypted into a slot, the next prefetched through the
        emulator's asynchronous reads. JSON keys: sram_high_water_bytes (arena
        written + runtime state + stack measured by painting), plan_sram_bytes,
        flash_read_bytes, flash_read_commands, flash_program_bytes, erases (per
        inference, from the emulator's counters), estimated_latency_s (the plan's
        estimate for its flash and MCU profiles), outputs.

    \b
    ooc run MODEL|BUILD_DIR --target qemu-m4 [--kernels dsp|ref]
        builds firmware with arm-none-eabi-gcc and runs it on QEMU's
        mps2-an386 (Cortex-M4F) with deterministic instruction counting
        (-icount shift=0; resolution 40 instructions). A build directory runs
        in its planned SRAM (the link fails if it does not fit), its weights
        read from BUILD_DIR/flash.bin through semihosting. JSON keys:
        instructions, crypto_instructions (tag checks and decryption),
        instructions_per_mac, layers (per operator: op, instructions,
        crypto_instructions, steps), text_bytes, rodata_bytes, data_bytes,
        bss_bytes, stack_high_water_bytes, sram_high_water_bytes,
        sram_budget_bytes, flash_read_bytes, outputs.

    \b
    ooc run MODEL [--target qemu-m4] --max-mac-overhead K | --fuse [--sram B]
        in-core with a fused schedule (ooc plan --help): the arena holds only
        the working SRAM and the outputs, a streamed input is read row by row
        during the invoke. --sram B bounds the whole SRAM (that arena +
        runtime state + stack), --working-sram B the working SRAM alone. The
        arena is painted before each sample and the highest byte the runtime
        changed below the outputs is the measured working SRAM. On qemu-m4 the
        firmware links into that arena + runtime state + the planned 4 KiB
        stack (the link fails if they do not fit). JSON keys added: schedule,
        working_high_water_bytes (measured), plan_sram_bytes (arena + state +
        stack), plan_working_sram_bytes, per_layer_arena_bytes, mac_overhead;
        on qemu-m4 also blocks (per block: ops, fused, strips, macs,
        instructions) and input_reader_calls.

    Compiles with $CC (default cc) or arm-none-eabi-gcc; binaries are cached
    by content hash under $OOC_CACHE_DIR.
    """

    from ooc_sdk.image.keys import read_key_file
    from ooc_sdk.run.target import run_target

    check_budgets(sram, working_sram)
    if not target.is_dir():  # a build directory: run_target refuses every fusion option
        check_channel_split(channel_split, fuse or max_mac_overhead is not None)
    device = read_key_file(device_key) if device_key is not None else None
    r = run_target(
        target, device=device, inputs=load_inputs(inputs), seed=seed, platform=platform,
        repeat=repeat, sync_reads=sync_reads, kernels=kernels, timeout=timeout, fuse=fuse,
        max_mac_overhead=max_mac_overhead, sram=sram, working_sram=working_sram,
        channel_split=channel_split, model=model, approx=approx_config,
        progress=None if as_json else lambda msg: click.echo(f"  {msg}", err=True),
    )  # fmt: skip
    save_outputs(output, r.outputs)
    report = {**r.report, "outputs": describe(r.outputs)}
    if as_json:
        emit_json(report)
    elif r.platform == "qemu-m4":
        _echo_m4(report, r.outputs)
    elif r.out_of_core:
        _echo_build(r.model, target, report, r.runner, r.plan or {})
        echo_outputs(r.outputs, report["outputs"])
    else:
        click.echo(
            f"ooc host runtime: arena {report['arena_bytes']:,} bytes, invoke "
            f"{report['invoke_seconds'] * 1e3:.3f} ms"
        )
        if r.fusion is not None:
            click.echo(_fusion_line(report, "on this host"))
        echo_outputs(r.outputs, report["outputs"])


def _fusion_line(rep: dict[str, Any], where: str) -> str:
    return (
        f"  fused schedule: working SRAM {rep['working_high_water_bytes']:,} B measured {where} "
        f"(planned {rep['plan_working_sram_bytes']:,} B, SRAM {rep['plan_sram_bytes']:,} B with "
        f"runtime state and stack; per layer the arena is {rep['per_layer_arena_bytes']:,} B), "
        f"MACs {rep['mac_overhead']:.3f} x the model's"
    )


def _echo_build(
    model: str, target: Path, report: dict[str, Any], rep: dict[str, Any], plan: dict[str, Any]
) -> None:
    click.echo(
        f"ooc out-of-core run ({model}, weights from {target}/flash.bin): "
        f"SRAM high-water {rep['sram_high_water_bytes']:,} of {plan['sram_bytes']:,} "
        f"planned bytes; flash read {rep['flash_read_bytes']:,} bytes in "
        f"{rep['flash_read_commands']} commands ({plan['weight_bytes']:,} weight bytes); "
        + (
            f"spills programmed {rep['flash_program_bytes']:,} bytes in {rep['page_programs']} "
            f"page programs and {rep['erases']} erases; "
            if rep.get("flash_program_bytes")
            else ""
        )
        + f"estimated latency {plan['estimated_latency_s'] * 1e3:.2f} ms on {plan['mcu']}"
    )


def _echo_m4(rep: dict[str, Any], outs: list[Any]) -> None:
    """A Cortex-M4 run as text: instructions, code and SRAM, then per block or per layer."""
    ipm = rep["instructions_per_mac"]
    click.echo(
        f"ooc on Cortex-M4 (QEMU mps2-an386, {rep['mode']}, {rep['kernels']} kernels): "
        f"{rep['instructions']:,} instructions per inference"
        + (f" ({rep['crypto_instructions']:,} in crypto)" if rep["crypto_instructions"] else "")
        + (f", {ipm:.2f} per MAC" if ipm is not None else "")
    )
    click.echo(
        f"  code {rep['text_bytes']:,} B text, {rep['rodata_bytes']:,} B constants; SRAM high-water "
        f"{rep['sram_high_water_bytes']:,} of {rep['sram_budget_bytes']:,} B (stack "
        f"{rep['stack_high_water_bytes']:,} B)"
        + (
            f"; flash read {rep['flash_read_bytes']:,} B in {rep['flash_read_commands']} commands"
            if rep["flash_read_commands"]
            else ""
        )
        + (
            f"; spills programmed {rep['flash_program_bytes']:,} B in {rep['page_programs']} page "
            f"programs and {rep['erases']} erases (boot {rep['spill_boot']})"
            if rep.get("flash_program_bytes")
            else ""
        )
    )
    total = max(rep["instructions"], 1)
    if rep.get("schedule") == "fused":
        click.echo(_fusion_line(rep, "on the M4"))
        click.echo(f"  {'ops':>9}  {'schedule':<20} {'MACs':>12} {'instructions':>14}  share")
        for b in rep["blocks"]:
            first, last = b["ops"]
            ops = f"{first}..{last - 1}" if last - first > 1 else str(first)
            how = (
                f"fused, {b['strips']} strip{'s' if b['strips'] > 1 else ''}"
                if b["fused"]
                else "whole"
            )
            click.echo(
                f"  {ops:>9}  {how:<20} {b['macs']:>12,} {b['instructions']:>14,}  "
                f"{100 * b['instructions'] / total:5.1f}%"
            )
        echo_outputs(outs, rep["outputs"])
        return
    click.echo(f"  {'layer':>5}  {'op':<24} {'instructions':>14} {'crypto':>12}  share")
    for layer in rep["layers"]:
        click.echo(
            f"  {layer['index']:>5}  {layer['op']:<24} {layer['instructions']:>14,} "
            f"{layer['crypto_instructions']:>12,}  {100 * layer['instructions'] / total:5.1f}%"
        )
    echo_outputs(outs, rep["outputs"])
