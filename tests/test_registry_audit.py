"""What `ooc device audit` catches (ooc_sdk/provisioning/chain.py): an edit of any field of any
device record, a chain rewritten consistently without the master key (the MACs), a registry cut
back to an earlier state (an exported head); the schema 2 -> 3 migration; and the registry's
refusal of a lower security counter for a device (a downgrade), in the library and through
`ooc provision run`."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ooc_sdk import __version__
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.cli import main
from ooc_sdk.image import crypto
from ooc_sdk.image.keystore import ENV_FILE, LABEL_REGISTRY_MAC, SecretKeystore
from ooc_sdk.model import load_model
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.provisioning.chain import DEVICE_FIELDS, Anchor, canonical_json, entry_hash
from ooc_sdk.provisioning.programmers import serial_uid
from ooc_sdk.provisioning.registry import (
    SCHEMA_VERSION,
    Claim,
    Device,
    Registry,
    RegistryError,
)
from ooc_sdk.targets import load_flash, load_mcu

sys.path.insert(0, str(Path(__file__).parent))
from test_registry import IMAGE, KEY, KS, claim, provision, raw, uid

from conftest import shared_model

OTHER_KS = SecretKeystore(bytes(range(100, 132)))  # another factory's master key


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_FILE, raising=False)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "line.sqlite"


@pytest.fixture
def master(tmp_path: Path) -> Path:
    file = tmp_path / "master.key"
    KS.write(file)
    return file


@pytest.fixture
def line(path: Path) -> Path:
    """Three verified devices (one from a second station), one failed, one pending, serials."""
    with Registry.open(path, key=KS) as reg:
        reg.allocate_serials("st1", 2)
        for n in (1, 2, 3):
            provision(reg, n, "st1" if n != 2 else "st2")
        claim(reg, 4)
        reg.set_state(uid(4), "failed", station="st1", reason="no SWD answer")
        claim(reg, 5, "st2")
    return path


def edit(path: Path, statement: str, args: tuple[Any, ...] = ()) -> None:
    """One statement by hand on the file (the connection closed, so nothing lingers in a WAL)."""
    with contextlib.closing(raw(path)) as db:
        db.execute(statement, args)


def ooc(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def audit(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> tuple[int, str, str]:
    return ooc(capsys, "device", "audit", "--registry", str(path), *args)


# -- every field of every device record ----------------------------------------------------------


def _edited(name: str, value: Any) -> Any:
    """Another value of the same kind for field ``name`` (a valid state for ``state``)."""
    return {
        "uid": "ff" * 16,
        "key_id": "ff" * 8,
        "image_id": "ee" * 16,
        "image_version": f"{value} edited",
        "security_counter": 9 if value != 9 else 8,
        "station": "st9",
        "state": "verified" if value != "verified" else "failed",
        "reason": "edited" if value is None else None,
        "attempts": value + 1 if isinstance(value, int) else 1,
        "created": "2020-01-01T00:00:00.000000Z",
        "updated": "2020-01-01T00:00:00.000000Z",
    }[name]


def test_the_audit_knows_every_field_of_a_device_record() -> None:
    assert tuple(f.name for f in Device.__dataclass_fields__.values()) == DEVICE_FIELDS


@pytest.mark.parametrize("name", DEVICE_FIELDS)
def test_an_edit_of_any_field_of_any_device_record_is_caught(
    name: str, line: Path, master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Registry.open(line) as reg:
        assert reg.verify_chain(KS).ok
        devices = reg.devices()
        assert len(devices) == 5
        for n, dev in enumerate(devices):
            old = getattr(dev, name)
            new = _edited(name, old)
            assert new != old
            # someone with write access to the file, editing one cell
            edit(line, f"UPDATE devices SET {name} = ? WHERE uid = ?", (new, dev.uid))
            for key in (None, KS):  # caught with and without the master key
                report = reg.verify_chain(key)
                assert not report.ok and report.first_bad is None, (name, n)
                if name == "uid":
                    assert report.problems == (
                        f"device {new} has no audit entry (added outside ooc)",
                        f"device {dev.uid} is in the audit log but has no record (the record "
                        "was deleted)",
                    )
                else:
                    assert report.problems == (
                        f"device {dev.uid}: {name} is {new!r}, its audit log says {old!r} (the "
                        "device record was edited)",
                    )
            if n == len(devices) - 1:  # the command line: exit 2, one line per problem
                code, out, err = audit(capsys, line, "--master-key", str(master))
                assert code == 2 and out == ""
                lines = err.splitlines()
                assert len(lines) == len(report.problems)
                assert all(x.startswith(f"ooc: error: audit of registry {line}: ") for x in lines)
                assert lines[-1].endswith(report.problems[-1])
            where = new if name == "uid" else dev.uid  # put it back: the audit passes again
            edit(line, f"UPDATE devices SET {name} = ? WHERE uid = ?", (old, where))
            assert reg.verify_chain(KS).ok


def test_every_edited_record_is_reported_on_its_own_line(
    line: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(line, "UPDATE devices SET security_counter = 0")  # every record at once
    code, _, err = audit(capsys, line)
    assert code == 2 and len(err.splitlines()) == 5
    for n, text in enumerate(err.splitlines(), 1):
        assert f"device {uid(n).hex()}: security_counter is 0, its audit log says 3" in text


def test_deleted_reordered_and_added_records_and_the_serial_counter(line: Path) -> None:
    copies = itertools.count()

    def problems(*sql: str) -> tuple[str, ...]:
        copy = line.with_name(f"copy{next(copies)}.sqlite")
        shutil.copy(line, copy)
        for statement in sql:
            edit(copy, statement)
        with Registry.open(copy, create=False) as reg:
            return reg.verify_chain(KS).problems

    assert problems() == ()
    assert problems(f"DELETE FROM devices WHERE uid = '{uid(4).hex()}'") == (
        f"device {uid(4).hex()} is in the audit log but has no record (the record was deleted)",
    )
    assert problems(
        f"UPDATE devices SET id = 100 WHERE uid = '{uid(1).hex()}'"  # listed last from now on
    ) == (
        "the device records' order (their id) is not the order of their first claims (ids "
        "were edited)",
    )
    assert problems(
        "INSERT INTO devices (uid, key_id, image_id, image_version, security_counter, station, "
        f"state, reason, attempts, created, updated) SELECT '{'ab' * 16}', key_id, image_id, "
        "image_version, security_counter, station, state, reason, attempts, created, updated "
        f"FROM devices WHERE uid = '{uid(1).hex()}'"
    ) == (f"device {'ab' * 16} has no audit entry (added outside ooc)",)
    # a lowered serial counter would hand out serial numbers twice
    assert problems("UPDATE meta SET value = '1' WHERE key = 'next_serial'") == (
        "the serial counter is 1, its audit log says 3 (the counter was edited)",
    )


# -- a chain rewritten without the key -----------------------------------------------------------


def rewrite(path: Path, edit: Callable[[dict[str, Any]], None], mac: Callable[[bytes], Any]) -> int:
    """An attacker with write access to the file but not the master key: ``edit`` changes entries
    (dicts of AUDIT_FIELDS with ``detail`` parsed), every hash is recomputed from the first
    changed entry on, the head is moved, and the device records are made to agree with the new
    log. ``mac(hash)`` is what the attacker stores as MAC. Returns the first changed seq."""
    db = raw(path)
    db.execute("DROP TRIGGER audit_no_update")
    rows = db.execute(
        "SELECT seq, time, station, uid, event, detail, prev_hash, hash, mac FROM audit "
        "ORDER BY seq"
    ).fetchall()
    prev, first = bytes(32), 0
    for seq, stamp, station, u, event, detail, _, _, old_mac in rows:
        entry = {"seq": seq, "time": stamp, "station": station, "uid": u, "event": event}
        entry["detail"] = json.loads(detail)
        edit(entry)
        text = canonical_json(entry["detail"])
        first = first or (seq if text != detail or entry["station"] != station else 0)
        digest = entry_hash(prev, seq, entry["time"], entry["station"], u, event, text)
        stored = mac(digest) if first else old_mac
        db.execute(
            "UPDATE audit SET station = ?, detail = ?, prev_hash = ?, hash = ?, mac = ? "
            "WHERE seq = ?",
            (entry["station"], text, prev.hex(), digest.hex(), stored, seq),
        )
        prev = digest
    db.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (prev.hex(),))
    db.close()
    return first


def raise_counter(entry: dict[str, Any]) -> None:
    """The attacker's change: device 1 was given security counter 7 (it was 3)."""
    if entry["uid"] == uid(1).hex() and entry["event"] == "claim":
        entry["detail"]["security_counter"] = 7


def agree(path: Path) -> None:
    edit(path, "UPDATE devices SET security_counter = 7 WHERE uid = ?", (uid(1).hex(),))


@pytest.mark.parametrize(
    "mac",
    [
        pytest.param(lambda d: None, id="macs-stripped"),
        pytest.param(lambda d: "00" * 32, id="macs-guessed"),
        pytest.param(lambda d: OTHER_KS.registry_mac(d).hex(), id="macs-under-another-key"),
    ],
)
def test_a_chain_rewritten_without_the_key_is_caught_with_the_key(
    mac: Callable[[bytes], Any], line: Path, master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = rewrite(line, raise_counter, mac)
    agree(line)
    assert first == 2  # device 1's claim, after the serial allocation
    with Registry.open(line, create=False) as reg:
        blind = reg.verify_chain()  # without the key the rewrite is consistent: not caught
        assert blind.ok and blind.macs == "not checked" and reg.get(uid(1)).security_counter == 7  # type: ignore[union-attr]
        report = reg.verify_chain(KS)
    assert not report.ok and report.macs == "failed" and report.first_bad is not None
    if mac(bytes(32)) is None:  # no MAC from entry 2 on, though entry 1 has one
        assert report.first_bad == first and report.problems == (
            f"entry {first}: it has no MAC, though earlier entries have",
        )
    else:
        assert report.first_bad == first and report.problems == (
            f"entry {first}: its MAC does not verify under master key id {KS.key_id.hex()} (the "
            "log was rewritten without the key from this entry on)",
        )
    code, out, err = audit(capsys, line)
    assert code == 0 and "MACs not checked" in out
    code, out, err = audit(capsys, line, "--master-key", str(master))
    assert (code, out) == (2, "") and err.splitlines() == [
        f"ooc: error: audit of registry {line}: {report.problems[0]}"
    ]


def test_a_registry_claimed_for_another_master_key_is_caught(line: Path) -> None:
    rewrite(line, raise_counter, lambda d: OTHER_KS.registry_mac(d).hex())
    agree(line)
    # and the attacker names their own key as the registry's
    edit(line, "UPDATE meta SET value = ? WHERE key = 'mac_key_id'", (OTHER_KS.key_id.hex(),))
    with Registry.open(line, create=False) as reg:
        report = reg.verify_chain(KS)
    assert not report.ok and report.macs == "failed"
    assert report.problems == (
        f"the registry is kept under master key id {OTHER_KS.key_id.hex()}, not {KS.key_id.hex()}",
    )


def test_only_the_master_key_writes(line: Path) -> None:
    with Registry.open(line, create=False) as reg:  # no key: reading and auditing only
        entries = len(reg.audit_entries())
        assert len(reg.devices()) == 5 and reg.verify_chain().ok
        with pytest.raises(RegistryError, match="written only with the factory master key") as e:
            claim(reg, 6)
        assert "\n" not in str(e.value)
        with pytest.raises(RegistryError, match="written only with the factory master key"):
            reg.allocate_serials("st1")
    with pytest.raises(RegistryError, match=f"kept under master key id {KS.key_id.hex()}; this"):
        Registry.open(line, key=OTHER_KS)
    with Registry.open(line, create=False) as reg:
        assert len(reg.audit_entries()) == entries and reg.get(uid(6)) is None
        assert all(e.mac is not None for e in reg.audit_entries())
        assert reg.verify_chain(KS).ok


def test_the_mac_is_hmac_sha256_under_a_key_derived_from_the_master(line: Path) -> None:
    key = crypto.kdf(bytes(range(32)), b"ooc registry mac", b"", 32)
    assert LABEL_REGISTRY_MAC == b"ooc registry mac"
    with Registry.open(line, create=False) as reg:
        for e in reg.audit_entries():
            digest = bytes.fromhex(e.hash)
            assert e.mac == hmac.new(key, digest, hashlib.sha256).hexdigest()
            assert e.mac == KS.registry_mac(digest).hex() != OTHER_KS.registry_mac(digest).hex()


# -- the head, exported and checked later --------------------------------------------------------


def test_an_exported_head_catches_a_registry_cut_back_or_rewritten(
    line: Path, master: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = audit(capsys, line, "--json", "--master-key", str(master))
    shift1 = json.loads(out)
    assert code == 0 and shift1["macs"] == "verified" and shift1["entries"] == 13
    assert len(shift1["head"]) == 64 and len(shift1["head_mac"]) == 64
    snapshot = line.with_name("snapshot.sqlite")
    shutil.copy(line, snapshot)  # what the file looked like at shift 1's export

    with Registry.open(line, key=KS) as reg:  # shift 2 goes on
        provision(reg, 6)
    n1, h1 = str(shift1["entries"]), shift1["head"]
    code, out, err = audit(capsys, line, "--expect-count", n1, "--expect-head", h1)
    assert (code, err) == (0, "") and out.startswith("audit chain verified: 16 entries")
    code, out, _ = audit(capsys, line, "--json")
    shift2 = json.loads(out)
    code, out, err = audit(capsys, line, "--expect-head", h1)  # alone: the head now
    assert code == 2 and err.splitlines() == [
        f"ooc: error: audit of registry {line}: the head is {shift2['head']}, not the exported "
        f"head {h1}"
    ]

    # the file rolled back to shift 1's copy: genuine history, MACs and all, so only the head
    # exported at shift 2 tells
    shutil.copy(snapshot, line)
    assert audit(capsys, line, "--master-key", str(master))[0] == 0
    code, _, err = audit(
        capsys, line, "--expect-count", str(shift2["entries"]), "--expect-head", shift2["head"]
    )
    assert code == 2 and err.splitlines() == [
        f"ooc: error: audit of registry {line}: the log has 13 entries, fewer than the 16 of "
        "the exported head (entries were removed)"
    ]

    # a consistent rewrite before the exported entry is caught by the head even without the key
    rewrite(line, raise_counter, lambda d: None)
    agree(line)
    code, _, err = audit(capsys, line, "--expect-count", n1, "--expect-head", h1)
    assert code == 2 and len(err.splitlines()) == 1
    assert f"entry {n1}: its hash is " in err and f"not the exported head {h1}" in err
    with Registry.open(line, create=False) as reg:
        report = reg.verify_chain(expect=Anchor(h1, int(n1)))
        assert report.problems[0].startswith(f"entry {n1}: its hash is ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expect-head", "abc"], "--expect-head wants 64 hex digits"),
        (["--expect-head", "zz" * 32], "--expect-head wants 64 hex digits"),
        (["--expect-count", "3"], "--expect-count goes with --expect-head"),
        (["--expect-count", "-1", "--expect-head", "00" * 32], "-1 is not in the range"),
    ],
)
def test_bad_head_options_are_one_line_errors(
    args: list[str], message: str, line: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = audit(capsys, line, *args)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and message in err


# -- schema 2 -> 3 -------------------------------------------------------------------------------


class V2Writer:
    """A version 2 registry written the way version 2 wrote it (no MAC column, no key)."""

    def __init__(self, path: Path) -> None:
        self.db = raw(path)
        self.db.execute("BEGIN")
        for _, statements in Registry.MIGRATIONS[:2]:
            for statement in statements:
                self.db.execute(statement)
        self.db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2')")
        self.seq, self.head, self.n = 0, bytes(32), 0

    def append(self, station: str, u: str | None, event: str, detail: dict[str, Any]) -> str:
        self.n += 1
        stamp = f"2024-05-01T08:00:{self.n:02d}.000000Z"
        text = canonical_json(detail)
        self.seq += 1
        digest = entry_hash(self.head, self.seq, stamp, station, u, event, text)
        self.db.execute(
            "INSERT INTO audit (seq, time, station, uid, event, detail, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.seq, stamp, station, u, event, text, self.head.hex(), digest.hex()),
        )
        self.head = digest
        self.db.execute("UPDATE meta SET value = ? WHERE key = 'audit_count'", (str(self.seq),))
        self.db.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (digest.hex(),))
        return stamp

    def device(self, n: int, final: str, reason: str | None = None) -> None:
        u = uid(n).hex()
        claimed = {
            "outcome": "new",
            "state": "pending",
            "from": None,
            "key_id": KEY.hex(),
            "image_id": IMAGE.hex(),
            "image_version": "vww_96 sc=3",
            "security_counter": 3,
            "attempts": 1,
        }
        created = updated = self.append("st0", u, "claim", claimed)
        for state in ("programmed", final) if final != "pending" else ():
            info = {"from": "pending" if state == "programmed" else "programmed", "state": state}
            info.update({"reason": reason} if reason else {})
            updated = self.append("st0", u, "state", info)
        self.db.execute(
            "INSERT INTO devices (uid, key_id, image_id, image_version, security_counter, "
            "station, state, reason, attempts, created, updated) VALUES (?, ?, ?, ?, 3, 'st0', "
            "?, ?, 1, ?, ?)",
            (u, KEY.hex(), IMAGE.hex(), "vww_96 sc=3", final, reason, created, updated),
        )

    def close(self) -> None:
        self.db.execute("UPDATE meta SET value = '3' WHERE key = 'next_serial'")
        self.db.execute("COMMIT")
        self.db.close()


def test_a_version_2_registry_upgrades_and_its_history_is_authenticated_by_the_next_mac(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = V2Writer(path)
    old.append("st0", None, "serials", {"first": 1, "count": 2})
    old.device(1, "verified")
    old.device(2, "failed", "bad flash")
    old.close()

    with Registry.open(path, create=False) as reg:  # a read-only command upgrades it
        assert reg.schema_version == SCHEMA_VERSION == 3
        entries = reg.audit_entries()
        assert len(entries) == 7 and {e.mac for e in entries} == {None}
        assert reg.verify_chain().ok  # the replay works on version 2 entries as they are
        report = reg.verify_chain(KS)  # but no MAC vouches for them yet
        assert not report.ok and "the last entry has no MAC" in report.reason
    with contextlib.closing(raw(path)) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'mac_key_id'").fetchone() == ("",)
    edit(path, "UPDATE devices SET key_id = ? WHERE uid = ?", ("00" * 8, uid(1).hex()))
    with Registry.open(path, create=False) as reg:  # old records are checked field by field too
        assert "device " + uid(1).hex() + ": key_id is" in reg.verify_chain().reason
    edit(path, "UPDATE devices SET key_id = ? WHERE uid = ?", (KEY.hex(), uid(1).hex()))

    with Registry.open(path, key=KS) as reg:  # the first station write after the upgrade
        assert claim(reg, 2)[0] is Claim.RESUME
        assert reg.audit_entries()[-1].mac is not None
        report = reg.verify_chain(KS)
        assert report.ok and report.macs == "verified" and report.entries == 8
    with contextlib.closing(raw(path)) as db:
        kept = db.execute("SELECT value FROM meta WHERE key = 'mac_key_id'").fetchone()
        assert kept == (KS.key_id.hex(),)

    # from now on every entry needs a MAC: one forged without (a serial allocation) is caught
    with contextlib.closing(raw(path)) as db:
        head = bytes.fromhex(db.execute("SELECT hash FROM audit WHERE seq = 8").fetchone()[0])
        text = canonical_json({"first": 3, "count": 1})
        digest = entry_hash(head, 9, "2024-05-02T00:00:00.000000Z", "st9", None, "serials", text)
        db.execute(
            "INSERT INTO audit (seq, time, station, uid, event, detail, prev_hash, hash) "
            "VALUES (9, '2024-05-02T00:00:00.000000Z', 'st9', NULL, 'serials', ?, ?, ?)",
            (text, head.hex(), digest.hex()),
        )
        db.execute("UPDATE meta SET value = '9' WHERE key = 'audit_count'")
        db.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (digest.hex(),))
        db.execute("UPDATE meta SET value = '4' WHERE key = 'next_serial'")
    with Registry.open(path, create=False) as reg:
        assert reg.verify_chain().ok
        assert reg.verify_chain(KS).problems == (
            "entry 9: it has no MAC, though earlier entries have",
        )


def test_a_registry_newer_than_the_tool_is_one_line_exit_2(
    line: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(line, "UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    for args in (["audit"], ["list"]):
        code, out, err = ooc(capsys, "device", *args, "--registry", str(line))
        assert (code, out) == (2, "") and err == (
            f"ooc: error: registry {line} has schema version 4, newer than this ooc "
            f"{__version__} knows (3): upgrade ooc on this station\n"
        )
    with contextlib.closing(raw(line)) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("4",)


# -- a lower security counter is refused ---------------------------------------------------------


@pytest.fixture
def reg(path: Path) -> Iterator[Registry]:
    with Registry.open(path, key=KS) as r:
        yield r


def claim_at(reg: Registry, n: int, counter: int, station: str = "st1") -> tuple[Claim, Device]:
    return reg.claim(
        uid(n),
        station=station,
        key_id=KEY,
        image_id=IMAGE,
        image_version=f"vww_96 sc={counter}",
        security_counter=counter,
    )


def test_a_lower_security_counter_is_refused_in_every_state(reg: Registry) -> None:
    claim_at(reg, 1, 5)  # pending at st1
    claim_at(reg, 2, 5)
    reg.set_state(uid(2), "failed", station="st1", reason="probe lost")
    claim_at(reg, 3, 5)
    reg.set_state(uid(3), "programmed", station="st1")
    reg.set_state(uid(3), "verified", station="st1")
    before = (reg.devices(), reg.audit_entries())
    for n in (1, 2, 3):
        for station in ("st1", "st2"):
            with pytest.raises(RegistryError) as e:
                claim_at(reg, n, 4, station)
            assert str(e.value) == (
                f"device {uid(n).hex()} was given security counter 5 (vww_96 sc=5); this image "
                "has counter 4: a device is never given an older image (build it with "
                "--security-counter 5 or higher)"
            )
    assert (reg.devices(), reg.audit_entries()) == before  # nothing written
    # the same counter or a higher one is fine, and the recorded counter only goes up
    assert claim_at(reg, 2, 5)[0] is Claim.RESUME
    reg.set_state(uid(2), "failed", station="st1", reason="again")
    outcome, dev = claim_at(reg, 2, 6, "st2")
    assert outcome is Claim.RESUME and dev.security_counter == 6
    reg.set_state(uid(2), "failed", station="st2", reason="and again")
    with pytest.raises(RegistryError, match="was given security counter 6"):
        claim_at(reg, 2, 5)
    assert claim_at(reg, 9, 0)[0] is Claim.NEW  # a new device takes any counter
    assert reg.verify_chain(KS).ok


def test_provision_run_refuses_to_downgrade_a_failed_device(tmp_path: Path, path: Path) -> None:
    """Re-provisioning a failed device from an older build: one line, exit 2, nothing written."""
    model = shared_model("kws_ref_model.tflite")
    out = tmp_path / "release-old"
    request = PlanRequest(
        budget=32 * 1024, flash=load_flash("w25q128jv"), mcu=load_mcu("cortex-m4")
    )
    build(load_model(model), model.read_bytes(), out, None, BuildRequest(request, 2), keystore=KS)
    master = tmp_path / "master.key"
    KS.write(master)

    device = serial_uid(1)
    with Registry.open(path, key=KS) as reg:  # a newer release (counter 5) failed on it
        reg.claim(device, station="line1", key_id=KS.device_key(device).key_id,
                  image_id=bytes(16), image_version="kws sc5", security_counter=5)  # fmt: skip
        reg.set_state(device, "failed", station="line1", reason="probe lost")
        before = (reg.devices(), reg.audit_entries())
    uids = tmp_path / "uids.txt"
    uids.write_text(device.hex() + "\n")
    r = subprocess.run(
        [sys.executable, "-m", "ooc_sdk.cli", "provision", "run", "--image", str(out),
         "--programmer", "file", "--uids", str(uids), "--master-key", str(master),
         "--registry", str(path), "--station", "line1", "--out", str(tmp_path / "prog")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    errors = [x for x in r.stderr.splitlines() if x.startswith("ooc: error: ")]
    assert errors == [
        f"ooc: error: device {device.hex()} was given security counter 5 (kws sc5); this image "
        "has counter 2: a device is never given an older image (build it with "
        "--security-counter 5 or higher)"
    ]
    with Registry.open(path, create=False) as reg:
        assert (reg.devices(), reg.audit_entries()) == before and reg.verify_chain(KS).ok
    assert not list((tmp_path / "prog").rglob(f"*{device.hex()}*"))  # nothing programmed
