"""Vendor image signatures: Ed25519 (RFC 8032) keys, the signature block, and its check.

A vendor signing key signs every image it releases; devices hold the vendor's public key (a trust
anchor) in their internal key storage and refuse an image that no anchor signed. The signature
covers SHA-512 digests of the header (superblock, manifest, chunk table, header tag) and of every
chunk's ciphertext (docs/FORMAT.md, "Signed images"), so nothing a batch key holder can compute
(tags, the key slot) lets one device's secrets forge an image for another device.

Keys are files: the private key as PKCS#8 PEM (mode 0600, unencrypted, as ``openssl genpkey
-algorithm ed25519`` writes it), the public key as SubjectPublicKeyInfo PEM. The key id is the
first 8 bytes of SHA-512 of the raw 32-byte public key (the hash the device already has).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ooc_sdk.errors import InvalidArgumentError, SignatureError
from ooc_sdk.fileio import read_bytes, write_atomic
from ooc_sdk.formats import image as fmt
from ooc_sdk.image.keys import read_private_file

MAX_KEY_FILE_BYTES = 4096


def key_id(public_key: bytes) -> bytes:
    """The 8-byte public fingerprint of a raw Ed25519 public key."""
    return hashlib.sha512(public_key).digest()[: fmt.KEY_ID_BYTES]


@dataclass(frozen=True)
class SigningKey:
    """A vendor's Ed25519 signing key. ``repr`` shows the key id only."""

    private: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id.hex()})"

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key (RFC 8032 encoding): what devices store as an anchor."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> bytes:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        return public_pem(self.public_key)


def public_pem(public_key: bytes) -> bytes:
    """A raw Ed25519 public key as SubjectPublicKeyInfo PEM."""
    return Ed25519PublicKey.from_public_bytes(public_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_signing_key(path: Path, key: SigningKey, force: bool = False) -> Path:
    """Write the private key to ``path`` (0600) and the public key beside it (``.pub``); returns
    the public key's path. Refuses to replace either without ``force``."""
    path = Path(path)
    pub = path.with_suffix(".pub")
    if pub == path:
        raise InvalidArgumentError(f"{path}: name the private key file, not its .pub")
    if not force:
        for p in (path, pub):
            if p.exists() or p.is_symlink():
                raise InvalidArgumentError(f"{p} exists; pass `force` to replace it", param="force")
    for p in (path, pub):
        if p.is_symlink() or (p.exists() and not p.is_file()):
            raise InvalidArgumentError(f"{p} is not a regular file; refusing to replace it")
    write_atomic(path, key.private_pem(), private=True)
    write_atomic(pub, key.public_pem())
    return pub


def read_signing_key(path: Path) -> SigningKey:
    """A vendor signing key from its PEM file (refused when group or others can read it)."""
    data = read_private_file(path, "signing key")
    if len(data) > MAX_KEY_FILE_BYTES:
        raise InvalidArgumentError(f"signing key {path} is not an Ed25519 private key PEM file")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise InvalidArgumentError(
            f"signing key {path} is not an unencrypted Ed25519 private key PEM file "
            "(make one with ooc signing-key)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidArgumentError(f"signing key {path} is not an Ed25519 key")
    return SigningKey(key)


def read_trust_anchor(path: Path) -> bytes:
    """A raw 32-byte Ed25519 public key from a PEM file (``vendor.pub``) or a raw 32-byte file."""
    data = read_bytes(Path(path), "trust anchor", MAX_KEY_FILE_BYTES)
    if len(data) == fmt.PUBLIC_KEY_BYTES:
        return data
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidArgumentError(
            f"trust anchor {path} is not an Ed25519 public key (the .pub file ooc signing-key "
            "writes)"
        )
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def weights_digest(chunks: Iterable[tuple[bytes, bytes]]) -> bytes:
    """SHA-512 over every chunk's (entry prefix, ciphertext), in table order: the entry's first
    48 bytes (what its tag covers) then its ciphertext."""
    h = hashlib.sha512()
    for prefix, ct in chunks:
        h.update(prefix)
        h.update(ct)
    return h.digest()


def signature_block(key: SigningKey, header: bytes, weights_sha512: bytes) -> bytes:
    """The 256-byte signature block for an image whose superblock || manifest || chunk table ||
    header tag is ``header``."""
    body = fmt.SIGNATURE.pack(
        magic=fmt.SIGNATURE_MAGIC,
        version=fmt.SIGNATURE_VERSION,
        sig_alg=fmt.SIG_ED25519,
        signer_key_id=key.key_id,
        header_sha512=hashlib.sha512(header).digest(),
        weights_sha512=weights_sha512,
    )
    signed = body[: fmt.SIGNED_BYTES]
    return signed + key.sign(signed)


def check_signature_block(
    block: bytes, header: bytes, anchors: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Check a signature block's structure, its header digest and its signature under one of
    ``anchors``; returns (the signer's public key, the signed weights digest). The caller checks
    the weights digest against the chunks. SignatureError when no anchor signed it."""
    f = fmt.SIGNATURE.unpack(block)
    if (
        f["magic"] != fmt.SIGNATURE_MAGIC
        or f["version"] != fmt.SIGNATURE_VERSION
        or f["sig_alg"] != fmt.SIG_ED25519
    ):
        raise SignatureError("the image's signature block is malformed or of an unknown version")
    signer = next((a for a in anchors if key_id(a) == f["signer_key_id"]), None)
    if signer is None:
        raise SignatureError(
            f"the image is signed by key id {f['signer_key_id'].hex()}, which is not a trust anchor"
        )
    try:
        Ed25519PublicKey.from_public_bytes(signer).verify(f["signature"], block[: fmt.SIGNED_BYTES])
    except InvalidSignature:
        raise SignatureError("the image's signature does not verify") from None
    if hashlib.sha512(header).digest() != f["header_sha512"]:
        raise SignatureError("the image header differs from the one its vendor signed")
    return signer, f["weights_sha512"]
