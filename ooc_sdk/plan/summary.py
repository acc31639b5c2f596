"""Plans as a few lines of text (what ``ooc plan`` and ``ooc build`` print; the JSON is the
plans' ``to_json``)."""

from __future__ import annotations

from typing import Any

from ooc_sdk.plan.budget import in_core_json
from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.plan.request import default_tag, tag_reason
from ooc_sdk.plan.schedule import Plan
from ooc_sdk.units import format_size


def plan_lines(p: Plan) -> list[str]:
    """An out-of-core plan: its SRAM, schedule, flash reads, latency, spills and fused blocks."""
    j = p.to_json()
    split = len(j["split_ops"])
    lines = [
        f"SRAM {j['sram_bytes']:,} bytes ({format_size(j['sram_bytes'])})"
        + (f" of a {format_size(j['budget_bytes'])} budget" if j["budget_bytes"] else "")
        + f": activations {j['activation_bytes']:,} + {j['slots']} chunk slot"
        + ("s" if j["slots"] > 1 else "")
        + f" x {j['slot_bytes']:,} + runtime state {j['state_bytes']:,} + stack {j['stack_bytes']:,}",
        f"schedule: {j['steps']} steps over {len(p.graph.operators)} operators"
        + (f" ({split} split along output channels)" if split else "")
        + f", {j['chunks']} chunks",
        f"flash per inference: {j['flash_read_bytes_per_inference']:,} bytes read "
        f"({j['weight_bytes']:,} weights + {j['tag_overhead_bytes_per_inference']:,} table "
        f"entries and alignment) in {j['flash_read_commands_per_inference']} read commands",
        f"estimated latency on {j['mcu']} + {j['flash']}: {j['estimated_latency_s'] * 1e3:.3f} ms "
        f"= {j['latency_ratio']:.3f} x all-weights-in-SRAM "
        f"(this schedule with prefetch: {j['latency_ratio_prefetch']:.3f} x, "
        f"without: {j['latency_ratio_no_prefetch']:.3f} x"
        + (
            f", prefetch with software AES: {j['latency_ratio_software_aes']:.3f} x"
            if "latency_ratio_software_aes" in j
            else ""
        )
        + ")",
    ]
    mcu, tag = p.request.mcu, str(p.request.tag)
    lines.append(
        f"chunk tag: {tag}"
        + (
            f" (the MCU profile's default: {tag_reason(mcu)})"
            if tag == default_tag(mcu)
            else f" (asked for; {mcu.name}'s default is {default_tag(mcu)})"
        )
    )
    if j.get("spill"):
        sp = j["spill"]
        days = sp["lifetime_inferences"] / 86400
        lines.insert(
            3,
            f"activation spill: {len(sp['tensors'])} tensor"
            + ("s" if len(sp["tensors"]) > 1 else "")
            + f" to the flash scratch ring, {sp['records_per_inference']} records: "
            f"{sp['flash_program_bytes_per_inference']:,.0f} bytes programmed and "
            f"{sp['erases_per_inference']:.2f} sector erases per inference (worst "
            f"{sp['worst_case']['flash_program_bytes']:,} / {sp['worst_case']['erases']}), "
            f"{sp['read_back_bytes_per_inference']:,} bytes read back; scratch "
            f"{format_size(sp['scratch_bytes'])} lasts {sp['lifetime_inferences']:,.0f} "
            f"inferences ({days:,.1f} days at 1 inference/s)",
        )
    if j.get("fused"):
        f = j["fused"]
        lines.insert(
            1,
            f"fused activations: {f['blocks']} fused blocks (weights resident in the slot while "
            f"their rows compute), working SRAM {f['working_sram_bytes']:,} vs "
            f"{f['per_layer_working_sram_bytes']:,} per layer, MACs {f['mac_overhead']:.3f} x",
        )
    lines.insert(1, "techniques: " + technique_text(j["techniques"], j["budget_bytes"]))
    return lines


def technique_text(t: dict[str, Any], budget: int | None) -> str:
    """Plan.techniques() in words: what runs how, and why it fuses."""
    used = []
    if t["fused_blocks"]:
        used.append(f"{t['fused_blocks']} fused blocks (rows, rings"
                    + (f", up to {t['column_strips']} column strips)" if t["column_strips"] > 1
                       else ")"))  # fmt: skip
    else:
        fits = " (the fastest: it fits the budget and recomputes nothing)" if budget else ""
        used.append("layer by layer" + fits)
    for key, what in (
        ("channel_split_chains", "channel-split chain"),
        ("restreamed_ops", "operator re-streaming its weights per row"),
        ("row_grouped_ops", "operator in row groups (one read per group of rows)"),
        ("spilled_tensors", "activation spilled to flash"),
        ("split_ops", "layer split along output channels"),
    ):
        if t[key]:
            used.append(f"{t[key]} {_plural(what, t[key])}")
    text = ", ".join(used)
    least = t["per_layer_minimum_bytes"]
    if least is not None and budget is not None:
        text += (f"; chosen because layer by layer needs at least {format_size(least)}, "
                 f"over the {format_size(budget)} budget")  # fmt: skip
    return text


def _plural(what: str, n: int) -> str:
    """``what`` with its first word made plural when ``n`` is not 1."""
    if n == 1:
        return what
    head, _, tail = what.partition(" ")
    return f"{head}s {tail}".strip()


def fusion_lines(fp: FusionPlan, sram: int | None = None) -> list[str]:
    """An in-core fused plan (``sram``: the whole budget it was planned for, if any): its whole
    and working SRAM, MACs, and each block."""
    j = in_core_json(fp, sram)
    fused = [b for b in j["blocks"] if b["fused"]]
    lines = [
        f"SRAM {j['sram_bytes']:,} bytes ({format_size(j['sram_bytes'])})"
        + (f" of a {format_size(sram)} budget" if sram is not None else "")
        + f": arena {j['arena_bytes']:,} (working SRAM and outputs) + runtime state "
        f"{j['state_bytes']:,} + stack {j['stack_bytes']:,}",
        f"working SRAM {j['working_sram_bytes']:,} bytes ({format_size(j['working_sram_bytes'])})"
        f" vs {j['per_layer_working_sram_bytes']:,} per layer: {j['reduction']:.1f}x less; "
        f"arena {j['arena_bytes']:,} bytes with the outputs",
        f"MACs {j['macs']:,} = {j['mac_overhead']:.3f} x the model's; planned in "
        f"{j['search_seconds']:.1f} s"
        + (
            f"; input streamed through the reader: {j['streamed_inputs']}"
            if j["streamed_inputs"]
            else ""
        ),
        f"{len(fused)} fused blocks, {len(j['blocks']) - len(fused)} operators run whole:",
    ]
    for b in j["blocks"]:
        first, last = b["ops"]
        what = f"ops {first}..{last - 1}" if last - first > 1 else f"op {first}"
        kinds = ", ".join(dict.fromkeys(b["op_types"]))
        if b["fused"]:
            split = "".join(
                f", ops {c['ops'][0]}..{c['ops'][1] - 1} channel-split by {c['group']}"
                for c in b["channel_split"]
            )
            lines.append(
                f"  {what:>12}  fused, {b['strips']} strip{'s' if b['strips'] > 1 else ''}, "
                f"rings {b['ring_bytes']:,} B, live {b['sram_bytes']:,} B{split}  [{kinds}]"
            )
        else:
            lines.append(f"  {what:>12}  whole, live {b['sram_bytes']:,} B  [{kinds}]")
    return lines
