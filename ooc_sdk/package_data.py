"""Where the installed SDK finds the C runtime (docs/DESIGN.md, "Packaging").

A wheel carries the runtime's whole tree (headers, sources, ports, the pinned third-party
sources, the CMake package) as package data in ``ooc_sdk/c_runtime/``, found through
:mod:`importlib.resources`. The repository keeps that tree in one place, ``c_runtime/`` beside
the package: setup.py's build hook copies it into the wheel, and an editable install or a
checkout on ``sys.path`` (which has no copy) reads it there. Nothing else in the SDK looks for
the runtime: every build, the code generator and the header generator start from
:func:`runtime_dir`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGED = "c_runtime"  # the runtime's directory inside the installed package


def runtime_dir() -> Path:
    """The C runtime's directory: the wheel's ``ooc_sdk/c_runtime``, else the checkout's
    ``c_runtime`` (an editable install). Firmware builds use it as a CMake package
    (``-Dooc_DIR=<it>/cmake``) or copy from it; ``ooc --runtime-dir`` prints it. When neither
    exists (a broken install) it is the wheel's path, which the readers of its files name in
    their error."""
    packaged = resources.files("ooc_sdk") / PACKAGED
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged.resolve()
    checkout = Path(__file__).resolve().parent.parent / "c_runtime"
    if checkout.is_dir() or not isinstance(packaged, Path):
        return checkout
    return packaged
