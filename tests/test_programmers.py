"""The station's programmers (ooc_sdk/provisioning/programmers): the file and qemu outputs, and
the pyocd path driven through pyocd's own FlashLoader / FileProgrammer / FlashBuilder against a
fake NOR flash (no hardware)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from intelhex import IntelHex
from pyocd.core import exceptions as px
from pyocd.core.memory_map import FlashRegion, MemoryMap, RamRegion
from pyocd.core.session import Session
from pyocd.flash.flash import Flash

from ooc_sdk import fileio
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.build.flash import build_flash_tool
from ooc_sdk.errors import InvalidArgumentError, WrongDeviceError
from ooc_sdk.formats.keystore import KEYSTORE_BYTES, keystore_record
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.provisioning.programmers import (
    ProgrammerError,
    PyocdProgrammer,
    open_programmer,
    qemu_device_dir,
    qemu_run_files,
    read_uids_file,
    serial_uid,
)
from ooc_sdk.provisioning.programmers.pyocd_probe import open_pyocd_session
from ooc_sdk.run.qemu import run_build_m4
from ooc_sdk.targets import load_flash, load_mcu

sys.path.insert(0, str(Path(__file__).parent))
from conftest import shared_model

FLASH = load_flash("w25q128jv")
MCU = load_mcu("cortex-m4")  # STM32L432KC: UID 0x1FFF7590, key storage 0x0803F800
OFFSET = 0x3000
IMAGE = hashlib.shake_256(b"ooc image").digest(9000) + b"\xff" * 700 + b"tail"
UID = serial_uid(7)


def _record(uid: bytes, key: bytes = bytes(range(32)), counter: int = 3) -> bytes:
    return keystore_record(uid, key, counter)


def _open(name: str, out: Path, dry_run: bool = False, **kw: Any) -> Any:
    return open_programmer(
        name, out_dir=out, flash=FLASH, mcu=MCU, flash_offset=OFFSET, dry_run=dry_run, **kw
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- UIDs ------------------------------------------------------------------------------------


def test_serial_uid_layout() -> None:
    assert serial_uid(1) == b"OOC\0" + bytes(4) + (1).to_bytes(8, "big")
    uids = {serial_uid(n) for n in range(1000)}
    assert len(uids) == 1000 and all(len(u) == 16 for u in uids)
    assert serial_uid(2**64 - 1)[-8:] == b"\xff" * 8
    # a zero-padded 96-bit hardware UID never looks like a generated one
    assert not (b"\x12" * 12).rjust(16, b"\0").startswith(b"OOC")
    for bad in (-1, 2**64):
        with pytest.raises(InvalidArgumentError, match="serial number"):
            serial_uid(bad)


def test_read_uids_file(tmp_path: Path) -> None:
    path = tmp_path / "uids.txt"
    path.write_text(
        "# line's devices\n"
        "\n"
        "00112233445566778899aabbccddeeff\n"
        "  0x1234  # a short one, zero-padded on the left\n"
        "de:ad:be:ef:00:01:02:03:04:05:06:07\n"
        "abc\n"
    )
    assert read_uids_file(path) == [
        bytes.fromhex("00112233445566778899aabbccddeeff"),
        bytes(14) + b"\x12\x34",
        bytes(4) + bytes.fromhex("deadbeef0001020304050607"),
        bytes(14) + b"\x0a\xbc",
    ]
    cases = {
        "0011\nxyz\n": r"uids.txt:2: 'xyz' is not hex",
        "# c\n" + "00" * 17 + "\n": r"uids.txt:2: a UID is 1 to 16 bytes",
        "01\n\n0x0001\n": r"uids.txt:3: UID 0+1 repeats line 1",
        "# nothing\n\n": "holds no UIDs",
    }
    for text, match in cases.items():
        path.write_text(text)
        with pytest.raises(InvalidArgumentError, match=match):
            read_uids_file(path)
    with pytest.raises(InvalidArgumentError, match=r"UID list .*missing\.txt does not exist"):
        read_uids_file(tmp_path / "missing.txt")
    with pytest.raises(InvalidArgumentError, match="UID list /dev/zero is not a regular file"):
        read_uids_file(Path("/dev/zero"))


def test_open_programmer_checks(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown programmer 'jtag'"):
        _open("jtag", tmp_path)
    with pytest.raises(InvalidArgumentError, match="`probe` applies to the pyocd programmer"):
        _open("file", tmp_path, probe="0669")
    with pytest.raises(InvalidArgumentError, match="multiple of"):
        open_programmer("file", out_dir=tmp_path, flash=FLASH, mcu=MCU, flash_offset=0x100)
    bare = load_mcu("cortex-m4")
    bare = dataclasses.replace(bare, pyocd_target="", uid_address=None, key_storage_bytes=0)
    with pytest.raises(ProgrammerError) as err:
        open_programmer("pyocd", out_dir=tmp_path, flash=FLASH, mcu=bare, flash_offset=0)
    msg = str(err.value)
    assert "\n" not in msg and "Adding a board" in msg
    assert "pyocd_target, uid_address, key_storage_bytes" in msg
    for name in ("file", "qemu"):
        with pytest.raises(ProgrammerError, match="needs the UID from the station"):
            _open(name, tmp_path).connect(None)


def test_mcu_profile_addresses(tmp_path: Path) -> None:
    assert (MCU.uid_address, MCU.uid_bytes) == (0x1FFF7590, 12)
    assert (MCU.key_storage_address, MCU.key_storage_bytes) == (0x0803F800, 2048)
    path = tmp_path / "board.json"
    path.write_text(json.dumps({"base": "cortex-m4", "uid_address": "0x1FFF7A10"}))
    assert load_mcu(str(path)).uid_address == 0x1FFF7A10
    path.write_text(json.dumps({"base": "cortex-m4", "uid_address": "0xZZ"}))
    with pytest.raises(InvalidArgumentError, match="uid_address '0xZZ' is not a number"):
        load_mcu(str(path))
    assert load_mcu("cortex-m7").pyocd_target == "stm32h743xx"


# -- file ------------------------------------------------------------------------------------


def _manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_file_programmer_writes_device_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prog = _open("file", out)
    assert prog.name == "file" and prog.station_assigns_uid
    t = prog.connect(UID)
    assert t.read_uid() == UID and t.label == f"devices/{UID.hex()}"
    record = _record(UID)
    t.program_external(OFFSET, IMAGE)
    t.program_keystore(record)
    d = out / "devices" / UID.hex()
    assert (d / "external.bin").read_bytes() == IMAGE
    ih = IntelHex(str(d / "external.hex"))
    assert (ih.minaddr(), ih.maxaddr()) == (OFFSET, OFFSET + len(IMAGE) - 1)
    assert ih.tobinstr(start=OFFSET, size=len(IMAGE)) == IMAGE
    assert (d / "keystore.bin").read_bytes() == record
    kh = IntelHex(str(d / "keystore.hex"))
    assert kh.minaddr() == MCU.key_storage_address and kh.tobinstr() == record
    assert _mode(d / "keystore.bin") == 0o600 and _mode(d / "keystore.hex") == 0o600
    assert t.read_external(OFFSET, len(IMAGE)) == IMAGE
    assert t.read_external(OFFSET - 16, 32) == b"\xff" * 16 + IMAGE[:16]  # never written
    assert t.read_keystore() == record
    art = t.artefacts()
    assert art["external.bin"] == str(d / "external.bin") and "manifest" in art
    assert not any(record.hex() in v for v in art.values())
    (row,) = _manifest(out)
    assert row["uid"] == UID.hex() and row["external_sha256"] == hashlib.sha256(IMAGE).hexdigest()
    assert row["external_offset"] == str(OFFSET) and row["external_bytes"] == str(len(IMAGE))
    assert row["files"].split(";") == [
        f"devices/{UID.hex()}/{n}"
        for n in ("external.bin", "external.hex", "keystore.bin", "keystore.hex")
    ]
    assert row["created_utc"].endswith("Z")

    # a second device adds a row; the first written again replaces its own
    other = serial_uid(8)
    t2 = prog.connect(other)
    t2.program_external(OFFSET, IMAGE[:100])
    t2.program_keystore(_record(other))
    t.program_external(OFFSET, IMAGE[:5000])  # afresh from the flash offset
    assert (d / "external.bin").read_bytes() == IMAGE[:5000]
    t.program_external(OFFSET + 6000, b"more")  # further on: placed, the gap erased
    assert (d / "external.bin").read_bytes() == IMAGE[:5000] + b"\xff" * 1000 + b"more"
    rows = {r["uid"]: r for r in _manifest(out)}
    assert set(rows) == {UID.hex(), other.hex()}
    assert rows[other.hex()]["external_sha256"] == hashlib.sha256(IMAGE[:100]).hexdigest()
    assert rows[UID.hex()]["external_bytes"] == "6004"
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_file_programmer_refuses_and_never_tears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = _open("file", tmp_path).connect(UID)
    with pytest.raises(ProgrammerError, match=r"record is for device .*, not "):
        t.program_keystore(_record(serial_uid(9)))
    with pytest.raises(ProgrammerError, match="not a key storage record"):
        t.program_keystore(b"OOCK" + bytes(10))
    with pytest.raises(ProgrammerError, match="below the image's flash offset"):
        t.program_external(0, b"x")
    with pytest.raises(ProgrammerError, match="do not fit the w25q128jv"):
        t.program_external(FLASH.size_bytes - 4, b"12345")
    assert not (tmp_path / "devices").exists()
    t.program_external(OFFSET, IMAGE)
    before = (tmp_path / "manifest.csv").read_bytes()

    def no_space(*_a: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", no_space)
    with pytest.raises(ProgrammerError, match="No space left on device") as err:
        t.program_external(OFFSET, IMAGE[:10])
    assert "\n" not in str(err.value)
    monkeypatch.undo()
    # the old files stand whole, and no temporary is left behind
    assert (tmp_path / "devices" / UID.hex() / "external.bin").read_bytes() == IMAGE
    assert (tmp_path / "manifest.csv").read_bytes() == before
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", ["file", "qemu"])
def test_dry_run_writes_nothing(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    t = _open(name, out, dry_run=True).connect(UID)
    record = _record(UID)
    assert t.read_uid() == UID
    t.program_external(OFFSET, IMAGE)
    t.program_keystore(record)
    assert not out.exists()
    art = t.artefacts()
    assert art["dry_run"] == "true"
    digest = hashlib.sha256(IMAGE).hexdigest()
    assert (
        art["would_program_external"] == f"offset {OFFSET:#x}, {len(IMAGE)} bytes, sha256 {digest}"
    )
    assert art["would_program_keystore"].endswith(hashlib.sha256(record).hexdigest())
    assert t.read_external(OFFSET - 4, len(IMAGE) + 8) == b"\xff" * 4 + IMAGE + b"\xff" * 4
    assert t.read_keystore() == record


# -- qemu ------------------------------------------------------------------------------------


def test_qemu_programmer_writes_an_emulated_chip(tmp_path: Path) -> None:
    prog = _open("qemu", tmp_path)
    assert prog.station_assigns_uid
    t = prog.connect(UID)
    record = _record(UID)
    t.program_external(OFFSET, IMAGE)
    t.program_keystore(record)
    d = qemu_device_dir(tmp_path, UID)
    assert d == tmp_path / "qemu" / UID.hex() and t.label == f"qemu device {UID.hex()}"
    chip = (d / "flash.bin").read_bytes()
    assert len(chip) == FLASH.size_bytes
    assert chip[OFFSET : OFFSET + len(IMAGE)] == IMAGE
    assert chip[:OFFSET] == b"\xff" * OFFSET and set(chip[OFFSET + len(IMAGE) :]) == {0xFF}
    assert (d / "keystore.bin").read_bytes() == record and _mode(d / "keystore.bin") == 0o600
    assert qemu_run_files(tmp_path, UID) == {
        "flash.bin": d / "flash.bin",
        "keystore.bin": d / "keystore.bin",
    }
    assert t.read_external(OFFSET, len(IMAGE)) == IMAGE and t.read_keystore() == record
    sectors = -(-len(IMAGE) // FLASH.sector_bytes)
    art = t.artefacts()
    assert set(art) >= {"flash.bin", "flash.bin.wear", "keystore.bin"}
    assert art["flash_write"].startswith(f"{sectors} sectors erased")
    # provisioning again goes through the NOR emulator once more: erase counts add up
    prog.connect(UID).program_external(OFFSET, IMAGE)
    stats = subprocess.run(
        [str(build_flash_tool()), "stats", str(d / "flash.bin"), "--size", str(FLASH.size_bytes),
         "--page", str(FLASH.page_bytes), "--sector", str(FLASH.sector_bytes)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    first = OFFSET // FLASH.sector_bytes
    wear = json.loads(stats.stdout)["erased_sectors"]
    assert wear == [[first + i, 2] for i in range(sectors)]
    with pytest.raises(ProgrammerError, match="not a multiple of the 4096-byte sector"):
        t.program_external(OFFSET + 256, b"x")
    with pytest.raises(ProgrammerError, match="not a key storage record"):
        t.program_keystore(record[:-1])


# -- pyocd: pyocd's flash code against a fake NOR --------------------------------------------

UID12 = bytes.fromhex("350030001851353137383432")  # as read from an STM32L432's UID registers
PROBE_ID = "0669FF555052836687043650"
EXT = MCU.external_flash_address or 0


class NorFlash(Flash):
    """A NOR flash behind pyocd's Flash API, with no algorithm running on a core: programming
    only clears bits (AND), a sector erase sets its bytes to 0xFF, and erases are counted. It
    starts out holding a pattern (a used chip), so nothing lands right without an erase."""

    def __init__(self, target: Any, size: int) -> None:
        super().__init__(target, None)
        self.cells = bytearray(bytes(range(256)) * (size // 256))
        self.erases: Counter[int] = Counter()
        self.pages_programmed = 0
        self.fail_at_page: int | None = None
        self.failure: Exception | None = None

    # the algorithm calls of a real Flash, done here in Python
    def init(
        self, operation: Any, address: Any = None, clock: int = 0, reset: bool = False
    ) -> None:
        self._active_operation = operation

    def uninit(self) -> None:
        self._active_operation = None

    def cleanup(self) -> None:
        self.uninit()

    @property
    def is_erase_all_supported(self) -> bool:
        return False

    def erase_sector(self, address: int) -> None:
        assert self._active_operation == Flash.Operation.ERASE
        size = self.region.sector_size
        assert address % size == 0
        at = address - self.region.start
        self.cells[at : at + size] = b"\xff" * size
        self.erases[address] += 1

    def program_page(self, address: int, data: Any) -> None:
        assert self._active_operation == Flash.Operation.PROGRAM
        assert address % self.region.page_size == 0 and len(data) <= self.region.page_size
        if self.fail_at_page is not None and self.pages_programmed == self.fail_at_page:
            assert self.failure is not None
            raise self.failure
        at = address - self.region.start
        for i, b in enumerate(data):
            self.cells[at + i] &= b
        self.pages_programmed += 1


class FakeTarget:
    """An STM32L432-like target as far as pyocd's flash code and the programmer see it: a
    memory map (internal flash, a QUADSPI flash region with an algorithm, SRAM), memory reads,
    the UID registers, reset."""

    def __init__(self, session: Session, uid: bytes, external: bool = True) -> None:
        self.session = session
        self.selected_core = SimpleNamespace(node_name="core0")
        self.debug_sequence_delegate = None
        regions = [
            FlashRegion(name="flash", start=0x08000000, length=0x40000, sector_size=0x800,
                        page_size=0x400, is_boot_memory=True),
            RamRegion(name="sram1", start=0x20000000, length=0xC000),
        ]  # fmt: skip
        if external:
            regions.append(
                FlashRegion(name="qspi", start=EXT, length=FLASH.size_bytes,
                            sector_size=FLASH.sector_bytes, page_size=FLASH.page_bytes,
                            is_external=True)
            )  # fmt: skip
        self.memory_map = MemoryMap(*regions)
        for region in self.memory_map:
            if region.is_flash:
                region.flash = NorFlash(self, region.length)
                region.flash.region = region
        self.uid = uid
        self.resets = 0

    def flash_at(self, addr: int) -> NorFlash:
        return self.memory_map.get_region_for_address(addr).flash

    def read_memory_block8(self, addr: int, size: int) -> list[int]:
        region = self.memory_map.get_region_for_address(addr)
        if region is not None and region.is_flash:
            at = addr - region.start
            return list(region.flash.cells[at : at + size])
        if addr == MCU.uid_address and size <= len(self.uid):
            return list(self.uid[:size])
        raise px.TransferFaultError("fault reading memory", fault_address=addr)

    def reset(self) -> None:
        self.resets += 1


class FakeSession(Session):
    """A real pyocd Session (its options, notifications, context state) without a probe; its
    board holds the fake target."""

    def __init__(self, options: dict[str, Any], uid: bytes = UID12, external: bool = True) -> None:
        super().__init__(None, options=options, no_config=True)
        self._fake_probe = SimpleNamespace(unique_id=PROBE_ID)
        self._fake_board = SimpleNamespace(target=FakeTarget(self, uid, external))
        self.closed = False

    @property
    def board(self) -> Any:
        return self._fake_board

    @property
    def probe(self) -> Any:
        return self._fake_probe

    def close(self) -> None:
        self.closed = True


def _pyocd(dry_run: bool = False, mcu: Any = MCU, **session_kw: Any) -> tuple[Any, list[Any]]:
    sessions: list[FakeSession] = []

    def factory(probe: str | None, target: str, options: dict[str, Any]) -> FakeSession:
        assert (probe, target) == (PROBE_ID[:8], "stm32l432kc")
        assert options["hide_programming_progress"] is True
        sessions.append(FakeSession(options, **session_kw))
        return sessions[-1]

    prog = PyocdProgrammer(
        mcu=mcu, flash=FLASH, flash_offset=OFFSET, probe=PROBE_ID[:8], dry_run=dry_run,
        session_factory=factory,
    )  # fmt: skip
    return prog, sessions


def test_pyocd_programs_through_pyocd_flash_code() -> None:
    prog, sessions = _pyocd()
    assert prog.name == "pyocd" and not prog.station_assigns_uid
    with pytest.raises(ProgrammerError, match="reads each device's UID from the chip"):
        prog.connect(UID)
    t = prog.connect(None)
    fake = sessions[0].target
    uid = t.read_uid()
    assert uid == bytes(4) + UID12 and t.label == f"probe {PROBE_ID}"
    record = _record(uid)
    ext, key = fake.flash_at(EXT), fake.flash_at(0x08000000)
    ext_before, key_before = bytes(ext.cells), bytes(key.cells)

    t.program_external(OFFSET, IMAGE)
    t.program_keystore(record)

    # the image landed at the external flash's offset, with NOR semantics
    end = OFFSET + len(IMAGE)
    sector_end = -(-end // FLASH.sector_bytes) * FLASH.sector_bytes
    assert bytes(ext.cells[OFFSET:end]) == IMAGE
    assert set(ext.cells[end:sector_end]) == {0xFF}  # the rest of the last sector: erased
    assert ext.cells[:OFFSET] == ext_before[:OFFSET]  # outside the sectors written: untouched
    assert ext.cells[sector_end:] == ext_before[sector_end:]
    assert sorted(ext.erases) == list(range(EXT + OFFSET, EXT + sector_end, FLASH.sector_bytes))
    assert set(ext.erases.values()) == {1}
    # the key storage record landed at its address in the internal flash, one page erased
    ks = MCU.key_storage_address - 0x08000000
    assert bytes(key.cells[ks : ks + len(record)]) == record
    assert dict(key.erases) == {MCU.key_storage_address: 1}
    assert key.cells[:ks] == key_before[:ks]
    assert t.read_external(OFFSET, len(IMAGE)) == IMAGE
    assert t.read_keystore() == record
    art = t.artefacts()
    assert art["probe"] == PROBE_ID and art["key_storage_address"] == "0x803f800"
    assert art["external_flash_address"] == "0x90000000"

    # programming the same bytes again: pyocd's smart flash finds them in place
    t.program_external(OFFSET, IMAGE)
    assert set(ext.erases.values()) == {1}
    prog.close()
    assert fake.resets == 1 and sessions[0].closed


@pytest.mark.parametrize(
    "failure",
    [
        px.ProbeDisconnected("USB device vanished"),
        px.TransferFaultError("SWD fault"),
        px.FlashProgramFailure("program page failure", address=0x90003400, result_code=1),
    ],
)
def test_pyocd_failure_mid_write_is_one_line(failure: Exception) -> None:
    prog, sessions = _pyocd()
    t = prog.connect(None)
    ext = sessions[0].target.flash_at(EXT)
    ext.fail_at_page, ext.failure = 5, failure
    with pytest.raises(ProgrammerError) as err:
        t.program_external(OFFSET, IMAGE)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"probe {PROBE_ID}")
    if isinstance(failure, px.FlashFailure):
        assert "failed at 0x90003400" in msg and "re-run" in msg
    else:
        what = (
            "disconnected" if isinstance(failure, px.ProbeDisconnected) else "lost the connection"
        )
        assert f"{what} while programming the external flash at {EXT + OFFSET:#x}" in msg
        assert "reconnect and re-run" in msg
    assert ext.pages_programmed == 5
    t.close()  # never raises, even with the probe gone
    assert sessions[0].closed


def test_pyocd_dry_run_reads_the_uid_only() -> None:
    prog, sessions = _pyocd(dry_run=True)
    t = prog.connect(None)
    fake = sessions[0].target
    before = {a: bytes(fake.flash_at(a).cells) for a in (EXT, 0x08000000)}
    record = _record(t.read_uid())
    t.program_external(OFFSET, IMAGE)
    t.program_keystore(record)
    assert {a: bytes(fake.flash_at(a).cells) for a in before} == before
    art = t.artefacts()
    assert art["dry_run"] == "true" and art["probe"] == PROBE_ID
    assert art["would_program_external"].startswith(f"offset {OFFSET:#x}, {len(IMAGE)} bytes")
    assert art["would_program_keystore"].startswith(
        f"offset {MCU.key_storage_address:#x}, {KEYSTORE_BYTES}"
    )
    assert t.read_external(OFFSET, len(IMAGE)) == IMAGE and t.read_keystore() == record
    t.close()
    assert fake.resets == 0 and sessions[0].closed


def test_pyocd_without_an_external_flash_algorithm() -> None:
    prog, _ = _pyocd(external=False)
    t = prog.connect(None)
    with pytest.raises(ProgrammerError) as err:
        t.program_external(OFFSET, IMAGE)
    msg = str(err.value)
    assert "\n" not in msg and "no flash algorithm for the external flash at 0x90003000" in msg
    assert "--programmer file" in msg
    t.program_keystore(_record(t.read_uid()))  # the keys alone still go through the probe
    no_ext = dataclasses.replace(MCU, external_flash_address=None)
    prog, _ = _pyocd(mcu=no_ext)
    with pytest.raises(ProgrammerError, match=r"no external_flash_address.*--programmer file"):
        prog.connect(None).program_external(OFFSET, IMAGE)


def test_pyocd_refusals() -> None:
    prog, sessions = _pyocd(uid=b"\xff" * 12)
    with pytest.raises(ProgrammerError, match="UID at 0x1fff7590 reads as all 0xff"):
        prog.connect(None).read_uid()
    prog, sessions = _pyocd()
    t = prog.connect(None)
    with pytest.raises(ProgrammerError, match="record is for device"):
        t.program_keystore(_record(UID))
    assert not sessions[0].target.flash_at(0x08000000).erases
    bad_ks = dataclasses.replace(MCU, key_storage_address=0x20000000)
    prog, _ = _pyocd(mcu=bad_ks)
    t = prog.connect(None)
    with pytest.raises(ProgrammerError, match="no programmable flash at the key storage address"):
        t.program_keystore(_record(t.read_uid()))


def test_pyocd_probe_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyocd.core.helpers import ConnectHelper

    found: list[Any] = []
    monkeypatch.setattr(
        ConnectHelper, "get_all_connected_probes", staticmethod(lambda **_kw: list(found))
    )
    with pytest.raises(ProgrammerError, match="no debug probe matching '0669' is connected"):
        open_pyocd_session("0669", "stm32l432kc", {})
    found.extend(SimpleNamespace(unique_id=u) for u in ("0669AA", "0669BB"))
    with pytest.raises(ProgrammerError, match=r"2 debug probes .*\(0669AA, 0669BB\).*--probe ID"):
        open_pyocd_session("0669", "stm32l432kc", {})


def test_qemu_firmware_boots_as_the_programmed_device(tmp_path: Path) -> None:
    """The qemu programmer's files are what the QEMU port reads: a build's image programmed
    into a device directory runs as that device, and another device's key storage is refused."""
    path = shared_model("hello_world_int8.tflite")
    graph = load_model(path)
    device = DeviceKey(UID, hashlib.sha256(b"root key").digest())
    out = tmp_path / "build"
    build(
        graph,
        path.read_bytes(),
        out,
        device,
        BuildRequest(PlanRequest(budget=None, flash=FLASH, mcu=MCU), flash_offset=OFFSET),
    )
    image = (out / "image" / "image.bin").read_bytes()
    t = _open("qemu", tmp_path / "station").connect(UID)
    t.program_external(OFFSET, image)
    t.program_keystore(keystore_record(device.uid, device.root_key))
    files = qemu_run_files(tmp_path / "station", UID)
    x = random_inputs(graph, 0)
    got = run_build_m4(
        out, graph, device, [x], flash_file=files["flash.bin"], keystore=files["keystore.bin"]
    )
    ref = run_build_m4(out, graph, device, [x])
    for a, b in zip(got.outputs[0], ref.outputs[0], strict=True):
        assert a.tobytes() == b.tobytes()
    other = serial_uid(99)
    t2 = _open("qemu", tmp_path / "station").connect(other)
    t2.program_keystore(keystore_record(other, device.root_key))
    with pytest.raises(WrongDeviceError):
        run_build_m4(
            out, graph, device, [x], flash_file=files["flash.bin"],
            keystore=qemu_run_files(tmp_path / "station", other)["keystore.bin"],
        )  # fmt: skip
