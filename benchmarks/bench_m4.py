"""Cortex-M4 under QEMU: instructions per inference in-core vs out-of-core, reference vs DSP
kernels, crypto instructions per byte, code size, and the estimated latency with an AES engine.

Run: python benchmarks/bench_m4.py [--out benchmarks/results/m4.json] [--models NAME ...]

Every count comes from the firmware of `ooc run --target qemu-m4` on qemu-system-arm -M
mps2-an386 with -icount shift=0 (deterministic; resolution 40 instructions per interval).
For every supported shared model, at 64 KiB of SRAM or the smallest budget the planner accepts:

- in-core (all weights in memory-mapped flash, activations in SRAM) and out-of-core (the
  `ooc build` at that budget: weights read from the emulated external flash, verified and
  decrypted in software) runs, each with the reference and the DSP kernels, all four checked
  bit-exact against tflite-micro;
- overhead = out-of-core / in-core instructions, with and without the crypto (tag checks and
  decryption, counted apart by the firmware); the peer is the in-core run of the same model
  and kernels in the same benchmark run;
- instructions per MAC, reference vs DSP kernels (in-core), and the DSP speed-up;
- code size (text) and SRAM high-water of the out-of-core firmware;
- estimated latency with a hardware AES engine (profile cortex-m4-aes: 80 MHz, engine bytes per
  second from ST's reference manual, fed by DMA beside the CPU): the planner's latency model
  (ooc_sdk/plan/latency.py) with each step's compute taken from the measured out-of-core
  instructions (DSP kernels, crypto excluded since the engine does it) at one cycle per
  instruction -- the M4's best case, and so the hardest for the prefetch to hide -- against the
  in-core run at the same CPI. With CMAC tags the engine runs CTR and CMAC; with Poly1305 it runs
  CTR and the CPU computes Poly1305 (its measured instructions per byte, same CPI). Flash:
  W25Q128JV quad SPI.

Then the crypto bench firmware: instructions per byte of AES-128-CTR, AES-256-CTR, AES-CMAC and
Poly1305 over 16 KiB in SRAM, and CTR + tag for both tags. Prints tables and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_ooc import CONV, MODELS, SUPPORTED  # noqa: E402

from ooc_sdk.build import BuildRequest, build  # noqa: E402
from ooc_sdk.image.keys import generate  # noqa: E402
from ooc_sdk.model import load_model  # noqa: E402
from ooc_sdk.model.inputs import random_inputs  # noqa: E402
from ooc_sdk.plan.latency import Crypto, estimate  # noqa: E402
from ooc_sdk.plan.planner import plan  # noqa: E402
from ooc_sdk.plan.request import PlanRequest  # noqa: E402
from ooc_sdk.plan.schedule import BudgetError  # noqa: E402
from ooc_sdk.run.golden import run_tflm  # noqa: E402
from ooc_sdk.run.qemu import (  # noqa: E402
    PORT,
    compile_firmware,
    run_build_m4,
    run_firmware,
    run_model_m4,
)
from ooc_sdk.targets import load_flash, load_mcu  # noqa: E402

BUDGET = 64 * 1024
CPI = 1.0


def _budget(graph, flash, mcu) -> int:  # type: ignore[no-untyped-def]
    try:
        plan(graph, PlanRequest(budget=BUDGET, flash=flash, mcu=mcu))
        return BUDGET
    except BudgetError as exc:
        assert exc.minimum is not None
        return exc.minimum


def _engine_ratio(graph, budget, flash, m4, engine_mcu, ooc_rep, inc_rep) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Latency with the AES engine, out-of-core over in-core, from measured instructions."""
    p = plan(graph, PlanRequest(budget=budget, flash=flash, mcu=m4))
    steps = p.latency_steps()
    # each operator's measured compute, spread over its steps by MACs; the pager's own work
    # (everything outside the kernels and the crypto) spread by the same shares
    layers = ooc_rep["layers"]
    kernel_total = sum(layer["instructions"] for layer in layers)
    scale = ooc_rep["compute_instructions"] / kernel_total if kernel_total else 1.0
    by_op: dict[int, list[int]] = {}
    for k, s in enumerate(p.steps):
        by_op.setdefault(s.op, []).append(k)
    cycles = [0.0] * len(steps)
    for op, ks in by_op.items():
        total_macs = sum(steps[k].macs for k in ks)
        for k in ks:
            share = steps[k].macs / total_macs if total_macs else 1 / len(ks)
            cycles[k] = layers[op]["instructions"] * scale * share * CPI
    steps = [dataclasses.replace(s, compute_cycles=c) for s, c in zip(steps, cycles, strict=True)]
    in_core_s = inc_rep["instructions"] * CPI / engine_mcu.clock_hz
    out: dict[str, float] = {}
    for tag in ("cmac", "poly1305"):
        est = estimate(steps, flash, engine_mcu, Crypto(tag), slots=p.slots, dsp=True)
        out[tag] = est.seconds / in_core_s
    out["in_core_ms"] = in_core_s * 1e3
    return out


def bench_model(name: str, flash, m4, engine_mcu, device) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    path = MODELS / f"{name}.tflite"
    graph = load_model(path)
    budget = _budget(graph, flash, m4)
    x = random_inputs(graph, 0)
    ref = run_tflm(path, x).outputs
    row: dict[str, Any] = {"model": name, "budget_bytes": budget, "macs": graph.macs}
    with tempfile.TemporaryDirectory(prefix="bench-m4-") as tmp:
        out = Path(tmp) / "b"
        build(
            graph,
            path.read_bytes(),
            out,
            device,
            BuildRequest(PlanRequest(budget=budget, flash=flash, mcu=m4)),
        )
        runs = {}
        t0 = time.perf_counter()
        for k in ("ref", "dsp"):
            runs[f"in_{k}"] = run_model_m4(graph, [x], kernels=k)
            runs[f"ooc_{k}"] = run_build_m4(out, graph, device, [x], kernels=k)
        row["qemu_seconds"] = round(time.perf_counter() - t0, 1)
    row["bit_exact"] = all(
        all(a.tobytes() == b.tobytes() for a, b in zip(r.outputs[0], ref, strict=True))
        for r in runs.values()
    )
    rep = {k: v.report for k, v in runs.items()}
    for k in ("ref", "dsp"):
        i, o = rep[f"in_{k}"], rep[f"ooc_{k}"]
        row[f"in_core_{k}"] = i["instructions"]
        row[f"out_of_core_{k}"] = o["instructions"]
        row[f"crypto_{k}"] = o["crypto_instructions"]
        row[f"overhead_{k}"] = o["instructions"] / i["instructions"]
        row[f"overhead_no_crypto_{k}"] = o["compute_instructions"] / i["instructions"]
        row[f"instructions_per_mac_{k}"] = i["instructions_per_mac"]
    row["dsp_speedup"] = rep["in_ref"]["instructions"] / rep["in_dsp"]["instructions"]
    o = rep["ooc_dsp"]
    row["crypto_instructions_per_byte_read"] = o["crypto_instructions"] / o["flash_read_bytes"]
    row["text_bytes_out_of_core"] = o["text_bytes"]
    row["text_bytes_in_core"] = rep["in_dsp"]["text_bytes"]
    row["sram_high_water_bytes"] = o["sram_high_water_bytes"]
    row["sram_budget_bytes"] = o["sram_budget_bytes"]
    row["stack_high_water_bytes"] = o["stack_high_water_bytes"]
    row["flash_read_bytes"] = o["flash_read_bytes"]
    eng = _engine_ratio(graph, budget, flash, m4, engine_mcu, o, rep["in_dsp"])
    row["engine_latency_ratio_cmac"] = eng["cmac"]
    row["engine_latency_ratio_poly1305"] = eng["poly1305"]
    row["in_core_ms_at_80mhz"] = eng["in_core_ms"]
    row["layers_dsp_out_of_core"] = o["layers"]
    return row


def bench_crypto() -> dict[str, float]:
    rep, _ = run_firmware(compile_firmware([PORT / "ooc_crypto_bench_main.c"]), {}, {})
    n = rep["bytes"]
    per = {k.removesuffix("_ticks"): rep[k] * 40 / n for k in rep if k.endswith("_ticks")}
    per["ctr_plus_cmac"] = per["aes128_ctr"] + per["cmac128"]
    per["ctr_plus_poly1305"] = per["aes128_ctr"] + per["poly1305"]
    return per


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "m4.json")
    ap.add_argument("--models", nargs="*", default=SUPPORTED, choices=SUPPORTED)
    args = ap.parse_args()
    flash = load_flash("w25q128jv")
    m4 = load_mcu("cortex-m4")
    engine_mcu = load_mcu("cortex-m4-aes")
    device = generate(bytes.fromhex("00c0ffee" * 4), 32)
    crypto = bench_crypto()
    # the engine estimate counts the CPU's compute at CPI; its Poly1305 (the engine does only
    # CTR then) must be counted the same way: measured instructions per byte at the same CPI
    engine_mcu = dataclasses.replace(engine_mcu, poly1305_cycles_per_byte=crypto["poly1305"] * CPI)
    rows = []
    for name in args.models:
        if not (MODELS / f"{name}.tflite").is_file():
            print(f"missing {MODELS / name}.tflite", file=sys.stderr)
            return 1
        print(f"  {name} ...", file=sys.stderr, flush=True)
        rows.append(bench_model(name, flash, m4, engine_mcu, device))

    print("Cortex-M4 (QEMU mps2-an386, -icount shift=0): instructions per inference")
    print(f"{'model':<36}{'budget':>9}{'exact':>6}{'in-core ref':>14}{'in-core DSP':>14}"
          f"{'instr/MAC ref':>14}{'DSP':>6}{'speed-up':>9}")  # fmt: skip
    for r in rows:
        print(
            f"{r['model']:<36}{r['budget_bytes']:>9,}{'yes' if r['bit_exact'] else 'NO':>6}"
            f"{r['in_core_ref']:>14,}{r['in_core_dsp']:>14,}{r['instructions_per_mac_ref']:>14.2f}"
            f"{r['instructions_per_mac_dsp']:>6.2f}{r['dsp_speedup']:>8.2f}x"
        )
    print()
    print("Out-of-core / in-core instructions (same kernels); crypto = tag checks + decryption")
    print(f"{'model':<36}{'ref':>8}{'ref -crypto':>12}{'DSP':>8}{'DSP -crypto':>12}"
          f"{'crypto/B':>9}{'engine CMAC':>12}{'engine Poly':>12}")  # fmt: skip
    for r in rows:
        print(
            f"{r['model']:<36}{r['overhead_ref']:>8.3f}{r['overhead_no_crypto_ref']:>12.4f}"
            f"{r['overhead_dsp']:>8.3f}{r['overhead_no_crypto_dsp']:>12.4f}"
            f"{r['crypto_instructions_per_byte_read']:>9.1f}"
            f"{r['engine_latency_ratio_cmac']:>12.4f}{r['engine_latency_ratio_poly1305']:>12.4f}"
        )
    print("  (engine columns: estimated latency out-of-core / in-core on cortex-m4-aes, CPI 1)")
    print()
    print("Out-of-core firmware (DSP kernels)")
    print(
        f"{'model':<36}{'text B':>9}{'in-core text':>13}{'SRAM hw':>10}{'budget':>10}{'stack':>7}"
    )
    for r in rows:
        print(
            f"{r['model']:<36}{r['text_bytes_out_of_core']:>9,}{r['text_bytes_in_core']:>13,}"
            f"{r['sram_high_water_bytes']:>10,}{r['sram_budget_bytes']:>10,}"
            f"{r['stack_high_water_bytes']:>7,}"
        )
    print()
    print("Software crypto on the M4, instructions per byte (16 KiB in SRAM)")
    for k, v in crypto.items():
        print(f"  {k:<20}{v:>8.1f}")
    conv = [r for r in rows if r["model"] in CONV]
    if conv:
        print()
        print(
            "Conv models: DSP speed-up >= "
            f"{min(r['dsp_speedup'] for r in conv):.2f}x (goal 2x); paging overhead without crypto "
            f"<= {max(max(r['overhead_no_crypto_ref'], r['overhead_no_crypto_dsp']) for r in conv):.4f}"
            " (goal 1.05); engine latency ratio <= "
            f"{max(r['engine_latency_ratio_cmac'] for r in conv):.4f} CMAC, "
            f"{max(r['engine_latency_ratio_poly1305'] for r in conv):.4f} Poly1305 (goal 1.10)"
        )
    result = {
        "machine": platform.platform(),
        "instruction_resolution": 40,
        "cpi_assumed_for_latency": CPI,
        "crypto_instructions_per_byte": crypto,
        "models": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
