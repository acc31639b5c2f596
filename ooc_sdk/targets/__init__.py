"""Target profiles as data: flash chips (``flash/*.json``) and MCUs (``mcu/*.json``), each value
with its source.

A profile is chosen by name (``w25q128jv``, ``cortex-m4``) or given as a path to a JSON file of the
same shape, so a user can describe their own part; a file with ``"base": "<bundled name>"`` takes
that profile and overrides only the keys it gives (each recorded as a user override in ``sources``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.fileio import read_text

_HERE = Path(__file__).parent

# The flash profile's energy figures (ooc audit energy), each 0 when unknown.
ENERGY_FIELDS_FLASH = (
    "supply_v",
    "read_current_ma",
    "program_current_ma",
    "erase_current_ma",
    "standby_current_ua",
)


@dataclass(frozen=True)
class FlashProfile:
    name: str
    size_bytes: int
    page_bytes: int
    sector_bytes: int
    block_bytes: int = 65536
    erased_byte: int = 0xFF
    endurance_cycles: int = 100_000
    read_bytes_per_s: float = 50e6  # sustained read throughput
    read_command_s: float = 2e-7  # per read command: opcode, address, dummy clocks, chip select
    page_program_s: float = 0.0007  # typical page program
    page_program_max_s: float = 0.003
    sector_erase_s: float = 0.045  # typical sector erase
    sector_erase_max_s: float = 0.4
    # Energy (ooc audit energy); 0 = unknown, and the audit refuses a profile that lacks one it
    # needs. Currents are the chip's supply current in each state, at supply_v.
    supply_v: float = 0.0
    read_current_ma: float = 0.0  # while a read transfers (at read_bytes_per_s)
    program_current_ma: float = 0.0  # during a page program
    erase_current_ma: float = 0.0  # during a sector erase
    standby_current_ua: float = 0.0  # deselected (chip select high), not in deep power-down
    description: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what in ENERGY_FIELDS_FLASH:
            if getattr(self, what) < 0:
                raise InvalidArgumentError(
                    f"flash profile {self.name}: {what} must not be negative"
                )
        for what in ("page_bytes", "sector_bytes"):
            v = getattr(self, what)
            if v <= 0 or v & (v - 1):
                raise InvalidArgumentError(
                    f"flash profile {self.name}: {what} must be a power of two"
                )
        if self.sector_bytes % self.page_bytes:
            raise InvalidArgumentError(
                f"flash profile {self.name}: sector is not a multiple of the page"
            )
        if self.size_bytes <= 0 or self.size_bytes % self.sector_bytes:
            raise InvalidArgumentError(
                f"flash profile {self.name}: size is not a multiple of the sector"
            )


@dataclass(frozen=True)
class McuProfile:
    name: str
    core: str
    clock_hz: float
    sram_bytes: int
    cycles_per_mac: float  # reference int8 kernels
    cycles_per_mac_dsp: float  # DSP/SIMD kernels
    aes_engine: bool  # a hardware AES engine works beside the CPU
    aes_cycles_per_byte: float  # software AES-CTR
    cmac_cycles_per_byte: float  # software AES-CMAC
    poly1305_cycles_per_byte: float
    aes_engine_bytes_per_s: float = 0.0
    energy_per_cycle_pj: float = 0.0  # 0 = unknown
    # cycles per instruction assumed when QEMU's instruction counts become time or energy
    # (ooc audit energy); 0 = unknown
    cycles_per_instruction: float = 0.0
    internal_flash_bytes: int = 0  # on-chip flash (code and in-core weights); 0 = unknown
    # Provisioning through a debug probe (ooc_sdk.provisioning.programmers, "Adding a board").
    # Addresses may be written in JSON as "0x..." strings; they are ints once loaded.
    pyocd_target: str = ""  # pyocd target type (pyocd list --targets); "" = none
    uid_address: int | None = None  # the chip's unique device ID
    uid_bytes: int = 0  # its length (a 96-bit ID: 12)
    key_storage_address: int | None = None  # internal flash reserved for the key storage record
    key_storage_bytes: int = 0
    external_flash_address: int | None = None  # where the external NOR is memory-mapped
    description: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.clock_hz <= 0 or self.sram_bytes <= 0:
            raise InvalidArgumentError(f"MCU profile {self.name}: clock and SRAM must be positive")
        for what in ("energy_per_cycle_pj", "cycles_per_instruction", "internal_flash_bytes"):
            if getattr(self, what) < 0:
                raise InvalidArgumentError(f"MCU profile {self.name}: {what} must not be negative")
        if self.aes_engine and self.aes_engine_bytes_per_s <= 0:
            raise InvalidArgumentError(
                f"MCU profile {self.name}: an AES engine needs aes_engine_bytes_per_s"
            )
        for what in ("uid_address", "key_storage_address", "external_flash_address"):
            value = getattr(self, what)
            if isinstance(value, str):
                try:
                    value = int(value, 0)
                except ValueError:
                    raise InvalidArgumentError(
                        f"MCU profile {self.name}: {what} {value!r} is not a number "
                        '(write e.g. "0x1FFF7590")'
                    ) from None
                object.__setattr__(self, what, value)
            if value is not None and not 0 <= value < 1 << 32:
                raise InvalidArgumentError(
                    f"MCU profile {self.name}: {what} is not a 32-bit address"
                )
        if not 0 <= self.uid_bytes <= 16 or self.key_storage_bytes < 0:
            raise InvalidArgumentError(
                f"MCU profile {self.name}: uid_bytes is 0 to 16 and key_storage_bytes not negative"
            )


def _names(kind: str) -> list[str]:
    return sorted(p.stem for p in (_HERE / kind).glob("*.json"))


def flash_profiles() -> list[str]:
    """Names of the bundled flash profiles."""
    return _names("flash")


def mcu_profiles() -> list[str]:
    """Names of the bundled MCU profiles."""
    return _names("mcu")


def _load(kind: str, cls: type, name_or_path: str) -> Any:
    what = {"flash": "flash profile", "mcu": "MCU profile"}[kind]
    path = Path(name_or_path)
    if not path.suffix:
        path = _HERE / kind / f"{name_or_path.lower()}.json"
        if not path.exists():
            raise InvalidArgumentError(
                f"unknown {what} {name_or_path!r}; known: {', '.join(_names(kind))} "
                "(or give a path to a JSON profile)"
            )
    try:
        raw: dict[str, Any] = json.loads(read_text(path, what, 1024 * 1024))
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"{what} {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidArgumentError(f"{what} {path} must be a JSON object")
    base = raw.pop("base", None)
    if base is not None:
        # {"base": "w25q128jv", "read_bytes_per_s": 40e6, ...}: a bundled profile with overrides
        if not isinstance(base, str) or Path(base).suffix:
            raise InvalidArgumentError(f"{what} {path}: 'base' must name a bundled profile")
        merged = dataclasses.asdict(_load(kind, cls, base))
        sources = {**merged.get("sources", {}), **raw.get("sources", {})}
        for key in raw:
            if key not in ("name", "sources") and key not in raw.get("sources", {}):
                sources[key] = f"user override in {path.name}"
        merged.update(raw)
        merged["sources"] = sources
        if "name" not in raw:
            merged["name"] = path.stem
        raw = merged
    unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
    if unknown:
        raise InvalidArgumentError(f"{what} {path}: unknown keys {', '.join(unknown)}")
    try:
        return cls(**raw)
    except TypeError as exc:
        raise InvalidArgumentError(f"{what} {path}: {exc}") from None


def load_flash(name_or_path: str) -> FlashProfile:
    """A bundled flash profile by name, or a JSON file by path."""
    return _load("flash", FlashProfile, name_or_path)


def load_mcu(name_or_path: str) -> McuProfile:
    """A bundled MCU profile by name, or a JSON file by path."""
    return _load("mcu", McuProfile, name_or_path)
