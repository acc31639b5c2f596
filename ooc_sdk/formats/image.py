"""The flash image format: the single source of truth for every byte (docs/FORMAT.md explains it).

Every structure is a fixed-size little-endian record declared below as a list of fields, each with
its ``struct`` format and a comment. The C header ``c_runtime/include/ooc/ooc_image_format.h`` is
generated from these declarations (``python -m ooc_sdk.formats --write-c-headers``, through
ooc_sdk/formats/cheader.py); a test checks that the committed header is current, and the header
statically asserts every offset and size.

Image layout (offsets relative to the image start; the image may sit at any sector boundary of the
flash)::

    header partition   superblock | key slot | manifest | chunk table | header tag
                       [| signature block] | 0xFF padding
    weights partition  chunk 0 | 0xFF pad to the chunk alignment | chunk 1 | ... | 0xFF padding
    scratch partition  erased (0xFF), reserved for activation spills
    install partition  signed images only: erased; the device writes its install record and its
                       own chunk tags there (docs/FORMAT.md, "Signed images")
    metadata partition littlefs (manifest copy, build info)

Every partition starts and ends on an erase-sector boundary.
"""

from __future__ import annotations

import struct

from ooc_sdk.formats.cheader import CHeader, Const, Field, Item, Record

FORMAT_VERSION = 1

# -- enumerations ----------------------------------------------------------------------------------

SUPERBLOCK_MAGIC = b"OOCI"
KEY_SLOT_MAGIC = b"OOCK"
MANIFEST_MAGIC = b"OOCM"
KEY_SLOT_VERSION = 1

PART_HEADER = 1  # superblock, key slot, manifest, chunk table, header tag
PART_WEIGHTS = 2  # encrypted, tagged weight chunks
PART_SCRATCH = 3  # activation spill ring (erased at pack time)
PART_METADATA = 4  # littlefs file system
PART_INSTALL = 5  # signed images: the device's install record and chunk tags (erased at pack time)

PARTITION_NAMES = {
    PART_HEADER: "header",
    PART_WEIGHTS: "weights",
    PART_SCRATCH: "scratch",
    PART_METADATA: "metadata",
    PART_INSTALL: "install",
}

CIPHER_AES128_CTR = 1
CIPHER_AES256_CTR = 2
CIPHER_KEY_BYTES = {CIPHER_AES128_CTR: 16, CIPHER_AES256_CTR: 32}
CIPHER_NAMES = {CIPHER_AES128_CTR: "aes128-ctr", CIPHER_AES256_CTR: "aes256-ctr"}

TAG_AES_CMAC = 1
TAG_POLY1305 = 2
TAG_NAMES = {TAG_AES_CMAC: "aes-cmac", TAG_POLY1305: "poly1305"}
# The short names options and requests use (ooc build --cipher/--tag, PlanRequest).
CIPHER_OPTIONS = {"aes128": CIPHER_AES128_CTR, "aes256": CIPHER_AES256_CTR}
TAG_OPTIONS = {"cmac": TAG_AES_CMAC, "poly1305": TAG_POLY1305}

WRAP_AES_KW = 1  # RFC 3394 key wrap under the key-encryption key

FLAG_SIGNED = 1  # manifest.flags: a signature block follows the header tag
FLAG_APPROX = 2  # manifest.flags: an approximate build's weights (operand groups skipped)
SIGNATURE_MAGIC = b"OOCG"
SIGNATURE_VERSION = 1
SIG_ED25519 = 1  # RFC 8032 Ed25519 (SHA-512)
SIG_NAMES = {SIG_ED25519: "ed25519"}
INSTALL_MAGIC = b"OOCT"
INSTALL_VERSION = 1
PUBLIC_KEY_BYTES = 32  # an Ed25519 public key, as RFC 8032 encodes it
MAX_ANCHORS = 4  # trust anchors a device holds (vendor key rotation: old and new keys)
SIGNATURE_BYTES = 64
DIGEST_BYTES = 64  # SHA-512

CHUNK_WEIGHTS = 1  # a slice of one constant tensor's data: bytes [tensor_offset, +length)
# Output channels [c0, c0 + n) of a depthwise filter [1][k_h][k_w][C], stored [k_h][k_w][n]
# (the slice is strided in the tensor): tensor_offset = c0, length = k_h * k_w * n.
CHUNK_DW_CHANNELS = 2
CHUNK_KIND_NAMES = {CHUNK_WEIGHTS: "weights", CHUNK_DW_CHANNELS: "dw-channels"}

NONCE_DOMAIN_WEIGHTS = 1  # second word of a weight chunk's nonce

# CTR counter blocks 0 and 1 of every chunk give the Poly1305 one-time key; data starts at 2.
DATA_COUNTER_START = 2

MAX_PARTITIONS = 6
UID_BYTES = 16
KEY_ID_BYTES = 8
BUILD_ID_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_WRAPPED_BYTES = 40  # RFC 3394 output for a 32-byte key

# KDF labels (SP 800-108 counter mode, PRF = AES-CMAC; see docs/FORMAT.md "Keys").
LABEL_KEY_ID = b"ooc key id"  # key id    = KDF(root key, label, uid, 8 bytes)
LABEL_KEK = b"ooc kek"  # KEK       = KDF(root key, label, uid || build id, root key length)
LABEL_HEADER = b"ooc header mac"  # K_hdr = KDF(content key, label, build id, key length)
LABEL_ENC = b"ooc weights enc"  # K_enc     = KDF(content key, label, build id, key length)
LABEL_MAC = b"ooc weights mac"  # K_mac     = KDF(content key, label, build id, key length)
# Signed images, per device: K_dtag = KDF(root key, label, uid || build id, content key length)
# tags the chunks the device installed; K_rec = KDF(root key, its label, the same context, root
# key length) authenticates its install record.
LABEL_DEVICE_TAG = b"ooc device tag"
LABEL_INSTALL = b"ooc install record"


# -- record declarations ---------------------------------------------------------------------------

PARTITION = Record(
    "partition entry",
    "PART",
    12,
    [
        Field("kind", "I", "PART_* (0 = unused entry)"),
        Field("offset", "I", "bytes from the image start; a multiple of sector_bytes"),
        Field("length", "I", "bytes; a multiple of sector_bytes"),
    ],
    "One entry of the superblock's partition map.",
)

SUPERBLOCK = Record(
    "superblock",
    "SB",
    128,
    [
        Field("magic", "4s", 'b"OOCI"'),
        Field("format_version", "H", "FORMAT_VERSION (1)"),
        Field("superblock_bytes", "H", "128"),
        Field("header_bytes", "I", "end of the header tag: bytes from the image start"),
        Field("image_bytes", "I", "total image length, a multiple of sector_bytes"),
        Field("page_bytes", "I", "flash program page (power of two)"),
        Field("sector_bytes", "I", "flash erase sector (power of two, multiple of page_bytes)"),
        Field("flash_bytes", "I", "size of the flash chip the image was built for"),
        Field("base_offset", "I", "flash offset the image was built to sit at"),
        Field("build_id", "16s", "random per image build; KDF context"),
        Field("n_partitions", "I", "used entries of the partition map (1..6)"),
        Field("partitions", f"{MAX_PARTITIONS * PARTITION.size}s", "6 partition entries"),
    ],
    "At offset 0. Authenticated by the header tag.",
)

KEY_SLOT = Record(
    "key slot",
    "KS",
    128,
    [
        Field("magic", "4s", 'b"OOCK"'),
        Field("version", "B", "KEY_SLOT_VERSION (1)"),
        Field("wrap_alg", "B", "WRAP_AES_KW (1)"),
        Field("content_key_bytes", "B", "16 or 32: the wrapped key's length"),
        Field("root_key_bytes", "B", "16 or 32: the device root key's length"),
        Field("device_uid", "16s", "the device this slot is for (UID, zero-padded)"),
        Field("key_id", "8s", "KDF(root key, 'ooc key id', uid): a public fingerprint"),
        Field("wrapped_key", "40s", "RFC 3394 wrap of the content key, zero-padded"),
    ],
    "At offset 128. Per device; not covered by the header tag (RFC 3394 checks it).",
)

MANIFEST = Record(
    "manifest",
    "MF",
    256,
    [
        Field("magic", "4s", 'b"OOCM"'),
        Field("manifest_bytes", "H", "256"),
        Field("cipher", "B", "CIPHER_* (content key length)"),
        Field("tag_alg", "B", "TAG_*: how chunk tags are computed"),
        Field("security_counter", "I", "anti-rollback: devices refuse a lower value"),
        Field("n_chunks", "I", "entries in the chunk table"),
        Field("chunk_entry_bytes", "H", "64"),
        Field(
            "flags",
            "H",
            "FLAG_SIGNED (1): a signature block follows the header tag; FLAG_APPROX (2): an "
            "approximate build (operand groups skipped; informative); else 0",
        ),
        Field("chunk_table_offset", "I", "512"),
        Field("header_tag_offset", "I", "chunk_table_offset + 64 * n_chunks"),
        Field("weights_bytes", "I", "sum of chunk lengths"),
        Field("max_chunk_bytes", "I", "largest chunk: the buffer a reader needs"),
        Field("chunk_align", "I", "chunk start alignment in the weights partition"),
        Field("scratch_bytes", "I", "length of the scratch partition"),
        Field("n_tensors", "I", "constant tensors stored"),
        Field("created_unix", "Q", "build time, seconds since 1970 (UTC)"),
        Field("model_sha256", "32s", "SHA-256 of the .tflite file"),
        Field("plan_id", "16s", "SHA-256 prefix of the chunk plan (ids the firmware tables)"),
        Field("model_name", "32s", "UTF-8, NUL-padded"),
        Field("sdk_version", "16s", "ASCII, NUL-padded"),
    ],
    "At offset 256. Authenticated by the header tag.",
)

CHUNK_ENTRY = Record(
    "chunk entry",
    "CE",
    64,
    [
        Field("index", "I", "position in the table"),
        Field("kind", "H", "CHUNK_*"),
        Field("flags", "H", "0"),
        Field("tensor", "I", "model tensor index whose data this chunk holds"),
        Field(
            "tensor_offset", "I", "weights: byte offset in the tensor; dw-channels: first channel"
        ),
        Field("flash_offset", "I", "bytes from the image start; multiple of chunk_align"),
        Field("length", "I", "plaintext (= ciphertext) bytes, 1..max_chunk_bytes"),
        Field("nonce", "12s", "CTR nonce: index (u32 LE) || NONCE_DOMAIN_WEIGHTS (u32 LE) || 0"),
        Field("reserved", "12s", "zero"),
        Field("tag", "16s", "over bytes 0..47 of this entry || ciphertext"),
    ],
    "The chunk table starts at manifest.chunk_table_offset.",
)

SIGNATURE = Record(
    "signature block",
    "SIG",
    256,
    [
        Field("magic", "4s", 'b"OOCG"'),
        Field("version", "B", "SIGNATURE_VERSION (1)"),
        Field("sig_alg", "B", "SIG_ED25519 (1)"),
        Field("reserved", "H", "0"),
        Field("signer_key_id", "8s", "SHA-512 of the signer's raw public key, first 8 bytes"),
        Field(
            "header_sha512", "64s", "SHA-512(superblock || manifest || chunk table || header tag)"
        ),
        Field("weights_sha512", "64s", "SHA-512 of every chunk's ciphertext, in table order"),
        Field("reserved2", "48s", "zero"),
        Field("signature", "64s", "Ed25519 signature of bytes 0..191 of this block"),
    ],
    "Signed images: at manifest.header_tag_offset + 16; header_bytes is its end.",
)
SIGNED_BYTES = SIGNATURE.offsets["signature"]  # the signature covers the block up to it

INSTALL_RECORD = Record(
    "install record",
    "IR",
    64,
    [
        Field("magic", "4s", 'b"OOCT"'),
        Field("version", "B", "INSTALL_VERSION (1)"),
        Field("reserved", "3s", "zero"),
        Field("n_chunks", "I", "the chunk tags that follow"),
        Field("security_counter", "I", "the installed image's"),
        Field("build_id", "16s", "the installed image's"),
        Field("signature_id", "16s", "SHA-512 of the image's signature block, first 16 bytes"),
        Field("mac", "16s", "AES-CMAC(K_rec, bytes 0..47)"),
    ],
    "Written by the device at offset 0 of the install partition, after the chunk tags (64 + 16 i).",
)
INSTALL_MAC_PREFIX = INSTALL_RECORD.offsets["mac"]

RECORDS = [PARTITION, SUPERBLOCK, KEY_SLOT, MANIFEST, CHUNK_ENTRY, SIGNATURE, INSTALL_RECORD]

SUPERBLOCK_OFFSET = 0
KEY_SLOT_OFFSET = SUPERBLOCK_OFFSET + SUPERBLOCK.size
MANIFEST_OFFSET = KEY_SLOT_OFFSET + KEY_SLOT.size
CHUNK_TABLE_OFFSET = MANIFEST_OFFSET + MANIFEST.size
CHUNK_MAC_PREFIX = CHUNK_ENTRY.offsets["tag"]  # entry bytes covered by the chunk tag

LAYOUT_CONSTANTS = {
    "FORMAT_VERSION": FORMAT_VERSION,
    "KEY_SLOT_VERSION": KEY_SLOT_VERSION,
    "PART_HEADER": PART_HEADER,
    "PART_WEIGHTS": PART_WEIGHTS,
    "PART_SCRATCH": PART_SCRATCH,
    "PART_METADATA": PART_METADATA,
    "PART_INSTALL": PART_INSTALL,
    "CIPHER_AES128_CTR": CIPHER_AES128_CTR,
    "CIPHER_AES256_CTR": CIPHER_AES256_CTR,
    "TAG_AES_CMAC": TAG_AES_CMAC,
    "TAG_POLY1305": TAG_POLY1305,
    "WRAP_AES_KW": WRAP_AES_KW,
    "FLAG_SIGNED": FLAG_SIGNED,
    "FLAG_APPROX": FLAG_APPROX,
    "SIGNATURE_VERSION": SIGNATURE_VERSION,
    "SIG_ED25519": SIG_ED25519,
    "INSTALL_VERSION": INSTALL_VERSION,
    "PUBLIC_KEY_BYTES": PUBLIC_KEY_BYTES,
    "MAX_ANCHORS": MAX_ANCHORS,
    "SIGNATURE_BYTES": SIGNATURE_BYTES,
    "DIGEST_BYTES": DIGEST_BYTES,
    "CHUNK_WEIGHTS": CHUNK_WEIGHTS,
    "CHUNK_DW_CHANNELS": CHUNK_DW_CHANNELS,
    "NONCE_DOMAIN_WEIGHTS": NONCE_DOMAIN_WEIGHTS,
    "DATA_COUNTER_START": DATA_COUNTER_START,
    "MAX_PARTITIONS": MAX_PARTITIONS,
    "UID_BYTES": UID_BYTES,
    "KEY_ID_BYTES": KEY_ID_BYTES,
    "BUILD_ID_BYTES": BUILD_ID_BYTES,
    "NONCE_BYTES": NONCE_BYTES,
    "TAG_BYTES": TAG_BYTES,
    "MAX_WRAPPED_BYTES": MAX_WRAPPED_BYTES,
    "SUPERBLOCK_OFFSET": SUPERBLOCK_OFFSET,
    "KEY_SLOT_OFFSET": KEY_SLOT_OFFSET,
    "MANIFEST_OFFSET": MANIFEST_OFFSET,
    "CHUNK_TABLE_OFFSET": CHUNK_TABLE_OFFSET,
    "CHUNK_MAC_PREFIX": CHUNK_MAC_PREFIX,
    "SIGNED_BYTES": SIGNED_BYTES,
    "INSTALL_MAC_PREFIX": INSTALL_MAC_PREFIX,
}

LABELS = {
    "LABEL_KEY_ID": LABEL_KEY_ID,
    "LABEL_KEK": LABEL_KEK,
    "LABEL_HEADER": LABEL_HEADER,
    "LABEL_ENC": LABEL_ENC,
    "LABEL_MAC": LABEL_MAC,
    "LABEL_DEVICE_TAG": LABEL_DEVICE_TAG,
    "LABEL_INSTALL": LABEL_INSTALL,
}

MAGICS = {
    "SUPERBLOCK_MAGIC": SUPERBLOCK_MAGIC,
    "KEY_SLOT_MAGIC": KEY_SLOT_MAGIC,
    "MANIFEST_MAGIC": MANIFEST_MAGIC,
    "SIGNATURE_MAGIC": SIGNATURE_MAGIC,
    "INSTALL_MAGIC": INSTALL_MAGIC,
}


def chunk_nonce(index: int) -> bytes:
    """The 12-byte CTR nonce of weight chunk ``index``."""
    return struct.pack("<III", index, NONCE_DOMAIN_WEIGHTS, 0)


def install_bytes(n_chunks: int, sector_bytes: int) -> int:
    """Length of a signed image's install partition: the record and one tag per chunk, in
    whole sectors."""
    need = INSTALL_RECORD.size + TAG_BYTES * n_chunks
    return -(-need // sector_bytes) * sector_bytes


def counter_block(nonce: bytes, counter: int) -> bytes:
    """CTR counter block: nonce || counter (32-bit big-endian, as SP 800-38A increments it)."""
    return nonce + counter.to_bytes(4, "big")


# -- the C header --------------------------------------------------------------------------------


def _c_sections() -> list[list[Item]]:
    magics = [Const(name, value) for name, value in MAGICS.items()]
    labels = [Const(name, value.decode()) for name, value in LABELS.items()]
    return [
        [Const(name, value) for name, value in LAYOUT_CONSTANTS.items()],
        magics + labels,
        *([rec] for rec in RECORDS),
    ]


C_HEADER = CHeader(
    module=__name__,
    filename="ooc_image_format.h",
    title="ooc flash image format: offsets, sizes and constants.",
    prefix="OOC_IMG",
    tag="IMG",
    type_prefix="ooc_img_",
    sections=_c_sections,
    about="docs/FORMAT.md describes every field. All multi-byte fields are little-endian; read "
    "them with explicit byte loads, never by casting flash bytes.",
)
