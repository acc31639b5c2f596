"""Channel-split partial execution inside fused blocks (fusion/rows.py's chains, OOC_NODE_PEX in
c_runtime/src/fused.c): a 1x1 expansion, an optional PAD, a depthwise convolution and a 1x1
projection run a group of expanded channels at a time into the projection's int32 sums. The
search takes it where it lowers working SRAM; every schedule that uses it is bit-exact with
tflite-micro on the host (reference and DSP kernels, under ASan/UBSan), out of core with its
weights paged from flash, and on the Cortex-M4 under QEMU, with working SRAM measured equal to
the plan's."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from conftest import ooc_cli as _ooc
from conftest import run_damaged_tables, shared_model
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.codegen.emit import write_codegen
from ooc_sdk.formats.tables import NODE_PEX
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.image.keys import generate as generate_key
from ooc_sdk.model import load_model, parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.model.zoo import Knobs, generate
from ooc_sdk.plan import schedule
from ooc_sdk.plan.fusion.graph import GraphFacts
from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.plan.fusion.search import plan_fusion
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import run_build, run_host
from ooc_sdk.run.qemu import run_build_m4, run_model_m4
from ooc_sdk.targets import load_flash, load_mcu

KIB = 1024
HERE = Path(__file__).parent


@cache
def _zoo(resolution: int = 144) -> tuple[bytes, Graph]:
    """msf-CNN's backbone, MobileNetV2 width 0.35 (at 144x144 unless asked otherwise)."""
    z = generate("mobilenet-v2", Knobs(width=0.35, resolution=resolution))
    return z.data, parse_model(z.data, name=f"mbv2_035_{resolution}")


def _chains(fp: FusionPlan) -> list[tuple[int, int]]:
    """(first operator, operators) of every channel-split chain the plan runs."""
    return [(nd.op, nd.span) for b in fp.blocks for nd in b.nodes if nd.mode == NODE_PEX]


def _bit_exact(
    data: bytes, graph: Graph, outputs: list[list[np.ndarray]], seeds: tuple[int, ...]
) -> None:
    refs = run_tflm_many(data, [random_inputs(graph, s) for s in seeds])
    for s, (ref, got) in enumerate(zip(refs, outputs, strict=True)):
        for i, (a, b) in enumerate(zip(ref.outputs, got, strict=True)):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"sample {s} output {i}"


def test_chains_are_found_where_the_models_have_them() -> None:
    # the TFLM MobileNetV2 pads explicitly before every depthwise: each chain carries its PAD
    m = GraphFacts(load_model(shared_model("mobilenet_v2_quantized_1x3x224x224.tflite")), True)
    assert len(m.pex) == 16 and set(m.pex_span.values()) == {4}
    # MobileNetV1 (vww): pointwise, depthwise, pointwise, no PAD
    m = GraphFacts(load_model(shared_model("vww_96_int8.tflite")), True)
    assert len(m.pex) == 12 and set(m.pex_span.values()) == {3}
    # ResNet-8 has no depthwise convolutions
    assert not GraphFacts(load_model(shared_model("pretrainedResnet_quant.tflite")), True).pex


def test_channel_split_lowers_working_sram_and_is_bit_exact_under_sanitizers() -> None:
    data, graph = _zoo()
    for k in (1.3, 1.7):
        off = plan_fusion(graph, max_mac_overhead=k, channel_split="off")
        on = plan_fusion(graph, max_mac_overhead=k)
        assert not _chains(off) and _chains(on)
        assert on.working_sram_bytes < off.working_sram_bytes, k
        assert on.mac_overhead <= k + 1e-9
    seeds = (1,)
    samples = [random_inputs(graph, s) for s in seeds]
    for kernels in ("ref", "dsp"):
        got = run_host(graph, samples, kernels=kernels, sanitize=True, fusion=on)
        _bit_exact(data, graph, got.outputs, seeds)
        assert got.working_high_water_bytes == on.working_sram_bytes


def test_always_runs_every_chain_of_a_fused_block_channel_split() -> None:
    data, graph = _zoo(48)
    m = GraphFacts(graph, True)
    fp = plan_fusion(graph, max_mac_overhead=16.0, channel_split="always")
    ran = set(_chains(fp))
    inside = {
        (j, m.pex_span[j])
        for b in fp.blocks
        if b.fused
        for j in range(b.first, b.last)
        if j in m.pex and j + m.pex_span[j] <= b.last
    }
    assert ran and ran == inside
    seeds = (3,)
    got = run_host(graph, [random_inputs(graph, 3)], kernels="dsp", sanitize=True, fusion=fp)
    _bit_exact(data, graph, got.outputs, seeds)
    assert got.working_high_water_bytes == fp.working_sram_bytes


def test_mobilenet_v2_224_chains_with_their_pad_are_bit_exact() -> None:
    path = shared_model("mobilenet_v2_quantized_1x3x224x224.tflite")
    graph = load_model(path)
    fp = plan_fusion(graph, max_mac_overhead=1.7)
    assert _chains(fp) and all(span == 4 for _, span in _chains(fp))
    got = run_host(graph, [random_inputs(graph, 1)], kernels="dsp", fusion=fp)
    _bit_exact(path.read_bytes(), graph, got.outputs, (1,))
    assert got.working_high_water_bytes == fp.working_sram_bytes


def test_channel_split_on_the_cortex_m4() -> None:
    data, graph = _zoo()
    fp = plan_fusion(graph, max_mac_overhead=1.7)
    assert _chains(fp)
    got = run_model_m4(graph, [random_inputs(graph, 4)], fusion=fp)
    _bit_exact(data, graph, got.outputs, (4,))
    rep = got.report
    assert rep["working_high_water_bytes"] == fp.working_sram_bytes
    assert rep["stack_high_water_bytes"] <= schedule.STACK_BOUND_BYTES
    assert rep["sram_high_water_bytes"] <= rep["sram_budget_bytes"]


@pytest.fixture(scope="module")
def device() -> DeviceKey:
    return generate_key(bytes.fromhex("0bec5e11" * 4), 32)


def test_channel_split_out_of_core_host_and_m4(device: DeviceKey, tmp_path: Path) -> None:
    """Paged weights: a chain's operators' weights stay resident in the block's slot."""
    data, graph = _zoo()
    budget = 32 * KIB
    result = build(
        graph,
        data,
        tmp_path,
        device,
        BuildRequest(
            PlanRequest(
                budget=budget,
                flash=load_flash("w25q128jv"),
                mcu=load_mcu("cortex-m4"),
                fuse=True,
                channel_split="always",
            )
        ),
    )
    p = result.plan
    assert p.fusion is not None and _chains(p.fusion) and p.sram_bytes <= budget
    seeds = (5, 6)
    samples = [random_inputs(graph, s) for s in seeds]
    got = run_build(tmp_path, graph, device, samples, sanitize=True)
    _bit_exact(data, graph, got.outputs, seeds)
    assert got.report["flash_read_bytes"] == p.flash_read_bytes_per_inference
    m4 = run_build_m4(tmp_path, graph, device, samples[:1])
    _bit_exact(data, graph, m4.outputs, seeds[:1])
    assert m4.report["flash_read_bytes"] == p.flash_read_bytes_per_inference
    assert m4.report["sram_high_water_bytes"] <= p.sram_bytes


def test_cli_plan_reports_and_switches_channel_split(tmp_path: Path) -> None:
    model = tmp_path / "mbv2.tflite"
    model.write_bytes(_zoo(48)[0])
    on = _ooc("plan", str(model), "--max-mac-overhead", "16", "--channel-split", "always", "--json")
    assert on.returncode == 0, on.stderr
    split = [c for b in json.loads(on.stdout)["blocks"] for c in b["channel_split"]]
    assert split and all(c["group"] == 8 and c["ops"][1] - c["ops"][0] == 3 for c in split)
    off = _ooc("plan", str(model), "--max-mac-overhead", "16", "--channel-split", "off", "--json")
    assert off.returncode == 0, off.stderr
    assert not [c for b in json.loads(off.stdout)["blocks"] for c in b["channel_split"]]
    text = _ooc("plan", str(model), "--max-mac-overhead", "16", "--channel-split", "always")
    assert text.returncode == 0 and "channel-split by 8" in text.stdout
    bad = _ooc("plan", str(model), "--max-mac-overhead", "16", "--channel-split", "sometimes")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    # without a fused plan the option means nothing: say so rather than ignore it
    alone = _ooc("plan", str(model), "--no-fuse", "--channel-split", "off")
    assert alone.returncode == 2 and "--channel-split goes with fusion" in alone.stderr


def test_damaged_chain_tables_are_refused(tmp_path: Path) -> None:
    """tests/c/test_pex_tables.c under ASan/UBSan: ooc_init() refuses every damaged chain."""
    _, graph = _zoo(48)
    fp = plan_fusion(graph, max_mac_overhead=16.0, channel_split="always")
    assert _chains(fp)
    gen = write_codegen(graph, tmp_path / "gen", "pex", fusion=fp)
    run_damaged_tables(gen, "pex", "test_pex_tables.c", tmp_path)
