"""benchmarks/bench_cmsisnn.py still works: the first layers of kws_ref_model (a conv, a depthwise
and a pointwise layer) through ooc's kernels and CMSIS-NN's (built from ../shared/third_party/
CMSIS-NN, with and without its inline-assembly requantization) on the emulated Cortex-M4, outputs
byte-identical (the benchmark fails otherwise), and tables that add up. The full run over every
shared model is the benchmark itself, not a test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import shared_model

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "bench_cmsisnn.py"
CMSIS_NN = ROOT.parent / "shared" / "third_party" / "CMSIS-NN"
SIDES = ("ooc", "cmsis", "cmsis_asm")


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--models", "kws_ref_model", "--quiet-layers", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_bench_cmsisnn_small_layer_set(tmp_path: Path) -> None:
    if not (CMSIS_NN / "Include" / "arm_nnfunctions.h").exists():
        pytest.fail(
            f"{CMSIS_NN} is missing: the test needs ../shared beside the project", pytrace=False
        )
    shared_model("kws_ref_model.tflite")
    out = tmp_path / "cmsisnn.json"
    proc = _bench("--max-layers", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    layers = res["layers"]
    assert [r["kind"] for r in layers] == ["conv", "depthwise", "pointwise"]
    for r in layers:
        for side in SIDES:  # whole ticks of the board counter, never nothing
            assert r[side] > 0 and r[side] % res["meta"]["instruction_resolution"] == 0
    (model,) = res["models"]
    for side in SIDES:
        assert model[side] == sum(r[side] for r in layers)
        assert sum(k[side] for k in res["kinds"]) == model[side]
    assert model["macs"] == sum(r["macs"] for r in layers) > 0
    assert model["vs_cmsis_asm"] == round(model["ooc"] / model["cmsis_asm"], 3)


def test_bench_cmsisnn_refuses_a_missing_source_tree(tmp_path: Path) -> None:
    out = tmp_path / "cmsisnn.json"
    proc = _bench("--cmsis-nn", str(tmp_path / "nowhere"), "--out", str(out))
    assert proc.returncode == 2
    assert "not a CMSIS-NN source tree" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
