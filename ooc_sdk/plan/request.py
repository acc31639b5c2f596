"""What a plan is asked for: one frozen record that ``plan()`` and ``build()`` take and
``plan.json`` stores, so a build directory says exactly what it was planned for.

The budget is the whole SRAM the model may use: activations, chunk slots, runtime state and
stack (docs/DESIGN.md, "SRAM figure"). The flash and MCU profiles are stored whole, not by
name, so a build planned with a user's JSON profile reads back without the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.plan.fusion.model import CHANNEL_SPLIT
from ooc_sdk.plan.latency import Crypto
from ooc_sdk.targets import FlashProfile, McuProfile

CIPHERS = fmt.CIPHER_OPTIONS
TAGS = fmt.TAG_OPTIONS
VERIFY_MODES = ("every-read", "boot")
KERNELS = ("ref", "dsp")
MAX_SLOTS = 2  # one read in flight at a time (one DMA channel): double buffering


def default_tag(mcu: McuProfile) -> str:
    """The chunk tag an MCU gets unless one is asked for: AES-CMAC where an AES engine runs it
    beside the CPU, Poly1305 where AES runs in software (a second AES pass per byte costs the CPU
    about five times Poly1305's cycles; benchmarks/bench_m4.py)."""
    return "cmac" if mcu.aes_engine else "poly1305"


# Cores whose builds use the DSP/SIMD kernels (OOC_KERNELS_DSP: the ARMv7E-M and ARMv8-M
# Mainline DSP extension); other cores build the reference kernels.
DSP_CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85")


def default_kernels(mcu: McuProfile) -> str:
    """The kernels a build for ``mcu`` uses, which the latency estimate costs by default."""
    return "dsp" if mcu.core in DSP_CORES else "ref"


def tag_reason(mcu: McuProfile) -> str:
    """Why ``default_tag(mcu)`` is the default, for the plan summary."""
    return (
        f"{mcu.name} has an AES engine, which computes CMAC"
        if mcu.aes_engine
        else f"{mcu.name} runs AES in software, where Poly1305 is the cheaper tag"
    )


@dataclass(frozen=True)
class PlanRequest:
    """The inputs of a plan besides the model. Checked when made: a bad value raises
    InvalidArgumentError naming the parameter."""

    budget: int | None  # the whole SRAM budget in bytes; None: no limit
    flash: FlashProfile
    mcu: McuProfile
    cipher: str = "aes128"  # content key length for AES-CTR: a key of CIPHERS
    # chunk tag: a key of TAGS; None: the MCU profile's default (default_tag()), resolved when
    # made, so plan.json always records the tag
    tag: str | None = None
    verify: str = "every-read"  # when chunk tags are checked: VERIFY_MODES
    # the kernels the latency estimate assumes (KERNELS); None: those a build for the MCU uses
    # (default_kernels()), resolved when made
    kernels: str | None = None
    fuse: bool = False  # fused activations (rows, rings, strips) chosen with the slots
    # channel-split chains inside fused blocks (CHANNEL_SPLIT): applies whenever the plan fuses
    channel_split: str = "auto"
    slots: int | None = None  # chunk slots (1 or 2); None: the planner chooses
    spill: bool = True  # with fuse: spill activations to flash when nothing else fits
    # with fuse: fused schedules recompute at most this many times the model's MACs (None: as
    # the budget needs)
    max_mac_overhead: float | None = None
    scratch_bytes: int | None = None  # the image's scratch partition; None: the default

    def __post_init__(self) -> None:
        if self.tag is None:
            object.__setattr__(self, "tag", default_tag(self.mcu))
        if self.kernels is None:
            object.__setattr__(self, "kernels", default_kernels(self.mcu))
        if self.budget is not None and self.budget <= 0:
            raise InvalidArgumentError("`budget` must be positive", param="budget")
        if self.max_mac_overhead is not None and not self.max_mac_overhead >= 1.0:
            raise InvalidArgumentError(
                "`max_mac_overhead` must be at least 1.0", param="max_mac_overhead"
            )
        for name, allowed in (
            ("cipher", CIPHERS),
            ("tag", TAGS),
            ("verify", VERIFY_MODES),
            ("kernels", KERNELS),
            ("channel_split", CHANNEL_SPLIT),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise InvalidArgumentError(
                    f"`{name}` must be one of {', '.join(allowed)}, not {value!r}", param=name
                )
        if self.slots is not None and not 1 <= self.slots <= MAX_SLOTS:
            raise InvalidArgumentError(f"`slots` must be 1 .. {MAX_SLOTS}", param="slots")
        if self.scratch_bytes is not None and self.scratch_bytes < 0:
            raise InvalidArgumentError(
                "`scratch_bytes` must not be negative", param="scratch_bytes"
            )

    @property
    def crypto(self) -> Crypto:
        """The crypto the latency model costs."""
        return Crypto.for_image(self.cipher_id, self.tag_id)

    @property
    def cipher_id(self) -> int:
        """The manifest's cipher value (formats/image.py)."""
        return CIPHERS[self.cipher]

    @property
    def tag_id(self) -> int:
        """The manifest's tag algorithm value (formats/image.py)."""
        return TAGS[str(self.tag)]

    @property
    def dsp(self) -> bool:
        return self.kernels == "dsp"

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["budget_bytes"] = out.pop("budget")
        return out

    @classmethod
    def from_json(cls, data: Any) -> PlanRequest:
        """The request a plan.json stores. Raises InvalidArgumentError on anything malformed
        (the caller says which file)."""
        if not isinstance(data, dict):
            raise InvalidArgumentError("the plan request is not a JSON object")
        fields = {f.name for f in dataclasses.fields(cls)} - {"budget"}
        unknown = sorted(set(data) - fields - {"budget_bytes"})
        if unknown:
            raise InvalidArgumentError(f"the plan request has unknown keys {', '.join(unknown)}")
        kw = {k: data[k] for k in fields if k in data}
        try:
            kw["flash"] = FlashProfile(**data["flash"])
            kw["mcu"] = McuProfile(**data["mcu"])
            return cls(budget=data["budget_bytes"], **kw)
        except (KeyError, TypeError) as exc:
            raise InvalidArgumentError(
                f"the plan request is incomplete or mistyped: {exc}"
            ) from None
