"""Pack a model's constant data into an encrypted, authenticated flash image (docs/FORMAT.md).

One image build draws a fresh random content key and build id; every chunk is encrypted with
AES-CTR under a key derived from the content key, with the chunk index in its nonce, and tagged
(encrypt-then-MAC) over its table entry and ciphertext. The content key leaves the packer only
wrapped (RFC 3394) for one device, in the key slot.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ooc_sdk import __version__
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats import image as fmt
from ooc_sdk.image import crypto
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.image.metadata import build_metadata
from ooc_sdk.image.scheme import chunk_tag, content_subkeys
from ooc_sdk.image.signing import SigningKey, signature_block, weights_digest
from ooc_sdk.lower.prepare.conv import offset_folds
from ooc_sdk.model.ir import Graph
from ooc_sdk.plan.chunks import DEFAULT_SCRATCH_BYTES, Chunk, plan_chunks, plan_id
from ooc_sdk.targets import FlashProfile
from ooc_sdk.units import format_size

DEFAULT_CHUNK_BYTES = 8 * 1024
DEFAULT_METADATA_SECTORS = 8
MIN_CHUNK_BYTES = 256
MAX_CHUNK_BYTES = 16 * 1024 * 1024


@dataclass
class PackOptions:
    flash: FlashProfile
    cipher: int = fmt.CIPHER_AES128_CTR
    tag_alg: int = fmt.TAG_AES_CMAC
    security_counter: int = 0
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    scratch_bytes: int = DEFAULT_SCRATCH_BYTES
    metadata_sectors: int = DEFAULT_METADATA_SECTORS
    base_offset: int = 0
    # Chunk start alignment in the weights partition: 0 = the flash page. An out-of-core build
    # uses 4, so a step's chunks sit back to back and arrive in SRAM with one read.
    chunk_align: int = 0
    # The vendor key that signs the image (docs/FORMAT.md, "Signed images"); None: unsigned.
    signing_key: SigningKey | None = None

    def check(self) -> None:
        if self.cipher not in fmt.CIPHER_KEY_BYTES:
            raise InvalidArgumentError(f"unknown cipher {self.cipher}")
        if self.tag_alg not in fmt.TAG_NAMES:
            raise InvalidArgumentError(f"unknown tag algorithm {self.tag_alg}")
        if not 0 <= self.security_counter < 1 << 32:
            raise InvalidArgumentError("security counter must be 0 .. 4294967295")
        if not MIN_CHUNK_BYTES <= self.chunk_bytes <= MAX_CHUNK_BYTES:
            raise InvalidArgumentError(
                f"chunk size must be {format_size(MIN_CHUNK_BYTES)} .. {format_size(MAX_CHUNK_BYTES)}"
            )
        sector = self.flash.sector_bytes
        if self.scratch_bytes < 0 or self.scratch_bytes % sector:
            raise InvalidArgumentError(
                f"scratch size must be a multiple of the {format_size(sector)} erase sector"
            )
        if self.base_offset < 0 or self.base_offset % sector:
            raise InvalidArgumentError(
                f"flash offset must be a multiple of the {format_size(sector)} erase sector"
            )
        if self.chunk_align and (
            self.chunk_align < 4
            or self.chunk_align & (self.chunk_align - 1)
            or self.chunk_align > self.flash.sector_bytes
        ):
            raise InvalidArgumentError(
                "chunk alignment must be a power of two from 4 to the erase sector"
            )
        if self.metadata_sectors < 3:
            raise InvalidArgumentError(
                "the metadata partition needs at least 3 sectors (littlefs keeps two for its "
                "superblock pair)"
            )


@dataclass
class PackedImage:
    image: bytes  # the whole image, key slot included
    key_slot: bytes
    manifest: dict[str, Any]  # public description (manifest.json)
    chunks: list[Chunk] = field(default_factory=list)


def tensor_bytes(graph: Graph, index: int) -> memoryview:
    """The raw bytes of constant tensor ``index``, without a copy."""
    data = offset_folds(graph).get(index, graph.tensors[index].data)  # a bias folded ahead of time
    assert data is not None
    return memoryview(np.ascontiguousarray(data)).cast("B")


def chunk_plaintext(graph: Graph, c: Chunk) -> bytes:
    """The bytes chunk ``c`` holds (docs/FORMAT.md, chunk kinds)."""
    if c.kind == fmt.CHUNK_DW_CHANNELS:
        data = graph.tensors[c.tensor].data
        assert data is not None and data.ndim == 4
        k = data.shape[1] * data.shape[2]
        n = c.length // k
        return np.ascontiguousarray(data[0, :, :, c.tensor_offset : c.tensor_offset + n]).tobytes()
    return bytes(tensor_bytes(graph, c.tensor)[c.tensor_offset : c.tensor_offset + c.length])


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _fixed_text(text: str, size: int) -> bytes:
    raw = text.encode("utf-8")[:size]
    while True:  # never cut a multi-byte character in half
        try:
            raw.decode("utf-8")
            break
        except UnicodeDecodeError:
            raw = raw[:-1]
    return raw.ljust(size, b"\0")


def make_key_slot(device: DeviceKey, content_key: bytes, build_id: bytes) -> bytes:
    wrapped = crypto.key_wrap(device.kek(build_id), content_key)
    return fmt.KEY_SLOT.pack(
        magic=fmt.KEY_SLOT_MAGIC,
        version=fmt.KEY_SLOT_VERSION,
        wrap_alg=fmt.WRAP_AES_KW,
        content_key_bytes=len(content_key),
        root_key_bytes=len(device.root_key),
        device_uid=device.uid,
        key_id=device.key_id,
        wrapped_key=wrapped,
    )


def personalize(image: bytes, device: DeviceKey, content_key: bytes) -> bytes:
    """A batch image with the key slot for ``device`` written into it: the only bytes that differ
    between two devices of one batch (the key slot is outside the header tag, docs/FORMAT.md)."""
    if len(image) < fmt.SUPERBLOCK.size + fmt.KEY_SLOT.size or image[:4] != fmt.SUPERBLOCK_MAGIC:
        raise InvalidArgumentError("not an ooc image (no superblock)")
    build_id = fmt.SUPERBLOCK.unpack(image[: fmt.SUPERBLOCK.size])["build_id"]
    slot = make_key_slot(device, content_key, build_id)
    return image[: fmt.KEY_SLOT_OFFSET] + slot + image[fmt.KEY_SLOT_OFFSET + len(slot) :]


def pack_image(
    graph: Graph,
    device: DeviceKey | None,
    options: PackOptions,
    *,
    content_key: bytes | None = None,
    build_id: bytes | None = None,
    now: int | None = None,
    chunks: list[Chunk] | None = None,
    pid: bytes | None = None,
) -> PackedImage:
    """Build the image for ``graph`` with its content key wrapped for ``device``. ``chunks``
    (in table order) and ``pid`` come from an out-of-core plan; by default every constant tensor
    is cut into ``options.chunk_bytes`` pieces (plan_chunks). ``device`` None makes a batch
    image: its key slot stays erased (0xFF) until provisioning writes one per device
    (``personalize``); the caller keeps ``content_key`` and ``build_id`` for that."""
    options.check()
    key_len = fmt.CIPHER_KEY_BYTES[options.cipher]
    content_key = content_key or secrets.token_bytes(key_len)
    if len(content_key) != key_len:
        raise InvalidArgumentError(f"content key must be {key_len} bytes for this cipher")
    build_id = build_id or secrets.token_bytes(fmt.BUILD_ID_BYTES)
    created = int(time.time()) if now is None else now

    if chunks is None:
        chunks = plan_chunks(graph, options.chunk_bytes)
    else:
        chunks = [
            Chunk(i, c.kind, c.tensor, c.tensor_offset, c.length) for i, c in enumerate(chunks)
        ]
    lay = _layout(chunks, options)
    k_hdr, k_enc, k_mac = content_subkeys(content_key, build_id)
    image = bytearray(b"\xff" * lay.image_bytes)
    table = _encrypt_chunks(graph, chunks, options.tag_alg, k_enc, k_mac, image)

    superblock = _superblock(lay, options, build_id)
    pid = pid or plan_id(chunks, options.chunk_bytes)
    manifest = _manifest(graph, options, chunks, lay, created, pid)
    header_tag = crypto.cmac(k_hdr, superblock + manifest + table)
    if options.signing_key is not None:
        step = fmt.CHUNK_ENTRY.size
        digest = weights_digest(
            (
                table[c.index * step : c.index * step + fmt.CHUNK_MAC_PREFIX],
                image[c.flash_offset : c.flash_offset + c.length],
            )
            for c in chunks
        )
        block = signature_block(
            options.signing_key, superblock + manifest + table + header_tag, digest
        )
        image[lay.header_tag_offset + fmt.TAG_BYTES : lay.header_bytes] = block
    key_slot = make_key_slot(device, content_key, build_id) if device is not None else b""
    image[0 : len(superblock)] = superblock
    image[fmt.KEY_SLOT_OFFSET : fmt.KEY_SLOT_OFFSET + len(key_slot)] = key_slot
    image[fmt.MANIFEST_OFFSET : fmt.MANIFEST_OFFSET + len(manifest)] = manifest
    image[fmt.CHUNK_TABLE_OFFSET : lay.header_tag_offset] = table
    image[lay.header_tag_offset : lay.header_tag_offset + fmt.TAG_BYTES] = header_tag

    description = describe(graph, options, chunks, build_id, pid, created, device, lay.image_bytes)
    image[lay.meta_off : lay.meta_off + lay.meta_len] = _metadata(
        graph, options, manifest, description, created
    )
    return PackedImage(bytes(image), key_slot, description, chunks)


@dataclass(frozen=True)
class _Layout:
    """Where the parts of one image sit (offsets from the image start)."""

    header_tag_offset: int  # the header tag, after the chunk table
    header_bytes: int  # superblock .. header tag (signed: .. signature block), inclusive
    chunk_align: int
    parts: list[tuple[int, int, int]]  # (partition kind, offset, length)
    meta_off: int
    meta_len: int
    image_bytes: int


def _layout(chunks: list[Chunk], options: PackOptions) -> _Layout:
    """Place the partitions and each chunk (setting its ``flash_offset``); refuse an image that
    does not fit the flash."""
    flash = options.flash
    sector, align = flash.sector_bytes, options.chunk_align or flash.page_bytes
    header_tag_offset = fmt.CHUNK_TABLE_OFFSET + fmt.CHUNK_ENTRY.size * len(chunks)
    header_bytes = header_tag_offset + fmt.TAG_BYTES
    if options.signing_key is not None:
        header_bytes += fmt.SIGNATURE.size
    header_len = _round_up(header_bytes, sector)
    pos = header_len
    for c in chunks:
        c.flash_offset = pos
        pos = _round_up(pos + c.length, align)
    weights_len = max(_round_up(pos - header_len, sector), sector)
    parts = [
        (fmt.PART_HEADER, 0, header_len),
        (fmt.PART_WEIGHTS, header_len, weights_len),
        (fmt.PART_SCRATCH, header_len + weights_len, options.scratch_bytes),
    ]
    meta_off = header_len + weights_len + options.scratch_bytes
    if options.signing_key is not None:
        install_len = fmt.install_bytes(len(chunks), sector)
        parts.append((fmt.PART_INSTALL, meta_off, install_len))
        meta_off += install_len
    meta_len = options.metadata_sectors * sector
    parts.append((fmt.PART_METADATA, meta_off, meta_len))
    image_bytes = meta_off + meta_len
    if options.base_offset + image_bytes > flash.size_bytes:
        raise InvalidArgumentError(
            f"the image needs {format_size(image_bytes)} but {flash.name} has "
            f"{format_size(flash.size_bytes - options.base_offset)} from offset "
            f"{options.base_offset:#x}"
        )
    if image_bytes >= 1 << 32:
        raise InvalidArgumentError("the image would exceed 4 GiB")
    return _Layout(header_tag_offset, header_bytes, align, parts, meta_off, meta_len, image_bytes)


def _encrypt_chunks(
    graph: Graph, chunks: list[Chunk], tag_alg: int, k_enc: bytes, k_mac: bytes, image: bytearray
) -> bytes:
    """Encrypt each chunk into its place in ``image``; returns the chunk table (each entry's
    MAC-covered prefix, then its tag)."""
    table = bytearray()
    for c in chunks:
        plain = chunk_plaintext(graph, c)
        assert len(plain) == c.length
        nonce = fmt.chunk_nonce(c.index)
        ct = crypto.aes_ctr(k_enc, fmt.counter_block(nonce, fmt.DATA_COUNTER_START), plain)
        entry = fmt.CHUNK_ENTRY.pack(
            index=c.index,
            kind=c.kind,
            tensor=c.tensor,
            tensor_offset=c.tensor_offset,
            flash_offset=c.flash_offset,
            length=c.length,
            nonce=nonce,
        )
        prefix = entry[: fmt.CHUNK_MAC_PREFIX]
        table += prefix + chunk_tag(tag_alg, k_enc, k_mac, nonce, prefix, ct)
        image[c.flash_offset : c.flash_offset + c.length] = ct
    return bytes(table)


def _superblock(lay: _Layout, options: PackOptions, build_id: bytes) -> bytes:
    """The superblock: geometry, build id and the partition map."""
    partition_map = b"".join(
        fmt.PARTITION.pack(kind=k, offset=o, length=n) for k, o, n in lay.parts
    )
    return fmt.SUPERBLOCK.pack(
        magic=fmt.SUPERBLOCK_MAGIC,
        format_version=fmt.FORMAT_VERSION,
        superblock_bytes=fmt.SUPERBLOCK.size,
        header_bytes=lay.header_bytes,
        image_bytes=lay.image_bytes,
        page_bytes=options.flash.page_bytes,
        sector_bytes=options.flash.sector_bytes,
        flash_bytes=options.flash.size_bytes,
        base_offset=options.base_offset,
        build_id=build_id,
        n_partitions=len(lay.parts),
        partitions=partition_map,
    )


def _manifest(
    graph: Graph,
    options: PackOptions,
    chunks: list[Chunk],
    lay: _Layout,
    created: int,
    pid: bytes,
) -> bytes:
    """The binary manifest: cipher, tag, chunk table geometry, model and plan identity."""
    return fmt.MANIFEST.pack(
        magic=fmt.MANIFEST_MAGIC,
        manifest_bytes=fmt.MANIFEST.size,
        cipher=options.cipher,
        tag_alg=options.tag_alg,
        security_counter=options.security_counter,
        n_chunks=len(chunks),
        chunk_entry_bytes=fmt.CHUNK_ENTRY.size,
        flags=(fmt.FLAG_SIGNED if options.signing_key is not None else 0)
        | (fmt.FLAG_APPROX if graph.approx is not None else 0),
        chunk_table_offset=fmt.CHUNK_TABLE_OFFSET,
        header_tag_offset=lay.header_tag_offset,
        weights_bytes=sum(c.length for c in chunks),
        max_chunk_bytes=max((c.length for c in chunks), default=0),
        chunk_align=lay.chunk_align,
        scratch_bytes=options.scratch_bytes,
        n_tensors=len({c.tensor for c in chunks}),
        created_unix=created,
        model_sha256=bytes.fromhex(graph.sha256),
        plan_id=pid,
        model_name=_fixed_text(graph.name, 32),
        sdk_version=_fixed_text(__version__, 16),
    )


def _metadata(
    graph: Graph,
    options: PackOptions,
    manifest: bytes,
    description: dict[str, Any],
    created: int,
) -> bytes:
    """The littlefs metadata partition: manifest.bin, manifest.json (no chunk list), build.json."""
    return build_metadata(
        options.flash.sector_bytes,
        options.metadata_sectors,
        {
            "manifest.bin": manifest,
            "manifest.json": json.dumps(
                {k: v for k, v in description.items() if k != "chunks"}, indent=1
            ).encode(),
            "build.json": json.dumps(
                {"sdk_version": __version__, "created_unix": created, "model": graph.name}
            ).encode(),
        },
    )


def describe(
    graph: Graph,
    options: PackOptions,
    chunks: list[Chunk],
    build_id: bytes,
    pid: bytes,
    created: int,
    device: DeviceKey | None,
    image_bytes: int,
) -> dict[str, Any]:
    """The public manifest.json: everything a tool may know without a key."""
    return {
        "format_version": fmt.FORMAT_VERSION,
        "model": {"name": graph.name, "sha256": graph.sha256},
        **({"approx": graph.approx.to_json()} if graph.approx is not None else {}),
        "build_id": build_id.hex(),
        "plan_id": pid.hex(),
        "created_unix": created,
        "sdk_version": __version__,
        "security_counter": options.security_counter,
        "cipher": fmt.CIPHER_NAMES[options.cipher],
        "tag": fmt.TAG_NAMES[options.tag_alg],
        "signature": (
            {"alg": fmt.SIG_NAMES[fmt.SIG_ED25519], "key_id": options.signing_key.key_id.hex()}
            if options.signing_key is not None
            else None
        ),
        "flash": {
            "profile": options.flash.name,
            "size_bytes": options.flash.size_bytes,
            "page_bytes": options.flash.page_bytes,
            "sector_bytes": options.flash.sector_bytes,
            "base_offset": options.base_offset,
        },
        "image_bytes": image_bytes,
        "chunk_bytes": options.chunk_bytes,
        "weights_bytes": sum(c.length for c in chunks),
        "key_slot": (
            {"device_uid": device.uid.hex(), "key_id": device.key_id.hex()}
            if device is not None
            else {"device_uid": None, "key_id": None, "batch": True}
        ),
        "chunks": [
            {
                "index": c.index,
                "kind": fmt.CHUNK_KIND_NAMES[c.kind],
                "tensor": c.tensor,
                "tensor_name": graph.tensors[c.tensor].name,
                "tensor_offset": c.tensor_offset,
                "length": c.length,
                "flash_offset": c.flash_offset,
            }
            for c in chunks
        ],
    }
