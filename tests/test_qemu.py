"""The Cortex-M4 target: the QEMU mps2-an386 port (c_runtime/ports/qemu_mps2) and
``ooc run --target qemu-m4`` (ooc_sdk/run/qemu.py), bit-exact with tflite-micro on the real
instruction set, with deterministic instruction counts and the SRAM bounded at link time."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import cmac as crypto_cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.poly1305 import Poly1305

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.build.directory import BuildDir
from ooc_sdk.codegen.emit import write_codegen
from ooc_sdk.errors import AuthenticationError, ToolError, WrongKeyError
from ooc_sdk.image.keys import DeviceKey, generate, write_key_file
from ooc_sdk.model import load_model, parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Activation
from ooc_sdk.plan import schedule
from ooc_sdk.plan.fusion.search import plan_fusion
from ooc_sdk.plan.planner import plan
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.plan.schedule import BudgetError
from ooc_sdk.run.golden import run_tflm, run_tflm_many
from ooc_sdk.run.qemu import (
    PORT,
    FirmwareBudgetError,
    build_model_firmware,
    compile_firmware,
    fused_ram_bytes,
    run_build_m4,
    run_firmware,
    run_model_m4,
    run_qemu,
)
from ooc_sdk.targets import load_flash, load_mcu

sys.path.insert(0, str(Path(__file__).parent))
from conftest import SUPPORTED_SHARED, shared_model
from conftest import ooc_cli as _ooc
from opmodels import activation_model, binary_model, heads_model, movement_model, upsample_model

FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
BUDGET = 64 * 1024


@pytest.fixture(scope="module")
def device() -> DeviceKey:
    return generate(bytes.fromhex("00c0ffee" * 4), 32)


def _budget(graph) -> int:  # type: ignore[no-untyped-def]
    """64 KiB, or the smallest budget the planner accepts when 64 KiB is infeasible."""
    try:
        plan(graph, PlanRequest(budget=BUDGET, flash=FLASH, mcu=M4))
        return BUDGET
    except BudgetError as exc:
        assert exc.minimum is not None
        return exc.minimum


def _build(name: str, device: DeviceKey, out: Path):  # type: ignore[no-untyped-def]
    path = shared_model(name)
    graph = load_model(path)
    build(
        graph,
        path.read_bytes(),
        out,
        device,
        BuildRequest(PlanRequest(budget=_budget(graph), flash=FLASH, mcu=M4)),
    )
    return path, graph


@pytest.fixture(scope="module")
def kws(device: DeviceKey, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("kws")
    path, graph = _build("kws_ref_model.tflite", device, out)
    return out, path, graph


@pytest.mark.parametrize("name", SUPPORTED_SHARED)
def test_bit_exact_on_cortex_m4_at_64k_or_the_minimum(
    name: str, device: DeviceKey, tmp_path: Path
) -> None:
    path, graph = _build(name, device, tmp_path)
    x = random_inputs(graph, 0)
    got = run_build_m4(tmp_path, graph, device, [x], kernels="dsp")
    ref = run_tflm(path, x)
    for a, b in zip(got.outputs[0], ref.outputs, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    p = json.loads((tmp_path / "plan.json").read_text())
    rep = got.report
    # the firmware linked into the plan's SRAM and stayed inside it
    assert rep["sram_budget_bytes"] == p["sram_bytes"]
    assert rep["sram_high_water_bytes"] <= p["sram_bytes"]
    assert rep["stack_high_water_bytes"] <= schedule.STACK_BOUND_BYTES
    assert rep["state_bytes"] <= schedule.RUNTIME_STATE_BYTES
    assert rep["flash_read_bytes"] == p["flash_read_bytes_per_inference"]
    assert rep["flash_read_commands"] == p["flash_read_commands_per_inference"]
    # per-layer counts: every operator ran, as many steps as the plan has for it
    steps = [0] * len(rep["layers"])
    for s in p["schedule"]:
        steps[s["op"]] += 1
    assert [layer["steps"] for layer in rep["layers"]] == steps
    # layers come from one run, the total from another: each chunk's count is within one tick
    per_layer = sum(layer["crypto_instructions"] for layer in rep["layers"])
    assert abs(per_layer - rep["crypto_instructions"]) <= 40 * p["chunks"]
    assert rep["crypto_instructions"] > 0 and rep["instructions"] > rep["crypto_instructions"]


def test_counts_are_identical_across_runs_and_paging_costs_little(kws, device: DeviceKey) -> None:  # type: ignore[no-untyped-def]
    out, _, graph = kws
    x = random_inputs(graph, 3)
    runs = [run_build_m4(out, graph, device, [x]).report for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    incore = run_model_m4(graph, [x]).report
    assert incore["mode"] == "in-core" and incore["crypto_instructions"] == 0
    # paging overhead without crypto: the pager's bookkeeping and the split kernels
    ratio = runs[0]["compute_instructions"] / incore["instructions"]
    assert 1.0 <= ratio <= 1.05, ratio


def test_binary_operators_bit_exact_on_the_m4(tmp_path: Path) -> None:
    """SUB, MINIMUM, MAXIMUM, SQUARED_DIFFERENCE with broadcasts, LOGISTIC and TANH on the real
    instruction set."""
    data = binary_model(7)
    path = tmp_path / "binary.tflite"
    path.write_bytes(data)
    graph = load_model(path)
    samples = [random_inputs(graph, seed) for seed in (0, 1)]
    got = run_model_m4(graph, samples)
    for x, outs in zip(samples, got.outputs, strict=True):
        ref = run_tflm(path, x)
        assert len(outs) == len(ref.outputs) == 6
        for a, b in zip(outs, ref.outputs, strict=True):
            assert a.tobytes() == b.tobytes()


def test_data_movement_bit_exact_on_the_m4(tmp_path: Path) -> None:
    """SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK, PACK, SQUEEZE, EXPAND_DIMS, DEPTH_TO_SPACE,
    SPACE_TO_DEPTH, SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND (eight outputs) on the M4."""
    data = movement_model(3)
    path = tmp_path / "movement.tflite"
    path.write_bytes(data)
    graph = load_model(path)
    x = random_inputs(graph, 0)
    got = run_model_m4(graph, [x])
    ref = run_tflm(path, x)
    assert len(got.outputs[0]) == len(ref.outputs) == 8
    for a, b in zip(got.outputs[0], ref.outputs, strict=True):
        assert a.tobytes() == b.tobytes()


def test_reference_and_dsp_kernels_agree_on_the_m4() -> None:
    path = shared_model("vww_96_int8.tflite")
    graph = load_model(path)
    x = random_inputs(graph, 0)
    ref = run_model_m4(graph, [x], kernels="ref")
    dsp = run_model_m4(graph, [x], kernels="dsp")
    tflm = run_tflm(path, x)
    for a, b, c in zip(ref.outputs[0], dsp.outputs[0], tflm.outputs, strict=True):
        assert a.tobytes() == b.tobytes() == c.tobytes()
    assert dsp.report["instructions"] < ref.report["instructions"]


def test_activations_bit_exact_on_the_m4() -> None:
    """The standalone activations (tests/opmodels.py activation_model) in core on the M4."""
    data = activation_model(4)
    graph = parse_model(data, "activation")
    samples = [random_inputs(graph, s) for s in range(3)]
    got = run_model_m4(graph, samples)
    gold = run_tflm_many(data, samples)
    for mine, ref in zip(got.outputs, gold, strict=True):
        assert len(mine) == len(ref.outputs) == 6
        for a, b in zip(mine, ref.outputs, strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_heads_bit_exact_on_the_m4() -> None:
    """LOG_SOFTMAX, L2_NORMALIZATION, REDUCE_MAX, ARG_MAX, ARG_MIN (int32 outputs) and PRELU
    (tests/opmodels.py heads_model) in core on the M4: one model, one inference."""
    data = heads_model(4)
    graph = parse_model(data, "heads")
    samples = [random_inputs(graph, 0)]
    got = run_model_m4(graph, samples)
    gold = run_tflm_many(data, samples)
    for mine, ref in zip(got.outputs, gold, strict=True):
        assert len(mine) == len(ref.outputs) == 7
        for a, b in zip(mine, ref.outputs, strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_upsampling_bit_exact_on_the_m4() -> None:
    """RESIZE_BILINEAR and TRANSPOSE_CONV (tests/opmodels.py upsample_model) in core on the M4."""
    data = upsample_model(4, Activation.RELU)
    graph = parse_model(data, "upsample")
    samples = [random_inputs(graph, s) for s in range(2)]
    got = run_model_m4(graph, samples)
    gold = run_tflm_many(data, samples)
    for mine, ref in zip(got.outputs, gold, strict=True):
        assert len(mine) == len(ref.outputs) == 3
        for a, b in zip(mine, ref.outputs, strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_over_budget_firmware_fails_at_link_time(kws, device: DeviceKey, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _, _ = kws
    info = BuildDir.open(out).info
    p = json.loads((out / "plan.json").read_text())
    fw = build_model_firmware(out / "c", info.c_name, paged=True, ram_bytes=p["sram_bytes"])
    used = fw.sections["data"] + fw.sections["bss"] + schedule.STACK_BOUND_BYTES
    assert used <= p["sram_bytes"]
    short = used - 100
    with pytest.raises(FirmwareBudgetError, match=r"does not fit its .* overflow it by 10[0-7] "):
        build_model_firmware(out / "c", info.c_name, paged=True, ram_bytes=short)
    # through the CLI: one line, exit status 2
    copy = tmp_path / "b"
    shutil.copytree(out, copy)
    p["sram_bytes"] = short
    (copy / "plan.json").write_text(json.dumps(p))
    key = tmp_path / "dev.key"
    write_key_file(key, device)
    proc = _ooc("run", str(copy), "--device-key", str(key), "--target", "qemu-m4")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith("ooc: error: the firmware does not fit")
    assert "Traceback" not in proc.stderr


def test_cli_reports_the_required_keys(kws, device: DeviceKey, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, path, graph = kws
    key = tmp_path / "dev.key"
    write_key_file(key, device)
    proc = _ooc("run", str(out), "--device-key", str(key), "--target", "qemu-m4", "--json")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    for k in ("instructions", "layers", "text_bytes", "sram_high_water_bytes"):
        assert k in rep
    assert rep["text_bytes"] > 1000 and rep["layers"][0]["op"] == "CONV_2D"
    ref = run_tflm(path, random_inputs(graph, 0))
    assert rep["outputs"][0]["sha256"] == hashlib.sha256(ref.outputs[0].tobytes()).hexdigest()
    proc = _ooc("run", str(path), "--target", "qemu-m4", "--kernels", "ref")
    assert proc.returncode == 0, proc.stderr
    assert "in-core, ref kernels" in proc.stdout and "CONV_2D" in proc.stdout
    proc = _ooc("run", str(out), "--device-key", str(key), "--target", "qemu-m4", "--sync-reads")
    assert proc.returncode == 2 and "apply to --target host" in proc.stderr


def test_tampered_flash_and_wrong_key_are_refused(kws, device: DeviceKey, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _, graph = kws
    x = random_inputs(graph, 0)
    dev = device
    p = json.loads((out / "plan.json").read_text())
    flash = bytearray((out / "flash.bin").read_bytes())
    # a bit in the last chunk's data: found only when that chunk is read, at invoke
    manifest = json.loads((out / "image" / "manifest.json").read_text())
    assert p["chunks"] > 1
    last = manifest["chunks"][-1]
    flash[last["flash_offset"] + last["length"] // 2] ^= 0x10
    bad = tmp_path / "flash.bin"
    bad.write_bytes(bytes(flash))
    with pytest.raises(AuthenticationError, match="refused at invoke"):
        run_build_m4(out, graph, dev, [x], flash_file=bad)
    other = DeviceKey(dev.uid, bytes(32))
    with pytest.raises(WrongKeyError, match="refused at mount"):
        run_build_m4(out, graph, other, [x])


def test_crash_and_hang_are_clear_errors(tmp_path: Path) -> None:
    crash = tmp_path / "crash.c"
    crash.write_text(
        '#include "board.h"\nint main(void)\n{\n    __asm__ volatile("udf #0");\n    return 0;\n}\n'
    )
    with pytest.raises(ToolError, match=r"crashed on the emulated Cortex-M4: .*fault"):
        run_firmware(compile_firmware([crash]), {}, {})
    hang = tmp_path / "hang.c"
    hang.write_text(
        '#include "board.h"\nint main(void)\n{\n    volatile int x = 1;\n'
        "    while (x) {\n    }\n    return 0;\n}\n"
    )
    with pytest.raises(ToolError, match="did not finish within 3 s"):
        run_firmware(compile_firmware([hang]), {}, {}, timeout=3)


def test_nor_flash_semantics_of_the_port() -> None:
    data = os.urandom(64 * 1024)
    status, console, files = run_qemu(
        compile_firmware([PORT / "ooc_qemu_flash_test.c"]), {}, {"nor.bin": data}
    )
    assert status == 0, (status, console)
    nor = files["nor.bin"]
    assert nor[:16] == b"\x30" * 16  # 0xF0 then 0x3C programmed: bits only cleared
    assert nor[16:8192] == b"\xff" * (8192 - 16)  # sectors 0 and 1 erased
    assert nor[8192:] == data[8192:]  # the rest untouched


def _fnv(data: bytes, h: int = 2166136261) -> int:
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def test_crypto_bench_firmware_computes_the_standard_primitives() -> None:
    """The crypto bench's figures mean something only if it computes the real thing: its
    digest must match AES-CTR, CMAC and Poly1305 from the cryptography package."""
    rep, _ = run_firmware(compile_firmware([PORT / "ooc_crypto_bench_main.c"]), {}, {})
    n = rep["bytes"]
    key = bytes(range(1, 33))
    buf = bytes((i * 7 + 3) & 0xFF for i in range(n))
    for k in (key[:16], key):
        enc = Cipher(algorithms.AES(k), modes.CTR(bytes(16))).encryptor()
        buf = enc.update(buf) + enc.finalize()
    c = crypto_cmac.CMAC(algorithms.AES(key[:16]))
    c.update(buf)
    tag = c.finalize() + Poly1305.generate_tag(key, buf)
    assert rep["digest"] == _fnv(tag, _fnv(buf))
    for k in ("aes128_ctr_ticks", "aes256_ctr_ticks", "cmac128_ticks", "poly1305_ticks"):
        assert rep[k] > 0


@pytest.mark.parametrize("name", ["vww_96_int8.tflite", "kws_ref_model.tflite"])
def test_fused_schedule_runs_in_its_working_sram_on_the_m4(name: str, tmp_path: Path) -> None:
    """A fused schedule (k = 1.3) on the M4: bit-exact with tflite-micro, the working SRAM the
    firmware measures equal to the plan's, and the firmware linked into the fused arena +
    runtime state + planned stack, far below the per-layer arena."""
    path = shared_model(name)
    graph = load_model(path)
    fp = plan_fusion(graph, max_mac_overhead=1.3)
    samples = [random_inputs(graph, seed) for seed in (1, 2)]
    got = run_model_m4(graph, samples, fusion=fp)
    refs = run_tflm_many(path.read_bytes(), samples)
    for s, (ref, out) in enumerate(zip(refs, got.outputs, strict=True)):
        for a, b in zip(ref.outputs, out, strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"{name} sample {s}"
    rep = got.report
    assert rep["mode"] == "in-core" and rep["schedule"] == "fused"
    # the highest arena byte below the outputs that the runtime changed, on either sample
    assert rep["working_high_water_bytes"] == fp.working_sram_bytes
    assert rep["plan_working_sram_bytes"] == fp.working_sram_bytes
    assert rep["arena_bytes"] == fp.arena_bytes
    # the SRAM region is the fused arena + runtime state + stack; the firmware fits and stays in
    ram = fp.arena_bytes + schedule.RUNTIME_STATE_BYTES + schedule.STACK_BOUND_BYTES
    assert rep["sram_budget_bytes"] == fused_ram_bytes(fp) == ram
    assert rep["data_bytes"] + rep["bss_bytes"] + schedule.STACK_BOUND_BYTES <= ram
    assert rep["sram_high_water_bytes"] <= ram
    assert rep["stack_high_water_bytes"] <= schedule.STACK_BOUND_BYTES
    assert rep["state_bytes"] <= schedule.RUNTIME_STATE_BYTES
    # the whole firmware RAM is below the per-layer arena alone; what it uses, below half of it
    assert ram < fp.per_layer_arena_bytes
    assert 2 * rep["sram_high_water_bytes"] < fp.per_layer_arena_bytes
    # the streamed input: sample 0 read from the ooc_set_input() buffer, sample 1 through the
    # reader (rows fetched from in.bin by semihosting), both bit-exact above
    assert rep["streamed_inputs"] == len(fp.streamed_inputs) == 1
    assert rep["input_reader_calls"] >= graph.tensor(graph.inputs[0]).shape[1]
    assert [b["ops"] for b in rep["blocks"]] == [[b.first, b.last] for b in fp.blocks]
    assert rep["instructions"] > 0 and rep["mac_overhead"] <= 1.3
    if name.startswith("kws"):
        # the tables `ooc codegen --max-mac-overhead` writes build the same firmware, and a
        # region 100 bytes short of .data + .bss + the stack fails to link
        gen = write_codegen(graph, tmp_path / "gen", fusion=fp)
        used = rep["data_bytes"] + rep["bss_bytes"] + schedule.STACK_BOUND_BYTES
        with pytest.raises(FirmwareBudgetError, match=r"overflow it by 10[0-7] "):
            build_model_firmware(gen.directory, gen.name, paged=False, ram_bytes=used - 100)


def test_cli_runs_fused_schedules_on_host_and_m4(kws, device: DeviceKey, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, path, graph = kws
    tflm = hashlib.sha256(run_tflm(path, random_inputs(graph, 0)).outputs[0].tobytes()).hexdigest()
    for target in ("qemu-m4", "host"):
        proc = _ooc("run", str(path), "--target", target, "--max-mac-overhead", "1.3", "--json")
        assert proc.returncode == 0, proc.stderr
        rep = json.loads(proc.stdout)
        assert rep["schedule"] == "fused"
        assert rep["working_high_water_bytes"] == rep["plan_working_sram_bytes"] <= 8 * 1024
        assert rep["outputs"][0]["sha256"] == tflm
    proc = _ooc("run", str(path), "--target", "qemu-m4", "--fuse")
    assert proc.returncode == 0, proc.stderr
    assert "fused schedule: working SRAM 5,860 B measured on the M4" in proc.stdout
    assert "fused, 1 strip" in proc.stdout
    proc = _ooc("run", str(path), "--sram", "8KiB")
    assert proc.returncode == 2 and "--sram needs --fuse" in proc.stderr
    key = tmp_path / "dev.key"
    write_key_file(key, device)
    proc = _ooc("run", str(out), "--device-key", str(key), "--target", "qemu-m4", "--fuse")
    assert proc.returncode == 2 and "apply to a MODEL" in proc.stderr


def test_spilling_plan_runs_on_the_m4_with_a_persisted_boot_counter(
    device: DeviceKey, tmp_path: Path
) -> None:
    """ResNet-8 at 12 KiB spills activations to the flash's scratch ring (issue 8). On the M4:
    bit-exact with tflite-micro, the firmware linked into the plan's SRAM, the ring's flash
    traffic equal to the plan's prediction, and each boot's keys made fresh by the device's
    monotonic boot counter (this board has no random source): a second boot on the same flash
    and counter takes the next boot number, boot numbers forged into the scratch partition
    never move the counter, and a counter record that is not one is refused."""
    from ooc_sdk.audit.ring import make_sector_header, parse_sector_header
    from ooc_sdk.formats.image import PART_SCRATCH
    from ooc_sdk.image.reader import public_info
    from ooc_sdk.plan import spill as ring

    path = shared_model("pretrainedResnet_quant.tflite")
    graph = load_model(path)
    out = tmp_path / "out"
    p = build(
        graph,
        path.read_bytes(),
        out,
        device,
        BuildRequest(PlanRequest(budget=12 * 1024, flash=FLASH, mcu=M4, fuse=True)),
    ).plan
    assert p.fusion is not None and p.fusion.spills and p.spill is not None
    samples = [random_inputs(graph, 11)]
    ref = run_tflm(path.read_bytes(), samples[0])
    counter = tmp_path / "bootcount.bin"

    def boot() -> dict:  # one power-on of the device: bit-exact, its report
        got = run_build_m4(out, graph, device, samples, boot_counter=counter)
        for a, b in zip(ref.outputs, got.outputs[0], strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
        return got.report

    def counted(n: int) -> bytes:  # the counter record holding boot n
        return n.to_bytes(4, "little") + (~n & 0xFFFFFFFF).to_bytes(4, "little")

    reports = [boot(), boot()]  # two boots of one device: the ring and the counter persist
    first, second = reports
    assert [r["spill_boot"] for r in reports] == [1, 2]
    assert counter.read_bytes() == counted(2)
    # the first boot's last inference is the second on a blank ring (sample 0 runs twice)
    _, pos = ring.predict(FLASH.page_bytes, 4096, ring.FIRST_POSITION, p.fusion.spill_lens)
    cost, _ = ring.predict(FLASH.page_bytes, 4096, pos, p.fusion.spill_lens)
    assert first["flash_program_bytes"] == cost.bytes_programmed > 0
    assert first["page_programs"] == cost.page_programs
    assert first["erases"] == cost.erases
    read_bytes, read_cmds = p.spill_read
    assert (
        first["flash_read_bytes"]
        == p.flash_read_bytes_per_inference + read_bytes + 64 * cost.erases
    )
    assert first["flash_read_commands"] == (
        p.flash_read_commands_per_inference + read_cmds + 2 * cost.erases
    )
    assert second["flash_program_bytes"] > 0
    assert first["sram_budget_bytes"] == p.sram_bytes
    assert first["sram_high_water_bytes"] <= p.sram_bytes
    assert first["state_bytes"] > schedule.RUNTIME_STATE_BYTES  # the ring's handle is counted

    # The attacker rewrites the scratch partition's sector headers with boot = 0xFFFFFFFE (the
    # CRC is no secret). The ring's numbers are not believed over the trusted counter: boot 3
    # takes 3 and counts 3, not 0xFFFFFFFF, and boot 4 runs once the genuine flash is back.
    flash = out / "flash.bin"
    genuine = flash.read_bytes()
    base = BuildDir.open(out).info.flash_offset
    s_off, s_len = public_info(genuine[base:]).partition(PART_SCRATCH)
    forged, headers = bytearray(genuine), 0
    for at in range(base + s_off, base + s_off + s_len, 4096):
        h = parse_sector_header(genuine[at : at + 4096])
        if h["state"] == "ring":
            raw = make_sector_header(h["erase_count"], h["ring_seq"], 0xFFFFFFFE, h["next_count"])
            forged[at : at + 32] = raw
            headers += 1
    assert headers >= 2
    flash.write_bytes(bytes(forged))
    assert boot()["spill_boot"] == 3 and counter.read_bytes() == counted(3)
    flash.write_bytes(genuine)
    assert boot()["spill_boot"] == 4 and counter.read_bytes() == counted(4)

    counter.write_bytes(b"\x05\0\0\0\x05\0\0\0")  # not its complement: a torn or altered record
    with pytest.raises(ToolError, match=r"bootcount\.bin is not a boot counter record"):
        run_build_m4(out, graph, device, samples, boot_counter=counter)
