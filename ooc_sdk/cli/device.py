"""``ooc device``: read the manufacturing device registry (list, show, export, audit) and move it
whole (export --full, import); ``ooc registry migrate``: create or upgrade its schema. The
registry is :mod:`ooc_sdk.provisioning.registry`."""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from ooc_sdk.cli.options import emit_json, group, keystore_option, one_line
from ooc_sdk.fileio import write_atomic
from ooc_sdk.provisioning.chain import Anchor
from ooc_sdk.provisioning.registry import (
    ENV_REGISTRY,
    STATES,
    Device,
    Registry,
    RegistryError,
    registry_location,
)

_registry_option = click.option(
    "--registry",
    "registry",
    metavar="PATH|URL",
    default=None,
    help=f"The registry: an SQLite file, or postgresql://USER@HOST/DB (default: ${ENV_REGISTRY}, "
    "else ./ooc-registry.sqlite).",
)
_master_key_option = click.option(
    "--master-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Factory master key file (mode 0600; '-' reads it from stdin), else the file named by "
    "$OOC_MASTER_KEY_FILE: check every entry's MAC too. Without a key the MACs are not checked.",
)


def _open(registry: str | None) -> Registry:
    return Registry.open(registry_location(registry), create=False)


def _key(master_key: Path | None, keystore: str | None = None) -> Any:
    """The factory keystore when one is named (--master-key, --keystore, $OOC_MASTER_KEY_FILE)."""
    from ooc_sdk.image.keystore import ENV_FILE, open_keystore

    if master_key or keystore or os.environ.get(ENV_FILE):
        return open_keystore(master_key, keystore=keystore)
    return None


@group()
def device() -> None:
    """Read, export and move the manufacturing device registry.

    The registry records every device a station provisioned: UID, key id (a
    public fingerprint of the factory master secret; no key is ever stored),
    image id and version, security counter, station, state (pending,
    programmed, verified, failed and why) and the number of attempts, plus an
    append-only audit log whose entries are hash-chained and MACed under the
    master key. `ooc provision run` writes it; list, show, export and audit
    only read and need no key (`audit --master-key` checks the MACs); import
    moves a whole exported registry into an empty one (with the master key).
    --registry PATH (an SQLite file) or postgresql://USER@HOST/DB (a server for
    a line of stations: docs/provisioning.md, "Scaling a line"), else
    $OOC_REGISTRY, else ooc-registry.sqlite in the current directory.
    """


@device.command(name="list")
@_registry_option
@click.option(
    "--state", type=click.Choice(STATES), default=None, help="Only devices in this state."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of device records.")
def list_devices(registry: str | None, state: str | None, as_json: bool) -> None:
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
def show(uid: str, registry: str | None, as_json: bool) -> None:
    """Show one device's record and its audit entries.

    UID is hex (up to 16 bytes, ':' and '-' allowed, zero-padded on the
    left as in `ooc keygen --uid`). An unknown UID is an error (exit 2). JSON
    keys: device (the record), audit (its entries: seq, time, station, uid,
    event, detail, prev_hash, hash, mac).
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
    "--full",
    is_flag=True,
    help="Export the whole registry (records, audit log, counters) for `ooc device import`.",
)
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (atomically: whole or not at all) instead of stdout.",
)
@_master_key_option
def export(
    registry: str | None,
    as_json: bool,
    as_csv: bool,
    full: bool,
    out: Path | None,
    master_key: Path | None,
) -> None:
    """Export every device record as JSON or CSV, or the whole registry.

    For the line's MES or a lot report. Give exactly one of --json and --csv,
    or --full. Columns (CSV) and keys (JSON): uid, key_id, image_id,
    image_version, security_counter, station, state, reason, attempts,
    created, updated; devices in the order they were first claimed. No key
    material is ever in the registry, so none is exported.

    --full writes one JSON document with every record, every audit entry and
    the registry's counters, read in one snapshot and only if its audit chain
    verifies (with --master-key, its MACs too): what `ooc device import` reads
    to move a line from an SQLite file to PostgreSQL, or back.
    """
    if (as_json + as_csv + full) != 1:
        raise click.UsageError("give exactly one of --json and --csv, or --full")
    if master_key is not None and not full:
        raise click.UsageError("--master-key goes with --full")
    if full:
        from ooc_sdk.provisioning.transfer import export_registry

        key = _key(master_key)
        with _open(registry) as reg:
            doc = export_registry(reg, key)
        text = json.dumps(doc, indent=1) + "\n"
        what = f"{len(doc['devices'])} devices and {doc['entries']} audit entries"
    else:
        with _open(registry) as reg:
            devices = reg.devices()
        text = json.dumps([d.to_json() for d in devices], indent=2) + "\n" if as_json else ""
        text = text or _csv_text(devices)
        what = f"{len(devices)} devices"
    if out is None:
        click.echo(text, nl=False)
        return
    write_atomic(out, text)
    click.echo(f"exported {what} to {out}")


@device.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_registry_option
@click.option(
    "--master-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Factory master key file (mode 0600; '-' reads it from stdin), else the file named by "
    "$OOC_MASTER_KEY_FILE: required, the export's MACs are checked under it.",
)
@keystore_option
@click.option("--json", "as_json", is_flag=True, help="Print the target's audit report as JSON.")
def import_cmd(
    file: Path,
    registry: str | None,
    master_key: Path | None,
    keystore: str | None,
    as_json: bool,
) -> None:
    """Import a whole registry from `ooc device export --full` into a new one.

    \b
    ooc registry migrate --registry postgresql://ooc_owner@line-db/line1
    ooc device export --full -o line1.json --registry line1.sqlite --master-key KEY
    ooc device import line1.json --registry postgresql://ooc_station@line-db/line1 --master-key KEY

    The export is checked first: its shape, then its whole audit chain (every
    hash, every MAC under the factory master key, every device record
    replayed) and its head. The target must be empty: a new SQLite file
    (created) or a PostgreSQL registry that `ooc registry migrate` created and
    nothing wrote to yet. Everything is written in one transaction that
    verifies the target's chain before it commits: the import is whole or
    absent. Prints the target's audit line (the same head as the export's).
    """
    from ooc_sdk.fileio import read_text
    from ooc_sdk.image.keystore import ENV_FILE
    from ooc_sdk.provisioning.transfer import check_export, import_registry

    if not (master_key or keystore or os.environ.get(ENV_FILE)):
        raise click.UsageError(
            "importing needs the factory master key (--master-key FILE, --keystore URI or "
            "$OOC_MASTER_KEY_FILE): the export's MACs are checked under it"
        )
    key = _key(master_key, keystore)
    text = read_text(file, "registry export", 1 << 31)
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise RegistryError(f"{file} is not an ooc registry export (not JSON: {e})") from None
    checked = check_export(doc, key, str(file))  # refused before the target is opened
    with Registry.open(registry_location(registry), create=True) as reg:
        report = import_registry(reg, checked, key)
    if as_json:
        emit_json(report.to_json())
        return
    click.echo(
        f"imported {len(checked.devices)} devices and {report.entries} audit entries into "
        f"{reg.path}"
    )
    click.echo(f"audit chain verified: {report.entries} entries, head {report.head}")
    click.echo(f"MACs verified under master key id {report.key_id}")


def _anchor(head: str | None, count: int | None) -> Anchor | None:
    if head is None:
        if count is not None:
            raise click.UsageError("--expect-count goes with --expect-head")
        return None
    text = head.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise click.UsageError(f"--expect-head wants 64 hex digits (a SHA-256), got {head!r}")
    return Anchor(text, count)


@device.command()
@_registry_option
@_master_key_option
@click.option(
    "--expect-head",
    default=None,
    metavar="HASH",
    help="A head exported earlier (its 'head'): with --expect-count N, entry N must still have "
    "this hash; alone, the head now must be it.",
)
@click.option(
    "--expect-count",
    type=click.IntRange(min=0),
    default=None,
    help="The 'entries' exported with --expect-head.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit(
    registry: str | None,
    master_key: Path | None,
    expect_head: str | None,
    expect_count: int | None,
    as_json: bool,
) -> None:
    """Verify the audit log and every device record.

    Recomputes every entry's SHA-256 chain hash, checks that no entry is
    missing and that the registry's head (entry count and last hash) matches
    the log's end, and replays the log to rebuild every device record: every
    field of every record (uid, key_id, image_id, image_version,
    security_counter, station, state, reason, attempts, created, updated),
    their order and the serial counter must match it. With the master key
    (--master-key or $OOC_MASTER_KEY_FILE) it also checks every entry's MAC,
    which only a station holding that key can make, so a chain rewritten
    without the key is caught; without it, it says the MACs were not checked.

    Prints "audit chain verified: N entries, head HASH" and a line on the MACs
    (exit 0), or one line per problem (exit 2; with --json the report comes
    first on stdout). JSON keys: ok, entries, first_bad, reason (the first
    problem), head, head_mac, macs (verified, failed, not checked), key_id,
    problems. Export entries, head and head_mac to the line's MES after each
    shift: a registry rolled back or cut back to an earlier entry is only
    caught against them (--expect-count N --expect-head HASH).
    """
    expect = _anchor(expect_head, expect_count)
    key = _key(master_key)
    with _open(registry) as reg:
        report = reg.verify_chain(key, expect)
    if as_json:
        emit_json(report.to_json())
    if not report.ok:
        for problem in report.problems[:-1]:
            click.echo(f"ooc: error: audit of registry {reg.path}: {one_line(problem)}", err=True)
        raise RegistryError(f"audit of registry {reg.path}: {report.problems[-1]}")
    if as_json:
        return
    click.echo(f"audit chain verified: {report.entries} entries, head {report.head}")
    if report.macs == "verified":
        mac = f", head MAC {report.head_mac}" if report.head_mac else ""
        click.echo(f"MACs verified under master key id {report.key_id}{mac}")
    else:
        click.echo(
            "MACs not checked (no master key given: --master-key or $OOC_MASTER_KEY_FILE); a "
            "chain rewritten without the key is not caught"
        )


@group("registry")
def registry_group() -> None:
    """The device registry's database: create it, or upgrade its schema.

    The registry is an SQLite file (the default; `ooc provision run` creates
    and upgrades one itself) or a PostgreSQL database for a line of stations on
    several PCs, which only `ooc registry migrate` creates and upgrades, run by
    the database's owner (docs/provisioning.md, "Scaling a line").
    """


@registry_group.command("migrate")
@_registry_option
def migrate(registry: str | None) -> None:
    """Create the registry, or bring its schema to this ooc's version.

    \b
    ooc registry migrate --registry postgresql://ooc_owner@line-db/line1
    ooc registry migrate --registry line1.sqlite

    In one transaction; running it again changes nothing, and two at once
    are serialised. A database that is not an ooc registry, or a registry
    newer than this ooc, is refused (one line, exit 2) and left as it was.
    Upgrade every station of the line before migrating its registry.
    """
    location = registry_location(registry)
    where = Registry.describe(location)
    before, after = Registry.migrate(location)
    if before == 0:
        click.echo(f"registry {where}: created at schema version {after}")
    elif before < after:
        click.echo(f"registry {where}: upgraded from schema version {before} to {after}")
    else:
        click.echo(f"registry {where}: already at schema version {after}")
