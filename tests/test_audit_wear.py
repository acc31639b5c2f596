"""``ooc audit wear`` (ooc_sdk/audit/wear.py, ooc_sdk/audit/dump.py, ooc_sdk/audit/ring.py): flash
wear of a build and of a device's flash dump.

- The lifetime model and the scratch-size proposal are checked with synthetic numbers worked by
  hand (no build spills yet, so a real build only exercises the zero-erase case).
- A real kws build is audited: predicted (plan) and measured (host NOR emulator) traffic agree,
  and a build that never erases reports null lifetimes with the plain statement.
- The dump audit reads a real spill ring: the C driver of tests/test_spill.py (tests/c/
  test_spill.c, compiled here without sanitizers) runs 1,000 inferences of its spilling pattern
  on the emulated chip and writes its 8 x 4 KiB scratch partition; those bytes, exactly as the C
  ring left them, are copied into the scratch partition of the kws build's flash.bin (same
  geometry), and the audit's erase counts must equal the ring's and the emulator's. Damaged
  headers are made by flipping bytes of that dump; truncated and foreign dumps are cut or random.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ooc_sdk.audit.dump import audit_dump
from ooc_sdk.audit.ring import make_sector_header, read_ring
from ooc_sdk.audit.wear import (
    NO_WEAR,
    SECONDS_PER_YEAR,
    lifetime_years,
    lifetimes,
    parse_endurance,
    parse_rate,
    propose_scratch,
)
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.build.directory import BuildDir
from ooc_sdk.cli import main
from ooc_sdk.errors import ImageError, InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.image.keys import generate, write_key_file
from ooc_sdk.image.reader import parse_image
from ooc_sdk.model import load_model
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.targets import load_flash, load_mcu
from ooc_sdk.toolchain import WARNINGS

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ROOT, SUPPORTED_SHARED, shared_model, spill_ring_sources

FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
Y = SECONDS_PER_YEAR
RING_INFERENCES = 1000


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- the model, with synthetic numbers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "per_s"),
    [("1/s", 1.0), ("10/min", 1 / 6), ("2/h", 2 / 3600), ("5/day", 5 / 86400), ("0.5", 0.5),
     ("3 / s", 3.0), ("1e3/ms", 1e6)],
)  # fmt: skip
def test_rate_forms(text: str, per_s: float) -> None:
    assert parse_rate(text) == pytest.approx(per_s, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "cycles"), [("100k", 100_000), ("1e5", 100_000), ("100000", 100_000), ("1M", 10**6),
                         ("10K", 10_000), ("100_000", 100_000), ("2.5k", 2500)],
)  # fmt: skip
def test_endurance_forms(text: str, cycles: int) -> None:
    assert parse_endurance(text) == cycles


@pytest.mark.parametrize("bad", ["", "fast", "1/week", "-1/s", "0", "1/s/s"])
def test_bad_rates(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="`rate`") as err:
        parse_rate(bad)
    assert err.value.params == ("rate",)


@pytest.mark.parametrize("bad", ["", "lots", "0", "0.5", "1.5e0", "-5k", "1G"])
def test_bad_endurance(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="`endurance`"):
        parse_endurance(bad)


def test_lifetime_math() -> None:
    # docs/spill.md's pattern: 4/3 erases per inference on 8 sectors, 1 inference/s, 100k cycles.
    # Levelled: each sector 1/6 erase per inference -> 600,000 s. Fixed layout: 4/3 per
    # inference on one sector -> 75,000 s.
    e = 4 / 3
    assert lifetime_years(e, 4278, 8, 1.0, 100_000) == pytest.approx(600_000 / Y, rel=1e-12)
    assert lifetime_years(e, 4278, 8, 1.0, 100_000, levelled=False) == pytest.approx(75_000 / Y)
    # ten times the rate, a tenth of the life; twice the sectors, twice the life
    assert lifetime_years(e, 4278, 8, 10.0, 100_000) == pytest.approx(60_000 / Y)
    assert lifetime_years(e, 4278, 16, 1.0, 100_000) == pytest.approx(1_200_000 / Y)
    # less than one erase per inference levelled; a fixed layout still erases every inference
    assert lifetime_years(0.25, 900, 8, 1.0, 1000) == pytest.approx(32_000 / Y)
    assert lifetime_years(0.25, 900, 8, 1.0, 1000, levelled=False) == pytest.approx(1000 / Y)
    # no erases: wear does not limit the life (None, never a number)
    assert lifetime_years(0, 0, 8, 1.0, 100_000) is None
    assert lifetime_years(0, 0, 8, 1.0, 100_000, levelled=False) is None
    # programs but no erases yet (the ring fills its first sector): the ring is unlimited so far,
    # a fixed layout would erase before each reprogram
    assert lifetime_years(0, 512, 8, 1.0, 100) is None
    assert lifetime_years(0, 512, 8, 2.0, 100, levelled=False) == pytest.approx(50 / Y)
    lt = lifetimes(2.0, 8000, scratch_sectors=8, free_sectors=24, rate_per_s=1.0, endurance=1000)
    assert lt["lifetime_years"] == lt["lifetime_years_whole_flash"] == pytest.approx(4000 / Y)
    assert lt["lifetime_years_without_wear_leveling"] == pytest.approx(500 / Y)
    assert lt["lifetime_years_levelled_over_free_flash"] == pytest.approx(16_000 / Y)
    assert lt["worst_sector_erases_per_inference"] == 0.25
    with pytest.raises(InvalidArgumentError):
        lifetime_years(1, 100, 0, 1.0, 1000)


def test_target_years_proposal() -> None:
    # 4/3 erases per inference, one inference a minute, 100k cycles, 10 years:
    # 4/3 / 60 * 31,557,600 * 10 / 100,000 = 70.128 -> 71 sectors
    p = propose_scratch(4 / 3, 1 / 60, 100_000, 10, sector_bytes=4096, current_sectors=8,
                        available_sectors=4081)  # fmt: skip
    assert p["reachable"] and p["scratch_sectors_needed"] == 71
    assert p["scratch_bytes_needed"] == 71 * 4096 and p["max_rate_per_s"] is None
    assert (
        lifetime_years(4 / 3, 1, 71, 1 / 60, 100_000)
        >= 10
        > lifetime_years(4 / 3, 1, 70, 1 / 60, 100_000)
    )
    assert "71 scratch sectors" in p["statement"]
    # a tiny need still gets the ring's minimum of 2 sectors
    small = propose_scratch(0.01, 1 / 3600, 100_000, 1, sector_bytes=4096, current_sectors=8,
                            available_sectors=100)  # fmt: skip
    assert small["scratch_sectors_needed"] == 2
    # more sectors than the chip has: say so, and give the highest rate that lasts
    bad = propose_scratch(2, 10, 100_000, 10, sector_bytes=4096, current_sectors=8,
                          available_sectors=100)  # fmt: skip
    assert not bad["reachable"] and bad["scratch_sectors_needed"] == math.ceil(
        2 * 10 * Y * 10 / 1e5
    )
    assert bad["max_rate_per_s"] == pytest.approx(1e5 * 100 / (2 * Y * 10))
    assert lifetime_years(2, 1, 100, bad["max_rate_per_s"], 100_000) == pytest.approx(10)
    assert "more than the 100" in bad["statement"] and "highest rate" in bad["statement"]
    none = propose_scratch(0, 1, 100_000, 10, sector_bytes=4096, current_sectors=8,
                           available_sectors=100)  # fmt: skip
    assert none["reachable"] and none["scratch_sectors_needed"] is None
    assert none["statement"].startswith(NO_WEAR)


def test_ring_reader_recovery_rules() -> None:
    sector = 256
    blank = b"\xff" * sector

    def sec(head: bytes) -> bytes:
        return head + b"\xff" * (sector - len(head))

    # sector 1 lost its header to a cut erase; sector 0's slot carries its old count (6)
    raw = (
        sec(make_sector_header(5, 7, 3, next_count=6))
        + sec(b"\xff" * 32 + b"\x00")  # half-erased: no header, not blank
        + blank
        + sec(make_sector_header(9, 6, 2, next_count=4)[:24] + b"\x01\x02\x03\x04\x05\x06\x07\x08")
    )
    r = read_ring(raw, sector)
    s = r["sectors"]
    assert [x["state"] for x in s] == ["ring", "damaged", "erased", "ring"]
    assert s[1]["erase_count"] == 7 and s[1]["count_known"] and "cut" in s[1]["count_from"]
    assert s[2]["erase_count"] == 0 and s[2]["count_known"]
    assert s[3]["next_count_slot"] == "torn" and s[3]["erase_count"] == 9
    assert r["head"] == 0 and r["highest_boot"] == 3 and r["damaged_sectors"] == 1
    # a bad CRC is damage, with no count from it
    bad = bytearray(sec(make_sector_header(5, 1, 1)))
    bad[8] ^= 1
    one = read_ring(bytes(bad) + blank, sector)["sectors"][0]
    assert one["state"] == "damaged" and "CRC" in one["reason"] and not one["count_known"]


# -- a real build, and a real ring in its flash ---------------------------------------------------


@pytest.fixture(scope="module")
def kws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("wear")
    device = generate(bytes.fromhex("00c0ffee" * 4), 32)
    key = root / "dev.key"
    write_key_file(key, device)
    path = shared_model("kws_ref_model.tflite")
    out = root / "kws"
    build(
        load_model(path),
        path.read_bytes(),
        out,
        device,
        BuildRequest(PlanRequest(budget=64 * 1024, flash=FLASH, mcu=M4)),
    )
    return {"root": root, "out": out, "key": key, "info": BuildDir.open(out).info}


@pytest.fixture(scope="module")
def ring_dump(kws: dict[str, Any]) -> dict[str, Any]:
    """kws's flash.bin with the C ring's scratch partition after 1,000 spilling inferences."""
    root = kws["root"]
    exe = root / "test_spill"
    ring = spill_ring_sources()
    host = ROOT / "c_runtime" / "ports" / "host"
    cmd = ["cc", *WARNINGS, "-O1", f"-I{ROOT / 'c_runtime' / 'include'}", f"-I{host}"]
    cmd += [str(ROOT / "tests" / "c" / "test_spill.c"), *map(str, ring)]
    cmd += [str(host / "ooc_nor_emu.c"), "-lm", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    scratch = root / "scratch.bin"
    proc = subprocess.run(
        [str(exe), "wear", "cmac", str(RING_INFERENCES), str(scratch)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    c = json.loads(proc.stdout)
    assert c["failed"] == 0 and c["ring_erase_counts"] == c["emulator_erase_counts"]
    flash = bytearray((kws["out"] / "flash.bin").read_bytes())
    image = parse_image(bytes(flash[kws["info"].flash_offset :]))
    off, length = image.partition(fmt.PART_SCRATCH)
    ring = scratch.read_bytes()
    assert (c["sector"], c["n_sectors"] * c["sector"]) == (FLASH.sector_bytes, length)
    assert flash[off : off + length] == b"\xff" * length  # the packer leaves it erased
    flash[off : off + length] = ring
    dump = root / "device.bin"
    dump.write_bytes(bytes(flash))
    return {"path": dump, "c": c, "scratch_offset": off, "data": bytes(flash)}


def test_build_audit_predicted_equals_measured(
    kws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    before = (kws["out"] / "flash.bin").read_bytes()
    png = kws["root"] / "build.png"
    code, out, err = cli(
        capsys, "audit", "wear", str(kws["out"]), "--device-key", str(kws["key"]), "--rate",
        "10/min", "--endurance", "100k", "--inferences", "5", "--target-years", "10", "--json",
        "--plot", str(png),
    )  # fmt: skip
    assert code == 0, err
    r = json.loads(out)
    plan = json.loads((kws["out"] / "plan.json").read_text())
    for side in ("predicted", "measured"):
        for key in (
            "read_bytes_per_inference",
            "program_bytes_per_inference",
            "erases_per_inference",
        ):
            assert key in r[side]
    assert r["predicted"]["read_bytes_per_inference"] == plan["flash_read_bytes_per_inference"]
    assert r["measured"]["read_bytes_per_inference"] == plan["flash_read_bytes_per_inference"]
    assert r["measured"]["program_bytes_per_inference"] == 0
    assert r["measured"]["erases_per_inference"] == 0
    assert r["agree"] and all(r["agreement"].values())
    run = r["measured"]["run"]
    assert run["sidecar"] and run["erase_ops"] == run["bytes_programmed"] == 0
    assert run["flash_bytes_changed"] == 0 and r["measured"]["invokes"] == 6
    # the truth about a build that never erases: no lifetime number at all
    assert r["lifetime_years"] is None and r["lifetime_years_without_wear_leveling"] is None
    assert r["statement"] == NO_WEAR and r["target"]["scratch_sectors_needed"] is None
    assert r["rate_per_s"] == pytest.approx(1 / 6) and r["endurance_cycles"] == 100_000
    assert r["layout"]["scratch_sectors"] == 8 and r["layout"]["sector_bytes"] == 4096
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (kws["out"] / "flash.bin").read_bytes() == before  # audited on a copy
    code, text, err = cli(capsys, "audit", "wear", str(kws["out"]), "--device-key",
                          str(kws["key"]), "--inferences", "2")  # fmt: skip
    assert code == 0 and NO_WEAR in text and "agree" in text
    # without a key the build cannot run: one clear line, exit 2
    code, _, err = cli(capsys, "audit", "wear", str(kws["out"]))
    assert code == 2 and "--device-key" in err and len(err.strip().splitlines()) == 1


def test_dump_of_a_real_ring(ring_dump: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    c = ring_dump["c"]
    png = ring_dump["path"].parent / "dump.png"
    code, out, err = cli(capsys, "audit", "wear", "--dump", str(ring_dump["path"]), "--json",
                         "--plot", str(png))  # fmt: skip
    assert code == 0, err
    r = json.loads(out)
    # the dump alone gives the ring's (and the emulator's) erase counts exactly
    assert r["erase_counts"] == c["ring_erase_counts"] == c["emulator_erase_counts"]
    assert sum(r["erase_counts"]) == c["total_erases"]
    assert r["max_erases"] == max(c["ring_erase_counts"]) == 167
    assert r["worst_sector"] == c["ring_erase_counts"].index(167)
    assert r["mean_erases"] == pytest.approx(c["total_erases"] / 8)
    assert r["lifetime_used"] == pytest.approx(167 / FLASH.endurance_cycles)
    assert r["endurance_cycles"] == 100_000 and r["flash"] == "w25q128jv"
    assert r["damaged_sectors"] == [] and r["erased_sectors"] == [] and r["highest_boot"] == 1
    assert all(s["state"] == "ring" for s in r["sectors"])
    # the littlefs metadata partition names the image's model and build
    meta = r["metadata"]
    assert meta["error"] is None and "manifest.json" in meta["files"]
    assert meta["model"] == "kws_ref_model" == r["image"]["model"]
    assert meta["build_id"] == r["image"]["build_id"] and r["metadata_matches_image"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, text, _ = cli(capsys, "audit", "wear", "--dump", str(ring_dump["path"]), "--endurance",
                        "1k")  # fmt: skip
    assert code == 0 and "16.7% of its endurance used" in text


def test_dump_with_damaged_headers(ring_dump: dict[str, Any], tmp_path: Path) -> None:
    data = bytearray(ring_dump["data"])
    off, sector = ring_dump["scratch_offset"], FLASH.sector_bytes
    counts = ring_dump["c"]["ring_erase_counts"]
    r0 = audit_dump(ring_dump["path"])
    head = r0["head_sector"]
    victim = (head + 3) % 8  # not the head: its predecessor's slot holds its old count
    data[off + victim * sector + 9] ^= 0x10  # erase_count byte: the CRC no longer matches
    other = (head + 5) % 8
    data[off + other * sector : off + other * sector + 32] = b"\xff" * 32  # header gone
    path = tmp_path / "damaged.bin"
    path.write_bytes(bytes(data))
    r = audit_dump(path)
    assert r["damaged_sectors"] == sorted([victim, other])
    s = r["sectors"]
    assert "CRC" in s[victim]["reason"] and "not erased" in s[other]["reason"]
    # the ring's recovery rule: the count comes back from the previous sector's slot
    assert s[victim]["erase_count"] == counts[victim] and s[victim]["count_known"]
    assert s[other]["erase_count"] == counts[other] and "slot" in s[other]["count_from"]


def test_fresh_build_has_an_erased_scratch(kws: dict[str, Any]) -> None:
    r = audit_dump(kws["out"] / "flash.bin")
    assert r["erased_sectors"] == list(range(8)) and r["max_erases"] == 0
    assert r["lifetime_used"] == 0 and r["head_sector"] is None


def test_truncated_and_foreign_dumps(
    ring_dump: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ring_dump["data"]
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[: ring_dump["scratch_offset"] + 4096])
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(os.urandom(256 * 1024))
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    tiny = tmp_path / "tiny.bin"
    tiny.write_bytes(data[:100])
    for path, words in (
        (cut, "truncated"),
        (foreign, "no image superblock"),
        (empty, "empty"),
        (tiny, "superblock"),
    ):
        code, out, err = cli(capsys, "audit", "wear", "--dump", str(path))
        assert code == 2 and out == "", (path, err)
        assert err.startswith("ooc: error:") and words in err and len(err.splitlines()) == 1, err
    code, _, err = cli(capsys, "audit", "wear", "--dump", str(ring_dump["path"]),
                       "--image-offset", "4096")  # fmt: skip
    assert code == 2 and "no ooc image superblock" in err
    with pytest.raises(ImageError, match="truncated"):
        audit_dump(cut)
    code, _, err = cli(capsys, "audit", "wear")
    assert code == 2 and "either BUILD_DIR or --dump" in err


def test_dump_of_the_image_range_only(ring_dump: dict[str, Any], tmp_path: Path) -> None:
    # a dump of just the image (what a programmer reads back of the used range) works too
    image = parse_image(ring_dump["data"])
    short = tmp_path / "image_only.bin"
    short.write_bytes(ring_dump["data"][: image.superblock["image_bytes"]])
    r = audit_dump(short, flash="w25q128jv")
    assert r["erase_counts"] == ring_dump["c"]["ring_erase_counts"]
    assert r["dump_bytes"] == image.superblock["image_bytes"] < FLASH.size_bytes


def _two_budgets(graph: Any) -> list[int]:
    """The smallest budget the per-layer planner meets, and 25% more."""
    from ooc_sdk.plan.planner import plan
    from ooc_sdk.plan.schedule import BudgetError

    try:
        plan(graph, PlanRequest(budget=1024, flash=FLASH, mcu=M4))
        least = 1024
    except BudgetError as exc:
        assert exc.minimum is not None
        least = exc.minimum
    return [least, least + least // 4]


@pytest.mark.parametrize("name", SUPPORTED_SHARED)
def test_predicted_traffic_equals_the_emulator_for_every_model_at_two_budgets(
    name: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from ooc_sdk.audit.wear import audit_build

    path = shared_model(name)
    graph = load_model(path)
    device = generate(bytes.fromhex("0a0d17ed" * 4), 32)
    for budget in _two_budgets(graph):
        out = tmp_path / str(budget)
        build(
            graph,
            path.read_bytes(),
            out,
            device,
            BuildRequest(PlanRequest(budget=budget, flash=FLASH, mcu=M4)),
        )
        r = audit_build(out, device, inferences=2)
        keys = ("read_bytes_per_inference", "program_bytes_per_inference", "erases_per_inference")
        assert r["agree"] is True, (name, budget, r["agreement"])
        for k in keys:
            assert r["predicted"][k] == r["measured"][k], (name, budget, k)
        assert r["predicted"]["read_bytes_per_inference"] > 0


def test_spilling_build_audit_predicts_the_ring_exactly(tmp_path: Path) -> None:
    """ResNet-8 at 12 KiB spills activations: the audit predicts the measured inference's flash
    traffic exactly from the ring's write position (reads with the spill read-back and the
    sector headers; page programs; erases), and the whole run's erases and bytes programmed
    with the mount's own boot record; the lifetime is finite and uses the ring's cycle average;
    the proposal for 10 years is honest about what the chip can give."""

    from ooc_sdk.audit.wear import audit_build

    path = shared_model("pretrainedResnet_quant.tflite")
    graph = load_model(path)
    device = generate(bytes.fromhex("5b111ed0" * 4), 32)
    out = tmp_path / "out"
    p = build(
        graph,
        path.read_bytes(),
        out,
        device,
        BuildRequest(PlanRequest(budget=12 * 1024, flash=FLASH, mcu=M4, fuse=True)),
    ).plan
    assert p.spill is not None
    r = audit_build(out, device, inferences=4, target_years=10)
    assert r["agree"] is True, r["agreement"]
    assert set(r["agreement"]) >= {"page_programs_per_inference", "run_erases",
                                   "run_programmed_bytes"}  # fmt: skip
    pr, me = r["predicted"], r["measured"]
    for k in ("read_bytes_per_inference", "read_commands_per_inference",
              "program_bytes_per_inference", "page_programs_per_inference",
              "erases_per_inference"):  # fmt: skip
        assert pr[k] == me[k], k
    assert me["program_bytes_per_inference"] > 0 and me["erases_per_inference"] > 0
    assert pr["read_bytes_per_inference"] > p.flash_read_bytes_per_inference  # the read-back
    assert pr["cycle_average"]["erases_per_inference"] == pytest.approx(p.spill.erases, rel=1e-3)
    run = me["run"]
    assert (
        run["erase_ops"] > 4 * me["erases_per_inference"] - 4 and run["erases_outside_scratch"] == 0
    )
    # 8 scratch sectors at ~3.7 erases per inference wear out in days at 1 Hz; without levelling
    # (every erase on one sector) 8x sooner
    assert 0 < r["lifetime_years"] < 0.05
    assert r["lifetime_years_without_wear_leveling"] < r["lifetime_years"]
    t = r["target"]
    assert t["reachable"] is False
    assert t["scratch_sectors_needed"] > t["available_sectors"] > r["layout"]["scratch_sectors"]
    assert 0 < t["max_rate_per_s"] < 1
