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
- ``mcunet``: an MCUNet-style (Lin et al., 2020) network with float32 input and output:
  inverted-residual stages with 3x3, 5x5 and 7x7 depthwise kernels and expansion ratios 1 to
  6, squeeze-and-excitation (MEAN over H and W, 1x1 convolutions, LOGISTIC, a broadcast MUL)
  in the late stages (the default) or the early ones (``se``).
- ``detector``: a separable-convolution backbone with two or three output scales (strides
  8/16/32); each deeper scale is upsampled (RESIZE_NEAREST_NEIGHBOR x2) and concatenated with
  the shallower one's lateral 1x1, FPN/YOLO style; one int8 head per scale.
- ``inception``: GoogLeNet-style blocks of parallel 1x1, 1x1-3x3, 1x1-5x5 (first stage) or
  1x1-3x3-3x3, and 3x3 pooling-1x1 branches joined by CONCATENATION along channels.

Each architecture has default knobs and a documented larger size (``Architecture.larger``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.model.ir import Activation, Padding
from ooc_sdk.model.zoo.net import Net, Node

RELU, RELU6, LINEAR = Activation.RELU, Activation.RELU6, Activation.NONE


@dataclass(frozen=True)
class Knobs:
    """Size knobs. ``width`` is a multiplier for the MobileNets and a channel or
    unit count for the others; ``None`` means the architecture's default."""

    width: float | None = None
    resolution: int | None = None
    depth: int | None = None
    classes: int | None = None
    float_io: bool | None = None  # None: the architecture's default (float for mcunet)
    se: str | None = None  # mcunet: where squeeze-and-excitation blocks go (SE_PLACES)


@dataclass(frozen=True)
class Architecture:
    name: str
    summary: str
    build: Callable[[Net, Knobs], None]
    defaults: Knobs
    width_is_multiplier: bool  # False: width is an integer count
    min_width: float
    knob_names: tuple[str, ...]  # which knobs apply
    larger: Knobs = Knobs()  # the documented larger size (knobs not given: the defaults)
    check: Callable[[Knobs], None] | None = None  # raises InvalidArgumentError on a bad mix


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


def _squeeze_excite(net: Net, x: Node, ratio: int = 4) -> Node:
    """MEAN over H and W -> 1x1 conv + RELU -> 1x1 conv -> LOGISTIC -> MUL, the [1,1,1,C]
    gate broadcast over the [1,H,W,C] tensor."""
    c = x.shape[3]
    s = net.global_pool(x, use_mean=True, name="se_mean")
    s = net.conv(s, _div8(c / ratio), 1, act=RELU, name="se_reduce")
    s = net.conv(s, c, 1, act=LINEAR, name="se_expand")
    return net.mul(x, net.logistic(s, name="se_gate"), name="se_mul")


def _inverted_residual(
    net: Net, x: Node, expand: int, k: int, out_c: int, stride: int, se: bool
) -> Node:
    """MobileNetV2's block: 1x1 expansion (unless ``expand`` is 1), k x k depthwise, optional
    squeeze-and-excitation, linear 1x1 projection, residual ADD when the shape is kept."""
    in_c = x.shape[3]
    h = x if expand == 1 else net.conv(x, in_c * expand, 1, act=RELU6, name="expand")
    h = net.depthwise(h, k, stride, act=RELU6)
    if se:
        h = _squeeze_excite(net, h)
    h = net.conv(h, out_c, 1, act=LINEAR, name="project")
    return net.add(x, h) if stride == 1 and in_c == out_c else h


# mcunet stages: (output channels at width 1, first stride, [(expansion, kernel) per block],
# where `se` puts squeeze-and-excitation: "early" and "all" the first two, "late" and "all"
# the two before the last)
_MCUNET_STAGES = [
    (8, 1, [(1, 3), (6, 3)], "early"),
    (16, 2, [(4, 7), (3, 3)], "early"),
    (24, 2, [(4, 5), (3, 5), (3, 3)], ""),
    (40, 2, [(5, 5), (4, 3), (4, 7)], ""),
    (48, 1, [(6, 5), (4, 5)], "late"),
    (96, 2, [(6, 7), (5, 5)], "late"),
    (160, 1, [(6, 3)], ""),
]
SE_PLACES = ("none", "early", "late", "all")


def mcunet(net: Net, k: Knobs) -> None:
    alpha, res, classes, se = k.width, k.resolution, k.classes, k.se
    x = net.input((1, res, res, 3), lo=-1.0, hi=1.0, float_io=k.float_io)
    x = net.conv(x, _div8(16 * alpha), 3, stride=2, act=RELU6)
    for c, s, blocks, place in _MCUNET_STAGES:
        with_se = place != "" and se in (place, "all")
        for i, (t, kernel) in enumerate(blocks):
            x = _inverted_residual(net, x, t, kernel, _div8(c * alpha), s if i == 0 else 1, with_se)
    x = net.global_pool(x, use_mean=True)
    x = net.reshape(x, (1, x.shape[3]))
    x = net.fully_connected(x, classes)
    net.output(net.softmax(x), k.float_io)


def _separable(net: Net, x: Node, out_c: int, stride: int = 1) -> Node:
    """3x3 depthwise + 1x1 pointwise, both RELU6."""
    x = net.depthwise(x, 3, stride, act=RELU6)
    return net.conv(x, out_c, 1, act=RELU6, name="pointwise")


def _check_detector(k: Knobs) -> None:
    if k.depth not in (2, 3):
        raise InvalidArgumentError(
            f"detector `depth` (output scales) must be 2 or 3, got {k.depth}", param="depth"
        )
    if k.resolution is not None and k.resolution % 32:
        raise InvalidArgumentError(
            f"detector `resolution` must be a multiple of 32 (its deepest scale is 1/32), "
            f"got {k.resolution}",
            param="resolution",
        )


def detector(net: Net, k: Knobs) -> None:
    width, res, scales, classes = int(k.width), k.resolution, k.depth, k.classes
    x = net.input((1, res, res, 3), float_io=k.float_io)
    x = net.conv(x, width, 3, stride=2, act=RELU6)
    x = _separable(net, x, 2 * width, stride=2)
    feats = []  # strides 8, 16, 32
    for level in range(3):
        c = 4 * width * 2**level
        x = _separable(net, x, c, stride=2)
        x = _separable(net, x, c)
        feats.append(x)
    feats = feats[3 - scales :]
    anchors = 3
    head_c = anchors * (5 + classes)
    p = net.conv(feats[-1], 4 * width, 1, act=RELU6, name="lateral")
    heads = [net.conv(p, head_c, 1, act=LINEAR, name="head")]
    for f in reversed(feats[:-1]):
        up = net.resize_nearest(net.conv(p, 2 * width, 1, act=RELU6, name="reduce"), 2)
        lateral = net.conv(f, 2 * width, 1, act=RELU6, name="lateral")
        p = _separable(net, net.concat([up, lateral]), 4 * width)
        heads.append(net.conv(p, head_c, 1, act=LINEAR, name="head"))
    for h in heads:  # coarsest first
        net.output(h, k.float_io)


def _inception_block(net: Net, x: Node, w: int, pool: str, five: bool) -> Node:
    """Four parallel branches joined along channels: 1x1; 1x1 -> 3x3; 1x1 -> 5x5 (``five``)
    or 1x1 -> 3x3 -> 3x3; 3x3 stride-1 pooling -> 1x1."""
    half, quarter = max(w // 2, 1), max(w // 4, 1)
    b1 = net.conv(x, w, 1, act=RELU, name="branch1x1")
    b2 = net.conv(net.conv(x, half, 1, act=RELU, name="reduce3x3"), w, 3, act=RELU)
    b3 = net.conv(x, quarter, 1, act=RELU, name="reduce5x5")
    if five:
        b3 = net.conv(b3, half, 5, act=RELU)
    else:
        b3 = net.conv(net.conv(b3, half, 3, act=RELU), half, 3, act=RELU)
    b4 = net.conv(net.pool(x, 3, 1, pool), half, 1, act=RELU, name="pool_proj")
    return net.concat([b1, b2, b3, b4])


def inception(net: Net, k: Knobs) -> None:
    width, res, depth, classes = int(k.width), k.resolution, k.depth, k.classes
    x = net.input((1, res, res, 3), float_io=k.float_io)
    x = net.conv(x, 2 * width, 3, stride=2, act=RELU)
    x = net.pool(x, 3, 2, "max")
    x = net.conv(x, 4 * width, 3, act=RELU)
    for stage in range(3):
        if stage:
            x = net.pool(x, 3, 2, "max")
        for _ in range(depth):
            x = _inception_block(
                net, x, width * 2**stage, "max" if stage < 2 else "avg", stage == 0
            )
    x = net.global_pool(x)
    x = net.reshape(x, (1, x.shape[3]))
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
            larger=Knobs(width=276, depth=5),
        ),
        Architecture(
            "mobilenet-v1",
            "MobileNetV1 (width multiplier, resolution), RGB input",
            mobilenet_v1,
            Knobs(width=0.25, resolution=96, classes=2),
            True,
            0.05,
            ("width", "resolution", "classes"),
            larger=Knobs(width=0.5, resolution=128),
        ),
        Architecture(
            "mobilenet-v2",
            "MobileNetV2 with residual ADDs (width multiplier, resolution)",
            mobilenet_v2,
            Knobs(width=0.35, resolution=96, depth=4, classes=1000),
            True,
            0.05,
            ("width", "resolution", "depth", "classes"),
            larger=Knobs(width=0.35, resolution=144),
        ),
        Architecture(
            "resnet8",
            "ResNet-8 (MLPerf Tiny image classification shape), RGB input",
            resnet8,
            Knobs(width=16, resolution=32, classes=10),
            False,
            2,
            ("width", "resolution", "classes"),
            larger=Knobs(width=32),
        ),
        Architecture(
            "autoencoder",
            "fully connected autoencoder (MLPerf Tiny anomaly detection shape)",
            autoencoder,
            Knobs(width=128, depth=4),
            False,
            8,
            ("width", "depth"),
            larger=Knobs(width=512),
        ),
        Architecture(
            "keras-flatten",
            "small Keras CNN whose Flatten is exported as SHAPE/STRIDED_SLICE/PACK/RESHAPE",
            keras_flatten,
            Knobs(width=8, resolution=32, classes=10),
            False,
            2,
            ("width", "resolution", "classes"),
            larger=Knobs(width=16, resolution=64),
        ),
        Architecture(
            "mcunet",
            "MCUNet-style inverted residuals, 3/5/7 kernels, SE blocks, float32 I/O",
            mcunet,
            Knobs(width=1.0, resolution=80, classes=2, float_io=True, se="late"),
            True,
            0.05,
            ("width", "resolution", "classes", "se"),
            larger=Knobs(width=1.3, resolution=224, se="early"),
        ),
        Architecture(
            "detector",
            "small detector: separable backbone, 2-3 output scales, nearest upsampling "
            "concatenated with the shallower scale, an int8 head per scale",
            detector,
            Knobs(width=16, resolution=128, depth=3, classes=2),
            False,
            2,
            ("width", "resolution", "depth", "classes"),
            larger=Knobs(width=32, resolution=256),
            check=_check_detector,
        ),
        Architecture(
            "inception",
            "inception-style branchy CNN: 1x1 / 3x3 / 5x5 or 3x3-3x3 / pool+1x1 branches "
            "joined by CONCATENATION",
            inception,
            Knobs(width=16, resolution=64, depth=2, classes=10),
            False,
            4,
            ("width", "resolution", "depth", "classes"),
            larger=Knobs(width=32, resolution=128),
        ),
    ]
}
