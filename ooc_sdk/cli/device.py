"""``ooc device``: read the manufacturing device registry (list, show, export, audit); the
registry is :mod:`ooc_sdk.provisioning.registry`."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from ooc_sdk.cli.options import emit_json, group
from ooc_sdk.fileio import write_atomic
from ooc_sdk.provisioning.registry import (
    ENV_REGISTRY,
    STATES,
    Device,
    Registry,
    RegistryError,
    registry_path,
)

_registry_option = click.option(
    "--registry",
    "registry",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"The registry file (default: ${ENV_REGISTRY}, else ./ooc-registry.sqlite).",
)


def _open(registry: Path | None) -> Registry:
    return Registry.open(registry_path(registry), create=False)


@group()
def device() -> None:
    """Read the manufacturing device registry.

    The registry records every device a station provisioned: UID, key id (a
    public fingerprint of the factory master secret; no key is ever stored),
    image id and version, security counter, station, state (pending,
    programmed, verified, failed and why) and the number of attempts, plus an
    append-only audit log whose entries are hash-chained. `ooc provision run`
    writes it; these commands only read. It is an SQLite file: --registry PATH,
    else $OOC_REGISTRY, else ooc-registry.sqlite in the current directory.
    """


@device.command(name="list")
@_registry_option
@click.option(
    "--state", type=click.Choice(STATES), default=None, help="Only devices in this state."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of device records.")
def list_devices(registry: Path | None, state: str | None, as_json: bool) -> None:
    """List devices in the order they were first claimed.

    The table shows UID, state, station, image version, attempts (how many
    times a station claimed the device) and the last update (UTC), then a
    count per state. JSON records have the keys uid, key_id, image_id,
    image_version, security_counter, station, state, reason, attempts,
    created and updated.
    """
    with _open(registry) as reg:
        devices = reg.devices(state)
    if as_json:
        emit_json([d.to_json() for d in devices])
        return
    if devices:
        header = ("UID", "STATE", "STATION", "IMAGE VERSION", "ATTEMPTS", "UPDATED (UTC)")
        rows = [
            (d.uid, d.state, d.station, d.image_version, str(d.attempts), d.updated[:19])
            for d in devices
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    counts = Counter(d.state for d in devices)
    noun = "device" if len(devices) == 1 else "devices"
    if state is not None:
        click.echo(f"{len(devices)} {state} {noun}")
    else:
        per_state = ", ".join(f"{counts[s]} {s}" for s in STATES)
        click.echo(f"{len(devices)} {noun} ({per_state})")


@device.command()
@click.argument("uid")
@_registry_option
@click.option("--json", "as_json", is_flag=True, help="Print the record and its audit entries.")
def show(uid: str, registry: Path | None, as_json: bool) -> None:
    """Show one device's record and its audit entries.

    UID is hex (up to 16 bytes, ':' and '-' allowed, zero-padded on the
    left as in `ooc keygen --uid`). An unknown UID is an error (exit 2). JSON
    keys: device (the record), audit (its entries: seq, time, station, uid,
    event, detail, prev_hash, hash).
    """
    from ooc_sdk.image.keys import parse_uid

    raw = parse_uid(uid)
    with _open(registry) as reg:
        dev = reg.get(raw)
        if dev is None:
            raise RegistryError(f"no device {raw.hex()} in registry {reg.path}")
        entries = reg.audit_entries(raw)
    if as_json:
        emit_json({"device": dev.to_json(), "audit": [e.to_json() for e in entries]})
        return
    for name, value in dev.to_json().items():
        if value is not None:
            click.echo(f"{name + ':':<18}{value}")
    click.echo(f"audit ({len(entries)} entries):")
    for e in entries:
        click.echo(
            f"  #{e.seq} {e.time} {e.station} {e.event} "
            f"{json.dumps(e.detail, sort_keys=True, separators=(',', ':'))}"
        )


def _csv_text(devices: list[Device]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = [f.name for f in fields(Device)]
    writer.writerow(names)
    for d in devices:
        row: dict[str, Any] = d.to_json()
        writer.writerow(["" if row[n] is None else row[n] for n in names])
    return out.getvalue()


@device.command()
@_registry_option
@click.option("--json", "as_json", is_flag=True, help="Export a JSON list.")
@click.option("--csv", "as_csv", is_flag=True, help="Export CSV with a header row.")
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (atomically: whole or not at all) instead of stdout.",
)
def export(registry: Path | None, as_json: bool, as_csv: bool, out: Path | None) -> None:
    """Export every device record as JSON or CSV.

    For the line's MES or a lot report. Give exactly one of --json and --csv. Columns (CSV) and keys (JSON): uid,
    key_id, image_id, image_version, security_counter, station, state,
    reason, attempts, created, updated; devices in the order they were first
    claimed. No key material is ever in the registry, so none is exported.
    """
    if as_json == as_csv:
        raise click.UsageError("give exactly one of --json and --csv")
    with _open(registry) as reg:
        devices = reg.devices()
    if as_json:
        text = json.dumps([d.to_json() for d in devices], indent=2) + "\n"
    else:
        text = _csv_text(devices)
    if out is None:
        click.echo(text, nl=False)
        return
    write_atomic(out, text)
    click.echo(f"exported {len(devices)} devices to {out}")


@device.command()
@_registry_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit(registry: Path | None, as_json: bool) -> None:
    """Verify the registry's hash-chained audit log.

    Recomputes every entry's SHA-256 chain hash, checks that no entry is
    missing, that the registry's head (entry count and last hash) matches the
    log's end, and that every device record agrees with its last audit entry.
    Prints "audit chain verified: N entries, head HASH" (exit 0), or one line
    naming the first bad entry (exit 2; with --json the report comes first on
    stdout). Record the head hash outside the registry (e.g. in the MES):
    only a comparison with it detects a database rewritten wholesale with a
    fresh chain. JSON keys: ok, entries, first_bad, reason, head.
    """
    with _open(registry) as reg:
        report = reg.verify_chain()
    if as_json:
        emit_json(report.to_json())
    if not report.ok:
        where = (
            f"broken at entry {report.first_bad}"
            if report.first_bad is not None
            else "disagrees with the device records"
        )
        raise RegistryError(
            f"audit chain of registry {reg.path} {where}: {report.reason} "
            f"({report.entries} entries)"
        )
    if not as_json:
        click.echo(f"audit chain verified: {report.entries} entries, head {report.head}")
