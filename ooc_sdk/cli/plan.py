"""``ooc plan`` and ``ooc codegen``: how a model runs in an SRAM budget, and its C sources."""

from __future__ import annotations

from pathlib import Path

import click

from ooc_sdk.cli.options import (
    EXISTING_FILE,
    SIZE,
    check_budgets,
    check_channel_split,
    command,
    emit_json,
    fusion_options,
    in_core_budget_options,
    plan_options,
)


@command("plan")
@plan_options
@fusion_options
@click.option(
    "--working-sram",
    type=SIZE,
    default=None,
    help="In-core fused plans (--fuse): the working SRAM budget instead of --sram's whole SRAM.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --fuse / --max-mac-overhead: write a PNG of working SRAM over the schedule, "
    "against per-layer execution and tflite-micro's arena.",
)
@click.option(
    "--out-of-core",
    "out_of_core",
    is_flag=True,
    help="With --fuse: plan as `ooc build --fuse` does, the weights paged from flash (--sram: "
    "fused activations, chunk slots, state and stack).",
)
def plan_cmd(
    model: Path,
    sram: int | None,
    flash: str,
    mcu: str,
    verify: str,
    cipher: str,
    tag: str,
    dsp: bool,
    fuse: bool,
    max_mac_overhead: float | None,
    channel_split: str,
    working_sram: int | None,
    as_json: bool,
    plot: Path | None,
    out_of_core: bool,
) -> None:
    """Plan how MODEL runs in --sram bytes, without building.

    --sram is the whole SRAM on every command: everything the runtime holds
    (activations, chunk slots out of core, runtime state and stack).

    \b
    In core, fused (--fuse or --max-mac-overhead K): fused blocks of layers run
    row by row, each intermediate tensor in a ring of the rows still needed,
    optionally in column strips that recompute their shared halo; the weights
    stay in the MCU's flash. With --max-mac-overhead K: the smallest working
    SRAM within K x the model's MACs; with --fuse --sram BYTES: the fewest MACs
    whose arena (working SRAM and outputs) + runtime state + stack fits; with
    --fuse --working-sram BYTES: the fewest MACs whose working SRAM
    (everything the runtime holds but a streamed input, the outputs, its state
    and stack) fits. A budget below the minimum is an error naming the minimum
    and the layer that sets it. JSON keys: sram_bytes (whole), working_sram_bytes,
    arena_bytes, state_bytes, stack_bytes, mac_overhead, blocks (ops, fused,
    strips, rings, channel_split, sram_bytes), timeline,
    per_layer_working_sram_bytes. Inside a fused block, a 1x1 expansion,
    depthwise and 1x1 projection may run channel-split (--channel-split): a
    group of expanded channels at a time into the projection's int32 sums, so
    the expanded tensor is never held.

    Out of core (default): plan how MODEL runs in --sram bytes with its weights in flash.
    With --fuse --out-of-core, as `ooc build --fuse`: fused activations too, each fused
    block's weights read into a slot once and kept there while its rows compute.

    The planner chooses the chunk slot size and count (two slots: the next
    step's weights are read while one computes), splits any layer whose weights
    exceed a slot along its output channels, and estimates latency from the
    flash and MCU profiles. A budget that cannot be met is an error stating the
    smallest feasible budget. JSON keys: sram_bytes, activation_bytes,
    slot_bytes, slots, state_bytes, stack_bytes, flash_read_bytes_per_inference,
    weight_bytes, estimated_latency_s, latency_ratio (and without prefetch, with
    software AES), schedule (per step: op, channels, chunks, fetch_bytes, macs).
    """
    from ooc_sdk.model import load_model
    from ooc_sdk.plan.summary import fusion_lines, plan_lines

    check_budgets(sram, working_sram)
    if out_of_core and (not fuse or max_mac_overhead is not None or plot is not None):
        raise click.UsageError(
            "--out-of-core goes with --fuse (and --sram), not the in-core options"
        )
    in_core = (fuse or max_mac_overhead is not None) and not out_of_core
    if working_sram is not None and not in_core:
        raise click.UsageError(
            "--working-sram goes with --fuse or --max-mac-overhead in core (out of core, --sram "
            "is the whole budget)"
        )
    check_channel_split(channel_split, fuse or max_mac_overhead is not None)
    if in_core:
        from ooc_sdk.plan.budget import in_core_json, plan_in_core

        fp = plan_in_core(
            load_model(model), fuse=True, max_mac_overhead=max_mac_overhead, sram=sram,
            working_sram=working_sram, channel_split=channel_split,
        )  # fmt: skip
        assert fp is not None
        if plot is not None:
            from ooc_sdk.plan.plot import plot_fusion
            from ooc_sdk.run.golden import run_tflm

            plot_fusion(fp, plot, run_tflm(model).arena_head_bytes)
        if as_json:
            emit_json(in_core_json(fp, sram))
            return
        click.echo(f"fused plan for {fp.graph.name}:")
        for line in fusion_lines(fp, sram):
            click.echo(f"  {line}")
        if plot is not None:
            click.echo(f"  plot: {plot}")
        return
    if plot is not None:
        raise click.UsageError("--plot draws a fused plan: add --fuse or --max-mac-overhead")
    from ooc_sdk.plan.planner import plan
    from ooc_sdk.plan.request import PlanRequest
    from ooc_sdk.targets import load_flash, load_mcu

    request = PlanRequest(
        sram, load_flash(flash), load_mcu(mcu), cipher=cipher, tag=tag, verify=verify,
        kernels="dsp" if dsp else "ref", fuse=out_of_core, channel_split=channel_split,
    )  # fmt: skip
    p = plan(load_model(model), request)
    if as_json:
        emit_json(p.to_json())
        return
    click.echo(f"plan for {p.graph.name}:")
    for line in plan_lines(p):
        click.echo(f"  {line}")


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
