"""Every C header generated from a format module, and the command that writes or checks them:

python -m ooc_sdk.formats --write-c-headers   # regenerate the headers (c_runtime/include/ooc/,
                                              # and the host port's ooc_nor_wear_format.h)
python -m ooc_sdk.formats --check             # exit status 1 when one is stale
python -m ooc_sdk.formats --c-header NAME     # print one (e.g. ooc_spill_format.h)
"""

from __future__ import annotations

import sys

from ooc_sdk.formats import errors, image, keystore, norwear, spill, tables
from ooc_sdk.formats.cheader import COMMAND, CHeader

HEADERS: list[CHeader] = [
    image.C_HEADER,
    spill.C_HEADER,
    tables.C_HEADER,
    keystore.C_HEADER,
    errors.C_HEADER,
    norwear.C_HEADER,
]


def stale(headers: list[CHeader] | None = None) -> list[CHeader]:
    """The headers whose committed text differs from what their module generates."""
    out = []
    for h in HEADERS if headers is None else headers:
        try:
            current = h.path.read_text()
        except FileNotFoundError:
            current = None
        if current != h.text():
            out.append(h)
    return out


def write_all() -> list[CHeader]:
    """Regenerate the stale headers; returns them."""
    changed = stale()
    for h in changed:
        h.path.write_text(h.text())
    return changed


def main(argv: list[str]) -> int:
    if argv == ["--write-c-headers"]:
        for h in write_all():
            print(f"wrote {h.path}")
        return 0
    if argv == ["--check"]:
        old = stale()
        for h in old:
            print(f"{h.path} is stale: run {COMMAND}", file=sys.stderr)
        return 1 if old else 0
    if len(argv) == 2 and argv[0] == "--c-header":
        match = [h for h in HEADERS if h.filename == argv[1]]
        if match:
            sys.stdout.write(match[0].text())
            return 0
    names = " | ".join(h.filename for h in HEADERS)
    print(
        f"usage: python -m ooc_sdk.formats --write-c-headers | --check | --c-header {{{names}}}",
        file=sys.stderr,
    )
    return 2
