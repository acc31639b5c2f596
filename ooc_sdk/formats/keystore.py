"""The device key storage record (docs/FORMAT.md, "Device key storage record"): what a provisioned
device keeps in its internal, trusted storage, and what the QEMU port's firmware reads at boot;
and the QEMU port's boot counter record beside it.

Written by the programmers (``ooc provision``) and the QEMU runner; read by
c_runtime/ports/qemu_mps2/ooc_run_qemu_main.c through ``ooc/ooc_keystore_format.h``, generated
from this module (``python -m ooc_sdk.formats --write-c-headers``).
"""

from __future__ import annotations

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.formats.cheader import CHeader, Const, Field, Item, Record
from ooc_sdk.formats.image import MAX_ANCHORS, PUBLIC_KEY_BYTES, UID_BYTES

# Version 1 used b"OOCK", the image key slot's magic; version 2 has a magic of its own;
# version 3 adds the trust anchors (vendor public keys that sign images).
KEYSTORE_MAGIC = b"OOCR"
KEYSTORE_VERSION = 3
ROOT_KEY_FIELD_BYTES = 32  # the root key, zero-padded

KEYSTORE = Record(
    "key storage record",
    "KSR",
    188,
    [
        Field("magic", "4s", 'b"OOCR"'),
        Field("version", "B", "KEYSTORE_VERSION (3)"),
        Field("root_key_bytes", "B", "16 or 32: the root key's length"),
        Field("n_anchors", "B", "trust anchors that follow (0 .. 4)"),
        Field("reserved", "B", "0"),
        Field("device_uid", f"{UID_BYTES}s", "the device UID (zero-padded on the left)"),
        Field("root_key", f"{ROOT_KEY_FIELD_BYTES}s", "the device root key, zero-padded"),
        Field("security_counter", "I", "anti-rollback: the mount's min_security_counter"),
        Field(
            "anchors",
            f"{MAX_ANCHORS * PUBLIC_KEY_BYTES}s",
            "raw Ed25519 public keys of the vendors whose images it runs, zero-padded",
        ),
    ],
    "In the device's internal key storage, never on the external flash.",
    size_name="KEYSTORE_BYTES",
)
KEYSTORE_BYTES = KEYSTORE.size

BOOT_COUNTER = Record(
    "boot counter record",
    "BCR",
    8,
    [
        Field("boot", "I", "the last boot counted (ooc_spill_boot())"),
        Field("check", "I", "its bitwise complement; any other value is refused"),
    ],
    "The QEMU port's monotonic boot counter (bootcount.bin).",
    size_name="BOOTCOUNT_BYTES",
)
BOOT_COUNTER_NEW = BOOT_COUNTER.pack(boot=0, check=0xFFFFFFFF)  # a new device's counter


def keystore_record(
    uid: bytes, root_key: bytes, security_counter: int = 0, anchors: tuple[bytes, ...] = ()
) -> bytes:
    """The key storage record of a device with this identity, anti-rollback counter and trust
    anchors (raw Ed25519 public keys)."""
    if len(uid) != UID_BYTES or len(root_key) not in (16, 32):
        raise InvalidArgumentError(
            "a key storage record holds a 16-byte UID and a 16- or 32-byte root key"
        )
    if len(anchors) > MAX_ANCHORS or any(len(a) != PUBLIC_KEY_BYTES for a in anchors):
        raise InvalidArgumentError(
            f"a key storage record holds up to {MAX_ANCHORS} 32-byte Ed25519 public keys"
        )
    return KEYSTORE.pack(
        magic=KEYSTORE_MAGIC,
        version=KEYSTORE_VERSION,
        root_key_bytes=len(root_key),
        n_anchors=len(anchors),
        device_uid=uid,
        root_key=root_key,
        security_counter=security_counter,
        anchors=b"".join(anchors),
    )


def _c_sections() -> list[list[Item]]:
    return [
        [
            Const("KEYSTORE_MAGIC", KEYSTORE_MAGIC),
            Const("KEYSTORE_VERSION", KEYSTORE_VERSION),
            Const("KEYSTORE_MAX_ANCHORS", MAX_ANCHORS),
        ],
        [KEYSTORE],
        [BOOT_COUNTER],
    ]


C_HEADER = CHeader(
    module=__name__,
    filename="ooc_keystore_format.h",
    title="ooc device key storage record and the QEMU port's boot counter record.",
    prefix="OOC",
    tag="KS",
    type_prefix="ooc_",
    sections=_c_sections,
    about="docs/FORMAT.md describes both. Little-endian; read them with explicit byte loads.",
)
