"""``ooc approx``: explore computation skipping for a model and write the Pareto front and the
configuration chosen for an accuracy bound (the search is :mod:`ooc_sdk.approx`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ooc_sdk.approx import data, explore
from ooc_sdk.cli.options import EXISTING_FILE, INT, command, emit_json
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.fileio import MAX_MODEL_BYTES, check_out_dir, read_bytes, replace_dir, write_atomic
from ooc_sdk.model import approx as config_file
from ooc_sdk.model import load_model


def _plot(path: Path, front: list[dict[str, Any]], labelled: bool, title: str) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    exact = front[0]["instructions"]
    xs = [100 * (1 - p["instructions"] / exact) for p in front]
    ys = [100 * p["accuracy"] for p in front]
    ax.plot(xs, ys, "o-")
    ax.set_xlabel("M4 instructions saved (%)")
    ax.set_ylabel("top-1 accuracy (%)" if labelled else "top-1 agreement with exact (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


@command(name="approx")
@click.argument("model_path", metavar="MODEL", type=EXISTING_FILE)
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    required=True,
    help="DATA.npz: x (N x the model's input shape, its dtype) and optionally y (int labels).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write config.json and pareto.json into (new or empty; see --force).",
)
@click.option(
    "--max-accuracy-drop",
    type=click.FloatRange(0.0, 1.0),
    default=0.01,
    show_default=True,
    help="The accuracy the chosen configuration may lose, as a fraction (0.01: one point).",
)
@click.option("--group", type=INT, default=4, show_default=True,
              help="Input channels per skipped operand group. The M4 skipping kernels' blocked "
                   "paths and the cost model are for 4: other sizes run a slower path that "
                   "the estimates do not model (measure them: ooc run --approx ... "
                   "--target qemu-m4).")  # fmt: skip
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="tflite-micro processes that score candidates side by side.")  # fmt: skip
@click.option("--seed", type=INT, default=0, show_default=True,
              help="Seed of the calibration and search subsets.")  # fmt: skip
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a PNG of the Pareto front (instructions saved against accuracy).",
)
@click.option("--even-rows", is_flag=True,
              help="Skip as many groups in every row of a layer, so that out of core the flash "
                   "bytes read fall with the skipped weights (usually less accurate).")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace a non-empty OUT.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def approx(
    model_path: Path,
    data_path: Path,
    out_dir: Path,
    max_accuracy_drop: float,
    group: int,
    jobs: int,
    seed: int,
    plot: Path | None,
    even_rows: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Explore computation skipping for MODEL on DATA.npz.

    Per convolution, depthwise and fully-connected layer, the operand groups
    (--group input channels at one tap of one output channel) are ranked by
    how much their contribution varies on the inputs (its mean goes into the
    layer's bias, recorded in the configuration); the search picks per-layer skip
    ratios along a Pareto front of Cortex-M4 instructions (a cost model
    calibrated on QEMU) against top-1 accuracy (against y when DATA holds
    labels, else agreement with the exact model), measured with tflite-micro
    on the zeroed-weights model. OUT/config.json is the cheapest configuration
    within --max-accuracy-drop (use it with --approx); OUT/pareto.json holds
    the exact figures, the front and every measured point. Progress goes to
    stderr.
    """
    check_out_dir(out_dir, force)  # before anything is read or run
    if group < 1:
        raise InvalidArgumentError("--group must be at least 1")
    if plot is not None and plot.is_dir():
        raise InvalidArgumentError(f"--plot {plot} is a directory")
    model = read_bytes(model_path, "model", MAX_MODEL_BYTES)
    graph = load_model(model_path)
    dataset = data.load(data_path, graph)
    if not config_file.skippable_layers(graph):
        raise InvalidArgumentError(f"{model_path} has no layer that can skip operands")

    def progress(msg: str) -> None:
        click.echo(f"ooc approx: {msg}", err=True)

    if group != 4:
        progress(f"note: --group {group}: the instruction estimates are fitted for groups of 4; "
                 "convolutions with other groups run a slower path on the M4 than estimated")  # fmt: skip

    result = explore(model, graph, dataset.x, dataset.y, bounds=(max_accuracy_drop,),
                     even_rows=even_rows, group=group, jobs=jobs, seed=seed,
                     progress=progress)  # fmt: skip
    chosen = result.chosen(max_accuracy_drop)
    front = [p.to_json(result.exact) for p in result.pareto]
    doc = {
        "model": model_path.name,
        "model_sha256": graph.sha256,
        "inputs": len(dataset.x),
        "accuracy": "top-1 against labels" if result.labelled else "top-1 agreement with exact",
        "max_accuracy_drop": max_accuracy_drop,
        "seconds": round(result.seconds, 1),
        "candidates_run": result.evaluations,
        "cost_model": "ooc_sdk/approx/m4_cost.json",
        "exact": {k: v for k, v in result.exact.to_json().items() if k not in ("config", "ratios")},
        "pareto": front,
        "chosen": chosen.to_json(result.exact),
        "measured": [p.to_json(result.exact) for p in result.points],
    }
    note = (f"ooc approx: {doc['accuracy']} {chosen.accuracy:.4f} "
            f"(exact {result.exact.accuracy:.4f}) on {len(dataset.x)} inputs")  # fmt: skip
    config = config_file.ApproxConfig(
        graph.sha256,
        chosen.config.layers,
        note,
        {
            "instructions": chosen.instructions,
            "exact_instructions": result.exact.instructions,
            "accuracy": chosen.accuracy,
            "exact_accuracy": result.exact.accuracy,
            "flash_read_bytes": chosen.flash_read_bytes,
        },
    )
    with replace_dir(out_dir, force) as tmp:
        config_file.save(config, tmp / "config.json")
        write_atomic(tmp / "pareto.json", json.dumps(doc, indent=1) + "\n")
    if plot is not None:
        _plot(plot, front, result.labelled, f"{model_path.name}: {len(dataset.x)} inputs")
    if as_json:
        emit_json({"exact": doc["exact"], "pareto": front, "chosen": doc["chosen"],
                   "seconds": doc["seconds"]})  # fmt: skip
        return
    exact = result.exact
    click.echo(f"exact: {exact.instructions:,} M4 instructions, accuracy {exact.accuracy:.4f}, "
               f"{exact.flash_read_bytes:,} flash bytes read")  # fmt: skip
    click.echo(f"{'instructions':>14} {'saved':>7} {'accuracy':>9} {'flash read':>11}")
    for p in result.pareto:
        click.echo(f"{p.instructions:>14,} {1 - p.instructions / exact.instructions:>7.1%} "
                   f"{p.accuracy:>9.4f} {p.flash_read_bytes:>11,}")  # fmt: skip
    click.echo(f"chosen (accuracy drop <= {max_accuracy_drop:g}): {chosen.instructions:,} "
               f"instructions ({1 - chosen.instructions / exact.instructions:.1%} fewer), "
               f"accuracy {chosen.accuracy:.4f}; wrote {out_dir}/config.json and pareto.json")  # fmt: skip
