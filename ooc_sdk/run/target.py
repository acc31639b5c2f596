"""Run a model or a build directory with the ooc C runtime (``ooc run``): on this host or on the
emulated Cortex-M4; a model in core (per layer, or with the fused schedule its options ask for),
a build directory out of core (weights only from its emulated flash, with the device key).

:func:`run_target` decides which from the target and returns one :class:`TargetRun`: the
outputs and the figures ``ooc run --json`` prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ooc_sdk.build.directory import BuildDir
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.lower.skip import approximate_file
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.plan.budget import in_core_sram_bytes, plan_in_core
from ooc_sdk.plan.fusion.layout import FusionPlan
from ooc_sdk.run.qemu import DEFAULT_TIMEOUT_S

PLATFORMS = ("host", "qemu-m4")


@dataclass(frozen=True)
class TargetRun:
    """One run of :func:`run_target`."""

    model: str  # the model's name
    platform: str  # "host" or "qemu-m4"
    out_of_core: bool  # a build directory: weights from its emulated flash
    outputs: list[np.ndarray]  # the sample's outputs, one per model output
    report: dict[str, Any]  # the figures (``ooc run --json`` without "outputs")
    plan: dict[str, Any] | None = None  # a build directory's plan.json
    runner: dict[str, Any] = field(default_factory=dict)  # all the runner measured
    fusion: FusionPlan | None = None  # the fused schedule a model ran


def run_target(
    target: Path,
    *,
    device: DeviceKey | None = None,
    inputs: list[np.ndarray] | None = None,
    seed: int = 0,
    platform: str = "host",
    repeat: int = 1,
    sync_reads: bool = False,
    kernels: str = "dsp",
    timeout: float = DEFAULT_TIMEOUT_S,
    fuse: bool = False,
    max_mac_overhead: float | None = None,
    sram: int | None = None,
    working_sram: int | None = None,
    channel_split: str = "auto",
    progress: Callable[[str], None] | None = None,
    model: Path | None = None,
    approx: Path | None = None,
) -> TargetRun:
    """Run ``target`` (a .tflite model or an ``ooc build`` directory) on one input sample:
    ``inputs`` (one array per model input) or random ones from ``seed``.

    A build directory runs out of core with ``device`` (the key its image was wrapped for); on
    the host ``sync_reads`` models a port without asynchronous reads. A model runs in core, per
    layer or, with ``fuse`` or ``max_mac_overhead``, with a fused schedule
    (:func:`ooc_sdk.plan.budget.plan_in_core`: ``sram`` the whole SRAM budget, ``working_sram``
    the working SRAM). On the host ``repeat`` invokes that many times (the median time);
    ``platform`` "qemu-m4" runs on the emulated Cortex-M4 with ``kernels`` ("dsp" or "ref")
    and stops the emulator after ``timeout`` seconds."""
    _check_options(target, platform, repeat, sync_reads, fuse, max_mac_overhead, sram,
                   working_sram, channel_split)  # fmt: skip
    if platform == "qemu-m4" and progress is not None:
        progress("building the Cortex-M4 firmware and running it under QEMU")
    if target.is_dir():
        if approx is not None:
            raise InvalidArgumentError(
                "`approx` applies to a MODEL: a build directory runs the approximation it was "
                "built with",
                param="approx",
            )
        return _run_build_dir(
            target, device, inputs, seed, platform, sync_reads, kernels, timeout, model
        )
    if model is not None:
        raise InvalidArgumentError("`model` applies to a build directory", param="model")
    if device is not None or sync_reads:
        what = "`device` and `sync_reads` apply" if platform == "host" else "`device` applies"
        raise InvalidArgumentError(f"{what} to a build directory", param=("device", "sync_reads"))
    graph = load_model(target)
    if approx is not None:
        graph = approximate_file(graph, approx)
    fusion = plan_in_core(
        graph, fuse=fuse, max_mac_overhead=max_mac_overhead, sram=sram,
        working_sram=working_sram, channel_split=channel_split,
    )  # fmt: skip
    sample = inputs or random_inputs(graph, seed)
    if platform == "qemu-m4":
        from ooc_sdk.run.qemu import run_model_m4

        m4 = run_model_m4(graph, [sample], kernels=kernels, timeout=timeout, fusion=fusion)
        report = dict(m4.report)
        if fusion is not None:
            report = _with_plan_sram(report, fusion)
        return TargetRun(graph.name, platform, False, m4.outputs[0], report, None, m4.report,
                         fusion)  # fmt: skip
    from ooc_sdk.run.host import run_host

    result = run_host(graph, [sample], repeat=repeat, fusion=fusion)
    report = {"arena_bytes": result.arena_bytes, "invoke_seconds": result.invoke_seconds[0]}
    if fusion is not None:
        report.update(
            {
                "schedule": "fused",
                "working_high_water_bytes": result.working_high_water_bytes,
                "plan_working_sram_bytes": fusion.working_sram_bytes,
                "per_layer_arena_bytes": fusion.per_layer_arena_bytes,
                "mac_overhead": round(fusion.mac_overhead, 4),
            }
        )
        report = _with_plan_sram(report, fusion)
    return TargetRun(graph.name, platform, False, result.outputs[0], report, fusion=fusion)


def _check_options(
    target: Path,
    platform: str,
    repeat: int,
    sync_reads: bool,
    fuse: bool,
    max_mac_overhead: float | None,
    sram: int | None,
    working_sram: int | None,
    channel_split: str,
) -> None:
    """Refuse options that do not apply to this target or platform."""
    if repeat < 1:
        raise InvalidArgumentError("`repeat` must be at least 1", param="repeat")
    if platform not in PLATFORMS:
        raise InvalidArgumentError(
            f"`platform` must be one of {', '.join(PLATFORMS)}, not {platform!r}", param="platform"
        )
    fusion_given = (
        fuse or max_mac_overhead is not None or sram is not None or working_sram is not None
        or channel_split != "auto"
    )  # fmt: skip
    if target.is_dir() and fusion_given:
        names = ("fuse", "max_mac_overhead", "channel_split", "sram", "working_sram")
        raise InvalidArgumentError(
            "`fuse`, `max_mac_overhead`, `channel_split`, `sram` and `working_sram` apply to a "
            "MODEL (a build directory runs its out-of-core plan)",
            param=names,
        )
    if platform == "qemu-m4" and (sync_reads or repeat != 1):
        raise InvalidArgumentError(
            "`sync_reads` and `repeat` apply to `platform` host",
            param=("sync_reads", "repeat", "platform"),
        )


def _with_plan_sram(report: dict[str, Any], fusion: FusionPlan) -> dict[str, Any]:
    """``report`` with ``plan_sram_bytes`` (the whole SRAM of the fused firmware: arena,
    runtime state and stack) before ``plan_working_sram_bytes``."""
    out: dict[str, Any] = {}
    for key, value in report.items():
        if key == "plan_working_sram_bytes":
            out["plan_sram_bytes"] = in_core_sram_bytes(fusion.arena_bytes)
        out[key] = value
    return out


def _run_build_dir(
    target: Path,
    device: DeviceKey | None,
    inputs: list[np.ndarray] | None,
    seed: int,
    platform: str,
    sync_reads: bool,
    kernels: str,
    timeout: float,
    model: Path | None = None,
) -> TargetRun:
    """An ``ooc build`` directory out of core, as the device runs it (``model``: the .tflite it
    was built from, when it is no longer where build.json says)."""
    bd = BuildDir.open(target)
    if device is None:
        raise InvalidArgumentError(
            f"{target} is a build directory: give `device` (the key file its image was wrapped "
            "for)",
            param="device",
        )
    graph = bd.graph(model)
    sample = inputs or random_inputs(graph, seed)
    name = bd.info.model_name
    if platform == "qemu-m4":
        from ooc_sdk.run.qemu import run_build_m4

        m4 = run_build_m4(target, graph, device, [sample], kernels=kernels, timeout=timeout)
        return TargetRun(name, platform, True, m4.outputs[0], dict(m4.report), None, m4.report)
    from ooc_sdk.run.host import run_build

    result = run_build(target, graph, device, [sample], sync_reads=sync_reads)
    plan = bd.plan_json()
    rep = result.report
    report = {
        "sram_high_water_bytes": rep["sram_high_water_bytes"],
        "plan_sram_bytes": plan["sram_bytes"],
        "arena_high_water_bytes": rep["arena_high_water_bytes"],
        "stack_high_water_bytes": rep["stack_high_water_bytes"],
        "state_bytes": rep["state_bytes"],
        "flash_read_bytes": rep["flash_read_bytes"],
        "flash_read_commands": rep["flash_read_commands"],
        "flash_program_bytes": rep["flash_program_bytes"],
        "erases": rep["erases"],
        "flash_read_busy_s": rep["flash_read_busy_s"],
        "plan_flash_read_bytes": plan["flash_read_bytes_per_inference"],
        "weight_bytes": plan["weight_bytes"],
        "estimated_latency_s": plan["estimated_latency_s"],
        "async_reads": rep["async_reads"],
    }
    return TargetRun(name, platform, True, result.outputs[0], report, plan, rep)
