"""The host NOR flash emulator (c_runtime/ports/host/ooc_nor_emu.c): its C unit tests under ASan
and UBSan, and the flash tool over it (ooc_flash_tool.c) programming real packed images."""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from conftest import ROOT, shared_model
from ooc_sdk.image import keys
from ooc_sdk.image.pack import PackOptions, pack_image
from ooc_sdk.model import load_model
from ooc_sdk.targets import FlashProfile, load_flash
from ooc_sdk.toolchain import SANITIZE, WARNINGS

HOST = ROOT / "c_runtime" / "ports" / "host"
EMU = HOST / "ooc_nor_emu.c"
TOOL = HOST / "ooc_flash_tool.c"
UNIT = ROOT / "tests" / "c" / "test_nor_emu.c"
FLASH = load_flash("w25q128jv")
OFFSET = 1 << 20  # where the image goes: sector-aligned, not at 0
POWER_LOSS = -15  # OOC_NOR_ERR_POWER_LOSS
WEAR_HEADER = 88  # sidecar: header bytes before the erase counts


def _build(sources: list[Path], out: Path) -> Path:
    cmd = [
        "cc",
        *WARNINGS,
        *SANITIZE,
        f"-I{ROOT / 'c_runtime' / 'include'}",
        f"-I{HOST}",
        *map(str, sources),
        "-lm",
        "-o",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return out


def _clean(stderr: str) -> None:
    assert "runtime error" not in stderr and "Sanitizer" not in stderr, stderr


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build([TOOL, EMU], tmp_path_factory.mktemp("tool") / "ooc_flash_tool")


@pytest.fixture(scope="module")
def images() -> tuple[bytes, bytes]:
    """One model packed for two devices: same length, different bytes."""
    graph = load_model(shared_model("kws_ref_model.tflite"))
    out = []
    for seed in (1, 2):
        device = keys.DeviceKey(bytes(range(16)), random.Random(seed).randbytes(32))
        out.append(pack_image(graph, device, PackOptions(FLASH, base_offset=OFFSET)).image)
    assert len(out[0]) == len(out[1]) and out[0] != out[1]
    return out[0], out[1]


def _geometry(flash: FlashProfile) -> list[str]:
    size, page, sector = flash.size_bytes, flash.page_bytes, flash.sector_bytes
    return ["--size", str(size), "--page", str(page), "--sector", str(sector)]


def _timing(flash: FlashProfile) -> list[str]:
    return [
        "--read-bps",
        repr(flash.read_bytes_per_s),
        "--read-cmd-s",
        repr(flash.read_command_s),
        "--program-s",
        repr(flash.page_program_s),
        "--erase-s",
        repr(flash.sector_erase_s),
    ]


def _run(tool: Path, *args: str, want: int = 0) -> dict:
    proc = subprocess.run(
        [str(tool), *args], capture_output=True, text=True, check=False, timeout=600
    )
    _clean(proc.stderr)
    assert proc.returncode == want, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def _program(tool: Path, flash: Path, image: bytes, *extra: str, want: int = 0) -> dict:
    path = flash.parent / f"{flash.name}.image"
    path.write_bytes(image)
    return _run(
        tool,
        "program",
        str(flash),
        str(path),
        "--offset",
        str(OFFSET),
        *_geometry(FLASH),
        *_timing(FLASH),
        *extra,
        want=want,
    )


def _sectors(image: bytes) -> int:
    return -(-len(image) // FLASH.sector_bytes)


def _pages(image: bytes) -> list[int]:
    """Offsets of the pages the tool programs: those not all 0xFF."""
    page = FLASH.page_bytes
    return [
        at
        for at in range(0, len(image), page)
        if image[at : at + page] != b"\xff" * len(image[at : at + page])
    ]


def _simulate(old: bytes, image: bytes, k: int) -> bytes:
    """The region after the tool's op sequence (erase each sector, program each non-erased page)
    with a power loss at op k: ops before k complete, op k does half of its bytes."""
    mem = bytearray(old)
    page, sector = FLASH.page_bytes, FLASH.sector_bytes
    ops = [("erase", at) for at in range(0, len(image), sector)]
    ops += [("program", at) for at in _pages(image)]
    for i, (kind, at) in enumerate(ops[:k], start=1):
        if kind == "erase":
            n = sector // 2 if i == k else sector
            mem[at : at + n] = b"\xff" * n
        else:
            chunk = image[at : at + page]
            n = len(chunk) // 2 if i == k else len(chunk)
            for j in range(n):
                mem[at + j] &= chunk[j]
    return bytes(mem)


def _wear(flash: Path) -> tuple[list[int], list[int]]:
    """Parse the sidecar (format in ooc_nor_emu.h): the lifetime counters and erase counts."""
    raw = (flash.parent / f"{flash.name}.wear").read_bytes()
    n = FLASH.size_bytes // FLASH.sector_bytes
    assert len(raw) == WEAR_HEADER + 4 * n + 4
    assert raw[:8] == b"OOCNORW1"
    version, sector, n_sectors, reserved = struct.unpack_from("<4I", raw, 8)
    assert (version, sector, n_sectors, reserved) == (1, FLASH.sector_bytes, n, 0)
    assert struct.unpack_from("<I", raw, len(raw) - 4)[0] == zlib.crc32(raw[:-4])
    counters = list(struct.unpack_from("<8Q", raw, 24))
    return counters, list(struct.unpack_from(f"<{n}I", raw, WEAR_HEADER))


# -- the C unit tests ----------------------------------------------------------------------------


def test_c_unit_tests_under_sanitizers(tmp_path: Path) -> None:
    exe = _build([UNIT, EMU], tmp_path / "test_nor_emu")
    work = tmp_path / "files"
    work.mkdir()
    proc = subprocess.run(
        [str(exe), str(work)], capture_output=True, text=True, check=False, timeout=600
    )
    _clean(proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    passed, failed = int(last.split()[0]), int(last.split()[2])
    assert failed == 0 and passed > 300, proc.stdout
    assert " 0 failed" in last
    assert not list(work.glob("*.tmp")), "temporary files left behind"


def test_sources_build_warning_free_without_cross_compiler(tmp_path: Path) -> None:
    """Host-only C99: the system compiler at -O2 (more warnings than -O1), no arm toolchain."""
    for src in (EMU, TOOL, UNIT):
        cmd = ["cc", *WARNINGS, "-O2", f"-I{ROOT / 'c_runtime' / 'include'}", f"-I{HOST}"]
        cmd += ["-c", str(src), "-o", str(tmp_path / f"{src.stem}.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
    for path in (EMU, TOOL, HOST / "ooc_nor_emu.h"):
        assert "arm-none-eabi" not in path.read_text()


# -- the tool ------------------------------------------------------------------------------------


def test_program_puts_the_image_at_the_offset(
    tool: Path, images: tuple[bytes, bytes], tmp_path: Path
) -> None:
    image = images[0]
    flash = tmp_path / "flash.bin"
    result = _program(tool, flash, image, "--verify")
    assert result["status"] == 0 and result["error"] == "ok" and result["verified"] is True
    assert result["failed_op"] is None

    data = flash.read_bytes()
    assert len(data) == FLASH.size_bytes
    assert data[OFFSET : OFFSET + len(image)] == image
    assert data[:OFFSET] == b"\xff" * OFFSET
    assert data[OFFSET + len(image) :] == b"\xff" * (FLASH.size_bytes - OFFSET - len(image))

    # The counters are what the geometry predicts.
    sectors, pages = _sectors(image), _pages(image)
    assert 0 < len(pages) < len(image) // FLASH.page_bytes  # some pages skipped as erased
    assert result["erase_ops"] == result["sectors"] == sectors
    assert result["program_ops"] == len(pages)
    assert result["bytes_programmed"] == FLASH.page_bytes * len(pages)
    assert result["pages_skipped"] == len(image) // FLASH.page_bytes - len(pages)
    assert result["ops"] == sectors + len(pages)
    assert result["read_commands"] == 1 and result["bytes_read"] == len(image)  # the verify
    read_s = FLASH.read_command_s + len(image) / FLASH.read_bytes_per_s
    assert result["erase_busy_s"] == pytest.approx(sectors * FLASH.sector_erase_s)
    assert result["program_busy_s"] == pytest.approx(len(pages) * FLASH.page_program_s)
    assert result["read_busy_s"] == pytest.approx(read_s)
    assert result["busy_s"] == pytest.approx(
        sectors * FLASH.sector_erase_s + len(pages) * FLASH.page_program_s + read_s
    )

    # The sidecar, read independently: one erase on each image sector, nothing elsewhere.
    counters, counts = _wear(flash)
    first = OFFSET // FLASH.sector_bytes
    assert counts[first : first + sectors] == [1] * sectors
    assert sum(counts) == sectors
    assert counters[:5] == [len(image), 1, FLASH.page_bytes * len(pages), len(pages), sectors]
    assert counters[7] == round(sectors * FLASH.sector_erase_s * 1e9)  # erase busy, ns
    assert not list(tmp_path.glob("*.tmp"))

    # dump copies the range back out.
    out = tmp_path / "out.bin"
    dumped = _run(
        tool, "dump", str(flash), str(out), "--offset", str(OFFSET), "--length", str(len(image))
    )
    assert dumped["status"] == 0 and dumped["bytes_read"] == len(image)
    assert out.read_bytes() == image


def test_power_loss_leaves_a_partial_image(
    tool: Path, images: tuple[bytes, bytes], tmp_path: Path
) -> None:
    image, old_image = images
    base = tmp_path / "base.bin"
    assert _program(tool, base, old_image)["status"] == 0
    region = _sectors(image) * FLASH.sector_bytes
    old = base.read_bytes()[OFFSET : OFFSET + region]
    sectors, n_pages = _sectors(image), len(_pages(image))
    total = sectors + n_pages
    for k in sorted({1, sectors // 2, sectors, sectors + 1, sectors + n_pages // 2, total - 1}):
        flash = tmp_path / f"k{k}.bin"
        shutil.copyfile(base, flash)
        shutil.copyfile(tmp_path / "base.bin.wear", tmp_path / f"k{k}.bin.wear")
        result = _program(tool, flash, image, "--fail-after", str(k), "--verify", want=1)
        assert result["status"] == POWER_LOSS and result["error"] == "power loss", result
        assert result["ops"] == k and result["failed_op"]["index"] == k
        kind = "erase" if k <= sectors else "program"
        assert result["failed_op"]["kind"] == kind and result["verified"] is None
        assert result["erase_ops"] == min(k, sectors)
        assert result["program_ops"] == max(0, k - sectors)
        data = flash.read_bytes()  # synced after the power loss
        assert len(data) == FLASH.size_bytes
        got = data[OFFSET : OFFSET + region]
        assert got[: len(image)] != image
        assert got == _simulate(old, image, k)
        assert data[:OFFSET] == b"\xff" * OFFSET
        # The interrupted erase still wore its sector.
        _, counts = _wear(flash)
        first = OFFSET // FLASH.sector_bytes
        erased = min(k, sectors)
        assert counts[first : first + sectors] == [2] * erased + [1] * (sectors - erased)

    # An injection past the last operation never fires.
    flash = tmp_path / "late.bin"
    result = _program(tool, flash, image, "--fail-after", str(total + 1), "--verify")
    assert result["status"] == 0 and result["verified"] is True and result["ops"] == total
    assert flash.read_bytes()[OFFSET : OFFSET + len(image)] == image


def test_stats_after_two_programs(tool: Path, images: tuple[bytes, bytes], tmp_path: Path) -> None:
    image = images[0]
    flash = tmp_path / "flash.bin"
    _program(tool, flash, image)
    _program(tool, flash, images[1])
    stats = _run(tool, "stats", str(flash), *_geometry(FLASH))
    sectors, n_pages = _sectors(image), len(_pages(image))
    first = OFFSET // FLASH.sector_bytes
    assert stats["status"] == 0
    assert stats["sectors"] == FLASH.size_bytes // FLASH.sector_bytes
    assert stats["erased_sectors"] == [[first + i, 2] for i in range(sectors)]
    assert stats["erase_max"] == 2 and stats["erase_min"] == 0
    assert stats["erase_total"] == 2 * sectors and stats["sectors_erased"] == sectors
    assert stats["erase_ops"] == 2 * sectors
    assert stats["program_ops"] == len(_pages(images[1])) + n_pages
    assert stats["erase_busy_s"] == pytest.approx(2 * sectors * FLASH.sector_erase_s)
    assert flash.read_bytes()[OFFSET : OFFSET + len(image)] == images[1]
    # stats reads only: it leaves the files as they were.
    before = (tmp_path / "flash.bin.wear").read_bytes()
    _run(tool, "stats", str(flash), *_geometry(FLASH))
    assert (tmp_path / "flash.bin.wear").read_bytes() == before


def test_tool_usage_and_io_errors(tool: Path, images: tuple[bytes, bytes], tmp_path: Path) -> None:
    image = tmp_path / "image.bin"
    image.write_bytes(images[0])
    flash = tmp_path / "flash.bin"
    geo = _geometry(FLASH)
    _run(tool, want=2)
    _run(tool, "frobnicate", want=2)
    _run(tool, "program", str(flash), str(image), *geo, want=2)  # no --offset
    _run(tool, "program", str(flash), str(image), "--offset", "100", *geo, want=2)  # misaligned
    _run(tool, "program", str(flash), str(image), "--offset", "0", "--size", "4096", want=2)
    big = ["--offset", str(FLASH.size_bytes - FLASH.sector_bytes)]
    _run(tool, "program", str(flash), str(image), *big, *geo, want=2)  # does not fit
    _run(tool, "program", str(flash), str(image), "--offset", "0", *geo, "--bogus", want=2)
    assert not flash.exists()
    _run(tool, "stats", str(flash), *geo, want=2)  # missing flash file
    _run(tool, "dump", str(flash), str(tmp_path / "o"), "--offset", "0", "--length", "1", want=2)
    assert not flash.exists()
    # A flash file of the wrong size, a sidecar of another geometry.
    assert _program(tool, flash, images[0])["status"] == 0
    other = ["--size", str(FLASH.size_bytes), "--page", "256", "--sector", "65536"]
    assert _run(tool, "stats", str(flash), *other, want=2)["error"] == (
        "wear sidecar is for another geometry"
    )
    small = ["--size", str(FLASH.size_bytes // 2), "--page", "256", "--sector", "4096"]
    _run(tool, "stats", str(flash), *small, want=2)
    # dump out of range is an operation failure.
    end = ["--offset", str(FLASH.size_bytes), "--length", "1"]
    _run(tool, "dump", str(flash), str(tmp_path / "o"), *end, want=1)
