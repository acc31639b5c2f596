"""Secret files, inputs and release directories (ooc_sdk/fileio.py and its users): every case
is one line on stderr, exit status 2, no traceback, and nothing already on disk overwritten or
lost. Secrets are written through a 0600 temporary and renamed (never through a symbolic link,
never left empty by a full disk); inputs must be regular files under a size cap; ``ooc build``,
``ooc pack`` and ``ooc codegen`` refuse a non-empty OUT without --force and swap a complete one
in with it; a release holds no model; one station name runs once per machine."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import shared_model
from ooc_sdk import fileio
from ooc_sdk.build.directory import BuildDir
from ooc_sdk.cli import main
from ooc_sdk.image.keystore import SecretKeystore

MODEL = "hello_world_int8.tflite"  # the smallest shared model: builds in a second
MASTER = bytes(range(32))


def _ooc(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> str:
    """Run ``ooc ARGV``; assert exit 2 with exactly one error line; return that line."""
    code, _, err = _ooc(capsys, *argv)
    lines = [ln for ln in err.splitlines() if not ln.startswith(("[", " "))]  # build progress
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("ooc: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


def _snapshot(d: Path) -> dict[str, Any]:
    """Every entry under ``d`` (and its siblings' names): path -> (mode, bytes or link)."""
    snap: dict[str, Any] = {"siblings": sorted(p.name for p in d.parent.iterdir())}
    for p in sorted(d.rglob("*")):
        if p.is_symlink():
            snap[str(p)] = ("link", os.readlink(p))
        elif p.is_file():
            snap[str(p)] = (p.stat().st_mode, p.read_bytes())
        else:
            snap[str(p)] = (p.stat().st_mode, None)
    return snap


def _no_temporaries(d: Path) -> None:
    left = [p.name for p in d.iterdir() if p.name.startswith(".") and ".tmp" in p.name]
    assert not left, left


@pytest.fixture
def key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "dev.key"
    assert _ooc(capsys, "keygen", "-o", path, "--uid", "0102")[0] == 0
    return path


# -- writing secrets ---------------------------------------------------------------------------


def test_keygen_refuses_an_existing_file_a_link_and_a_device(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = key.read_bytes()
    assert "exists; pass --force" in _refused(capsys, "keygen", "-o", key)
    assert key.read_bytes() == before
    # a symbolic link is never written through, --force or not: its target stays as it was
    target = tmp_path / "precious.txt"
    target.write_text("not a key\n")
    link = tmp_path / "link.key"
    link.symlink_to(target)
    for extra in ([], ["--force"]):
        line = _refused(capsys, "keygen", "-o", link, *extra)
        assert "symbolic link" in line
        assert link.is_symlink() and target.read_text() == "not a key\n"
    line = _refused(capsys, "keygen", "-o", "/dev/null", "--force")
    assert "not a regular file" in line
    _no_temporaries(tmp_path)


def test_force_replaces_a_key_whole_with_a_new_inode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "master.key"
    assert _ooc(capsys, "provision", "master-key", "-o", path)[0] == 0
    old = path.read_bytes()
    ino = path.stat().st_ino
    assert "exists; pass --force" in _refused(capsys, "provision", "master-key", "-o", path)
    assert path.read_bytes() == old
    assert _ooc(capsys, "provision", "master-key", "-o", path, "--force")[0] == 0
    assert path.read_bytes() != old and len(path.read_bytes()) == len(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.stat().st_ino != ino  # renamed into place, not rewritten in place
    _no_temporaries(tmp_path)


def _disk_full(monkeypatch: pytest.MonkeyPatch, call: str) -> None:
    """Make the next secret write fail as a full disk does, at os.write or at os.fsync."""

    def full(*_args: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, call, full)


@pytest.mark.parametrize("call", ["write", "fsync"])
@pytest.mark.parametrize(
    "argv",
    [
        ["keygen", "-o", "{path}", "--force"],
        ["provision", "master-key", "-o", "{path}", "--force"],
    ],
)
def test_a_full_disk_keeps_the_old_key_and_leaves_no_empty_one(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    call: str,
    argv: list[str],
) -> None:
    path = tmp_path / "secret.key"
    fresh = [a.format(path=path) for a in argv if a != "--force"]
    # a new file: nothing at all is left behind
    with monkeypatch.context() as m:
        _disk_full(m, call)
        line = _refused(capsys, *fresh)
    assert "No space left on device" in line and "nothing was written" in line
    assert not path.exists()
    _no_temporaries(tmp_path)
    # an existing file: --force on a full disk leaves the old one whole, and a re-run works
    assert _ooc(capsys, *fresh)[0] == 0
    old = path.read_bytes()
    with monkeypatch.context() as m:
        _disk_full(m, call)
        line = _refused(capsys, *[a.format(path=path) for a in argv])
    assert "No space left on device" in line and "old file is unchanged" in line
    assert path.read_bytes() == old and path.stat().st_mode & 0o777 == 0o600
    _no_temporaries(tmp_path)


def test_write_secret_is_0600_from_the_start(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        fileio.write_secret(tmp_path / "k", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600


# -- reading inputs ----------------------------------------------------------------------------


def test_devices_fifos_and_huge_files_are_refused_as_inputs(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = shared_model(MODEL)
    out = tmp_path / "out"
    line = _refused(
        capsys, "build", model, "--sram", "64KiB", "--device-key", "/dev/null", "-o", out
    )
    assert "key file /dev/null is not a regular file" in line and "chmod" not in line
    assert not out.exists()
    line = _refused(capsys, "verify", "/dev/zero", "--device-key", key)
    assert "image /dev/zero is not a regular file" in line
    assert "not a regular file" in _refused(capsys, "dumpinfo", "/dev/zero")
    assert "not a regular file" in _refused(capsys, "audit", "wear", "--dump", "/dev/zero")
    assert "model /dev/zero is not a regular file" in _refused(capsys, "inspect", "/dev/zero")
    line = _refused(capsys, "build", model, "--sram", "64KiB", "--master-key", "/dev/zero", "-o",
                    out)  # fmt: skip
    assert "master key file /dev/zero is not a regular file" in line and not out.exists()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "not a regular file" in _refused(capsys, "dumpinfo", fifo)  # and does not block
    big = tmp_path / "big.bin"
    with big.open("wb") as f:  # sparse: takes no disk
        f.truncate(fileio.MAX_IMAGE_BYTES + 1)
    assert "larger than any image can be" in _refused(capsys, "dumpinfo", big)
    huge_key = tmp_path / "huge.key"
    with huge_key.open("wb") as f:
        f.truncate(fileio.MAX_KEY_FILE_BYTES + 1)
    huge_key.chmod(0o600)
    line = _refused(capsys, "pack", model, "--device-key", huge_key, "-o", tmp_path / "p")
    assert "larger than any key file" in line and not (tmp_path / "p").exists()


def test_the_truncated_dump_message_says_it_once(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _ooc(capsys, "build", shared_model(MODEL), "--sram", "64KiB", "--device-key", key,
                "-o", out)[0] == 0  # fmt: skip
    cut = tmp_path / "cut.bin"
    cut.write_bytes((out / "flash.bin").read_bytes()[:40_000])
    line = _refused(capsys, "audit", "wear", "--dump", cut)
    assert line.replace(str(cut), "CUT").count("truncat") == 1, line
    assert "needs 73,728 bytes, the dump holds 40,000" in line


# -- output directories ------------------------------------------------------------------------


def test_build_refuses_a_non_empty_out_and_force_swaps_a_whole_one_in(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = shared_model(MODEL)
    out = tmp_path / "release"
    common = ["build", model, "--sram", "64KiB", "--device-key", key, "-o", out]
    assert _ooc(capsys, *common)[0] == 0
    before = _snapshot(out)
    assert "release is not empty; pass --force" in _refused(capsys, *common)
    assert _snapshot(out) == before
    # a build that fails half-way with --force leaves the old release exactly as it was
    monkeypatch.setenv("OOC_INJECT_POWER_LOSS_AT", "7")
    line = _refused(capsys, *common, "--force")
    assert "power loss" in line and "left as it was" in line
    assert _snapshot(out) == before
    monkeypatch.delenv("OOC_INJECT_POWER_LOSS_AT")
    old_id = BuildDir.open(out).info.build_id
    assert _ooc(capsys, *common, "--force")[0] == 0
    assert BuildDir.open(out).info.build_id != old_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.key", "release"]
    # a file where OUT should be is refused, never replaced
    (tmp_path / "file").write_text("x")
    line = _refused(capsys, "build", model, "--sram", "64KiB", "--device-key", key, "-o",
                    tmp_path / "file", "--force")  # fmt: skip
    assert "file" in line and (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("command", ["pack", "codegen"])
def test_pack_and_codegen_refuse_a_non_empty_out(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    model = shared_model(MODEL)
    out = tmp_path / "out"
    argv: list[str | Path] = [command, model, "-o", out]
    if command == "pack":
        argv += ["--device-key", key]
    assert _ooc(capsys, *argv)[0] == 0
    before = _snapshot(out)
    assert "out is not empty; pass --force" in _refused(capsys, *argv)
    assert _snapshot(out) == before
    (out / "mine.txt").write_text("mine")
    assert _ooc(capsys, *argv, "--force")[0] == 0
    assert not (out / "mine.txt").exists()  # --force replaces the directory whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.key", "out"]


def test_a_release_holds_no_model_and_the_tools_find_it_by_hash(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    master = tmp_path / "master.key"
    SecretKeystore(MASTER).write(master)
    model = tmp_path / "m.tflite"
    model.write_bytes(shared_model(MODEL).read_bytes())
    batch, single = tmp_path / "batch", tmp_path / "single"
    assert (
        _ooc(capsys, "build", model, "--sram", "64KiB", "--master-key", master, "-o", batch)[0] == 0
    )
    assert (
        _ooc(capsys, "build", model, "--sram", "64KiB", "--device-key", key, "-o", single)[0] == 0
    )
    data = model.read_bytes()
    for out in (batch, single):
        assert not list(out.rglob("*.tflite"))
        weights = data[len(data) // 2 : len(data) // 2 + 64]
        for f in out.rglob("*"):
            if f.is_file() and f.suffix != ".c":  # the C tables hold no weights of a paged build
                assert weights not in f.read_bytes(), f
        rec = json.loads((out / "build.json").read_text())["model"]
        assert rec["source"] == str(model.resolve()) and "file" not in rec
    assert (batch / "batch-key.bin").stat().st_mode & 0o777 == 0o600
    assert _ooc(capsys, "run", single, "--device-key", key)[0] == 0
    # the model moved: one line naming where it was and how to give it; --model finds it
    moved = tmp_path / "moved.tflite"
    model.rename(moved)
    line = _refused(capsys, "run", single, "--device-key", key)
    assert "is not at" in line and "--model" in line
    assert _ooc(capsys, "run", single, "--device-key", key, "--model", moved)[0] == 0
    other = shared_model("kws_ref_model.tflite")
    line = _refused(capsys, "run", single, "--device-key", key, "--model", other)
    assert "not the model this build was made from" in line


# -- one station name per machine --------------------------------------------------------------

_HOLD = """
import sys
from pathlib import Path
from ooc_sdk.provisioning.station import station_lock
with station_lock(Path(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_station_name_already_running_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    master = tmp_path / "master.key"
    SecretKeystore(MASTER).write(master)
    batch = tmp_path / "batch"
    assert _ooc(capsys, "build", shared_model(MODEL), "--sram", "64KiB", "--master-key", master,
                "-o", batch)[0] == 0  # fmt: skip
    reg = tmp_path / "reg.sqlite"

    def provision(station: str, out: str) -> list[str | Path]:
        return ["provision", "run", "--image", batch, "--programmer", "file", "--count", "1",
                "--master-key", master, "--registry", reg, "--station", station, "--out",
                tmp_path / out]  # fmt: skip

    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(reg), "line/1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        line = _refused(capsys, *provision("line/1", "a"))
        assert "station 'line/1' is already running on this machine" in line
        assert not (tmp_path / "a").exists() and not reg.exists()  # nothing was done
        # another station name runs meanwhile
        assert _ooc(capsys, *provision("line/2", "b"))[0] == 0
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    # the lock went with its process: the name runs again, and twice in a row in one process
    assert _ooc(capsys, *provision("line/1", "a"))[0] == 0
    assert _ooc(capsys, *provision("line/1", "a"))[0] == 0
    # a registry that is a device is refused before a lock file is made beside it
    argv = provision("line/1", "c")
    argv[argv.index(reg)] = "/dev/null"
    assert "registry /dev/null is not a regular file" in _refused(capsys, *argv)
