"""``ooc audit energy`` (ooc_sdk/audit/energy.py): the energy per inference of a build from
instructions counted under QEMU and the plan's flash traffic, costed with sourced profile values.
The checks recompute each part from the counts and the profile figures, so a change in the model
shows up as a failure here, not as a quietly different number."""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ooc_sdk.audit.energy import PARTS, energy_report, measure
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.build.directory import BuildDir
from ooc_sdk.cli import main
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.image.keys import generate, write_key_file
from ooc_sdk.model import load_model
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import RUNTIME_STATE_BYTES, STACK_BOUND_BYTES
from ooc_sdk.targets import load_flash, load_mcu

sys.path.insert(0, str(Path(__file__).parent))
from conftest import shared_model

FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
REL = 1e-12  # float rounding only


@pytest.fixture(scope="module")
def kws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """kws at 64 KiB, its QEMU reports (out-of-core and in-core) and the audit of them."""
    root = tmp_path_factory.mktemp("audit")
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
    plan = json.loads((out / "plan.json").read_text())
    ooc, incore = measure(out, device)
    assert incore is not None
    report = energy_report(
        plan,
        ooc,
        incore,
        M4,
        FLASH,
        built_for=(BuildDir.open(out).info.mcu, BuildDir.open(out).info.flash_profile),
    )
    return {"out": out, "key": key, "plan": plan, "ooc": ooc, "incore": incore, "report": report}


def test_parts_add_up_and_follow_from_the_counts(kws: dict[str, Any]) -> None:
    r, ooc, plan = kws["report"], kws["ooc"], kws["plan"]
    e = r["energy_uj_per_inference"]
    assert e["total"] == pytest.approx(sum(e[p] for p in PARTS), rel=REL)
    # compute and crypto: QEMU's instructions x the profile's CPI x its pJ per cycle
    assert M4.cycles_per_instruction == 1.3 and M4.energy_per_cycle_pj == 265.0
    pj = M4.cycles_per_instruction * M4.energy_per_cycle_pj
    compute = ooc["instructions"] - ooc["crypto_instructions"]
    assert e["compute"] == pytest.approx(compute * pj * 1e-6, rel=REL)
    assert e["crypto"] == pytest.approx(ooc["crypto_instructions"] * pj * 1e-6, rel=REL)
    assert r["counts"]["compute_instructions"] == compute > 0
    # flash read: the plan's bytes and commands x the energy derived from the flash profile
    watts = FLASH.supply_v * FLASH.read_current_ma * 1e-3
    nj_byte, nj_cmd = watts / FLASH.read_bytes_per_s * 1e9, watts * FLASH.read_command_s * 1e9
    assert nj_byte == pytest.approx(1.0)  # 3.3 V x 20 mA / 66 MB/s
    read = plan["flash_read_bytes_per_inference"] * nj_byte + (
        plan["flash_read_commands_per_inference"] * nj_cmd
    )
    assert e["flash_read"] == pytest.approx(read * 1e-3, rel=REL)
    assert r["counts"]["flash_read_bytes"] == ooc["flash_read_bytes"] == 25_648
    # no spills: nothing programmed or erased; waiting and standby are small but counted
    assert e["flash_program"] == e["flash_erase"] == 0.0
    assert 0 < e["mcu_wait"] < e["flash_read"] and 0 < e["flash_standby"] < e["flash_read"]
    # the MCU waits for the reads the single slot cannot hide: nearly all of them (the pager
    # starts a read once the last reading step computed, so only the steps that read nothing
    # between two reading steps hide part of one; pager.c, ooc_pager_leave)
    assert plan["slots"] == 1
    read_s = r["time_s"]["flash_read"]
    assert 0.9 * read_s < r["time_s"]["mcu_wait"] <= read_s * (1 + 1e-9)
    assert e["mcu_wait"] == pytest.approx(
        r["time_s"]["mcu_wait"] * M4.clock_hz * M4.energy_per_cycle_pj * 1e-6, rel=REL
    )
    # the latency: every instruction at the CPI, plus the wait
    cpu = ooc["instructions"] * 1.3 / M4.clock_hz
    assert r["time_s"]["latency"] == pytest.approx(cpu + r["time_s"]["mcu_wait"], rel=1e-9)
    # crypto dominates the cost of going out of core on an M4 without an AES engine
    # (Poly1305, the M4's default tag, and CTR at 33.6 instructions per byte: still ~10x)
    assert e["crypto"] > 5 * (e["flash_read"] + e["mcu_wait"] + e["flash_standby"])


def test_per_layer_sums_equal_the_totals(kws: dict[str, Any]) -> None:
    r, ooc, plan = kws["report"], kws["ooc"], kws["plan"]
    rows = r["per_layer"]
    assert [row["op"] for row in rows] == [layer["op"] for layer in ooc["layers"]]
    for p in (*PARTS, "total"):
        assert r["unattributed"][p] == 0.0
        got = sum(row[p] for row in rows)
        assert got == pytest.approx(r["energy_uj_per_inference"][p], rel=1e-9, abs=1e-9), p
    assert sum(row["flash_read_bytes"] for row in rows) == plan["flash_read_bytes_per_inference"]
    assert sum(row["instructions"] for row in rows) == pytest.approx(
        r["counts"]["compute_instructions"], abs=len(rows)
    )
    # each layer's compute follows its measured instructions (plus its share of the runtime's
    # work between layers); layers without weights read nothing and decrypt nothing
    share = r["counts"]["compute_instructions"] / sum(x["instructions"] for x in ooc["layers"])
    pj = 1.3 * 265.0
    for row, layer in zip(rows, ooc["layers"], strict=True):
        assert row["compute"] == pytest.approx(layer["instructions"] * share * pj * 1e-6, rel=1e-9)
        if row["flash_read_bytes"] == 0:
            assert row["crypto"] == row["flash_read"] == 0.0
            # (its wait is a difference of two times: zero up to float rounding)
            assert row["mcu_wait"] == pytest.approx(0.0, abs=1e-9)
    ins = r["in_sram"]
    assert sum(row["in_sram"] for row in rows) == pytest.approx(
        ins["energy_uj_per_inference"]["total"], rel=1e-9
    )


def test_in_sram_reference(kws: dict[str, Any]) -> None:
    r, incore = kws["report"], kws["incore"]
    ins = r["in_sram"]
    e = ins["energy_uj_per_inference"]
    assert (
        e["compute"]
        == e["total"]
        == pytest.approx(incore["instructions"] * 1.3 * 265.0 * 1e-6, rel=REL)
    )
    assert all(e[p] == 0.0 for p in PARTS if p != "compute")
    need = incore["arena_bytes"] + RUNTIME_STATE_BYTES + STACK_BOUND_BYTES
    assert ins["sram_need_bytes"] == need == 21_120 and ins["fits_sram"]
    assert ins["fits_internal_flash"] is True
    ratio = r["energy_uj_per_inference"]["total"] / e["total"]
    assert r["out_of_core_over_in_sram"] == pytest.approx(ratio) and 1.1 < ratio < 1.5
    # an MCU whose SRAM is too small: still the reference energy, flagged as not fitting
    small = dataclasses.replace(M4, sram_bytes=16 * 1024)
    r2 = energy_report(kws["plan"], kws["ooc"], incore, small, FLASH)
    assert r2["in_sram"]["fits_sram"] is False
    assert r2["in_sram"]["energy_uj_per_inference"] == e


def test_program_and_erase_are_costed_and_attributed(kws: dict[str, Any]) -> None:
    """Spilling plans: pages x program time and erases x erase time, x current x supply, on the
    step that carries them (the rest unattributed), and the MCU waits through them."""
    plan = copy.deepcopy(kws["plan"])
    plan["flash_program_bytes_per_inference"] = 1000  # 4 pages of 256
    plan.pop("flash_program_pages_per_inference")  # without page counts: whole pages of the bytes
    plan["erases_per_inference"] = 2
    plan["schedule"][3].update(program_bytes=512, erases=1)  # 2 pages, 1 erase on operator 3
    r = energy_report(plan, kws["ooc"], kws["incore"], M4, FLASH)
    e, base = r["energy_uj_per_inference"], kws["report"]["energy_uj_per_inference"]
    watts = FLASH.supply_v * 20e-3
    assert e["flash_program"] == pytest.approx(4 * FLASH.page_program_s * watts * 1e6, rel=REL)
    assert e["flash_erase"] == pytest.approx(2 * FLASH.sector_erase_s * watts * 1e6, rel=REL)
    busy = 4 * FLASH.page_program_s + 2 * FLASH.sector_erase_s
    run_w = M4.clock_hz * M4.energy_per_cycle_pj * 1e-12
    assert e["mcu_wait"] == pytest.approx(base["mcu_wait"] + busy * run_w * 1e6, rel=1e-9)
    assert e["total"] == pytest.approx(sum(e[p] for p in PARTS), rel=REL)
    row = r["per_layer"][3]
    assert row["flash_program"] == pytest.approx(2 * FLASH.page_program_s * watts * 1e6)
    assert row["flash_erase"] == pytest.approx(FLASH.sector_erase_s * watts * 1e6)
    assert r["unattributed"]["flash_program"] == pytest.approx(row["flash_program"])
    assert r["unattributed"]["flash_erase"] == pytest.approx(row["flash_erase"])
    for p in (*PARTS, "total"):
        got = sum(x[p] for x in r["per_layer"]) + r["unattributed"][p]
        assert got == pytest.approx(e[p], rel=1e-9), p
    # a spilling plan's page programs (the ring's cycle average, fractional) count as given
    plan["flash_program_pages_per_inference"] = 7.5
    e7 = energy_report(plan, kws["ooc"], kws["incore"], M4, FLASH)["energy_uj_per_inference"]
    assert e7["flash_program"] == pytest.approx(7.5 * FLASH.page_program_s * watts * 1e6, rel=REL)
    # a flash profile without a program current is fine until the plan programs
    no_prog = dataclasses.replace(FLASH, program_current_ma=0.0, erase_current_ma=0.0)
    energy_report(kws["plan"], kws["ooc"], None, M4, no_prog)
    with pytest.raises(InvalidArgumentError, match=r"program_current_ma; .*erase_current_ma"):
        energy_report(plan, kws["ooc"], None, M4, no_prog)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["audit", "energy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_plot_and_overrides(
    kws: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, key = str(kws["out"]), str(kws["key"])
    png = tmp_path / "energy.png"
    code, text, err = _run(capsys, out, "--device-key", key, "--json", "--plot", str(png))
    assert code == 0, err
    assert "running the build out-of-core" in err  # progress on stderr, JSON alone on stdout
    r = json.loads(text)
    for k in ("energy_uj_per_inference", "per_layer", "in_sram", "assumptions", "profiles"):
        assert k in r
    assert set(PARTS) | {"total"} == set(r["energy_uj_per_inference"])
    assert r["energy_uj_per_inference"] == kws["report"]["energy_uj_per_inference"]
    epc = r["profiles"]["mcu"]["values"]["energy_per_cycle_pj"]
    assert epc["value"] == 265.0 and "REFERENCE-NUMBERS.md" in epc["source"]
    cur = r["profiles"]["flash"]["values"]["read_current_ma"]
    assert cur["value"] == 20.0 and "verify" in cur["source"]
    assert any("cycles per instruction" in a for a in r["assumptions"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

    # a JSON override doubling the energy per cycle doubles compute and crypto, nothing else
    double = tmp_path / "m4-double.json"
    double.write_text(json.dumps({"base": "cortex-m4", "energy_per_cycle_pj": 530.0}))
    code, text, err = _run(
        capsys, out, "--device-key", key, "--mcu", str(double), "--json", "--no-in-sram"
    )
    assert code == 0, err
    r2 = json.loads(text)
    e, e2 = r["energy_uj_per_inference"], r2["energy_uj_per_inference"]
    assert e2["compute"] == pytest.approx(2 * e["compute"], rel=REL)
    assert e2["crypto"] == pytest.approx(2 * e["crypto"], rel=REL)
    assert e2["flash_read"] == e["flash_read"] and e2["flash_standby"] == e["flash_standby"]
    assert r2["in_sram"] is None and r2["out_of_core_over_in_sram"] is None
    src = r2["profiles"]["mcu"]["values"]["energy_per_cycle_pj"]["source"]
    assert "user override in m4-double.json" in src
    # --cpi scales the instructions' energy the same way, and says where the figure came from
    code, text, err = _run(capsys, out, "--device-key", key, "--cpi", "2.6", "--json")
    assert code == 0, err
    r3 = json.loads(text)
    assert r3["energy_uj_per_inference"]["compute"] == pytest.approx(2 * e["compute"], rel=REL)
    assert r3["in_sram"]["energy_uj_per_inference"]["total"] == pytest.approx(
        2 * r["in_sram"]["energy_uj_per_inference"]["total"], rel=REL
    )
    assert r3["profiles"]["cpi"] == {"value": 2.6, "source": "--cpi on the command line"}

    # the table: parts, per layer, sources, assumptions
    code, text, err = _run(capsys, out, "--device-key", key)
    assert code == 0, err
    assert "out-of-core = " in text and "per layer (uJ per inference):" in text
    assert "cortex-m4.energy_per_cycle_pj = 265: 84 uA/MHz" in text
    assert "FULLY_CONNECTED" in text and "assumptions:" in text


def test_bad_input_is_one_line_exit_2(
    kws: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, key = str(kws["out"]), str(kws["key"])
    zero = tmp_path / "m4-zero.json"
    zero.write_text(json.dumps({"base": "cortex-m4", "energy_per_cycle_pj": 0}))
    no_current = tmp_path / "w25-noread.json"
    no_current.write_text(json.dumps({"base": "w25q128jv", "read_current_ma": 0}))
    cases = [
        ((str(tmp_path), "--device-key", key), "not an ooc build directory"),
        ((out, "--device-key", key, "--mcu", "z80"), "unknown MCU profile 'z80'"),
        ((out, "--device-key", key, "--flash", "nope"), "unknown flash profile 'nope'"),
        ((out, "--device-key", key, "--mcu", "cortex-m7"), '{"base": "cortex-m7", "energy_per'),
        ((out, "--device-key", key, "--mcu", str(zero)), "m4-zero: energy_per_cycle_pj (0"),
        ((out, "--device-key", key, "--flash", str(no_current)), "w25-noread: read_current_ma"),
        ((out, "--device-key", key, "--cpi", "0"), "--cpi"),
        ((out,), "give --device-key"),
    ]
    for argv, message in cases:
        code, text, err = _run(capsys, *argv)
        assert code == 2, (argv, err)
        assert text == "" and len(err.strip().splitlines()) == 1, (argv, err)
        assert err.startswith("ooc: error: ") and message in err, (argv, err)
        assert "Traceback" not in err


def test_the_profiles_carry_every_energy_figure() -> None:
    for name in ("w25q128jv", "mx25r6435f"):
        f = load_flash(name)
        for k in ("supply_v", "read_current_ma", "program_current_ma", "erase_current_ma",
                  "standby_current_ua"):  # fmt: skip
            assert getattr(f, k) > 0 and f.sources[k], (name, k)
    for name in ("cortex-m4", "cortex-m4-aes"):
        m = load_mcu(name)
        assert m.cycles_per_instruction == 1.3 and m.energy_per_cycle_pj > 0
        assert m.internal_flash_bytes == 256 * 1024
    with pytest.raises(InvalidArgumentError, match="must not be negative"):
        dataclasses.replace(FLASH, read_current_ma=-1.0)
