"""The ``ooc`` command line: thin wrappers over the library's API functions.

This package is the only one that imports click. ``options`` holds what the commands share; the
commands live by noun (``model``: inspect, zoo, golden; ``plan``: plan, codegen; ``build``;
``image``: keygen, pack, verify, dumpinfo; ``run``; ``audit``: audit, report; ``device``, with
``registry``; ``provision``; ``approx``), each importing only ``options`` and the library, and
this module adds them to the group. ``main()`` turns every :class:`OocError` (and every usage error) into one line on
stderr and exit status 2 (an error about library parameters names the failing command's flags
for them); a bug elsewhere prints one line too (set ``OOC_DEBUG=1`` for the traceback) and
exits 1.
"""

from __future__ import annotations

import os
import traceback

import click

from ooc_sdk.cli import approx, audit, build, device, image, model, plan, provision, run
from ooc_sdk.cli.options import EXIT_USAGE, group, one_line
from ooc_sdk.codegen.runtime import runtime_sources, versions
from ooc_sdk.errors import OocError
from ooc_sdk.package_data import runtime_dir


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    v = versions()
    click.echo(f"ooc, version {v['sdk']}")
    click.echo(f"C runtime {v['runtime']}, model tables version {v['tables']}, "
               f"image format version {v['image_format']}")  # fmt: skip
    ctx.exit()


def _print_runtime_dir(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    runtime_sources()  # one line and exit status 2 when the runtime is missing
    click.echo(str(runtime_dir()))
    ctx.exit()


@group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version,
              help="Show the versions of ooc, its C runtime, the model tables and the image "
              "format, and exit.")  # fmt: skip
@click.option("--runtime-dir", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_runtime_dir,
              help="Print the C runtime's directory (sources, headers, ports; a CMake package: "
              "-Dooc_DIR=DIR/cmake) and exit.")  # fmt: skip
def cli() -> None:
    """ooc: run int8 neural networks far larger than a microcontroller's SRAM.

    Weights (and, when needed, activations) live encrypted and authenticated in
    external SPI NOR flash; the ooc runtime pages them through a small SRAM
    budget. Start with `ooc zoo` to make a model and `ooc inspect` to see it;
    `ooc keygen` and `ooc pack` make the encrypted flash image.

    Sizes accept binary units (64KiB, 2MiB) and integers accept 0x hex. --sram
    is the whole SRAM budget on every command (activations, chunk slots,
    runtime state and stack); --working-sram the working SRAM of a fused
    schedule. Errors are one line on stderr with exit status 2.
    """


for _command in (
    model.inspect,
    model.zoo,
    model.golden,
    plan.codegen,
    run.run,
    image.keygen,
    image.signing_key,
    image.pack,
    image.verify,
    image.dumpinfo,
    plan.plan_cmd,
    build.build_cmd,
    device.device,
    device.registry_group,
    provision.provision,
    audit.audit,
    audit.report,
    approx.approx,
):
    cli.add_command(_command)
del _command


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI and map errors to exit statuses."""
    try:
        cli.main(args=argv, prog_name="ooc", standalone_mode=False)
    except OocError as e:
        click.echo(f"ooc: error: {one_line(str(e))}", err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo("ooc: aborted", err=True)
        return 130
    except click.ClickException as e:
        hint = ""
        if isinstance(e, click.UsageError) and e.ctx is not None:
            hint = f" (see '{e.ctx.command_path} --help')"
        click.echo(f"ooc: error: {one_line(e.format_message())}{hint}", err=True)
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
