"""Moving a whole registry between databases (an SQLite file and a PostgreSQL database, either
way): ``ooc device export --full`` and ``ooc device import``.

The export is one JSON document: ``format`` (``ooc-device-registry-export``), ``format_version``
(1), ``schema_version``, ``exported`` (UTC), ``entries``, ``head`` and ``head_mac`` (the chain's
length, last hash and last MAC), ``meta`` (``audit_count``, ``audit_head``, ``next_serial``,
``mac_key_id``), ``devices`` (every record, keys as :data:`~ooc_sdk.provisioning.chain.DEVICE_FIELDS`,
in creation order) and ``audit`` (every entry, keys as
:data:`~ooc_sdk.provisioning.chain.AUDIT_FIELDS`, ``detail`` as the exact text that was hashed).
It is read in one snapshot and written only when that snapshot's chain verifies.

An import checks the document before it opens the target: its shape and types, then the whole
chain (every hash, every MAC under the master key, every record replayed) and that its head is
the one it names; a key is required, since the MACs are what make a file from elsewhere
trustworthy. The target must be a registry at this ooc's schema with nothing in it (no device,
no audit entry, the serial counter unused; an SQLite file is created). Everything is inserted in
one write transaction, which verifies the target's chain again before it commits: the import is
whole or absent. Records keep their order; their ``id`` numbers are the target's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ooc_sdk.provisioning.backend import RegistryError, Tx
from ooc_sdk.provisioning.chain import AUDIT_FIELDS, DEVICE_FIELDS, AuditKey, ChainReport, verify
from ooc_sdk.provisioning.registry import Registry
from ooc_sdk.provisioning.schema import SCHEMA_VERSION

FORMAT = "ooc-device-registry-export"
FORMAT_VERSION = 1
_META_KEYS = ("audit_count", "audit_head", "next_serial", "mac_key_id")
_DEVICE_COLUMNS = ", ".join(DEVICE_FIELDS)
_AUDIT_COLUMNS = ", ".join(AUDIT_FIELDS)
# The types each field may hold (None: SQL NULL).
_INT = (int,)
_TEXT = (str,)
_DEVICE_TYPES = {
    **{name: _TEXT for name in DEVICE_FIELDS},
    "security_counter": _INT,
    "attempts": _INT,
    "reason": (str, type(None)),
}
_AUDIT_TYPES = {
    **{name: _TEXT for name in AUDIT_FIELDS},
    "seq": _INT,
    "uid": (str, type(None)),
    "mac": (str, type(None)),
}


def _read_all(tx: Tx) -> tuple[dict[str, str], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    meta = dict(tx.execute("SELECT key, value FROM meta").fetchall())
    devices = [tuple(r) for r in tx.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY id")]
    audit = [tuple(r) for r in tx.execute(f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY seq")]
    return meta, devices, audit


def export_registry(reg: Registry, key: AuditKey | None = None) -> dict[str, Any]:
    """The whole registry as the export document, read in one snapshot; refused (nothing
    exported) when its chain does not verify (with ``key``: its MACs too)."""

    def body(tx: Tx) -> tuple[dict[str, str], list[Any], list[Any], ChainReport]:
        meta, devices, audit = _read_all(tx)
        return meta, devices, audit, verify(audit, devices, meta, key)

    meta, devices, audit, report = reg.backend.read("exporting it", body, snapshot=True)
    if not report.ok:
        raise RegistryError(
            f"registry {reg.path} does not verify ({report.reason}): nothing exported; see "
            "`ooc device audit`"
        )
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": int(meta["schema_version"]),
        "exported": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "entries": report.entries,
        "head": report.head,
        "head_mac": report.head_mac,
        "meta": {k: meta.get(k, "") for k in _META_KEYS},
        "devices": [dict(zip(DEVICE_FIELDS, row, strict=True)) for row in devices],
        "audit": [dict(zip(AUDIT_FIELDS, row, strict=True)) for row in audit],
    }


def _rows(
    items: Any, fields: tuple[str, ...], types: Mapping[str, tuple[type, ...]], what: str
) -> list[tuple[Any, ...]]:
    if not isinstance(items, list):
        raise ValueError(f"{what} is not a list")
    rows = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != set(fields):
            raise ValueError(f"{what}[{n}] does not have exactly the fields {', '.join(fields)}")
        for name in fields:
            value = item[name]
            if type(value) not in types[name]:  # exact: a bool is not an integer here
                raise ValueError(f"{what}[{n}].{name} is {type(value).__name__}")
        rows.append(tuple(item[name] for name in fields))
    return rows


def parse_export(
    doc: Any, source: str
) -> tuple[dict[str, str], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The meta rows, device rows and audit rows of an export document, its shape checked
    (one line naming ``source`` and the first thing wrong otherwise)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise RegistryError(f"{source} is not an ooc registry export (no format {FORMAT!r})")
    if doc.get("format_version") != FORMAT_VERSION:
        raise RegistryError(
            f"{source} is export format version {doc.get('format_version')!r}; this ooc reads "
            f"{FORMAT_VERSION}"
        )
    schema = doc.get("schema_version")
    if type(schema) is not int or schema > SCHEMA_VERSION:
        raise RegistryError(
            f"{source} was exported from a registry with schema version {schema!r}, newer than "
            f"this ooc knows ({SCHEMA_VERSION}): upgrade ooc"
        )
    try:
        meta = doc["meta"]
        if not isinstance(meta, dict) or set(meta) != set(_META_KEYS):
            raise ValueError(f"meta does not have exactly the keys {', '.join(_META_KEYS)}")
        if not all(isinstance(v, str) for v in meta.values()):
            raise ValueError("a meta value is not text")
        devices = _rows(doc["devices"], DEVICE_FIELDS, _DEVICE_TYPES, "devices")
        audit = _rows(doc["audit"], AUDIT_FIELDS, _AUDIT_TYPES, "audit")
        int(meta["audit_count"]), int(meta["next_serial"])
    except (KeyError, ValueError) as e:
        raise RegistryError(f"{source} is a damaged registry export ({e})") from None
    return dict(meta), devices, audit


@dataclass(frozen=True)
class CheckedExport:
    """An export document whose shape, chain, MACs and head were checked."""

    meta: dict[str, str]
    devices: list[tuple[Any, ...]]
    audit: list[tuple[Any, ...]]
    report: ChainReport
    source: str


def check_export(doc: Any, key: AuditKey, source: str) -> CheckedExport:
    """Check the export document ``doc`` (read from ``source``) whole: its shape, then its chain
    and every MAC under ``key``, and that it ends at the head it names."""
    meta, devices, audit = parse_export(doc, source)
    report = verify(audit, devices, meta, key)
    if not report.ok:
        raise RegistryError(f"{source} does not verify ({report.reason}): nothing imported")
    if report.head != doc.get("head") or report.entries != doc.get("entries"):
        raise RegistryError(
            f"{source} names head {doc.get('head')!r} of {doc.get('entries')!r} entries, but its "
            f"log ends at entry {report.entries} with {report.head}: nothing imported"
        )
    return CheckedExport(meta, devices, audit, report, source)


def import_registry(reg: Registry, checked: CheckedExport, key: AuditKey) -> ChainReport:
    """Write a checked export into the empty registry ``reg`` in one transaction that verifies
    the result before it commits; the target's report (as :meth:`Registry.verify_chain` makes
    it) after the import."""
    meta, devices, audit, report = checked.meta, checked.devices, checked.audit, checked.report
    reg.use_key(key)

    def body(tx: Tx) -> ChainReport:
        (n_dev,) = tx.execute("SELECT COUNT(*) FROM devices").fetchone()
        (n_audit,) = tx.execute("SELECT COUNT(*) FROM audit").fetchone()
        now = dict(tx.execute("SELECT key, value FROM meta").fetchall())
        if n_dev or n_audit or now.get("next_serial") != "1":
            raise RegistryError(
                f"registry {reg.path} is not empty ({n_dev} devices, {n_audit} audit entries, "
                f"next serial {now.get('next_serial')}): import only into a new registry; "
                "nothing imported"
            )
        tx.executemany(
            f"INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES ({', '.join('?' * len(DEVICE_FIELDS))})",
            devices,
        )
        tx.executemany(
            f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES ({', '.join('?' * len(AUDIT_FIELDS))})",
            audit,
        )
        for name in _META_KEYS:
            tx.execute("UPDATE meta SET value = ? WHERE key = ?", (meta[name], name))
        if audit:
            tx.appended = report.head
        there = _read_all(tx)
        after = verify(there[2], there[1], there[0], key)
        if not after.ok or after.head != report.head:
            raise RegistryError(
                f"registry {reg.path} does not verify after the import ({after.reason}): "
                "rolled back, nothing imported"
            )
        return after

    return reg.backend.write(f"importing {checked.source}", body)
