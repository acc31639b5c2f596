"""The manufacturing device registry: which device got which key id and image, where, and when.

One record per device (UID, key id, image id and version, security counter, station, state,
attempts, timestamps) and an append-only audit log. The registry never holds key material: root
keys are derived from the master secret (:mod:`ooc_sdk.image.keystore`), so a key id (a
public fingerprint of the master secret) is all a record needs to say which key a device has.

Storage. An SQLite file (``--registry PATH``, else ``$OOC_REGISTRY``, else
``./ooc-registry.sqlite``) in WAL mode with ``synchronous=FULL`` and a 30 s busy timeout; every
write is one ``BEGIN IMMEDIATE`` transaction, so stations on one host share a file safely and a
crash or a full disk loses at most the step that was in flight. All SQL lives in
:class:`Registry` and is plain (no SQLite extension beyond ``BEGIN IMMEDIATE``, the pragmas in
``Registry.open`` and the trigger ``RAISE``). A shared database server for a multi-station line
would implement the same public methods over the same tables: the write transaction takes a row
lock on the ``meta`` audit head (``SELECT ... FOR UPDATE``), which serialises writers as SQLite's
write lock does here; the append-only triggers become the server's ``BEFORE UPDATE OR DELETE``
triggers; its error codes map to :class:`RegistryError` in one function as
:func:`_sqlite_error` does; and ``Registry.MIGRATIONS`` is replayed in its dialect. Validation,
hashing and the claim rules stay in Python and are shared.

Schema (version 3; ``Registry.MIGRATIONS`` is the history, applied in order in one transaction):

- ``meta(key TEXT PRIMARY KEY, value TEXT)``: ``application`` = ``ooc-device-registry`` (a random
  SQLite file is refused), ``schema_version``, ``audit_count`` and ``audit_head`` (the number of
  audit entries and the last entry's hash, updated in the transaction that appends),
  ``next_serial`` (the serial-number counter, from version 2) and ``mac_key_id`` (the master key
  id the audit MACs are made under, set by the first write after version 3; "" before).
- ``devices``: ``id`` (creation order), ``uid`` (32 lowercase hex, unique), ``key_id``,
  ``image_id`` (hex), ``image_version``, ``security_counter``, ``station``, ``state`` (one of
  :data:`STATES`), ``reason`` (set when the device failed, cleared when a station resumes it),
  ``attempts`` (claims), ``created`` and ``updated`` (UTC ISO-8601).
- ``audit``: ``seq`` (1, 2, ...), ``time``, ``station``, ``uid`` (NULL for serial allocation),
  ``event`` (``claim``, ``state`` or ``serials``), ``detail`` (canonical JSON, never secrets),
  ``prev_hash`` and ``hash`` (64 lowercase hex), and ``mac`` (64 lowercase hex, from version 3;
  NULL in older entries). Triggers abort every UPDATE and DELETE.

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
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ooc_sdk import __version__
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.provisioning.chain import (
    AUDIT_FIELDS,
    DEVICE_FIELDS,
    GENESIS_HASH,
    Anchor,
    AuditEntry,
    AuditKey,
    ChainReport,
    canonical_json,
    entry_hash,
    entry_mac,
    verify,
)

STATES = ("pending", "programmed", "verified", "failed")
ENV_REGISTRY = "OOC_REGISTRY"
DEFAULT_NAME = "ooc-registry.sqlite"
APPLICATION = "ooc-device-registry"
BUSY_TIMEOUT_S = 30.0

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
_NO_REGISTRY = "no registry at {path} (ooc provision run creates one)"


class RegistryError(InvalidArgumentError):
    """A registry failure: one line that names the registry and says what to do."""


def registry_path(option: Path | None) -> Path:
    """The registry file: ``--registry``, else ``$OOC_REGISTRY``, else ``./ooc-registry.sqlite``."""
    if option is not None:
        return Path(option)
    env = os.environ.get(ENV_REGISTRY)
    if env:
        return Path(env)
    return Path.cwd() / DEFAULT_NAME


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


def _sqlite_error(path: Path, e: sqlite3.Error, doing: str) -> RegistryError:
    """The one place an SQLite error becomes a RegistryError that says what to do."""
    code = getattr(e, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    msg = " ".join(str(e).split())
    if primary == sqlite3.SQLITE_FULL:
        text = (
            f"registry {path}: the disk is full ({msg}) while {doing}; that step was not "
            "recorded and everything recorded before is intact: free disk space, then run again"
        )
    elif primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        text = (
            f"registry {path} stayed locked by another process for {BUSY_TIMEOUT_S:.0f} s while "
            f"{doing} ({msg}): check for a hung station or a program holding it open, then retry"
        )
    elif primary == sqlite3.SQLITE_READONLY:
        text = (
            f"registry {path} is read-only ({msg}) while {doing}: give this user write access "
            "to the file and its directory"
        )
    elif primary == sqlite3.SQLITE_CORRUPT:
        text = (
            f"registry {path} is damaged ({msg}): stop the stations and restore the registry "
            "from its last backup"
        )
    elif primary == sqlite3.SQLITE_NOTADB:
        text = (
            f"{path} is not an ooc device registry (not an SQLite database): check --registry "
            f"or ${ENV_REGISTRY}"
        )
    elif primary == sqlite3.SQLITE_CANTOPEN:
        text = (
            f"cannot open registry {path} ({msg}): check that its directory exists and this "
            "user may write there"
        )
    elif primary == sqlite3.SQLITE_IOERR:
        text = f"I/O error on registry {path} while {doing} ({msg}): check the disk, then retry"
    else:
        text = f"registry {path}: {msg} while {doing}"
    return RegistryError(text)


_DEVICE_COLUMNS = ", ".join(DEVICE_FIELDS)
_AUDIT_COLUMNS = ", ".join(AUDIT_FIELDS)


def _device(row: tuple[Any, ...]) -> Device:
    return Device(*row)


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, stamp, station, uid, event, detail, prev_hash, hash_, mac = row
    return AuditEntry(seq, stamp, station, uid, event, json.loads(detail), prev_hash, hash_, mac)


class Registry:
    """An open registry. Every method is one transaction; use one Registry per thread."""

    # (version, statements): the schema's history, applied in order inside one transaction.
    # Never edit a released entry; append a new version instead.
    MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
        (
            1,
            (
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                f"INSERT INTO meta (key, value) VALUES ('application', '{APPLICATION}')",
                "INSERT INTO meta (key, value) VALUES ('audit_count', '0')",
                f"INSERT INTO meta (key, value) VALUES ('audit_head', '{GENESIS_HASH.hex()}')",
                """CREATE TABLE devices (
                    id INTEGER PRIMARY KEY,
                    uid TEXT NOT NULL UNIQUE,
                    key_id TEXT NOT NULL,
                    image_id TEXT NOT NULL,
                    image_version TEXT NOT NULL,
                    security_counter INTEGER NOT NULL,
                    station TEXT NOT NULL,
                    state TEXT NOT NULL
                        CHECK (state IN ('pending', 'programmed', 'verified', 'failed')),
                    reason TEXT,
                    attempts INTEGER NOT NULL,
                    created TEXT NOT NULL,
                    updated TEXT NOT NULL
                )""",
                """CREATE TABLE audit (
                    seq INTEGER PRIMARY KEY,
                    time TEXT NOT NULL,
                    station TEXT NOT NULL,
                    uid TEXT,
                    event TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                )""",
                """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
                """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
            ),
        ),
        (
            2,
            (
                "INSERT INTO meta (key, value) VALUES ('next_serial', '1')",
                "CREATE INDEX devices_by_state ON devices (state, id)",
                "CREATE INDEX audit_by_uid ON audit (uid, seq)",
            ),
        ),
        (
            3,
            (
                "ALTER TABLE audit ADD COLUMN mac TEXT",
                "INSERT INTO meta (key, value) VALUES ('mac_key_id', '')",
            ),
        ),
    )

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        """Use :meth:`open`."""
        self.path = path
        self._conn = conn
        self._key: AuditKey | None = None

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r})"

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    # -- opening and migrations ------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, create: bool = True, key: AuditKey | None = None) -> Registry:
        """Open the registry at ``path`` (creating it when ``create``) at the current schema;
        with ``key`` (the factory keystore) it may be written (:meth:`use_key`)."""
        path = Path(path)
        if not create and not path.exists():
            raise RegistryError(_NO_REGISTRY.format(path=path))
        if path.is_dir():
            raise RegistryError(f"registry {path} is a directory, not a file")
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise _sqlite_error(path, e, "opening it") from None
        reg = cls(path, conn)
        try:
            reg._prepare(create)
            if key is not None:
                reg.use_key(key)
        except BaseException:
            conn.close()
            raise
        return reg

    @contextlib.contextmanager
    def _sql(self, doing: str) -> Iterator[sqlite3.Connection]:
        """Map SQLite errors raised inside to RegistryError."""
        try:
            yield self._conn
        except sqlite3.Error as e:
            raise _sqlite_error(self.path, e, doing) from None

    @contextlib.contextmanager
    def _transaction(self, doing: str, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction (``BEGIN IMMEDIATE`` for writes: the write lock is taken before
        anything is read, so what is read cannot change before the write); rolled back on any
        error, SQLite errors turned into RegistryError."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield conn
            conn.execute("COMMIT")
        except BaseException as e:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise _sqlite_error(self.path, e, doing) from None
            raise

    def _version(self, conn: sqlite3.Connection) -> int:
        """The schema version of the open file (0: an empty database); refuse other files."""
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return 0
        foreign = RegistryError(
            f"{self.path} is an SQLite database but not an ooc device registry: check "
            f"--registry or ${ENV_REGISTRY}"
        )
        if "meta" not in tables:
            raise foreign
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError:
            raise foreign from None
        if meta.get("application") != APPLICATION:
            raise foreign
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            raise RegistryError(
                f"registry {self.path} is damaged (no schema version): restore it from its last "
                "backup"
            ) from None
        if version > SCHEMA_VERSION:
            raise RegistryError(
                f"registry {self.path} has schema version {version}, newer than this ooc "
                f"{__version__} knows ({SCHEMA_VERSION}): upgrade ooc on this station"
            )
        return version

    def _identify_and_use_wal(self, conn: sqlite3.Connection, create: bool) -> int:
        version = self._version(conn)  # before anything is written to a file not ours
        if version == 0 and not create:
            raise RegistryError(_NO_REGISTRY.format(path=self.path) + f": {self.path} is empty")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RegistryError(
                f"registry {self.path} cannot use a write-ahead log (journal mode {mode}): "
                "keep it on a local disk"
            )
        conn.execute("PRAGMA synchronous = FULL")
        return version

    def _prepare(self, create: bool) -> None:
        # Switching a new file to WAL while another process opens it can fail at once with
        # SQLITE_BUSY (SQLite skips the busy handler where waiting could deadlock): retry that
        # part until the busy timeout. Once in WAL mode, BEGIN IMMEDIATE waits as it should.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        with self._sql("opening it") as conn:
            while True:
                try:
                    version = self._identify_and_use_wal(conn, create)
                    break
                except sqlite3.OperationalError as e:
                    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
                    busy = code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                    if not busy or time.monotonic() > deadline:
                        raise
                    time.sleep(0.005 + 0.02 * (os.getpid() % 7) / 7)
        if version == SCHEMA_VERSION:
            return
        with self._transaction("updating its schema", write=True) as conn:
            version = self._version(conn)  # again under the lock: another process may have won
            for target, statements in self.MIGRATIONS:
                if target > version:
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                        (str(target),),
                    )

    def use_key(self, key: AuditKey) -> None:
        """Write from now on, with every audit entry MACed under ``key`` (the factory keystore):
        refused when the registry is kept under another master key."""
        with self._sql("reading its master key id") as conn:
            self._check_key(conn, key)
        self._key = key

    def _check_key(self, conn: sqlite3.Connection, key: AuditKey) -> str:
        """``key``'s id (hex) once it is the registry's (or the registry has none yet)."""
        key_id = key.key_id.hex()
        row = conn.execute("SELECT value FROM meta WHERE key = 'mac_key_id'").fetchone()
        kept = row[0] if row else ""
        if kept and kept != key_id:
            raise RegistryError(
                f"registry {self.path} is kept under master key id {kept}; this station has "
                f"master key id {key_id}: use that registry's master key, or another registry"
            )
        return key_id

    @property
    def schema_version(self) -> int:
        with self._sql("reading its schema version") as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])

    # -- writes ----------------------------------------------------------------------------

    def _append(
        self,
        conn: sqlite3.Connection,
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
        key_id = self._check_key(conn, self._key)
        _check_detail(detail)
        try:
            text = canonical_json(detail)
        except (TypeError, ValueError) as e:
            raise RegistryError(f"audit detail is not plain JSON ({e})") from None
        meta = dict(
            conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('audit_count', 'audit_head')"
            ).fetchall()
        )
        seq = int(meta["audit_count"]) + 1
        prev = meta["audit_head"]
        stamp = stamp or _now()
        digest = entry_hash(bytes.fromhex(prev), seq, stamp, station, uid, event, text)
        mac = entry_mac(self._key, digest)
        conn.execute(
            f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, stamp, station, uid, event, text, prev, digest.hex(), mac),
        )
        conn.execute("UPDATE meta SET value = ? WHERE key = 'mac_key_id'", (key_id,))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_count'", (str(seq),))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (digest.hex(),))

    def allocate_serials(self, station: str, count: int = 1) -> list[int]:
        """``count`` consecutive serial numbers from the registry's counter (1, 2, ...): distinct
        across processes and stations; the allocation is audited."""
        station = _text(station, "station name")
        if not isinstance(count, int) or not 1 <= count <= 1_000_000:
            raise RegistryError(f"serial count must be 1 to 1000000, got {count!r}")
        with self._transaction("allocating serial numbers", write=True) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'next_serial'").fetchone()
            first = int(row[0])
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'next_serial'", (str(first + count),)
            )
            self._append(conn, station, None, "serials", {"first": first, "count": count})
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
        with self._transaction(f"claiming device {uid_hex}", write=True) as conn:
            row = conn.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE uid = ?", (uid_hex,)
            ).fetchone()
            old = _device(row) if row else None
            if old is not None and old.key_id != key_hex:
                raise RegistryError(
                    f"device {uid_hex} was provisioned with key id {old.key_id}, this station "
                    f"has key id {key_hex}: is it using a different master key? A device is "
                    "never given two keys"
                )
            if old is not None and security_counter < old.security_counter:
                raise RegistryError(
                    f"device {uid_hex} was given security counter {old.security_counter} "
                    f"({old.image_version}); this image has counter {security_counter}: a device "
                    "is never given an older image (build it with --security-counter "
                    f"{old.security_counter} or higher)"
                )
            if old is not None and old.state == "verified":
                return Claim.DONE, old
            if old is not None and old.state != "failed" and old.station != station:
                return Claim.TAKEN, old
            now = _now()
            if old is None:
                outcome, attempts = Claim.NEW, 1
                conn.execute(
                    f"INSERT INTO devices ({_DEVICE_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, 1, ?, ?)",
                    (
                        uid_hex,
                        key_hex,
                        image_hex,
                        image_version,
                        security_counter,
                        station,
                        now,
                        now,
                    ),
                )
            else:
                outcome, attempts = Claim.RESUME, old.attempts + 1
                conn.execute(
                    "UPDATE devices SET image_id = ?, image_version = ?, security_counter = ?, "
                    "station = ?, state = 'pending', reason = NULL, attempts = ?, updated = ? "
                    "WHERE uid = ?",
                    (image_hex, image_version, security_counter, station, attempts, now, uid_hex),
                )
            detail = {
                "outcome": outcome.value,
                "state": "pending",
                "from": old.state if old else None,
                "key_id": key_hex,
                "image_id": image_hex,
                "image_version": image_version,
                "security_counter": security_counter,
                "attempts": attempts,
            }
            self._append(conn, station, uid_hex, "claim", detail, now)
            new = _device(
                conn.execute(
                    f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE uid = ?", (uid_hex,)
                ).fetchone()
            )
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
        with self._transaction(f"recording device {uid_hex} as {state}", write=True) as conn:
            row = conn.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE uid = ?", (uid_hex,)
            ).fetchone()
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
            conn.execute(
                "UPDATE devices SET state = ?, reason = ?, updated = ? WHERE uid = ?",
                (state, reason, now, uid_hex),
            )
            info.update({"from": old.state, "state": state})
            if reason is not None:
                info["reason"] = reason
            self._append(conn, station, uid_hex, "state", info, now)
        return dataclasses.replace(old, state=state, reason=reason, updated=now)

    # -- reads -----------------------------------------------------------------------------

    def get(self, uid: bytes) -> Device | None:
        uid_hex = _uid(uid)
        with self._sql(f"reading device {uid_hex}") as conn:
            row = conn.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE uid = ?", (uid_hex,)
            ).fetchone()
        return _device(row) if row else None

    def devices(self, state: str | None = None) -> list[Device]:
        """All devices (or those in ``state``) in the order they were first claimed."""
        if state is not None and state not in STATES:
            raise RegistryError(f"unknown device state {state!r} (one of {', '.join(STATES)})")
        with self._sql("listing devices") as conn:
            if state is None:
                rows = conn.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY id")
            else:
                rows = conn.execute(
                    f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE state = ? ORDER BY id", (state,)
                )
            return [_device(r) for r in rows.fetchall()]

    def audit_entries(self, uid: bytes | None = None) -> list[AuditEntry]:
        """The audit log (of one device when ``uid`` is given), oldest first."""
        with self._sql("reading the audit log") as conn:
            if uid is None:
                rows = conn.execute(f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY seq")
            else:
                rows = conn.execute(
                    f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE uid = ? ORDER BY seq", (_uid(uid),)
                )
            return [_entry(r) for r in rows.fetchall()]

    def verify_chain(
        self, key: AuditKey | None = None, expect: Anchor | None = None
    ) -> ChainReport:
        """Check the audit log and every device record (:func:`ooc_sdk.provisioning.chain.verify`):
        the MACs too under ``key`` (default: the key this registry was opened with, if any),
        and against a head exported earlier when ``expect`` is given."""
        key = key if key is not None else self._key
        with self._transaction("verifying the audit chain", write=False) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            devices = conn.execute(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY id").fetchall()
            entries = conn.execute(f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY seq")
            return verify(entries, devices, meta, key, expect)


SCHEMA_VERSION = Registry.MIGRATIONS[-1][0]
