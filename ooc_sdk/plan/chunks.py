"""The chunk layout of a flash image: which bytes of which constant tensor each chunk holds.

The planner owns it (a step's chunks are the pieces its operator reads); the packer encrypts
and places the chunks it is given, and the firmware's tables carry :func:`plan_id`, which the
image's manifest must match (docs/FORMAT.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ooc_sdk.formats import image as fmt
from ooc_sdk.model.ir import Graph

DEFAULT_SCRATCH_BYTES = 32 * 1024  # the image's scratch partition when a plan asks for none


@dataclass
class Chunk:
    index: int
    kind: int
    tensor: int
    tensor_offset: int
    length: int
    flash_offset: int = 0


def plan_chunks(graph: Graph, chunk_bytes: int) -> list[Chunk]:
    """Constant tensors in order of first use, each cut into pieces of at most ``chunk_bytes``.
    A buffer shared by several tensors is stored once (for its first user)."""
    chunks: list[Chunk] = []
    seen_buffers: set[int] = set()
    seen_tensors: set[int] = set()
    for op in graph.operators:
        for t in op.inputs:
            if t < 0 or t in seen_tensors:
                continue
            tensor = graph.tensors[t]
            seen_tensors.add(t)
            if not tensor.is_constant or tensor.buffer in seen_buffers:
                continue
            seen_buffers.add(tensor.buffer)
            for off in range(0, tensor.nbytes, chunk_bytes):
                n = min(chunk_bytes, tensor.nbytes - off)
                chunks.append(Chunk(len(chunks), fmt.CHUNK_WEIGHTS, t, off, n))
    return chunks


def plan_id(chunks: list[Chunk], chunk_bytes: int, schedule: str = "") -> bytes:
    """Identifies the chunk plan (and an out-of-core schedule, when given): the firmware's tables
    carry it and ooc_image_mount() refuses an image with another."""
    h = hashlib.sha256(f"ooc-plan-v1|chunk={chunk_bytes}".encode())
    for c in chunks:
        h.update(f"|{c.kind},{c.tensor},{c.tensor_offset},{c.length}".encode())
    if schedule:
        h.update(f"|schedule={schedule}".encode())
    return h.digest()[:16]
