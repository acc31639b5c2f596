"""The wheel as a user gets it: built from the project's files (those the sdist holds), installed
with its dependencies and the golden extra into a fresh venv in a temporary directory, and used
there with no checkout in reach (not on sys.path, not the working directory): the C runtime
comes from the wheel (ooc_sdk/c_runtime, ``ooc --runtime-dir``), the README's tour runs (zoo,
golden, codegen, build, run on the host and on the Cortex-M4 under QEMU, report) bit-exact with
tflite-micro, and the runtime directory installs as the CMake package the example firmware
project builds on.

The venv takes its dependencies from the package index through pip's cache, as a user's would:
the slow part of this test (docs/DESIGN.md, "Packaging")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from ooc_sdk import __version__
from ooc_sdk.codegen.runtime import runtime_sources, versions
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.run.host import write_samples

pytestmark = pytest.mark.slow

# what the sdist holds (MANIFEST.in): the wheel is built from a copy of these alone
PROJECT_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "ooc_sdk", "c_runtime",
                 "examples")  # fmt: skip
LITTER = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.o", "*.a")
ZOO_SMALLEST = ("ds-cnn", "--width", "8", "--depth", "1")  # tests/test_cmake_package.py
UID = "0123456789abcdef01234567"


@dataclass(frozen=True)
class Venv:
    path: Path
    work: Path  # the working directory: outside the checkout
    env: dict[str, str]
    seconds: dict[str, float]  # wall time: the wheel's build, the venv with its install

    def run(self, *cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            cmd, cwd=cwd or self.work, env=self.env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, (
            f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        return proc

    def ooc(self, *args: str) -> str:
        return self.run(str(self.path / "bin" / "ooc"), *args).stdout


def _outside_checkout(path: str) -> bool:
    p = Path(path).resolve()
    return p != ROOT and ROOT not in p.parents


def _deprecations(log: str) -> list[str]:
    """The lines of a pip log that warn of something deprecated (as setuptools did of the
    license table form)."""
    return [ln for ln in log.splitlines() if "deprecat" in ln.lower()]


def _env(venv: Path, root: Path) -> dict[str, str]:
    """This environment without this venv or the checkout: the fresh venv's bin first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}  # fmt: skip
    paths = [p for p in env.get("PATH", "").split(os.pathsep) if p and _outside_checkout(p)]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *paths])
    env["PYTHONNOUSERSITE"] = "1"
    env["OOC_CACHE_DIR"] = str(root / "cache")
    return env


def make_venv(root: Path) -> Venv:
    """The wheel built from a copy of the project's files, and a fresh venv under ``root``
    with it installed (and the golden extra)."""
    runtime_sources()  # the pinned third-party sources, which the wheel carries
    start = time.monotonic()
    src = root / "src"
    src.mkdir()
    for name in PROJECT_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=LITTER)
        else:
            shutil.copy2(ROOT / name, src / name)
    # -v: the build backend's own output, where setuptools writes its deprecation warnings
    wheel_cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(root / "dist"),
                 str(src)]  # fmt: skip
    proc = subprocess.run(wheel_cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not _deprecations(proc.stdout + proc.stderr)
    (wheel,) = (root / "dist").glob("ooc_sdk-*.whl")
    built = time.monotonic()
    path = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    work = root / "work"
    work.mkdir()
    v = Venv(path, work, _env(path, root), {})
    proc = v.run(str(path / "bin" / "python"), "-m", "pip", "install", f"{wheel}[golden]")
    assert not _deprecations(proc.stdout + proc.stderr)
    v.seconds.update(wheel=built - start, venv=time.monotonic() - built)
    print(f"wheel built in {v.seconds['wheel']:.1f} s; venv with it in {v.seconds['venv']:.1f} s")
    return v


def check_installed_outside_the_checkout(venv: Venv) -> None:
    """ooc_sdk and its runtime directory are the venv's; nothing on sys.path is the checkout;
    ``ooc --runtime-dir``, ``python -m ooc_sdk`` and ``ooc --version`` answer."""
    code = ("import json, sys, ooc_sdk; print(json.dumps({'file': ooc_sdk.__file__, "
            "'runtime': str(ooc_sdk.runtime_dir()), 'path': sys.path}))")  # fmt: skip
    got = json.loads(venv.run(str(venv.path / "bin" / "python"), "-c", code).stdout)
    site = venv.path.resolve()
    assert site in Path(got["file"]).resolve().parents
    runtime = Path(got["runtime"])
    assert runtime.name == "c_runtime" and runtime.parent.name == "ooc_sdk"
    assert site in runtime.parents
    assert all(_outside_checkout(p) for p in got["path"] if p), got["path"]
    assert runtime_sources(runtime) == runtime_sources()
    assert all((runtime / s).is_file() for s in runtime_sources())
    for part in ("include/ooc/ooc.h", "ports/qemu_mps2/mps2_an386.ld", "cmake/oocConfig.cmake",
                 "CMakeLists.txt"):  # fmt: skip
        assert (runtime / part).is_file(), part
    assert venv.ooc("--runtime-dir").strip() == str(runtime)
    module = venv.run(str(venv.path / "bin" / "python"), "-m", "ooc_sdk", "--runtime-dir")
    assert module.stdout.strip() == str(runtime)
    v = versions()
    assert venv.ooc("--version").splitlines() == [
        f"ooc, version {__version__}",
        f"C runtime {v['runtime']}, model tables version {v['tables']}, "
        f"image format version {v['image_format']}",
    ]


def check_tour(venv: Venv) -> None:
    """The README's tour on the zoo's smallest model: the outputs of the build on the host and
    on the Cortex-M4 are tflite-micro's; the report is written."""
    w = venv.work
    venv.ooc("zoo", *ZOO_SMALLEST, "-o", "tiny.tflite")
    venv.ooc("golden", "tiny.tflite", "--seed", "1", "--output", "golden.npy")
    venv.ooc("codegen", "tiny.tflite", "-o", "tiny_c/")
    assert (w / "tiny_c" / "ooc_runtime" / "sources.txt").is_file()
    venv.ooc("keygen", "-o", "dev.key", "--uid", UID)
    venv.ooc("build", "tiny.tflite", "--sram", "8KiB", "--device-key", "dev.key", "-o", "out/")
    venv.ooc("run", "out/", "--device-key", "dev.key", "--seed", "1", "--output", "host.npy")
    venv.ooc("run", "out/", "--device-key", "dev.key", "--seed", "1", "--target", "qemu-m4",
             "--output", "m4.npy")  # fmt: skip
    venv.ooc("report", "out/", "--device-key", "dev.key", "-o", "report.html")
    want = np.load(w / "golden.npy").tobytes()
    assert np.load(w / "host.npy").tobytes() == want
    assert np.load(w / "m4.npy").tobytes() == want
    assert (w / "report.html").stat().st_size > 10_000


def check_cmake_package(venv: Venv) -> None:
    """`cmake -S $(ooc --runtime-dir)` and `cmake --install`: the example firmware project
    finds the installed package and runs the tour's generated tables bit-exact (host build)."""
    w = venv.work
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.fail("cmake is not installed (scripts/install-toolchains.sh)", pytrace=False)
    runtime = venv.ooc("--runtime-dir").strip()
    venv.run(cmake, "-S", runtime, "-B", str(w / "runtime-build"))
    venv.run(cmake, "--install", str(w / "runtime-build"), "--prefix", str(w / "prefix"))
    example = venv.path.parent / "src" / "examples" / "cmake_consumer"  # the user's project
    venv.run(cmake, "-S", str(example), "-B", str(w / "consumer"), f"-DOOC_MODEL_DIR={w / 'tiny_c'}",
             f"-DCMAKE_PREFIX_PATH={w / 'prefix'}")  # fmt: skip
    venv.run(cmake, "--build", str(w / "consumer"), "-j", "2")
    run_dir = w / "consumer-run"
    run_dir.mkdir()
    write_samples(run_dir / "in.bin", [random_inputs(load_model(w / "tiny.tflite"), 1)])
    venv.run(str(w / "consumer" / "ooc_consumer"), cwd=run_dir)
    assert (run_dir / "out.bin").read_bytes() == np.load(w / "golden.npy").tobytes()


def test_wheel_in_a_fresh_venv(tmp_path: Path) -> None:
    """One test, so that one worker builds the venv (its install is the slow part)."""
    venv = make_venv(tmp_path)
    check_installed_outside_the_checkout(venv)
    check_tour(venv)
    check_cmake_package(venv)
