"""Build and run tests/c/test_api.c (API error paths) under ASan and UBSan, and check that
generated code builds warning-free with gcc and arm-none-eabi-gcc."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import shared_model
from ooc_sdk.codegen.emit import write_codegen
from ooc_sdk.model import load_model, parse_model
from ooc_sdk.model.zoo import Knobs, generate
from ooc_sdk.toolchain import SANITIZE, WARNINGS
from opmodels import coverage_model

HERE = Path(__file__).parent


def _compile(
    cc: list[str], gen_dir: Path, sources: list[Path], out: Path | None, extra: list[str]
) -> None:
    includes = [f"-I{gen_dir}", f"-I{gen_dir / 'ooc_runtime' / 'include'}"]
    if out is None:  # compile only
        for src in sources:
            cmd = [*cc, *WARNINGS, "-O2", *includes, *extra, "-c", str(src), "-o", "/dev/null"]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
        return
    cmd = [*cc, *WARNINGS, *SANITIZE, *includes, *extra, *map(str, sources), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_api_error_paths(tmp_path: Path) -> None:
    graph = load_model(shared_model("kws_ref_model.tflite"))
    gen = write_codegen(graph, tmp_path / "gen", "kws")
    exe = tmp_path / "test_api"
    _compile(
        ["cc"],
        gen.directory,
        [gen.model_c, *gen.runtime_sources, HERE / "c" / "test_api.c"],
        exe,
        [
            '-DTEST_HEADER="ooc_model_kws.h"',
            "-DTEST_MODEL=ooc_model_kws",
            f"-DTEST_ARENA={gen.arena_bytes}u",
        ],
    )
    proc = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 failed" in proc.stdout and "runtime error" not in proc.stderr


ARM = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


@pytest.mark.parametrize("compiler", ["gcc", "arm-none-eabi-gcc"])
def test_codegen_builds_warning_free(tmp_path: Path, compiler: str) -> None:
    if shutil.which(compiler) is None:
        pytest.fail(f"{compiler} is not installed (.ci/run installs it)", pytrace=False)
    cc = ARM if compiler.startswith("arm") else ["gcc"]
    models = {
        "coverage": parse_model(coverage_model(0)),
        "mbv2": parse_model(
            generate("mobilenet-v2", Knobs(width=0.1, resolution=32, depth=1, classes=10)).data
        ),
        "vww": load_model(shared_model("vww_96_int8.tflite")),
    }
    for name, graph in models.items():
        gen = write_codegen(graph, tmp_path / name, name)
        _compile(cc, gen.directory, [gen.model_c, *gen.runtime_sources], None, [])
        assert f"OOC_MODEL_{name.upper()}_ARENA_BYTES {gen.arena_bytes}u" in gen.model_h.read_text()
        assert (gen.directory / "CMakeLists.txt").exists() and (gen.directory / "ooc.mk").exists()
