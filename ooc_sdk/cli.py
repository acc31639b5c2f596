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
from ooc_sdk.formats import image as fmt
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
    budget. Start with `ooc zoo` to make a model and `ooc inspect` to see it;
    `ooc keygen` and `ooc pack` make the encrypted flash image.

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


def _io_options(f: Any) -> Any:
    """--input, --seed and --output, shared by `ooc golden` and `ooc run`."""
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
    return click.option(
        "--input",
        "-i",
        "inputs",
        type=_EXISTING_FILE,
        multiple=True,
        help="A .npy file per model input, in order (default: random from --seed).",
    )(f)


def _inference_options(f: Any) -> Any:
    """MODEL plus the input and output options."""
    return click.argument("model", type=_EXISTING_FILE)(_io_options(f))


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

    from ooc_sdk.run.golden import run_tflm

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


def _describe(outputs: list[np.ndarray]) -> list[dict[str, Any]]:
    """Shape, dtype and sha256 of each output (the JSON `outputs`)."""
    import hashlib

    return [
        {
            "shape": list(o.shape),
            "dtype": str(o.dtype),
            "sha256": hashlib.sha256(o.tobytes()).hexdigest(),
        }
        for o in outputs
    ]


def _echo_outputs(outputs: list[np.ndarray], described: list[dict[str, Any]]) -> None:
    for i, o in enumerate(outputs):
        flat = o.reshape(-1)
        preview = " ".join(str(v) for v in flat[:12]) + (" ..." if flat.size > 12 else "")
        click.echo(
            f"output {i}: {o.dtype}{list(o.shape)} sha256 {described[i]['sha256'][:16]}  [{preview}]"
        )


def _channel_split_option(note: str = "") -> Any:
    """--channel-split (``ooc plan``, ``ooc codegen``, ``ooc run``, ``ooc build``)."""
    return click.option(
        "--channel-split",
        type=click.Choice(["auto", "off", "always"]),
        default="auto",
        show_default=True,
        help="Channel-split partial execution inside fused blocks: a 1x1 expansion, depthwise "
        "and 1x1 projection run a group of expanded channels at a time, so the expanded tensor "
        "is never held (it costs recomputed expansion rows). auto: a search option per block; "
        f"off: never; always: every such chain a fused block contains.{note}",
    )


def _check_channel_split(
    channel_split: str, fused: bool, needs: str = "--fuse or --max-mac-overhead"
) -> None:
    """--channel-split means something only for a fused plan."""
    if channel_split != "auto" and not fused:
        raise click.UsageError(f"--channel-split goes with {needs}")


def _fusion_options(f: Any) -> Any:
    """--fuse, --max-mac-overhead and --channel-split (``ooc plan``, ``ooc codegen``, ``ooc run``)."""
    f = _channel_split_option()(f)
    f = click.option(
        "--max-mac-overhead",
        type=click.FloatRange(min=1.0),
        default=None,
        help="Fuse layers: the smallest working SRAM whose MACs (recomputation included) stay "
        "within this many times the model's (e.g. 1.3). Implies --fuse.",
    )(f)
    return click.option(
        "--fuse",
        is_flag=True,
        help="Plan activation memory with fused blocks run row by row in column strips. With "
        "--sram: the fewest MACs whose working SRAM fits it; alone: as --max-mac-overhead 1.0.",
    )(f)


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
@_fusion_options
@click.option(
    "--sram", type=SIZE, default=None, help="With --fuse: the working SRAM budget (e.g. 16KiB)."
)
def codegen(
    model: Path,
    out_dir: Path,
    name: str | None,
    as_json: bool,
    max_mac_overhead: float | None,
    fuse: bool,
    channel_split: str,
    sram: int | None,
) -> None:
    """Emit the C sources a firmware project adds to run MODEL.

    Writes ooc_model_<name>.c/.h (const tables: operators, kernel parameters
    computed ahead of time, the activation memory plan, weights), the runtime
    sources under ooc_runtime/, a CMakeLists.txt (library target ooc_<name>)
    and ooc.mk (a Makefile fragment: OOC_SRCS, OOC_INCLUDES). The header
    defines OOC_MODEL_<NAME>_ARENA_BYTES, the arena ooc_init() needs. The code
    is C99 and builds warning-free with -Wall -Wextra -pedantic -Werror.

    With --fuse or --max-mac-overhead the tables carry a fused schedule (ooc
    plan --help): the arena shrinks to the working SRAM plus the outputs
    (OOC_MODEL_<NAME>_WORKING_BYTES), and a streamed input is read during
    ooc_invoke() through cfg.read_input or from the ooc_set_input() buffer.
    """
    from ooc_sdk.codegen.emit import write_codegen
    from ooc_sdk.model import load_model

    fusion = None
    _check_channel_split(channel_split, fuse or max_mac_overhead is not None)
    if fuse or max_mac_overhead is not None:
        from ooc_sdk.plan.fusion.search import plan_fusion

        fusion = plan_fusion(
            load_model(model),
            sram=sram,
            max_mac_overhead=max_mac_overhead,
            channel_split=channel_split,
        )
    elif sram is not None:
        raise click.UsageError("--sram needs --fuse (ooc build plans out-of-core budgets)")
    gen = write_codegen(load_model(model), out_dir, name, fusion=fusion)
    info = {
        "name": gen.name,
        "directory": str(gen.directory),
        "model_c": str(gen.model_c),
        "model_h": str(gen.model_h),
        "arena_bytes": gen.arena_bytes,
        "plan_strategy": gen.plan.strategy,
        "working_sram_bytes": fusion.working_sram_bytes if fusion else None,
        "mac_overhead": round(fusion.mac_overhead, 4) if fusion else 1.0,
        "runtime_sources": [str(s) for s in gen.runtime_sources],
    }
    if as_json:
        _emit_json(info)
    else:
        click.echo(
            f"wrote {gen.model_c.name}, {gen.model_h.name}, ooc_runtime/, CMakeLists.txt and ooc.mk "
            f"to {out_dir}; activation arena {gen.arena_bytes:,} bytes"
        )


# -- secure image: keys, pack, verify, dumpinfo -----------------------------------------------------


@cli.command()
@click.option(
    "--out", "-o", "out", type=click.Path(path_type=Path), required=True, help="Key file to create."
)
@click.option(
    "--uid",
    default=None,
    help="Device UID in hex (up to 16 bytes, e.g. the MCU's 96-bit unique ID); default random.",
)
@click.option(
    "--bits",
    type=click.Choice(["128", "256"]),
    default="256",
    show_default=True,
    help="Root key length.",
)
@click.option("--force", is_flag=True, help="Replace an existing key file.")
def keygen(out: Path, uid: str | None, bits: str, force: bool) -> None:
    """Create a device key file: a device UID and a fresh random root key.

    The file is created with mode 0600 and other ooc commands refuse key files
    that group or others can read. The key itself is never printed; ooc shows
    only the UID and the key id (a public fingerprint derived from the key).
    On a production line, root keys come from `ooc provision` instead.
    """
    from ooc_sdk.image import keys

    key = keys.generate(keys.parse_uid(uid) if uid else None, int(bits) // 8)
    keys.write_key_file(out, key, force)
    click.echo(f"wrote {out} (mode 0600): device UID {key.uid.hex()}, key id {key.key_id.hex()}")


_CIPHERS = {"aes128": fmt.CIPHER_AES128_CTR, "aes256": fmt.CIPHER_AES256_CTR}
_TAGS = {"cmac": fmt.TAG_AES_CMAC, "poly1305": fmt.TAG_POLY1305}

# Options `ooc pack` and `ooc build` share.
_cipher_option = click.option(
    "--cipher",
    type=click.Choice(sorted(_CIPHERS)),
    default="aes128",
    show_default=True,
    help="Content key length for AES-CTR.",
)
_tag_option = click.option(
    "--tag",
    type=click.Choice(sorted(_TAGS)),
    default="cmac",
    show_default=True,
    help="Chunk tag: cmac (MCUs with an AES engine) or poly1305 (software AES).",
)
_security_counter_option = click.option(
    "--security-counter",
    type=INT,
    default=0,
    show_default=True,
    help="Anti-rollback counter; devices refuse images below their own.",
)
_flash_offset_option = click.option(
    "--flash-offset",
    type=SIZE,
    default=0,
    show_default=True,
    help="Where the image starts in the flash (a sector multiple).",
)


def _flash_help() -> str:
    from ooc_sdk.targets import flash_profiles

    return (
        f"Flash profile: {', '.join(flash_profiles())}, or a JSON file (a full profile, or "
        '{"base": NAME, ...} overriding some keys).'
    )


@cli.command()
@click.argument("model", type=_EXISTING_FILE)
@click.option(
    "--device-key",
    type=_EXISTING_FILE,
    required=True,
    help="Device key file (ooc keygen): the content key is wrapped for this device.",
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Output directory.",
)
@click.option("--flash", "flash", default="w25q128jv", show_default=True, help=_flash_help())
@_flash_offset_option
@_cipher_option
@_tag_option
@_security_counter_option
@click.option(
    "--chunk-size", type=SIZE, default="8KiB", show_default=True, help="Largest weight chunk."
)
@click.option(
    "--scratch",
    type=SIZE,
    default="32KiB",
    show_default=True,
    help="Activation scratch partition (erase-sector multiple).",
)
@click.option(
    "--hex-base",
    type=INT,
    default=0,
    show_default=True,
    help="Address of flash offset 0 in image.hex (e.g. 0x90000000 for memory-mapped QSPI).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def pack(
    model: Path,
    device_key: Path,
    out_dir: Path,
    flash: str,
    flash_offset: int,
    cipher: str,
    tag: str,
    security_counter: int,
    chunk_size: int,
    scratch: int,
    hex_base: int,
    as_json: bool,
) -> None:
    """Pack MODEL's weights into an encrypted, authenticated flash image.

    Each image build draws a fresh random content key. Weights are cut into
    chunks (at most --chunk-size, in the order layers use them), each encrypted
    with AES-CTR and tagged over its table entry and ciphertext. The header
    (superblock, manifest, chunk table) carries its own AES-CMAC tag, and the
    content key is stored only wrapped (RFC 3394) for the device in
    --device-key. Writes to OUT: image.bin and image.hex (the flash image),
    manifest.json (public description) and keyslot.bin (the wrapped key).
    Byte layout: docs/FORMAT.md.
    """
    from ooc_sdk.image.keys import read_key_file
    from ooc_sdk.image.outdir import write_image_dir
    from ooc_sdk.image.pack import PackOptions, pack_image
    from ooc_sdk.model import load_model
    from ooc_sdk.targets import load_flash

    device = read_key_file(device_key)
    options = PackOptions(
        flash=load_flash(flash),
        cipher=_CIPHERS[cipher],
        tag_alg=_TAGS[tag],
        security_counter=security_counter,
        chunk_bytes=chunk_size,
        scratch_bytes=scratch,
        base_offset=flash_offset,
    )
    t0 = time.perf_counter()
    packed = pack_image(load_model(model), device, options)
    files = write_image_dir(out_dir, packed, hex_base)
    seconds = time.perf_counter() - t0
    m = packed.manifest
    if as_json:
        _emit_json(
            {
                "files": {k: str(v) for k, v in files.items()},
                "image_bytes": m["image_bytes"],
                "weights_bytes": m["weights_bytes"],
                "chunks": len(packed.chunks),
                "build_id": m["build_id"],
                "device_uid": m["key_slot"]["device_uid"],
                "seconds": seconds,
            }
        )
        return
    click.echo(
        f"packed {m['model']['name']}: {m['weights_bytes']:,} weight bytes in "
        f"{len(packed.chunks)} chunks, image {format_size(m['image_bytes'])} "
        f"({m['cipher']}, {m['tag']}) for device {m['key_slot']['device_uid']} "
        f"in {seconds:.2f} s -> {out_dir}/"
    )


@cli.command()
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.option("--device-key", type=_EXISTING_FILE, required=True, help="Device key file.")
@click.option(
    "--min-security-counter",
    type=INT,
    default=0,
    show_default=True,
    help="The device's anti-rollback counter: older images are refused.",
)
@click.option(
    "--model",
    "model",
    type=_EXISTING_FILE,
    default=None,
    help="Also check the image holds this model.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def verify(
    image: Path, device_key: Path, min_security_counter: int, model: Path | None, as_json: bool
) -> None:
    """Check every tag of IMAGE (an `ooc pack` directory or image file) as the device would.

    Verifies the superblock and manifest structure, the key slot for this
    device (UID, key id, RFC 3394 unwrap), the header tag, the security
    counter, and every chunk's tag. Exit 0 when all hold; otherwise one line
    naming the first failure and exit 2.
    """
    import hashlib

    from ooc_sdk.image.keys import read_key_file
    from ooc_sdk.image.outdir import load_image
    from ooc_sdk.image.reader import open_image

    expected = hashlib.sha256(model.read_bytes()).hexdigest() if model else None
    verified = open_image(
        load_image(image), read_key_file(device_key), min_security_counter, expected
    )
    total = sum(len(plain) for _, plain in verified.chunks())
    m = verified.info.manifest
    if as_json:
        _emit_json(
            {
                "ok": True,
                "chunks": m["n_chunks"],
                "weights_bytes": total,
                "security_counter": m["security_counter"],
            }
        )
        return
    click.echo(
        f"OK: header and {m['n_chunks']} chunk tags verify ({total:,} weight bytes); "
        f"security counter {m['security_counter']}"
    )


@cli.command()
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--json", "as_json", is_flag=True, help="Print everything, with every region, as JSON."
)
def dumpinfo(image: Path, as_json: bool) -> None:
    """Show what an image reveals without a key.

    The model identity, build, algorithms, security counter, key slot owner
    (device UID and key id) and the partition map. --json adds `regions`: every
    byte range of the image file with `offset`, `length`, `kind` and
    `authenticated` (true when a tag protects it), so anyone can see which
    bytes are protected. Nothing here is checked cryptographically: use
    `ooc verify` for that.
    """
    from ooc_sdk.image.outdir import load_image
    from ooc_sdk.image.reader import public_info

    info = public_info(load_image(image))
    pub = info.public()
    regions = info.regions()
    if as_json:
        _emit_json({**pub, "regions": regions})
        return
    click.echo(
        f"ooc image v{pub['format_version']}: model {pub['model']['name']} "
        f"(sha256 {pub['model']['sha256'][:16]}..), built by ooc {pub['sdk_version']}, "
        f"security counter {pub['security_counter']}"
    )
    click.echo(
        f"  {pub['cipher']} + {pub['tag']} tags, {pub['n_chunks']} chunks, "
        f"{pub['weights_bytes']:,} weight bytes, largest chunk {pub['max_chunk_bytes']:,}"
    )
    ks = pub["key_slot"]
    click.echo(f"  key slot: device UID {ks['device_uid']}, key id {ks['key_id']}")
    for p in pub["partitions"]:
        click.echo(f"  {p['kind']:<9} {p['offset']:#010x}  {format_size(p['length'])}")
    auth = sum(r["length"] for r in regions if r["authenticated"])
    click.echo(f"  {auth:,} of {pub['image_bytes']:,} bytes authenticated (--json lists regions)")


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


# plan and build (cli_build) and run (cli_run) live in their own modules; importing registers them.
from ooc_sdk import cli_audit, cli_build, cli_device, cli_provision, cli_run  # noqa: E402, F401

if __name__ == "__main__":
    # `python -m ooc_sdk.cli`: run the package module (the one cli_build registered its commands
    # on), not this __main__ copy
    from ooc_sdk.cli import main as _main

    sys.exit(_main())
