"""Files written whole or not at all, secrets written safely, inputs read with bounds.

Every file the SDK writes goes through :func:`write_atomic` (ordinary outputs) or
:func:`write_secret` (key material: device keys, the master key, batch keys); every input it
reads that a user names — key files, images, flash dumps, models, build directories' JSON —
goes through :func:`read_input`, which refuses what is not a regular file (``/dev/zero``, a
FIFO, a directory) and what is larger than any file of its kind can be. :func:`replace_dir`
gives a command that fills a directory (``ooc build -o``) a fresh one to fill, swapped in only
when it is complete; :func:`exclusive_lock` keeps two processes out of one job.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ooc_sdk.errors import InvalidArgumentError

KIB, MIB = 1024, 1024 * 1024
# Size caps of the inputs (read_input): larger than any genuine file of the kind by far, small
# enough that a wrong path (a disk, /dev/zero) is refused before memory runs out.
MAX_KEY_FILE_BYTES = 4 * KIB  # device key, master key, batch key files (tens of bytes)
MAX_IMAGE_BYTES = 256 * MIB  # images and flash dumps: the largest serial NOR chip is 2 Gbit
MAX_MODEL_BYTES = 256 * MIB  # a .tflite model: its weights must fit in such a flash
MAX_JSON_BYTES = 64 * MIB  # build.json, plan.json, manifest.json, profiles, UID lists


class FileAccessError(InvalidArgumentError):
    """A file could not be read or written, or is not what it must be (one line naming it)."""


class FileMissingError(FileAccessError):
    """An input file does not exist."""


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


# -- reading -----------------------------------------------------------------------------------


def read_input(path: Path, what: str, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``path`` (``what``: "key file", "image", ...) and its
    status, read from one open descriptor (no race between the check and the read). Refuses a
    missing file, anything but a regular file, and a file over ``max_bytes``."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileMissingError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise FileAccessError(f"cannot read {what} {path}: {_why(exc)}") from None
    with os.fdopen(fd, "rb") as f:
        try:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
                raise FileAccessError(f"{what} {path} is {kind}")
            if st.st_size > max_bytes:
                raise FileAccessError(_too_big(path, what, max_bytes))
            os.set_blocking(f.fileno(), True)
            data = f.read(max_bytes + 1)
        except OSError as exc:
            raise FileAccessError(f"cannot read {what} {path}: {_why(exc)}") from None
    if len(data) > max_bytes:  # it grew while we read it
        raise FileAccessError(_too_big(path, what, max_bytes))
    return data, st


def _too_big(path: Path, what: str, max_bytes: int) -> str:
    return f"{what} {path} is larger than any {what} can be ({max_bytes:,} bytes at most)"


def read_bytes(path: Path, what: str, max_bytes: int) -> bytes:
    """:func:`read_input` without the status."""
    return read_input(path, what, max_bytes)[0]


def read_text(path: Path, what: str, max_bytes: int = MAX_JSON_BYTES) -> str:
    """A regular UTF-8 text file of at most ``max_bytes``."""
    data = read_bytes(path, what, max_bytes)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise FileAccessError(f"{what} {path} is not UTF-8 text") from None


# -- writing -----------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a file system that cannot sync a directory is
    taken at its word)."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _temp_beside(path: Path, mode: int) -> tuple[int, Path]:
    """A new file beside ``path``, created exclusively (never a link an attacker planted),
    with ``mode`` from the first byte on."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, flags, mode)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, mode)  # the umask may have taken bits the caller asked for
        except OSError:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return fd, tmp


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.fsync(fd)


def _commit(path: Path, data: bytes, mode: int, *, replace: bool) -> None:
    """Write ``data`` to a synced temporary beside ``path`` and move it into place: onto
    ``path`` (``replace``), or only if ``path`` does not exist (a hard link, which fails rather
    than replace). On an OSError the temporary is removed and ``path`` is as it was."""
    fd, tmp = _temp_beside(path, mode)
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path, follow_symlinks=False)
            except OSError as exc:  # a file system without hard links
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                if os.path.lexists(path):
                    raise FileExistsError(errno.EEXIST, "File exists") from None
                os.replace(tmp, path)
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes | str, *, private: bool = False) -> None:
    """Replace ``path`` with ``data`` through a synced temporary file in the same directory,
    so a crash or a full disk leaves the old file or the new one, never a torn one. The new
    file has the usual mode (0666 less the umask), or 0600 from the start with ``private``
    (the temporary is never readable by others either). An OSError becomes one line naming
    the path (FileAccessError). A ``private`` file is a secret: :func:`write_secret` with
    ``force``, which also refuses to write through a symbolic link."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    if private:
        write_secret(path, raw, force=True, what="secret file")
        return
    if not path.parent.is_dir():
        raise FileAccessError(f"cannot write {path}: no directory {path.parent}")
    umask = os.umask(0)
    os.umask(umask)
    try:
        _commit(path, raw, 0o666 & ~umask, replace=True)
    except OSError as exc:
        raise FileAccessError(f"cannot write {path}: {_why(exc)}") from None


def write_secret(path: Path, data: bytes, *, force: bool = False, what: str = "key file") -> None:
    """Create the secret file ``path`` (mode 0600, never readable by others, not even while
    it is written) holding ``data``, whole or not at all.

    Without ``force`` an existing ``path`` is refused before anything is written; with it, a
    regular file is replaced atomically (a cut write or a full disk leaves the old secret
    whole). A symbolic link or anything but a regular file at ``path`` is refused either way:
    a secret is never written through a link to wherever it points. Errors are one line
    (FileAccessError) saying that nothing changed."""
    path = Path(path)
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise FileAccessError(f"cannot write {what} {path}: {_why(exc)}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise FileAccessError(
                f"{what} {path} is a symbolic link: refusing to write a secret through it"
            )
        if not stat.S_ISREG(st.st_mode):
            raise FileAccessError(f"{what} {path} exists and is not a regular file")
        if not force:
            raise FileAccessError(f"{path} exists; pass `force` to replace it", param="force")
    if not path.parent.is_dir():
        raise FileAccessError(f"cannot write {what} {path}: no directory {path.parent}")
    try:
        _commit(path, bytes(data), 0o600, replace=st is not None)
    except FileExistsError:
        raise FileAccessError(f"{path} exists; pass `force` to replace it", param="force") from None
    except OSError as exc:
        kept = "the old file is unchanged" if st is not None else "nothing was written"
        raise FileAccessError(f"cannot write {what} {path}: {_why(exc)} ({kept})") from None


# -- directories -------------------------------------------------------------------------------


def _libc_renameat2() -> object | None:
    name = ctypes.util.find_library("c")
    try:
        fn = getattr(ctypes.CDLL(name, use_errno=True), "renameat2", None)
    except OSError:
        return None
    return fn


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries in one step (Linux renameat2 RENAME_EXCHANGE); False where
    the system cannot, so the caller falls back to two renames."""
    fn = _libc_renameat2()
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)  # type: ignore[operator]
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def is_nonempty_dir(path: Path) -> bool:
    """True when ``path`` is a directory holding anything (a non-directory counts as full)."""
    path = Path(path)
    if not os.path.lexists(path):
        return False
    if path.is_symlink() or not path.is_dir():
        return True
    with os.scandir(path) as it:
        return next(it, None) is not None


def check_out_dir(path: Path, force: bool) -> None:
    """Refuse to fill an output directory that already holds something, unless ``force``."""
    path = Path(path)
    if os.path.lexists(path) and (path.is_symlink() or not path.is_dir()):
        raise FileAccessError(f"{path} exists and is not a directory")
    if not force and is_nonempty_dir(path):
        raise FileAccessError(
            f"{path} is not empty; pass `force` to replace it (or choose another directory)",
            param="force",
        )


@contextlib.contextmanager
def replace_dir(path: Path, force: bool = False) -> Iterator[Path]:
    """Yield a fresh, empty directory beside ``path`` to fill; when the block ends without an
    error it becomes ``path`` in one step (replacing what was there, which ``force`` must
    allow when it is not empty), else it is removed and ``path`` is untouched. The old
    directory is deleted after the swap. Where the system cannot swap two directories
    atomically the old one is first renamed aside (a crash between the two renames leaves
    both beside ``path``, hidden, never a half-replaced one)."""
    path = Path(path)
    check_out_dir(path, force)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(_mkdtemp(parent, f".{path.name}.new-"))
    except OSError as exc:
        raise FileAccessError(f"cannot create {path}: {_why(exc)}") from None
    try:
        yield tmp
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _mkdtemp(parent: Path, prefix: str) -> str:
    umask = os.umask(0)
    os.umask(umask)
    while True:
        tmp = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            os.mkdir(tmp, 0o777 & ~umask)
            return str(tmp)
        except FileExistsError:
            continue


def _swap_in(new: Path, path: Path) -> None:
    try:
        if not os.path.lexists(path):
            os.rename(new, path)
        elif _exchange(new, path):
            shutil.rmtree(new)  # ``new`` now names the old directory
        else:
            old = path.parent / f".{path.name}.old-{secrets.token_hex(6)}"
            os.rename(path, old)
            os.rename(new, path)
            shutil.rmtree(old)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise FileAccessError(f"cannot put the new {path} in place: {_why(exc)}") from None


# -- locks -------------------------------------------------------------------------------------


@contextlib.contextmanager
def exclusive_lock(path: Path, busy: str) -> Iterator[IO[str]]:
    """Hold an exclusive advisory lock (flock) on ``path`` (created 0600, never through a
    link) for the block; when another process holds it, raise FileAccessError(``busy``) at
    once. The lock goes with the process, so a crash never leaves it held."""
    path = Path(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise FileAccessError(f"cannot open the lock file {path}: {_why(exc)}") from None
    f = os.fdopen(fd, "r+")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FileAccessError(busy) from None
        except OSError as exc:
            raise FileAccessError(f"cannot lock {path}: {_why(exc)}") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield f
    finally:
        f.close()
