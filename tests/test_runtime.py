"""The C runtime against the oracle: bit-exact with tflite-micro, under ASan and UBSan.

Every run here uses the sanitizer build (-fsanitize=address,undefined, no recovery),
so any out-of-bounds access or undefined behaviour fails the test.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SUPPORTED_SHARED, shared_model
from ooc_sdk.lower.memplan import plan_memory
from ooc_sdk.model import load_model, parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.zoo import Knobs, generate
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import run_host
from opmodels import (
    binary_model,
    coverage_model,
    pairs_inputs,
    pairs_model,
    tabulated_inputs,
    tabulated_model,
)

SEEDS = 20
BIG = "mobilenet_v2_quantized_1x3x224x224.tflite"


def assert_bit_exact(data: bytes, n: int, sanitize: bool = True, first_seed: int = 0) -> None:
    graph = parse_model(data)
    samples = [random_inputs(graph, first_seed + s) for s in range(n)]
    ours = run_host(graph, samples, sanitize=sanitize)
    gold = run_tflm_many(data, samples)
    for s, (mine, ref) in enumerate(zip(ours.outputs, gold, strict=True)):
        for a, b in zip(mine, ref.outputs, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            # compare bit patterns, so float32 outputs must match exactly too
            assert a.tobytes() == b.tobytes(), (
                f"sample {s}: {np.count_nonzero(a != b)} values differ"
            )


@pytest.mark.parametrize("name", [n for n in SUPPORTED_SHARED if n != BIG])
def test_shared_models_bit_exact(name: str) -> None:
    assert_bit_exact(shared_model(name).read_bytes(), SEEDS)


def test_mobilenet_v2_bit_exact() -> None:
    data = shared_model(BIG).read_bytes()
    assert_bit_exact(data, SEEDS, sanitize=False)
    assert_bit_exact(data, 2, sanitize=True, first_seed=100)  # ~3 s per inference under ASan


ZOO = {
    "ds-cnn": [Knobs(width=8, depth=1), Knobs(width=64, depth=4, float_io=True)],
    "mobilenet-v1": [Knobs(width=0.1, resolution=32), Knobs(width=0.25, resolution=96)],
    "mobilenet-v2": [
        Knobs(width=0.1, resolution=32, depth=1, classes=10),
        Knobs(width=0.35, resolution=64, float_io=True),
    ],
    "resnet8": [Knobs(width=4, resolution=16), Knobs(width=16, resolution=32, float_io=True)],
    "autoencoder": [Knobs(width=16, depth=1), Knobs(width=128, depth=4, float_io=True)],
    "keras-flatten": [Knobs(width=4, resolution=32), Knobs(width=16, resolution=64, float_io=True)],
}


@pytest.mark.parametrize(("arch", "size"), [(a, i) for a in ZOO for i in range(2)])
def test_zoo_bit_exact(arch: str, size: int) -> None:
    assert_bit_exact(generate(arch, ZOO[arch][size], seed=21).data, 5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_operator_coverage_bit_exact(seed: int) -> None:
    assert_bit_exact(coverage_model(seed), 10)


@pytest.mark.parametrize("name", SUPPORTED_SHARED)
def test_plan_no_larger_than_tflm(name: str) -> None:
    path = shared_model(name)
    graph = load_model(path)
    plan = plan_memory(graph)
    plan.check(graph)
    (gold,) = run_tflm_many(path, [random_inputs(graph, 0)])
    assert plan.arena_bytes <= gold.arena_head_bytes
    assert plan.arena_bytes >= graph.peak_live_bytes  # nothing can beat the live-tensor bound


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_operators_bit_exact(seed: int) -> None:
    assert_bit_exact(binary_model(seed), 10)


def test_sub_and_squared_difference_bit_exact_on_every_int8_pair() -> None:
    data = pairs_model()
    graph = parse_model(data)
    x = pairs_inputs()
    (ours,) = run_host(graph, [x], sanitize=True).outputs
    (gold,) = run_tflm_many(data, [x])
    for a, b in zip(ours, gold.outputs, strict=True):
        assert a.shape == (1, 256, 256, 1) and len(np.unique(a)) > 100
        assert a.tobytes() == b.tobytes(), f"{np.count_nonzero(a != b)} values differ"


def test_logistic_and_tanh_bit_exact_on_every_int8_value() -> None:
    data = tabulated_model()
    graph = parse_model(data)
    x = tabulated_inputs()
    (ours,) = run_host(graph, [x], sanitize=True).outputs
    (gold,) = run_tflm_many(data, [x])
    assert len(ours) == len(gold.outputs) == 6
    for a, b in zip(ours, gold.outputs, strict=True):
        assert len(np.unique(a)) > 10  # a function of the input, not saturated throughout
        assert a.tobytes() == b.tobytes(), f"{np.count_nonzero(a != b)} values differ"
