"""The host C toolchain and ooc's cache directory: compile a program once per content key.

Host runners, the flash tool and the test programs are compiled with ``$CC`` (default ``cc``)
into ``$OOC_CACHE_DIR/build/<key>/binary``; the key hashes everything the binary depends on, so
a second build of the same content costs nothing, and concurrent builders of one key are safe
(each compiles into its own temporary directory, the first rename wins).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ooc_sdk.errors import ToolError

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"]
RELEASE = ["-O3"]
# Resolve every shared-library symbol at load time: a lazy binding resolved during an inference
# runs the dynamic linker on the runner's stack (it saves the whole vector register file there,
# 2.5 KiB and more on AVX-512 hosts), which the runners would count as the runtime's stack.
BIND_NOW = ["-Wl,-z,now"]
SANITIZE = [
    "-O1",
    "-g",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]


def cache_root() -> Path:
    """ooc's cache: $OOC_CACHE_DIR, else $XDG_CACHE_HOME/ooc (default ~/.cache/ooc)."""
    base = os.environ.get("OOC_CACHE_DIR")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ooc"


def build_root() -> Path:
    """Where compiled programs are cached, one directory per content key."""
    return cache_root() / "build"


def compiler() -> str:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise ToolError(f"no C compiler: '{cc}' is not on PATH (install gcc or set CC)")
    return cc


def compile_cached(key: str, args: list[str], what: str) -> Path:
    """Compile ``args`` (sources and flags, without -o) into build_root()/key/binary, once."""
    final = build_root() / key
    binary = final / "binary"
    if binary.exists():
        return binary
    build_root().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=build_root()))
    try:
        proc = subprocess.run(
            [*args, "-o", str(tmp / "binary")], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            lines = [
                ln for ln in proc.stderr.splitlines() if "error" in ln
            ] or proc.stderr.splitlines()
            raise ToolError(f"compiling {what} failed: {lines[0] if lines else 'no message'}")
        try:
            tmp.rename(final)
        except OSError:  # another process built the same key first
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return binary
