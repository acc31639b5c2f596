"""The manufacturing device registry (ooc_sdk/provisioning/registry.py) and `ooc device`: claims,
state transitions, serial numbers, two real station processes on one file, the hash-chained
audit log and its tamper detection, a full disk, schema migrations, and the CLI."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ooc_sdk.cli import cli, main
from ooc_sdk.image.keystore import ENV_FILE, SecretKeystore
from ooc_sdk.provisioning import sqlite_backend
from ooc_sdk.provisioning.registry import (
    ENV_REGISTRY,
    SCHEMA_VERSION,
    Claim,
    Device,
    Registry,
    RegistryError,
    entry_hash,
    registry_path,
)

KEY = bytes.fromhex("00112233aabbccdd")
OTHER_KEY = bytes.fromhex("ffeeddccbbaa9988")
IMAGE = bytes(range(16))
KS = SecretKeystore(bytes(range(32)))  # the factory keystore: only it writes to a registry


def uid(n: int) -> bytes:
    return bytes(8) + n.to_bytes(8, "big")


def claim(reg: Registry, n: int, station: str = "st1", key: bytes = KEY) -> tuple[Claim, Device]:
    return reg.claim(
        uid(n),
        station=station,
        key_id=key,
        image_id=IMAGE,
        image_version="vww_96 sc=3",
        security_counter=3,
    )


def provision(reg: Registry, n: int, station: str = "st1") -> None:
    """One device through the whole line: claimed, programmed, verified."""
    assert claim(reg, n, station)[0] is Claim.NEW
    reg.set_state(uid(n), "programmed", station=station)
    reg.set_state(uid(n), "verified", station=station, detail={"seconds": 1.25})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "line.sqlite"


@pytest.fixture
def reg(path: Path) -> Iterator[Registry]:
    with Registry.open(path, key=KS) as r:
        yield r


def raw(path: Path) -> sqlite3.Connection:
    """A plain SQLite connection: what someone editing the file by hand has."""
    return sqlite3.connect(path, isolation_level=None)


# -- claims and states ---------------------------------------------------------------------------


def test_claim_outcomes(reg: Registry) -> None:
    outcome, dev = claim(reg, 1)
    assert outcome is Claim.NEW
    assert (dev.uid, dev.state, dev.station, dev.attempts) == (uid(1).hex(), "pending", "st1", 1)
    assert (dev.key_id, dev.image_id, dev.security_counter) == (KEY.hex(), IMAGE.hex(), 3)
    assert dev.reason is None and dev.created == dev.updated and dev.created.endswith("Z")

    # another station finds it being provisioned (pending, then programmed): hands off
    assert claim(reg, 1, "st2") == (Claim.TAKEN, dev)
    reg.set_state(uid(1), "programmed", station="st1")
    outcome, seen = claim(reg, 1, "st2")
    assert outcome is Claim.TAKEN and seen.state == "programmed" and seen.station == "st1"

    # the owning station crashed mid-device and comes back: resumes it
    outcome, dev = claim(reg, 1)
    assert outcome is Claim.RESUME and (dev.state, dev.attempts, dev.station) == (
        "pending",
        2,
        "st1",
    )

    # failed devices are resumed by any station, which then owns it; the reason is cleared
    reg.set_state(uid(1), "failed", station="st1", reason="flash readback mismatch")
    assert reg.get(uid(1)).reason == "flash readback mismatch"  # type: ignore[union-attr]
    outcome, dev = claim(reg, 1, "st2")
    assert outcome is Claim.RESUME
    assert (dev.state, dev.station, dev.attempts, dev.reason) == ("pending", "st2", 3, None)

    # verified devices are done for everybody, and nothing changes
    reg.set_state(uid(1), "programmed", station="st2")
    reg.set_state(uid(1), "verified", station="st2")
    before = reg.get(uid(1))
    entries = len(reg.audit_entries())
    assert claim(reg, 1, "st2") == (Claim.DONE, before)
    assert claim(reg, 1, "st3") == (Claim.DONE, before)
    assert reg.get(uid(1)) == before and len(reg.audit_entries()) == entries

    # every NEW/RESUME and every state change is one audit entry, oldest first
    events = [(e.event, e.station, e.detail["state"]) for e in reg.audit_entries(uid(1))]
    assert events == [
        ("claim", "st1", "pending"),
        ("state", "st1", "programmed"),
        ("claim", "st1", "pending"),
        ("state", "st1", "failed"),
        ("claim", "st2", "pending"),
        ("state", "st2", "programmed"),
        ("state", "st2", "verified"),
    ]
    assert [e.detail["outcome"] for e in reg.audit_entries(uid(1)) if e.event == "claim"] == [
        "new",
        "resume",
        "resume",
    ]


def test_a_device_never_gets_a_second_key(reg: Registry) -> None:
    provision(reg, 1)
    claim(reg, 2)
    entries = len(reg.audit_entries())
    for n in (1, 2):
        with pytest.raises(RegistryError, match="different master key") as e:
            claim(reg, n, key=OTHER_KEY)
        assert KEY.hex() in str(e.value) and OTHER_KEY.hex() in str(e.value)
    assert len(reg.audit_entries()) == entries and reg.get(uid(2)).key_id == KEY.hex()  # type: ignore[union-attr]


def test_state_transitions(reg: Registry) -> None:
    claim(reg, 1)
    refused = [
        (("verified",), {}, "pending; it cannot become verified"),
        (("pending",), {}, "cannot become pending"),
        (("failed",), {}, "needs a reason"),
        (("programmed",), {"reason": "x"}, "only with state failed"),
        (("bogus",), {}, "unknown device state"),
        (("programmed",), {"detail": {"state": "verified"}}, "may not set state"),
        (("programmed",), {"detail": {"root_key": "00"}}, "never stores key material"),
        (("programmed",), {"detail": {"x": {"master_secret": 1}}}, "never stores key material"),
        (("programmed",), {"detail": {"blob": b"\x00"}}, "raw bytes"),
        (("programmed",), {"detail": {"t": float("nan")}}, "not plain JSON"),
    ]
    for args, kwargs, message in refused:
        with pytest.raises(RegistryError, match=message):
            reg.set_state(uid(1), *args, station="st1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="claimed by station 'st1', not 'st2'"):
        reg.set_state(uid(1), "programmed", station="st2")
    with pytest.raises(RegistryError, match=r"no device 0+2 in registry"):
        reg.set_state(uid(2), "programmed", station="st1")
    with pytest.raises(RegistryError, match="UID must be 16 bytes"):
        reg.set_state(b"\x01" * 8, "programmed", station="st1")
    assert len(reg.audit_entries()) == 1  # nothing refused left a trace

    dev = reg.set_state(uid(1), "programmed", station="st1", detail={"bytes": 4096})
    assert dev.state == "programmed" and dev == reg.get(uid(1))
    entry = reg.audit_entries(uid(1))[-1]
    assert entry.detail == {"bytes": 4096, "from": "pending", "state": "programmed"}
    assert entry.time == dev.updated  # the row and its audit entry are one transaction
    with pytest.raises(RegistryError, match="programmed; it cannot become programmed"):
        reg.set_state(uid(1), "programmed", station="st1")
    reg.set_state(uid(1), "verified", station="st1")
    with pytest.raises(RegistryError, match="verified; it cannot become failed"):
        reg.set_state(uid(1), "failed", station="st1", reason="late")

    claim(reg, 2)
    dev = reg.set_state(uid(2), "failed", station="st1", reason="no answer from the SWD probe")
    assert (dev.state, dev.reason) == ("failed", "no answer from the SWD probe")
    claim(reg, 3)  # an exception's text as the reason: recorded as one line, shortened
    dev = reg.set_state(uid(3), "failed", station="st1", reason="probe:\n\ttimeout " + "x" * 900)
    assert dev.reason is not None and len(dev.reason) == 500
    assert dev.reason.startswith("probe: timeout xxx") and dev.reason.endswith("x...")
    with pytest.raises(RegistryError, match="must not be empty"):
        reg.set_state(uid(3), "failed", station="st1", reason=" \n")
    assert [d.uid for d in reg.devices("failed")] == [uid(2).hex(), uid(3).hex()]
    assert [d.uid for d in reg.devices()] == [uid(1).hex(), uid(2).hex(), uid(3).hex()]


def test_claim_arguments_are_checked(reg: Registry) -> None:
    good = {
        "station": "st1",
        "key_id": KEY,
        "image_id": IMAGE,
        "image_version": "v",
        "security_counter": 0,
    }
    bad = [
        ({"station": ""}, "station name"),
        ({"station": "a\nb"}, "control characters"),
        ({"key_id": b""}, "key id"),
        ({"image_version": "x" * 201}, "image version"),
        ({"security_counter": -1}, "security counter"),
        ({"security_counter": 1 << 32}, "security counter"),
    ]
    for change, message in bad:
        with pytest.raises(RegistryError, match=message):
            reg.claim(uid(1), **{**good, **change})  # type: ignore[arg-type]
    assert reg.devices() == [] and reg.audit_entries() == []


def test_serial_numbers_are_distinct_and_audited(reg: Registry) -> None:
    assert reg.allocate_serials("st1") == [1]
    assert reg.allocate_serials("st2", 3) == [2, 3, 4]
    assert reg.allocate_serials("st1") == [5]
    with pytest.raises(RegistryError, match="serial count"):
        reg.allocate_serials("st1", 0)
    entries = reg.audit_entries()
    assert [(e.event, e.uid, e.station, e.detail) for e in entries] == [
        ("serials", None, "st1", {"count": 1, "first": 1}),
        ("serials", None, "st2", {"count": 3, "first": 2}),
        ("serials", None, "st1", {"count": 1, "first": 5}),
    ]


# -- two station processes on one registry -------------------------------------------------------

STATION = r"""
import json, sys, time
from pathlib import Path
from ooc_sdk.image.keystore import SecretKeystore
from ooc_sdk.provisioning.registry import Claim, Registry

path, station, go, uids = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4:]
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
outcomes, serials = {}, []
with Registry.open(path, key=SecretKeystore(bytes(range(32)))) as reg:  # both create it, too
    for u in uids:
        raw = bytes.fromhex(u)
        serials += reg.allocate_serials(station, 1 + len(serials) % 2)
        outcome, _ = reg.claim(raw, station=station, key_id=bytes(8), image_id=bytes(16),
                               image_version="race", security_counter=1)
        outcomes[u] = outcome.name
        if outcome in (Claim.NEW, Claim.RESUME):
            time.sleep(0.002)  # programming the device, outside any transaction
            reg.set_state(raw, "programmed", station=station)
            time.sleep(0.001)  # verifying it
            reg.set_state(raw, "verified", station=station)
print(json.dumps({"outcomes": outcomes, "serials": serials}), flush=True)
"""


def test_two_station_processes_never_provision_one_device_twice(path: Path) -> None:
    uids = [uid(0x100 + n).hex() for n in range(40)]
    go = path.with_name("go")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STATION, str(path), station, str(go), *uids],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for station in ("station-a", "station-b")
    ]
    try:
        for p in procs:  # both imported and waiting: start them together
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
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
        assert got.count("NEW") == 1, (u, got)
        assert {o for o in got if o != "NEW"} <= {"DONE", "TAKEN"}, (u, got)
    news = [sum(o == "NEW" for o in r["outcomes"].values()) for r in results]
    assert min(news) > 0, f"one station did all the work ({news}): the stations never raced"
    serials = results[0]["serials"] + results[1]["serials"]
    assert sorted(serials) == list(range(1, len(serials) + 1))  # distinct and gap-free

    with Registry.open(path, create=False) as reg:
        devices = reg.devices()
        assert sorted(d.uid for d in devices) == sorted(uids)
        assert {(d.state, d.attempts) for d in devices} == {("verified", 1)}
        first = results[0]["outcomes"]
        winner = {u: "station-a" if first[u] == "NEW" else "station-b" for u in uids}
        assert {d.uid: d.station for d in devices} == winner  # the one that got NEW did it
        report = reg.verify_chain()
        assert report.ok and report.entries == 40 * 3 + 2 * 40

    # the real command line reads what the stations wrote
    ooc = [sys.executable, "-m", "ooc_sdk.cli", "device"]
    r = subprocess.run([*ooc, "audit", "--registry", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and f"audit chain verified: {report.entries} entries" in r.stdout
    r = subprocess.run(
        [*ooc, "list", "--json", "--state", "verified", "--registry", str(path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 40


# -- the audit chain -----------------------------------------------------------------------------


def test_chain_hashes_follow_the_documented_encoding(reg: Registry) -> None:
    provision(reg, 1)
    reg.allocate_serials("st1", 2)
    entries = reg.audit_entries()
    prev = bytes(32)
    for e in entries:
        detail = json.dumps(e.detail, sort_keys=True, separators=(",", ":"))
        fields = [e.time, e.station, e.uid or "", e.event, detail]
        message = prev + e.seq.to_bytes(8, "big")
        message += b"".join(len(f.encode()).to_bytes(4, "big") + f.encode() for f in fields)
        assert e.prev_hash == prev.hex()
        assert e.hash == hashlib.sha256(message).hexdigest()
        assert entry_hash(prev, e.seq, e.time, e.station, e.uid, e.event, detail).hex() == e.hash
        prev = bytes.fromhex(e.hash)
    report = reg.verify_chain()
    assert (report.ok, report.entries, report.first_bad, report.head) == (True, 4, None, prev.hex())
    assert [e.seq for e in entries] == [1, 2, 3, 4]


def test_audit_log_is_append_only_and_edits_are_detected(reg: Registry, path: Path) -> None:
    for n in range(1, 4):
        provision(reg, n)
    assert reg.verify_chain().ok
    db = raw(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit SET station = 'st9' WHERE seq = 5")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit WHERE seq = 9")

    db.execute("DROP TRIGGER audit_no_update")
    db.execute("UPDATE audit SET detail = replace(detail, '1.25', '0.5') WHERE seq = 6")
    report = reg.verify_chain()
    assert (report.ok, report.first_bad, report.entries) == (False, 6, 9)
    assert "do not match its hash" in report.reason

    # a forger who also recomputes the edited entry's hash breaks the link to the next one
    seq, stamp, station, u, event, detail, prev = db.execute(
        "SELECT seq, time, station, uid, event, detail, prev_hash FROM audit WHERE seq = 6"
    ).fetchone()
    forged = entry_hash(bytes.fromhex(prev), seq, stamp, station, u, event, detail).hex()
    db.execute("UPDATE audit SET hash = ? WHERE seq = 6", (forged,))
    report = reg.verify_chain()
    assert (report.ok, report.first_bad) == (False, 7) and "prev_hash" in report.reason
    db.close()


def test_a_deleted_tail_is_detected(reg: Registry, path: Path) -> None:
    for n in range(1, 4):
        provision(reg, n)
    db = raw(path)
    db.execute("DROP TRIGGER audit_no_delete")
    db.execute("DELETE FROM audit WHERE seq >= 8")
    db.close()
    report = reg.verify_chain()
    assert (report.ok, report.first_bad, report.entries) == (False, 8, 7)
    assert "removed from the end" in report.reason


def test_an_edited_device_record_is_detected(reg: Registry, path: Path) -> None:
    provision(reg, 1)
    claim(reg, 2)
    reg.set_state(uid(2), "failed", station="st1", reason="bad flash")
    with raw(path) as db:
        db.execute(
            "UPDATE devices SET state = 'verified', reason = NULL WHERE uid = ?", (uid(2).hex(),)
        )
    report = reg.verify_chain()
    assert not report.ok and report.first_bad is None
    assert report.problems == (
        f"device {uid(2).hex()}: state is 'verified', its audit log says 'failed'; reason is None, "
        "its audit log says 'bad flash' (the device record was edited)",
    )


# -- failures: full disk, foreign and newer files, migrations -------------------------------------


def test_a_full_disk_is_one_line_and_loses_nothing(reg: Registry, path: Path) -> None:
    for n in range(1, 6):
        provision(reg, n)
    conn = reg._conn  # SQLite's own size cap: the next growth of the file fails with SQLITE_FULL
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    assert conn.execute(f"PRAGMA max_page_count = {pages}").fetchone()[0] == pages
    done = [1, 2, 3, 4, 5]
    for n in range(100, 2000):
        try:
            provision(reg, n)
        except RegistryError as e:
            message, failed = str(e), n
            break
        done.append(n)
    else:
        pytest.fail("the registry never filled up")
    assert len(done) > 5  # free space in the last pages was used first
    assert "disk is full" in message and str(path) in message and "\n" not in message
    assert "free disk space" in message and "everything recorded before is intact" in message

    # the failed step left no trace: the device is absent or at its last committed state
    partial = reg.get(uid(failed))
    steps = {None: 0, "pending": 1, "programmed": 2}[partial.state if partial else None]
    report = reg.verify_chain()
    assert report.ok and report.entries == 3 * len(done) + steps
    reg.close()

    with Registry.open(path, key=KS) as again:  # everything written before is there, chain intact
        devices = again.devices()
        assert [d.uid for d in devices if d.state == "verified"] == [uid(n).hex() for n in done]
        assert len(devices) == len(done) + (partial is not None)
        assert again.verify_chain() == report
        provision(again, 9999)  # and with room again (a new connection) it works on


def test_locked_and_damaged_registries_are_one_line_errors(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_backend, "BUSY_TIMEOUT_S", 0.2)
    with Registry.open(path, key=KS) as reg:
        for n in range(1, 60):
            claim(reg, n)
        holder = raw(path)
        holder.execute("BEGIN IMMEDIATE")  # a hung station holding the write lock
        with pytest.raises(RegistryError, match="stayed locked by another process") as e:
            claim(reg, 100)
        assert "\n" not in str(e.value) and "then retry" in str(e.value)
        assert len(reg.devices()) == 59  # readers are not blocked by a writer (WAL)
        holder.execute("ROLLBACK")
        holder.close()
        assert claim(reg, 100)[0] is Claim.NEW

    data = bytearray(path.read_bytes())  # closed: the log was checkpointed into the file
    data[3 * 4096 : 4 * 4096] = bytes(range(256)) * 16
    path.write_bytes(bytes(data))
    with (
        pytest.raises(RegistryError, match=r"is damaged .* restore the registry from its last"),
        Registry.open(path) as reg,
    ):
        reg.devices()


def test_a_foreign_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "inventory.sqlite"
    with raw(other) as db:
        db.execute("CREATE TABLE parts (pn TEXT)")
    with pytest.raises(RegistryError, match="an SQLite database but not an ooc device registry"):
        Registry.open(other)
    with raw(other) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    with raw(other) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('application', 'something else')")
    with pytest.raises(RegistryError, match="not an ooc device registry"):
        Registry.open(other)

    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, just some text that is long enough " * 20)
    with pytest.raises(RegistryError, match="not an SQLite database") as e:
        Registry.open(text)
    assert "\n" not in str(e.value)
    with pytest.raises(RegistryError, match="is a directory"):
        Registry.open(tmp_path)
    with pytest.raises(RegistryError, match="cannot open registry"):
        Registry.open(tmp_path / "missing-dir" / "r.sqlite")
    missing = tmp_path / "none.sqlite"
    with pytest.raises(RegistryError, match=r"no registry at .*none.sqlite \(ooc provision run"):
        Registry.open(missing, create=False)
    assert not missing.exists()
    missing.touch()
    with pytest.raises(RegistryError, match=r"no registry at .* is empty"):
        Registry.open(missing, create=False)


def test_a_newer_schema_is_refused(path: Path) -> None:
    with Registry.open(path, key=KS) as reg:
        provision(reg, 1)
    with raw(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(
        RegistryError, match=f"schema version 99, newer .*knows \\({SCHEMA_VERSION}\\): upgrade ooc"
    ):
        Registry.open(path)
    with raw(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("99",)


def test_migration_from_schema_1(path: Path) -> None:
    assert SCHEMA_VERSION == 3 and [v for v, _ in Registry.MIGRATIONS] == [1, 2, 3]
    db = raw(path)
    db.execute("BEGIN")
    for _, statements in Registry.MIGRATIONS[:1]:
        for statement in statements:
            db.execute(statement)
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    db.execute(
        "INSERT INTO devices (uid, key_id, image_id, image_version, security_counter, station, "
        "state, reason, attempts, created, updated) VALUES "
        "(?, ?, ?, 'old', 1, 'st0', 'failed', 'v1 failure', 1, '2024-01-01T00:00:00Z', "
        "'2024-01-01T00:00:00Z')",
        (uid(7).hex(), KEY.hex(), IMAGE.hex()),
    )
    db.execute("COMMIT")
    assert db.execute("SELECT COUNT(*) FROM meta WHERE key = 'next_serial'").fetchone() == (0,)
    db.close()

    with Registry.open(path, key=KS) as reg:
        assert reg.schema_version == SCHEMA_VERSION
        dev = reg.get(uid(7))
        assert dev is not None and (dev.state, dev.reason, dev.station) == (
            "failed",
            "v1 failure",
            "st0",
        )
        assert reg.allocate_serials("st1", 2) == [1, 2]  # the version 2 counter exists
        assert claim(reg, 7)[0] is Claim.RESUME
    with raw(path) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"devices_by_state", "audit_by_uid"} <= names
    with Registry.open(path, create=False, key=KS) as reg:  # reopening applies nothing twice
        assert reg.schema_version == SCHEMA_VERSION and reg.allocate_serials("st1") == [3]


def test_registry_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_REGISTRY, raising=False)
    assert registry_path(None) == tmp_path / "ooc-registry.sqlite"
    monkeypatch.setenv(ENV_REGISTRY, "/srv/line1/registry.sqlite")
    assert registry_path(None) == Path("/srv/line1/registry.sqlite")
    assert registry_path(Path("mine.sqlite")) == Path("mine.sqlite")


# -- the command line ----------------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def ooc(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`ooc ARGS` through main(): errors become one line on stderr and exit status 2."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def line(path: Path) -> Path:
    """A registry with three verified devices, one failed, one pending."""
    with Registry.open(path, key=KS) as reg:
        for n in (1, 2, 3):
            provision(reg, n, "st1" if n != 2 else "st2")
        claim(reg, 4)
        reg.set_state(uid(4), "failed", station="st1", reason="no SWD answer, probe unplugged?")
        claim(reg, 5, "st2")
    return path


def test_device_help() -> None:
    r = invoke("device", "--help")
    assert r.exit_code == 0 and "hash-chained" in r.output
    assert all(name in r.output for name in ("list", "show", "export", "audit"))
    for name in ("list", "show", "export", "audit"):
        r = invoke("device", name, "--help")
        assert r.exit_code == 0 and r.output.startswith(f"Usage: cli device {name} ")
        assert "--registry" in r.output and "OOC_REGISTRY" in r.output
        assert len(r.output.splitlines()) > 8


def test_device_list(line: Path) -> None:
    r = invoke("device", "list", "--registry", str(line))
    assert r.exit_code == 0
    rows = r.output.splitlines()
    assert rows[0].split()[:3] == ["UID", "STATE", "STATION"]
    assert [row.split()[0] for row in rows[1:6]] == [uid(n).hex() for n in range(1, 6)]
    assert rows[4].split()[1:3] == ["failed", "st1"]
    assert rows[-1] == "5 devices (1 pending, 0 programmed, 3 verified, 1 failed)"
    r = invoke("device", "list", "--state", "failed", "--registry", str(line))
    assert r.output.splitlines()[-1] == "1 failed device" and uid(4).hex() in r.output
    r = invoke("device", "list", "--json", "--registry", str(line))
    data = json.loads(r.output)
    assert [d["uid"] for d in data] == [uid(n).hex() for n in range(1, 6)]
    assert data[3]["reason"] == "no SWD answer, probe unplugged?" and data[1]["station"] == "st2"


def test_device_show(line: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = invoke("device", "show", "04", "--registry", str(line))  # short UIDs are zero-padded
    assert r.exit_code == 0
    assert "state:            failed" in r.output and "probe unplugged" in r.output
    assert "audit (2 entries):" in r.output and '"outcome":"new"' in r.output
    r = invoke("device", "show", uid(1).hex(), "--json", "--registry", str(line))
    data = json.loads(r.output)
    assert data["device"]["state"] == "verified" and data["device"]["key_id"] == KEY.hex()
    assert [e["event"] for e in data["audit"]] == ["claim", "state", "state"]
    assert data["audit"][-1]["detail"] == {
        "from": "programmed",
        "seconds": 1.25,
        "state": "verified",
    }

    code, out, err = ooc(capsys, "device", "show", "abcdef", "--registry", str(line))
    assert (code, out) == (2, "")
    assert err == f"ooc: error: no device {'00' * 13}abcdef in registry {line}\n"
    code, _, err = ooc(capsys, "device", "show", "xyz", "--registry", str(line))
    assert code == 2 and "not hex" in err and err.count("\n") == 1


def test_device_export(line: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = invoke("device", "export", "--csv", "--registry", str(line))
    assert r.exit_code == 0
    rows = list(csv.reader(io.StringIO(r.output)))
    assert rows[0] == [
        "uid",
        "key_id",
        "image_id",
        "image_version",
        "security_counter",
        "station",
        "state",
        "reason",
        "attempts",
        "created",
        "updated",
    ]
    assert len(rows) == 6 and rows[4][6:8] == ["failed", "no SWD answer, probe unplugged?"]
    assert rows[1][7] == ""  # no reason: an empty cell

    out = tmp_path / "export.json"
    r = invoke("device", "export", "--json", "-o", str(out), "--registry", str(line))
    assert r.exit_code == 0 and r.output == f"exported 5 devices to {out}\n"
    assert [d["state"] for d in json.loads(out.read_text())] == [
        "verified",
        "verified",
        "verified",
        "failed",
        "pending",
    ]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".export")) == []

    for flags in ([], ["--json", "--csv"]):
        code, out_text, err = ooc(capsys, "device", "export", *flags, "--registry", str(line))
        assert code == 2 and out_text == "" and "exactly one of --json and --csv" in err
    code, _, err = ooc(
        capsys,
        "device",
        "export",
        "--csv",
        "-o",
        str(tmp_path / "no" / "x.csv"),
        "--registry",
        str(line),
    )
    assert code == 2 and "cannot write" in err and err.count("\n") == 1


def test_device_audit(
    line: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_FILE, raising=False)
    master = tmp_path / "master.key"
    KS.write(master)
    with Registry.open(line) as reg:
        report = reg.verify_chain(KS)
    head, head_mac = report.head, report.head_mac
    assert report.ok and report.macs == "verified" and head_mac is not None
    code, out, err = ooc(capsys, "device", "audit", "--registry", str(line))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"audit chain verified: 12 entries, head {head}",
        "MACs not checked (no master key given: --master-key or $OOC_MASTER_KEY_FILE); a chain "
        "rewritten without the key is not caught",
    ]
    code, out, err = ooc(
        capsys, "device", "audit", "--registry", str(line), "--master-key", str(master)
    )
    assert (code, err) == (0, "") and out.splitlines()[1:] == [
        f"MACs verified under master key id {KS.key_id.hex()}, head MAC {head_mac}"
    ]
    monkeypatch.setenv(ENV_FILE, str(master))  # the key from the environment, as other commands
    r = invoke("device", "audit", "--json", "--registry", str(line))
    assert json.loads(r.output) == {
        "ok": True,
        "entries": 12,
        "first_bad": None,
        "reason": "",
        "head": head,
        "head_mac": head_mac,
        "macs": "verified",
        "key_id": KS.key_id.hex(),
        "problems": [],
    }
    monkeypatch.delenv(ENV_FILE)

    with raw(line) as db:
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("UPDATE audit SET station = 'st9' WHERE seq = 4")
    code, out, err = ooc(capsys, "device", "audit", "--registry", str(line))
    altered = "entry 4: its contents do not match its hash (the entry was altered)"
    assert (code, out, err) == (2, "", f"ooc: error: audit of registry {line}: {altered}\n")
    code, out, err = ooc(capsys, "device", "audit", "--json", "--registry", str(line))
    assert code == 2 and err.count("\n") == 1
    assert json.loads(out) == {
        "ok": False,
        "entries": 12,
        "first_bad": 4,
        "reason": altered,
        "head": head,
        "head_mac": head_mac,
        "macs": "not checked",
        "key_id": None,
        "problems": [altered],
    }


def test_read_commands_need_an_existing_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nothing.sqlite"
    for args in (["list"], ["show", "01"], ["export", "--csv"], ["audit"]):
        code, out, err = ooc(capsys, "device", *args, "--registry", str(missing))
        assert (code, out) == (2, "")
        assert err == f"ooc: error: no registry at {missing} (ooc provision run creates one)\n"
    assert not missing.exists()  # reading never creates one

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_REGISTRY, raising=False)
    code, _, err = ooc(capsys, "device", "list")
    assert code == 2 and f"no registry at {tmp_path / 'ooc-registry.sqlite'} " in err


def test_cli_finds_the_registry_through_the_environment(line: Path) -> None:
    r = invoke("device", "list", "--json", env={ENV_REGISTRY: str(line)})
    assert r.exit_code == 0 and len(json.loads(r.output)) == 5
    r = invoke("device", "list", "--state", "pending", env={ENV_REGISTRY: str(line)})
    assert r.exit_code == 0 and r.output.splitlines()[-1] == "1 pending device"
    # --registry wins over the environment
    r = invoke("device", "list", "--registry", str(line), env={ENV_REGISTRY: "/nonexistent/x"})
    assert r.exit_code == 0 and "5 devices" in r.output
