"""C headers generated from the Python definitions of the formats the SDK shares with the runtime.

A format module (``image``, ``spill``, ``tables``, ``keystore``, ``errors``) declares its byte
records as lists of fields (a ``struct`` code and a comment each), its constants and its enums
once, in Python, and describes its C header as a :class:`CHeader`. This module turns that into the
header's text:

- every constant as ``#define <PREFIX>_<NAME>``: integers with a ``u`` suffix, magics as
  character-array initialisers, KDF labels as string literals;
- every record as ``#define``\\ s of its size and of each field's offset, and a struct with the
  same layout that exists only to be checked: compile-time asserts that its size and every
  field's ``offsetof`` equal those numbers (C11 ``_Static_assert``, or the negative-array typedef
  under C99), so a hand edit of an offset fails the build;
- every enum as a C ``enum``, with a check that it fits the struct fields that hold it;
- any further compile-time check the format states.

The headers are committed under ``c_runtime/include/ooc/``; ``python -m ooc_sdk.formats
--write-c-headers`` regenerates them all and ``tests/test_formats.py`` fails when one is stale.
Records are read and written with explicit little-endian byte loads on both sides, never by
copying a struct.
"""

from __future__ import annotations

import struct
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ooc_sdk.package_data import runtime_dir

INCLUDE = runtime_dir() / "include" / "ooc"
HOST_PORT = runtime_dir() / "ports" / "host"  # formats of the host tools only
COMMAND = "python -m ooc_sdk.formats --write-c-headers"
WIDTH = 100  # columns of a generated comment

# -- records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    fmt: str  # one struct code: B H I Q, or Ns for N raw bytes
    doc: str

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.fmt)

    @property
    def raw(self) -> bool:
        return self.fmt.endswith("s")


class Record:
    """A fixed-size little-endian record. Fields follow each other without padding; bytes left
    after the last become a ``reserved`` field (zero). With ``aligned`` (the default) every
    2-, 4- and 8-byte integer must sit at a multiple of its size."""

    def __init__(
        self,
        name: str,
        c_prefix: str,
        size: int,
        fields: list[Field],
        doc: str,
        *,
        aligned: bool = True,
        size_name: str | None = None,
    ):
        self.name = name
        self.c_prefix = c_prefix  # field offsets are <PREFIX>_<c_prefix>_<FIELD>
        self.size_name = size_name or f"{c_prefix}_BYTES"  # the size is <PREFIX>_<size_name>
        self.doc = doc
        self.aligned = aligned
        used = sum(f.size for f in fields)
        if used > size:
            raise AssertionError(f"{name}: fields take {used} bytes of {size}")
        if used < size:
            fields = [*fields, Field("reserved", f"{size - used}s", "zero")]
        self.fields = fields
        self.size = size
        self._struct = struct.Struct("<" + "".join(f.fmt for f in fields))
        assert self._struct.size == size, name
        self.offsets: dict[str, int] = {}
        off = 0
        for f in fields:
            if f.name in self.offsets:
                raise AssertionError(f"{name}: two fields named {f.name}")
            if aligned and not f.raw and off % f.size:
                raise AssertionError(f"{name}.{f.name} is not naturally aligned")
            self.offsets[f.name] = off
            off += f.size

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def span(self, name: str) -> slice:
        """The bytes of field ``name`` in a record."""
        return slice(self.offsets[name], self.offsets[name] + self.field(name).size)

    def pack(self, **values: Any) -> bytes:
        args = []
        for f in self.fields:
            v = values.pop(f.name, None)
            if v is None:
                v = b"" if f.raw else 0
            args.append(v)
        if values:
            raise TypeError(f"{self.name}: unknown fields {sorted(values)}")
        return self._struct.pack(*args)

    def unpack(self, data: bytes, offset: int = 0) -> dict[str, Any]:
        return dict(
            zip((f.name for f in self.fields), self._struct.unpack_from(data, offset), strict=True)
        )


# -- constants, enums, checks --------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    """``#define <PREFIX>_<name> <value>``: an integer, a magic (bytes: a char-array
    initialiser) or a KDF label (str: a string literal)."""

    name: str
    value: int | bytes | str
    doc: str = ""
    hex: bool = False
    suffix: str = "u"  # of an integer: "u", "UL", or "" for a plain int


@dataclass(frozen=True)
class Member:
    name: str  # without the header's prefix
    value: int | None  # None: one more than the member before (a count at the end)
    doc: str = ""


@dataclass(frozen=True)
class Enum:
    """``enum <name> { <PREFIX>_<member> = value, ... }``; a str among the members is a comment
    line. ``field``: the unsigned C type of the struct fields that hold the enum's values (its
    values are checked to fit, in Python here and in C)."""

    name: str
    members: tuple[Member | str, ...]
    doc: str = ""
    field: str | None = None

    def values(self) -> dict[str, int]:
        out: dict[str, int] = {}
        last = -1
        for m in self.members:
            if isinstance(m, Member):
                last = last + 1 if m.value is None else m.value
                out[m.name] = last
        return out

    def __post_init__(self) -> None:
        vals = self.values()
        if len(set(vals.values())) != len(vals):
            raise AssertionError(f"enum {self.name}: two members with one value")
        if self.field is not None and not all(0 <= v <= _MAX[self.field] for v in vals.values()):
            raise AssertionError(f"enum {self.name}: a value does not fit {self.field}")


_MAX = {"uint8_t": 0xFF, "uint16_t": 0xFFFF, "uint32_t": 0xFFFFFFFF}


@dataclass(frozen=True)
class Check:
    """A compile-time assertion over the header's macros: ``expr`` is C."""

    name: str
    expr: str


Item = Const | Record | Enum | Check | str  # str: a comment
Sections = Sequence[Sequence[Item]]


@dataclass(frozen=True)
class CHeader:
    """One generated header. ``sections`` is called at generation time (so a test that swaps a
    definition in the module sees the header change); sections are separated by a blank line."""

    module: str  # the defining module, e.g. "ooc_sdk.formats.spill"
    filename: str  # in ``directory``
    title: str  # the banner's first line
    prefix: str  # of every macro and enum member, e.g. "OOC_SPILL"
    tag: str  # names the assert macro (OOC_<TAG>_STATIC_ASSERT) and its typedefs
    type_prefix: str  # of the layout structs' names, e.g. "ooc_spill_"
    sections: Callable[[], Sections]
    about: str = ""  # more banner text: where the fields are described, how to read them
    directory: Path = INCLUDE  # where the header is committed

    @property
    def path(self) -> Path:
        return self.directory / self.filename

    @property
    def guard(self) -> str:
        return self.filename.replace(".", "_").upper()

    def text(self) -> str:
        """The header's text."""
        return render(self)


def _comment(text: str, indent: str = "") -> list[str]:
    lines = textwrap.wrap(text, WIDTH - len(indent) - 3)
    if len(lines) == 1:
        return [f"{indent}/* {lines[0]} */"]
    out = [f"{indent}/* {lines[0]}"] + [f"{indent}   {ln}" for ln in lines[1:]]
    out[-1] += " */"
    return out


def _with_doc(code: str, doc: str, indent: str = "") -> list[str]:
    """``code`` followed by its comment on one line, or the comment above it when too long."""
    if not doc:
        return [indent + code]
    line = f"{indent}{code} /* {doc} */"
    return [line] if len(line) <= WIDTH else [*_comment(doc, indent), indent + code]


def _const(h: CHeader, c: Const) -> list[str]:
    name = f"{h.prefix}_{c.name}"
    if isinstance(c.value, bytes):
        chars = ", ".join(f"'{chr(b)}'" for b in c.value)
        value = f"{{ {chars} }}"
    elif isinstance(c.value, str):
        value = f'"{c.value}"'
    else:
        value = (f"0x{c.value:X}" if c.hex else str(c.value)) + c.suffix
    return _with_doc(f"#define {name} {value}", c.doc)


def _record(h: CHeader, rec: Record) -> list[str]:
    p = f"{h.prefix}_{rec.c_prefix}"
    size = f"{h.prefix}_{rec.size_name}"
    tname = f"{h.type_prefix}{rec.name.replace(' ', '_')}_t"
    out = [f"/* {rec.name} ({rec.size} bytes). {rec.doc} */", f"#define {size} {rec.size}u"]
    for f in rec.fields:
        out.append(f"#define {p}_{f.name.upper()} {rec.offsets[f.name]}u /* {f.doc} */")
    out.append("typedef struct {")
    for f in rec.fields:
        if f.raw:
            out.append(f"    uint8_t {f.name}[{f.size}];")
        elif rec.offsets[f.name] % f.size:  # kept as bytes so the struct has no padding
            out.append(f"    uint8_t {f.name}[{f.size}]; /* {_C_TYPES[f.fmt]}, unaligned */")
        else:
            out.append(f"    {_C_TYPES[f.fmt]} {f.name};")
    out.append(f"}} {tname};")
    out.append(f"{_assert(h)}({rec.c_prefix}_size, sizeof({tname}) == {size});")
    for f in rec.fields:
        out.append(
            f"{_assert(h)}({rec.c_prefix}_{f.name}, "
            f"offsetof({tname}, {f.name}) == {p}_{f.name.upper()});"
        )
    return out


_C_TYPES = {"B": "uint8_t", "H": "uint16_t", "I": "uint32_t", "Q": "uint64_t"}


def _enum(h: CHeader, e: Enum) -> list[str]:
    out = _comment(e.doc) if e.doc else []
    out.append(f"enum {e.name} {{")
    members = [m for m in e.members if isinstance(m, Member)]
    for m in e.members:
        if isinstance(m, str):
            out += _comment(m, "    ")
            continue
        code = f"{h.prefix}_{m.name}" + ("" if m.value is None else f" = {m.value}")
        out += _with_doc(code + ("" if m is members[-1] else ","), m.doc, "    ")
    out.append("};")
    if e.field is not None:
        vals = e.values()
        top = max(vals, key=lambda k: vals[k])
        out.append(f"{_assert(h)}({e.name}_fits, {h.prefix}_{top} <= 0x{_MAX[e.field]:X}u);")
    return out


def _assert(h: CHeader) -> str:
    return f"{h.prefix.split('_')[0]}_{h.tag}_STATIC_ASSERT"


def _uses_asserts(sections: Sections) -> bool:
    return any(
        isinstance(i, Record | Check) or (isinstance(i, Enum) and i.field is not None)
        for s in sections
        for i in s
    )


def render(h: CHeader) -> str:
    """The text of header ``h``."""
    sections = h.sections()
    source = h.module.replace(".", "/") + ".py"
    out = ["/*", f" * {h.title}", " *"]
    banner = f"GENERATED from {source} by `{COMMAND}`; do not edit. {h.about}".strip()
    out += [f" * {ln}" for ln in textwrap.wrap(banner, WIDTH - 3)]
    out += [" */", f"#ifndef {h.guard}", f"#define {h.guard}", ""]
    if any(isinstance(i, Record) for s in sections for i in s):  # the layout structs
        out += ["#include <stddef.h>", "#include <stdint.h>", ""]
    if _uses_asserts(sections):
        name, typedef = _assert(h), f"{h.prefix.split('_')[0].lower()}_{h.tag.lower()}_assert_"
        out += [
            "#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L",
            f"#define {name}(name, cond) _Static_assert(cond, #name)",
            "#else",
            f"#define {name}(name, cond) typedef char {typedef}##name[(cond) ? 1 : -1]",
            "#endif",
            "",
        ]
    for n, section in enumerate(sections):
        if n:
            out.append("")
        for item in section:
            if isinstance(item, Const):
                out += _const(h, item)
            elif isinstance(item, Record):
                out += _record(h, item)
            elif isinstance(item, Enum):
                out += _enum(h, item)
            elif isinstance(item, Check):
                out.append(f"{_assert(h)}({item.name}, {item.expr});")
            else:
                out += _comment(item)
    out += ["", f"#endif /* {h.guard} */", ""]
    return "\n".join(out)
