"""The model zoo: valid int8 ``.tflite`` models of standard architectures, any size.

The project ships no third-party model files; these generated models are its
demo and a source of benchmark models from a few KiB to tens of MiB of
weights. The same architecture, knobs and seed always give the same bytes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.model.writer import write_tflite
from ooc_sdk.model.zoo.archs import ARCHITECTURES, SE_PLACES, Architecture, Knobs
from ooc_sdk.model.zoo.net import Net

__all__ = ["ARCHITECTURES", "SE_PLACES", "Knobs", "ZooModel", "generate", "resolve_knobs"]

_MAX_WIDTH_MULTIPLIER = 64.0
_MAX_WIDTH_COUNT = 1 << 16
_CALIBRATION_MACS_LIMIT = 3_000_000_000  # above this, calibrate on one sample instead of two


@dataclass(frozen=True)
class ZooModel:
    arch: str
    knobs: Knobs
    seed: int
    data: bytes
    weight_bytes: int
    macs: int


def _arch(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown architecture {name!r} (choose from {', '.join(ARCHITECTURES)})"
        ) from None


def resolve_knobs(arch: str, knobs: Knobs) -> Knobs:
    """Fill in defaults and check that every given knob applies and is in range."""
    a = _arch(arch)
    values = {}
    for f in dataclasses.fields(Knobs):
        given = getattr(knobs, f.name)
        if f.name == "float_io":
            values[f.name] = given if given is not None else bool(a.defaults.float_io)
            continue
        if given is not None and f.name not in a.knob_names:
            raise InvalidArgumentError(
                f"{arch} has no `{f.name}` knob (it takes: {', '.join(f'`{n}`' for n in a.knob_names)})",
                param=(f.name, *a.knob_names),
            )
        values[f.name] = given if given is not None else getattr(a.defaults, f.name)
    k = Knobs(**values)
    if k.width is not None:
        if not a.width_is_multiplier and k.width != int(k.width):
            raise InvalidArgumentError(
                f"{arch} `width` is a whole channel count, got {k.width}", param="width"
            )
        hi = _MAX_WIDTH_MULTIPLIER if a.width_is_multiplier else _MAX_WIDTH_COUNT
        if not a.min_width <= k.width <= hi:
            raise InvalidArgumentError(
                f"{arch} `width` must be in [{a.min_width}, {hi}], got {k.width}", param="width"
            )
    if k.resolution is not None:
        low = 8 if arch == "resnet8" else 32
        if not low <= k.resolution <= 2048:
            raise InvalidArgumentError(
                f"{arch} `resolution` must be in [{low}, 2048], got {k.resolution}",
                param="resolution",
            )
    if k.se is not None and k.se not in SE_PLACES:
        raise InvalidArgumentError(
            f"`se` must be one of {', '.join(SE_PLACES)}, got {k.se!r}", param="se"
        )
    if k.depth is not None and not 1 <= k.depth <= 64:
        raise InvalidArgumentError(f"`depth` must be in [1, 64], got {k.depth}", param="depth")
    if k.classes is not None and not 2 <= k.classes <= 100_000:
        raise InvalidArgumentError(
            f"`classes` must be in [2, 100000], got {k.classes}", param="classes"
        )
    if a.check is not None:
        a.check(k)
    return k


def _dry(a: Architecture, k: Knobs) -> Net:
    net = Net(seed=0, dry=True)
    a.build(net, k)
    return net


def _width_for_weights(a: Architecture, k: Knobs, target: int) -> float:
    """The smallest width whose weights reach ``target`` bytes."""
    hi = _MAX_WIDTH_MULTIPLIER if a.width_is_multiplier else float(_MAX_WIDTH_COUNT)
    lo = a.min_width
    if _dry(a, dataclasses.replace(k, width=hi)).weight_bytes < target:
        raise InvalidArgumentError(
            f"{a.name} cannot reach {target} bytes of weights with these knobs (try a larger `depth` "
            "or another architecture)",
            param="depth",
        )
    if _dry(a, dataclasses.replace(k, width=lo)).weight_bytes >= target:
        return lo
    if a.width_is_multiplier:
        for _ in range(40):
            mid = (lo + hi) / 2
            if _dry(a, dataclasses.replace(k, width=mid)).weight_bytes >= target:
                hi = mid
            else:
                lo = mid
        return math.ceil(hi * 1e4) / 1e4  # rounding up keeps the weights at or above target
    ilo, ihi = int(lo), int(hi)
    while ihi - ilo > 1:
        mid = (ilo + ihi) // 2
        if _dry(a, dataclasses.replace(k, width=mid)).weight_bytes >= target:
            ihi = mid
        else:
            ilo = mid
    return float(ihi)


def generate(
    arch: str, knobs: Knobs | None = None, seed: int = 0, weights: int | None = None
) -> ZooModel:
    """Generate a calibrated int8 model.

    ``weights``: when given, the width knob is chosen as the smallest width whose
    weights reach that many bytes (the other knobs stay as given).
    """
    a = _arch(arch)
    k = resolve_knobs(arch, knobs or Knobs())
    if weights is not None:
        if knobs is not None and knobs.width is not None:
            raise InvalidArgumentError(
                "give either `width` or `weights`, not both", param=("width", "weights")
            )
        if weights <= 0:
            raise InvalidArgumentError("`weights` must be positive", param="weights")
        k = dataclasses.replace(k, width=_width_for_weights(a, k, weights))
    if not 0 <= seed < 2**63:
        raise InvalidArgumentError(f"`seed` must be in [0, 2^63), got {seed}", param="seed")
    try:
        dry = _dry(a, k)
    except ValueError as e:  # a window that no longer fits the shrinking feature map
        raise InvalidArgumentError(
            f"{arch}: {e}; use a larger `resolution`", param="resolution"
        ) from None
    batch = 1 if dry.macs > _CALIBRATION_MACS_LIMIT else 2
    description = f"ooc zoo {arch} seed={seed} " + " ".join(
        f"{n}={getattr(k, n)}" for n in a.knob_names
    )
    net = Net(seed=seed, batch=batch, description=description)
    a.build(net, k)
    return ZooModel(arch, k, seed, write_tflite(net.model), net.weight_bytes, net.macs)
