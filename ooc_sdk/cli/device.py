"""``ooc device``: read the manufacturing device registry (list, show, export, audit); the
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

from ooc_sdk.cli.options import emit_json, group, one_line
from ooc_sdk.fileio import write_atomic
from ooc_sdk.provisioning.chain import Anchor
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
    append-only audit log whose entries are hash-chained and MACed under the
    master key. `ooc provision run` writes it; these commands only read and
    need no key (`audit --master-key` checks the MACs). It is an SQLite file: --registry PATH,
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
@click.option(
    "--master-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Factory master key file (mode 0600; '-' reads it from stdin), else the file named by "
    "$OOC_MASTER_KEY_FILE: check every entry's MAC too. Without a key the MACs are not checked.",
)
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
    registry: Path | None,
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
    from ooc_sdk.image.keystore import ENV_FILE, open_keystore

    expect = _anchor(expect_head, expect_count)
    key = open_keystore(master_key) if master_key or os.environ.get(ENV_FILE) else None
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
