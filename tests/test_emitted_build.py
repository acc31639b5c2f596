"""The project ``ooc codegen`` emits, built the way a firmware project builds it: its
CMakeLists.txt (on the runtime's own c_runtime/CMakeLists.txt, copied to ooc_runtime/) and its
ooc.mk, each for the host (gcc) and for a Cortex-M4 (arm-none-eabi-gcc), with -Werror.

The host builds link the `ooc run MODEL` main (c_runtime/ports/host/ooc_run_main.c) against the
emitted library and run the model once: bit-exact with tflite-micro. The Cortex-M4 builds compile
and archive the static libraries (the QEMU tests run Cortex-M4 firmware for bit-exactness); one
uses the DSP kernels through the CMake option, the other the reference ones through ooc.mk.
The wrapper projects are tests/c/emitted/CMakeLists.txt and tests/c/emitted/Makefile."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, shared_model
from ooc_sdk.codegen.emit import Generated, write_codegen
from ooc_sdk.codegen.runtime import C_RUNTIME, runtime_sources
from ooc_sdk.codegen.thirdparty import FILES
from ooc_sdk.codegen.thirdparty import SUBDIR as THIRD_PARTY
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.run import qemu
from ooc_sdk.run.golden import run_tflm
from ooc_sdk.run.host import split_outputs, write_samples

MODEL = "kws_ref_model.tflite"  # conv, depthwise, pooling, fully connected, softmax
NAME = "kws"
WRAPPER = ROOT / "tests" / "c" / "emitted"
RUNNER = C_RUNTIME / "ports" / "host" / "ooc_run_main.c"
TOOLCHAIN_M4 = C_RUNTIME / "cmake" / "arm-none-eabi-cortex-m4.cmake"
STRICT = "-Wall -Wextra -pedantic -Werror"
ARM_TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-ar", "arm-none-eabi-nm")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/install-toolchains.sh)", pytrace=False)
    return path


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Graph, Generated, Path]:
    """The emitted project of a small shared model, and a scratch directory for the builds."""
    graph = load_model(shared_model(MODEL))
    root = tmp_path_factory.mktemp("emitted")
    return graph, write_codegen(graph, root / "gen", NAME), root


@pytest.fixture(scope="module")
def golden(model: tuple[Graph, Generated, Path]) -> tuple[Path, list[np.ndarray]]:
    """One input sample as the runner's input file, and tflite-micro's outputs for it."""
    graph, _, root = model
    sample = random_inputs(graph, 7)
    write_samples(root / "in.bin", [sample])
    return root / "in.bin", run_tflm(shared_model(MODEL), sample).outputs


def _run_model(runner: Path, graph: Graph, golden: tuple[Path, list[np.ndarray]]) -> None:
    in_file, want = golden
    out_file = runner.parent / "out.bin"
    _run([str(runner), str(in_file), str(out_file), "1", "1"])
    got = split_outputs(graph, out_file.read_bytes(), 1)[0]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def _cmake(build: Path, *options: str) -> None:
    _run([_tool("cmake"), "-S", str(WRAPPER), "-B", str(build), *options])
    _run([_tool("cmake"), "--build", str(build), "-j", "2"])


def _make(gen: Path, out: Path, *args: str) -> None:
    _run([_tool("make"), "-f", str(WRAPPER / "Makefile"), "-j", "2", f"GEN={gen}", f"OUT={out}",
          *args])  # fmt: skip


def _symbols(archive: Path) -> set[str]:
    """The global symbols an archive defines."""
    out = _run([_tool("arm-none-eabi-nm"), "--defined-only", "-g", str(archive)])
    return {ln.split()[-1] for ln in out.splitlines() if re.match(r"^[0-9a-f]+ [A-Z] ", ln)}


def test_source_list_names_every_source() -> None:
    """c_runtime/sources.txt, the one list CMake and the SDK read, is every src/**/*.c, sorted,
    then the fetched third-party sources (ooc_sdk/codegen/thirdparty.py)."""
    listed = runtime_sources()
    on_disk = sorted(p.relative_to(C_RUNTIME) for p in (C_RUNTIME / "src").rglob("*.c"))
    assert [p for p in listed if p.parts[0] == "src"] == on_disk
    third = [p for p in listed if p.parts[0] != "src"]
    assert third == [THIRD_PARTY / n for n in FILES if n.endswith(".c")]
    assert all((C_RUNTIME / p).is_file() for p in third)


def test_cmake_host_runs_bit_exact(
    model: tuple[Graph, Generated, Path], golden: tuple[Path, list[np.ndarray]]
) -> None:
    graph, gen, root = model
    assert runtime_sources(gen.directory / "ooc_runtime") == runtime_sources()
    build = root / "cmake-host"
    _cmake(build, f"-DOOC_GEN={gen.directory}", f"-DOOC_NAME={NAME}", f"-DOOC_RUNNER={RUNNER}",
           "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_C_COMPILER=gcc", f"-DCMAKE_C_FLAGS={STRICT}",
           "-DOOC_WARNINGS_AS_ERRORS=ON")  # fmt: skip
    assert (build / "gen" / "ooc_runtime" / "libooc_runtime.a").exists()
    _run_model(build / "runner", graph, golden)


def test_make_host_dsp_runs_bit_exact(
    model: tuple[Graph, Generated, Path], golden: tuple[Path, list[np.ndarray]]
) -> None:
    """ooc.mk with OOC_KERNELS_DSP=1: the DSP kernels in their portable C form."""
    graph, gen, root = model
    out = root / "make-host"
    defines = (f"RUN_DEFINES=-DOOC_RUN_HEADER='\"ooc_model_{NAME}.h\"' "
               f"-DOOC_RUN_MODEL=ooc_model_{NAME} -DOOC_RUN_ARENA=OOC_MODEL_{NAME.upper()}_ARENA_BYTES")  # fmt: skip
    _make(gen.directory, out, "CC=gcc", "OOC_KERNELS_DSP=1", f"RUNNER={RUNNER}", defines,
          str(out / "libooc.a"), str(out / "runner"))  # fmt: skip
    assert (out / "ooc_runtime" / "src" / "kernels" / "conv_dsp.o").exists()
    _run_model(out / "runner", graph, golden)


def test_cmake_cortex_m4_dsp_library(model: tuple[Graph, Generated, Path]) -> None:
    _, gen, root = model
    for name in ARM_TOOLS:
        _tool(name)
    flags = re.search(r'CMAKE_C_FLAGS_INIT "([^"]*)"', TOOLCHAIN_M4.read_text())
    assert flags is not None and set(qemu.ARCH) <= set(flags.group(1).split()), (
        "the toolchain file's CPU flags are the QEMU firmware's"
    )
    build = root / "cmake-m4"
    _cmake(build, f"-DOOC_GEN={gen.directory}", f"-DOOC_NAME={NAME}",
           f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN_M4}", "-DCMAKE_BUILD_TYPE=Release",
           f"-DCMAKE_C_FLAGS={STRICT}", "-DOOC_KERNELS_DSP=ON")  # fmt: skip
    runtime = _symbols(build / "gen" / "ooc_runtime" / "libooc_runtime.a")
    assert {"ooc_init", "ooc_invoke", "ooc_image_mount", "ooc_spill_mount"} <= runtime
    assert "ooc_conv2d_s8_channels_ref" in runtime  # the DSP kernels' fallbacks: the option took
    assert f"ooc_model_{NAME}" in _symbols(build / "gen" / f"libooc_{NAME}.a")


def test_make_cortex_m4_library(model: tuple[Graph, Generated, Path]) -> None:
    _, gen, root = model
    for name in ARM_TOOLS:
        _tool(name)
    out = root / "make-m4"
    _make(gen.directory, out, "CC=arm-none-eabi-gcc", "AR=arm-none-eabi-ar",
          f"ARCH={' '.join(qemu.ARCH)}")  # fmt: skip
    symbols = _symbols(out / "libooc.a")
    assert {"ooc_init", "ooc_invoke", f"ooc_model_{NAME}"} <= symbols
    assert "ooc_conv2d_s8_channels_ref" not in symbols  # the reference kernels by default
