"""The device key storage record (docs/FORMAT.md, "QEMU key storage"): what a provisioned
device keeps in its internal, trusted storage, and what the QEMU port's firmware reads at boot.

Written by the programmers (``ooc provision``) and the QEMU runner; read by
c_runtime/ports/qemu_mps2/ooc_run_qemu_main.c.
"""

from __future__ import annotations

import struct

KEYSTORE_MAGIC = b"OOCK"
KEYSTORE_VERSION = 1
KEYSTORE_BYTES = 60
UID_BYTES = 16
ROOT_KEY_FIELD_BYTES = 32  # the root key, zero-padded
# The QEMU port's boot counter record (docs/FORMAT.md): u32 last boot, u32 its complement.
BOOT_COUNTER_NEW = struct.pack("<II", 0, 0xFFFFFFFF)


def keystore_record(uid: bytes, root_key: bytes, security_counter: int = 0) -> bytes:
    """The key storage record of a device with this identity and anti-rollback counter."""
    return (
        KEYSTORE_MAGIC
        + bytes([KEYSTORE_VERSION, len(root_key), 0, 0])
        + uid
        + root_key.ljust(ROOT_KEY_FIELD_BYTES, b"\0")
        + struct.pack("<I", security_counter)
    )
