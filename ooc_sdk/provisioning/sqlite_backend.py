"""The device registry in one SQLite file: the default, for stations on one PC.

``--registry PATH`` (else ``$OOC_REGISTRY``, else ``./ooc-registry.sqlite``), in WAL mode with
``synchronous=FULL`` and a 30 s busy timeout; every write is one ``BEGIN IMMEDIATE`` transaction
(the write lock is taken before anything is read, so what is read cannot change before the
write), so stations on one host share a file safely and a crash or a full disk loses at most the
step that was in flight. Opening a file migrates it to the current schema
(:mod:`ooc_sdk.provisioning.schema`). Not for a network share: SQLite's locks are not safe there;
a line on several PCs uses PostgreSQL (:mod:`ooc_sdk.provisioning.postgres_backend`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ooc_sdk.fileio import exclusive_lock
from ooc_sdk.provisioning.backend import ENV_REGISTRY, Backend, RegistryError, T, Tx
from ooc_sdk.provisioning.schema import SCHEMA_VERSION, check_meta, foreign, upgrade

BUSY_TIMEOUT_S = 30.0
NO_REGISTRY = "no registry at {path} (ooc provision run creates one)"


def sqlite_error(path: Path, e: sqlite3.Error, doing: str) -> RegistryError:
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


class _SqliteTx(Tx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


class SqliteBackend(Backend):
    dialect = "sqlite"
    kind = "an SQLite database"

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        """Use :meth:`open`."""
        self.where = self.path = path
        self.conn = conn

    @classmethod
    def open(cls, path: Path, create: bool) -> SqliteBackend:
        """Open the file (creating it when ``create``) in WAL mode; a file that is not a
        registry, or is newer than this ooc, is refused before anything is written to it."""
        path = Path(path)
        if not create and not path.exists():
            raise RegistryError(NO_REGISTRY.format(path=path))
        if path.is_dir():
            raise RegistryError(f"registry {path} is a directory, not a file")
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise sqlite_error(path, e, "opening it") from None
        backend = cls(path, conn)
        try:
            backend._prepare(create)
        except BaseException:
            conn.close()
            raise
        return backend

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def _sql(self, doing: str) -> Iterator[sqlite3.Connection]:
        """Map SQLite errors raised inside to RegistryError."""
        try:
            yield self.conn
        except sqlite3.Error as e:
            raise sqlite_error(self.path, e, doing) from None

    @contextlib.contextmanager
    def _transaction(self, doing: str, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction (``BEGIN IMMEDIATE`` for writes); rolled back on any error, SQLite
        errors turned into RegistryError."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield conn
            conn.execute("COMMIT")
        except BaseException as e:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise sqlite_error(self.path, e, doing) from None
            raise

    def read(self, doing: str, body: Callable[[Tx], T], *, snapshot: bool = False) -> T:
        if snapshot:
            with self._transaction(doing, write=False) as conn:
                return body(_SqliteTx(conn))
        with self._sql(doing) as conn:
            return body(_SqliteTx(conn))

    def write(self, doing: str, body: Callable[[Tx], T]) -> T:
        with self._transaction(doing, write=True) as conn:
            return body(_SqliteTx(conn))

    # -- identifying and migrating ---------------------------------------------------------

    def _identify(self, conn: sqlite3.Connection) -> int:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return 0
        if "meta" not in tables:
            raise foreign(self.path, self.kind)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError:
            raise foreign(self.path, self.kind) from None
        return check_meta(self.path, self.kind, meta)

    def version(self) -> int:
        with self._sql("reading its schema version") as conn:
            return self._identify(conn)

    def _identify_and_use_wal(self, create: bool) -> int:
        conn = self.conn
        version = self._identify(conn)  # before anything is written to a file not ours
        if version == 0 and not create:
            raise RegistryError(NO_REGISTRY.format(path=self.path) + f": {self.path} is empty")
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
        with self._sql("opening it"):
            while True:
                try:
                    self._identify_and_use_wal(create)
                    return
                except sqlite3.OperationalError as e:
                    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
                    busy = code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                    if not busy or time.monotonic() > deadline:
                        raise
                    time.sleep(0.005 + 0.02 * (os.getpid() % 7) / 7)

    def migrate(self) -> tuple[int, int]:
        before = self.version()
        if before == SCHEMA_VERSION:
            return before, before

        def body(tx: Tx) -> int:
            assert isinstance(tx, _SqliteTx)
            version = self._identify(tx.conn)  # again under the lock: another process may have won
            upgrade(tx, self.dialect, version)
            return version

        return self.write("updating its schema", body), SCHEMA_VERSION


def file_station_lock(registry: Path, station: str) -> contextlib.AbstractContextManager[object]:
    """Hold the lock of station ``station`` on registry file ``registry`` for a run: a file
    beside the registry named after the station, locked exclusively (fileio.exclusive_lock). A
    second run with the same station name on this machine is refused at once rather than
    provisioning the same devices twice; a crashed run's lock goes with its process."""
    if os.path.lexists(registry) and not registry.is_file():
        raise RegistryError(f"registry {registry} is not a regular file")
    name = urllib.parse.quote(station, safe="")
    if len(name) > 100:  # a file name has its limits; the hash keeps distinct names apart
        name = hashlib.sha256(station.encode()).hexdigest()[:32]
    path = registry.parent / f".{registry.name}.station-{name}.lock"
    return exclusive_lock(
        path,
        f"station {station!r} is already running on this machine (it holds {path}): wait for "
        "it to finish, or give this run another --station",
    )
