"""ooc's int8 kernels against CMSIS-NN's, side by side on the emulated Cortex-M4.

Run: python benchmarks/bench_cmsisnn.py [--cmsis-nn DIR] [--models NAME ...] [--max-layers N]
                                        [--out benchmarks/results/cmsisnn.json]

Every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED layer of the shared models (vww_96_int8,
person_detect, kws_ref_model, pretrainedResnet_quant = ResNet-8, MobileNetV2 224) runs in a
layer-at-a-time firmware (benchmarks/m4/layer_bench_main.c) that reads each layer's parameters,
weights, bias and input through semihosting and counts the instructions of the one kernel call
(QEMU mps2-an386, -icount shift=0: deterministic, 40 instructions per tick). Three firmwares,
the same arm-none-eabi-gcc and code-generation flags (those of `ooc run --target qemu-m4`:
Cortex-M4F, -O2, -ffunction-sections -fdata-sections):

- ooc: the runtime's kernels as a `--target qemu-m4` build has them (OOC_KERNELS_DSP=1);
- CMSIS-NN: its s8 convolution, depthwise and fully-connected wrappers (what TFLM's CMSIS-NN
  kernels call), compiled from the source tree given by --cmsis-nn (default
  ../shared/third_party/CMSIS-NN; the project does not vendor it);
- CMSIS-NN asm: the same with CMSIS_NN_USE_REQUANTIZE_INLINE_ASSEMBLY.

Each layer gets the model's weights, bias and quantization and a random input (fixed seed); the
three outputs must be byte-identical or the run fails. Prints per-layer, per-layer-type and
per-model tables and writes them as JSON. The whole-model table (not with --max-layers or
--no-whole) adds each model's other layers (pooling, ADD, PAD, softmax, ...) as ooc runs them in
core (`ooc run MODEL --target qemu-m4`) to both sides: CMSIS-NN has no say in those.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ooc_sdk.errors import OocError  # noqa: E402
from ooc_sdk.lower.prepare import prepare_op  # noqa: E402
from ooc_sdk.model import load_model  # noqa: E402
from ooc_sdk.model.inputs import random_inputs  # noqa: E402
from ooc_sdk.model.ir import Graph, Operator  # noqa: E402
from ooc_sdk.run.qemu import (  # noqa: E402
    ARCH,
    INSTRUCTIONS_PER_TICK,
    Firmware,
    compile_firmware,
    run_model_m4,
    run_qemu,
    tool,
)
from ooc_sdk.toolchain import build_root  # noqa: E402

MODELS_DIR = ROOT.parent / "shared" / "models"
DEFAULT_CMSIS_NN = ROOT.parent / "shared" / "third_party" / "CMSIS-NN"
HARNESS = ROOT / "benchmarks" / "m4" / "layer_bench_main.c"
MODELS = ["vww_96_int8", "person_detect", "kws_ref_model", "pretrainedResnet_quant",
          "mobilenet_v2_quantized_1x3x224x224"]  # fmt: skip
SIDES = ("ooc", "cmsis", "cmsis_asm")
SHORT = {"pretrainedResnet_quant": "resnet8", "mobilenet_v2_quantized_1x3x224x224": "mobilenet_v2"}
# The code-generation flags of ooc_sdk.run.qemu.CFLAGS; CMSIS-NN is not built -pedantic -Werror
# (warning flags do not change the code).
CMSIS_FLAGS = [*ARCH, "-std=c99", "-O2", "-ffunction-sections", "-fdata-sections"]
CMSIS_DIRS = ("ConvolutionFunctions", "FullyConnectedFunctions", "NNSupportFunctions")
KINDS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 2}
SEED = 24


class BenchError(Exception):
    """A missing input or a mismatch: the benchmark stops with one line."""


@dataclass
class Layer:
    model: str
    index: int  # operator index in the model
    kind: str  # pointwise, conv, depthwise, fully_connected
    shape: str
    macs: int
    record: bytes  # the layer's layers.bin record
    out_bytes: int


def _pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def _words(values: Sequence[int]) -> bytes:
    return np.asarray(values, dtype="<i4").tobytes()


def _layer(graph: Graph, op: Operator, rng: np.random.Generator) -> Layer:
    prep = prepare_op(graph, op)
    f = prep.fields
    w = graph.tensor(op.inputs[1])
    bias_t = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    assert w.data is not None
    kind_id = KINDS[op.op_type]
    if kind_id == 2:
        head = [2, f["batches"], 1, 1, f["in_depth"], 1, 1, f["out_depth"], 1, 1, 1, 1, 1, 1, 0,
                0, 1, f["input_offset"], f["output_offset"], f["act_min"], f["act_max"],
                f["per_channel"]]  # fmt: skip
        in_n, out_c, out_n = f["batches"] * f["in_depth"], f["out_depth"], f["out_depth"]
        kind, shape = "fully_connected", f"{f['in_depth']}->{f['out_depth']}"
        out_n *= f["batches"]
    else:
        names = ["batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w",
                 "stride_h", "stride_w", "dil_h", "dil_w", "pad_top", "pad_left",
                 "depth_multiplier", "input_offset", "output_offset", "act_min", "act_max"]  # fmt: skip
        head = [kind_id, *(f[n] for n in names), 1]
        in_n = f["batches"] * f["in_h"] * f["in_w"] * f["in_c"]
        out_c, out_n = f["out_c"], f["batches"] * f["out_h"] * f["out_w"] * f["out_c"]
        dense = f["k_h"] == f["k_w"] == 1 and f["stride_h"] == f["stride_w"] == 1
        kind = "depthwise" if kind_id == 1 else ("pointwise" if dense else "conv")
        shape = (
            f"{f['in_h']}x{f['in_w']}x{f['in_c']} k{f['k_h']}x{f['k_w']} s{f['stride_h']} "
            f"-> {f['out_h']}x{f['out_w']}x{f['out_c']}"
        )
    mults, shifts = f["out_multiplier"], f["out_shift"]
    head += [1 if bias_t is not None else 0, len(mults)]
    body = _words(mults) + _words(shifts)
    if bias_t is not None:
        assert bias_t.data is not None and bias_t.data.size == out_c
        body += np.asarray(bias_t.data, dtype="<i4").tobytes()
    body += _pad4(np.asarray(w.data, dtype=np.int8).tobytes())
    body += _pad4(rng.integers(-128, 128, size=in_n, dtype=np.int8).tobytes())
    return Layer(graph.name, op.index, kind, shape, op.macs, _words(head) + body, out_n)


def model_layers(name: str, max_layers: int | None) -> list[Layer]:
    path = MODELS_DIR / f"{name}.tflite"
    if not path.exists():
        raise BenchError(f"{path} is missing: the benchmark needs ../shared/models")
    graph = load_model(path)
    rng = np.random.default_rng(SEED)
    layers = [_layer(graph, op, rng) for op in graph.operators if op.op_type in KINDS]
    return layers[:max_layers] if max_layers is not None else layers


def cmsis_objects(src: Path, asm: bool) -> list[Path]:
    """CMSIS-NN's s8 conv, depthwise, FC and support sources compiled with our flags (cached)."""
    check_source(src)
    files = sorted(
        p
        for d in CMSIS_DIRS
        for p in (src / "Source" / d).glob("*.c")
        if not p.name.endswith(("_f16.c", "_f32.c"))
    )
    flags = [*CMSIS_FLAGS, f"-I{src / 'Include'}"]
    if asm:
        flags.append("-DCMSIS_NN_USE_REQUANTIZE_INLINE_ASSEMBLY")
    gcc = tool("arm-none-eabi-gcc")
    version = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False)
    h = hashlib.sha256(f"{version.stdout}|{flags}".encode())
    for p in [*files, *sorted((src / "Include").rglob("*.h"))]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    out = build_root() / f"cmsisnn-{h.hexdigest()[:24]}"
    objs = [out / f"{p.stem}.o" for p in files]
    if all(o.exists() for o in objs):
        return objs
    out.mkdir(parents=True, exist_ok=True)
    for p, o in zip(files, objs, strict=True):
        tmp = o.with_suffix(".tmp.o")
        proc = subprocess.run(
            [gcc, *flags, "-c", str(p), "-o", str(tmp)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise BenchError(f"compiling {p.name} failed: {proc.stderr.strip()[:300]}")
        tmp.replace(o)
    return objs


def check_source(src: Path) -> None:
    if not (src / "Include" / "arm_nnfunctions.h").exists():
        raise BenchError(f"{src} is not a CMSIS-NN source tree (no Include/arm_nnfunctions.h)")


def firmware(side: str, cmsis_nn: Path) -> Firmware:
    if side == "ooc":
        return compile_firmware([HARNESS])
    return compile_firmware(
        [HARNESS, *cmsis_objects(cmsis_nn, asm=side == "cmsis_asm")],
        include_dirs=[cmsis_nn / "Include"],
        defines=["LAYER_BENCH_CMSIS=1"],
    )


def run_layers(fw: Firmware, layers: list[Layer]) -> tuple[list[bytes], list[int]]:
    """Each layer's output bytes and instructions (one firmware run for all of them)."""
    status, console, files = run_qemu(fw, {}, {"layers.bin": b"".join(la.record for la in layers)})
    if status != 0:
        raise BenchError(f"the layer bench failed (exit status {status}): {console.strip()[-200:]}")
    ticks = np.frombuffer(files["ticks.bin"], dtype="<u4")
    out, outs = files["out.bin"], []
    if len(ticks) != len(layers) or len(out) != sum(la.out_bytes for la in layers):
        raise BenchError("the layer bench wrote fewer layers than it was given")
    pos = 0
    for la in layers:
        outs.append(out[pos : pos + la.out_bytes])
        pos += la.out_bytes
    return outs, [int(t) * INSTRUCTIONS_PER_TICK for t in ticks]


def other_layers(name: str) -> int:
    """Instructions of the model's other layers (pooling, ADD, PAD, softmax, ...) as ooc runs them
    in core (`ooc run MODEL --target qemu-m4`): the same on both sides of a whole-model figure."""
    graph = load_model(MODELS_DIR / f"{name}.tflite")
    rep = run_model_m4(graph, [random_inputs(graph, 0)]).report
    return sum(
        layer["instructions"]
        for layer in rep["layers"]
        if graph.operators[layer["index"]].op_type not in KINDS
    )


def whole_models(models: list[str], totals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whole-model instructions per side: its conv, depthwise and FC layers plus the others."""
    rows = []
    for name, t in zip(models, totals, strict=True):
        other = other_layers(name)
        row = {"model": t["model"], "other_layers": other, **{s: t[s] + other for s in SIDES}}
        row["vs_cmsis"] = round(row["ooc"] / row["cmsis"], 3)
        row["vs_cmsis_asm"] = round(row["ooc"] / row["cmsis_asm"], 3)
        rows.append(row)
    return rows


def bench(models: list[str], cmsis_nn: Path, max_layers: int | None) -> dict[str, Any]:
    check_source(cmsis_nn)
    fws = {side: firmware(side, cmsis_nn) for side in SIDES}
    rows: list[dict[str, Any]] = []
    for name in models:
        layers = model_layers(name, max_layers)
        results = {side: run_layers(fws[side], layers) for side in SIDES}
        for i, la in enumerate(layers):
            outs = {side: results[side][0][i] for side in SIDES}
            if len(set(outs.values())) != 1:
                raise BenchError(f"{name} op {la.index} ({la.kind} {la.shape}): outputs differ")
            rows.append(
                {"model": SHORT.get(name, name), "op": la.index, "kind": la.kind, "shape": la.shape,
                 "macs": la.macs, **{side: results[side][1][i] for side in SIDES}}
            )  # fmt: skip
    return {"layers": rows, "by_kind": summarize(rows, ("model", "kind")),
            "models": summarize(rows, ("model",)), "kinds": summarize(rows, ("kind",))}  # fmt: skip


def summarize(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in rows:
        k = tuple(r[key] for key in keys)
        g = groups.setdefault(k, {**dict(zip(keys, k, strict=True)), "layers": 0, "macs": 0,
                                  **dict.fromkeys(SIDES, 0)})  # fmt: skip
        g["layers"] += 1
        g["macs"] += r["macs"]
        for side in SIDES:
            g[side] += r[side]
    for g in groups.values():
        g["vs_cmsis"] = round(g["ooc"] / g["cmsis"], 3)
        g["vs_cmsis_asm"] = round(g["ooc"] / g["cmsis_asm"], 3)
    return list(groups.values())


def _table(title: str, rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    print(f"\n{title}")
    head = "".join(f"{k:<24}" if k == "shape" else f"{k:<16}" for k in keys)
    print(f"{head}{'MACs':>12} {'ooc':>13} {'CMSIS-NN':>13} {'CMSIS asm':>13} "
          f"{'/MAC ooc':>9} {'/MAC asm':>9} {'vs':>6} {'vs asm':>7}")  # fmt: skip
    for r in rows:
        lead = "".join(f"{str(r[k])[:23]:<24}" if k == "shape" else f"{str(r[k])[:15]:<16}"
                       for k in keys)  # fmt: skip
        macs = max(r["macs"], 1)
        print(
            f"{lead}{r['macs']:>12,} {r['ooc']:>13,} {r['cmsis']:>13,} {r['cmsis_asm']:>13,} "
            f"{r['ooc'] / macs:>9.3f} {r['cmsis_asm'] / macs:>9.3f} "
            f"{r['ooc'] / r['cmsis']:>6.3f} {r['ooc'] / r['cmsis_asm']:>7.3f}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cmsis-nn", type=Path, default=DEFAULT_CMSIS_NN,
                    help="a CMSIS-NN source tree (Include/, Source/)")  # fmt: skip
    ap.add_argument("--models", nargs="*", default=MODELS, choices=MODELS)
    ap.add_argument("--max-layers", type=int, default=None, help="the first N layers per model")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cmsisnn.json")
    ap.add_argument("--quiet-layers", action="store_true", help="no per-layer table")
    ap.add_argument(
        "--no-whole", action="store_true", help="no whole-model table (it runs each model in core)"
    )
    args = ap.parse_args()
    t0 = time.time()
    try:
        res = bench(args.models, args.cmsis_nn.resolve(), args.max_layers)
        if not args.no_whole and args.max_layers is None:
            res["whole"] = whole_models(args.models, res["models"])
    except (BenchError, OocError) as e:
        print(f"bench_cmsisnn: {e}", file=sys.stderr)
        return 2
    if not args.quiet_layers:
        _table("Per layer (instructions per kernel call)", res["layers"], ("model", "op", "kind",
               "shape"))  # fmt: skip
    _table("Per model and layer type", res["by_kind"], ("model", "kind"))
    _table("Per layer type, all models", res["kinds"], ("kind",))
    _table("All conv, depthwise and FC layers of each model", res["models"], ("model",))
    if "whole" in res:
        print("\nWhole model: those layers plus the others, as ooc runs them in core (both sides)")
        print(f"{'model':<16}{'other layers':>14} {'ooc':>13} {'CMSIS-NN':>13} {'CMSIS asm':>13} "
              f"{'vs':>6} {'vs asm':>7}")  # fmt: skip
        for r in res["whole"]:
            print(f"{r['model']:<16}{r['other_layers']:>14,} {r['ooc']:>13,} {r['cmsis']:>13,} "
                  f"{r['cmsis_asm']:>13,} {r['vs_cmsis']:>6.3f} {r['vs_cmsis_asm']:>7.3f}")  # fmt: skip
    print("\nvs: ooc / CMSIS-NN; vs asm: ooc / CMSIS-NN with CMSIS_NN_USE_REQUANTIZE_INLINE_ASSEMBLY;"
          " outputs byte-identical on every layer")  # fmt: skip
    res["meta"] = {
        "cmsis_nn": str(args.cmsis_nn),
        "max_layers": args.max_layers,
        "seconds": round(time.time() - t0, 1),
        "host": platform.platform(),
        "instruction_resolution": INSTRUCTIONS_PER_TICK,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
