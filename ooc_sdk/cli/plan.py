"""``ooc plan`` and ``ooc codegen``: how a model runs in an SRAM budget, and its C sources."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ooc_sdk.cli.options import (
    EXISTING_FILE,
    SIZE,
    approx_option,
    check_budgets,
    check_channel_split,
    command,
    emit_json,
    fusion_options,
    in_core_budget_options,
    plan_options,
    restrict_options,
)

if TYPE_CHECKING:
    from ooc_sdk.model.ir import Graph
    from ooc_sdk.plan.fusion.layout import FusionPlan


@command("plan")
@plan_options
@fusion_options
@restrict_options
@click.option(
    "--in-core",
    "in_core_flag",
    is_flag=True,
    help="Plan for `ooc codegen`: the weights stay in the MCU's flash and only the activations "
    "are planned, fused (with --max-mac-overhead K: the least working SRAM within K x the MACs; "
    "with --sram or --working-sram: the fewest MACs that fit). Implied by --working-sram, and "
    "by --fuse, --max-mac-overhead or --plot without --sram.",
)
@click.option(
    "--working-sram",
    type=SIZE,
    default=None,
    help="In core: the working SRAM budget instead of --sram's whole SRAM.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a PNG of the fused schedule's working SRAM over its blocks, against per-layer "
    "execution and tflite-micro's arena.",
)
@click.option(
    "--out-of-core",
    "out_of_core",
    is_flag=True,
    help="Plan out of core even without --sram (the default whenever --sram is given).",
)
def plan_cmd(
    model: Path,
    sram: int | None,
    flash: str,
    mcu: str,
    verify: str,
    cipher: str,
    tag: str | None,
    dsp: bool | None,
    fuse: bool,
    max_mac_overhead: float | None,
    channel_split: str,
    no_fuse: bool,
    no_spill: bool,
    in_core_flag: bool,
    working_sram: int | None,
    as_json: bool,
    plot: Path | None,
    out_of_core: bool,
) -> None:
    """Plan how MODEL runs in --sram bytes, without building.

    --sram is the whole SRAM on every command: everything the runtime holds
    (activations, chunk slots out of core, runtime state and stack).

    \b
    Out of core (default), as `ooc build` plans: the weights are paged from
    flash through chunk slots (two: the next step's weights are read while one
    computes; a layer whose weights exceed a slot is split along its output
    channels). One planner picks the fastest plan within --sram: layer by
    layer when that fits (nothing is recomputed), else fused blocks of layers
    run row by row in column strips (each intermediate tensor in a ring of the
    rows still needed; a 1x1 expansion, depthwise and 1x1 projection may run
    channel-split, never holding the expanded tensor; a block's weights stay in
    the slot while its rows compute, or are re-streamed per row), and, when
    nothing else fits, activations spilled to the flash's scratch ring. The
    summary says which techniques it used and why. --no-fuse, --no-spill,
    --max-mac-overhead K and --channel-split off restrict the search; --fuse
    always fuses. A budget below the minimum is an error naming the smallest
    feasible budget (and, fused, the layer that sets it). JSON keys:
    sram_bytes, activation_bytes, slot_bytes, slots, state_bytes, stack_bytes,
    flash_read_bytes_per_inference, weight_bytes, estimated_latency_s,
    latency_ratio (and without prefetch, with software AES), spill, fused,
    techniques, schedule (per step: op, channels, chunks, fetch_bytes, macs).

    \b
    In core (--in-core), as `ooc codegen` plans: the weights stay in the MCU's
    flash; the activations follow a fused schedule. With --max-mac-overhead K:
    the smallest working SRAM within K x the model's MACs; with --sram BYTES:
    the fewest MACs whose arena (working SRAM and outputs) + runtime state +
    stack fits; with --working-sram BYTES: the fewest MACs whose working SRAM
    (everything the runtime holds but a streamed input, the outputs, its state
    and stack) fits. JSON keys: sram_bytes (whole), working_sram_bytes,
    arena_bytes, state_bytes, stack_bytes, mac_overhead, blocks (ops, fused,
    strips, rings, channel_split, sram_bytes), timeline,
    per_layer_working_sram_bytes.
    """
    from ooc_sdk.model import load_model

    check_budgets(sram, working_sram)
    in_core = in_core_flag or working_sram is not None or (
        sram is None and not out_of_core and (fuse or max_mac_overhead is not None or plot is not None)
    )  # fmt: skip
    if in_core and out_of_core:
        raise click.UsageError("give --in-core or --out-of-core (--working-sram is in core)")
    if fuse and no_fuse:
        raise click.UsageError("give --fuse or --no-fuse, not both")
    if in_core and (no_fuse or no_spill):
        raise click.UsageError("--no-fuse and --no-spill restrict the out-of-core planner")
    if no_fuse and max_mac_overhead is not None:
        raise click.UsageError("--max-mac-overhead bounds fused schedules: not with --no-fuse")
    check_channel_split(channel_split, not no_fuse, "fusion (not with --no-fuse)")
    graph = load_model(model)
    if in_core:
        _plan_in_core(graph, model, sram, working_sram, max_mac_overhead, channel_split, as_json,
                      plot)  # fmt: skip
        return
    from ooc_sdk.plan.planner import plan_any
    from ooc_sdk.plan.request import PlanRequest
    from ooc_sdk.plan.summary import plan_lines
    from ooc_sdk.targets import load_flash, load_mcu

    request = PlanRequest(
        sram, load_flash(flash), load_mcu(mcu), cipher=cipher, tag=tag, verify=verify,
        kernels=None if dsp is None else "dsp" if dsp else "ref", fuse=fuse, channel_split=channel_split,
        spill=not no_spill, max_mac_overhead=max_mac_overhead,
    )  # fmt: skip
    p = plan_any(graph, request, auto_fuse=not no_fuse)
    if plot is not None:
        if p.fusion is None:
            raise click.UsageError("--plot draws a fused schedule; this plan runs layer by layer")
        _plot(p.fusion, model, plot)
    if as_json:
        emit_json(p.to_json())
        return
    click.echo(f"plan for {p.graph.name}:")
    for line in plan_lines(p):
        click.echo(f"  {line}")
    if plot is not None:
        click.echo(f"  plot: {plot}")


def _plan_in_core(
    graph: Graph,
    model: Path,
    sram: int | None,
    working_sram: int | None,
    max_mac_overhead: float | None,
    channel_split: str,
    as_json: bool,
    plot: Path | None,
) -> None:
    """``ooc plan --in-core``: the fused activation schedule `ooc codegen` would use."""
    from ooc_sdk.plan.budget import in_core_json, plan_in_core
    from ooc_sdk.plan.summary import fusion_lines

    fp = plan_in_core(
        graph, fuse=True, max_mac_overhead=max_mac_overhead, sram=sram,
        working_sram=working_sram, channel_split=channel_split,
    )  # fmt: skip
    assert fp is not None
    if plot is not None:
        _plot(fp, model, plot)
    if as_json:
        emit_json(in_core_json(fp, sram))
        return
    click.echo(f"fused plan for {fp.graph.name}:")
    for line in fusion_lines(fp, sram):
        click.echo(f"  {line}")
    if plot is not None:
        click.echo(f"  plot: {plot}")


def _plot(fp: FusionPlan, model: Path, path: Path) -> None:
    from ooc_sdk.plan.plot import plot_fusion
    from ooc_sdk.run.golden import run_tflm

    plot_fusion(fp, path, run_tflm(model).arena_head_bytes)


@command()
@click.argument("model", type=EXISTING_FILE)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the C sources and build files into (new or empty; see --force).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace OUT even though it is not empty (written beside it, swapped in when complete).",
)
@click.option(
    "--name", default=None, help="C identifier of the model (default: from the file name)."
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@fusion_options
@in_core_budget_options
@approx_option("the tables' kernels")
def codegen(
    model: Path,
    out_dir: Path,
    force: bool,
    name: str | None,
    as_json: bool,
    max_mac_overhead: float | None,
    fuse: bool,
    channel_split: str,
    sram: int | None,
    working_sram: int | None,
    approx_config: Path | None,
) -> None:
    """Emit the C sources a firmware project adds to run MODEL.

    Writes ooc_model_<name>.c/.h (const tables: operators, kernel parameters
    computed ahead of time, the activation memory plan, weights), the runtime
    sources under ooc_runtime/, a CMakeLists.txt (library target ooc_<name>)
    and ooc.mk (a Makefile fragment: OOC_SRCS, OOC_INCLUDES). The header
    defines OOC_MODEL_<NAME>_ARENA_BYTES, the arena ooc_init() needs. The code
    is C99 and builds warning-free with -Wall -Wextra -pedantic -Werror.

    With --fuse or --max-mac-overhead the tables carry a fused schedule (ooc
    plan --help): the arena shrinks to the working SRAM plus the outputs
    (OOC_MODEL_<NAME>_WORKING_BYTES), and a streamed input is read during
    ooc_invoke() through cfg.read_input or from the ooc_set_input() buffer.
    --sram bounds the whole SRAM (that arena + runtime state + stack),
    --working-sram the working SRAM alone. JSON keys: arena_bytes, sram_bytes
    (arena + runtime state + stack), working_sram_bytes (fused), mac_overhead.
    """
    from ooc_sdk.codegen.emit import write_codegen
    from ooc_sdk.fileio import check_out_dir, replace_dir
    from ooc_sdk.model import load_model
    from ooc_sdk.plan.budget import in_core_sram_bytes, plan_in_core

    check_out_dir(out_dir, force)
    check_budgets(sram, working_sram)
    check_channel_split(channel_split, fuse or max_mac_overhead is not None)
    graph = load_model(model)
    if approx_config is not None:
        from ooc_sdk.lower.skip import approximate_file

        graph = approximate_file(graph, approx_config)
    fusion = plan_in_core(
        graph, fuse=fuse, max_mac_overhead=max_mac_overhead, sram=sram,
        working_sram=working_sram, channel_split=channel_split,
    )  # fmt: skip
    with replace_dir(out_dir, force) as tmp:
        gen = write_codegen(graph, tmp, name, fusion=fusion)
    gen = gen.moved_to(out_dir)
    whole = in_core_sram_bytes(gen.arena_bytes)
    info = {
        "name": gen.name,
        "directory": str(gen.directory),
        "model_c": str(gen.model_c),
        "model_h": str(gen.model_h),
        "arena_bytes": gen.arena_bytes,
        "sram_bytes": whole,
        "plan_strategy": gen.plan.strategy,
        "working_sram_bytes": fusion.working_sram_bytes if fusion else None,
        "mac_overhead": round(fusion.mac_overhead, 4) if fusion else 1.0,
        "runtime_sources": [str(s) for s in gen.runtime_sources],
        **({"approx": graph.approx.to_json()} if graph.approx is not None else {}),
    }
    if as_json:
        emit_json(info)
        return
    working = f", working SRAM {fusion.working_sram_bytes:,}" if fusion else ""
    click.echo(
        f"wrote {gen.model_c.name}, {gen.model_h.name}, ooc_runtime/, CMakeLists.txt and ooc.mk "
        f"to {out_dir}; activation arena {gen.arena_bytes:,} bytes{working}; SRAM {whole:,} "
        "bytes with runtime state and stack"
    )
