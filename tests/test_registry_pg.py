"""The device registry on PostgreSQL (ooc_sdk/provisioning/postgres_backend.py) against a real
server the tests start (tests/pgserver.py): the registry's rules as on SQLite, claims from many
processes at once, the append-only log, a server lost mid-step, the migrations and the
schema-version check, export from SQLite and import into PostgreSQL and back, bad input through
the CLI (one line, exit 2, nothing written, never a password), and the line: 8 station processes
x 50 devices with kill -9 and a server restart mid-run, then the same commands again."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg  # the dev extra has it (a missing psycopg fails here, loudly)
import pytest

from ooc_sdk.cli import main
from ooc_sdk.image.keystore import ENV_FILE, SecretKeystore
from ooc_sdk.provisioning import postgres_backend
from ooc_sdk.provisioning.backend import ENV_REGISTRY, redact, registry_location
from ooc_sdk.provisioning.registry import SCHEMA_VERSION, Claim, Registry, RegistryError
from ooc_sdk.provisioning.schema import MIGRATIONS

sys.path.insert(0, str(Path(__file__).parent))
import pgserver
from test_registry import IMAGE, KEY, KS, claim, provision, uid

from conftest import shared_model

_names = itertools.count()


@pytest.fixture(scope="session")
def pg() -> Iterator[pgserver.PgServer]:
    """One server per test process (each xdist worker starts its own, ~2 s). PostgreSQL missing
    fails under CI (CI=true), where scripts/install-toolchains.sh installs it, and skips
    elsewhere; a server that is installed but will not start always fails."""
    if pgserver.find_bin() is None:
        why = "PostgreSQL is not installed (apt-get install postgresql; scripts/install-toolchains.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    try:
        server = pgserver.start_server()
    except (OSError, RuntimeError) as e:
        pytest.fail(f"could not start a PostgreSQL server: {e}", pytrace=False)
    try:
        yield server
    finally:
        pgserver.remove(server)


@pytest.fixture
def empty_db(pg: pgserver.PgServer) -> str:
    """The URL of a new, empty database owned by the station role."""
    return pg.create_database(f"t{next(_names)}")


@pytest.fixture
def url(empty_db: str) -> str:
    """The URL of a new registry (``ooc registry migrate`` made it)."""
    assert Registry.migrate(empty_db) == (0, SCHEMA_VERSION)
    return empty_db


@pytest.fixture
def reg(url: str) -> Iterator[Registry]:
    with Registry.open(url, key=KS) as r:
        yield r


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_FILE, raising=False)
    monkeypatch.delenv(ENV_REGISTRY, raising=False)


def ooc(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


def snapshot(pg: pgserver.PgServer, db: str) -> dict[str, list[Any]]:
    """Every table of ``db`` and its rows: what 'nothing written' compares."""
    with pg.admin(db) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' ORDER BY table_name"
            )
        ]
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}


# -- the registry's rules, as on SQLite ---------------------------------------------------------


def test_claims_states_and_serials(reg: Registry) -> None:
    assert reg.schema_version == SCHEMA_VERSION and reg.path.startswith("postgresql://")
    assert reg.allocate_serials("st1", 3) == [1, 2, 3]
    outcome, dev = claim(reg, 1)
    assert outcome is Claim.NEW and (dev.state, dev.attempts, dev.station) == ("pending", 1, "st1")
    assert claim(reg, 1, "st2") == (Claim.TAKEN, dev)
    reg.set_state(uid(1), "failed", station="st1", reason="probe:\n lost")
    outcome, dev = claim(reg, 1, "st2")
    assert outcome is Claim.RESUME and (dev.station, dev.attempts, dev.reason) == ("st2", 2, None)
    reg.set_state(uid(1), "programmed", station="st2", detail={"bytes": 4096})
    done = reg.set_state(uid(1), "verified", station="st2")
    assert claim(reg, 1, "st3") == (Claim.DONE, done) and reg.get(uid(1)) == done
    with pytest.raises(RegistryError, match="different master key"):
        claim(reg, 1, key=bytes(8))
    with pytest.raises(RegistryError, match="never given an older image"):
        reg.claim(uid(1), station="st1", key_id=KEY, image_id=IMAGE, image_version="old",
                  security_counter=1)  # fmt: skip
    claim(reg, 2)
    with pytest.raises(RegistryError, match="cannot become verified"):
        reg.set_state(uid(2), "verified", station="st1")
    provision(reg, 3, "st3")
    assert [d.uid for d in reg.devices()] == [uid(n).hex() for n in (1, 2, 3)]
    assert [d.uid for d in reg.devices("verified")] == [uid(1).hex(), uid(3).hex()]
    assert reg.audit_entries(uid(1))[-1].detail == {"from": "programmed", "state": "verified"}
    assert reg.get(uid(9)) is None
    report = reg.verify_chain(KS)
    assert report.ok and report.macs == "verified" and report.entries == len(reg.audit_entries())
    assert report.entries == 1 + 5 + 1 + 3  # serials; device 1; device 2; device 3


def test_only_the_master_key_writes_and_one_master_key_per_registry(url: str) -> None:
    with Registry.open(url) as reg, pytest.raises(RegistryError, match="only with the factory"):
        claim(reg, 1)
    with Registry.open(url, key=KS) as reg:
        claim(reg, 1)
    with pytest.raises(RegistryError, match="kept under master key id"):
        Registry.open(url, key=SecretKeystore(bytes(32)))


def test_the_audit_log_is_append_only_and_edits_are_caught(
    reg: Registry, url: str, pg: pgserver.PgServer
) -> None:
    provision(reg, 1)
    provision(reg, 2)
    with pg.admin(dbname(url)) as db:
        for statement in ("UPDATE audit SET station = 'x'", "DELETE FROM audit WHERE seq = 6",
                          "TRUNCATE audit"):  # fmt: skip
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
                db.execute(statement)
        db.execute("UPDATE devices SET attempts = 5 WHERE uid = %s", (uid(2).hex(),))
    report = reg.verify_chain()
    assert not report.ok and "attempts is 5, its audit log says 1" in report.reason
    with pg.admin(dbname(url)) as db:
        db.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_update")
        db.execute("UPDATE audit SET station = 'st9' WHERE seq = 4")
    report = reg.verify_chain()
    assert (report.ok, report.first_bad) == (False, 4) and "do not match its hash" in report.reason


STATION = r"""
import json, sys, time
from pathlib import Path
from ooc_sdk.image.keystore import SecretKeystore
from ooc_sdk.provisioning.registry import Claim, Registry

url, station, go, uids = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4:]
with Registry.open(url, key=SecretKeystore(bytes(range(32)))) as reg:
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    outcomes, serials = {}, []
    for u in uids:
        raw = bytes.fromhex(u)
        serials += reg.allocate_serials(station, 1 + len(serials) % 2)
        outcome, _ = reg.claim(raw, station=station, key_id=bytes(8), image_id=bytes(16),
                               image_version="race", security_counter=1)
        outcomes[u] = outcome.name
        if outcome in (Claim.NEW, Claim.RESUME):
            reg.set_state(raw, "programmed", station=station)
            reg.set_state(raw, "verified", station=station)
print(json.dumps({"outcomes": outcomes, "serials": serials}), flush=True)
"""


def test_four_processes_racing_for_the_same_uids(url: str, tmp_path: Path) -> None:
    """Every UID claimed NEW exactly once, serials distinct and gap-free, the chain whole."""
    uids = [uid(0x100 + n).hex() for n in range(30)]
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", STATION, url, f"st{i}", str(go), *uids],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(4)
    ]  # fmt: skip
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == "ready\n", p.stderr
        go.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            results.append(json.loads(out))
    finally:
        for p in procs:
            p.kill()
            p.wait()
    for u in uids:
        got = [r["outcomes"][u] for r in results]
        assert got.count("NEW") == 1 and set(got) <= {"NEW", "DONE", "TAKEN"}, (u, got)
    serials = sorted(s for r in results for s in r["serials"])
    assert serials == list(range(1, len(serials) + 1))
    with Registry.open(url) as reg:
        assert {(d.state, d.attempts) for d in reg.devices()} == {("verified", 1)}
        report = reg.verify_chain(KS)
        assert report.ok and report.entries == 4 * 30 + 3 * 30


# -- the server going away --------------------------------------------------------------------


class _Cut:
    """A connection whose next COMMIT is cut off: ``before`` (never sent) or after the server
    committed (the answer lost), as a server restart or a network cut does."""

    def __init__(self, conn: Any, after: bool) -> None:
        self._conn, self.after, self.fired = conn, after, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and not self.fired:
            self.fired = True
            if self.after:
                self._conn.execute(sql)
            self._conn.close()
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return self._conn.execute(sql, *args)


@pytest.mark.parametrize("after", [False, True], ids=["before-commit", "commit-answer-lost"])
def test_a_step_cut_off_at_commit_is_recorded_exactly_once(
    reg: Registry, monkeypatch: pytest.MonkeyPatch, after: bool
) -> None:
    backend = reg.backend
    assert isinstance(backend, postgres_backend.PostgresBackend)
    claim(reg, 1)
    live = backend._live
    cuts: list[_Cut] = []

    def cut_once() -> Any:
        conn = live()
        if cuts:
            return conn
        cuts.append(_Cut(conn, after))
        return cuts[0]

    monkeypatch.setattr(backend, "_live", cut_once)
    dev = reg.set_state(uid(1), "programmed", station="st1")  # reconnects, then decides
    assert cuts[0].fired and dev.state == "programmed"
    entries = reg.audit_entries(uid(1))
    assert [e.detail["state"] for e in entries] == ["pending", "programmed"]  # once, not twice
    assert reg.verify_chain(KS).ok


def test_a_server_that_does_not_come_back_stops_the_station_in_one_line(
    pg: pgserver.PgServer, reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    claim(reg, 1)
    monkeypatch.setattr(postgres_backend, "SERVER_WAIT_S", 1.0)
    pg.stop("immediate")
    try:
        t0 = time.monotonic()
        with pytest.raises(RegistryError, match="did not come back within 1 s") as e:
            reg.set_state(uid(1), "programmed", station="st1")
        assert 0.9 < time.monotonic() - t0 < 10 and "\n" not in str(e.value)
        assert pgserver.STATION_PASSWORD not in str(e.value) and ":***@" in str(e.value)
    finally:
        pg.start()
    reg.set_state(uid(1), "programmed", station="st1")  # the server is back: the same call works
    assert reg.verify_chain(KS).ok and len(reg.audit_entries()) == 2


# -- schema, migrations and the version check --------------------------------------------------


def test_one_schema_for_both_databases(url: str, tmp_path: Path, pg: pgserver.PgServer) -> None:
    assert [m.version for m in MIGRATIONS] == [1, 2, 3] and Registry.migrate(url) == (3, 3)
    sqlite_path = tmp_path / "line.sqlite"
    assert Registry.migrate(sqlite_path) == (0, 3) and Registry.migrate(sqlite_path) == (3, 3)
    with pg.admin(dbname(url)) as db:
        columns = {
            (t, c)
            for t, c in db.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public'"
            )
        }
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    with Registry.open(sqlite_path) as reg:
        conn = reg._conn
        lite = {
            (t, c[1])
            for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for c in conn.execute(f"PRAGMA table_info({t})")
        }
        lite_meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    assert columns == lite and meta == lite_meta


def test_a_newer_schema_and_an_older_one(
    url: str, pg: pgserver.PgServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with pg.admin(dbname(url)) as db:
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(RegistryError, match="schema version 2; this ooc needs 3: run `ooc regis"):
        Registry.open(url)
    with pg.admin(dbname(url)) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = snapshot(pg, dbname(url))
    for call in (lambda: Registry.open(url), lambda: Registry.migrate(url)):
        with pytest.raises(RegistryError, match=r"schema version 99, newer .*knows \(3\)"):
            call()
    for args in (["registry", "migrate"], ["device", "list"], ["device", "audit"]):
        err = _one_line(*ooc(capsys, *args, "--registry", url))
        assert "has schema version 99, newer than this ooc" in err and "upgrade ooc" in err
    assert snapshot(pg, dbname(url)) == before


# -- bad input through the command line: one line, exit 2, nothing written ----------------------


def _one_line(code: int, out: str, err: str) -> str:
    assert code == 2 and err.count("\n") == 1 and err.startswith("ooc: error: "), (code, err)
    assert "Traceback" not in err and pgserver.STATION_PASSWORD not in out + err
    return err


def test_bad_registries_are_one_line_errors_and_nothing_is_written(
    pg: pgserver.PgServer, empty_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = dbname(empty_db)
    with pg.admin(db) as conn:  # a database of something else
        conn.execute("CREATE TABLE parts (pn TEXT PRIMARY KEY, qty INTEGER)")
        conn.execute("INSERT INTO parts VALUES ('R1', 10)")
        conn.execute(f"GRANT ALL ON parts TO {pgserver.STATION}")
    foreign = snapshot(pg, db)
    down = (
        f"postgresql://ooc_station:{pgserver.STATION_PASSWORD}@127.0.0.1:{pgserver._free_port()}/x"
    )
    cases = [
        (down, "cannot reach the registry server"),
        (pg.url(db, password="wrong-" + pgserver.STATION_PASSWORD), "refused the login"),
        (pg.url("no_such_db"), 'database "no_such_db" does not exist'),
        (empty_db, "is a PostgreSQL database but not an ooc device registry"),
    ]
    for registry, message in cases:
        for args in (["device", "list"], ["registry", "migrate"], ["device", "audit"]):
            err = _one_line(*ooc(capsys, *args, "--registry", registry))
            assert message in err and ":***@" in err, (args, err)
    assert snapshot(pg, db) == foreign
    # an empty database is no registry for the stations: only `registry migrate` makes one
    fresh = pg.create_database(f"t{next(_names)}")
    err = _one_line(*ooc(capsys, "device", "list", "--registry", fresh))
    assert "holds no ooc device registry yet: create it with `ooc registry migrate" in err
    assert snapshot(pg, dbname(fresh)) == {}


def test_a_missing_psycopg_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    err = _one_line(*ooc(capsys, "device", "list", "--registry", "postgresql://u:pw@h/db"))
    assert err == (
        "ooc: error: a postgresql:// registry needs psycopg 3: pip install 'ooc-sdk[postgresql]'\n"
    )


def test_urls_are_told_without_their_password(monkeypatch: pytest.MonkeyPatch) -> None:
    assert redact("postgresql://st:p%40ss@db:5432/line") == "postgresql://st:***@db:5432/line"
    assert redact("postgresql://st@db/line") == "postgresql://st@db/line"
    assert redact("postgres://db/line?password=x&sslmode=require") == (
        "postgres://db/line?password=***&sslmode=require"
    )
    monkeypatch.setenv(ENV_REGISTRY, "postgresql://st@db/line")
    assert registry_location(None) == "postgresql://st@db/line"
    assert registry_location("line.sqlite") == Path("line.sqlite")


# -- moving a line: SQLite -> PostgreSQL -> SQLite ---------------------------------------------


def test_export_from_sqlite_import_into_postgresql_and_back(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], pg: pgserver.PgServer
) -> None:
    master = tmp_path / "master.key"
    KS.write(master)
    lite = tmp_path / "line.sqlite"
    with Registry.open(lite, key=KS) as reg:
        reg.allocate_serials("st1", 4)
        for n in (1, 2, 3):
            provision(reg, n, f"st{n}")
        claim(reg, 4)
        reg.set_state(uid(4), "failed", station="st1", reason="no SWD answer")
        before = reg.verify_chain(KS)
        devices = reg.devices()
    dump = tmp_path / "line.json"
    code, out, _ = ooc(capsys, "device", "export", "--full", "-o", str(dump), "--registry",
                       str(lite), "--master-key", str(master))  # fmt: skip
    assert code == 0 and out == f"exported 4 devices and {before.entries} audit entries to {dump}\n"

    # a tampered export, an import without the key, a non-empty target: refused, nothing written
    doc = json.loads(dump.read_text())
    doc["devices"][1]["station"] = "st9"
    (tmp_path / "edited.json").write_text(json.dumps(doc))
    err = _one_line(*ooc(capsys, "device", "import", str(tmp_path / "edited.json"),
                         "--registry", url, "--master-key", str(master)))  # fmt: skip
    assert "does not verify (device " in err and "nothing imported" in err
    err = _one_line(*ooc(capsys, "device", "import", str(dump), "--registry", url))
    assert "importing needs the factory master key" in err
    assert snapshot(pg, dbname(url))["devices"] == []

    code, out, err = ooc(capsys, "device", "import", str(dump), "--registry", url,
                         "--master-key", str(master))  # fmt: skip
    assert (code, err) == (0, "") and f"head {before.head}" in out
    code, out, _ = ooc(capsys, "device", "audit", "--registry", url, "--master-key", str(master))
    assert code == 0 and out.splitlines()[0] == (
        f"audit chain verified: {before.entries} entries, head {before.head}"
    )
    with Registry.open(url, key=KS) as reg:
        assert reg.devices() == devices and reg.allocate_serials("st1") == [5]  # the line goes on
        err = _one_line(*ooc(capsys, "device", "import", str(dump), "--registry", url,
                             "--master-key", str(master)))  # fmt: skip
        assert "is not empty (4 devices" in err

    back, lite2 = tmp_path / "back.json", tmp_path / "back.sqlite"
    assert ooc(capsys, "device", "export", "--full", "-o", str(back), "--registry", url)[0] == 0
    code, out, _ = ooc(capsys, "device", "import", str(back), "--registry", str(lite2),
                       "--master-key", str(master))  # fmt: skip
    assert code == 0
    with Registry.open(lite2) as reg:
        report = reg.verify_chain(KS)
        assert report.ok and report.entries == before.entries + 1 and reg.devices() == devices


# -- stations on the line ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A batch build of the smallest shared model and its master key file."""
    d = tmp_path_factory.mktemp("pg-batch")
    master = d / "master.key"
    KS.write(master)
    code = main(["build", str(shared_model("hello_world_int8.tflite")), "--sram", "16KiB",
                 "--master-key", str(master), "-o", str(d / "batch")])  # fmt: skip
    assert code == 0
    return d / "batch", master


_HOLD = """
import sys
from ooc_sdk.provisioning.registry import Registry
with Registry.open(sys.argv[1]) as reg, reg.hold_station(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_station_name_runs_once_across_the_line(
    pg: pgserver.PgServer,
    url: str,
    batch: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image, master = batch

    def run(station: str, out: str, registry: str = url) -> tuple[int, str, str]:
        return ooc(capsys, "provision", "run", "--image", str(image), "--programmer", "file",
                   "--master-key", str(master), "--registry", registry, "--count", "2",
                   "--station", station, "--out", str(tmp_path / out))  # fmt: skip

    holder = subprocess.Popen([sys.executable, "-c", _HOLD, url, "line/1"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        err = _one_line(*run("line/1", "a"))
        assert "station 'line/1' is already running on registry postgresql://" in err
        assert not (tmp_path / "a").exists()  # nothing programmed
        assert run("line/2", "b")[0] == 0  # another name runs meanwhile
    finally:
        holder.kill()  # kill -9: the lock goes with its session
        holder.wait()
    assert run("line/1", "a")[0] == 0 and run("line/1", "a")[0] == 0
    with Registry.open(url) as reg:
        assert Counter(d.station for d in reg.devices("verified")) == {"line/1": 2, "line/2": 2}

    # a station refuses a database that is not a registry, before anything is programmed
    other = pg.create_database(f"t{next(_names)}")
    with pg.admin(dbname(other)) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('application', 'mes')")
    before = snapshot(pg, dbname(other))
    err = _one_line(*run("line/3", "c", other))  # a table the station role may not read
    assert "this role may not do that while reading its schema version" in err
    with pg.admin(dbname(other)) as conn:
        conn.execute(f"GRANT SELECT ON meta TO {pgserver.STATION}")
    err = _one_line(*run("line/3", "c", other))
    assert "is a PostgreSQL database but not an ooc device registry" in err
    assert not (tmp_path / "c").exists() and snapshot(pg, dbname(other)) == before


def _doc_sql(marker: str) -> list[str]:
    """The statements of the SQL block in docs/provisioning.md that starts with ``marker``."""
    text = (Path(__file__).parents[1] / "docs" / "provisioning.md").read_text()
    block = text[text.index(marker) :].split("```", 1)[0]
    return [st.strip() for st in re.sub(r"--[^\n]*", "", block).split(";") if st.strip()]


def test_the_documented_roles_and_a_backup(
    pg: pgserver.PgServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/provisioning.md, "Scaling a line": its SQL as written. The owner migrates, a station
    writes, a reader only reads, neither can change the audit log, other roles cannot connect;
    a pg_dump restored into a new database audits to the same head."""
    with pg.admin() as conn:
        for statement in _doc_sql("-- as the server's superuser"):
            conn.execute(statement)
    owner, station, reader = (pg.url("line1", f"ooc_{r}", "change me")
                              for r in ("owner", "station", "reader"))  # fmt: skip
    assert ooc(capsys, "registry", "migrate", "--registry", owner)[0] == 0
    with psycopg.connect(owner, autocommit=True) as conn:
        for statement in _doc_sql("-- in line1, as ooc_owner"):
            conn.execute(statement)
    with Registry.open(station, key=KS) as reg, reg.hold_station("line1-a"):
        reg.allocate_serials("line1-a", 2)
        provision(reg, 1, "line1-a")
        head = reg.verify_chain().head
    with psycopg.connect(station, autocommit=True) as conn:
        for statement in ("UPDATE audit SET station = 'x'", "DELETE FROM devices",
                          "TRUNCATE audit", "ALTER TABLE audit DISABLE TRIGGER audit_no_update",
                          "DROP TABLE audit"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    master = tmp_path / "master.key"
    KS.write(master)
    code, out, _ = ooc(capsys, "device", "audit", "--registry", reader, "--master-key", str(master))
    assert code == 0 and f"head {head}" in out
    assert ooc(capsys, "device", "export", "--full", "--registry", reader)[0] == 0
    with Registry.open(reader, key=KS) as reg, pytest.raises(RegistryError, match="may not"):
        claim(reg, 2)
    err = _one_line(*ooc(capsys, "device", "list", "--registry", pg.url("line1")))
    assert "permission denied for database" in err and "this role may not" in err

    dump = tmp_path / "line1.dump"
    subprocess.run([str(pg.bindir / "pg_dump"), "-Fc", "-f", str(dump), "--dbname", owner],
                   check=True, capture_output=True)  # fmt: skip
    with pg.admin() as conn:
        conn.execute("CREATE DATABASE line1_restored OWNER ooc_owner")
    restored = pg.url("line1_restored", "ooc_owner", "change me")
    subprocess.run([str(pg.bindir / "pg_restore"), "--dbname", restored, str(dump)],
                   check=True, capture_output=True)  # fmt: skip
    code, out, _ = ooc(capsys, "device", "audit", "--registry", restored, "--master-key",
                       str(master))  # fmt: skip
    assert code == 0 and f"head {head}" in out and "MACs verified" in out
    with Registry.open(restored) as reg:
        assert [d.uid for d in reg.devices("verified")] == [uid(1).hex()]


# -- the line: 8 stations, kill -9 and a server restart, then the same commands again ----------

_STATIONS, _PER_STATION = 8, 50


def _line_cmds(batch: Path, master: Path, url: str, out: Path) -> list[list[str]]:
    return [
        [sys.executable, "-m", "ooc_sdk.cli", "provision", "run", "--image", str(batch),
         "--programmer", "file", "--master-key", str(master), "--registry", url,
         "--count", str(_PER_STATION), "--station", f"st{i}", "--out", str(out / f"st{i}")]
        for i in range(_STATIONS)
    ]  # fmt: skip


def _verified(pg: pgserver.PgServer, db: str) -> int:
    with contextlib.suppress(psycopg.OperationalError), pg.admin(db) as conn:
        return int(
            conn.execute("SELECT COUNT(*) FROM devices WHERE state = 'verified'").fetchone()[0]
        )
    return -1


def _unfinished(pg: pgserver.PgServer, db: str) -> set[str]:
    """The stations holding a device they claimed and have not finished."""
    with contextlib.suppress(psycopg.OperationalError), pg.admin(db) as conn:
        rows = conn.execute(
            "SELECT DISTINCT station FROM devices WHERE state IN ('pending', 'programmed')"
        ).fetchall()
        return {r[0] for r in rows}
    return set()


@pytest.mark.slow
def test_eight_stations_killed_and_a_server_restart_then_rerun(
    pg: pgserver.PgServer,
    url: str,
    batch: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image, master = batch
    cmds, db, rng = _line_cmds(image, master, url, tmp_path), dbname(url), random.Random(26)
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cmds]  # fmt: skip
    killed: list[int] = []
    try:
        for goal, action in ((40, "kill"), (120, "restart"), (200, "kill")):
            pgserver.wait_until(lambda g=goal: _verified(pg, db) >= g, 120, f"{goal} verified")
            time.sleep(rng.uniform(0, 0.3))
            if action == "restart":
                pg.stop("immediate")  # a crash: every session cut, mid-transaction or not
                pg.start()
                continue
            alive = [i for i in range(_STATIONS) if procs[i].poll() is None and i not in killed]
            # kill -9 two stations, preferring ones in the middle of a device (claimed, not yet
            # verified), so that a resumed device is certain, not left to timing
            unfinished = _unfinished(pg, db)
            busy = [i for i in alive if f"st{i}" in unfinished]
            rest = [i for i in alive if i not in busy]
            for i in (busy + rng.sample(rest, len(rest)))[:2]:
                procs[i].kill()
                killed.append(i)
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    for i, (p, (_, err)) in enumerate(zip(procs, results, strict=True)):
        assert p.returncode == (-9 if i in killed else 0), (i, p.returncode, err)

    again = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cmds]  # fmt: skip
    for p in again:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err

    with Registry.open(url) as reg:
        devices, entries = reg.devices(), reg.audit_entries()
        report = reg.verify_chain(KS)
    assert report.ok and report.macs == "verified", report.problems
    assert len(devices) == _STATIONS * _PER_STATION and {d.state for d in devices} == {"verified"}
    assert Counter(d.station for d in devices) == {f"st{i}": _PER_STATION for i in range(_STATIONS)}
    claims = Counter((e.uid, e.detail["outcome"]) for e in entries if e.event == "claim")
    assert all(claims[(d.uid, "new")] == 1 for d in devices)  # every UID claimed new once
    for d in devices:  # attempts recorded: one claim entry per attempt
        assert d.attempts == 1 + claims[(d.uid, "resume")]
    assert any(d.attempts > 1 for d in devices), "no station was killed mid-device"
    # nothing provisioned twice: each device's files are in exactly one station's output
    found = Counter(p.name for p in tmp_path.glob("st*/devices/*"))
    assert set(found) == {d.uid for d in devices} and set(found.values()) == {1}
    assert all((tmp_path / d.station / "devices" / d.uid).is_dir() for d in devices)
    code, out, _ = ooc(capsys, "device", "audit", "--registry", url, "--master-key", str(master))
    assert code == 0 and f"audit chain verified: {report.entries} entries" in out
