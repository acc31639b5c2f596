"""The Cortex-M DSP-extension kernels (c_runtime/src/kernels/conv_dsp.c and depthwise_dsp.c,
built with -DOOC_KERNELS_DSP=1) against the reference kernels and tflite-micro.

- tests/c/test_dsp_kernels.c runs conv, depthwise and fully connected on hundreds of random odd
  shapes (channel counts not multiples of 4, odd in_c, padding on every side, strides 1-3,
  1x1 to 5x5, 10x4 and 10x8 kernels, depth multipliers 1 to 8, dilation, channel sub-ranges with
  c0 > 0 and c1 < out_c, batches) with both kernel sets: on the host under ASan and UBSan (the
  DSP kernels' portable C), and on the Cortex-M4 under QEMU (their inline assembly). Every
  output must match the reference, and the inline requantization ooc_requantize_to_s8.
- Models: every supported shared model, the operator-coverage models, zoo architectures and a
  model of odd shapes run with kernels="dsp" bit-exact with kernels="ref" and tflite-micro.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import SUPPORTED_SHARED, shared_model
from ooc_sdk.codegen.runtime import C_RUNTIME
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.model import parse_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.model.ir import Activation, DType, Padding
from ooc_sdk.model.writer import ModelDef, OpDef, TensorDef, write_tflite
from ooc_sdk.model.zoo import Knobs, generate
from ooc_sdk.run.golden import run_tflm_many
from ooc_sdk.run.host import build_host, run_host
from ooc_sdk.run.qemu import compile_firmware, run_qemu
from ooc_sdk.toolchain import SANITIZE, WARNINGS
from opmodels import coverage_model, depthwise_multiplier_model

HERE = Path(__file__).parent
KERNELS = C_RUNTIME / "src" / "kernels"
TEST_C = HERE / "c" / "test_dsp_kernels.c"
ARM = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
DSP = "-DOOC_KERNELS_DSP=1"
BIG = "mobilenet_v2_quantized_1x3x224x224.tflite"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (scripts/install-toolchains.sh)", pytrace=False)


# ---- C level: random odd shapes, both kernel sets ------------------------------------------


def _host_run(tmp: Path, kernels: str) -> str:
    """Build tests/c/test_dsp_kernels.c with the kernels under ASan and UBSan, run it."""
    exe = tmp / f"test_dsp_kernels_{kernels}"
    cmd = ["cc", *WARNINGS, *SANITIZE, f"-I{C_RUNTIME / 'include'}", f"-I{KERNELS}"]
    cmd += [DSP] if kernels == "dsp" else []
    cmd += [*map(str, sorted(KERNELS.glob("*.c"))), str(TEST_C), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([str(exe)], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0 and "runtime error" not in proc.stderr, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def reference_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The reference kernels' output on the host: what every other build must print."""
    _need("cc")
    return _host_run(tmp_path_factory.mktemp("ref"), "ref").splitlines()


def _assert_same(lines: list[str], reference: list[str]) -> None:
    assert lines[-1] == reference[-1] and "failed=0" in lines[-1], lines[-1]
    n_cases = int(reference[-1].split("cases=")[1].split()[0])
    assert n_cases > 700 and len(lines) == len(reference) == n_cases + 2
    diff = [(a, b) for a, b in zip(lines, reference, strict=True) if a != b]
    assert not diff, f"{len(diff)} cases differ, first: {diff[0][0]!r} vs {diff[0][1]!r}"


def test_dsp_kernels_match_reference_on_odd_shapes(
    tmp_path: Path, reference_lines: list[str]
) -> None:
    _assert_same(_host_run(tmp_path, "dsp").splitlines(), reference_lines)


@pytest.mark.parametrize("kernels", ["ref", "dsp"])
def test_kernels_match_host_reference_on_cortex_m4(
    kernels: str, reference_lines: list[str]
) -> None:
    """On the M4 the DSP kernels run SXTB16/SMLAD... as inline assembly: the same outputs."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        _need(tool)
    fw = compile_firmware(
        [TEST_C], include_dirs=[KERNELS], defines=["TEST_BARE_METAL"], kernels=kernels
    )
    status, console, _ = run_qemu(fw, {}, {}, timeout=600)
    assert status == 0, console[-2000:]
    _assert_same(console.splitlines(), reference_lines)


@pytest.mark.parametrize("dsp", [False, True])
@pytest.mark.parametrize("compiler", ["cc", "arm-none-eabi-gcc"])
def test_kernels_build_warning_free(compiler: str, dsp: bool) -> None:
    _need(compiler)
    cc = ARM if compiler.startswith("arm") else ["cc"]
    # -O0 too: a firmware project's debug build must compile the DSP kernels' inline assembly
    for src, opt in itertools.product(sorted(KERNELS.glob("*.c")), ("-O0", "-O2")):
        cmd = [*cc, *WARNINGS, opt, f"-I{C_RUNTIME / 'include'}", *([DSP] if dsp else [])]
        proc = subprocess.run(
            [*cmd, "-c", str(src), "-o", "/dev/null"], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0 and not proc.stderr, f"{' '.join(cmd)} {src}\n{proc.stderr}"


# ---- models ------------------------------------------------------------------------------------


def _assert_dsp_bit_exact(data: bytes, seeds: list[int], sanitize: bool) -> None:
    graph = parse_model(data)
    samples = [random_inputs(graph, s) for s in seeds]
    dsp = run_host(graph, samples, sanitize=sanitize, kernels="dsp")
    ref = run_host(graph, samples, kernels="ref")
    gold = run_tflm_many(data, samples)
    for s, (mine, theirs, tflm) in enumerate(zip(dsp.outputs, ref.outputs, gold, strict=True)):
        for a, b, c in zip(mine, theirs, tflm.outputs, strict=True):
            assert a.dtype == c.dtype and a.shape == c.shape
            assert a.tobytes() == b.tobytes(), f"seed {seeds[s]}: dsp and ref kernels differ"
            assert a.tobytes() == c.tobytes(), (
                f"seed {seeds[s]}: dsp kernels and tflite-micro differ"
            )


@pytest.mark.parametrize("name", [n for n in SUPPORTED_SHARED if n != BIG])
def test_shared_models_bit_exact(name: str) -> None:
    _assert_dsp_bit_exact(shared_model(name).read_bytes(), list(range(5)), sanitize=False)


def test_mobilenet_v2_bit_exact() -> None:
    _assert_dsp_bit_exact(shared_model(BIG).read_bytes(), [0, 1], sanitize=False)


@pytest.mark.parametrize(
    "name", ["kws_ref_model.tflite", "person_detect.tflite", "ad01_int8.tflite"]
)
def test_shared_models_bit_exact_under_sanitizers(name: str) -> None:
    _assert_dsp_bit_exact(shared_model(name).read_bytes(), [7, 8], sanitize=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_operator_coverage_models_bit_exact(seed: int) -> None:
    _assert_dsp_bit_exact(coverage_model(seed), [seed, seed + 10], sanitize=True)
    # depth multiplier 3: the DSP build hands it to the reference kernel
    _assert_dsp_bit_exact(depthwise_multiplier_model(seed), [seed, seed + 10], sanitize=True)


ZOO = [
    ("ds-cnn", Knobs(width=8, depth=1)),
    ("mobilenet-v1", Knobs(width=0.1, resolution=32)),
    ("mobilenet-v2", Knobs(width=0.1, resolution=32, depth=1, classes=10)),
    ("resnet8", Knobs(width=4, resolution=16)),
    ("autoencoder", Knobs(width=16, depth=1)),
]


@pytest.mark.parametrize(("arch", "knobs"), ZOO, ids=[a for a, _ in ZOO])
def test_zoo_bit_exact(arch: str, knobs: Knobs) -> None:
    _assert_dsp_bit_exact(generate(arch, knobs, seed=21).data, [0, 1], sanitize=True)


def _odd_shapes_model(seed: int) -> bytes:
    """int8 layers with shapes the DSP kernels treat as edge cases: odd widths and channel counts
    (conv 5 -> 7 with stride 2, depthwise with 7 and 6 channels, pointwise 7 -> 13), a 5x5
    window too large to gather, a 2x2 window, and a fully connected layer over 2 batches."""
    rng = np.random.default_rng(seed)
    m = ModelDef(description="ooc test: odd shapes for the DSP kernels")

    def act(shape: tuple[int, ...], scale: float, zp: int) -> int:
        return m.add_tensor(
            TensorDef(f"t{len(m.tensors)}", shape, DType.INT8, None, (scale,), (zp,))
        )

    def layer(
        kind: str, x: int, w_shape: tuple[int, ...], out_shape: tuple[int, ...], options: dict
    ) -> int:
        x_t = m.tensors[x]
        assert x_t.scale is not None
        depthwise = kind == "DEPTHWISE_CONV_2D"
        n_out = w_shape[-1] if depthwise else w_shape[0]
        k = int(np.prod(w_shape[1:3])) if depthwise else int(np.prod(w_shape[1:]))
        per_channel = kind != "FULLY_CONNECTED"
        w_scale = rng.uniform(0.004, 0.02, size=n_out if per_channel else 1)
        w = m.add_tensor(
            TensorDef(
                f"w{len(m.tensors)}",
                w_shape,
                DType.INT8,
                rng.integers(-127, 128, w_shape, dtype=np.int8),
                tuple(float(s) for s in w_scale),
                (0,) * len(w_scale),
                3 if depthwise else 0,
            )
        )
        b_scale = tuple(float(x_t.scale[0] * s) for s in w_scale)
        b = m.add_tensor(
            TensorDef(
                f"b{len(m.tensors)}",
                (n_out,),
                DType.INT32,
                rng.integers(-3000, 3000, n_out, dtype=np.int32),
                b_scale,
                (0,) * len(b_scale),
                0,
            )
        )
        # outputs spread over the int8 range: |acc| ~ sqrt(k) * 73 * (74 for the uniform model
        # input, about 30 for the outputs of the layers before) input and weight units
        in_std = 74 if x == m.inputs[0] else 30
        out_scale = float(x_t.scale[0] * np.mean(w_scale) * np.sqrt(k) * in_std * 73 / 40)
        y = act(out_shape, out_scale, int(rng.integers(-20, 20)))
        m.ops.append(OpDef(kind, [x, w, b], [y], options))
        return y

    def conv(stride: int, padding: Padding, activation: Activation) -> dict:
        return {"padding": padding, "stride": (stride, stride), "dilation": (1, 1),
                "activation": activation}  # fmt: skip

    x = act((1, 9, 13, 5), 0.05, -3)
    m.inputs = [x]
    y = layer("CONV_2D", x, (7, 3, 3, 5), (1, 5, 7, 7), conv(2, Padding.SAME, Activation.RELU))
    dw = {**conv(1, Padding.SAME, Activation.NONE), "depth_multiplier": 1}
    y = layer("DEPTHWISE_CONV_2D", y, (1, 3, 3, 7), (1, 5, 7, 7), dw)
    y = layer("CONV_2D", y, (13, 1, 1, 7), (1, 5, 7, 13), conv(1, Padding.VALID, Activation.NONE))
    y = layer("CONV_2D", y, (6, 5, 5, 13), (1, 5, 7, 6), conv(1, Padding.SAME, Activation.RELU))
    dw = {**conv(2, Padding.SAME, Activation.RELU), "depth_multiplier": 1}
    y = layer("DEPTHWISE_CONV_2D", y, (1, 3, 3, 6), (1, 3, 4, 6), dw)
    y = layer("CONV_2D", y, (9, 2, 2, 6), (1, 2, 3, 9), conv(1, Padding.VALID, Activation.NONE))
    fc = {"activation": Activation.NONE, "keep_num_dims": False}
    layer("FULLY_CONNECTED", y, (5, 27), (2, 5), fc)
    # every layer's output is a model output: a difference anywhere shows
    m.outputs = [op.outputs[0] for op in m.ops]
    return write_tflite(m)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_odd_shapes_model_bit_exact(seed: int) -> None:
    _assert_dsp_bit_exact(_odd_shapes_model(seed), [seed, seed + 10, seed + 20], sanitize=True)


def test_build_host_rejects_unknown_kernels() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown kernels 'neon'"):
        build_host(parse_model(coverage_model(0)), kernels="neon")
