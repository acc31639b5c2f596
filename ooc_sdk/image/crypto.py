"""The image's symmetric primitives, as thin wrappers over `cryptography` (no crypto of our own).

Everything is built on AES so a device needs nothing else (see docs/FORMAT.md, "Cryptography"):
AES-CTR (SP 800-38A), AES-CMAC (SP 800-38B / RFC 4493), Poly1305 (RFC 8439), AES key wrap
(RFC 3394) and the SP 800-108 counter-mode KDF with CMAC as the PRF.

``ctr_observer`` lets tests record every (key, counter block) the packer uses, to prove that no
keystream block is ever used twice.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from cryptography.hazmat.primitives import cmac as _cmac
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFCMAC, CounterLocation, Mode
from cryptography.hazmat.primitives.poly1305 import Poly1305

BLOCK = 16
TAG_BYTES = 16
KEY_SIZES = (16, 32)

# Called as ctr_observer(key, first_counter_block, n_blocks) for every CTR use, when set.
ctr_observer: Callable[[bytes, bytes, int], None] | None = None


class UnwrapError(Exception):
    """RFC 3394 integrity check failed: wrong key-encryption key or altered wrapped key."""


def _check_key(key: bytes) -> None:
    if len(key) not in KEY_SIZES:
        raise ValueError(f"AES key must be 16 or 32 bytes, not {len(key)}")


def aes_ctr(key: bytes, counter_block: bytes, data: bytes) -> bytes:
    """XOR ``data`` with the AES-CTR keystream starting at ``counter_block``.

    Only the low 32 bits of the counter block count (as in the C runtime); a keystream that would
    carry out of them is refused, so the 12-byte nonce part never changes.
    """
    _check_key(key)
    if len(counter_block) != BLOCK:
        raise ValueError("counter block must be 16 bytes")
    n_blocks = -(-len(data) // BLOCK)
    if int.from_bytes(counter_block[12:], "big") + n_blocks > 1 << 32:
        raise ValueError("CTR keystream would wrap the 32-bit block counter")
    if ctr_observer is not None and n_blocks:
        ctr_observer(key, counter_block, n_blocks)
    enc = Cipher(algorithms.AES(key), modes.CTR(counter_block)).encryptor()
    return enc.update(data) + enc.finalize()


def cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC tag (16 bytes)."""
    _check_key(key)
    c = _cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def poly1305(one_time_key: bytes, data: bytes) -> bytes:
    """Poly1305 tag (16 bytes) under a 32-byte one-time key."""
    return Poly1305.generate_tag(one_time_key, data)


def key_wrap(kek: bytes, key: bytes) -> bytes:
    """RFC 3394 AES key wrap (output is 8 bytes longer than ``key``)."""
    _check_key(kek)
    return keywrap.aes_key_wrap(kek, key)


def key_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """RFC 3394 AES key unwrap; raises UnwrapError when the integrity check fails."""
    _check_key(kek)
    try:
        return keywrap.aes_key_unwrap(kek, wrapped)
    except (keywrap.InvalidUnwrap, ValueError) as exc:
        raise UnwrapError(str(exc) or "integrity check failed") from None


def kdf(key: bytes, label: bytes, context: bytes, length: int) -> bytes:
    """SP 800-108 KDF in counter mode, PRF AES-CMAC under ``key``, r = 32, counter before the fixed
    data, fixed = label || 0x00 || context || [8 * length]_32."""
    _check_key(key)
    return KBKDFCMAC(
        algorithm=algorithms.AES,
        mode=Mode.CounterMode,
        length=length,
        rlen=4,
        llen=4,
        location=CounterLocation.BeforeFixed,
        label=label,
        context=context,
        fixed=None,
    ).derive(key)


def kdf_fixed(key: bytes, fixed: bytes, length: int) -> bytes:
    """The same KDF with the fixed input data given whole (how NIST's vectors state it)."""
    return KBKDFCMAC(
        algorithm=algorithms.AES,
        mode=Mode.CounterMode,
        length=length,
        rlen=4,
        llen=None,
        location=CounterLocation.BeforeFixed,
        label=None,
        context=None,
        fixed=fixed,
    ).derive(key)


def equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a, b)


__all__ = [
    "BLOCK",
    "KEY_SIZES",
    "TAG_BYTES",
    "UnwrapError",
    "aes_ctr",
    "cmac",
    "ctr_observer",
    "equal",
    "kdf",
    "kdf_fixed",
    "key_unwrap",
    "key_wrap",
    "poly1305",
]
