"""Writing files whole or not at all: the one write-then-rename of the SDK."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ooc_sdk.errors import InvalidArgumentError


def write_atomic(path: Path, data: bytes | str, *, private: bool = False) -> None:
    """Replace ``path`` with ``data`` through a synced temporary file in the same directory,
    so a crash or a full disk leaves the old file or the new one, never a torn one. The new
    file has the usual mode (0666 less the umask), or 0600 from the start with ``private``
    (the temporary is never readable by others either). An OSError becomes one line naming
    the path (InvalidArgumentError)."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    if not path.parent.is_dir():
        raise InvalidArgumentError(f"cannot write {path}: no directory {path.parent}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        if private:
            mode = 0o600
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidArgumentError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
