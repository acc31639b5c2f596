"""The manufacturing station (ooc_sdk/provisioning/station.py, `ooc provision run`): batch images
personalised per device, crash-safe and resumable, two stations on one registry, bad input, and
three emulated devices that each run the model bit-exact with tflite-micro under their own key."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.build.directory import BuildDir
from ooc_sdk.errors import (
    AuthenticationError,
    InvalidArgumentError,
    WrongDeviceError,
)
from ooc_sdk.formats import image as fmt
from ooc_sdk.image.batch import BATCH_KEY_FILE
from ooc_sdk.image.keystore import SecretKeystore
from ooc_sdk.image.reader import open_image
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.provisioning.programmers import (
    ProgrammerError,
    open_programmer,
    qemu_device_dir,
    serial_uid,
)
from ooc_sdk.provisioning.registry import Registry, RegistryError
from ooc_sdk.provisioning.station import CRASH_ENV, CRASH_EXIT, STEPS, Station, load_batch
from ooc_sdk.run.golden import run_tflm
from ooc_sdk.run.qemu import run_build_m4
from ooc_sdk.targets import load_flash, load_mcu

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ooc_cli as _ooc
from conftest import shared_model

FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
MASTER = bytes(range(32))
MODEL = "kws_ref_model.tflite"


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("master") / "master.key"
    SecretKeystore(MASTER).write(path)
    return path


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = shared_model(MODEL)
    graph = load_model(path)
    out = tmp_path_factory.mktemp("batch")
    build(
        graph,
        path.read_bytes(),
        out,
        None,
        BuildRequest(PlanRequest(budget=32 * 1024, flash=FLASH, mcu=M4)),
        keystore=SecretKeystore(MASTER),
    )
    return out, graph


def test_a_batch_build_keeps_its_content_key_sealed_beside_an_erased_key_slot(
    batch, master: Path
) -> None:  # type: ignore[no-untyped-def]
    out, _ = batch
    info = BuildDir.open(out).info
    assert info.device is None and info.batch is not None
    assert info.batch.master_key_id == SecretKeystore(MASTER).key_id.hex()
    image = (out / "image" / "image.bin").read_bytes()
    slot = image[fmt.KEY_SLOT_OFFSET : fmt.KEY_SLOT_OFFSET + fmt.KEY_SLOT.size]
    assert slot == b"\xff" * fmt.KEY_SLOT.size
    key_file = out / BATCH_KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert not (out / "flash.bin").exists() and not (out / "image" / "keyslot.bin").exists()
    b = load_batch(out, SecretKeystore(MASTER))
    assert b.content_key not in key_file.read_bytes() and b.content_key not in image
    # a batch build cannot run until a device is provisioned; another master cannot open it
    r = _ooc("run", str(out), "--device-key", str(master))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    with pytest.raises(InvalidArgumentError, match="different master key"):
        load_batch(out, SecretKeystore(bytes(32)))


def _run(
    image: Path, master: Path, reg: Path, out: Path, *extra: str, env: dict[str, str] | None = None
):  # type: ignore[no-untyped-def]
    return _ooc(
        "provision", "run", "--image", str(image), "--programmer", "file", "--master-key",
        str(master), "--registry", str(reg), "--out", str(out), *extra, env=env,
    )  # fmt: skip


def _check_file_devices(batch_dir: Path, reg_path: Path, out: Path, n: int) -> None:
    """Every verified device's files hold the image personalised for it, openable with its
    derived key; the registry, the audit chain and the manifest agree."""
    ks = SecretKeystore(MASTER)
    with Registry.open(reg_path, create=False) as reg:
        devices = reg.devices()
        assert [d.state for d in devices] == ["verified"] * n
        assert reg.verify_chain().ok
        claims = Counter(
            e.uid for e in reg.audit_entries() if e.event in ("claimed", "claim") and e.uid
        )
    uids = [d.uid for d in devices]
    assert len(set(uids)) == n
    with (out / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["uid"] for r in rows) == sorted(uids)
    for d in devices:
        key = ks.device_key(bytes.fromhex(d.uid))
        assert d.key_id == key.key_id.hex()
        image = (out / "devices" / d.uid / "external.bin").read_bytes()
        open_image(image, key)  # key slot, header tag: this device's image
        assert (out / "devices" / d.uid / "keystore.bin").stat().st_mode & 0o777 == 0o600
    assert claims, "the audit log records the claims"


def test_file_station_provisions_a_batch_and_a_rerun_does_nothing(
    batch, master: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out, _ = batch
    reg, dev_out = tmp_path / "reg.sqlite", tmp_path / "line"
    r = _run(out, master, reg, dev_out, "--count", "3", "--station", "s1")
    assert r.returncode == 0, r.stderr
    assert "3 verified" in r.stdout
    _check_file_devices(out, reg, dev_out, 3)
    r = _run(out, master, reg, dev_out, "--count", "3", "--station", "s1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["devices"] == []  # the batch is complete: idempotent
    _check_file_devices(out, reg, dev_out, 3)
    # a dry run writes nothing, not even to the registry
    before = reg.read_bytes()
    r = _run(
        out, master, reg, tmp_path / "dry", "--count", "5", "--station", "s1", "--dry-run", "--json"
    )
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "dry").exists() or not any((tmp_path / "dry").rglob("*.bin"))
    assert reg.read_bytes() == before


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_then_a_rerun_provisions_every_device_exactly_once(
    batch, master: Path, tmp_path: Path, step: str
) -> None:  # type: ignore[no-untyped-def]
    out, _ = batch
    reg, dev_out = tmp_path / "reg.sqlite", tmp_path / "line"
    r = _run(
        out, master, reg, dev_out, "--count", "3", "--station", "s1", env={CRASH_ENV: f"{step}:2"}
    )
    assert r.returncode == CRASH_EXIT, (r.returncode, r.stderr)
    r = _run(out, master, reg, dev_out, "--count", "3", "--station", "s1")
    assert r.returncode == 0, r.stderr
    _check_file_devices(out, reg, dev_out, 3)
    with Registry.open(reg, create=False) as registry:
        attempts = sorted(d.attempts for d in registry.devices())
    # the crashed device was claimed twice at most (once if the crash came before its claim)
    assert attempts in ([1, 1, 1], [1, 1, 2])


def test_two_station_processes_never_provision_one_device_twice(
    batch, master: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out, _ = batch
    uids = [f"{0xA000 + i:032x}" for i in range(16)]
    (tmp_path / "uids.txt").write_text("# the batch\n" + "\n".join(uids) + "\n")
    reg = tmp_path / "reg.sqlite"
    cmd = [sys.executable, "-m", "ooc_sdk.cli", "provision", "run", "--image", str(out),
           "--programmer", "file", "--master-key", str(master), "--registry", str(reg),
           "--uids", str(tmp_path / "uids.txt")]  # fmt: skip
    procs = [
        subprocess.Popen(
            [*cmd, "--station", s, "--out", str(tmp_path / s), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in ("east", "west")
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in results]
    verified = [
        d["uid"] for o, _ in results for d in json.loads(o)["devices"] if d["status"] == "verified"
    ]
    assert sorted(verified) == sorted(uids)  # each device exactly once across both stations
    with Registry.open(reg, create=False) as registry:
        assert len(registry.devices("verified")) == 16 and registry.verify_chain().ok
        assert {d.station for d in registry.devices()} <= {"east", "west"}
    for s in ("east", "west"):
        manifest = tmp_path / s / "manifest.csv"
        rows = list(csv.DictReader(manifest.open())) if manifest.exists() else []
        assert all(r["uid"] in verified for r in rows)


class _FlakyProgrammer:
    """The file programmer, except that the external-flash write of one device dies midway
    (the probe disappeared): that device must be recorded failed and the line go on."""

    def __init__(self, inner, bad_uid: bytes) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.bad = inner, bad_uid
        self.name, self.station_assigns_uid = inner.name, inner.station_assigns_uid

    def connect(self, uid):  # type: ignore[no-untyped-def]
        target = self.inner.connect(uid)
        if uid == self.bad:

            def broken(offset: int, data: bytes) -> None:
                raise ProgrammerError(
                    f"probe disconnected while programming {target.label} at {offset + 4096:#x}"
                )

            target.program_external = broken
        return target

    def close(self) -> None:
        self.inner.close()


def test_a_failed_device_is_recorded_and_the_line_goes_on(batch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _ = batch
    ks = SecretKeystore(MASTER)
    b = load_batch(out, ks)
    prog = _FlakyProgrammer(
        open_programmer(
            "file", out_dir=tmp_path / "line", flash=FLASH, mcu=M4, flash_offset=b.flash_offset
        ),
        serial_uid(2),
    )
    with Registry.open(tmp_path / "reg.sqlite") as reg:
        summary = Station(b, prog, reg, ks, station="s1").run(3)
        states = {d.uid: (d.state, d.reason) for d in reg.devices()}
    assert [o.status for o in summary.outcomes] == ["verified", "failed", "verified", "verified"]
    assert states[serial_uid(2).hex()][0] == "failed"
    assert "probe disconnected" in (states[serial_uid(2).hex()][1] or "")
    # the next run, with the probe back, takes the failed device first
    good = open_programmer(
        "file", out_dir=tmp_path / "line", flash=FLASH, mcu=M4, flash_offset=b.flash_offset
    )
    with Registry.open(tmp_path / "reg.sqlite") as reg:
        again = Station(b, good, reg, ks, station="s1").run(4)
        assert [(o.uid, o.status) for o in again.outcomes] == [(serial_uid(2).hex(), "verified")]
        assert [d.state for d in reg.devices()] == ["verified"] * 4
        assert reg.get(serial_uid(2)).attempts == 2  # type: ignore[union-attr]


def test_bad_inputs_are_one_line_errors(batch, master: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _ = batch
    reg = tmp_path / "reg.sqlite"
    loose = tmp_path / "loose.key"
    loose.write_bytes(master.read_bytes())
    loose.chmod(0o644)
    damaged = tmp_path / "damaged"
    subprocess.run(["cp", "-r", str(out), str(damaged)], check=True)
    image = bytearray((damaged / "image" / "image.bin").read_bytes())
    info = BuildDir.open(damaged).info
    first = json.loads((damaged / "image" / "manifest.json").read_text())["chunks"][0]
    image[first["flash_offset"] + 5] ^= 1  # one bit of the first weight chunk
    (damaged / "image" / "image.bin").write_bytes(bytes(image))
    other = tmp_path / "other.key"
    SecretKeystore(bytes(16)).write(other)
    cases = [
        (loose, out, "accessible to group or others"),
        (other, out, "different master key"),
        (master, damaged, "fails"),
        (master, tmp_path, "not an ooc build directory"),
    ]
    for key, image_dir, message in cases:
        r = _run(
            image_dir, master if key is master else key, reg, tmp_path / "line", "--count", "1"
        )
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and message in lines[0], (message, r.stderr)
        assert "Traceback" not in r.stderr
    assert info.device is None
    assert not reg.exists() or Registry.open(reg, create=False).devices() == []


def _edit_json(name: str, edit):  # type: ignore[no-untyped-def]
    def apply(d: Path) -> None:
        data = json.loads((d / name).read_text())
        edit(data)
        (d / name).write_text(json.dumps(data))

    return apply


def _set(*path_and_value: object):  # type: ignore[no-untyped-def]
    *path, value = path_and_value

    def edit(data: dict) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return edit


# A build directory edited or damaged after `ooc build`: (what is done to it, the one line).
# The values the station uses come from the image's authenticated header; build.json and
# plan.json are advisory, so any copy of theirs that disagrees is refused by name.
_DAMAGED = {
    "edited flash_offset": (
        _edit_json("build.json", _set("flash_offset", 0x10000)),
        "build.json: flash_offset is 65536, but the image's authenticated header says 0",
    ),
    "edited security_counter": (
        _edit_json("build.json", _set("security_counter", 9)),
        "build.json: security_counter is 9, but the image's authenticated header says 0",
    ),
    "edited page size": (
        _edit_json("build.json", _set("flash", "page_bytes", 512)),
        "build.json: flash.page_bytes is 512",
    ),
    "edited plan flash profile": (
        _edit_json("plan.json", _set("request", "flash", "sector_bytes", 65536)),
        "plan.json: request.flash.sector_bytes is 65536",
    ),
    "removed key": (
        _edit_json("build.json", lambda d: d.pop("flash_offset")),
        "build.json is damaged or foreign: it lacks 'flash_offset'",
    ),
    "truncated build.json": (
        lambda d: (d / "build.json").write_bytes((d / "build.json").read_bytes()[:300]),
        "build.json is damaged: not valid JSON",
    ),
    "deleted image file": (
        lambda d: (d / "image" / "image.bin").unlink(),
        "image.bin does not exist",
    ),
    "truncated image file": (
        lambda d: (d / "image" / "image.bin").write_bytes(
            (d / "image" / "image.bin").read_bytes()[:5000]
        ),
        "image is truncated",
    ),
    "image file with bytes appended": (
        lambda d: (d / "image" / "image.bin").write_bytes(
            (d / "image" / "image.bin").read_bytes() + b"\0" * 16
        ),
        "its superblock says",
    ),
    "deleted plan.json": (lambda d: (d / "plan.json").unlink(), "lacks plan.json"),
    "deleted batch key": (
        lambda d: (d / BATCH_KEY_FILE).unlink(),
        "batch key file",
    ),
}


@pytest.mark.parametrize("case", sorted(_DAMAGED))
def test_a_damaged_or_edited_build_directory_is_refused_in_one_line(
    batch, master: Path, tmp_path: Path, case: str
) -> None:  # type: ignore[no-untyped-def]
    out, _ = batch
    damage, message = _DAMAGED[case]
    bad = tmp_path / "build"
    subprocess.run(["cp", "-r", str(out), str(bad)], check=True)
    damage(bad)
    reg, line = tmp_path / "reg.sqlite", tmp_path / "line"
    r = _run(bad, master, reg, line, "--count", "1", "--station", "s1")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not line.exists() or not any(line.rglob("*.bin"))  # nothing programmed
    assert not reg.exists() or Registry.open(reg, create=False).devices() == []


def test_a_device_is_verified_only_when_its_image_mounts_under_its_key(
    batch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The verify step mounts what it reads back, as the device will: at the offset it sits,
    with every chunk. A batch whose offset or chunk is wrong (bypassing load_batch's checks)
    reads back equal, and is still recorded failed, not verified."""
    out, _ = batch
    ks = SecretKeystore(MASTER)
    b = load_batch(out, ks)
    assert b.flash_offset == 0 and b.security_counter == 0  # the image's superblock and manifest
    image = bytearray(b.image)
    first = json.loads((out / "image" / "manifest.json").read_text())["chunks"][0]
    image[first["flash_offset"] + 5] ^= 1
    cases = {
        "moved": (dataclasses.replace(b, flash_offset=0x10000), "was built for offset 0x0"),
        "chunk": (dataclasses.replace(b, image=bytes(image)), "does not mount: chunk 0"),
    }
    for name, (bad, reason) in cases.items():
        prog = open_programmer(
            "file", out_dir=tmp_path / name, flash=FLASH, mcu=M4, flash_offset=bad.flash_offset
        )
        with Registry.open(tmp_path / f"{name}.sqlite") as reg:
            summary = Station(bad, prog, reg, ks, station="s1").run(1, [serial_uid(1)])
            (device,) = reg.devices()
        assert [o.status for o in summary.outcomes] == ["failed"], name
        assert device.state == "failed" and reason in (device.reason or ""), device.reason


def test_three_qemu_devices_each_run_bit_exact_under_their_own_key(
    batch, master: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out, graph = batch
    reg, line = tmp_path / "reg.sqlite", tmp_path / "line"
    r = _ooc(
        "provision", "run", "--image", str(out), "--programmer", "qemu", "--master-key",
        str(master), "--registry", str(reg), "--out", str(line), "--count", "3",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    with Registry.open(reg, create=False) as registry:
        uids = [bytes.fromhex(d.uid) for d in registry.devices("verified")]
        assert registry.verify_chain().ok
    assert len(uids) == 3
    ks = SecretKeystore(MASTER)
    x = random_inputs(graph, 3)
    ref = run_tflm(shared_model(MODEL), x)
    dirs = [qemu_device_dir(line, uid) for uid in uids]
    for uid, d in zip(uids, dirs, strict=True):
        key = ks.device_key(uid)
        assert (d / "keystore.bin").read_bytes()[8:24] == uid
        got = run_build_m4(
            out, graph, key, [x], flash_file=d / "flash.bin", keystore=d / "keystore.bin"
        )
        for a, b in zip(got.outputs[0], ref.outputs, strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    # device A's external flash on device B: refused at mount, nothing computed
    a, b = dirs[0], dirs[1]
    with pytest.raises(WrongDeviceError, match="refused at mount"):
        run_build_m4(
            out, graph, ks.device_key(uids[1]), [x], flash_file=a / "flash.bin",
            keystore=b / "keystore.bin",
        )  # fmt: skip
    # an attacker relabels A's key slot with B's UID and B's (public) key id, both read from B's
    # flash: the slot then fails its RFC 3394 integrity check under B's key-encryption key
    forged = bytearray((a / "flash.bin").read_bytes())
    b_flash = (b / "flash.bin").read_bytes()
    for field in ("device_uid", "key_id"):
        at = fmt.KEY_SLOT_OFFSET + fmt.KEY_SLOT.offsets[field]
        size = fmt.UID_BYTES if field == "device_uid" else fmt.KEY_ID_BYTES
        forged[at : at + size] = b_flash[at : at + size]
    (tmp_path / "forged.bin").write_bytes(bytes(forged))
    with pytest.raises(AuthenticationError, match="refused at mount"):
        run_build_m4(
            out, graph, ks.device_key(uids[1]), [x], flash_file=tmp_path / "forged.bin",
            keystore=b / "keystore.bin",
        )  # fmt: skip


def test_a_full_registry_disk_stops_the_line_and_loses_nothing(batch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _ = batch
    ks = SecretKeystore(MASTER)
    b = load_batch(out, ks)
    line, path = tmp_path / "line", tmp_path / "reg.sqlite"

    def station(reg: Registry) -> Station:
        prog = open_programmer(
            "file", out_dir=line, flash=FLASH, mcu=M4, flash_offset=b.flash_offset
        )
        return Station(b, prog, reg, ks, station="s1")

    with Registry.open(path) as reg:
        assert [o.status for o in station(reg).run(1).outcomes] == ["verified"]
        conn = reg._conn  # SQLite's size cap: the next growth of the file fails with SQLITE_FULL
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(RegistryError, match="disk is full") as err:
            station(reg).run(400)
        assert "\n" not in str(err.value)
        stuck = [d for d in reg.devices() if d.state != "verified"]
        assert len(stuck) <= 1 and all(d.state in ("pending", "programmed") for d in stuck)
        n_before = len(reg.devices())
    with Registry.open(path) as reg:  # space again: the same run finishes, nothing lost
        assert len(reg.devices()) == n_before and reg.verify_chain().ok
        summary = station(reg).run(n_before + 1)
        assert all(o.status == "verified" for o in summary.outcomes)
        assert [d.state for d in reg.devices()] == ["verified"] * (n_before + 1)
        assert reg.verify_chain().ok
    _check_file_devices(out, path, line, n_before + 1)
