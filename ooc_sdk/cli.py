"""The ``ooc`` command line: thin wrappers over the library's API functions.

This is the only module that imports click. ``main()`` turns every
:class:`OocError` (and every usage error) into one line on stderr and exit
status 2; a bug elsewhere prints one line too (set ``OOC_DEBUG=1`` for the
traceback) and exits 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import click
import numpy as np

from ooc_sdk import __version__
from ooc_sdk.errors import InvalidArgumentError, OocError
from ooc_sdk.units import format_size, parse_size

EXIT_USAGE = 2


class _Size(click.ParamType):
    """A byte size: 4096, 0x1000, 64KiB, 2MiB (units are binary)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except InvalidArgumentError as e:
            self.fail(str(e), param, ctx)


class _Int(click.ParamType):
    """An integer in decimal or 0x hexadecimal."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return int(str(value), 0)
        except ValueError:
            self.fail(f"{value!r} is not an integer", param, ctx)


SIZE = _Size()
INT = _Int()
_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="ooc")
def cli() -> None:
    """ooc: run int8 neural networks far larger than a microcontroller's SRAM.

    Weights (and, when needed, activations) live encrypted and authenticated in
    external SPI NOR flash; the ooc runtime pages them through a small SRAM
    budget. Start with `ooc zoo` to make a model and `ooc inspect` to see it.

    Sizes accept binary units (64KiB, 2MiB) and integers accept 0x hex.
    Errors are one line on stderr with exit status 2.
    """


def _supported_ops_help() -> str:
    from ooc_sdk.model import SUPPORTED_OP_NAMES

    return ", ".join(SUPPORTED_OP_NAMES)


@cli.command(
    epilog="Supported operators (int8, fused NONE/RELU/RELU6): "
    + _supported_ops_help()
    + ". float32 is accepted only at the model edges through QUANTIZE/DEQUANTIZE."
)
@click.argument("model", type=_EXISTING_FILE)
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
    at once. JSON keys: macs, weight_bytes, layers, peak_activation_bytes,
    peak_live_bytes, largest_tensor_bytes, inputs, outputs.
    """
    from ooc_sdk.model import load_model
    from ooc_sdk.model.summary import render_table, summarize

    summary = summarize(load_model(model))
    if as_json:
        _emit_json(summary)
    else:
        click.echo(render_table(summary))


def _zoo_epilog() -> str:
    from ooc_sdk.model.zoo import ARCHITECTURES

    lines = ["Architectures (knobs, defaults):"]
    for a in ARCHITECTURES.values():
        defaults = ", ".join(f"{n}={getattr(a.defaults, n)}" for n in a.knob_names)
        lines.append(f"  {a.name}: {a.summary} ({defaults})")
    return "\b\n" + "\n".join(lines)


@cli.command(epilog=_zoo_epilog())
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
    help="Width: a multiplier for the MobileNets, a channel/unit count for the others.",
)
@click.option("--resolution", type=INT, default=None, help="Input height and width in pixels.")
@click.option(
    "--depth",
    type=INT,
    default=None,
    help="Blocks (ds-cnn), hidden layers per side (autoencoder), repeats per stage (mobilenet-v2).",
)
@click.option("--classes", type=INT, default=None, help="Classifier outputs.")
@click.option(
    "--weights",
    type=SIZE,
    default=None,
    help="Pick the smallest width whose weights reach this size (e.g. 16MiB); excludes --width.",
)
@click.option("--float-io", is_flag=True, help="float32 input/output through QUANTIZE/DEQUANTIZE.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def zoo(
    arch: str,
    out: Path,
    seed: int,
    width: float | None,
    resolution: int | None,
    depth: int | None,
    classes: int | None,
    weights: int | None,
    float_io: bool,
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
        width=width, resolution=resolution, depth=depth, classes=classes, float_io=float_io
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
        _emit_json(info)
    else:
        knob_text = " ".join(f"{k}={v}" for k, v in info["knobs"].items())
        click.echo(
            f"wrote {out}: {m.arch} {knob_text} seed={seed}, {format_size(m.weight_bytes)} weights, "
            f"{m.macs:,} MACs, {len(m.data):,} bytes in {elapsed:.2f} s"
        )


def _load_inputs(paths: tuple[Path, ...]) -> list[np.ndarray] | None:
    if not paths:
        return None
    arrays = []
    for p in paths:
        try:
            arrays.append(np.load(p, allow_pickle=False))
        except (OSError, ValueError) as e:
            raise InvalidArgumentError(f"{p}: not a .npy array ({e})") from None
    return arrays


def _inference_options(f: Any) -> Any:
    """MODEL plus the input and output options `ooc golden` and `ooc run` share."""
    f = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write the outputs: .npy for one output, .npz for several.",
    )(f)
    f = click.option(
        "--seed", type=INT, default=0, show_default=True, help="Seed for random inputs."
    )(f)
    f = click.option(
        "--input",
        "-i",
        "inputs",
        type=_EXISTING_FILE,
        multiple=True,
        help="A .npy file per model input, in order (default: random from --seed).",
    )(f)
    return click.argument("model", type=_EXISTING_FILE)(f)


@cli.command()
@_inference_options
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
    dev extra (pip install 'ooc-sdk[dev]'). Results are cached by model hash
    and inputs under $OOC_CACHE_DIR (default ~/.cache/ooc).
    """
    import hashlib

    from ooc_sdk.golden import run_tflm

    r = run_tflm(model, _load_inputs(inputs), seed=seed, use_cache=not no_cache)
    _save_outputs(output, r.outputs)
    outs = [
        {
            "shape": list(o.shape),
            "dtype": str(o.dtype),
            "sha256": hashlib.sha256(o.tobytes()).hexdigest(),
        }
        for o in r.outputs
    ]
    info = {
        "arena_bytes": r.arena_bytes,
        "arena_head_bytes": r.arena_head_bytes,
        "arena_tail_bytes": r.arena_tail_bytes,
        "cached": r.cached,
        "outputs": outs,
    }
    if as_json:
        _emit_json(info)
        return
    click.echo(
        f"tflite-micro arena: {r.arena_bytes:,} bytes (head {r.arena_head_bytes:,}, "
        f"tail {r.arena_tail_bytes:,}){' [cached]' if r.cached else ''}"
    )
    _echo_outputs(r.outputs, outs)


def _save_outputs(output: Path | None, outputs: list[np.ndarray]) -> None:
    if output is None:
        return
    try:
        if len(outputs) == 1 and output.suffix != ".npz":
            np.save(output, outputs[0])
        else:
            np.savez(output, *outputs)
    except OSError as e:
        raise InvalidArgumentError(f"cannot write {output}: {e.strerror or e}") from None


def _echo_outputs(outputs: list[np.ndarray], described: list[dict[str, Any]]) -> None:
    for i, o in enumerate(outputs):
        flat = o.reshape(-1)
        preview = " ".join(str(v) for v in flat[:12]) + (" ..." if flat.size > 12 else "")
        click.echo(
            f"output {i}: {o.dtype}{list(o.shape)} sha256 {described[i]['sha256'][:16]}  [{preview}]"
        )


@cli.command()
@click.argument("model", type=_EXISTING_FILE)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the C sources and build files into.",
)
@click.option(
    "--name", default=None, help="C identifier of the model (default: from the file name)."
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def codegen(model: Path, out_dir: Path, name: str | None, as_json: bool) -> None:
    """Emit the C sources a firmware project adds to run MODEL.

    Writes ooc_model_<name>.c/.h (const tables: operators, kernel parameters
    computed ahead of time, the activation memory plan, weights), the runtime
    sources under ooc_runtime/, a CMakeLists.txt (library target ooc_<name>)
    and ooc.mk (a Makefile fragment: OOC_SRCS, OOC_INCLUDES). The header
    defines OOC_MODEL_<NAME>_ARENA_BYTES, the arena ooc_init() needs. The code
    is C99 and builds warning-free with -Wall -Wextra -pedantic -Werror.
    """
    from ooc_sdk.codegen.emit import write_codegen
    from ooc_sdk.model import load_model

    gen = write_codegen(load_model(model), out_dir, name)
    info = {
        "name": gen.name,
        "directory": str(gen.directory),
        "model_c": str(gen.model_c),
        "model_h": str(gen.model_h),
        "arena_bytes": gen.arena_bytes,
        "plan_strategy": gen.plan.strategy,
        "runtime_sources": [str(s) for s in gen.runtime_sources],
    }
    if as_json:
        _emit_json(info)
    else:
        click.echo(
            f"wrote {gen.model_c.name}, {gen.model_h.name}, ooc_runtime/, CMakeLists.txt and ooc.mk "
            f"to {out_dir}; activation arena {gen.arena_bytes:,} bytes"
        )


@cli.command()
@_inference_options
@click.option(
    "--repeat",
    type=INT,
    default=1,
    show_default=True,
    help="Invoke this many times and report the median time.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def run(
    model: Path,
    inputs: tuple[Path, ...],
    seed: int,
    output: Path | None,
    repeat: int,
    as_json: bool,
) -> None:
    """Run MODEL with the ooc C runtime on this host.

    Generates the C tables, compiles them with the runtime and a host runner
    ($CC, default cc; cached by content hash under $OOC_CACHE_DIR), runs one
    inference and writes the outputs. JSON keys: arena_bytes, invoke_seconds,
    outputs (shape, dtype, sha256).
    """
    import hashlib

    from ooc_sdk.golden import random_inputs
    from ooc_sdk.host import run_host
    from ooc_sdk.model import load_model

    if repeat < 1:
        raise InvalidArgumentError("--repeat must be at least 1")
    graph = load_model(model)
    sample = _load_inputs(inputs) or random_inputs(graph, seed)
    result = run_host(graph, [sample], repeat=repeat)
    outs = result.outputs[0]
    _save_outputs(output, outs)
    info = {
        "arena_bytes": result.arena_bytes,
        "invoke_seconds": result.invoke_seconds[0],
        "outputs": [
            {
                "shape": list(o.shape),
                "dtype": str(o.dtype),
                "sha256": hashlib.sha256(o.tobytes()).hexdigest(),
            }
            for o in outs
        ],
    }
    if as_json:
        _emit_json(info)
        return
    click.echo(
        f"ooc host runtime: arena {result.arena_bytes:,} bytes, invoke {result.invoke_seconds[0] * 1e3:.3f} ms"
    )
    _echo_outputs(outs, info["outputs"])


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI and map errors to exit statuses."""
    try:
        cli.main(args=argv, prog_name="ooc", standalone_mode=False)
    except OocError as e:
        click.echo(f"ooc: error: {_one_line(str(e))}", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo("ooc: aborted", err=True)
        return 130
    except click.ClickException as e:
        hint = ""
        if isinstance(e, click.UsageError) and e.ctx is not None:
            hint = f" (see '{e.ctx.command_path} --help')"
        click.echo(f"ooc: error: {_one_line(e.format_message())}{hint}", err=True)
        return EXIT_USAGE
    except click.exceptions.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("ooc: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug: say so in one line; the traceback on request
        if os.environ.get("OOC_DEBUG"):
            traceback.print_exc()
        click.echo(
            f"ooc: internal error: {type(e).__name__}: {e} (set OOC_DEBUG=1 for the traceback)",
            err=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
