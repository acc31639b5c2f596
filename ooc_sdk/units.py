"""Parsing and printing of byte sizes and integers given on the command line.

Sizes are binary throughout ooc: ``64K``, ``64KB`` and ``64KiB`` all mean
65536 bytes, because that is how microcontroller and flash datasheets use them.
Hexadecimal (``0x10000``) is accepted wherever an integer is.
"""

from __future__ import annotations

import re

from ooc_sdk.errors import InvalidArgumentError

_SUFFIXES = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
    "gib": 1 << 30,
}

_SIZE_RE = re.compile(r"^\s*(0x[0-9a-fA-F]+|\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """Return the number of bytes in ``text`` (``4096``, ``0x1000``, ``64KiB``, ``1.5MiB``).

    Raises :class:`InvalidArgumentError` for anything else, including sizes that
    are not a whole number of bytes.
    """
    match = _SIZE_RE.match(text)
    if not match:
        raise InvalidArgumentError(f"not a size: {text!r} (examples: 4096, 0x1000, 64KiB, 2MiB)")
    number, suffix = match.groups()
    unit = _SUFFIXES.get(suffix.lower())
    if unit is None:
        raise InvalidArgumentError(
            f"unknown size unit {suffix!r} in {text!r} (use B, KiB, MiB or GiB)"
        )
    if number.lower().startswith("0x"):
        if suffix:
            raise InvalidArgumentError(f"a hexadecimal size takes no unit: {text!r}")
        return int(number, 16)
    if "." in number:
        value = float(number) * unit
        if value != int(value):
            raise InvalidArgumentError(f"{text!r} is not a whole number of bytes")
        return int(value)
    return int(number) * unit


def format_size(nbytes: int) -> str:
    """Format a byte count for people: ``65536`` -> ``64.0 KiB``."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_count(n: int) -> str:
    """Format a large count with SI prefixes: ``7489664`` -> ``7.49 M``."""
    for div, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f} {prefix}"
    return str(n)
