"""Ingest rewrite: SPACE_TO_BATCH_ND -> (DEPTHWISE_)CONV_2D -> BATCH_TO_SPACE_ND, the way
TensorFlow exports a dilated convolution, becomes one convolution with that dilation.

The triple pads the input, deals its pixels into ``dh * dw`` batches (one per phase of the
dilation), convolves each densely (VALID, stride 1) and deals the results back, cropped. A
convolution with dilation ``(dh, dw)`` reads the same input pixels for every output pixel when
the output sizes agree and the crops minus the paddings equal minus the convolution's own
padding (SAME or VALID), so the rewrite is made only then. Where that padding is not zero the
border outputs read the triple's padding, which must then contribute what the convolution's
skipped border contributes: tflite-micro's SPACE_TO_BATCH_ND pads with 0 (not with the zero
point), which a convolution reads as nothing only when the input's zero point is 0. So a SAME
triple over an input whose zero point is not 0 stays as it is (and runs as three operators,
bit-exact with tflite-micro); a VALID one never reads its padding and is always rewritten. One
convolution keeps the model streamable in rows and saves the two reshuffled copies of the
activation. The rewrite is listed in ``Graph.folded`` (``ooc inspect``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ooc_sdk.model.fold import Simplified
from ooc_sdk.model.ir import DType, Operator, Padding, Tensor
from ooc_sdk.model.opcheck import out_size

_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _const(t: Tensor, shape: tuple[int, ...]) -> list[int] | None:
    if t.data is None or t.dtype is not DType.INT32 or tuple(t.data.shape) != shape:
        return None
    values = [int(v) for v in np.asarray(t.data).reshape(-1)]
    return values if min(values) >= 0 else None


def _conv_padding(n: int, k: int, d: int, want: int, shift: int) -> tuple[Padding, int] | None:
    """The padding mode (and the padding before) whose dilated convolution over ``n`` gives
    ``want`` outputs starting ``shift`` pixels into the input (the triple's crop minus its
    padding)."""
    for mode in (Padding.SAME, Padding.VALID):
        out = out_size(n, k, 1, d, mode)
        pad = max(0, out - 1 + (k - 1) * d + 1 - n) // 2 if mode is Padding.SAME else 0
        if out == want and shift == -pad:
            return mode, pad
    return None


def _match(
    s: Simplified, b2s: Operator, producer: dict[int, Operator], readers: Counter[int]
) -> tuple[Operator, Operator, Padding, tuple[int, int]] | None:
    """The (SPACE_TO_BATCH_ND, convolution, padding, dilation) that ``b2s`` completes into an
    exactly equivalent dilated convolution, or None."""
    t = s.tensors
    conv = producer.get(b2s.inputs[0]) if len(b2s.inputs) == 3 else None
    if conv is None or conv.op_type not in _CONVS or len(conv.inputs) < 2:
        return None
    o = conv.options
    if "_unsupported" in o or o.get("stride") != (1, 1) or o.get("dilation") != (1, 1):
        return None
    s2b = producer.get(conv.inputs[0])
    if s2b is None or s2b.op_type != "SPACE_TO_BATCH_ND" or len(s2b.inputs) != 3:
        return None
    x, sb, cv, y = t[s2b.inputs[0]], t[s2b.outputs[0]], t[conv.outputs[0]], t[b2s.outputs[0]]
    for inner in (sb, cv):
        if readers[inner.index] != 1 or inner.index in s.outputs:
            return None
    block = _const(t[s2b.inputs[1]], (2,))
    pads = _const(t[s2b.inputs[2]], (2, 2))
    crops = _const(t[b2s.inputs[2]], (2, 2))
    if block is None or pads is None or crops is None or _const(t[b2s.inputs[1]], (2,)) != block:
        return None
    if any(v.dtype is not DType.INT8 or len(v.shape) != 4 for v in (x, sb, cv, y)):
        return None
    if x.quant != sb.quant or cv.quant != y.quant or x.quant is None or min(block) < 1:
        return None
    (dh, dw), (pt, pb, pl, pr), (ct, cb, cl, cr) = block, pads, crops
    b, h, w, _ = x.shape
    if (h + pt + pb) % dh or (w + pl + pr) % dw:
        return None
    if sb.shape != (b * dh * dw, (h + pt + pb) // dh, (w + pl + pr) // dw, x.shape[3]):
        return None
    kh, kw = t[conv.inputs[1]].shape[1:3]
    oh, ow = sb.shape[1] - kh + 1, sb.shape[2] - kw + 1
    if o.get("padding") is not Padding.VALID or cv.shape[:3] != (sb.shape[0], oh, ow):
        return None
    if y.shape != (b, oh * dh - ct - cb, ow * dw - cl - cr, cv.shape[3]):
        return None
    along_h = _conv_padding(h, kh, dh, y.shape[1], ct - pt)
    along_w = _conv_padding(w, kw, dw, y.shape[2], cl - pl)
    if along_h is None or along_w is None or along_h[0] is not along_w[0]:
        return None
    if (along_h[1] or along_w[1]) and x.quant.zero_point[0] != 0:
        return None  # the border reads tflite-micro's padding of 0, not "nothing"
    return s2b, conv, along_h[0], (dh, dw)


def fold_dilated_convolutions(s: Simplified) -> None:
    """Rewrite every exactly equivalent SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND
    into one dilated convolution (see the module docstring)."""
    producer = {t: op for op in s.ops for t in op.outputs}
    readers: Counter[int] = Counter(t for op in s.ops for t in set(op.inputs) if t >= 0)
    gone: set[int] = set()
    for b2s in [op for op in s.ops if op.op_type == "BATCH_TO_SPACE_ND"]:
        found = _match(s, b2s, producer, readers)
        if found is None:
            continue
        s2b, conv, mode, dilation = found
        conv.inputs = (s2b.inputs[0], *conv.inputs[1:])
        conv.outputs = b2s.outputs
        conv.options = {**conv.options, "padding": mode, "dilation": dilation}
        gone.update((id(s2b), id(b2s)))
        s.removed += 2
        s.folds.append(
            (["SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"], conv, f"dilation {list(dilation)}")
        )
    s.ops = [op for op in s.ops if id(op) not in gone]
