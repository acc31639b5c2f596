"""``ooc inspect``, ``ooc zoo`` and ``ooc golden``: a model, a generated model, the oracle."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ooc_sdk.cli.options import (
    EXISTING_FILE,
    INT,
    SIZE,
    command,
    describe,
    echo_outputs,
    emit_json,
    io_options,
    load_inputs,
    save_outputs,
)
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.units import format_size


def _supported_ops_help() -> str:
    from ooc_sdk.model import SUPPORTED_OP_NAMES

    return ", ".join(SUPPORTED_OP_NAMES)


@command(
    epilog="Supported operators (int8, fused NONE/RELU/RELU6): "
    + _supported_ops_help()
    + ". float32 is accepted only at the model edges through QUANTIZE/DEQUANTIZE."
)
@click.argument("model", type=EXISTING_FILE)
@click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table."
)
def inspect(model: Path, as_json: bool) -> None:
    """Show a model's layers, MACs, weight bytes and activation memory.

    MODEL is an int8 .tflite file. The table lists per operator the output
    shape, fused activation, MACs (conv, depthwise, fully connected, MUL),
    constant bytes first read by that operator, and activation bytes read and
    written. The totals give the largest single tensor, the naive per-layer peak
    (inputs + outputs of the worst operator) and the peak of all tensors alive
    at once. Shape arithmetic on static shapes (e.g. a Keras Flatten's
    SHAPE/STRIDED_SLICE/PACK) is folded into RESHAPE targets, a dilated
    convolution exported as SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND
    becomes one convolution where exactly equivalent, and no-op operators are
    dropped at ingest; the "folded at ingest" lines say what. JSON keys:
    macs, weight_bytes, layers, peak_activation_bytes, peak_live_bytes,
    largest_tensor_bytes, inputs, outputs, folded.
    """
    from ooc_sdk.model import load_model
    from ooc_sdk.model.summary import render_table, summarize

    summary = summarize(load_model(model))
    if as_json:
        emit_json(summary)
    else:
        click.echo(render_table(summary))


def _zoo_epilog() -> str:
    from ooc_sdk.model.zoo import ARCHITECTURES

    lines = ["Architectures (knobs, defaults; a larger size):"]
    for a in ARCHITECTURES.values():
        defaults = ", ".join(f"{n}={getattr(a.defaults, n)}" for n in a.knob_names)
        larger = " ".join(
            f"--{n.replace('_', '-')} {v}" for n, v in vars(a.larger).items() if v is not None
        )
        lines.append(f"  {a.name}: {a.summary} ({defaults}; {larger})")
    return "\b\n" + "\n".join(lines)


def _se_places() -> tuple[str, ...]:
    from ooc_sdk.model.zoo import SE_PLACES

    return SE_PLACES


@command(epilog=_zoo_epilog())
@click.argument("arch", metavar="ARCH")
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the .tflite file.",
)
@click.option(
    "--seed", type=INT, default=0, show_default=True, help="Seed of the pseudo-random weights."
)
@click.option(
    "--width",
    type=float,
    default=None,
    help="Width: a multiplier for the MobileNets and mcunet, a channel/unit count for the others.",
)
@click.option("--resolution", type=INT, default=None, help="Input height and width in pixels.")
@click.option(
    "--depth",
    type=INT,
    default=None,
    help="Blocks (ds-cnn), hidden layers per side (autoencoder), repeats per stage (mobilenet-v2),"
    " output scales (detector: 2 or 3), blocks per stage (inception).",
)
@click.option(
    "--se",
    type=click.Choice(_se_places()),
    default=None,
    help="mcunet: the stages with squeeze-and-excitation blocks (default: late).",
)
@click.option("--classes", type=INT, default=None, help="Classifier outputs.")
@click.option(
    "--weights",
    type=SIZE,
    default=None,
    help="Pick the smallest width whose weights reach this size (e.g. 16MiB); excludes --width.",
)
@click.option(
    "--float-io/--int8-io",
    default=None,
    help="float32 input/output through QUANTIZE/DEQUANTIZE, or int8 (default: int8, mcunet float).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def zoo(
    arch: str,
    out: Path,
    seed: int,
    width: float | None,
    resolution: int | None,
    depth: int | None,
    classes: int | None,
    se: str | None,
    weights: int | None,
    float_io: bool | None,
    as_json: bool,
) -> None:
    """Generate an int8 .tflite model of a standard architecture.

    Weights are deterministic pseudo-random (He-normal, from --seed) and the
    model is calibrated so activations use their int8 range; the same ARCH,
    knobs and seed always give the same bytes. Every generated model runs in
    tflite-micro.
    """
    from ooc_sdk.model.zoo import Knobs, generate

    started = time.perf_counter()
    knobs = Knobs(
        width=width, resolution=resolution, depth=depth, classes=classes, float_io=float_io, se=se
    )
    m = generate(arch, knobs, seed=seed, weights=weights)
    try:
        out.write_bytes(m.data)
    except OSError as e:
        raise InvalidArgumentError(f"cannot write {out}: {e.strerror or e}") from None
    elapsed = time.perf_counter() - started
    info = {
        "path": str(out),
        "arch": m.arch,
        "seed": m.seed,
        "knobs": {k: v for k, v in vars(m.knobs).items() if v is not None and v is not False},
        "file_bytes": len(m.data),
        "weight_bytes": m.weight_bytes,
        "macs": m.macs,
        "seconds": round(elapsed, 3),
    }
    if as_json:
        emit_json(info)
    else:
        knob_text = " ".join(f"{k}={v}" for k, v in info["knobs"].items())
        click.echo(
            f"wrote {out}: {m.arch} {knob_text} seed={seed}, {format_size(m.weight_bytes)} weights, "
            f"{m.macs:,} MACs, {len(m.data):,} bytes in {elapsed:.2f} s"
        )


@command()
@click.argument("model", type=EXISTING_FILE)
@io_options
@click.option(
    "--no-cache", is_flag=True, help="Run the interpreter even if a cached result exists."
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def golden(
    model: Path,
    inputs: tuple[Path, ...],
    seed: int,
    output: Path | None,
    no_cache: bool,
    as_json: bool,
) -> None:
    """Run MODEL in the tflite-micro reference interpreter (the oracle).

    Prints the arena TFLM needed (total, and the head/tail split of its
    RecordingMicroAllocator) and the outputs' shapes and digests. Needs the
    golden extra (pip install 'ooc-sdk[golden]'). Results are cached by model hash
    and inputs under $OOC_CACHE_DIR (default ~/.cache/ooc).
    """
    from ooc_sdk.run.golden import run_tflm

    r = run_tflm(model, load_inputs(inputs), seed=seed, use_cache=not no_cache)
    save_outputs(output, r.outputs)
    outs = describe(r.outputs)
    info = {
        "arena_bytes": r.arena_bytes,
        "arena_head_bytes": r.arena_head_bytes,
        "arena_tail_bytes": r.arena_tail_bytes,
        "cached": r.cached,
        "outputs": outs,
    }
    if as_json:
        emit_json(info)
        return
    click.echo(
        f"tflite-micro arena: {r.arena_bytes:,} bytes (head {r.arena_head_bytes:,}, "
        f"tail {r.arena_tail_bytes:,}){' [cached]' if r.cached else ''}"
    )
    echo_outputs(r.outputs, outs)
