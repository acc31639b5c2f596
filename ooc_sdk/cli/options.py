"""What the ``ooc`` commands share: the command and group classes, parameter types, options,
input and output helpers, and the one mapping from library parameter names to flags.

Every command module imports this module and the library only.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import click
import numpy as np

from ooc_sdk.errors import InvalidArgumentError, OocError
from ooc_sdk.formats import image as fmt
from ooc_sdk.units import parse_size

EXIT_USAGE = 2

# -- library parameters and the flags that set them ---------------------------------------------

# An InvalidArgumentError names the API parameters it is about (``params``, written `name` in its
# message). A command's option of the same name is its flag for that parameter; these parameters
# have an option of another name.
PARAM_OPTIONS = {
    "budget": "sram",  # build(budget=...), plan(budget): --sram
    "scratch_bytes": "scratch",  # build(scratch_bytes=...): --scratch
    "device": "device_key",  # the device key a build runs with: --device-key
}


def flag_for(command: click.Command, param: str) -> str | None:
    """The flag of ``command`` that sets the library parameter ``param``, if it has one."""
    name = PARAM_OPTIONS.get(param, param)
    for p in command.params:
        if isinstance(p, click.Option) and p.name == name:
            return max(p.opts, key=len)
    return None


def name_flags(message: str, params: tuple[str, ...], command: click.Command) -> str:
    """``message`` with each `param` it names written as ``command``'s flag for it."""
    for param in params:
        flag = flag_for(command, param)
        if flag is not None:
            message = re.sub(f"`{re.escape(param)}`", flag, message)
    return message


class Command(click.Command):
    """An ``ooc`` command: the parameters its library errors name come out as its flags
    (`rate` must be positive -> --rate must be positive)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OocError as e:
            if e.params:
                e.args = (name_flags(str(e), e.params, self),)
            raise


class Group(click.Group):
    """An ``ooc`` command group: its commands are :class:`Command` and its groups this class."""

    command_class = Command
    group_class = type


def command(name: str | None = None, **kwargs: Any) -> Any:
    """``click.command`` making a :class:`Command`."""
    return click.command(name, cls=Command, **kwargs)


def group(name: str | None = None, **kwargs: Any) -> Any:
    """``click.group`` making a :class:`Group`."""
    return click.group(name, cls=Group, **kwargs)


# -- parameter types ----------------------------------------------------------------------------


class Size(click.ParamType):
    """A byte size: 4096, 0x1000, 64KiB, 2MiB (units are binary)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except InvalidArgumentError as e:
            self.fail(str(e), param, ctx)


class Int(click.ParamType):
    """An integer in decimal or 0x hexadecimal."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return int(str(value), 0)
        except ValueError:
            self.fail(f"{value!r} is not an integer", param, ctx)


SIZE = Size()
INT = Int()
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

# -- output -------------------------------------------------------------------------------------


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def one_line(text: str) -> str:
    return " ".join(text.split())


def describe(outputs: list[np.ndarray]) -> list[dict[str, Any]]:
    """Shape, dtype and sha256 of each output (the JSON `outputs`)."""
    return [
        {
            "shape": list(o.shape),
            "dtype": str(o.dtype),
            "sha256": hashlib.sha256(o.tobytes()).hexdigest(),
        }
        for o in outputs
    ]


def echo_outputs(outputs: list[np.ndarray], described: list[dict[str, Any]]) -> None:
    for i, o in enumerate(outputs):
        flat = o.reshape(-1)
        preview = " ".join(str(v) for v in flat[:12]) + (" ..." if flat.size > 12 else "")
        click.echo(
            f"output {i}: {o.dtype}{list(o.shape)} sha256 {described[i]['sha256'][:16]}  [{preview}]"
        )


# -- model inputs and outputs (ooc golden, ooc run) ---------------------------------------------


def load_inputs(paths: tuple[Path, ...]) -> list[np.ndarray] | None:
    if not paths:
        return None
    import io

    from ooc_sdk.fileio import MAX_MODEL_BYTES, read_bytes

    arrays = []
    for p in paths:
        raw = read_bytes(p, "input array", MAX_MODEL_BYTES)
        try:
            arrays.append(np.load(io.BytesIO(raw), allow_pickle=False))
        except (OSError, ValueError) as e:
            raise InvalidArgumentError(f"{p}: not a .npy array ({e})") from None
    return arrays


def save_outputs(output: Path | None, outputs: list[np.ndarray]) -> None:
    if output is None:
        return
    try:
        if len(outputs) == 1 and output.suffix != ".npz":
            np.save(output, outputs[0])
        else:
            np.savez(output, *outputs)
    except OSError as e:
        raise InvalidArgumentError(f"cannot write {output}: {e.strerror or e}") from None


def io_options(f: Any) -> Any:
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
        type=EXISTING_FILE,
        multiple=True,
        help="A .npy file per model input, in order (default: random from --seed).",
    )(f)


# -- fused schedules and SRAM budgets (ooc plan, codegen, run, build) ---------------------------


def approx_option(what: str) -> Any:
    """--approx (``ooc build``, ``ooc codegen``, ``ooc run``): an approximate build."""
    return click.option(
        "--approx",
        "approx_config",
        type=EXISTING_FILE,
        default=None,
        help="An approximation configuration (ooc approx's config.json; docs/FORMAT.md): "
        f"{what} skips its operand groups, computing those layers as if the skipped weights "
        "were zero; skipped weights are not stored, read or decrypted. Recorded in the plan, "
        "build.json and the image manifest. Layer by layer only (not with fused schedules).",
    )


def channel_split_option(note: str = "") -> Any:
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


def check_channel_split(
    channel_split: str, fused: bool, needs: str = "--fuse or --max-mac-overhead"
) -> None:
    """--channel-split means something only for a fused plan."""
    if channel_split != "auto" and not fused:
        raise click.UsageError(f"--channel-split goes with {needs}")


def fusion_options(f: Any) -> Any:
    """--fuse, --max-mac-overhead and --channel-split (``ooc plan``, ``ooc codegen``, ``ooc run``)."""
    f = channel_split_option()(f)
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
        "--sram or --working-sram: the fewest MACs that fit it; alone: as --max-mac-overhead 1.0.",
    )(f)


def restrict_options(f: Any) -> Any:
    """--no-fuse and --no-spill: restrict the out-of-core planner (``ooc plan``, ``ooc build``)."""
    f = click.option(
        "--no-spill",
        is_flag=True,
        help="Never spill activations to the flash's scratch ring (fused plans hold them in SRAM "
        "or recompute them).",
    )(f)
    return click.option(
        "--no-fuse",
        is_flag=True,
        help="Never fuse: layer by layer, or an error naming the minimum budget.",
    )(f)


max_mac_overhead_option = click.option(
    "--max-mac-overhead",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Fused schedules recompute at most this many times the model's MACs (e.g. 1.3); "
    "default: as much as the budget needs.",
)

SRAM_HELP = (
    "The whole SRAM budget: activations (per layer, or a fused arena), chunk slots (out of "
    "core), runtime state and stack (e.g. 64KiB)."
)


def in_core_budget_options(f: Any) -> Any:
    """--sram and --working-sram for an in-core fused schedule (``ooc codegen``, ``ooc run``)."""
    f = click.option(
        "--working-sram",
        type=SIZE,
        default=None,
        help="With --fuse: the fused schedule's working SRAM budget (everything the runtime "
        "holds but a streamed input, the outputs, its state and the stack); excludes --sram.",
    )(f)
    return click.option(
        "--sram",
        type=SIZE,
        default=None,
        help="With --fuse: the whole SRAM budget of the in-core firmware, the fused arena "
        "(working SRAM and outputs) + runtime state + stack (e.g. 16KiB).",
    )(f)


def check_budgets(sram: int | None, working_sram: int | None) -> None:
    """--sram (the whole SRAM) and --working-sram are two ways to give one budget."""
    if sram is not None and working_sram is not None:
        raise click.UsageError("give --sram (the whole SRAM) or --working-sram, not both")


# -- image and target options (ooc pack, plan, build, audit) ------------------------------------

CIPHERS = fmt.CIPHER_OPTIONS
TAGS = fmt.TAG_OPTIONS

cipher_option = click.option(
    "--cipher",
    type=click.Choice(sorted(CIPHERS)),
    default="aes128",
    show_default=True,
    help="Content key length for AES-CTR.",
)
tag_option = click.option(
    "--tag",
    type=click.Choice(sorted(TAGS)),
    default="cmac",
    show_default=True,
    help="Chunk tag: cmac (MCUs with an AES engine) or poly1305 (software AES).",
)
# ooc plan / ooc build know the MCU: their default tag follows its profile.
plan_tag_option = click.option(
    "--tag",
    type=click.Choice(sorted(TAGS)),
    default=None,
    help="Chunk tag: cmac or poly1305. Default: the MCU profile's, cmac with an AES engine, "
    "poly1305 where AES runs in software.",
)
security_counter_option = click.option(
    "--security-counter",
    type=INT,
    default=0,
    show_default=True,
    help="Anti-rollback counter; devices refuse images below their own.",
)
signing_key_option = click.option(
    "--signing-key",
    type=EXISTING_FILE,
    default=None,
    help="Vendor signing key (ooc signing-key, mode 0600): sign the image with Ed25519. Devices "
    "that hold its public key as a trust anchor refuse every image it did not sign, so one "
    'device\'s secrets forge nothing for another (docs/DESIGN.md, "Threat model").',
)
trust_anchor_option = click.option(
    "--trust-anchor",
    "trust_anchors",
    type=EXISTING_FILE,
    multiple=True,
    help="A vendor public key (the .pub file ooc signing-key writes) the device trusts; "
    "repeat for key rotation (up to 4).",
)
flash_offset_option = click.option(
    "--flash-offset",
    type=SIZE,
    default=0,
    show_default=True,
    help="Where the image starts in the flash (a sector multiple).",
)

keystore_option = click.option(
    "--keystore",
    metavar="pkcs11:URI",
    default=None,
    help="The factory master key in a PKCS#11 token instead of a file: "
    "pkcs11:token=LABEL;object=LABEL?module-path=MODULE.so (RFC 7512); the PIN from "
    "pin-source=FILE (mode 0600) in the URI or $OOC_PKCS11_PIN (docs/provisioning.md).",
)


def flash_help() -> str:
    from ooc_sdk.targets import flash_profiles

    return (
        f"Flash profile: {', '.join(flash_profiles())}, or a JSON file (a full profile, or "
        '{"base": NAME, ...} overriding some keys).'
    )


def mcu_help() -> str:
    from ooc_sdk.targets import mcu_profiles

    return (
        f"MCU profile: {', '.join(mcu_profiles())}, or a JSON file (a full profile, or "
        '{"base": NAME, ...} overriding some keys).'
    )


def plan_options(f: Any) -> Any:
    """MODEL and the options ``ooc plan`` and ``ooc build`` share."""
    opts = [
        click.option(
            "--sram",
            type=SIZE,
            default=None,
            help=SRAM_HELP + " Default: no limit.",
        ),
        click.option("--flash", "flash", default="w25q128jv", show_default=True, help=flash_help()),
        click.option("--mcu", default="cortex-m4", show_default=True, help=mcu_help()),
        click.option(
            "--verify",
            type=click.Choice(["every-read", "boot"]),
            default="every-read",
            show_default=True,
            help="When weight tags are checked: at every read (an attacker who rewrites flash at "
            "run time) or once at boot (flash trusted after boot); docs/DESIGN.md.",
        ),
        cipher_option,
        plan_tag_option,
        click.option(
            "--dsp-kernels/--ref-kernels",
            "dsp",
            default=None,
            help="Estimate latency with the DSP/SIMD kernels or the reference ones. Default: "
            "those a build for the MCU uses (DSP on cores with the DSP extension, e.g. the M4).",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return click.argument("model", type=EXISTING_FILE)(f)
