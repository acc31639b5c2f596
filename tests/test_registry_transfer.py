"""`ooc registry migrate` and moving a whole registry (`ooc device export --full`, `ooc device
import`: ooc_sdk/provisioning/transfer.py) between SQLite files; tests/test_registry_pg.py does
the same to and from PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from ooc_sdk.cli import main
from ooc_sdk.image.keystore import ENV_FILE, SecretKeystore
from ooc_sdk.provisioning.registry import SCHEMA_VERSION, Registry

sys.path.insert(0, str(Path(__file__).parent))
from test_registry import KS, claim, provision, raw, uid


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_FILE, raising=False)


@pytest.fixture
def master(tmp_path: Path) -> Path:
    file = tmp_path / "master.key"
    KS.write(file)
    return file


@pytest.fixture
def line(tmp_path: Path) -> Path:
    path = tmp_path / "line.sqlite"
    with Registry.open(path, key=KS) as reg:
        reg.allocate_serials("st1", 2)
        provision(reg, 1)
        provision(reg, 2, "st2")
        claim(reg, 3)
        reg.set_state(uid(3), "failed", station="st1", reason="no SWD answer")
    return path


def ooc(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    code, out, err = ooc(capsys, *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_registry_migrate_creates_upgrades_and_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new.sqlite"
    assert ooc(capsys, "registry", "migrate", "--registry", path) == (
        0, f"registry {path}: created at schema version {SCHEMA_VERSION}\n", ""
    )  # fmt: skip
    assert ooc(capsys, "registry", "migrate", "--registry", path)[1] == (
        f"registry {path}: already at schema version {SCHEMA_VERSION}\n"
    )
    old = tmp_path / "v1.sqlite"  # a registry made by an ooc of schema version 1
    with raw(old) as db:
        for statement in Registry.MIGRATIONS[0][1]:
            db.execute(statement)
        db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    assert ooc(capsys, "registry", "migrate", "--registry", old)[1] == (
        f"registry {old}: upgraded from schema version 1 to {SCHEMA_VERSION}\n"
    )
    other = tmp_path / "inventory.sqlite"
    with raw(other) as db:
        db.execute("CREATE TABLE parts (pn TEXT)")
    err = refused(capsys, "registry", "migrate", "--registry", other)
    assert "an SQLite database but not an ooc device registry" in err
    with raw(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = path.read_bytes()
    err = refused(capsys, "registry", "migrate", "--registry", path)
    assert "schema version 99, newer than this ooc" in err and path.read_bytes() == before
    with raw(other) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["parts"]


def test_a_registry_moves_whole_and_verified(
    line: Path, tmp_path: Path, master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump, target = tmp_path / "line.json", tmp_path / "moved.sqlite"
    code, out, _ = ooc(capsys, "device", "export", "--full", "-o", dump, "--registry", line,
                       "--master-key", master)  # fmt: skip
    assert code == 0 and out == f"exported 3 devices and 9 audit entries to {dump}\n"
    doc = json.loads(dump.read_text())
    assert {k: doc[k] for k in ("format", "format_version", "schema_version", "entries")} == {
        "format": "ooc-device-registry-export",
        "format_version": 1,
        "schema_version": SCHEMA_VERSION,
        "entries": 9,
    }
    assert doc["meta"]["next_serial"] == "3" and doc["meta"]["mac_key_id"] == KS.key_id.hex()
    assert "root_key" not in dump.read_text() and len(doc["audit"]) == 9
    code, out, err = ooc(capsys, "device", "import", dump, "--registry", target,
                         "--master-key", master)  # fmt: skip
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"imported 3 devices and 9 audit entries into {target}",
        f"audit chain verified: 9 entries, head {doc['head']}",
        f"MACs verified under master key id {KS.key_id.hex()}",
    ]
    with Registry.open(line) as a, Registry.open(target, key=KS) as b:
        assert a.devices() == b.devices() and a.audit_entries() == b.audit_entries()
        assert b.verify_chain().ok and b.allocate_serials("st1") == [3]
        outcome, dev = claim(b, 3, "st2")  # the failed device resumes on the new registry
        assert (outcome.value, dev.attempts) == ("resume", 2)


def test_bad_exports_and_targets_are_refused_and_nothing_is_written(
    line: Path, tmp_path: Path, master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "line.json"
    assert ooc(capsys, "device", "export", "--full", "-o", dump, "--registry", line)[0] == 0
    good = json.loads(dump.read_text())

    def variant(name: str, edit) -> Path:  # type: ignore[no-untyped-def]
        doc = json.loads(json.dumps(good))
        edit(doc)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        return path

    cases = {
        variant("format", lambda d: d.update(format="x")): "is not an ooc registry export",
        variant("newer", lambda d: d.update(schema_version=99)): "schema version 99, newer",
        variant("fields", lambda d: d["devices"][0].pop("reason")): "does not have exactly",
        variant("types", lambda d: d["audit"][0].update(seq="1")): "audit[0].seq is str",
        variant("bool", lambda d: d["devices"][0].update(attempts=True)): "attempts is bool",
        variant("record", lambda d: d["devices"][0].update(state="failed")): "does not verify",
        variant("entry", lambda d: d["audit"].pop()): "does not verify",
        variant("head", lambda d: d.update(head="00" * 32)): "names head",
        variant("mac", lambda d: d["audit"][-1].update(mac="00" * 32)): "MAC does not verify",
    }
    (tmp_path / "text.json").write_text("not json")
    cases[tmp_path / "text.json"] = "not JSON"
    target = tmp_path / "target.sqlite"
    for path, message in cases.items():
        err = refused(capsys, "device", "import", path, "--registry", target, "--master-key",
                      master)  # fmt: skip
        assert message in err, (path.name, err)
        assert not target.exists(), path.name  # refused before the target was made
    other = tmp_path / "other.key"
    SecretKeystore(bytes(32)).write(other)
    err = refused(capsys, "device", "import", dump, "--registry", target, "--master-key", other)
    assert "kept under master key id" in err and not target.exists()

    before = line.read_bytes()  # a registry in use is never imported into
    err = refused(capsys, "device", "import", dump, "--registry", line, "--master-key", master)
    assert "is not empty (3 devices, 9 audit entries" in err and line.read_bytes() == before

    with sqlite3.connect(line) as db:  # a registry that does not verify is not exported
        db.execute("UPDATE devices SET station = 'st9' WHERE uid = ?", (uid(1).hex(),))
    db.close()
    out = tmp_path / "bad.json"
    err = refused(capsys, "device", "export", "--full", "-o", out, "--registry", line)
    assert "does not verify" in err and "nothing exported" in err and not out.exists()
    err = refused(capsys, "device", "export", "--full", "--csv", "--registry", line)
    assert "give exactly one of --json and --csv, or --full" in err
    err = refused(capsys, "device", "export", "--json", "--master-key", master, "--registry", line)
    assert "--master-key goes with --full" in err
