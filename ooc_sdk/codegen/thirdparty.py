"""Third-party C code the runtime builds with, fetched from a package registry and pinned.

The runtime verifies vendor image signatures (Ed25519, RFC 8032) with Monocypher, a small,
audited (Cure53, 2020) C library, rather than with hand-written curve arithmetic. ooc does not
carry its code: Monocypher 3.1.2's release sources come from PyPI, inside the source
distribution of ``monocypher-py`` 0.0.3 (``src/monocypher-3.1.2-src/``, byte for byte the
upstream release). The archive and every file taken from it are pinned by SHA-256; they are
unpacked once into ``c_runtime/third_party/monocypher/`` (not committed), where
``c_runtime/sources.txt`` lists them. ``python -m ooc_sdk.codegen.thirdparty`` fetches them
ahead of time; set ``OOC_MONOCYPHER_SDIST`` to a local copy of the archive to work offline. A
wheel carries them (setup.py fetches them before copying the runtime into it).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ooc_sdk.errors import ToolError

SDIST_NAME = "monocypher-py-0.0.3.tar.gz"
SDIST_URL = (
    "https://files.pythonhosted.org/packages/ad/9a/"
    "b8981f6f6ea67b448c3d19e3d4b5f3f12209cafd5725520726236c527d17/" + SDIST_NAME
)
SDIST_SHA256 = "9f1da74704ade57be8f1f93c75526342b0c4515a9548a388cc2f6ddc62ac94a3"
VERSION = "3.1.2"
_PREFIX = "monocypher-py-0.0.3/src/monocypher-3.1.2-src/"
# file in third_party/monocypher/ -> (member of the archive, SHA-256)
FILES = {
    "monocypher.c": (
        _PREFIX + "monocypher.c",
        "7d10bba489ae669a406e6842f717537053102a47f459469c8031c101ba2ae7b4",
    ),
    "monocypher.h": (
        _PREFIX + "monocypher.h",
        "bb0106c0f0af10c08422f7a8d0edfcca5387d2547c67a59b0fdd94c27211287c",
    ),
    "monocypher-ed25519.c": (
        _PREFIX + "optional/monocypher-ed25519.c",
        "4914571bfed6ffb81d75343f6e9e318ed7c97a23e493ba041270e00d0102d2e1",
    ),
    "monocypher-ed25519.h": (
        _PREFIX + "optional/monocypher-ed25519.h",
        "686b79791a55d41a7b448926aabb5da14205de63e03f20b9e52e2155b115ca74",
    ),
}
ENV_SDIST = "OOC_MONOCYPHER_SDIST"
SUBDIR = Path("third_party") / "monocypher"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _present(dest: Path) -> bool:
    try:
        return all(
            _sha256((dest / name).read_bytes()) == digest for name, (_, digest) in FILES.items()
        )
    except OSError:
        return False


def _download() -> bytes:
    local = os.environ.get(ENV_SDIST)
    try:
        if local:
            return Path(local).read_bytes()
        with urllib.request.urlopen(SDIST_URL, timeout=60) as resp:
            return bytes(resp.read())
    except (OSError, urllib.error.URLError) as exc:
        where = local or SDIST_URL
        raise ToolError(
            f"cannot fetch Monocypher {VERSION} (the runtime's Ed25519 verifier) from {where}: "
            f"{getattr(exc, 'reason', None) or exc}; set {ENV_SDIST} to a copy of {SDIST_NAME}"
        ) from None


def ensure_monocypher(runtime_root: Path) -> Path:
    """``runtime_root``/third_party/monocypher with the pinned Monocypher sources, fetched and
    checked when missing. ToolError (one line) when they cannot be fetched or do not match."""
    dest = runtime_root / SUBDIR
    if _present(dest):
        return dest
    archive = _download()
    if _sha256(archive) != SDIST_SHA256:
        raise ToolError(f"{SDIST_NAME} does not have the pinned SHA-256; refusing to use it")
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for name, (member, digest) in FILES.items():
            f = tar.extractfile(member)
            data = f.read() if f is not None else b""
            if _sha256(data) != digest:
                raise ToolError(f"{member} in {SDIST_NAME} does not have the pinned SHA-256")
            files[name] = data
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".monocypher.", dir=dest.parent))
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    try:
        tmp.rename(dest)
    except OSError:  # another process got there first, or a stale copy: keep a good one
        if not _present(dest):
            for p in dest.glob("*"):
                p.unlink()
            dest.rmdir()
            tmp.rename(dest)
    if tmp.exists():
        for p in tmp.glob("*"):
            p.unlink()
        tmp.rmdir()
    return dest


if __name__ == "__main__":
    from ooc_sdk.codegen.runtime import C_RUNTIME

    try:
        print(ensure_monocypher(C_RUNTIME))
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
