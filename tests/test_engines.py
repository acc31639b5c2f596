"""The AES engines a port can give the runtime, on the host, with the weights only in the
emulated flash: the PSA Crypto backend (c_runtime/ports/psa) and the bulk, asynchronous CTR hook
(ooc_aes_bulk_t) through the host's worker-thread engine (ports/host/ooc_host_engine.c). Both
run bit-exact with tflite-micro; with the asynchronous engine the next step's chunks are
decrypted while a step computes (measured), and every engine failure stops the inference with
OOC_ERR_IO and the chunk slots wiped. Runners under ASan and UBSan (the worker engine also under
TSan)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.build.directory import BuildDir
from ooc_sdk.build.flash import flash_args
from ooc_sdk.formats import image as fmt
from ooc_sdk.image.keys import DeviceKey, generate
from ooc_sdk.image.outdir import load_image
from ooc_sdk.image.reader import public_info
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.run.golden import run_tflm
from ooc_sdk.run.host import (
    ENGINES,
    RUNNER,
    build_host_program,
    build_runner,
    run_build,
    write_samples,
)
from ooc_sdk.targets import load_flash, load_mcu
from ooc_sdk.toolchain import WARNINGS

sys.path.insert(0, str(Path(__file__).parent))
from conftest import shared_model

FLASH = load_flash("w25q128jv")
KIB = 1024
IO, AUTH = -6, -9  # OOC_ERR_IO, OOC_ERR_AUTH
DELAY = ("--engine-delay-us", "300")  # each job lasts at least this: it outlives the hand-over


@pytest.fixture(scope="module")
def device() -> DeviceKey:
    return generate(bytes.fromhex("0ae5e0a1" * 4), 32)


def _build(tmp: Path, device: DeviceKey, name: str, req: PlanRequest) -> tuple[Path, Path]:
    path = shared_model(name)
    out = tmp / "out"
    result = build(load_model(path), path.read_bytes(), out, device, BuildRequest(req))
    assert result.plan.slots == req.slots or req.slots is None
    return path, out


@pytest.fixture(scope="module")
def ad01(tmp_path_factory: pytest.TempPathFactory, device: DeviceKey) -> tuple[Path, Path]:
    """A per-layer plan with two slots (an MCU with an AES engine): CMAC tags, AES-128."""
    req = PlanRequest(budget=64 * KIB, flash=FLASH, mcu=load_mcu("cortex-m4-aes"))
    path, out = _build(tmp_path_factory.mktemp("ad01"), device, "ad01_int8.tflite", req)
    assert json.loads((out / "plan.json").read_text())["slots"] == 2
    return path, out


@pytest.fixture(scope="module")
def kws(tmp_path_factory: pytest.TempPathFactory, device: DeviceKey) -> tuple[Path, Path]:
    """Two slots, Poly1305 tags (their one-time keys from the engine), AES-256, tags checked
    once at boot (the chunks decrypted ahead are not decrypted again, nor checked, in turn)."""
    req = PlanRequest(
        budget=64 * KIB, flash=FLASH, mcu=load_mcu("cortex-m4"), slots=2, tag="poly1305",
        cipher="aes256", verify="boot",
    )  # fmt: skip
    return _build(tmp_path_factory.mktemp("kws"), device, "kws_ref_model.tflite", req)


def _bit_exact(path: Path, out: Path, device: DeviceKey, engine: str, *args: str) -> dict:  # type: ignore[type-arg]
    graph = BuildDir.open(out).graph()
    x = random_inputs(graph, 0)
    got = run_build(out, graph, device, [x], engine=engine, engine_args=args, sanitize=True)
    for a, b in zip(got.outputs[0], run_tflm(path, x).outputs, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    rep = got.report
    assert rep["engine"] == engine
    plan = json.loads((out / "plan.json").read_text())
    if "spill" not in rep:  # (spilled records are read besides)
        assert rep["flash_read_bytes"] == plan["flash_read_bytes_per_inference"]
    assert rep["slots_wiped"] is False  # the last step's plaintext: the check can fail
    return rep


@pytest.mark.parametrize("which", ["ad01", "kws"])
def test_psa_engine_runs_shared_models_bit_exact(
    which: str, request: pytest.FixtureRequest, device: DeviceKey
) -> None:
    path, out = request.getfixturevalue(which)
    _bit_exact(path, out, device, "psa")


@pytest.mark.parametrize("which", ["ad01", "kws"])
def test_async_engine_overlaps_the_next_steps_decryption_with_compute(
    which: str, request: pytest.FixtureRequest, device: DeviceKey
) -> None:
    """Bit-exact, and the engine was decrypting while steps computed: a job that began before
    a step's compute and ended after it began (the step's own chunks were waited for before it,
    so the job was a later step's)."""
    path, out = request.getfixturevalue(which)
    rep = _bit_exact(path, out, device, "async", *DELAY)
    plan = json.loads((out / "plan.json").read_text())
    assert rep["engine_misuse"] == 0
    assert rep["engine_jobs"] == plan["chunks"]  # one job a chunk, each chunk read once
    assert rep["timed_steps"] == plan["steps"]
    # every step after the first with a next step to prefetch overlaps it; allow a few slips
    assert rep["overlapped_steps"] >= rep["timed_steps"] // 2, rep
    # every job lasted at least the delay; how much of that ran during a step's compute is the
    # host scheduler's choice (none when the worker gets a core only while the runner waits, as
    # on a loaded two-core CI machine with kws's short steps), so overlap_s is reported, not
    # asserted
    delay_s = int(DELAY[1]) * 1e-6
    assert rep["engine_busy_s"] >= 0.99 * delay_s * rep["engine_jobs"] > 0.0, rep


def _raw(out: Path, device: DeviceKey, *args: str, engine: str = "async") -> dict:  # type: ignore[type-arg]
    """Run the build's sanitized runner once; its report, whatever the outcome."""
    bd = BuildDir.open(out)
    binary = build_runner(bd, True, engine)
    with tempfile.TemporaryDirectory(prefix="ooc-engine-") as tmp:
        write_samples(Path(tmp) / "in.bin", [random_inputs(bd.graph(), 0)])
        cmd = [str(binary), str(bd.flash_file()), f"{tmp}/in.bin", f"{tmp}/out.bin", "1",
               *flash_args(bd.info.flash), "--base", str(bd.info.flash_offset), *args]  # fmt: skip
        proc = subprocess.run(
            cmd, input=f"{device.uid.hex()} {device.root_key.hex()}\n", capture_output=True,
            text=True, check=False,
        )  # fmt: skip
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
    rep: dict = json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[type-arg]
    assert (proc.returncode == 0) == (rep["status"] == 0), proc.stderr
    return rep


def _chunk_of_step(out: Path, k: int) -> list[int]:
    return json.loads((out / "plan.json").read_text())["schedule"][k]["chunks"]


@pytest.mark.parametrize(
    "option",
    [
        ("--engine-fail-job", "1"),  # the first step's chunk: decrypted before its compute
        ("--engine-fail-job", "3"),  # the second step's first chunk: while the first computes
        ("--engine-fail-job", "4"),  # the job left running: found when its step begins
        ("--engine-fail-job", "LAST"),  # the last chunk
        ("--engine-refuse-job", "1"),
        ("--engine-refuse-job", "4"),
    ],
)
def test_engine_failure_mid_chunk_fails_the_inference_and_wipes_the_slots(
    option: tuple[str, str], ad01: tuple[Path, Path], device: DeviceKey
) -> None:
    """A failing job has already written half its chunk's plaintext: the inference stops with
    OOC_ERR_IO (a flash/engine failure) and leaves every slot zeroed."""
    _, out = ad01
    n = json.loads((out / "plan.json").read_text())["chunks"]
    assert len(_chunk_of_step(out, 0)) == 2 and len(_chunk_of_step(out, 1)) == 2
    flag, job = option
    rep = _raw(out, device, *DELAY, flag, str(n) if job == "LAST" else job)
    assert (rep["status"], rep["stage"], rep["slots_wiped"]) == (IO, "invoke", True), rep


def test_a_tampered_chunk_is_refused_before_the_engine_decrypts_it(
    ad01: tuple[Path, Path], device: DeviceKey
) -> None:
    """A bit flipped in the third step's ciphertext after boot: its tag is checked when the
    second step begins, before any job of its own; the inference fails with OOC_ERR_AUTH and
    the slots wiped, as with software AES."""
    _, out = ad01
    info = public_info(load_image(out / "image"))
    chunk = _chunk_of_step(out, 2)[0]
    entry = fmt.CHUNK_ENTRY.unpack(info.data, fmt.CHUNK_TABLE_OFFSET + chunk * fmt.CHUNK_ENTRY.size)
    bit = str(entry["flash_offset"] * 8 + 5)
    for engine in ("async", "psa"):
        rep = _raw(out, device, "--flip-bit", bit, engine=engine)
        assert (rep["status"], rep["slots_wiped"]) == (AUTH, True), rep
    assert _raw(out, device)["status"] == 0  # the flip was the only cause


def test_async_engine_with_streamed_weights_and_spills(tmp_path: Path, device: DeviceKey) -> None:
    """Fused blocks that re-stream weights and spill to flash (ResNet-8 at 12 KiB, two slots):
    their own crypto goes through the engine, which the pager first lets finish the next
    step's job (no call while a job is outstanding: no misuse)."""
    req = PlanRequest(budget=12 * KIB, flash=FLASH, mcu=load_mcu("cortex-m4"), fuse=True, slots=2)
    path, out = _build(tmp_path, device, "pretrainedResnet_quant.tflite", req)
    rep = _bit_exact(path, out, device, "async")
    assert "spill" in rep and rep["flash_program_bytes"] > 0  # it spilled
    assert rep["engine_misuse"] == 0
    assert rep["engine_jobs"] > json.loads((out / "plan.json").read_text())["chunks"]  # re-reads


def test_async_engine_under_thread_sanitizer(ad01: tuple[Path, Path], device: DeviceKey) -> None:
    """The worker and the runtime share the slots only through ctr_start / ctr_wait: TSan sees
    no race over a whole inference."""
    path, out = ad01
    bd = BuildDir.open(out)
    files, defines, libs = ENGINES["async"]
    flags = [*WARNINGS, "-O1", "-g", "-fsanitize=thread", *defines]
    binary = build_host_program(
        bd, RUNNER, flags, ("-fsanitize=thread", *libs), "the TSan runner", extra=files
    )
    x = random_inputs(bd.graph(), 0)
    with tempfile.TemporaryDirectory(prefix="ooc-tsan-") as tmp:
        write_samples(Path(tmp) / "in.bin", [x])
        cmd = [str(binary), str(bd.flash_file()), f"{tmp}/in.bin", f"{tmp}/out.bin", "1",
               *flash_args(bd.info.flash), *DELAY]  # fmt: skip
        proc = subprocess.run(
            cmd, input=f"{device.uid.hex()} {device.root_key.hex()}\n", capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0 and "ThreadSanitizer" not in proc.stderr, proc.stderr[-3000:]
        raw = (Path(tmp) / "out.bin").read_bytes()
    ref = b"".join(np.asarray(o).tobytes() for o in run_tflm(path, x).outputs)
    assert raw == ref
