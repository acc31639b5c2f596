"""The manufacturing device registry: which device got which key id and image, where, and when.

One record per device (UID, key id, image id and version, security counter, station, state,
attempts, timestamps) and an append-only audit log. The registry never holds key material: root
keys are derived from the master secret (:mod:`ooc_sdk.image.keystore`), so a key id (a
public fingerprint of the master secret) is all a record needs to say which key a device has.

Storage (:mod:`ooc_sdk.provisioning.backend`). An SQLite file, the default, for stations on one
PC (``--registry PATH``, else ``$OOC_REGISTRY``, else ``./ooc-registry.sqlite``:
:mod:`~ooc_sdk.provisioning.sqlite_backend`), or a PostgreSQL database for a line of stations on
several PCs (``--registry postgresql://USER@HOST/DB``: :mod:`~ooc_sdk.provisioning.postgres_backend`).
Both hold one schema with one history of versioned migrations
(:mod:`~ooc_sdk.provisioning.schema`). This class holds every rule and every statement on the
registry's rows, written once in plain SQL; a backend runs them as transactions. Each write is
one transaction that takes the lock every writer takes before it reads anything (SQLite's write
lock; PostgreSQL's row lock on the chain head), so writers are serialised: two stations never
both claim one device, and each audit entry is appended, in the transaction of the change it
records, to the head the previous writer left.

Audit (:mod:`ooc_sdk.provisioning.chain` has the encoding and the rules). Every entry is
hash-chained to the one before and carries an HMAC of its hash under a key derived from the
factory master secret, so only a station (which holds the keystore: :meth:`Registry.use_key`)
can write; a Registry opened without the key reads and verifies the hash chain only.
:meth:`Registry.verify_chain` recomputes every hash and, given the key, every MAC; checks the
``meta`` head (a deleted tail); and replays the log to rebuild every device record, comparing
every field of every record, the records' order and the serial counter (an edit of any field is
detected). A registry rolled back whole, or cut back to an earlier entry with its records and
head, is genuine history: only a head exported and kept elsewhere (``ooc device audit --json``,
then ``--expect-count``/``--expect-head``) catches that.

Rules. A device is never given two keys (a claim under another key id is refused) nor an image
with a lower security counter than the one recorded for it (a downgrade is refused, whatever the
device's state: the registry's counter only ratchets up).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ooc_sdk.formats import image as fmt
from ooc_sdk.provisioning import sqlite_backend
from ooc_sdk.provisioning.backend import (
    DEFAULT_NAME,
    ENV_REGISTRY,
    Backend,
    RegistryError,
    Tx,
    is_url,
    redact,
    registry_location,
)
from ooc_sdk.provisioning.chain import (
    AUDIT_FIELDS,
    DEVICE_FIELDS,
    Anchor,
    AuditEntry,
    AuditKey,
    ChainReport,
    canonical_json,
    entry_hash,
    entry_mac,
    verify,
)
from ooc_sdk.provisioning.schema import APPLICATION, SCHEMA_VERSION, history

__all__ = [
    "APPLICATION",
    "DEFAULT_NAME",
    "ENV_REGISTRY",
    "SCHEMA_VERSION",
    "STATES",
    "Claim",
    "Device",
    "Registry",
    "RegistryError",
    "entry_hash",
    "redact",
    "registry_location",
    "registry_path",
]

STATES = ("pending", "programmed", "verified", "failed")

# The transitions set_state allows: (from, to).
_TRANSITIONS = {
    ("pending", "programmed"),
    ("programmed", "verified"),
    ("pending", "failed"),
    ("programmed", "failed"),
}
_MAX_TEXT = 200  # station names and image versions
_MAX_REASON = 500  # failure reasons (longer ones are shortened, never refused)
_SECRET_WORDS = ("secret", "password", "passphrase", "private")


def registry_path(option: Path | None) -> Path:
    """The registry file: ``--registry``, else ``$OOC_REGISTRY``, else ``./ooc-registry.sqlite``
    (:func:`registry_location` also takes a ``postgresql://`` URL)."""
    location = registry_location(option)
    return Path(location)


@dataclass(frozen=True)
class Device:
    """One device's record."""

    uid: str  # 32 hex chars (16-byte UID)
    key_id: str  # hex fingerprint of the master secret its root key derives from
    image_id: str  # hex build id of the image it was given
    image_version: str  # free text, e.g. model name + security counter
    security_counter: int
    station: str  # the station that claimed it last
    state: str  # one of STATES
    reason: str | None  # why it failed, while it is failed; else None
    attempts: int  # how many times a station claimed it
    created: str  # UTC ISO-8601
    updated: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Claim(enum.Enum):
    """What :meth:`Registry.claim` found."""

    NEW = "new"  # first time: the station provisions it
    RESUME = "resume"  # failed, or this station crashed mid-device: the station provisions it again
    DONE = "done"  # already verified: skip it
    TAKEN = "taken"  # another station is provisioning it: leave it alone


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise RegistryError(f"{what} must be a string of 1 to {_MAX_TEXT} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise RegistryError(f"{what} {value!r} contains control characters")
    return value


def _reason(value: str) -> str:
    """A failure reason as one line: a device's failure is recorded even when the message is
    long or spans lines (an exception's text), so it is flattened and shortened, not refused."""
    if not isinstance(value, str):
        raise RegistryError("a failure reason is text")
    text = " ".join("".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in value).split())
    if not text:
        raise RegistryError("a failure reason must not be empty")
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _hex(value: bytes, what: str, size: int | None = None) -> str:
    if not isinstance(value, bytes | bytearray) or not value or len(value) > 64:
        raise RegistryError(f"{what} must be 1 to 64 bytes")
    if size is not None and len(value) != size:
        raise RegistryError(f"{what} must be {size} bytes, got {len(value)}")
    return bytes(value).hex()


def _uid(uid: bytes) -> str:
    return _hex(uid, "device UID", fmt.UID_BYTES)


def _check_detail(value: Any, where: str = "detail") -> None:
    """Refuse audit details that look like key material (keys named like secrets, raw bytes)."""
    if isinstance(value, dict):
        for k, v in value.items():
            name = str(k).lower()
            if name == "key" or name.endswith("_key") or any(w in name for w in _SECRET_WORDS):
                raise RegistryError(
                    f"audit {where} has a field {k!r}: the registry never stores key material "
                    "(record a key id instead)"
                )
            _check_detail(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for v in value:
            _check_detail(v, where)
    elif isinstance(value, bytes | bytearray | memoryview):
        raise RegistryError(f"audit {where} holds raw bytes: give hex text (never key material)")


_DEVICE_COLUMNS = ", ".join(DEVICE_FIELDS)
_AUDIT_COLUMNS = ", ".join(AUDIT_FIELDS)


def _device(row: tuple[Any, ...]) -> Device:
    return Device(*row)


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, stamp, station, uid, event, detail, prev_hash, hash_, mac = row
    return AuditEntry(seq, stamp, station, uid, event, json.loads(detail), prev_hash, hash_, mac)


class Registry:
    """An open registry. Every method is one transaction; use one Registry per thread."""

    # (version, statements): the SQLite schema's history (schema.MIGRATIONS has both dialects).
    MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = history("sqlite")

    def __init__(self, backend: Backend) -> None:
        """Use :meth:`open`."""
        self.backend = backend
        self.path: Path | str = backend.where  # a file, or a URL without its password
        self._key: AuditKey | None = None

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r})"

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.backend.close()

    @property
    def _conn(self) -> Any:
        """The SQLite connection (tests reach the file's own knobs through it)."""
        assert isinstance(self.backend, sqlite_backend.SqliteBackend)
        return self.backend.conn

    # -- opening and migrations ------------------------------------------------------------

    @staticmethod
    def _backend(location: Path | str, create: bool) -> Backend:
        if is_url(location):
            from ooc_sdk.provisioning.postgres_backend import PostgresBackend

            return PostgresBackend.open(str(location))
        return sqlite_backend.SqliteBackend.open(Path(location), create)

    @classmethod
    def open(
        cls, location: Path | str, *, create: bool = True, key: AuditKey | None = None
    ) -> Registry:
        """Open the registry at ``location``, a file or a ``postgresql://`` URL, at the current
        schema; with ``key`` (the factory keystore) it may be written (:meth:`use_key`). A file
        is created when ``create`` and migrated when older; a database server's registry is
        created and migrated only by :meth:`migrate` (its owner's task), so an empty database or
        an older schema is refused here."""
        backend = cls._backend(location, create)
        try:
            if isinstance(backend, sqlite_backend.SqliteBackend):
                backend.migrate()
            else:
                backend.check_current()  # type: ignore[attr-defined]
            reg = cls(backend)
            if key is not None:
                reg.use_key(key)
        except BaseException:
            backend.close()
            raise
        return reg

    @staticmethod
    def describe(location: Path | str) -> str:
        """How messages name the registry at ``location`` (a URL without its password)."""
        return redact(str(location)) if is_url(location) else str(location)

    @classmethod
    def migrate(cls, location: Path | str) -> tuple[int, int]:
        """Create the registry at ``location`` or bring it to the current schema: (version
        before, version after); 0 before means it was created. A newer schema is refused."""
        backend = cls._backend(location, create=True)
        try:
            return backend.migrate()
        finally:
            backend.close()

    def hold_station(self, station: str) -> contextlib.AbstractContextManager[object]:
        """Keep a second run of ``station`` off this registry for the block where the backend
        can (PostgreSQL: on any PC of the line; an SQLite file's runs hold a lock file beside
        it instead, :func:`ooc_sdk.provisioning.station.station_lock`)."""
        return self.backend.hold_station(_text(station, "station name"))

    def use_key(self, key: AuditKey) -> None:
        """Write from now on, with every audit entry MACed under ``key`` (the factory keystore):
        refused when the registry is kept under another master key."""
        self.backend.read("reading its master key id", lambda tx: self._check_key(tx, key))
        self._key = key

    def _check_key(self, tx: Tx, key: AuditKey) -> str:
        """``key``'s id (hex) once it is the registry's (or the registry has none yet)."""
        key_id = key.key_id.hex()
        row = tx.execute("SELECT value FROM meta WHERE key = 'mac_key_id'").fetchone()
        self._same_key(row[0] if row else "", key_id)
        return key_id

    def _same_key(self, kept: str, key_id: str) -> None:
        if kept and kept != key_id:
            raise RegistryError(
                f"registry {self.path} is kept under master key id {kept}; this station has "
                f"master key id {key_id}: use that registry's master key, or another registry"
            )

    @property
    def schema_version(self) -> int:
        def body(tx: Tx) -> int:
            row = tx.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            return int(row[0])

        return self.backend.read("reading its schema version", body)

    # -- writes ----------------------------------------------------------------------------

    def _append(
        self,
        tx: Tx,
        station: str,
        uid: str | None,
        event: str,
        detail: dict[str, Any],
        stamp: str | None = None,
    ) -> None:
        """Append one audit entry (hashed, MACed) and move the head, inside the caller's write
        transaction; without the key nothing is written."""
        if self._key is None:
            raise RegistryError(
                f"registry {self.path} is written only with the factory master key (every audit "
                "entry carries a MAC under it); reading needs no key"
            )
        _check_detail(detail)
        try:
            text = canonical_json(detail)
        except (TypeError, ValueError) as e:
            raise RegistryError(f"audit detail is not plain JSON ({e})") from None
        meta = dict(
            tx.execute(
                "SELECT key, value FROM meta "
                "WHERE key IN ('audit_count', 'audit_head', 'mac_key_id')"
            ).fetchall()
        )
        key_id = self._key.key_id.hex()
        self._same_key(meta.get("mac_key_id") or "", key_id)
        seq = int(meta["audit_count"]) + 1
        prev = meta["audit_head"]
        stamp = stamp or _now()
        digest = entry_hash(bytes.fromhex(prev), seq, stamp, station, uid, event, text)
        mac = entry_mac(self._key, digest)
        tx.execute(
            f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, stamp, station, uid, event, text, prev, digest.hex(), mac),
        )
        tx.execute(  # the head moves in the same statement as the count and the key id
            "UPDATE meta SET value = CASE key WHEN 'mac_key_id' THEN ? WHEN 'audit_count' THEN ? "
            "ELSE ? END WHERE key IN ('mac_key_id', 'audit_count', 'audit_head')",
            (key_id, str(seq), digest.hex()),
        )
        tx.appended = digest.hex()

    def allocate_serials(self, station: str, count: int = 1) -> list[int]:
        """``count`` consecutive serial numbers from the registry's counter (1, 2, ...): distinct
        across processes and stations; the allocation is audited."""
        station = _text(station, "station name")
        if not isinstance(count, int) or not 1 <= count <= 1_000_000:
            raise RegistryError(f"serial count must be 1 to 1000000, got {count!r}")

        def body(tx: Tx) -> int:
            row = tx.execute("SELECT value FROM meta WHERE key = 'next_serial'").fetchone()
            first = int(row[0])
            tx.execute("UPDATE meta SET value = ? WHERE key = 'next_serial'", (str(first + count),))
            self._append(tx, station, None, "serials", {"first": first, "count": count})
            return first

        first = self.backend.write("allocating serial numbers", body)
        return list(range(first, first + count))

    def claim(
        self,
        uid: bytes,
        *,
        station: str,
        key_id: bytes,
        image_id: bytes,
        image_version: str,
        security_counter: int,
    ) -> tuple[Claim, Device]:
        """Claim device ``uid`` for ``station`` in one write transaction (so two stations never
        both get NEW or RESUME for one device). NEW: no record yet; RESUME: it failed, or this
        station was interrupted on it (it becomes pending for this station, attempts + 1); DONE:
        verified already; TAKEN: another station is on it. A device recorded with another key
        id is refused (a device never gets two keys), and so is a security counter lower than
        the one recorded for it, in any state (a downgrade); nothing is written then."""
        uid_hex = _uid(uid)
        station = _text(station, "station name")
        key_hex = _hex(key_id, "key id")
        image_hex = _hex(image_id, "image id")
        image_version = _text(image_version, "image version")
        if not isinstance(security_counter, int) or not 0 <= security_counter <= 0xFFFFFFFF:
            raise RegistryError(f"security counter must be 0 to 2^32-1, got {security_counter!r}")
        claimed = {
            "key_id": key_hex,
            "image_id": image_hex,
            "image_version": image_version,
            "security_counter": security_counter,
        }
        return self.backend.write(
            f"claiming device {uid_hex}", lambda tx: self._claim(tx, uid_hex, station, claimed)
        )

    def _claim(
        self, tx: Tx, uid_hex: str, station: str, claimed: dict[str, Any]
    ) -> tuple[Claim, Device]:
        """The body of :meth:`claim` (``claimed``: its checked key id, image and counter)."""
        row = tx.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE uid = ?", (uid_hex,))
        row = row.fetchone()
        old = _device(row) if row else None
        key_hex, counter = claimed["key_id"], claimed["security_counter"]
        if old is not None and old.key_id != key_hex:
            raise RegistryError(
                f"device {uid_hex} was provisioned with key id {old.key_id}, this station "
                f"has key id {key_hex}: is it using a different master key? A device is "
                "never given two keys"
            )
        if old is not None and counter < old.security_counter:
            raise RegistryError(
                f"device {uid_hex} was given security counter {old.security_counter} "
                f"({old.image_version}); this image has counter {counter}: a device "
                "is never given an older image (build it with --security-counter "
                f"{old.security_counter} or higher)"
            )
        if old is not None and old.state == "verified":
            return Claim.DONE, old
        if old is not None and old.state != "failed" and old.station != station:
            return Claim.TAKEN, old
        now = _now()
        image = (claimed["image_id"], claimed["image_version"], counter)
        if old is None:
            outcome, attempts = Claim.NEW, 1
            new = Device(uid_hex, key_hex, *image, station, "pending", None, 1, now, now)
            tx.execute(
                f"INSERT INTO devices ({_DEVICE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, 1, ?, ?)",
                (uid_hex, key_hex, *image, station, now, now),
            )
        else:
            outcome, attempts = Claim.RESUME, old.attempts + 1
            new = dataclasses.replace(
                old, image_id=image[0], image_version=image[1], security_counter=counter,
                station=station, state="pending", reason=None, attempts=attempts, updated=now,
            )  # fmt: skip
            tx.execute(
                "UPDATE devices SET image_id = ?, image_version = ?, security_counter = ?, "
                "station = ?, state = 'pending', reason = NULL, attempts = ?, updated = ? "
                "WHERE uid = ?",
                (*image, station, attempts, now, uid_hex),
            )
        detail = {
            "outcome": outcome.value,
            "state": "pending",
            "from": old.state if old else None,
            **claimed,
            "attempts": attempts,
        }
        self._append(tx, station, uid_hex, "claim", detail, now)
        return outcome, new

    def set_state(
        self,
        uid: bytes,
        state: str,
        *,
        station: str,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Device:
        """Move a device this station claimed: pending -> programmed -> verified, or pending or
        programmed -> failed (``reason`` required). ``detail`` (plain JSON, never secrets) goes
        into the audit entry, which is written in the same transaction."""
        uid_hex = _uid(uid)
        station = _text(station, "station name")
        if state not in STATES:
            raise RegistryError(f"unknown device state {state!r} (one of {', '.join(STATES)})")
        if state == "failed":
            if reason is None:
                raise RegistryError(f"marking device {uid_hex} failed needs a reason")
            reason = _reason(reason)
        elif reason is not None:
            raise RegistryError(f"a reason is given only with state failed, not {state}")
        info: dict[str, Any] = dict(detail or {})
        clash = {"from", "state", "reason"} & set(info)
        if clash:
            raise RegistryError(f"audit detail may not set {', '.join(sorted(clash))}")

        def body(tx: Tx) -> Device:
            row = tx.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE uid = ?", (uid_hex,))
            row = row.fetchone()
            if row is None:
                raise RegistryError(f"no device {uid_hex} in registry {self.path}: claim it first")
            old = _device(row)
            if old.station != station:
                raise RegistryError(
                    f"device {uid_hex} is claimed by station {old.station!r}, not {station!r}"
                )
            if (old.state, state) not in _TRANSITIONS:
                raise RegistryError(
                    f"device {uid_hex} is {old.state}; it cannot become {state} (allowed: pending "
                    "-> programmed -> verified, pending or programmed -> failed)"
                )
            now = _now()
            tx.execute(
                "UPDATE devices SET state = ?, reason = ?, updated = ? WHERE uid = ?",
                (state, reason, now, uid_hex),
            )
            entry = {**info, "from": old.state, "state": state}
            if reason is not None:
                entry["reason"] = reason
            self._append(tx, station, uid_hex, "state", entry, now)
            return dataclasses.replace(old, state=state, reason=reason, updated=now)

        return self.backend.write(f"recording device {uid_hex} as {state}", body)

    # -- reads -----------------------------------------------------------------------------

    def get(self, uid: bytes) -> Device | None:
        uid_hex = _uid(uid)

        def body(tx: Tx) -> Device | None:
            row = tx.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE uid = ?", (uid_hex,))
            row = row.fetchone()
            return _device(row) if row else None

        return self.backend.read(f"reading device {uid_hex}", body)

    def devices(self, state: str | None = None) -> list[Device]:
        """All devices (or those in ``state``) in the order they were first claimed."""
        if state is not None and state not in STATES:
            raise RegistryError(f"unknown device state {state!r} (one of {', '.join(STATES)})")

        def body(tx: Tx) -> list[Device]:
            if state is None:
                rows = tx.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY id")
            else:
                rows = tx.execute(
                    f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE state = ? ORDER BY id", (state,)
                )
            return [_device(r) for r in rows.fetchall()]

        return self.backend.read("listing devices", body)

    def audit_entries(self, uid: bytes | None = None) -> list[AuditEntry]:
        """The audit log (of one device when ``uid`` is given), oldest first."""
        uid_hex = None if uid is None else _uid(uid)

        def body(tx: Tx) -> list[AuditEntry]:
            if uid_hex is None:
                rows = tx.execute(f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY seq")
            else:
                rows = tx.execute(
                    f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE uid = ? ORDER BY seq", (uid_hex,)
                )
            return [_entry(r) for r in rows.fetchall()]

        return self.backend.read("reading the audit log", body)

    def verify_chain(
        self, key: AuditKey | None = None, expect: Anchor | None = None
    ) -> ChainReport:
        """Check the audit log and every device record (:func:`ooc_sdk.provisioning.chain.verify`):
        the MACs too under ``key`` (default: the key this registry was opened with, if any),
        and against a head exported earlier when ``expect`` is given; in one snapshot, while
        stations go on writing."""
        key = key if key is not None else self._key

        def body(tx: Tx) -> ChainReport:
            meta = dict(tx.execute("SELECT key, value FROM meta").fetchall())
            devices = tx.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY id").fetchall()
            entries = tx.stream(f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY seq")
            return verify(entries, devices, meta, key, expect)

        return self.backend.read("verifying the audit chain", body, snapshot=True)
