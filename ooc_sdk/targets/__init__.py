"""Target profiles as data: flash chips (``flash/*.json``), each value with its source.

A profile is chosen by name (``w25q128jv``) or given as a path to a JSON file of the same shape,
so a user can describe their own part or override a value from their datasheet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ooc_sdk.errors import InvalidArgumentError

_HERE = Path(__file__).parent


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
    description: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
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


def flash_profiles() -> list[str]:
    """Names of the bundled flash profiles."""
    return sorted(p.stem for p in (_HERE / "flash").glob("*.json"))


def load_flash(name_or_path: str) -> FlashProfile:
    """A bundled profile by name, or a JSON file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = _HERE / "flash" / f"{name_or_path.lower()}.json"
        if not path.exists():
            raise InvalidArgumentError(
                f"unknown flash profile {name_or_path!r}; known: {', '.join(flash_profiles())} "
                "(or give a path to a JSON profile)"
            )
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read flash profile {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"flash profile {path} is not valid JSON: {exc}") from None
    known = set(FlashProfile.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidArgumentError(f"flash profile {path}: unknown keys {', '.join(unknown)}")
    try:
        return FlashProfile(**raw)
    except TypeError as exc:
        raise InvalidArgumentError(f"flash profile {path}: {exc}") from None
