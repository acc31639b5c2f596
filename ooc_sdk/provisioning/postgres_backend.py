"""The device registry in a PostgreSQL database: one registry for a line of stations on several
PCs (``--registry postgresql://USER@HOST/DB``, or ``$OOC_REGISTRY``), through psycopg 3 (the
``postgresql`` extra: ``pip install 'ooc-sdk[postgresql]'``).

Transactions. A write runs at READ COMMITTED and first locks the chain head's row
(``SELECT value FROM meta WHERE key = 'audit_head' FOR UPDATE``): every writer takes that one row
lock first, so writers are serialised as SQLite's write lock serialises them, each statement
after the lock sees everything committed before it, two stations never claim one UID, and the
audit entry each appends links to the head the previous writer committed. A serialisation
failure or a deadlock (neither should happen with that order; the server may still report one)
runs the transaction again. The audit's reads run in one REPEATABLE READ READ ONLY snapshot.

The server going away. A station that loses its connection (server restarted, network cut)
reconnects and runs the interrupted step again, for up to :data:`SERVER_WAIT_S`; then it stops
with one line. A step cut off before COMMIT was rolled back by the server, so running it again is
exact; one cut off during COMMIT may or may not have been committed: the backend looks for the
audit entry it appended (its hash is unique) and runs the step again only if it is not there. So
a restart mid-batch loses nothing and records nothing twice.

Sessions set ``lock_timeout`` (:data:`LOCK_TIMEOUT_S`: a writer waits that long for the head) and
``idle_in_transaction_session_timeout`` (a station that hangs inside a transaction loses it, so
it cannot hold the head for the line). Opening checks that the database is a registry at this
ooc's schema; it never creates or upgrades one (``ooc registry migrate`` does, as the database's
owner). Station names are kept apart by a session advisory lock per name
(:meth:`PostgresBackend.hold_station`), across every PC of the line.

Errors become one line that names the registry by its URL without the password
(:func:`ooc_sdk.provisioning.backend.redact`); a password is never shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ooc_sdk.provisioning.backend import (
    ENV_REGISTRY,
    Backend,
    RegistryError,
    T,
    Tx,
    redact,
    scrub,
    url_password,
)
from ooc_sdk.provisioning.schema import SCHEMA_VERSION, check_meta, foreign, upgrade

SERVER_WAIT_S = 60.0  # how long a station waits for a server that went away mid-batch
CONNECT_TIMEOUT_S = 10  # opening: a server that does not answer in this time is down
LOCK_TIMEOUT_S = 30  # a writer's wait for the chain head
IDLE_IN_TRANSACTION_S = 20  # the server ends a session idle inside a transaction this long
_RETRIES = 20  # serialisation failures and deadlocks in a row
_LOCK_HEAD = "SELECT value FROM meta WHERE key = 'audit_head' FOR UPDATE"
_MIGRATE_LOCK = int.from_bytes(hashlib.sha256(b"ooc registry migrate").digest()[:8], "big") >> 1
_NEEDS = "a postgresql:// registry needs psycopg 3: pip install 'ooc-sdk[postgresql]'"
# SQLSTATEs: retried at once / the connection is gone
_RETRY = ("40001", "40P01")
_GONE = ("57P01", "57P02", "57P03", "25P03")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise RegistryError(_NEEDS) from None
    return psycopg


def _station_key(station: str) -> int:
    """The advisory lock id of a station name (a signed 64-bit number)."""
    digest = hashlib.sha256(b"ooc station\0" + station.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _PgTx(Tx):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if params:
            return self.conn.execute(sql.replace("?", "%s"), tuple(params))
        return self.conn.execute(sql)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), [tuple(r) for r in rows])

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        with self.conn.cursor(name="ooc_stream") as cur:
            cur.itersize = 2000
            cur.execute(sql.replace("?", "%s"), tuple(params) if params else None)
            yield from cur


class PostgresBackend(Backend):
    dialect = "postgresql"
    kind = "a PostgreSQL database"

    def __init__(self, url: str) -> None:
        """Use :meth:`open`."""
        self.url = url
        self.where = redact(url)
        self._secret = url_password(url)
        self._conn: Any = None
        self._stations: dict[str, int] = {}

    @classmethod
    def open(cls, url: str) -> PostgresBackend:
        """Connect (no waiting: a server that is down is one line at once)."""
        psycopg = _psycopg()
        backend = cls(url)
        try:
            backend._connect()
        except psycopg.Error as e:
            raise backend._error(e, "connecting to it") from None
        return backend

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the connection --------------------------------------------------------------------

    def _connect(self) -> Any:
        psycopg = _psycopg()
        info = psycopg.conninfo.conninfo_to_dict(self.url)
        defaults = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "ooc",
            # a server or network that died silently is noticed in about 25 s, not hours
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
        extra = {k: v for k, v in defaults.items() if k not in info}
        conn = psycopg.connect(self.url, autocommit=True, **extra)
        try:
            conn.execute(
                f"SET lock_timeout = '{LOCK_TIMEOUT_S}s'; "
                f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_S}s'; "
                # and the server notices a station that died silently (its locks go with it)
                "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; "
                "SET tcp_keepalives_count = 3"
            )
            for station, key in self._stations.items():  # after a reconnect: take them again
                self._retake(conn, station, key)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _retake(self, conn: Any, station: str, key: int) -> None:
        """Take a station's lock again on a new session; the old session may linger on the
        server until it notices that its client is gone (keepalives: about 25 s)."""
        deadline = time.monotonic() + SERVER_WAIT_S
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"station {station!r} lost its lock on registry {self.where} while the "
                    "server was away, and another run with that name holds it now: stopping"
                )
            time.sleep(0.5)

    def _live(self) -> Any:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._conn = None
            conn = self._connect()
        return conn

    def _gone(self, e: Exception) -> bool:
        """Whether ``e`` means the server or the connection went away (worth reconnecting)."""
        psycopg = _psycopg()
        if not isinstance(e, psycopg.OperationalError):
            return False
        conn = self._conn
        state = getattr(e, "sqlstate", None)
        if state is None or state.startswith("08") or state in _GONE:
            return True
        return conn is None or conn.closed or conn.broken

    def _rollback(self) -> None:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return
        with contextlib.suppress(Exception):
            if conn.info.transaction_status != 0:  # not idle: in a (failed) transaction
                conn.execute("ROLLBACK")

    # -- transactions ----------------------------------------------------------------------

    def read(self, doing: str, body: Callable[[Tx], T], *, snapshot: bool = False) -> T:
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if snapshot else None
        return self._run(doing, body, begin, lock=False)

    def write(self, doing: str, body: Callable[[Tx], T]) -> T:
        return self._run(doing, body, "BEGIN", lock=True)

    def _run(self, doing: str, body: Callable[[Tx], T], begin: str | None, lock: bool) -> T:
        """Run ``body`` in one transaction; again after a serialisation failure, and after the
        server went away until it is back (up to SERVER_WAIT_S), unless it had committed."""
        psycopg = _psycopg()
        deadline: float | None = None
        retries = 0
        while True:
            committing = False
            tx: _PgTx | None = None
            try:
                conn = self._live()
                tx = _PgTx(conn)
                if begin:  # with the writers' lock in the same round trip
                    conn.execute(f"{begin}; {_LOCK_HEAD}" if lock else begin)
                result = body(tx)
                if begin:
                    committing = True
                    conn.execute("COMMIT")
                return result
            except psycopg.Error as e:
                self._rollback()
                if not self._gone(e):
                    if e.sqlstate in _RETRY and retries < _RETRIES:
                        retries += 1
                        time.sleep(0.001 * retries)
                        continue
                    raise self._error(e, doing) from None
                deadline = deadline or time.monotonic() + SERVER_WAIT_S
                if committing and tx is not None and tx.appended is not None:
                    if self._committed(tx.appended, deadline, doing):
                        return result
                    continue  # rolled back: run it again (a body without an entry runs again too)
                if time.monotonic() > deadline:
                    raise self._error(e, doing, waited=True) from None
                time.sleep(0.25)
            except BaseException:
                self._rollback()
                raise

    def _committed(self, head: str, deadline: float, doing: str) -> bool:
        """After losing the server during COMMIT: whether the audit entry with hash ``head``
        (the one that transaction appended) is in the log, once the server answers again."""
        psycopg = _psycopg()
        while True:
            try:
                row = self._live().execute("SELECT 1 FROM audit WHERE hash = %s", (head,))
                return row.fetchone() is not None
            except psycopg.Error as e:
                if not self._gone(e) or time.monotonic() > deadline:
                    raise self._error(e, doing, waited=self._gone(e)) from None
                time.sleep(0.25)

    # -- identifying and migrating ---------------------------------------------------------

    def _identify(self, tx: Tx) -> int:
        tables = {
            r[0]
            for r in tx.execute(  # pg_class: tables this role may not read are listed too
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
            )
        }
        if not tables:
            return 0
        if "meta" not in tables:
            raise foreign(self.where, self.kind)
        errors = _psycopg().errors
        try:
            meta = dict(tx.execute("SELECT key, value FROM meta").fetchall())
        except (errors.UndefinedColumn, errors.DatatypeMismatch):  # a table named meta, not ours
            raise foreign(self.where, self.kind) from None
        return check_meta(self.where, self.kind, meta)

    def version(self) -> int:
        return self._run("reading its schema version", self._identify, "BEGIN", lock=False)

    def check_current(self) -> None:
        """Refuse a database without a registry, or with one older than this ooc's schema."""
        version = self.version()
        if version == 0:
            raise RegistryError(
                f"{self.where} holds no ooc device registry yet: create it with `ooc registry "
                "migrate --registry URL` as the database's owner, or check --registry or "
                f"${ENV_REGISTRY}"
            )
        if version < SCHEMA_VERSION:
            raise RegistryError(
                f"registry {self.where} has schema version {version}; this ooc needs "
                f"{SCHEMA_VERSION}: run `ooc registry migrate --registry URL` as its owner once "
                "every station of the line runs this ooc"
            )

    def migrate(self) -> tuple[int, int]:
        def body(tx: Tx) -> int:
            tx.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATE_LOCK,))
            version = self._identify(tx)  # under the lock: another migration may have won
            upgrade(tx, self.dialect, version)
            return version

        return self._run("updating its schema", body, "BEGIN", lock=False), SCHEMA_VERSION

    @contextlib.contextmanager
    def hold_station(self, station: str) -> Iterator[object]:
        """A session advisory lock per station name: a second run with this name, on any PC of
        the line, is refused at once; the lock goes with the session (a killed station's too)."""
        key = _station_key(station)

        def take(tx: Tx) -> bool:
            return bool(tx.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()[0])

        if not self._run(f"locking station {station!r}", take, None, lock=False):
            raise RegistryError(
                f"station {station!r} is already running on registry {self.where} (on this or "
                "another PC): wait for it to finish, or give this run another --station"
            )
        self._stations[station] = key
        try:
            yield None
        finally:
            del self._stations[station]
            conn = self._conn
            if conn is not None and not conn.closed and not conn.broken:
                with contextlib.suppress(Exception):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    # -- errors ----------------------------------------------------------------------------

    def _error(self, e: Exception, doing: str, waited: bool = False) -> RegistryError:
        """The one place a PostgreSQL error becomes a RegistryError that says what to do."""
        where = self.where
        state = getattr(e, "sqlstate", None)
        msg = scrub(" ".join(str(e).split()), self._secret)
        low = msg.lower()
        if isinstance(e, RegistryError):
            return e
        if state in ("28P01", "28000") or "authentication failed" in low or "pg_hba" in low:
            text = (
                f"registry {where}: the server refused the login ({msg}): check the user and "
                "its password (keep passwords in ~/.pgpass or $PGPASSFILE, not in the URL)"
            )
        elif state == "3D000" or ("database" in low and "does not exist" in low):
            text = (
                f"registry {where}: {msg}: create the database first (docs/provisioning.md, "
                '"Scaling a line")'
            )
        elif state == "42501" or "permission denied" in low:
            text = (
                f"registry {where}: this role may not do that while {doing} ({msg}): grant it "
                'the privileges docs/provisioning.md lists ("Scaling a line")'
            )
        elif state == "53100":
            text = (
                f"registry {where}: the server's disk is full ({msg}) while {doing}; that step "
                "was not recorded and everything recorded before is intact: free disk space on "
                "the server, then run again"
            )
        elif state == "55P03":
            text = (
                f"registry {where}: the chain head stayed locked by another session for "
                f"{LOCK_TIMEOUT_S} s while {doing} ({msg}): check for a hung station, then retry"
            )
        elif waited:
            text = (
                f"lost the registry server {where} while {doing} and it did not come back within "
                f"{SERVER_WAIT_S:.0f} s ({msg}): that step was not recorded and everything "
                "recorded before is intact; run the same command again once the server is back"
            )
        elif self._gone(e):
            text = (
                f"cannot reach the registry server {where} ({msg}) while {doing}: check that "
                "PostgreSQL runs there and that this PC reaches it, and check --registry or "
                f"${ENV_REGISTRY}"
            )
        else:
            text = f"registry {where}: {msg} while {doing}"
        return RegistryError(text)
