"""Standard int8 CNN architectures for the zoo, with size knobs.

Each architecture is a function ``(net, knobs) -> None`` that builds the
network on a :class:`~ooc_sdk.model.zoo.net.Net`. The structures follow the
published reference models:

- ``ds-cnn``: keyword spotting DS-CNN (Zhang et al., "Hello Edge", 2017; the
  MLPerf Tiny KWS model): a 10x4 stride-2 convolution, ``depth`` depthwise
  separable blocks, global average pooling, a classifier.
- ``mobilenet-v1``: Howard et al., 2017, with width multiplier and input
  resolution; stride-2 depthwise layers take an explicit PAD and VALID padding
  as Keras builds them (MLPerf Tiny VWW uses width 0.25 at 96x96).
- ``mobilenet-v2``: Sandler et al., 2018: inverted residual blocks with
  residual ADDs, width multiplier, resolution; MEAN for the global pooling as
  the TFLite converter emits it.
- ``resnet8``: the MLPerf Tiny image classification ResNet-8 (three stacks,
  1x1 stride-2 projection shortcuts).
- ``autoencoder``: the MLPerf Tiny anomaly detection fully connected
  autoencoder (640 -> width x depth -> 8 -> width x depth -> 640).
- ``keras-flatten``: a small Keras-style CNN (three stride-2 convolutions) whose
  Flatten before the dense head is exported the way the TFLite converter writes
  Keras's: SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE on int32 tensors (ingest folds
  it into a plain RESHAPE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ooc_sdk.model.ir import Activation, Padding
from ooc_sdk.model.zoo.net import Net

RELU, RELU6, LINEAR = Activation.RELU, Activation.RELU6, Activation.NONE


@dataclass(frozen=True)
class Knobs:
    """Size knobs. ``width`` is a multiplier for the MobileNets and a channel or
    unit count for the others; ``None`` means the architecture's default."""

    width: float | None = None
    resolution: int | None = None
    depth: int | None = None
    classes: int | None = None
    float_io: bool = False


@dataclass(frozen=True)
class Architecture:
    name: str
    summary: str
    build: Callable[[Net, Knobs], None]
    defaults: Knobs
    width_is_multiplier: bool  # False: width is an integer count
    min_width: float
    knob_names: tuple[str, ...]  # which knobs apply


def _div8(v: float) -> int:
    """Round a channel count to a multiple of 8, never down by more than 10%."""
    new = max(8, int(v + 4) // 8 * 8)
    if new < 0.9 * v:
        new += 8
    return new


def ds_cnn(net: Net, k: Knobs) -> None:
    width, depth, classes = int(k.width), k.depth, k.classes
    x = net.input((1, 49, 10, 1), lo=-1.0, hi=1.0, float_io=k.float_io)
    x = net.conv(x, width, (10, 4), stride=2, act=RELU)
    for _ in range(depth):
        x = net.depthwise(x, 3, 1, act=RELU)
        x = net.conv(x, width, 1, act=RELU, name="pointwise")
    x = net.global_pool(x)
    x = net.reshape(x, (1, width))
    x = net.fully_connected(x, classes)
    net.output(net.softmax(x), k.float_io)


def mobilenet_v1(net: Net, k: Knobs) -> None:
    alpha, res, classes = k.width, k.resolution, k.classes
    x = net.input((1, res, res, 3), float_io=k.float_io)
    x = net.conv(x, max(int(32 * alpha), 1), 3, stride=2, act=RELU6)
    plan = (
        [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
        + [(512, 1)] * 5
        + [(1024, 2), (1024, 1)]
    )
    for filters, stride in plan:
        if stride == 2:
            x = net.pad(x, [(0, 0), (0, 1), (0, 1), (0, 0)])
            x = net.depthwise(x, 3, 2, act=RELU6, padding=Padding.VALID)
        else:
            x = net.depthwise(x, 3, 1, act=RELU6)
        x = net.conv(x, max(int(filters * alpha), 1), 1, act=RELU6, name="pointwise")
    x = net.global_pool(x)
    c = x.shape[3]
    x = net.reshape(x, (1, c))
    x = net.fully_connected(x, classes)
    net.output(net.softmax(x), k.float_io)


def mobilenet_v2(net: Net, k: Knobs) -> None:
    alpha, res, classes = k.width, k.resolution, k.classes
    x = net.input((1, res, res, 3), lo=-1.0, hi=1.0, float_io=k.float_io)
    x = net.conv(x, _div8(32 * alpha), 3, stride=2, act=RELU6)
    blocks = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    depth_scale = k.depth  # number of repeats per stage is capped to keep tiny variants tiny
    for t, c, n, s in blocks:
        out_c = _div8(c * alpha)
        repeats = min(n, depth_scale)
        for i in range(repeats):
            stride = s if i == 0 else 1
            in_c = x.shape[3]
            h = x
            if t != 1:
                h = net.conv(h, in_c * t, 1, act=RELU6, name="expand")
            h = net.depthwise(h, 3, stride, act=RELU6)
            h = net.conv(h, out_c, 1, act=LINEAR, name="project")
            x = net.add(x, h) if stride == 1 and in_c == out_c else h
    last = _div8(1280 * max(1.0, alpha))
    x = net.conv(x, last, 1, act=RELU6)
    x = net.global_pool(x, use_mean=True)
    x = net.reshape(x, (1, last))
    x = net.fully_connected(x, classes)
    net.output(net.softmax(x), k.float_io)


def resnet8(net: Net, k: Knobs) -> None:
    width, res, classes = int(k.width), k.resolution, k.classes
    x = net.input((1, res, res, 3), float_io=k.float_io)
    x = net.conv(x, width, 3, act=RELU)
    for stage in range(3):
        filters = width * (2**stage)
        stride = 1 if stage == 0 else 2
        h = net.conv(x, filters, 3, stride=stride, act=RELU)
        h = net.conv(h, filters, 3, act=LINEAR)
        shortcut = (
            x if stage == 0 else net.conv(x, filters, 1, stride=2, act=LINEAR, name="shortcut")
        )
        x = net.add(shortcut, h, act=RELU)
    x = net.global_pool(x)
    c = x.shape[3]
    x = net.reshape(x, (1, c))
    x = net.fully_connected(x, classes)
    net.output(net.softmax(x), k.float_io)


def autoencoder(net: Net, k: Knobs) -> None:
    width, depth = int(k.width), k.depth
    x = net.input((1, 640), lo=-4.0, hi=4.0, float_io=k.float_io)
    for _ in range(depth):
        x = net.fully_connected(x, width, act=RELU)
    x = net.fully_connected(x, 8, act=RELU, name="bottleneck")
    for _ in range(depth):
        x = net.fully_connected(x, width, act=RELU)
    x = net.fully_connected(x, 640, act=LINEAR, name="reconstruction")
    net.output(x, k.float_io)


def keras_flatten(net: Net, k: Knobs) -> None:
    width, res, classes = int(k.width), k.resolution, k.classes
    x = net.input((1, res, res, 3), float_io=k.float_io)
    for stage in range(3):
        x = net.conv(x, width * 2**stage, 3, stride=2, act=RELU)
    x = net.keras_flatten(x)
    x = net.fully_connected(x, 4 * width, act=RELU)
    x = net.fully_connected(x, classes)
    net.output(net.softmax(x), k.float_io)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture(
            "ds-cnn",
            "keyword spotting DS-CNN (MLPerf Tiny KWS shape), input 49x10x1",
            ds_cnn,
            Knobs(width=64, depth=4, classes=12),
            False,
            4,
            ("width", "depth", "classes"),
        ),
        Architecture(
            "mobilenet-v1",
            "MobileNetV1 (width multiplier, resolution), RGB input",
            mobilenet_v1,
            Knobs(width=0.25, resolution=96, classes=2),
            True,
            0.05,
            ("width", "resolution", "classes"),
        ),
        Architecture(
            "mobilenet-v2",
            "MobileNetV2 with residual ADDs (width multiplier, resolution)",
            mobilenet_v2,
            Knobs(width=0.35, resolution=96, depth=4, classes=1000),
            True,
            0.05,
            ("width", "resolution", "depth", "classes"),
        ),
        Architecture(
            "resnet8",
            "ResNet-8 (MLPerf Tiny image classification shape), RGB input",
            resnet8,
            Knobs(width=16, resolution=32, classes=10),
            False,
            2,
            ("width", "resolution", "classes"),
        ),
        Architecture(
            "autoencoder",
            "fully connected autoencoder (MLPerf Tiny anomaly detection shape)",
            autoencoder,
            Knobs(width=128, depth=4),
            False,
            8,
            ("width", "depth"),
        ),
        Architecture(
            "keras-flatten",
            "small Keras CNN whose Flatten is exported as SHAPE/STRIDED_SLICE/PACK/RESHAPE",
            keras_flatten,
            Knobs(width=8, resolution=32, classes=10),
            False,
            2,
            ("width", "resolution", "classes"),
        ),
    ]
}
