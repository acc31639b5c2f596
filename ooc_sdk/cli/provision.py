"""``ooc provision``: the factory master key and the manufacturing station (the workflow itself is
:mod:`ooc_sdk.provisioning.station`)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click

from ooc_sdk.cli.options import emit_json, group, keystore_option, trust_anchor_option
from ooc_sdk.errors import InvalidArgumentError

_MASTER_HELP = (
    "Factory master key file (mode 0600), else the file named by $OOC_MASTER_KEY_FILE, "
    "else '-' reads it from stdin."
)
_REGISTRY_HELP = (
    "Device registry: an SQLite file (created on first use), or postgresql://USER@HOST/DB for a "
    "line of stations on several PCs (made by `ooc registry migrate`); else $OOC_REGISTRY, else "
    "./ooc-registry.sqlite."
)


class ProvisionFailedError(InvalidArgumentError):
    """Some devices of the run failed (each recorded in the registry with its reason)."""


@group("provision")
def provision() -> None:
    """Manufacturing: master key, and the station that provisions devices.

    \b
    ooc provision master-key -o master.key     once per factory (keep it safe)
      (or --keystore pkcs11:...: in a token, non-extractable; then give
      --keystore instead of --master-key below)
    ooc build MODEL --sram 64KiB --master-key master.key -o OUT   a batch image
    ooc provision run --image OUT --programmer qemu|file|pyocd --count N

    Per device the station reads the UID, derives its root key from the master
    key (SP 800-108), wraps the image's content key for it, programs the
    external flash and the key storage, reads both back, and records every
    step in the registry (see `ooc device --help`). docs/provisioning.md is the
    guide.
    """


@provision.command("master-key")
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Master key file to create (mode 0600).",
)
@keystore_option
@click.option(
    "--import",
    "import_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --keystore: import this master key file into the token (the key is "
    "non-extractable once there) instead of generating one in it.",
)
@click.option(
    "--bits", type=click.Choice(["128", "256"]), default="256", show_default=True, help="Size."
)
@click.option("--force", is_flag=True, help="Replace an existing file (never a token's key).")
def master_key_cmd(
    out: Path | None, keystore: str | None, import_file: Path | None, bits: str, force: bool
) -> None:
    """Create a factory master secret (from the OS random source) in a 0600 file,
    or in a PKCS#11 token, where it cannot be read out.

    \b
    ooc provision master-key -o master.key
    ooc provision master-key --keystore 'pkcs11:token=factory;object=ooc-master?module-path=...'
    ooc provision master-key --keystore URI --import master.key

    Every device root key is derived from it and the device UID, so whoever
    holds it can derive every device's key: keep the file offline, backed up,
    and readable by the station account only. In a token the key is generated
    there (or imported) as a sensitive, non-extractable key; the PIN comes
    from the URI's pin-source file or $OOC_PKCS11_PIN. Prints only its public
    key id.
    """
    from ooc_sdk.image.keystore import SecretKeystore, read_master_file

    if (out is None) == (keystore is None):
        raise InvalidArgumentError("give --out FILE or --keystore URI (one of them)")
    if keystore is None:
        if import_file is not None:
            raise InvalidArgumentError("--import goes with --keystore (into a token)")
        ks = SecretKeystore.generate(int(bits) // 8)
        assert out is not None
        ks.write(out, force)
        click.echo(f"wrote {out} (mode 0600), master key id {ks.key_id.hex()}")
        return
    from ooc_sdk.image.pkcs11 import create_master

    if force:
        raise InvalidArgumentError(
            "--force replaces files only; a master key in a token is never replaced"
        )
    source = read_master_file(import_file) if import_file is not None else None
    with create_master(keystore, source, int(bits) // 8) as token_ks:
        how = f"imported {import_file} into" if import_file is not None else "generated in"
        click.echo(
            f"{how} token {token_ks.uri.token!r} as {token_ks.uri.object!r} (non-extractable), "
            f"master key id {token_ks.key_id.hex()}"
        )
    if import_file is not None:
        click.echo(
            f"{import_file} is unchanged: keep it offline as the backup, or destroy it", err=True
        )


@provision.command("run")
@click.option(
    "--image",
    "image_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="A batch build directory (ooc build ... --master-key, without --device-key).",
)
@click.option(
    "--programmer",
    type=click.Choice(["pyocd", "file", "qemu"]),
    required=True,
    help="pyocd: a debug probe on a real board; file: per-device .bin/.hex images and a "
    "manifest for a flash house or gang programmer; qemu: emulated devices (flash.bin and "
    "keystore.bin) the QEMU firmware boots as.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="file/qemu: provision until N devices of this image are verified at this station "
    "(re-running the same command after a crash finishes the batch, no more); pyocd: N "
    "devices in this run, one after another on the fixture (default 1).",
)
@click.option(
    "--uids",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="file/qemu: device UIDs, one hex UID per line ('#' comments). Without it the "
    "registry hands out serial numbers.",
)
@click.option("--dry-run", is_flag=True, help="Check and show what would be done; write nothing.")
@click.option("--master-key", type=click.Path(dir_okay=False, path_type=Path), help=_MASTER_HELP)
@keystore_option
@click.option("--registry", metavar="PATH|URL", default=None, help=_REGISTRY_HELP)
@click.option(
    "--station",
    default=None,
    help="This station's name in the registry (default: the host name). Keep it stable: a "
    "re-run resumes the devices this station left unfinished.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="file/qemu: where device outputs go (default: IMAGE/provisioned).",
)
@click.option("--probe", default=None, help="pyocd: the probe's unique id (default: the only one).")
@click.option(
    "--mcu",
    default=None,
    help="pyocd: MCU profile with UID and key storage addresses (default: the build's).",
)
@trust_anchor_option
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def run_cmd(
    image_dir: Path,
    programmer: str,
    count: int | None,
    uids: Path | None,
    dry_run: bool,
    master_key: Path | None,
    keystore: str | None,
    registry: str | None,
    station: str | None,
    out_dir: Path | None,
    probe: str | None,
    mcu: str | None,
    trust_anchors: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Provision devices with a batch image: derive, wrap, program, verify, record.

    Idempotent and resumable: a device already verified is skipped, one a
    crash left unfinished is done again from the start with the same key (a
    device never gets two keys), one another station holds is left alone. A
    device that fails is recorded with its reason and the line goes on; the
    exit status is 2 if any device failed (listed by `ooc device list
    --state failed`; re-run to retry them).

    With --trust-anchor (the vendor's .pub, from `ooc signing-key`) each
    device's key storage also holds that public key: the device then runs
    only images it signed. The batch image must be signed by it; a signed
    batch without --trust-anchor is refused.
    """
    from ooc_sdk.image.keys import check_anchors
    from ooc_sdk.image.keystore import open_keystore
    from ooc_sdk.image.signing import read_trust_anchor
    from ooc_sdk.provisioning.programmers import open_programmer, read_uids_file
    from ooc_sdk.provisioning.registry import Registry, registry_location
    from ooc_sdk.provisioning.station import Station, load_batch, station_lock, summary_lines
    from ooc_sdk.targets import load_mcu

    if uids is not None and programmer == "pyocd":
        raise InvalidArgumentError(
            "--uids is for the file and qemu programmers (pyocd reads the UID)"
        )
    name = station or socket.gethostname()
    ctx = click.get_current_context()
    location = registry_location(registry)
    on_file = isinstance(location, Path)
    if not dry_run and on_file:  # one run per station name at a time, held until the end
        ctx.with_resource(station_lock(location, name))
    anchors = check_anchors([read_trust_anchor(p) for p in trust_anchors])
    factory = open_keystore(master_key, keystore=keystore)
    batch = load_batch(image_dir, factory)
    uid_list = read_uids_file(uids) if uids is not None else None
    reg = None
    if not dry_run:
        reg = ctx.with_resource(Registry.open(location, create=True))
        ctx.with_resource(reg.hold_station(name))  # a database server: on every PC of the line
    elif not on_file or Path(location).exists():
        reg = ctx.with_resource(Registry.open(location, create=False))
    prog = open_programmer(
        programmer,
        out_dir=out_dir or image_dir / "provisioned",
        flash=batch.flash,
        mcu=load_mcu(mcu) if mcu else batch.mcu,
        flash_offset=batch.flash_offset,
        probe=probe,
        dry_run=dry_run,
    )

    def say(line: str) -> None:
        if not as_json:
            click.echo(line, err=True)

    def wait_next() -> None:
        if sys.stdin.isatty():
            click.prompt(
                "put the next device on the fixture and press Enter", default="", show_default=False
            )

    say(
        f"station {name}: {batch.version} image {batch.build_id.hex()} (checked), programmer "
        f"{programmer}, registry {Registry.describe(location)}"
        f"{' (dry run: nothing is written)' if dry_run else ''}"
    )
    st = Station(
        batch,
        prog,
        reg,
        factory,
        station=name,
        dry_run=dry_run,
        say=say,
        anchors=anchors,
    )
    try:
        summary = st.run(count, uid_list, wait_next)
    finally:
        prog.close()
    if as_json:
        emit_json(summary.to_json())
    else:
        for line in summary_lines(summary):
            click.echo(line)
    failed = [o for o in summary.outcomes if o.status == "failed"]
    if failed:
        raise ProvisionFailedError(
            f"{len(failed)} device(s) failed, last {failed[-1].uid}: {failed[-1].reason} "
            "(ooc device list --state failed; re-run to retry)"
        )
