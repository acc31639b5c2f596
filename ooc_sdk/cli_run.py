"""``ooc run``: a model or an out-of-core build on this host or on the emulated Cortex-M4
(ooc_sdk/cli.py imports this module to register the command on its group)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from ooc_sdk.cli import (
    _EXISTING_FILE,
    INT,
    SIZE,
    _check_channel_split,
    _describe,
    _echo_outputs,
    _emit_json,
    _fusion_options,
    _io_options,
    _load_inputs,
    _save_outputs,
    cli,
)
from ooc_sdk.errors import InvalidArgumentError


def _build_dir_run(
    target: Path, device_key: Path | None, inputs: tuple[Path, ...], seed: int
) -> tuple[dict[str, Any], Any, Any, list[np.ndarray]]:
    """What running a build directory needs: build.json, the model, the device key, a sample."""
    from ooc_sdk.build.directory import load_build
    from ooc_sdk.image.keys import read_key_file
    from ooc_sdk.model import load_model
    from ooc_sdk.model.inputs import random_inputs

    info = load_build(target)
    if device_key is None:
        raise InvalidArgumentError(
            f"{target} is a build directory: give --device-key (the key file its image was "
            "wrapped for)"
        )
    graph = load_model(target / info["model"]["file"])
    return (
        info,
        graph,
        read_key_file(device_key),
        _load_inputs(inputs) or random_inputs(graph, seed),
    )


def _fusion_plan(
    graph: Any,
    fuse: bool,
    max_mac_overhead: float | None,
    sram: int | None,
    channel_split: str = "auto",
) -> Any:
    """The fused plan `ooc run MODEL --fuse/--max-mac-overhead [--sram]` asks for, or None."""
    _check_channel_split(channel_split, fuse or max_mac_overhead is not None)
    if not fuse and max_mac_overhead is None:
        if sram is not None:
            raise click.UsageError("--sram needs --fuse (ooc build plans out-of-core budgets)")
        return None
    from ooc_sdk.plan.fusion.search import plan_fusion

    return plan_fusion(
        graph, sram=sram, max_mac_overhead=max_mac_overhead, channel_split=channel_split
    )


def _fusion_line(rep: dict[str, Any], where: str) -> str:
    return (
        f"  fused schedule: working SRAM {rep['working_high_water_bytes']:,} B measured {where} "
        f"(planned {rep['plan_working_sram_bytes']:,} B; per layer the arena is "
        f"{rep['per_layer_arena_bytes']:,} B), MACs {rep['mac_overhead']:.3f} x the model's"
    )


@cli.command()
@click.argument("target", metavar="MODEL|BUILD_DIR", type=click.Path(exists=True, path_type=Path))
@_io_options
@click.option(
    "--device-key",
    type=_EXISTING_FILE,
    default=None,
    help="BUILD_DIR only: the device key file the build's image was wrapped for.",
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
@_fusion_options
@click.option(
    "--sram",
    type=SIZE,
    default=None,
    help="MODEL with --fuse: the working SRAM budget (e.g. 16KiB) the fused schedule must fit.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def run(
    target: Path,
    inputs: tuple[Path, ...],
    seed: int,
    output: Path | None,
    device_key: Path | None,
    repeat: int,
    sync_reads: bool,
    platform: str,
    kernels: str,
    timeout: float,
    max_mac_overhead: float | None,
    fuse: bool,
    channel_split: str,
    sram: int | None,
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
        during the invoke. The arena is painted before each sample and the
        highest byte the runtime changed below the outputs is the measured
        working SRAM. On qemu-m4 the firmware links into that arena + runtime
        state + the planned 4 KiB stack (the link fails if they do not fit).
        JSON keys added: schedule, working_high_water_bytes (measured),
        plan_working_sram_bytes, per_layer_arena_bytes, mac_overhead; on
        qemu-m4 also blocks (per block: ops, fused, strips, macs,
        instructions) and input_reader_calls.

    Compiles with $CC (default cc) or arm-none-eabi-gcc; binaries are cached
    by content hash under $OOC_CACHE_DIR.
    """

    from ooc_sdk.model import load_model
    from ooc_sdk.model.inputs import random_inputs

    if repeat < 1:
        raise InvalidArgumentError("--repeat must be at least 1")
    if target.is_dir() and (
        fuse or max_mac_overhead is not None or sram is not None or channel_split != "auto"
    ):
        raise InvalidArgumentError(
            "--fuse, --max-mac-overhead, --channel-split and --sram apply to a MODEL (a build "
            "directory runs its out-of-core plan)"
        )
    if platform == "qemu-m4":
        if sync_reads or repeat != 1:
            raise InvalidArgumentError("--sync-reads and --repeat apply to --target host")
        run_m4(
            target, inputs, seed, output, device_key, kernels, timeout, as_json,
            (fuse, max_mac_overhead, sram, channel_split),
        )  # fmt: skip
        return
    if target.is_dir():
        from ooc_sdk.run.host import run_build

        info, graph, device, sample = _build_dir_run(target, device_key, inputs, seed)
        result = run_build(target, graph, device, [sample], sync_reads=sync_reads)
        outs = result.outputs[0]
        _save_outputs(output, outs)
        plan_info = json.loads((target / "plan.json").read_text())
        rep = result.report
        info_out = {
            "sram_high_water_bytes": rep["sram_high_water_bytes"],
            "plan_sram_bytes": plan_info["sram_bytes"],
            "arena_high_water_bytes": rep["arena_high_water_bytes"],
            "stack_high_water_bytes": rep["stack_high_water_bytes"],
            "state_bytes": rep["state_bytes"],
            "flash_read_bytes": rep["flash_read_bytes"],
            "flash_read_commands": rep["flash_read_commands"],
            "flash_program_bytes": rep["flash_program_bytes"],
            "erases": rep["erases"],
            "flash_read_busy_s": rep["flash_read_busy_s"],
            "plan_flash_read_bytes": plan_info["flash_read_bytes_per_inference"],
            "weight_bytes": plan_info["weight_bytes"],
            "estimated_latency_s": plan_info["estimated_latency_s"],
            "async_reads": rep["async_reads"],
            "outputs": _describe(outs),
        }
        if as_json:
            _emit_json(info_out)
            return
        click.echo(
            f"ooc out-of-core run ({info['model']['name']}, weights from {target}/flash.bin): "
            f"SRAM high-water {rep['sram_high_water_bytes']:,} of {plan_info['sram_bytes']:,} "
            f"planned bytes; flash read {rep['flash_read_bytes']:,} bytes in "
            f"{rep['flash_read_commands']} commands ({plan_info['weight_bytes']:,} weight bytes); "
            + (
                f"spills programmed {rep['flash_program_bytes']:,} bytes in {rep['page_programs']} "
                f"page programs and {rep['erases']} erases; "
                if rep.get("flash_program_bytes")
                else ""
            )
            + f"estimated latency {plan_info['estimated_latency_s'] * 1e3:.2f} ms on {plan_info['mcu']}"
        )
        _echo_outputs(outs, info_out["outputs"])
        return
    from ooc_sdk.run.host import run_host

    if device_key is not None or sync_reads:
        raise InvalidArgumentError("--device-key and --sync-reads apply to a build directory")
    graph = load_model(target)
    fusion = _fusion_plan(graph, fuse, max_mac_overhead, sram, channel_split)
    sample = _load_inputs(inputs) or random_inputs(graph, seed)
    result = run_host(graph, [sample], repeat=repeat, fusion=fusion)
    outs = result.outputs[0]
    _save_outputs(output, outs)
    info: dict[str, Any] = {
        "arena_bytes": result.arena_bytes,
        "invoke_seconds": result.invoke_seconds[0],
    }
    if fusion is not None:
        info.update(
            {
                "schedule": "fused",
                "working_high_water_bytes": result.working_high_water_bytes,
                "plan_working_sram_bytes": fusion.working_sram_bytes,
                "per_layer_arena_bytes": fusion.per_layer_arena_bytes,
                "mac_overhead": round(fusion.mac_overhead, 4),
            }
        )
    info["outputs"] = _describe(outs)
    if as_json:
        _emit_json(info)
        return
    click.echo(
        f"ooc host runtime: arena {result.arena_bytes:,} bytes, invoke {result.invoke_seconds[0] * 1e3:.3f} ms"
    )
    if fusion is not None:
        click.echo(_fusion_line(info, "on this host"))
    _echo_outputs(outs, info["outputs"])


def run_m4(
    target: Path,
    inputs: tuple[Path, ...],
    seed: int,
    output: Path | None,
    device_key: Path | None,
    kernels: str,
    timeout: float,
    as_json: bool,
    fusion_options: tuple[bool, float | None, int | None] = (False, None, None),
) -> None:
    """Run a model (in-core, per layer or fused) or a build directory (out-of-core) on the
    emulated Cortex-M4."""
    from ooc_sdk.model import load_model
    from ooc_sdk.model.inputs import random_inputs
    from ooc_sdk.run.qemu import run_build_m4, run_model_m4

    if not as_json:
        click.echo("  building the Cortex-M4 firmware and running it under QEMU", err=True)
    if target.is_dir():
        _, graph, device, sample = _build_dir_run(target, device_key, inputs, seed)
        result = run_build_m4(target, graph, device, [sample], kernels=kernels, timeout=timeout)
    else:
        if device_key is not None:
            raise InvalidArgumentError("--device-key applies to a build directory")
        graph = load_model(target)
        fusion = _fusion_plan(graph, *fusion_options)
        sample = _load_inputs(inputs) or random_inputs(graph, seed)
        result = run_model_m4(graph, [sample], kernels=kernels, timeout=timeout, fusion=fusion)
    outs = result.outputs[0]
    _save_outputs(output, outs)
    rep = dict(result.report)
    rep["outputs"] = _describe(outs)
    if as_json:
        _emit_json(rep)
        return
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
        _echo_outputs(outs, rep["outputs"])
        return
    click.echo(f"  {'layer':>5}  {'op':<24} {'instructions':>14} {'crypto':>12}  share")
    for layer in rep["layers"]:
        click.echo(
            f"  {layer['index']:>5}  {layer['op']:<24} {layer['instructions']:>14,} "
            f"{layer['crypto_instructions']:>12,}  {100 * layer['instructions'] / total:5.1f}%"
        )
    _echo_outputs(outs, rep["outputs"])
