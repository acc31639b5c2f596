"""Out-of-core execution: the planner, `ooc build` and the pager running with its weights only in
the emulated NOR flash, bit-exact with tflite-micro at every budget the issue names."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.build.directory import BuildDir
from ooc_sdk.build.flash import POWER_LOSS_ENV, program_flash
from ooc_sdk.errors import (
    AuthenticationError,
    ImageError,
    ModelMismatchError,
    WrongDeviceError,
    WrongKeyError,
)
from ooc_sdk.formats import image as fmt
from ooc_sdk.image.keys import DeviceKey, generate, write_key_file
from ooc_sdk.image.pack import chunk_plaintext
from ooc_sdk.lower.memplan import plan_memory
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.reader import parse_model
from ooc_sdk.plan import schedule
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError
from ooc_sdk.run.golden import run_tflm
from ooc_sdk.run.host import run_build
from ooc_sdk.targets import load_flash, load_mcu

sys.path.insert(0, str(Path(__file__).parent))
from conftest import SUPPORTED_SHARED, shared_model
from conftest import ooc_cli as _ooc
from opmodels import (
    activation_model,
    binary_model,
    coverage_model,
    depthwise_multiplier_model,
    dilated_model,
    heads_model,
    movement_model,
    upsample_model,
)

FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
KIB = 1024
BUDGETS = [256 * KIB, 128 * KIB, 64 * KIB]


@pytest.fixture(scope="module")
def device() -> DeviceKey:
    return generate(bytes.fromhex("00c0ffee" * 4), 32)


def _minimum(graph) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(BudgetError) as exc:
        plan(graph, PlanRequest(budget=1, flash=FLASH, mcu=M4))
    assert exc.value.minimum is not None
    return exc.value.minimum


def _check_run(out: Path, graph, device: DeviceKey, model_path: Path):  # type: ignore[no-untyped-def]
    """Run the build on random inputs; compare with tflite-micro; check the measurements.
    Seed 0 is the one test_runtime.py uses, so the oracle's cached outputs serve both."""
    x = random_inputs(graph, 0)
    got = run_build(out, graph, device, [x])
    ref = run_tflm(model_path, x)
    for a, b in zip(got.outputs[0], ref.outputs, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    p = json.loads((out / "plan.json").read_text())
    rep = got.report
    # SRAM: arena written + state + stack measured by painting, within the plan's figure
    assert rep["sram_high_water_bytes"] <= p["sram_bytes"], (rep, p["sram_bytes"])
    assert rep["stack_high_water_bytes"] <= schedule.STACK_BOUND_BYTES
    assert rep["state_bytes"] <= schedule.RUNTIME_STATE_BYTES
    assert rep["arena_high_water_bytes"] <= p["arena_bytes"]
    # flash traffic: the weights plus 64-byte table entries and alignment gaps, as planned
    assert rep["flash_read_bytes"] == p["flash_read_bytes_per_inference"]
    assert rep["flash_read_commands"] == p["flash_read_commands_per_inference"]
    assert rep["flash_program_bytes"] == 0 and rep["erases"] == 0
    return got, p


def _overhead_ok(p: dict, out: Path) -> None:  # type: ignore[type-arg]
    """flash read = weights + 64 B per chunk + the alignment gaps between a step's chunks."""
    manifest = json.loads((out / "image" / "manifest.json").read_text())
    assert manifest["weights_bytes"] == p["weight_bytes"]
    lengths = [e["length"] for e in _chunks(out, list(range(p["chunks"])))]
    gaps = 0
    for step in p["schedule"]:
        gaps += sum(-lengths[i] % 4 for i in step["chunks"][:-1])
    assert p["flash_read_bytes_per_inference"] == p["weight_bytes"] + 64 * p["chunks"] + gaps


def _chunks(out: Path, indices: list[int]) -> list[dict]:  # type: ignore[type-arg]
    from ooc_sdk.image.outdir import load_image
    from ooc_sdk.image.reader import public_info

    info = public_info(load_image(out / "image"))
    return [
        fmt.CHUNK_ENTRY.unpack(info.data, fmt.CHUNK_TABLE_OFFSET + i * fmt.CHUNK_ENTRY.size)
        for i in indices
    ]


@pytest.mark.parametrize("name", SUPPORTED_SHARED)
def test_bit_exact_out_of_core_at_every_budget(
    name: str, device: DeviceKey, tmp_path: Path
) -> None:
    path = shared_model(name)
    graph = load_model(path)
    minimum = _minimum(graph)
    activation = plan_memory(graph).arena_bytes
    assert minimum > activation
    budgets = [b for b in BUDGETS if b >= minimum]
    for b in BUDGETS:
        if b < minimum:  # out of scope until fusion and spilling: a clear error with the minimum
            with pytest.raises(BudgetError, match=f"needs at least .*{minimum} bytes"):
                plan(graph, PlanRequest(budget=b, flash=FLASH, mcu=M4))
    seen: set[str] = set()
    for budget in [*budgets, minimum]:
        p = plan(graph, PlanRequest(budget=budget, flash=FLASH, mcu=M4))
        assert p.sram_bytes <= budget
        if p.schedule_digest in seen:
            continue  # the same plan as a larger budget: built and run already
        seen.add(p.schedule_digest)
        out = tmp_path / f"b{budget}"
        build(
            graph,
            path.read_bytes(),
            out,
            device,
            BuildRequest(PlanRequest(budget=budget, flash=FLASH, mcu=M4)),
        )
        _, pj = _check_run(out, graph, device, path)
        _overhead_ok(pj, out)


def test_minimum_budget_splits_layers_and_every_piece_fits() -> None:
    graph = load_model(shared_model("person_detect.tflite"))
    minimum = _minimum(graph)
    p = plan(graph, PlanRequest(budget=minimum, flash=FLASH, mcu=M4))
    assert p.sram_bytes == minimum
    assert all(s.slot_need <= p.slot_bytes for s in p.steps)
    split = {s.op for s in p.steps if sum(1 for t in p.steps if t.op == s.op) > 1}
    assert split, "the smallest budget must split layers along output channels"
    # the pieces of every weight tensor put back together are the tensor
    for op in split:
        pieces = [s for s in p.steps if s.op == op]
        assert pieces[0].c0 == 0
        assert all(a.c1 == b.c0 for a, b in itertools.pairwise(pieces))
        w = graph.operators[op].inputs[1]
        chunks = [
            c for s in pieces for c in p.chunks[s.first_chunk : s.first_chunk + len(s.pieces)]
        ]
        data = [chunk_plaintext(graph, c) for c in chunks if c.tensor == w]
        tensor = graph.tensors[w].data
        assert tensor is not None
        if graph.operators[op].op_type == "DEPTHWISE_CONV_2D":
            k = tensor.shape[1] * tensor.shape[2]
            parts = [
                np.frombuffer(d, np.int8).reshape(tensor.shape[1], tensor.shape[2], -1)
                for d in data
            ]
            assert np.concatenate(parts, axis=2).tobytes() == tensor[0].tobytes()
            assert sum(len(d) for d in data) == k * tensor.shape[3]
        else:
            assert b"".join(data) == tensor.tobytes()
    # one byte less is refused, naming the minimum
    with pytest.raises(BudgetError, match=str(minimum)):
        plan(graph, PlanRequest(budget=minimum - 1, flash=FLASH, mcu=M4))


_HAND_BUILT = {
    "coverage": coverage_model,
    "depthwise-multiplier": depthwise_multiplier_model,
    "activation": activation_model,
    "binary": binary_model,
    "movement": movement_model,
    "dilated": lambda seed: dilated_model(seed, zero_point=-7),
    "upsample": upsample_model,
    "heads": heads_model,
}


@pytest.mark.parametrize("which", list(_HAND_BUILT))
def test_bit_exact_hand_built_models_split_to_the_minimum(
    which: str, device: DeviceKey, tmp_path: Path
) -> None:
    data = _HAND_BUILT[which](5)
    graph = parse_model(data, which)
    minimum = _minimum(graph)
    p = plan(graph, PlanRequest(budget=minimum, flash=FLASH, mcu=M4))
    ops = [s.op for s in p.steps]
    assert len(ops) > len(set(ops)), "the minimum budget must split a layer"
    out = tmp_path / "b"
    build(graph, data, out, device, BuildRequest(PlanRequest(budget=minimum, flash=FLASH, mcu=M4)))
    model_file = tmp_path / f"{which}.tflite"
    model_file.write_bytes(data)
    _check_run(out, graph, device, model_file)


@pytest.fixture(scope="module")
def kws_build(tmp_path_factory: pytest.TempPathFactory, device: DeviceKey) -> Path:
    path = shared_model("kws_ref_model.tflite")
    out = tmp_path_factory.mktemp("kws") / "out"
    build(
        load_model(path),
        path.read_bytes(),
        out,
        device,
        BuildRequest(PlanRequest(budget=64 * KIB, flash=FLASH, mcu=M4)),
    )
    return out


def test_synchronous_port_gives_the_same_result(kws_build: Path, device: DeviceKey) -> None:
    graph = BuildDir.open(kws_build).graph()
    x = random_inputs(graph, 4)
    a = run_build(kws_build, graph, device, [x])
    b = run_build(kws_build, graph, device, [x], sync_reads=True)
    assert a.outputs[0][0].tobytes() == b.outputs[0][0].tobytes()
    assert a.report["async_reads"] and not b.report["async_reads"]
    assert a.report["flash_read_bytes"] == b.report["flash_read_bytes"]


def test_flipped_bit_at_run_time_is_an_auth_error(kws_build: Path, device: DeviceKey) -> None:
    graph = BuildDir.open(kws_build).graph()
    x = random_inputs(graph, 4)
    chunks = json.loads((kws_build / "image" / "manifest.json").read_text())
    assert BuildDir.open(kws_build).info.verify == "every-read"
    entries = _chunks(kws_build, [0, 5])
    for e in entries:  # a bit of a chunk's ciphertext, and a bit of its table entry
        for bit in (
            e["flash_offset"] * 8 + 13,
            (fmt.CHUNK_TABLE_OFFSET + 64 * e["index"] + 20) * 8,
        ):
            with pytest.raises(AuthenticationError, match="authentication failed"):
                run_build(kws_build, graph, device, [x], flip_bit=bit)
    assert chunks["weights_bytes"] > 0
    # the same run without the flip works: the flip was the only cause
    run_build(kws_build, graph, device, [x])


def test_wrong_device_and_wrong_key_are_refused(kws_build: Path, device: DeviceKey) -> None:
    graph = BuildDir.open(kws_build).graph()
    x = random_inputs(graph, 4)
    with pytest.raises(WrongDeviceError):
        run_build(kws_build, graph, generate(bytes(16), 32), [x])
    with pytest.raises(WrongKeyError):
        run_build(kws_build, graph, DeviceKey(device.uid, bytes(32)), [x])


def test_boot_verify_mode_checks_every_chunk_at_init(tmp_path: Path, device: DeviceKey) -> None:
    path = shared_model("micro_speech_quantized.tflite")
    graph = load_model(path)
    out = tmp_path / "boot"
    build(
        graph,
        path.read_bytes(),
        out,
        device,
        BuildRequest(PlanRequest(budget=None, flash=FLASH, mcu=M4, verify="boot")),
    )
    x = random_inputs(graph, 1)
    got = run_build(out, graph, device, [x])
    assert got.outputs[0][0].tobytes() == run_tflm(path, x).outputs[0].tobytes()
    # a chunk altered before boot fails ooc_init
    e = _chunks(out, [1])[0]
    flash = bytearray((out / "flash.bin").read_bytes())
    flash[e["flash_offset"] + 7] ^= 0x10
    (out / "flash.bin").write_bytes(bytes(flash))
    with pytest.raises(AuthenticationError, match="at init"):
        run_build(out, graph, device, [x])


def test_power_loss_while_writing_the_image_is_a_clear_error(tmp_path: Path) -> None:
    model = shared_model("kws_ref_model.tflite")
    key = tmp_path / "dev.key"
    write_key_file(key, generate(bytes.fromhex("0102030405060708" * 2), 32))
    out = tmp_path / "out"
    for n in (1, 7, 40):  # the first erase, an early program, a later program
        proc = _ooc("build", str(model), "--sram", "64KiB", "--device-key", str(key), "-o",
                    str(out), env={POWER_LOSS_ENV: str(n)})  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        err = [ln for ln in proc.stderr.splitlines() if ln.startswith("ooc: error")]
        assert len(err) == 1 and "power loss" in err[0] and "run ooc build again" in err[0], err
        assert "Traceback" not in proc.stderr
        # a failed build leaves nothing: it was written beside OUT, which it never became
        assert not out.exists() and not list(tmp_path.glob(".out.*")), list(tmp_path.iterdir())
        run = _ooc("run", str(out), "--device-key", str(key))
        assert run.returncode == 2
    ok = _ooc("build", str(model), "--sram", "64KiB", "--device-key", str(key), "-o", str(out))
    assert ok.returncode == 0, ok.stderr
    run = _ooc("run", str(out), "--device-key", str(key), "--json")
    assert run.returncode == 0, run.stderr
    rep = json.loads(run.stdout)
    for k in ("sram_high_water_bytes", "flash_read_bytes", "flash_program_bytes", "erases",
              "estimated_latency_s"):  # fmt: skip
        assert k in rep


@pytest.mark.parametrize("n", [1, 3, 30, 60])
def test_interrupted_rewrite_of_the_flash_never_computes(
    n: int, kws_build: Path, device: DeviceKey, tmp_path: Path
) -> None:
    """Power lost while the image is rewritten in place (a field update): the partial flash is
    refused at mount, init or invoke; never a wrong output."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(kws_build, out)
    image = (out / "image" / "image.bin").read_bytes()
    with pytest.raises(ImageError, match="power loss"):
        program_flash(out / "flash.bin", image, FLASH, 0, fail_after=n)
    graph = BuildDir.open(out).graph()
    with pytest.raises(ImageError, match=r"refused at (mount|init|invoke)"):
        run_build(out, graph, device, [random_inputs(graph, 0)])


def test_plan_cli_json_and_budget_error(tmp_path: Path) -> None:
    model = shared_model("vww_96_int8.tflite")
    proc = _ooc("plan", str(model), "--sram", "64KiB", "--json")
    assert proc.returncode == 0, proc.stderr
    p = json.loads(proc.stdout)
    for k in ("sram_bytes", "activation_bytes", "slot_bytes", "flash_read_bytes_per_inference",
              "estimated_latency_s"):  # fmt: skip
        assert k in p
    assert p["sram_bytes"] <= 64 * KIB
    assert p["sram_bytes"] == (
        p["activation_bytes"] + p["slots"] * p["slot_bytes"] + p["state_bytes"] + p["stack_bytes"]
    )
    bad = _ooc("plan", str(model), "--sram", "16KiB", "--no-fuse")  # fused, 16 KiB fits
    assert bad.returncode == 2
    line = bad.stderr.strip()
    assert "\n" not in line and "needs at least" in line and "Traceback" not in line


def test_runtime_state_bound_covers_the_structs(kws_build: Path, device: DeviceKey) -> None:
    graph = BuildDir.open(kws_build).graph()
    rep = run_build(kws_build, graph, device, [random_inputs(graph, 0)]).report
    assert 0 < rep["state_bytes"] <= schedule.RUNTIME_STATE_BYTES
    assert 0 < rep["stack_high_water_bytes"] <= schedule.STACK_BOUND_BYTES


def test_build_refuses_a_model_change(kws_build: Path, device: DeviceKey) -> None:
    other = load_model(shared_model("micro_speech_quantized.tflite"))
    with pytest.raises(ImageError):
        run_build(kws_build, other, device, [random_inputs(other, 0)])


def test_pager_under_sanitizers(tmp_path: Path, device: DeviceKey) -> None:
    """The pager and the channel kernels under ASan and UBSan: a split schedule at the smallest
    budget, a clean run and an altered chunk."""
    data = depthwise_multiplier_model(9)
    graph = parse_model(data, "dwm")
    minimum = _minimum(graph)
    out = tmp_path / "b"
    build(graph, data, out, device, BuildRequest(PlanRequest(budget=minimum, flash=FLASH, mcu=M4)))
    model_file = tmp_path / "dwm.tflite"
    model_file.write_bytes(data)
    x = random_inputs(graph, 2)
    got = run_build(out, graph, device, [x], sanitize=True)
    assert got.outputs[0][0].tobytes() == run_tflm(model_file, x).outputs[0].tobytes()
    e = _chunks(out, [2])[0]
    with pytest.raises(AuthenticationError):
        run_build(out, graph, device, [x], sanitize=True, flip_bit=e["flash_offset"] * 8 + 3)


def test_tables_and_image_of_different_plans_are_refused(tmp_path: Path, device: DeviceKey) -> None:
    """Firmware generated for one plan never runs over an image packed for another."""
    import shutil

    path = shared_model("kws_ref_model.tflite")
    graph = load_model(path)
    a, b = tmp_path / "a", tmp_path / "b"
    build(
        graph,
        path.read_bytes(),
        a,
        device,
        BuildRequest(PlanRequest(budget=_minimum(graph), flash=FLASH, mcu=M4)),
    )
    build(
        graph,
        path.read_bytes(),
        b,
        device,
        BuildRequest(PlanRequest(budget=None, flash=FLASH, mcu=M4)),
    )
    assert (
        json.loads((a / "plan.json").read_text())["chunks"]
        != json.loads((b / "plan.json").read_text())["chunks"]
    )
    shutil.copy(b / "flash.bin", a / "flash.bin")
    with pytest.raises(ModelMismatchError, match="refused at mount"):
        run_build(a, graph, device, [random_inputs(graph, 0)])
