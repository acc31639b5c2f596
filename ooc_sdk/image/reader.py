"""Read and verify flash images: the Python twin of c_runtime/src/image.c.

Checks run in the same order as the C reader, and each failure raises the error class whose
``code`` equals the C runtime's OOC_ERR_* value:

1. superblock structure (magic, version, geometry, partition map)  -> ImageFormatError
   image longer than the data holding it                           -> ImageTruncatedError
2. manifest structure (sizes that locate the chunk table)           -> ImageFormatError
3. key slot: structure                                              -> ImageFormatError
             UID                                                    -> WrongDeviceError
             key id (fingerprint of the root key)                   -> WrongKeyError
             RFC 3394 integrity check                               -> AuthenticationError
4. header tag over superblock || manifest || chunk table            -> AuthenticationError
5. chunk table entries (index, nonce, bounds)                       -> ImageFormatError
   with trust anchors: the vendor signature, the header and
   weights digests it covers (docs/FORMAT.md, "Signed images")      -> SignatureError
6. security counter below the device's                              -> RollbackError
   model hash other than expected                                   -> ModelMismatchError
7. per chunk: tag over entry || ciphertext, then decrypt            -> AuthenticationError
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ooc_sdk.errors import (
    AuthenticationError,
    ImageFormatError,
    ImageTruncatedError,
    ModelMismatchError,
    RollbackError,
    SignatureError,
    WrongDeviceError,
    WrongKeyError,
)
from ooc_sdk.formats import image as fmt
from ooc_sdk.image import crypto
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.image.scheme import chunk_tag, content_subkeys
from ooc_sdk.image.signing import check_signature_block, weights_digest


def _pow2(n: int) -> bool:
    return n > 0 and not n & (n - 1)


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("utf-8", "replace")


@dataclass
class ImageInfo:
    """The public structure of an image (no key needed)."""

    data: bytes
    superblock: dict[str, Any]
    partitions: list[tuple[int, int, int]]
    key_slot: dict[str, Any]
    manifest: dict[str, Any]
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def header_tag(self) -> bytes:
        off = self.manifest["header_tag_offset"]
        return self.data[off : off + fmt.TAG_BYTES]

    @property
    def signed(self) -> bool:
        return bool(self.manifest["flags"] & fmt.FLAG_SIGNED)

    @property
    def signature_block(self) -> bytes:
        off = self.manifest["header_tag_offset"] + fmt.TAG_BYTES
        return self.data[off : off + fmt.SIGNATURE.size] if self.signed else b""

    @property
    def signer_key_id(self) -> bytes | None:
        return fmt.SIGNATURE.unpack(self.signature_block)["signer_key_id"] if self.signed else None

    def check_signature(self, anchors: Sequence[bytes]) -> bytes:
        """The vendor signature under one of ``anchors``, and the weights digest it covers
        (every chunk's ciphertext); returns the signer's public key. SignatureError otherwise."""
        if not self.signed:
            raise SignatureError(
                "the image is not signed, and a trust anchor was given: refusing an unsigned image"
            )
        signer, digest = check_signature_block(
            self.signature_block, self.authenticated_bytes() + self.header_tag, anchors
        )
        base, step = self.manifest["chunk_table_offset"], fmt.CHUNK_ENTRY.size
        chunks = (
            (
                self.data[base + i * step : base + i * step + fmt.CHUNK_MAC_PREFIX],
                self.data[e["flash_offset"] : e["flash_offset"] + e["length"]],
            )
            for i, e in enumerate(self.entries)
        )
        if weights_digest(chunks) != digest:
            raise SignatureError("the image's weights differ from the ones its vendor signed")
        return signer

    def partition(self, kind: int) -> tuple[int, int]:
        for k, off, length in self.partitions:
            if k == kind:
                return off, length
        raise ImageFormatError(f"image has no {fmt.PARTITION_NAMES[kind]} partition")

    def authenticated_bytes(self) -> bytes:
        """What the header tag covers: superblock || manifest || chunk table."""
        m = self.manifest
        return (
            self.data[: fmt.SUPERBLOCK.size]
            + self.data[fmt.MANIFEST_OFFSET : fmt.MANIFEST_OFFSET + fmt.MANIFEST.size]
            + self.data[m["chunk_table_offset"] : m["header_tag_offset"]]
        )

    def regions(self) -> list[dict[str, Any]]:
        """Every byte range of the image, in order, with whether a tag protects it."""
        m = self.manifest
        out: list[dict[str, Any]] = []

        def add(offset: int, length: int, kind: str, auth: bool, note: str) -> None:
            if length > 0:
                out.append(
                    {
                        "offset": offset,
                        "length": length,
                        "kind": kind,
                        "authenticated": auth,
                        "protection": note,
                    }
                )

        hdr = "header tag (AES-CMAC)"
        add(0, fmt.SUPERBLOCK.size, "superblock", True, hdr)
        add(
            fmt.KEY_SLOT_OFFSET,
            fmt.KEY_SLOT.size,
            "key_slot",
            False,
            "per device; the wrapped key is checked by RFC 3394 unwrap, the UID is bound "
            "through the KEK derivation",
        )
        add(fmt.MANIFEST_OFFSET, fmt.MANIFEST.size, "manifest", True, hdr)
        add(
            m["chunk_table_offset"],
            m["header_tag_offset"] - m["chunk_table_offset"],
            "chunk_table",
            True,
            hdr,
        )
        add(m["header_tag_offset"], fmt.TAG_BYTES, "header_tag", True, "the tag itself (keyed)")
        if self.signed:
            add(
                m["header_tag_offset"] + fmt.TAG_BYTES,
                fmt.SIGNATURE.size,
                "signature",
                True,
                "Ed25519 by the vendor key: covers the header and every chunk's ciphertext",
            )
        h_off, h_len = self.partition(fmt.PART_HEADER)
        end = self.superblock["header_bytes"]
        add(end, h_off + h_len - end, "padding", False, "erased (0xFF), never read")
        w_off, w_len = self.partition(fmt.PART_WEIGHTS)
        pos = w_off
        tag_name = fmt.TAG_NAMES.get(m["tag_alg"], "?")
        for e in self.entries:
            add(pos, e["flash_offset"] - pos, "padding", False, "erased (0xFF), never read")
            add(e["flash_offset"], e["length"], "chunk", True, f"chunk tag ({tag_name}), AES-CTR")
            out[-1]["chunk"] = e["index"]
            pos = e["flash_offset"] + e["length"]
        add(pos, w_off + w_len - pos, "padding", False, "erased (0xFF), never read")
        for kind, off, length in self.partitions:
            if kind == fmt.PART_SCRATCH:
                add(off, length, "scratch", False, "erased; spills carry their own tags")
            elif kind == fmt.PART_METADATA:
                add(off, length, "metadata", False, "littlefs copy of public facts")
            elif kind == fmt.PART_INSTALL:
                add(
                    off,
                    length,
                    "install",
                    False,
                    "written by the device: its install record and chunk tags, under its own key",
                )
        return out

    def public(self) -> dict[str, Any]:
        sb, m, ks = self.superblock, self.manifest, self.key_slot
        return {
            "format_version": sb["format_version"],
            "image_bytes": sb["image_bytes"],
            "header_bytes": sb["header_bytes"],
            "build_id": sb["build_id"].hex(),
            "flash": {
                "size_bytes": sb["flash_bytes"],
                "page_bytes": sb["page_bytes"],
                "sector_bytes": sb["sector_bytes"],
                "base_offset": sb["base_offset"],
            },
            "partitions": [
                {"kind": fmt.PARTITION_NAMES[k], "offset": o, "length": n}
                for k, o, n in self.partitions
            ],
            "model": {"name": _text(m["model_name"]), "sha256": m["model_sha256"].hex()},
            "plan_id": m["plan_id"].hex(),
            "sdk_version": _text(m["sdk_version"]),
            "created_unix": m["created_unix"],
            "security_counter": m["security_counter"],
            "cipher": fmt.CIPHER_NAMES[m["cipher"]],
            "tag": fmt.TAG_NAMES[m["tag_alg"]],
            "signature": (
                {"alg": fmt.SIG_NAMES[fmt.SIG_ED25519], "key_id": self.signer_key_id.hex()}
                if self.signer_key_id is not None
                else None
            ),
            "approximate": bool(m["flags"] & fmt.FLAG_APPROX),
            "n_chunks": m["n_chunks"],
            "weights_bytes": m["weights_bytes"],
            "max_chunk_bytes": m["max_chunk_bytes"],
            "scratch_bytes": m["scratch_bytes"],
            "key_slot": {
                "device_uid": ks["device_uid"].hex(),
                "key_id": ks["key_id"].hex(),
                "root_key_bits": 8 * ks["root_key_bytes"],
                "wrap": "aes-kw (RFC 3394)" if ks["wrap_alg"] == fmt.WRAP_AES_KW else "unknown",
            },
        }


def parse_image(data: bytes) -> ImageInfo:
    """Steps 1 and 2: the structure of the header, no key needed."""
    if len(data) < 4 or data[:4] != fmt.SUPERBLOCK_MAGIC:
        raise ImageFormatError("not an ooc image (no OOCI superblock magic at offset 0)")
    if len(data) < fmt.CHUNK_TABLE_OFFSET:
        raise ImageTruncatedError(f"image is truncated: {len(data)} bytes, shorter than its header")
    sb = fmt.SUPERBLOCK.unpack(data)
    if sb["format_version"] != fmt.FORMAT_VERSION:
        raise ImageFormatError(
            f"image format version {sb['format_version']}; this ooc reads version {fmt.FORMAT_VERSION}"
        )
    page, sector, size = sb["page_bytes"], sb["sector_bytes"], sb["image_bytes"]
    if (
        sb["superblock_bytes"] != fmt.SUPERBLOCK.size
        or not _pow2(page)
        or not _pow2(sector)
        or sector < page
        or size == 0
        or size % sector
        or sb["base_offset"] % sector
    ):
        raise ImageFormatError("malformed superblock (sizes or flash geometry)")
    if size > len(data):
        raise ImageTruncatedError(
            f"image is truncated: {len(data)} bytes, its superblock says {size}"
        )
    parts = _partitions(sb)
    ks = fmt.KEY_SLOT.unpack(data, fmt.KEY_SLOT_OFFSET)
    m = fmt.MANIFEST.unpack(data, fmt.MANIFEST_OFFSET)
    h_len = next(n for k, _, n in parts if k == fmt.PART_HEADER)
    table_end = fmt.CHUNK_TABLE_OFFSET + fmt.CHUNK_ENTRY.size * m["n_chunks"]
    signed = m["flags"] & ~fmt.FLAG_APPROX == fmt.FLAG_SIGNED
    header_end = table_end + fmt.TAG_BYTES + (fmt.SIGNATURE.size if signed else 0)
    install = [n for k, _, n in parts if k == fmt.PART_INSTALL]
    want_install = [fmt.install_bytes(m["n_chunks"], sector)] if signed else []
    if (
        m["magic"] != fmt.MANIFEST_MAGIC
        or m["manifest_bytes"] != fmt.MANIFEST.size
        or m["chunk_entry_bytes"] != fmt.CHUNK_ENTRY.size
        or m["chunk_table_offset"] != fmt.CHUNK_TABLE_OFFSET
        or m["header_tag_offset"] != table_end
        or m["flags"] & ~fmt.FLAG_APPROX not in (0, fmt.FLAG_SIGNED)
        or sb["header_bytes"] != header_end
        or sb["header_bytes"] > h_len
        or install != want_install
        or m["cipher"] not in fmt.CIPHER_KEY_BYTES
        or m["tag_alg"] not in fmt.TAG_NAMES
        or not _pow2(m["chunk_align"])
        or m["chunk_align"] > sector
        or m["max_chunk_bytes"] >= 1 << 31
    ):
        raise ImageFormatError("malformed manifest (sizes, chunk table location or algorithms)")
    return ImageInfo(bytes(data[:size]), sb, parts, ks, m)


def _partitions(sb: dict[str, Any]) -> list[tuple[int, int, int]]:
    n = sb["n_partitions"]
    raw = sb["partitions"]
    if not 1 <= n <= fmt.MAX_PARTITIONS:
        raise ImageFormatError(f"malformed superblock: {n} partitions")
    parts = []
    pos = 0
    for i in range(fmt.MAX_PARTITIONS):
        p = fmt.PARTITION.unpack(raw, i * fmt.PARTITION.size)
        if i >= n:
            if any(p.values()):
                raise ImageFormatError("malformed superblock: unused partition entry is not zero")
            continue
        kind, off, length = p["kind"], p["offset"], p["length"]
        if (
            kind not in fmt.PARTITION_NAMES
            or any(kind == k for k, _, _ in parts)
            or off != pos
            or off % sb["sector_bytes"]
            or length % sb["sector_bytes"]
            or (i == 0) != (kind == fmt.PART_HEADER)
        ):
            raise ImageFormatError(f"malformed superblock: partition entry {i}")
        parts.append((kind, off, length))
        pos = off + length
    if pos != sb["image_bytes"] or not any(k == fmt.PART_WEIGHTS for k, _, _ in parts):
        raise ImageFormatError("malformed superblock: partitions do not tile the image")
    return parts


def check_entries(info: ImageInfo) -> None:
    """Step 5: every chunk table entry is well formed (after the header tag verified)."""
    m = info.manifest
    w_off, w_len = info.partition(fmt.PART_WEIGHTS)
    align = m["chunk_align"]
    entries = []
    total = 0
    pos = w_off
    for i in range(m["n_chunks"]):
        e = fmt.CHUNK_ENTRY.unpack(info.data, m["chunk_table_offset"] + i * fmt.CHUNK_ENTRY.size)
        off, length = e["flash_offset"], e["length"]
        if (
            e["index"] != i
            or e["kind"] not in fmt.CHUNK_KIND_NAMES
            or e["flags"]
            or any(e["reserved"])
            or e["nonce"] != fmt.chunk_nonce(i)
            or off % align
            or off < pos
            or not 1 <= length <= m["max_chunk_bytes"]
            or off + length > w_off + w_len
        ):
            raise ImageFormatError(f"malformed chunk table entry {i}")
        pos = off + length
        total += length
        entries.append(e)
    if total != m["weights_bytes"]:
        raise ImageFormatError("malformed manifest: weights_bytes is not the sum of chunk lengths")
    info.entries = entries


@dataclass
class VerifiedImage:
    info: ImageInfo
    tag_alg: int
    k_enc: bytes = field(repr=False)
    k_mac: bytes = field(repr=False)

    def chunk(self, index: int) -> bytes:
        """Step 7: verify one chunk's tag, then decrypt it."""
        e = self.info.entries[index]
        base = self.info.manifest["chunk_table_offset"] + index * fmt.CHUNK_ENTRY.size
        prefix = self.info.data[base : base + fmt.CHUNK_MAC_PREFIX]
        ct = self.info.data[e["flash_offset"] : e["flash_offset"] + e["length"]]
        tag = chunk_tag(self.tag_alg, self.k_enc, self.k_mac, e["nonce"], prefix, ct)
        if not crypto.equal(tag, e["tag"]):
            raise AuthenticationError(
                f"chunk {index} (tensor {e['tensor']}, bytes {e['tensor_offset']}.."
                f"{e['tensor_offset'] + e['length'] - 1}) fails its tag: the image was altered or damaged"
            )
        block = fmt.counter_block(e["nonce"], fmt.DATA_COUNTER_START)
        return crypto.aes_ctr(self.k_enc, block, ct)

    def chunks(self) -> Iterator[tuple[dict[str, Any], bytes]]:
        for i, e in enumerate(self.info.entries):
            yield e, self.chunk(i)


def open_image(
    data: bytes,
    device: DeviceKey,
    min_security_counter: int = 0,
    expected_model_sha256: str | None = None,
    trust_anchors: Sequence[bytes] = (),
) -> VerifiedImage:
    """Steps 1-6: mount the image for ``device``. Chunks are checked as they are read. With
    ``trust_anchors`` (raw Ed25519 public keys) the image must be signed by one of them, and the
    signed digests of its header and of every chunk must match, as a device with anchors
    checks them at install."""
    info = parse_image(data)
    ks = info.key_slot
    if (
        ks["magic"] != fmt.KEY_SLOT_MAGIC
        or ks["version"] != fmt.KEY_SLOT_VERSION
        or ks["wrap_alg"] != fmt.WRAP_AES_KW
        or ks["content_key_bytes"] != fmt.CIPHER_KEY_BYTES[info.manifest["cipher"]]
        or ks["root_key_bytes"] not in crypto.KEY_SIZES
        or any(ks["wrapped_key"][ks["content_key_bytes"] + 8 :])
        or any(ks["reserved"])
    ):
        raise ImageFormatError("malformed key slot (no key wrapped for a device in this image)")
    if ks["device_uid"] != device.uid:
        raise WrongDeviceError(
            f"image is wrapped for another device (UID {ks['device_uid'].hex()}); "
            f"this device is {device.uid.hex()}"
        )
    if ks["root_key_bytes"] != len(device.root_key) or not crypto.equal(
        ks["key_id"], device.key_id
    ):
        raise WrongKeyError(
            f"wrong device key: the key slot was wrapped for key id {ks['key_id'].hex()}, "
            f"this key's id is {device.key_id.hex()}"
        )
    build_id = info.superblock["build_id"]
    wrapped = ks["wrapped_key"][: ks["content_key_bytes"] + 8]
    try:
        content_key = crypto.key_unwrap(device.kek(build_id), wrapped)
    except crypto.UnwrapError:
        raise AuthenticationError(
            "key slot fails its integrity check (RFC 3394 unwrap): the image was altered or damaged"
        ) from None
    k_hdr, k_enc, k_mac = content_subkeys(content_key, build_id)
    if not crypto.equal(crypto.cmac(k_hdr, info.authenticated_bytes()), info.header_tag):
        raise AuthenticationError(
            "image header (superblock, manifest or chunk table) fails its tag: altered or damaged"
        )
    check_entries(info)
    if trust_anchors:
        info.check_signature(trust_anchors)
    m = info.manifest
    if m["security_counter"] < min_security_counter:
        raise RollbackError(
            f"image security counter {m['security_counter']} is older than the device's "
            f"{min_security_counter}: refusing a rollback"
        )
    if expected_model_sha256 is not None and m["model_sha256"].hex() != expected_model_sha256:
        raise ModelMismatchError(
            f"image holds model {m['model_sha256'].hex()[:16]}.., expected {expected_model_sha256[:16]}.."
        )
    return VerifiedImage(info, m["tag_alg"], k_enc, k_mac)


def public_info(data: bytes) -> ImageInfo:
    """Parse and structurally check everything that needs no key (for dumpinfo)."""
    info = parse_image(data)
    check_entries(info)
    return info
