"""``ooc report OUT/ -o report.html``: one self-contained HTML page for signing off a build.

The page opens with the verdicts (:mod:`ooc_sdk.audit.verdicts`: fits the SRAM budget, bit-exact
against tflite-micro, latency ratio, energy per inference, flash lifetime against the target),
each pass, fail or not checked with its number, on the first screen. The plots follow: a picture
of the SRAM over the schedule (and the fused timeline of a fused plan), the energy per layer and
the erases per scratch sector, PNGs embedded as base64 data URIs. Then, folded (``<details>``),
the build's facts (build.json), its plan (plan.json) with one row per step, the energy audit
(:mod:`ooc_sdk.audit.energy`), the wear audit (:mod:`ooc_sdk.audit.wear`) and every profile
value and assumption with its source. No script, no stylesheet or image from elsewhere: the file
opens offline in any browser. Every piece of text from the build, the model or the profiles goes
through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ooc_sdk.audit.energy import PART_NAMES
from ooc_sdk.audit.verdicts import Limits
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.units import format_size

Progress = Callable[[str], None]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTIONS = ("verdicts", "plots")  # on the page in this order, then the folded DETAILS
DETAILS = ("build", "plan", "energy", "wear", "profiles", "assumptions")


# -- collecting ------------------------------------------------------------------------------------


def collect(
    out_dir: Path,
    device: Any,
    *,
    mcu: str | None = None,
    flash: str | None = None,
    rate: str | float = "1/s",
    endurance: str | int | None = None,
    cpi: float | None = None,
    kernels: str = "dsp",
    inferences: int = 20,
    in_sram: bool = True,
    seed: int = 0,
    timeout: float | None = 900.0,
    limits: Limits | None = None,
    golden: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Everything the page shows: build.json, plan.json, the energy and wear audits (run here),
    the comparison of their runs with tflite-micro (unless ``golden`` is False), the ``limits``
    the verdicts judge against and the plots as PNG bytes."""
    from ooc_sdk.audit.energy import _source, audit_energy, load_profiles
    from ooc_sdk.audit.exact import audit_runs, check_exact, skipped
    from ooc_sdk.audit.plot import plot_energy
    from ooc_sdk.audit.wear import audit_build, plot_wear
    from ooc_sdk.build.directory import BuildDir

    say = progress or (lambda _msg: None)
    bd = BuildDir.open(out_dir)
    info = bd.info.to_json()
    plan = bd.plan_json()
    if device is None:
        raise InvalidArgumentError(
            f"{out_dir} is a build directory: give `device` (the key file its image was "
            "wrapped for) so that the audits can run it",
            param="device",
        )
    mcu_p, _ = load_profiles(bd, mcu, flash)
    say("energy audit: running the build under QEMU")
    energy = audit_energy(
        out_dir, device, mcu=mcu, flash=flash, cpi=cpi, kernels=kernels, in_sram=in_sram,
        seed=seed, timeout=timeout, progress=lambda m: say(f"energy: {m}"),
    )  # fmt: skip
    say("wear audit: running the build on the host NOR emulator")
    limits = limits or Limits()
    wear = audit_build(
        out_dir, device, rate=rate, endurance=endurance, inferences=inferences, flash=flash,
        seed=seed, target_years=limits.target_years, progress=lambda m: say(f"wear: {m}"),
    )  # fmt: skip
    if golden:
        say("comparing the audits' outputs with tflite-micro's")
        graph = bd.graph()
        exact = check_exact(graph, Path(str(graph.source)), audit_runs(energy, wear))
    else:
        exact = skipped("skipped (--no-golden)", "run ooc report without --no-golden")
    say("drawing the plots")
    plots: list[tuple[str, str, bytes]] = []  # (section, caption, png)
    fusion = bd.plan().fusion if plan.get("fused") else None
    with tempfile.TemporaryDirectory(prefix="ooc-report-") as tmp:
        d = Path(tmp)
        plot_memory(plan, info, mcu_p.sram_bytes, d / "memory.png")
        plots.append(
            ("memory", "SRAM layout and its use over the schedule", (d / "memory.png").read_bytes())
        )
        if fusion is not None:
            from ooc_sdk.plan.plot import plot_fusion

            plot_fusion(fusion, d / "fusion.png")
            plots.append(
                ("memory", "fused schedule: working SRAM over the operators",
                 (d / "fusion.png").read_bytes())
            )  # fmt: skip
        plot_energy(energy, d / "energy.png")
        plots.append(("energy", "energy per inference, per layer and total",
                      (d / "energy.png").read_bytes()))  # fmt: skip
        plot_wear(wear, d / "wear.png")
        plots.append(("wear", "erases per scratch sector per inference",
                      (d / "wear.png").read_bytes()))  # fmt: skip
    return {
        "build_dir": str(out_dir),
        "info": info,
        "plan": plan,
        "energy": energy,
        "wear": wear,
        "plots": plots,
        "fused_timeline": fusion is not None,
        "exact": exact,
        "limits": limits.to_json(),
        "mcu_sram": {
            "name": mcu_p.name,
            "value": mcu_p.sram_bytes,
            "source": _source(mcu_p, "sram_bytes"),
        },
    }


# -- the memory plot ---------------------------------------------------------------------------------

_KIB = 1024.0


def plot_memory(plan: dict[str, Any], info: dict[str, Any], mcu_sram: int, path: Path) -> None:
    """A PNG of the plan's SRAM: its split (activations, chunk slots, runtime state, stack)
    against the budget and the MCU's SRAM, and per step of the schedule the same regions with
    the weight bytes the step streams through the slots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    act = int(plan.get("activation_bytes", 0))
    slots = int(plan.get("slots_total_bytes", plan.get("slot_bytes", 0) * plan.get("slots", 1)))
    state, stack = int(plan.get("state_bytes", 0)), int(plan.get("stack_bytes", 0))
    parts = [
        ("activations", act, "tab:blue"),
        (f"chunk slots ({plan.get('slots', 1)} x {plan.get('slot_bytes', 0):,} B)", slots,
         "tab:green"),
        ("runtime state", state, "tab:purple"),
        ("stack", stack, "tab:gray"),
    ]  # fmt: skip
    budget = plan.get("budget_bytes")
    steps = list(plan.get("schedule", []))
    fig, (top, low) = plt.subplots(
        2, 1, figsize=(11, 6.5), layout="constrained", gridspec_kw={"height_ratios": [1, 2.4]}
    )
    try:
        _draw_split(top, plan, info, parts, budget, mcu_sram)
        if steps:
            _draw_steps(low, steps, (act, slots, state, stack), budget)
        else:
            low.text(0.5, 0.5, "the plan has no steps", ha="center", va="center")
            low.set_axis_off()
        try:
            fig.savefig(path, dpi=100)
        except OSError as exc:
            raise InvalidArgumentError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def _draw_split(
    top: Any,
    plan: dict[str, Any],
    info: dict[str, Any],
    parts: list[tuple[str, int, str]],
    budget: int | None,
    mcu_sram: int,
) -> None:
    """The memory plot's upper axes: the SRAM's regions as one stacked bar, with the MCU's SRAM
    and the budget marked."""
    left = 0.0
    for name, n, color in parts:
        top.barh([0], [n / _KIB], 0.6, left=left, color=color, label=f"{name}: {format_size(n)}")
        left += n / _KIB
    marks = [(float(mcu_sram), "MCU SRAM", "black")]
    if budget:
        if int(budget) == int(mcu_sram):
            marks = [(float(mcu_sram), "budget = MCU SRAM", "tab:red")]
        else:
            marks.append((float(budget), "budget", "tab:red"))
    for v, name, color in marks:
        top.axvline(v / _KIB, color=color, ls="--", lw=1.2)
        top.annotate(
            f"{name} {format_size(int(v))} ", (v / _KIB, 0.35), ha="right", va="bottom",
            fontsize=8, color=color,
        )  # fmt: skip
    top.set_yticks([])
    top.set_ylim(-0.5, 1.4)
    top.set_xlim(0, max(left, *(v / _KIB for v, _, _ in marks)) * 1.05)
    top.set_xlabel("KiB")
    top.set_title(
        f"{info.get('model', {}).get('name', plan.get('model', '?'))}: SRAM "
        f"{format_size(int(plan.get('sram_bytes', left * _KIB)))}"
        + (" (fused schedule)" if plan.get("fused") else ""),
        fontsize=10,
    )
    top.legend(fontsize=8, loc="upper left", ncols=4, frameon=False)


def _draw_steps(
    low: Any,
    steps: list[dict[str, Any]],
    regions: tuple[int, int, int, int],
    budget: int | None,
) -> None:
    """The memory plot's lower axes: per step of the schedule, the regions (activations, chunk
    slots, runtime state, stack) stacked, the slots split into the weights the step streams and
    the space it leaves unused."""
    act, slots, state, stack = regions
    x = list(range(len(steps)))
    fetch = [min(int(s.get("fetch_bytes", 0)), slots) / _KIB for s in steps]
    idle = [slots / _KIB - f for f in fetch]
    base = [act / _KIB] * len(steps)
    low.bar(x, base, 0.8, color="tab:blue", label="activations")
    low.bar(x, fetch, 0.8, bottom=base, color="tab:green", label="weights in the slots")
    b2 = [b + f for b, f in zip(base, fetch, strict=True)]
    low.bar(x, idle, 0.8, bottom=b2, color="tab:green", alpha=0.25,
            label="slot space unused")  # fmt: skip
    b3 = [b + i for b, i in zip(b2, idle, strict=True)]
    low.bar(x, [state / _KIB] * len(steps), 0.8, bottom=b3, color="tab:purple",
            label="runtime state")  # fmt: skip
    b4 = [b + state / _KIB for b in b3]
    low.bar(x, [stack / _KIB] * len(steps), 0.8, bottom=b4, color="tab:gray",
            label="stack")  # fmt: skip
    if budget:
        low.axhline(budget / _KIB, color="tab:red", ls="--", lw=1.2, label="budget")
    labels = [
        f"{s.get('op')} {s.get('op_type', '')}"
        + (f" [{s['channels'][0]}:{s['channels'][1]}]" if s.get("channels") else "")
        for s in steps
    ]
    low.set_xticks(x, labels, rotation=90, fontsize=6 if len(steps) > 40 else 7)
    low.set_ylabel("SRAM (KiB)")
    low.set_ylim(0, max(max(b4) + stack / _KIB, (budget or 0) / _KIB) * 1.2)
    low.legend(fontsize=8, loc="upper left", ncols=3)
    low.grid(axis="y", alpha=0.3)
    low.set_title("per step of the schedule", fontsize=9)


# -- HTML ------------------------------------------------------------------------------------------

_CSS = """
body { font-family: sans-serif; margin: 1em auto; padding: 0 12px; max-width: 1200px;
  box-sizing: border-box; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; vertical-align: top; }
th { background: #f0f0f0; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
p.sub { color: #555; margin-top: -.6em; }
details { margin: .4em 0; } summary { font-size: 1.15em; font-weight: bold; cursor: pointer; }
figcaption { font-size: .85em; color: #555; }
.bad { color: #b00; font-weight: bold; } .ok { color: #070; }
.statement { background: #f6f6e8; padding: .5em .8em; border-left: 4px solid #cc9; }
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v.is_integer() and abs(v) >= 1e4:
            return f"{int(v):,}"
        return f"{v:,.{digits}g}" if abs(v) < 1e6 else f"{v:.{digits}g}"
    return str(v)


def _cell(v: Any, numeric: bool | None = None) -> str:
    if numeric is None:
        numeric = isinstance(v, int | float) and not isinstance(v, bool)
    text = _num(v) if numeric or isinstance(v, bool) or v is None else str(v)
    return f'<td class="n">{_e(text)}</td>' if numeric else f"<td>{_e(text)}</td>"


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows]
    return "\n".join([*out, "</table>"])


def _kv(rows: Sequence[tuple[str, Any]]) -> str:
    return _table(("", "value"), rows)


def _img(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # IHDR
    return (
        f'<figure><img alt="{_e(caption)}" width="{w}" height="{h}" '
        f'src="data:image/png;base64,{data}"><figcaption>{_e(caption)}</figcaption></figure>'
    )


def _section(key: str, title: str, body: list[str]) -> list[str]:
    return [f'<section id="{_e(key)}">', f"<h2>{_e(title)}</h2>", *body, "</section>"]


def _build_rows(d: dict[str, Any]) -> list[tuple[str, Any]]:
    info, plan = d["info"], d["plan"]
    model = info.get("model", {})
    dev = info.get("device") or {}
    rows: list[tuple[str, Any]] = [
        ("build directory", d["build_dir"]),
        ("model", model.get("name")),
        ("model sha256", model.get("sha256")),
        ("SRAM budget", _size(info.get("budget_bytes"))),
        ("flash profile", info.get("flash_profile")),
        ("MCU profile", info.get("mcu")),
        ("image id (build_id)", info.get("build_id")),
        ("plan id", info.get("plan_id")),
        ("security counter", info.get("security_counter")),
        ("image bytes", info.get("image_bytes")),
        ("flash offset", info.get("flash_offset")),
        ("verify", info.get("verify")),
        ("fused", info.get("fused", bool(plan.get("fused")))),
        ("device uid", dev.get("uid", "(batch build)" if not dev else None)),
        ("device key id", dev.get("key_id")),
        ("SDK version", info.get("sdk_version")),
    ]
    return rows


def _size(v: Any) -> str:
    return "none (no limit)" if v is None else f"{format_size(int(v))} ({int(v):,} B)"


def _plan_body(d: dict[str, Any]) -> list[str]:
    p = d["plan"]
    split = [
        ("activations", p.get("activation_bytes")),
        (f"chunk slots ({p.get('slots')} x {p.get('slot_bytes', 0):,} B)",
         p.get("slots_total_bytes")),
        ("runtime state", p.get("state_bytes")),
        ("stack", p.get("stack_bytes")),
        ("total SRAM", p.get("sram_bytes")),
        ("budget", p.get("budget_bytes")),
        (f"MCU SRAM ({d['mcu_sram']['name']})", d["mcu_sram"]["value"]),
    ]  # fmt: skip
    facts = [
        ("steps", p.get("steps")),
        ("chunks", p.get("chunks")),
        ("split operators", ", ".join(str(o) for o in p.get("split_ops", [])) or "none"),
        ("weight bytes", p.get("weight_bytes")),
        ("flash bytes read per inference", p.get("flash_read_bytes_per_inference")),
        ("flash read commands per inference", p.get("flash_read_commands_per_inference")),
        ("tag overhead bytes per inference", p.get("tag_overhead_bytes_per_inference")),
        ("flash bytes programmed per inference", p.get("flash_program_bytes_per_inference")),
        ("sector erases per inference", p.get("erases_per_inference")),
        ("estimated latency (s)", p.get("estimated_latency_s")),
        ("in-SRAM latency (s)", p.get("in_sram_latency_s")),
        ("latency ratio (out-of-core / in SRAM)", p.get("latency_ratio")),
        ("latency ratio without prefetch", p.get("latency_ratio_no_prefetch")),
        ("crypto", f"{p.get('crypto', {}).get('tag')} / AES-{p.get('crypto', {}).get('key_bits')}"),
        ("DSP kernels assumed", p.get("dsp_kernels_assumed")),
    ]
    if p.get("latency_ratio_software_aes") is not None:
        facts.append(("latency ratio with software AES", p["latency_ratio_software_aes"]))
    body = ["<h3>SRAM split (bytes)</h3>", _kv(split), "<h3>Schedule</h3>", _kv(facts)]
    fz = p.get("fused")
    if fz:
        body += [
            "<h3>Fused schedule</h3>",
            _kv([(k.replace("_", " "), v) for k, v in fz.items()]),
        ]
    rows = [
        [
            i,
            s.get("op"),
            s.get("op_type"),
            "-" if not s.get("channels") else f"{s['channels'][0]}:{s['channels'][1]}",
            "-" if s.get("fused_block") is None else s.get("fused_block"),
            ", ".join(str(c) for c in s.get("chunks", [])) or "-",
            s.get("fetch_bytes"),
            s.get("macs"),
        ]
        for i, s in enumerate(p.get("schedule", []))
    ]
    body += [
        "<h3>Steps</h3>",
        _table(
            ("step", "op", "type", "channels", "fused block", "chunks", "fetch bytes", "MACs"),
            rows,
        ),
    ]
    return body


def _energy_body(d: dict[str, Any]) -> list[str]:
    r = d["energy"]
    tot, ins = r["energy_uj_per_inference"], r["in_sram"]
    rows = []
    for p, name in PART_NAMES.items():
        rows.append([name, tot[p], ins["energy_uj_per_inference"][p] if ins else None])
    rows.append(["total", tot["total"], ins["energy_uj_per_inference"]["total"] if ins else None])
    t, c = r["time_s"], r["counts"]
    facts = [
        ("MCU + flash", f"{r['mcu']} + {r['flash']}"),
        ("kernels", r["kernels"]),
        ("cycles per instruction", r["cycles_per_instruction"]),
        ("out-of-core / in SRAM", r.get("out_of_core_over_in_sram")),
        ("latency (ms)", t["latency"] * 1e3),
        ("in-SRAM latency (ms)", ins["latency_s"] * 1e3 if ins else None),
        ("instructions", c["instructions"]),
        ("crypto instructions", c["crypto_instructions"]),
        ("flash bytes read", c["flash_read_bytes"]),
        ("flash read commands", c["flash_read_commands"]),
        ("flash pages programmed", c["flash_program_pages"]),
        ("erases", c["erases"]),
        ("once per boot: mount (uJ)", r["per_boot_uj"]["mount"]),
        ("once per boot: init (uJ)", r["per_boot_uj"]["init"]),
    ]
    if ins:
        facts += [
            ("in SRAM: SRAM needed (B)", ins["sram_need_bytes"]),
            ("in SRAM: fits the MCU's SRAM", ins["fits_sram"]),
            ("in SRAM: fits internal flash", ins["fits_internal_flash"]),
        ]
    layer_rows = []
    layers = list(r["per_layer"])
    if r["unattributed"]["total"]:
        layers.append({"index": "-", "op": "(no step)", **r["unattributed"], "in_sram": None})
    for row in layers:
        layer_rows.append(
            [row["index"], row["op"]]
            + [row[p] for p in PART_NAMES]
            + [row["total"], row.get("in_sram")]
        )
    units = [(k.replace("_", " "), v) for k, v in r["unit_costs"].items()]
    return [
        "<h3>Per inference (uJ)</h3>",
        _table(("part", "out-of-core", "in SRAM"), rows),
        _kv(facts),
        "<h3>Unit costs</h3>",
        _kv(units),
        "<h3>Per layer (uJ per inference)</h3>",
        _table(("layer", "op", *PART_NAMES.values(), "total", "in SRAM"), layer_rows),
    ]


def _wear_body(d: dict[str, Any]) -> list[str]:
    r = d["wear"]
    pr, me, lay = r["predicted"], r["measured"], r["layout"]
    rows = []
    for key, name in (
        ("read_bytes_per_inference", "bytes read"),
        ("read_commands_per_inference", "read commands"),
        ("program_bytes_per_inference", "bytes programmed"),
        ("erases_per_inference", "sector erases"),
    ):
        ok = r["agreement"].get(key)
        rows.append([name, pr.get(key), me.get(key), "-" if ok is None else ok])
    agree = (
        '<p class="ok">prediction and measurement agree</p>'
        if r["agree"]
        else '<p class="bad">prediction and measurement DISAGREE</p>'
    )
    run = me.get("run", {})
    life = [
        ("rate (inferences/s)", r["rate_per_s"]),
        ("endurance (cycles per sector)", r["endurance_cycles"]),
        ("endurance source", r["endurance_source"]),
        ("scratch sectors", lay["scratch_sectors"]),
        ("sector bytes", lay["sector_bytes"]),
        ("chip sectors outside the image", lay["free_sectors"]),
        ("worst sector erases per inference", r.get("worst_sector_erases_per_inference")),
        (
            "worst sector erases per inference without wear levelling",
            r.get("worst_sector_erases_per_inference_without_wear_leveling"),
        ),
        ("lifetime (years)", _life(r.get("lifetime_years"))),
        ("lifetime without wear levelling", _life(r.get("lifetime_years_without_wear_leveling"))),
        ("lifetime, whole flash", _life(r.get("lifetime_years_whole_flash"))),
        ("lifetime levelled over free flash", _life(r.get("lifetime_years_levelled_over_free_flash"))),
        ("measured run: inferences (invokes)", f"{me.get('inferences')} ({me.get('invokes')})"),
        ("measured run: erases", run.get("erase_ops")),
        ("measured run: bytes programmed", run.get("bytes_programmed")),
        ("measured run: flash bytes changed", run.get("flash_bytes_changed")),
    ]  # fmt: skip
    body = [
        f'<p class="statement">{_e(r["statement"])}</p>',
        "<h3>Per inference: predicted (plan.json) and measured (host NOR emulator)</h3>",
        _table(("", "predicted", "measured", "agree"), rows),
        agree,
        "<h3>Lifetime</h3>",
        _kv(life),
        f"<p>{_e('predicted: ' + str(pr.get('source')))}; {_e('measured: ' + str(me.get('source')))}."
        f" {_e(me.get('note', ''))}</p>",
    ]
    if "target" in r:
        body.append(f"<p>{_e(r['target'].get('statement', ''))}</p>")
    return body


def _life(v: Any) -> str:
    return "null: unlimited by wear" if v is None else f"{_num(float(v))} years"


def _profiles_body(d: dict[str, Any]) -> list[str]:
    r = d["energy"]
    rows: list[list[Any]] = []
    cpi = r["profiles"]["cpi"]
    for kind in ("mcu", "flash"):
        prof = r["profiles"][kind]
        for key, item in prof["values"].items():
            src = item["source"]
            if key == "cycles_per_instruction" and cpi["value"] != item["value"]:
                src = f"not used: --cpi {cpi['value']:g} overrides it"
            rows.append([f"{prof['name']}.{key}", _num(item["value"], 6), src])
    m = d["mcu_sram"]
    rows.append([f"{m['name']}.sram_bytes", _num(m["value"]), m["source"]])
    rows.append(["cycles per instruction used", _num(cpi["value"], 6), cpi["source"]])
    w = d["wear"]
    rows.append(
        ["endurance_cycles used (wear)", _num(w["endurance_cycles"]), w["endurance_source"]]
    )
    rows.append(["inference rate (wear)", f"{w['rate_per_s']:g}/s", "--rate"])
    return [_table(("value", "used", "source"), rows)]


def render_html(d: dict[str, Any]) -> str:
    """The page for ``d`` (:func:`collect`): the verdicts, the plots, then the build, plan,
    energy, wear, profiles and assumptions folded; plots inline; text escaped."""
    from ooc_sdk.audit.verdicts import CSS, judge, verdicts_html

    info = d["info"]
    name = info.get("model", {}).get("name", "?")
    plots: dict[str, list[str]] = {}
    for section, caption, png in d["plots"]:
        if not png.startswith(PNG_MAGIC):
            raise InvalidArgumentError(f"the {section} plot is not a PNG")
        plots.setdefault(section, []).append(_img(caption, png))
    memory_note = (
        "<p>The fused schedule's working SRAM per block, against the per-layer figure, "
        "planned again from the model (same plan id as the build).</p>"
        if d["fused_timeline"]
        else (
            "<p>The fused timeline could not be planned again identically; the layout above "
            "is from plan.json.</p>"
            if d["plan"].get("fused")
            else ""
        )
    )
    # the memory plots and their note first, then the energy and wear plots
    figures = [*plots.pop("memory", []), memory_note, *(f for fs in plots.values() for f in fs)]
    assumptions = [f"<li>{_e(a)}</li>" for a in d["energy"]["assumptions"]]
    assumptions += [
        f"<li>{_e('wear, predicted: ' + str(d['wear']['predicted'].get('source')))}</li>",
        f"<li>{_e('wear, measured: ' + str(d['wear']['measured'].get('source')))}</li>",
        f"<li>{_e(d['wear']['measured'].get('note', ''))}</li>",
        f"<li>{_e(d['wear']['measured'].get('run', {}).get('note', ''))}</li>",
        f"<li>{_e('bit-exact: ' + str(d['exact'].get('source', d['exact'].get('reason'))))}</li>",
        "<li>the memory plot places the runtime state and the stack at their planned bounds "
        "(plan.json); the weights per step are the step's fetch bytes in the chunk slots</li>",
    ]
    links = [*SECTIONS, *DETAILS]
    body = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_e(f'ooc report: {name}')}</title>",
        f"<style>{_CSS}{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(f'ooc report: {name}')}</h1>",
        f'<p class="sub">{_e(_subtitle(d))}</p>',
        *_section("verdicts", "Verdicts", [verdicts_html(judge(d))]),
        *_section("plots", "Plots", figures),
        "<h2>Details</h2>",
        "<nav><p>" + " | ".join(f'<a href="#{s}">{s}</a>' for s in links) + "</p></nav>",
        *_fold("build", "Build (build.json)", [_kv(_build_rows(d))]),
        *_fold("plan", "Plan (plan.json): SRAM split, schedule, every step", _plan_body(d)),
        *_fold("energy", "Energy per part and per layer", _energy_body(d)),
        *_fold("wear", "Wear: predicted and measured traffic, lifetimes", _wear_body(d)),
        *_fold("profiles", "Profile values and their sources", _profiles_body(d)),
        *_fold("assumptions", "Assumptions", ["<ul>", *assumptions, "</ul>"]),
        "</body>",
        "</html>",
    ]
    return "\n".join(body) + "\n"


def _fold(key: str, title: str, body: list[str]) -> list[str]:
    """A detail section, folded: its title is the summary a click opens."""
    return [f'<details id="{_e(key)}">', f"<summary>{_e(title)}</summary>", *body, "</details>"]


def _subtitle(d: dict[str, Any]) -> str:
    """One line under the title: the budget, the profiles, the rate and the image id."""
    from ooc_sdk.audit.verdicts import rate_text

    info, w = d["info"], d["wear"]
    budget = info.get("budget_bytes")
    return " \u00b7 ".join(
        [
            f"SRAM budget {format_size(int(budget))}" if budget is not None else "no SRAM budget",
            f"{info.get('mcu')} + {info.get('flash_profile')}",
            f"{d['energy'].get('kernels')} kernels",
            f"rate {rate_text(float(w['rate_per_s']))}",
            f"image {str(info.get('build_id'))[:16]}",
        ]
    )
