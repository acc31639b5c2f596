"""Issue 23's architectures through `ooc build` (tests/test_zoo.py checks them in core): every
new zoo architecture at its default size fused (and spilled) out of core below what layer by
layer needs, bit-exact with tflite-micro on the host from the emulated flash, its SRAM
high-water within the plan, and the same on the Cortex-M4 under QEMU; and the 224x224
float-I/O MCUNet with squeeze-and-excitation in its first stages at 128 KiB, on both.
`python benchmarks/bench_generality.py` sweeps every architecture, size and budget."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.image.keys import DeviceKey, generate
from ooc_sdk.model import parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.model.zoo import ARCHITECTURES, Knobs
from ooc_sdk.model.zoo import generate as zoo
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import run_build
from ooc_sdk.run.qemu import run_build_m4
from ooc_sdk.targets import load_flash, load_mcu

KIB = 1024
FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
# (architecture, --sram): below each default model's per-layer minimum
BUDGETS = [("mcunet", 32), ("detector", 48), ("inception", 32)]
# the sweep: every --sram the default model meets, the others refused with their floor
SWEEP = [(a, b) for a, _ in BUDGETS for b in (256, 128, 64, 32, 16) if (a, b) not in BUDGETS]


@pytest.fixture(scope="module")
def device() -> DeviceKey:
    return generate(bytes.fromhex("5eed0023" * 4), 32)


@cache
def _model(arch: str, larger: bool = False) -> tuple[bytes, Graph]:
    knobs = ARCHITECTURES[arch].larger if larger else Knobs()
    data = zoo(arch, knobs).data
    return data, parse_model(data, name=arch)


def _build_and_check(arch: str, budget: int, out: Path, device: DeviceKey, larger: bool = False):  # type: ignore[no-untyped-def]
    data, graph = _model(arch, larger)
    request = PlanRequest(budget=budget * KIB, flash=FLASH, mcu=M4)
    result = build(graph, data, out, device, BuildRequest(request, auto_fuse=True))
    p = result.plan
    assert p.sram_bytes <= budget * KIB and p.fusion is not None
    assert p.per_layer_minimum is not None and p.per_layer_minimum > budget * KIB
    sample = [random_inputs(graph, 3)]
    (ref,) = run_tflm_many(data, sample)
    got = run_build(out, graph, device, sample)
    for a, b in zip(ref.outputs, got.outputs[0], strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert got.report["sram_high_water_bytes"] <= p.sram_bytes
    return graph, sample, ref, p


@pytest.mark.parametrize(("arch", "budget"), BUDGETS, ids=[a for a, _ in BUDGETS])
def test_new_architectures_build_below_per_layer_and_run_bit_exact(
    arch: str, budget: int, device: DeviceKey, tmp_path: Path
) -> None:
    graph, sample, ref, p = _build_and_check(arch, budget, tmp_path, device)
    # and on the Cortex-M4: float32 I/O and squeeze-and-excitation (mcunet), three output
    # scales (detector), parallel branches joined by concatenation (inception)
    got = run_build_m4(tmp_path, graph, device, sample)
    for a, b in zip(ref.outputs, got.outputs[0], strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert got.report["sram_high_water_bytes"] <= p.sram_bytes


def test_mcunet_224_with_early_squeeze_excitation_builds_at_128_kib(
    device: DeviceKey, tmp_path: Path
) -> None:
    """About 200 M MACs, 2.5 MB per layer: the squeeze-and-excitation tensors at 112x112 spill
    to the flash ring (each read back twice: for its MEAN and for the MUL that applies the
    gate); bit-exact on the host and on the Cortex-M4 (about 2.3 G instructions under QEMU)."""
    graph, sample, ref, p = _build_and_check("mcunet", 128, tmp_path, device, larger=True)
    assert p.techniques()["spilled_tensors"] >= 1
    got = run_build_m4(tmp_path, graph, device, sample)
    for a, b in zip(ref.outputs, got.outputs[0], strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert got.report["sram_high_water_bytes"] <= p.sram_bytes


@pytest.mark.parametrize(("arch", "budget"), SWEEP, ids=[f"{a}-{b}KiB" for a, b in SWEEP])
def test_every_budget_builds_bit_exact_or_names_its_floor(
    arch: str, budget: int, device: DeviceKey, tmp_path: Path
) -> None:
    """`ooc build --sram B` over the issue's budgets (those in BUDGETS: above): layer by
    layer, fused or spilled as the planner chooses, bit-exact on the host (also under the
    sanitizers at 16 KiB) with its SRAM high-water within the plan; a budget below the
    model's floor is refused naming that floor and the operator that sets it."""
    data, graph = _model(arch)
    request = PlanRequest(budget=budget * KIB, flash=FLASH, mcu=M4)
    try:
        result = build(graph, data, tmp_path, device, BuildRequest(request, auto_fuse=True))
    except BudgetError as exc:
        assert exc.minimum is not None and exc.minimum > budget * KIB
        assert "set by operator" in str(exc) and not tmp_path.joinpath("plan.json").exists()
        return
    p = result.plan
    assert p.sram_bytes <= budget * KIB
    sample = [random_inputs(graph, 5)]
    (ref,) = run_tflm_many(data, sample)
    # the small budget also under the sanitizers (their stack frames are larger: the SRAM
    # high-water is the plain build's)
    for sanitize in (False, True) if budget <= 16 else (False,):
        got = run_build(tmp_path, graph, device, sample, sanitize=sanitize)
        for a, b in zip(ref.outputs, got.outputs[0], strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        if not sanitize:
            assert got.report["sram_high_water_bytes"] <= p.sram_bytes
