"""Formats shared by the SDK and the C runtime (ooc_sdk/formats/): each has one Python definition,
the committed C header is what it generates, and the header's compile-time checks catch a hand
edit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from ooc_sdk import errors as sdk_errors
from ooc_sdk.formats import errors, headers, image, keystore, spill, tables
from ooc_sdk.formats.cheader import COMMAND, CHeader, Enum, Field, Member, Record
from ooc_sdk.image.batch import BATCH_MAGIC
from ooc_sdk.image.keys import KEY_FILE_MAGIC
from ooc_sdk.image.keystore import MASTER_MAGIC
from ooc_sdk.lower.prepare import _REGISTRY, KIND_OF
from ooc_sdk.model.approx import SKIPPABLE
from ooc_sdk.toolchain import WARNINGS

HEADERS = {h.filename: h for h in headers.HEADERS}
ARM = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


# -- the committed headers are current ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_committed_header_is_generated_from_its_module(name: str) -> None:
    h = HEADERS[name]
    assert h.path.read_text() == h.text(), f"{h.path} is stale: run {COMMAND}"


def test_every_generated_header_is_listed() -> None:
    generated = {
        p.name
        for d in ("include/ooc", "ports/host")
        for p in (ROOT / "c_runtime" / d).glob("*.h")
        if "GENERATED from ooc_sdk/formats/" in p.read_text()
    }
    assert generated == set(HEADERS)
    assert headers.main(["--check"]) == 0


def _widen(rec: Record, name: str, fmt: str) -> Record:
    """``rec`` with field ``name`` of struct code ``fmt`` (the record grows to fit)."""
    fields = [Field(f.name, fmt if f.name == name else f.fmt, f.doc) for f in rec.fields]
    size = rec.size - rec.field(name).size + Field(name, fmt, "").size
    return Record(
        rec.name, rec.c_prefix, size, fields, rec.doc, aligned=rec.aligned, size_name=rec.size_name
    )


def test_a_widened_field_makes_its_header_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    committed = spill.C_HEADER.path.read_text()
    assert headers.stale() == []
    monkeypatch.setattr(spill, "RECORD_HEADER", _widen(spill.RECORD_HEADER, "tile", "Q"))
    assert headers.stale() == [spill.C_HEADER]
    assert headers.main(["--check"]) == 1
    text = spill.C_HEADER.text()
    # the size, the offsets after the field, and the layout struct the asserts check, all move
    for old, new in [
        ("#define OOC_SPILL_RECORD_HEADER_BYTES 32u", "#define OOC_SPILL_RECORD_HEADER_BYTES 36u"),
        ("#define OOC_SPILL_RH_SEQ 20u", "#define OOC_SPILL_RH_SEQ 24u"),
        ("#define OOC_SPILL_RH_CRC 28u", "#define OOC_SPILL_RH_CRC 32u"),
        ("    uint32_t tile;", "    uint64_t tile;"),
        ("    uint8_t seq[8]; /* uint64_t, unaligned */", "    uint64_t seq;"),
    ]:
        assert old in committed and old not in text and new in text, (old, new)
    assert "OOC_SPILL_STATIC_ASSERT(RH_tile, offsetof(ooc_spill_record_header_t, tile)" in text


# -- the compile-time checks ----------------------------------------------------------------------


def _compile(cc: list[str], text: str, tmp: Path, std: str) -> subprocess.CompletedProcess[str]:
    src = tmp / "check.c"
    src.write_text(text + "\nint ooc_check_unit(void);\nint ooc_check_unit(void) { return 0; }\n")
    flags = [w for w in WARNINGS if not w.startswith("-std=")]
    cmd = [*cc, f"-std={std}", *flags, "-fsyntax-only", str(src)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("cc", [["gcc"], ARM], ids=["gcc", "arm-none-eabi-gcc"])
@pytest.mark.parametrize("std", ["c99", "c11"])
def test_headers_compile_warning_free(cc: list[str], std: str, tmp_path: Path) -> None:
    for h in headers.HEADERS:
        proc = _compile(cc, h.text(), tmp_path, std)
        assert proc.returncode == 0, f"{h.filename}:\n{proc.stderr}"


@pytest.mark.parametrize("std", ["c99", "c11"])
def test_a_hand_edited_offset_fails_the_build(std: str, tmp_path: Path) -> None:
    text = spill.C_HEADER.text()
    edited = text.replace("#define OOC_SPILL_RH_SEQ 20u", "#define OOC_SPILL_RH_SEQ 24u")
    assert edited != text
    proc = _compile(["gcc"], edited, tmp_path, std)
    assert proc.returncode != 0 and "RH_seq" in proc.stderr, proc.stderr
    edited = text.replace(
        "#define OOC_SPILL_SECTOR_HEADER_BYTES 32u", "#define OOC_SPILL_SECTOR_HEADER_BYTES 36u"
    )
    proc = _compile(["gcc"], edited, tmp_path, std)
    assert proc.returncode != 0 and "SH_size" in proc.stderr, proc.stderr


def test_enum_values_must_fit_their_fields() -> None:
    big = Member("NODE_HUGE", 0x10000)
    with pytest.raises(AssertionError, match="does not fit"):
        Enum("ooc_node_mode", (*tables.NODE_MODE.members, big), field="uint16_t")
    with pytest.raises(AssertionError, match="one value"):
        Enum("ooc_node_mode", (*tables.NODE_MODE.members, Member("NODE_X", 0)))


def test_records_refuse_overlaps_and_misalignment() -> None:
    with pytest.raises(AssertionError, match="take 9 bytes of 8"):
        Record("r", "R", 8, [Field("a", "I", ""), Field("b", "4s", ""), Field("c", "B", "")], "")
    with pytest.raises(AssertionError, match="not naturally aligned"):
        Record("r", "R", 8, [Field("a", "B", ""), Field("b", "I", "")], "")
    rec = Record("r", "R", 8, [Field("a", "B", ""), Field("b", "I", "")], "", aligned=False)
    assert rec.offsets == {"a": 0, "b": 1, "reserved": 5}


# -- what the definitions say ---------------------------------------------------------------------


def test_every_shared_record_has_its_own_magic() -> None:
    magics = {
        "superblock": image.SUPERBLOCK_MAGIC,
        "key slot": image.KEY_SLOT_MAGIC,
        "manifest": image.MANIFEST_MAGIC,
        "signature block": image.SIGNATURE_MAGIC,
        "install record": image.INSTALL_MAGIC,
        "spill sector header": spill.MAGIC,
        "key storage record": keystore.KEYSTORE_MAGIC,
        "device key file": KEY_FILE_MAGIC,
        "batch key file": BATCH_MAGIC,
        "master key file": MASTER_MAGIC,
    }
    assert len(set(magics.values())) == len(magics), magics
    assert keystore.KEYSTORE_VERSION == 3  # version 1 had the key slot's magic, b"OOCK"


def test_keystore_record_layout() -> None:
    uid, key = bytes(range(16)), bytes(range(100, 116))
    rec = keystore.keystore_record(uid, key, 0x01020304)
    assert len(rec) == keystore.KEYSTORE_BYTES == 188 and rec[60:] == bytes(128)
    assert rec[:4] == b"OOCR" and rec[4] == 3 and rec[5] == 16 and rec[6:8] == bytes(2)
    assert rec[8:24] == uid and rec[24:56] == key + bytes(16)
    assert rec[56:60] == bytes([4, 3, 2, 1])
    assert keystore.BOOT_COUNTER.unpack(keystore.BOOT_COUNTER_NEW) == {
        "boot": 0,
        "check": 2**32 - 1,
    }
    with pytest.raises(sdk_errors.InvalidArgumentError):
        keystore.keystore_record(uid[:8], key)


def test_spill_constants_follow_the_records() -> None:
    assert spill.SECTOR_HEADER.size == spill.RECORD_HEADER.size == 32
    assert (spill.SLOT_OFFSET, spill.SLOT_BYTES) == (24, 8)
    assert spill.RECORD_HEADER.offsets["seq"] == 20  # the one unaligned field
    assert spill.SECTOR_HEADER.offsets["crc"] == 20 and spill.RECORD_HEADER.offsets["crc"] == 28


def test_op_kinds_cover_every_prepared_operator() -> None:
    skipping = {f"{t}_SKIP" for t in SKIPPABLE}  # approximate layers (ooc_sdk/lower/skip.py)
    assert {KIND_OF.get(t, t) for t in _REGISTRY} | {"REQUANTIZE"} | skipping == set(
        tables.OP_KINDS
    )
    kinds = tables.OP_KIND.values()
    assert kinds["OP_KIND_COUNT"] == max(tables.OP_KINDS.values()) + 1


def test_image_errors_take_the_runtime_codes() -> None:
    classes = sdk_errors.ImageError.__subclasses__()
    assert {cls.code for cls in classes} <= set(errors.CODES.values())
    for cls in classes:
        assert sdk_errors.image_error_for(cls.code) is cls
    assert sdk_errors.ImageError.code == errors.ERR_FORMAT
    assert errors.CODES["ERR_AUTH"] == sdk_errors.AuthenticationError.code == -9


# -- docs ------------------------------------------------------------------------------------------


def _has_table(text: str, rec: Record) -> bool:
    """Whether ``text`` has the record's table: a row per field, in order, on consecutive lines,
    starting ``| offset | size | `name` |``."""
    rows = [f"| {rec.offsets[f.name]} | {f.size} | `{f.name}` |" for f in rec.fields]
    lines = text.splitlines()
    return any(
        all(lines[i + k].startswith(row) for k, row in enumerate(rows))
        for i in range(len(lines) - len(rows) + 1)
    )


@pytest.mark.parametrize(
    "doc, records",
    [
        ("docs/FORMAT.md", [keystore.KEYSTORE, keystore.BOOT_COUNTER]),  # image: test_image.py
        ("docs/spill.md", [spill.SECTOR_HEADER, spill.RECORD_HEADER]),
    ],
)
def test_docs_tables_match_the_records(doc: str, records: list[Record]) -> None:
    text = (ROOT / doc).read_text()
    for rec in records:
        assert _has_table(text, rec), f"{doc} lacks the {rec.name} table (offset, size, field)"


def test_format_md_names_every_generated_header() -> None:
    text = (ROOT / "docs" / "FORMAT.md").read_text()
    assert COMMAND in text
    for h in headers.HEADERS:
        assert isinstance(h, CHeader) and h.filename in text, h.filename
