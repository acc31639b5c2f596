"""The runtime as a CMake package (c_runtime/cmake/oocConfig.cmake): installed with `cmake
--install`, found by find_package(ooc CONFIG) in the example firmware project
examples/cmake_consumer/, which builds the tables `ooc codegen` generated for the zoo's smallest
model on ooc::runtime, for the host (gcc) and cross-built for the QEMU mps2-an386 board
(arm-none-eabi-gcc, the DSP kernels); both run bit-exact with tflite-micro, the board under QEMU.
tests/test_wheel.py installs the package from the wheel's runtime directory instead."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, ooc_cli
from ooc_sdk.codegen.emit import write_codegen
from ooc_sdk.codegen.runtime import C_RUNTIME, runtime_sources, runtime_version
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Graph
from ooc_sdk.run import qemu
from ooc_sdk.run.golden import run_tflm
from ooc_sdk.run.host import split_outputs, write_samples

EXAMPLE = ROOT / "examples" / "cmake_consumer"
# the zoo's smallest model: a DS-CNN of one block, 8 channels (704 bytes of weights)
ZOO_SMALLEST = ("ds-cnn", "--width", "8", "--depth", "1")
SEEDS = (1, 2, 3)  # one sample each, in one in.bin
STRICT = "-Wall -Wextra -pedantic -Werror"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/install-toolchains.sh)", pytrace=False)
    return path


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def install_package(runtime: Path, build: Path, prefix: Path) -> Path:
    """`cmake -S runtime -B build && cmake --install build --prefix prefix`; the config's
    directory."""
    run([tool("cmake"), "-S", str(runtime), "-B", str(build)])
    run([tool("cmake"), "--install", str(build), "--prefix", str(prefix)])
    config = prefix / "share" / "ooc" / "cmake" / "oocConfig.cmake"
    assert config.is_file()
    return config.parent


def build_consumer(
    build: Path, gen: Path, prefix: Path, *options: str, flags: str = STRICT
) -> None:
    """Configure and build examples/cmake_consumer on the tables in ``gen`` with ``flags``
    (CMAKE_C_FLAGS: -Werror throughout)."""
    run([tool("cmake"), "-S", str(EXAMPLE), "-B", str(build), f"-DOOC_MODEL_DIR={gen}",
         f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release",
         f"-DCMAKE_C_FLAGS={flags}", "-DOOC_WARNINGS_AS_ERRORS=ON", *options])  # fmt: skip
    run([tool("cmake"), "--build", str(build), "-j", "2"])
    # the tables' project found ooc::runtime and left its own copy of the runtime out
    assert not (build / "model" / "ooc_runtime").exists()


def check_outputs(graph: Graph, out_bin: Path, want: list[list[np.ndarray]]) -> None:
    got = split_outputs(graph, out_bin.read_bytes(), len(want))
    for g_sample, w_sample in zip(got, want, strict=True):
        for g, w in zip(g_sample, w_sample, strict=True):
            np.testing.assert_array_equal(g, w)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Graph, Path]:
    """The package installed into a prefix; the smallest zoo model's tables; its samples in
    in.bin; tflite-micro's outputs for them. Returns (prefix, tables, graph, run directory)."""
    root = tmp_path_factory.mktemp("cmake-package")
    runtime_sources()  # the pinned third-party sources, fetched once
    install_package(C_RUNTIME, root / "runtime-build", root / "prefix")
    model = root / "tiny.tflite"
    proc = ooc_cli("zoo", *ZOO_SMALLEST, "-o", str(model))
    assert proc.returncode == 0, proc.stderr
    graph = load_model(model)
    write_codegen(graph, root / "gen", "tiny")
    samples = [random_inputs(graph, s) for s in SEEDS]
    rundir = root / "run"
    rundir.mkdir()
    write_samples(rundir / "in.bin", samples)
    want = [run_tflm(model, s).outputs for s in samples]
    np.save(rundir / "want.npy", np.array(want, dtype=object), allow_pickle=True)
    return root / "prefix", root / "gen", graph, rundir


def _want(rundir: Path) -> list[list[np.ndarray]]:
    return [list(s) for s in np.load(rundir / "want.npy", allow_pickle=True)]


def test_installed_package_layout(project: tuple[Path, Path, Graph, Path]) -> None:
    """The prefix holds the runtime's tree under share/ooc: its sources as sources.txt lists
    them, the headers, the ports and the package's config and version files."""
    prefix = project[0]
    share = prefix / "share" / "ooc"
    assert runtime_sources(share) == runtime_sources()
    assert all((share / s).is_file() for s in runtime_sources())
    assert (share / "include" / "ooc" / "ooc.h").read_bytes() == (
        C_RUNTIME / "include" / "ooc" / "ooc.h"
    ).read_bytes()
    for name in ("oocConfig.cmake", "oocConfigVersion.cmake", "arm-none-eabi-cortex-m4.cmake"):
        assert (share / "cmake" / name).is_file()
    assert (share / "ports" / "qemu_mps2" / "mps2_an386.ld").is_file()


def test_host_build_runs_bit_exact(project: tuple[Path, Path, Graph, Path]) -> None:
    prefix, gen, graph, rundir = project
    build = rundir.parent / "host"
    build_consumer(build, gen, prefix, "-DCMAKE_C_COMPILER=gcc")
    work = rundir.parent / "host-run"
    work.mkdir()
    shutil.copy(rundir / "in.bin", work / "in.bin")
    proc = run([str(build / "ooc_consumer")], cwd=work)
    assert proc.stderr.strip().splitlines()[-1] == "ok"
    check_outputs(graph, work / "out.bin", _want(rundir))


def test_cortex_m4_build_runs_bit_exact_under_qemu(
    project: tuple[Path, Path, Graph, Path],
) -> None:
    """Cross-built with the package's toolchain file and the DSP kernels, on the package's QEMU
    board port; run as `ooc run --target qemu-m4` runs its firmware."""
    prefix, gen, graph, rundir = project
    for name in ("arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-system-arm"):
        tool(name)
    toolchain = prefix / "share" / "ooc" / "cmake" / "arm-none-eabi-cortex-m4.cmake"
    arch = re.search(r'CMAKE_C_FLAGS_INIT "([^"]*)"', toolchain.read_text())
    assert arch is not None  # CMAKE_C_FLAGS given replaces the toolchain's: keep its CPU flags
    build = rundir.parent / "m4"
    build_consumer(build, gen, prefix, f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
                   "-DOOC_KERNELS_DSP=ON", flags=f"{arch.group(1)} {STRICT}")  # fmt: skip
    elf = build / "ooc_consumer.elf"
    symbols = run([tool("arm-none-eabi-nm"), "--defined-only", str(elf)]).stdout
    assert re.search(r" T ooc_conv2d_s8_channels_ref$", symbols, re.M), "the DSP option took"
    assert re.search(r" [RrDd] ooc_model_tiny$", symbols, re.M)
    work = rundir.parent / "m4-run"
    work.mkdir()
    shutil.copy(rundir / "in.bin", work / "in.bin")
    proc = subprocess.run(
        [tool("qemu-system-arm"), *qemu.QEMU_BASE_ARGS,
         "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
        cwd=work, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "ok"
    check_outputs(graph, work / "out.bin", _want(rundir))


VERSION_CASES = {"": True, "0.1": True, "0.0": False, "0.2": False, "1.0": False,
                 "0.1...0.2": True, "0.2...1.0": False}  # fmt: skip


def test_version_file(tmp_path: Path) -> None:
    """find_package(ooc [VERSION] CONFIG) against oocConfigVersion.cmake, which reads the
    version from include/ooc/ooc.h: a 0.x version is compatible only with itself (and ranges
    that hold it)."""
    assert runtime_version() == "0.1", "update the cases for the runtime's new version"
    calls = "".join(  # a failed find_package forgets ooc_DIR: set it again every time
        f'set(ooc_DIR "{C_RUNTIME / "cmake"}" CACHE PATH "" FORCE)\n'
        f'find_package(ooc {v} CONFIG QUIET)\nmessage(STATUS "case [{v}] found=${{ooc_FOUND}}")\n'
        for v in VERSION_CASES
    )
    (tmp_path / "CMakeLists.txt").write_text(
        f"cmake_minimum_required(VERSION 3.19)\nproject(v LANGUAGES C)\n{calls}"
    )
    runtime_sources()
    proc = run([tool("cmake"), "-S", str(tmp_path), "-B", str(tmp_path / "b")])
    got = {m[0]: m[1] == "1" for m in re.findall(r"case \[([^]]*)\] found=(\S*)", proc.stdout)}
    assert got == VERSION_CASES, proc.stdout
