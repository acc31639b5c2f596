"""Flash and MCU profiles: bundled data with a source for every figure, and user overrides."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.targets import flash_profiles, load_flash, load_mcu, mcu_profiles

ROOT = Path(__file__).resolve().parent.parent


def test_bundled_profiles() -> None:
    assert {"w25q128jv", "mx25r6435f"} <= set(flash_profiles())
    assert {"cortex-m4", "cortex-m7"} <= set(mcu_profiles())
    w25 = load_flash("W25Q128JV")
    assert (w25.size_bytes, w25.page_bytes, w25.sector_bytes) == (16 << 20, 256, 4096)
    assert w25.sector_erase_s == 0.045 and w25.read_bytes_per_s == 66e6
    m7 = load_mcu("cortex-m7")
    assert m7.aes_engine and m7.aes_engine_bytes_per_s > 0 and m7.clock_hz == 480e6
    assert not load_mcu("cortex-m4").aes_engine


@pytest.mark.parametrize("kind", ["flash", "mcu"])
def test_every_figure_has_a_source(kind: str) -> None:
    skip = {"name", "description", "sources", "core", "erased_byte", "block_bytes", "aes_engine"}
    for path in (ROOT / "ooc_sdk" / "targets" / kind).glob("*.json"):
        raw = json.loads(path.read_text())
        sources = raw["sources"]
        exempt = set(skip)
        if "geometry" in sources:
            exempt |= {"size_bytes", "page_bytes", "sector_bytes"}
        if not raw.get("aes_engine"):
            exempt.add("aes_engine_bytes_per_s")
        missing = sorted(k for k in raw if k not in exempt and k not in sources)
        assert not missing, f"{path.name}: no source for {missing}"


def test_user_override_file(tmp_path: Path) -> None:
    base = dataclasses.asdict(load_flash("w25q128jv"))
    base.update(name="custom", page_bytes=512, sector_bytes=8192)
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(base))
    prof = load_flash(str(path))
    assert prof.page_bytes == 512 and prof.name == "custom"
    base["bogus"] = 1
    path.write_text(json.dumps(base))
    with pytest.raises(InvalidArgumentError, match="unknown keys bogus"):
        load_flash(str(path))
    with pytest.raises(InvalidArgumentError, match="unknown MCU profile"):
        load_mcu("z80")
    bad = dataclasses.asdict(load_flash("w25q128jv"))
    bad["page_bytes"] = 300
    path.write_text(json.dumps(bad))
    with pytest.raises(InvalidArgumentError, match="power of two"):
        load_flash(str(path))


def test_override_on_a_bundled_base(tmp_path: Path) -> None:
    path = tmp_path / "slow-qspi.json"
    path.write_text(json.dumps({"base": "w25q128jv", "read_bytes_per_s": 20e6}))
    prof = load_flash(str(path))
    ref = load_flash("w25q128jv")
    assert prof.read_bytes_per_s == 20e6 and prof.name == "slow-qspi"
    assert prof.sector_bytes == ref.sector_bytes and prof.size_bytes == ref.size_bytes
    assert "user override" in prof.sources["read_bytes_per_s"]
    assert prof.sources["geometry"] == ref.sources["geometry"]
    path.write_text(json.dumps({"base": "cortex-m7", "clock_hz": 400e6}))
    assert load_mcu(str(path)).clock_hz == 400e6
    path.write_text(json.dumps({"base": "nope"}))
    with pytest.raises(InvalidArgumentError, match="unknown flash profile"):
        load_flash(str(path))
