"""The image's key and tag scheme, shared by the packer (pack.py) and the reader (reader.py):
the content key's sub-keys and a chunk's tag (docs/FORMAT.md, "Keys" and "Chunk tags")."""

from __future__ import annotations

from ooc_sdk.formats import image as fmt
from ooc_sdk.image import crypto


def content_subkeys(content_key: bytes, build_id: bytes) -> tuple[bytes, bytes, bytes]:
    """(K_hdr, K_enc, K_mac) derived from the content key."""
    n = len(content_key)
    return (
        crypto.kdf(content_key, fmt.LABEL_HEADER, build_id, n),
        crypto.kdf(content_key, fmt.LABEL_ENC, build_id, n),
        crypto.kdf(content_key, fmt.LABEL_MAC, build_id, n),
    )


def chunk_tag(
    tag_alg: int, k_enc: bytes, k_mac: bytes, nonce: bytes, entry_prefix: bytes, ct: bytes
) -> bytes:
    """Tag of one chunk over its entry (the bytes before the tag) and its ciphertext. Poly1305's
    one-time key is the chunk's own keystream blocks 0 and 1 (data starts at block 2)."""
    if tag_alg == fmt.TAG_AES_CMAC:
        return crypto.cmac(k_mac, entry_prefix + ct)
    one_time = crypto.aes_ctr(k_enc, fmt.counter_block(nonce, 0), bytes(32))
    return crypto.poly1305(one_time, entry_prefix + ct)
