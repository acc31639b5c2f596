"""``ooc plan`` and ``ooc build``: the out-of-core commands of the ``ooc`` CLI (ooc_sdk/cli.py
imports this module to register them on its group)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from ooc_sdk.cli import (
    _CIPHERS,
    _EXISTING_FILE,
    _TAGS,
    SIZE,
    _channel_split_option,
    _check_channel_split,
    _cipher_option,
    _emit_json,
    _flash_help,
    _flash_offset_option,
    _fusion_options,
    _security_counter_option,
    _tag_option,
    cli,
)
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.units import format_size


def _mcu_help() -> str:
    from ooc_sdk.targets import mcu_profiles

    return (
        f"MCU profile: {', '.join(mcu_profiles())}, or a JSON file (a full profile, or "
        '{"base": NAME, ...} overriding some keys).'
    )


def _plan_options(f: Any) -> Any:
    """Options `ooc plan` and `ooc build` share."""
    opts = [
        click.option(
            "--sram",
            type=SIZE,
            default=None,
            help="SRAM budget for the arena, chunk slots, runtime state and stack (e.g. 64KiB); "
            "default: no limit. With `ooc plan --fuse`: the fused schedule's working SRAM.",
        ),
        click.option(
            "--flash", "flash", default="w25q128jv", show_default=True, help=_flash_help()
        ),
        click.option("--mcu", default="cortex-m4", show_default=True, help=_mcu_help()),
        click.option(
            "--verify",
            type=click.Choice(["every-read", "boot"]),
            default="every-read",
            show_default=True,
            help="When weight tags are checked: at every read (an attacker who rewrites flash at "
            "run time) or once at boot (flash trusted after boot); docs/DESIGN.md.",
        ),
        _cipher_option,
        _tag_option,
        click.option(
            "--dsp-kernels",
            "dsp",
            is_flag=True,
            help="Estimate latency with the MCU's DSP/SIMD kernel speed (cycles_per_mac_dsp).",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return click.argument("model", type=_EXISTING_FILE)(f)


def _make_plan(
    model: Path,
    sram: int | None,
    flash: str,
    mcu: str,
    verify: str,
    cipher: str,
    tag: str,
    dsp: bool,
    fuse: bool = False,
    channel_split: str = "auto",
) -> Any:
    from ooc_sdk.model import load_model
    from ooc_sdk.plan.latency import Crypto
    from ooc_sdk.plan.planner import plan
    from ooc_sdk.targets import load_flash, load_mcu

    crypto = Crypto.for_image(_CIPHERS[cipher], _TAGS[tag])
    return plan(
        load_model(model),
        sram,
        load_flash(flash),
        load_mcu(mcu),
        crypto=crypto,
        verify=verify,
        dsp=dsp,
        fuse=fuse,
        channel_split=channel_split,
    )


def _plan_summary(p: Any) -> list[str]:
    j = p.to_json()
    split = len(j["split_ops"])
    lines = [
        f"SRAM {j['sram_bytes']:,} bytes ({format_size(j['sram_bytes'])})"
        + (f" of a {format_size(j['budget_bytes'])} budget" if j["budget_bytes"] else "")
        + f": activations {j['activation_bytes']:,} + {j['slots']} chunk slot"
        + ("s" if j["slots"] > 1 else "")
        + f" x {j['slot_bytes']:,} + runtime state {j['state_bytes']:,} + stack {j['stack_bytes']:,}",
        f"schedule: {j['steps']} steps over {len(p.graph.operators)} operators"
        + (f" ({split} split along output channels)" if split else "")
        + f", {j['chunks']} chunks",
        f"flash per inference: {j['flash_read_bytes_per_inference']:,} bytes read "
        f"({j['weight_bytes']:,} weights + {j['tag_overhead_bytes_per_inference']:,} table "
        f"entries and alignment) in {j['flash_read_commands_per_inference']} read commands",
        f"estimated latency on {j['mcu']} + {j['flash']}: {j['estimated_latency_s'] * 1e3:.3f} ms "
        f"= {j['latency_ratio']:.3f} x all-weights-in-SRAM "
        f"(this schedule with prefetch: {j['latency_ratio_prefetch']:.3f} x, "
        f"without: {j['latency_ratio_no_prefetch']:.3f} x"
        + (
            f", prefetch with software AES: {j['latency_ratio_software_aes']:.3f} x"
            if "latency_ratio_software_aes" in j
            else ""
        )
        + ")",
    ]
    if j.get("spill"):
        sp = j["spill"]
        days = sp["lifetime_inferences"] / 86400
        lines.insert(
            3,
            f"activation spill: {len(sp['tensors'])} tensor"
            + ("s" if len(sp["tensors"]) > 1 else "")
            + f" to the flash scratch ring, {sp['records_per_inference']} records: "
            f"{sp['flash_program_bytes_per_inference']:,.0f} bytes programmed and "
            f"{sp['erases_per_inference']:.2f} sector erases per inference (worst "
            f"{sp['worst_case']['flash_program_bytes']:,} / {sp['worst_case']['erases']}), "
            f"{sp['read_back_bytes_per_inference']:,} bytes read back; scratch "
            f"{format_size(sp['scratch_bytes'])} lasts {sp['lifetime_inferences']:,.0f} "
            f"inferences ({days:,.1f} days at 1 inference/s)",
        )
    if j.get("fused"):
        f = j["fused"]
        lines.insert(
            1,
            f"fused activations: {f['blocks']} fused blocks (weights resident in the slot while "
            f"their rows compute), working SRAM {f['working_sram_bytes']:,} vs "
            f"{f['per_layer_working_sram_bytes']:,} per layer, MACs {f['mac_overhead']:.3f} x",
        )
    return lines


def fusion_summary(fp: Any) -> list[str]:
    j = fp.to_json()
    fused = [b for b in j["blocks"] if b["fused"]]
    lines = [
        f"working SRAM {j['working_sram_bytes']:,} bytes ({format_size(j['working_sram_bytes'])})"
        f" vs {j['per_layer_working_sram_bytes']:,} per layer: {j['reduction']:.1f}x less; "
        f"arena {j['arena_bytes']:,} bytes with the outputs",
        f"MACs {j['macs']:,} = {j['mac_overhead']:.3f} x the model's; planned in "
        f"{j['search_seconds']:.1f} s"
        + (
            f"; input streamed through the reader: {j['streamed_inputs']}"
            if j["streamed_inputs"]
            else ""
        ),
        f"{len(fused)} fused blocks, {len(j['blocks']) - len(fused)} operators run whole:",
    ]
    for b in j["blocks"]:
        first, last = b["ops"]
        what = f"ops {first}..{last - 1}" if last - first > 1 else f"op {first}"
        kinds = ", ".join(dict.fromkeys(b["op_types"]))
        if b["fused"]:
            split = "".join(
                f", ops {c['ops'][0]}..{c['ops'][1] - 1} channel-split by {c['group']}"
                for c in b["channel_split"]
            )
            lines.append(
                f"  {what:>12}  fused, {b['strips']} strip{'s' if b['strips'] > 1 else ''}, "
                f"rings {b['ring_bytes']:,} B, live {b['sram_bytes']:,} B{split}  [{kinds}]"
            )
        else:
            lines.append(f"  {what:>12}  whole, live {b['sram_bytes']:,} B  [{kinds}]")
    return lines


@cli.command("plan")
@_plan_options
@_fusion_options
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
    help="With --fuse: plan as `ooc build --fuse` does, the weights paged from flash and --sram "
    "the whole SRAM (fused activations, slots, state and stack).",
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
    as_json: bool,
    plot: Path | None,
    out_of_core: bool,
) -> None:
    """Plan how MODEL runs in --sram bytes, without building.

    \b
    Activation memory (--fuse or --max-mac-overhead K): fused blocks of layers
    run row by row, each intermediate tensor in a ring of the rows still needed,
    optionally in column strips that recompute their shared halo. With
    --max-mac-overhead K: the smallest working SRAM within K x the model's MACs;
    with --fuse --sram BYTES: the fewest MACs whose working SRAM (everything the
    runtime holds but a streamed input and the outputs) fits. A budget below the
    minimum is an error naming the minimum and the layer that sets it. JSON keys:
    working_sram_bytes, mac_overhead, blocks (ops, fused, strips, rings,
    channel_split, sram_bytes), timeline, per_layer_working_sram_bytes.
    Inside a fused block, a 1x1 expansion, depthwise and 1x1 projection may run
    channel-split (--channel-split): a group of expanded channels at a time into
    the projection's int32 sums, so the expanded tensor is never held.

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
    if out_of_core and (not fuse or max_mac_overhead is not None or plot is not None):
        raise click.UsageError(
            "--out-of-core goes with --fuse (and --sram), not the in-core options"
        )
    _check_channel_split(channel_split, fuse or max_mac_overhead is not None)
    if (fuse or max_mac_overhead is not None) and not out_of_core:
        from ooc_sdk.model import load_model
        from ooc_sdk.plan.fusion.search import plan_fusion

        fp = plan_fusion(
            load_model(model),
            sram=sram,
            max_mac_overhead=max_mac_overhead,
            channel_split=channel_split,
        )
        if plot is not None:
            from ooc_sdk.plan.plot import plot_fusion
            from ooc_sdk.run.golden import run_tflm

            plot_fusion(fp, plot, run_tflm(model).arena_head_bytes)
        if as_json:
            _emit_json(fp.to_json())
            return
        click.echo(f"fused plan for {fp.graph.name}:")
        for line in fusion_summary(fp):
            click.echo(f"  {line}")
        if plot is not None:
            click.echo(f"  plot: {plot}")
        return
    if plot is not None:
        raise click.UsageError("--plot draws a fused plan: add --fuse or --max-mac-overhead")
    p = _make_plan(
        model, sram, flash, mcu, verify, cipher, tag, dsp, fuse=out_of_core,
        channel_split=channel_split,
    )  # fmt: skip
    if as_json:
        _emit_json(p.to_json())
        return
    click.echo(f"plan for {p.graph.name}:")
    for line in _plan_summary(p):
        click.echo(f"  {line}")


@cli.command("build")
@_plan_options
@click.option(
    "--device-key",
    type=_EXISTING_FILE,
    default=None,
    help="Device key file (ooc keygen): the image's content key is wrapped for this device. "
    "Without it: a batch image for `ooc provision run`, its content key sealed under the "
    "factory master key (--master-key).",
)
@click.option(
    "--master-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Batch builds: the factory master key file (mode 0600; ooc provision master-key), "
    "else the file named by $OOC_MASTER_KEY_FILE, else '-' reads it from stdin.",
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Build directory to write.",
)
@_flash_offset_option
@_security_counter_option
@click.option(
    "--fuse",
    is_flag=True,
    help="Fuse layers where it saves SRAM: activations follow a fused schedule (rows, rings, "
    "strips; see `ooc plan --help`) chosen together with the chunk slots; a fused block's "
    "weights are read once and stay in the slot while its rows compute, and the next step's "
    "are prefetched meanwhile. The fastest plan within --sram wins.",
)
@_channel_split_option(" With --fuse; a chain's weights stay resident in its block's slot.")
@click.option(
    "--scratch",
    type=SIZE,
    default=None,
    help="Size of the image's scratch partition, where a plan that spills activations keeps its "
    "wear-levelled ring (a multiple of the erase sector). Default: 32KiB, or one inference's "
    "spills if more. The ring's life grows with it: `ooc audit wear OUT/ --target-years Y` "
    "proposes the size for a lifetime.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the build summary as JSON.")
def build_cmd(
    model: Path,
    sram: int | None,
    flash: str,
    mcu: str,
    verify: str,
    cipher: str,
    tag: str,
    dsp: bool,
    device_key: Path | None,
    master_key: Path | None,
    out_dir: Path,
    flash_offset: int,
    security_counter: int,
    fuse: bool,
    channel_split: str,
    scratch: int | None,
    as_json: bool,
) -> None:
    """Build MODEL to run out of core: plan, encrypted image, C sources, emulated flash.

    \b
    OUT/image/   the flash image (image.bin, image.hex, manifest.json, keyslot.bin)
    OUT/c/       the firmware sources: paged model tables + the runtime
    OUT/plan.json, OUT/build.json, OUT/model.tflite
    OUT/flash.bin  the emulated NOR chip with the image written to it (for ooc run)

    Then `ooc run OUT/ --device-key KEY` runs it on this host with its weights
    only in the emulated flash. See `ooc plan --help` for the planner.

    Without --device-key the image is for a whole batch: its key slot is left
    erased, OUT/batch-key.bin (mode 0600) keeps the content key sealed under the
    factory master key, and `ooc provision run --image OUT/` personalises it per
    device (docs/provisioning.md). A batch build has no OUT/flash.bin.
    """
    from ooc_sdk.build import build
    from ooc_sdk.image.keys import read_key_file
    from ooc_sdk.image.keystore import open_keystore
    from ooc_sdk.model import load_model
    from ooc_sdk.targets import load_flash, load_mcu

    _check_channel_split(channel_split, fuse, "--fuse")
    if device_key is not None and master_key is not None:
        raise InvalidArgumentError("give --device-key (one device) or --master-key (a batch)")
    device = read_key_file(device_key) if device_key is not None else None
    keystore = open_keystore(master_key) if device is None else None
    graph = load_model(model)
    t0 = time.perf_counter()
    stages = {"planning": 1, "packing": 2, "generating": 3, "writing": 4}

    def progress(msg: str) -> None:
        if as_json:
            return
        n = stages.get(msg.split()[0])
        prefix = f"[{n}/4]" if n else "     "
        click.echo(f"{prefix} {msg} ({time.perf_counter() - t0:.1f} s)", err=True)

    result = build(
        graph,
        model.read_bytes(),
        out_dir,
        device,
        budget=sram,
        flash=load_flash(flash),
        mcu=load_mcu(mcu),
        verify=verify,
        cipher=_CIPHERS[cipher],
        tag_alg=_TAGS[tag],
        security_counter=security_counter,
        flash_offset=flash_offset,
        dsp=dsp,
        keystore=keystore,
        fuse=fuse,
        scratch_bytes=scratch,
        progress=progress,
        channel_split=channel_split,
    )
    if as_json:
        _emit_json({"build": result.info, "plan": result.plan.to_json()})
        return
    click.echo(f"built {graph.name} -> {out_dir}/ in {result.info['seconds']:.1f} s")
    for line in _plan_summary(result.plan):
        click.echo(f"  {line}")
    where = f"  image {result.info['image_bytes']:,} bytes at flash offset {flash_offset:#x}"
    if device is None:
        click.echo(
            f"{where} for a batch (master key id {result.info['batch']['master_key_id']}); "
            f"provision devices: ooc provision run --image {out_dir} --programmer qemu|file|pyocd"
        )
        return
    click.echo(
        f"{where} for device {device.uid.hex()}; run it: ooc run {out_dir} --device-key "
        f"{device_key}"
    )
