"""Evaluation data for ``ooc approx``: DATA.npz, and natural images with no download.

DATA.npz holds ``x``, the inputs (``[N, *input shape]``, or ``[N, *input shape without its
batch of 1]``, of the model input's dtype) and optionally ``y``, integer labels ``[N]`` in the
range of the model's output classes. Anything else is refused in one line.

:func:`natural_images` crops scikit-learn's two bundled sample photographs (a temple and a
flower, shipped in its wheel) at random places and scales, flips half of them, and scales each
crop to the model's input (bilinear, through Pillow, which matplotlib already requires);
pixels ``p`` become the int8 ``p - 128``, the quantization of images these models take. Half
the crops swap colour channels, a fifth are inverted, and contrast and brightness vary, so that
the models' classes other than the photographs' own come up too; :func:`natural_inputs` then
draws a set in which every exact top-1 class has at least a tenth where the crops allow.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ooc_sdk.errors import InvalidArgumentError, ToolError
from ooc_sdk.model.ir import Graph

MAX_DATA_BYTES = 2 << 30


class DataError(InvalidArgumentError):
    """A DATA.npz that does not fit the model."""


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray  # [N, *input shape], the input's dtype
    y: np.ndarray | None  # [N] int64 labels, or None: agreement with the exact model


def input_shape(graph: Graph) -> tuple[tuple[int, ...], np.dtype]:
    if len(graph.inputs) != 1:
        raise DataError(f"ooc approx needs a model with one input, not {len(graph.inputs)}")
    t = graph.tensor(graph.inputs[0])
    return tuple(t.shape), t.dtype.numpy


def classes(graph: Graph) -> int:
    return graph.tensor(graph.outputs[0]).size


def check(graph: Graph, x: np.ndarray, y: np.ndarray | None, where: str = "DATA") -> Dataset:
    """``x`` and ``y`` checked against ``graph`` (``x`` reshaped to ``[N, *input shape]``)."""
    shape, dtype = input_shape(graph)
    if x.dtype != dtype:
        raise DataError(f"{where}: x is {x.dtype}, the model's input is {np.dtype(dtype)}")
    if x.ndim < 1 or len(x) == 0:
        raise DataError(f"{where}: x holds no inputs")
    per = x.shape[1:]
    if per != shape and not (shape[:1] == (1,) and per == shape[1:]):
        raise DataError(
            f"{where}: x has shape {list(x.shape)}, not N x {list(shape)} (the model's input)"
        )
    x = x.reshape(len(x), *shape)
    if y is None:
        return Dataset(x, None)
    if y.dtype.kind not in "iu":
        raise DataError(f"{where}: y must hold integer labels, not {y.dtype}")
    if y.shape != (len(x),):
        raise DataError(f"{where}: y has shape {list(y.shape)}, not [{len(x)}] (one label per x)")
    n = classes(graph)
    if len(y) and (y.min() < 0 or y.max() >= n):
        raise DataError(f"{where}: labels must be in 0..{n - 1} (the model's output classes)")
    return Dataset(x, y.astype(np.int64))


def load(path: str | Path, graph: Graph) -> Dataset:
    """Read and check DATA.npz (one line and no traceback for anything wrong)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size > MAX_DATA_BYTES:
        raise DataError(f"{path}: larger than {MAX_DATA_BYTES >> 30} GiB")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z.files:
                raise DataError(f"{path}: no array x (the inputs)")
            x = z["x"]
            y = z["y"] if "y" in z.files else None
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz ({e})") from None
    return check(graph, x, y, str(path))


def _sample_images() -> list[np.ndarray]:
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        raise ToolError("scikit-learn is not installed: pip install 'ooc-sdk[dev]'") from None
    return [np.asarray(im, dtype=np.uint8) for im in load_sample_images().images]


def _crop(img: np.ndarray, h: int, w: int, c: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``img`` at the aspect of [h, w], scaled to it, as float [h, w, c]."""
    from PIL import Image

    ih, iw = img.shape[:2]
    side = int(rng.uniform(0.15, 1.0) * min(ih, iw * h / w))  # crop height
    cw = max(1, int(side * w / h))
    top = int(rng.integers(0, ih - side + 1))
    left = int(rng.integers(0, iw - cw + 1))
    crop = Image.fromarray(img[top : top + side, left : left + cw])
    if c == 1:
        crop = crop.convert("L")
    arr = np.asarray(crop.resize((w, h), Image.BILINEAR), dtype=np.float64).reshape(h, w, c)
    return arr[:, ::-1] if rng.random() < 0.5 else arr


def natural_images(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """``n`` int8 crops of the sample photographs for an input of ``shape`` ([1, H, W, C]
    with C 1 or 3): ``[n, *shape]``."""
    if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3):
        raise InvalidArgumentError(f"natural images need an input [1, H, W, 1 or 3], not {shape}")
    _, h, w, c = shape
    rng = np.random.default_rng(seed)
    photos = _sample_images()
    out = np.empty((n, *shape), dtype=np.int8)
    for k in range(n):
        arr = _crop(photos[k % len(photos)], h, w, c, rng)
        if rng.random() < 0.3:  # a blend with a crop of the other photograph
            other = _crop(photos[(k + 1) % len(photos)], h, w, c, rng)
            arr = (arr + other) / 2.0
        if c == 3 and rng.random() < 0.5:
            arr = arr[:, :, rng.permutation(3)]
        if rng.random() < 0.2:
            arr = 255.0 - arr
        arr = (arr - 128.0) * rng.uniform(0.6, 1.4) + 128.0 + rng.uniform(-40, 40)
        out[k] = (np.clip(np.round(arr), 0, 255) - 128).astype(np.int8).reshape(shape)
    return out


def stratified(top1: np.ndarray, n: int, floor: float = 0.1) -> np.ndarray:
    """Indices of ``n`` inputs: the first ones in order, except that every class in ``top1``
    gets at least ``floor * n`` of them where it has that many (its first ones), so a rare class
    is not crowded out; the classes keep their own proportions otherwise (a class forced to half
    the set would bring its most borderline members)."""
    n = min(n, len(top1))
    want = int(np.ceil(floor * n))
    picked: list[int] = []
    for c in np.unique(top1):
        idx = np.flatnonzero(top1 == c)
        if np.count_nonzero(top1[:n] == c) < want:
            picked += idx[:want].tolist()
    chosen = set(picked)
    for i in range(len(top1)):
        if len(picked) >= n:
            break
        if i not in chosen:
            picked.append(i)
            chosen.add(i)
    return np.sort(np.array(picked[:n], dtype=np.int64))


def natural_inputs(model: bytes, graph: Graph, n: int, seed: int = 0, pool: int = 4) -> np.ndarray:
    """``n`` natural images for ``graph``, chosen from ``pool * n`` crops so that every exact
    top-1 class has at least a tenth of them where the crops allow (:func:`stratified`):
    agreement on a set the model sends all to one class would not tell an approximation from
    a constant."""
    from ooc_sdk.approx.oracle import model_outputs

    shape, _ = input_shape(graph)
    x = natural_images(shape, pool * n, seed)
    out, _ = model_outputs([model], graph, x)[0]
    return x[stratified(out.argmax(axis=1), n)]
