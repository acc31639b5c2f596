"""Fault campaigns on a spilling build: the whole runtime on the NOR emulator, driven by
c_runtime/ports/host/ooc_spill_campaign_main.c (see its header for what each mode does).

- ``endurance``: many inferences over several boots; the emulator's bytes programmed, page
  programs and erases per inference, each boot's ring position after its mount, the scratch
  sectors' erase counts, and a log of every counter block the spill key encrypted with.
- ``tamper``: bit flips and replays of older records put on the flash between a spill's write
  and its read-back.
- ``powercut``: power cut at every program and erase of one inference, then a reboot and the
  next inference.

The campaign runs on a copy of the build's flash file: the build stays as it was. Tests and
benchmarks use it (tests/test_spill_campaign.py, benchmarks/bench_spill.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ooc_sdk.build.directory import BuildDir
from ooc_sdk.build.flash import HOST
from ooc_sdk.errors import ToolError
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.model.inputs import check_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.run.host import build_host_program
from ooc_sdk.toolchain import RELEASE, WARNINGS

CAMPAIGN = HOST / "ooc_spill_campaign_main.c"
WRAPS = "-Wl,--wrap=ooc_aes_ctr,--wrap=ooc_spill_write"


@dataclass
class Endurance:
    report: dict[str, Any]
    counters: np.ndarray  # (inferences, 3): bytes programmed, page programs, erases
    nonces: np.ndarray  # (entries,) of NONCE_DTYPE: each counter block encrypted from, and bytes


# A counter block is u32le(boot) || u64le(seq) || u32be(block); then the bytes it started.
NONCE_DTYPE = np.dtype([("boot", "<u4"), ("seq", "<u8"), ("block", ">u4"), ("bytes", "<u4")])


def build_campaign(bd: BuildDir) -> Path:
    """Compile the build's C tables with the runtime, the NOR emulator and the campaign."""
    return build_host_program(bd, CAMPAIGN, WARNINGS + RELEASE, (WRAPS,), "the spill campaign")


def _run(
    out_dir: Path,
    graph: Graph,
    device: DeviceKey,
    sample: list[np.ndarray],
    expected: list[np.ndarray],
    mode: list[str],
    tmp: Path,
) -> dict[str, Any]:
    bd = BuildDir.open(out_dir)
    bd.check_for(graph, device)
    check_inputs(graph, sample)
    binary = build_campaign(bd)
    flash = tmp / "flash.bin"
    shutil.copyfile(bd.flash_file(), flash)
    (tmp / "sample.bin").write_bytes(b"".join(np.ascontiguousarray(a).tobytes() for a in sample))
    (tmp / "ref.bin").write_bytes(b"".join(np.ascontiguousarray(a).tobytes() for a in expected))
    geo = bd.info.flash
    args = [str(binary), str(flash), str(tmp / "sample.bin"), str(tmp / "ref.bin"), *mode,
            f"size={geo.size_bytes}", f"page={geo.page_bytes}",
            f"sector={geo.sector_bytes}", f"base={bd.info.flash_offset}"]  # fmt: skip
    secret = f"{device.uid.hex()} {device.root_key.hex()}\n"
    proc = subprocess.run(args, input=secret, capture_output=True, text=True, check=False)
    del secret
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise ToolError(f"the spill campaign failed: {msg}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def endurance(
    out_dir: Path,
    graph: Graph,
    device: DeviceKey,
    sample: list[np.ndarray],
    expected: list[np.ndarray],
    inferences: int,
    boots: int,
) -> Endurance:
    """``inferences`` inferences of ``sample`` over ``boots`` mounts, each checked against
    ``expected``."""
    with tempfile.TemporaryDirectory(prefix="ooc-campaign-") as t:
        tmp = Path(t)
        counters, nonces = tmp / "counters.bin", tmp / "nonces.bin"
        mode = ["endurance", str(inferences), str(boots), str(counters), str(nonces)]
        report = _run(out_dir, graph, device, sample, expected, mode, tmp)
        c = np.fromfile(counters, dtype="<u4").reshape(-1, 3)
        n = np.fromfile(nonces, dtype=NONCE_DTYPE)
    return Endurance(report, c, n)


def tamper(
    out_dir: Path,
    graph: Graph,
    device: DeviceKey,
    sample: list[np.ndarray],
    expected: list[np.ndarray],
    flips: int,
    replays: int,
    seed: int = 1,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ooc-campaign-") as t:
        mode = ["tamper", str(flips), str(replays), str(seed)]
        return _run(out_dir, graph, device, sample, expected, mode, Path(t))


def powercut(
    out_dir: Path,
    graph: Graph,
    device: DeviceKey,
    sample: list[np.ndarray],
    expected: list[np.ndarray],
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ooc-campaign-") as t:
        return _run(out_dir, graph, device, sample, expected, ["powercut"], Path(t))


def overlapping_keystream(nonces: np.ndarray) -> int:
    """How many logged encryptions start inside a keystream range that another encryption of
    the same (boot, seq) already covered: 0 when no (key, counter block) pair was used twice
    (the keys differ by boot; the blocks by seq and block number)."""
    if len(nonces) == 0:
        return 0
    s = nonces[np.lexsort((nonces["block"], nonces["seq"], nonces["boot"]))]
    new_group = np.ones(len(s), dtype=bool)
    new_group[1:] = (s["boot"][1:] != s["boot"][:-1]) | (s["seq"][1:] != s["seq"][:-1])
    group = np.cumsum(new_group).astype(np.int64) << 36  # blocks and ends are below 2**33
    start = group + s["block"].astype(np.int64)
    end = start + (s["bytes"].astype(np.int64) + 15) // 16
    covered = np.maximum.accumulate(end)  # the furthest block any earlier entry reached
    return int(np.count_nonzero(~new_group[1:] & (start[1:] < covered[:-1])))
