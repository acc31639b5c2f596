"""``ooc build``: a model built to run out of core (plan, encrypted image, C sources, emulated
flash) into a build directory."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ooc_sdk.cli.options import (
    EXISTING_FILE,
    SIZE,
    approx_option,
    channel_split_option,
    check_channel_split,
    command,
    emit_json,
    flash_offset_option,
    keystore_option,
    max_mac_overhead_option,
    plan_options,
    restrict_options,
    security_counter_option,
    signing_key_option,
)
from ooc_sdk.errors import InvalidArgumentError


@command("build")
@plan_options
@click.option(
    "--device-key",
    type=EXISTING_FILE,
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
@keystore_option
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Build directory to write (new or empty; see --force).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace OUT even though it is not empty. The build is written beside it and "
    "swapped in only when complete: a failed build leaves the old OUT whole.",
)
@flash_offset_option
@security_counter_option
@signing_key_option
@click.option(
    "--fuse",
    is_flag=True,
    help="Always fuse layers: activations follow a fused schedule (rows, rings, strips; see "
    "`ooc plan --help`) chosen together with the chunk slots; a fused block's weights are read "
    "once and stay in the slot while its rows compute, and the next step's are prefetched "
    "meanwhile. By default the build runs layer by layer when that fits --sram (the fastest, "
    "nothing is recomputed) and fuses only when it does not.",
)
@restrict_options
@max_mac_overhead_option
@channel_split_option(" A chain's weights stay resident in its block's slot.")
@click.option(
    "--scratch",
    type=SIZE,
    default=None,
    help="Size of the image's scratch partition, where a plan that spills activations keeps its "
    "wear-levelled ring (a multiple of the erase sector). Default: 32KiB, or one inference's "
    "spills if more. The ring's life grows with it: `ooc audit wear OUT/ --target-years Y` "
    "proposes the size for a lifetime.",
)
@approx_option("the build")
@click.option("--json", "as_json", is_flag=True, help="Print the build summary as JSON.")
def build_cmd(
    model: Path,
    sram: int | None,
    flash: str,
    mcu: str,
    verify: str,
    cipher: str,
    tag: str | None,
    dsp: bool | None,
    device_key: Path | None,
    master_key: Path | None,
    keystore: str | None,
    out_dir: Path,
    force: bool,
    flash_offset: int,
    security_counter: int,
    signing_key: Path | None,
    fuse: bool,
    no_fuse: bool,
    no_spill: bool,
    max_mac_overhead: float | None,
    channel_split: str,
    scratch: int | None,
    approx_config: Path | None,
    as_json: bool,
) -> None:
    """Build MODEL to run out of core: plan, encrypted image, C sources, emulated flash.

    \b
    OUT/image/   the flash image (image.bin, image.hex, manifest.json, keyslot.bin)
    OUT/c/       the firmware sources: paged model tables + the runtime
    OUT/plan.json, OUT/build.json (the model's sha256 and the file it was read from)
    OUT/flash.bin  the emulated NOR chip with the image written to it (for ooc run)

    OUT holds no copy of the model: its weights are there only encrypted. Tools
    that need the model (ooc run, ooc audit) read the file build.json names and
    check its sha256. OUT must be new or empty unless --force.

    Then `ooc run OUT/ --device-key KEY` runs it on this host with its weights
    only in the emulated flash. See `ooc plan --help` for the planner.

    Without --device-key the image is for a whole batch: its key slot is left
    erased, OUT/batch-key.bin (mode 0600) keeps the content key sealed under the
    factory master key, and `ooc provision run --image OUT/` personalises it per
    device (docs/provisioning.md). A batch build has no OUT/flash.bin.
    """
    from ooc_sdk.build import BuildRequest, build
    from ooc_sdk.fileio import MAX_MODEL_BYTES, check_out_dir, read_bytes
    from ooc_sdk.image.keys import read_key_file
    from ooc_sdk.image.keystore import open_keystore
    from ooc_sdk.image.signing import read_signing_key
    from ooc_sdk.model import load_model
    from ooc_sdk.plan.request import PlanRequest
    from ooc_sdk.plan.summary import plan_lines
    from ooc_sdk.targets import load_flash, load_mcu

    if fuse and no_fuse:
        raise InvalidArgumentError("give --fuse or --no-fuse, not both")
    if no_fuse and max_mac_overhead is not None:
        raise InvalidArgumentError("--max-mac-overhead bounds fused schedules: not with --no-fuse")
    check_channel_split(channel_split, not no_fuse, "fusion (not with --no-fuse)")
    check_out_dir(out_dir, force)  # before anything is read or planned
    if device_key is not None and (master_key is not None or keystore is not None):
        raise InvalidArgumentError(
            "give --device-key (one device) or --master-key/--keystore (a batch)"
        )
    device = read_key_file(device_key) if device_key is not None else None
    factory = open_keystore(master_key, keystore=keystore) if device is None else None
    graph = load_model(model)
    if approx_config is not None:
        from ooc_sdk.lower.skip import approximate_file

        if fuse:
            from ooc_sdk.lower.skip import NOT_FUSED
            from ooc_sdk.model.approx import ApproxConfigError

            raise ApproxConfigError(NOT_FUSED)
        graph = approximate_file(graph, approx_config)
    t0 = time.perf_counter()
    stages = {"planning": 1, "packing": 2, "generating": 3, "writing": 4}

    def progress(msg: str) -> None:
        if as_json:
            return
        n = stages.get(msg.split()[0])
        prefix = f"[{n}/4]" if n else "     "
        click.echo(f"{prefix} {msg} ({time.perf_counter() - t0:.1f} s)", err=True)

    request = BuildRequest(
        PlanRequest(
            sram, load_flash(flash), load_mcu(mcu), cipher=cipher, tag=tag, verify=verify,
            kernels=None if dsp is None else "dsp" if dsp else "ref", fuse=fuse, channel_split=channel_split,
            scratch_bytes=scratch, spill=not no_spill, max_mac_overhead=max_mac_overhead,
        ),
        security_counter=security_counter,
        flash_offset=flash_offset,
        signing_key=read_signing_key(signing_key) if signing_key is not None else None,
        auto_fuse=not no_fuse,
    )  # fmt: skip
    data = read_bytes(model, "model", MAX_MODEL_BYTES)
    result = build(graph, data, out_dir, device, request, keystore=factory, progress=progress,
                   force=force)  # fmt: skip
    if as_json:
        emit_json({"build": result.info.to_json(), "plan": result.plan.to_json()})
        return
    click.echo(f"built {graph.name} -> {out_dir}/ in {result.info.seconds:.1f} s")
    for line in plan_lines(result.plan):
        click.echo(f"  {line}")
    where = f"  image {result.info.image_bytes:,} bytes at flash offset {flash_offset:#x}"
    if result.info.batch is not None:
        click.echo(
            f"{where} for a batch (master key id {result.info.batch.master_key_id}); "
            f"provision devices: ooc provision run --image {out_dir} --programmer qemu|file|pyocd"
        )
        return
    click.echo(
        f"{where} for device {device.uid.hex()}; run it: ooc run {out_dir} --device-key "
        f"{device_key}"
    )
