"""The factory keystore (ooc_sdk/image/keystore.py): root keys derived from the master
secret with the SP 800-108 KDF, and a master key file nobody else can read."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.image.keystore import (
    ENV_FILE,
    LABEL_ROOT_KEY,
    SecretKeystore,
    derive_root_key,
    open_keystore,
    read_master_file,
)

MASTER = bytes(range(32))
UID = bytes(8) + bytes.fromhex("00c0ffee00000001")


def _sp800_108_cmac(key: bytes, fixed: bytes, length: int) -> bytes:
    """SP 800-108r1 section 4.1 written out: K(i) = CMAC(key, [i]_32 || fixed), i = 1, 2, ..."""
    out = b""
    i = 1
    while len(out) < length:
        c = CMAC(algorithms.AES(key))
        c.update(struct.pack(">I", i) + fixed)
        out += c.finalize()
        i += 1
    return out[:length]


@pytest.mark.parametrize("key_bytes", [16, 32])
def test_root_key_is_the_sp800_108_kdf_of_master_and_uid(key_bytes: int) -> None:
    context = UID + struct.pack(">H", 8 * key_bytes)
    fixed = LABEL_ROOT_KEY + b"\x00" + context + struct.pack(">I", 8 * key_bytes)
    assert derive_root_key(MASTER, UID, key_bytes) == _sp800_108_cmac(MASTER, fixed, key_bytes)


def test_keys_differ_per_device_and_length_and_repeat_per_device() -> None:
    ks = SecretKeystore(MASTER)
    other = UID[:-1] + b"\x02"
    assert ks.device_key(UID).root_key == ks.device_key(UID).root_key  # re-provisioning: same key
    assert ks.device_key(UID).root_key != ks.device_key(other).root_key
    k16, k32 = ks.device_key(UID, 16).root_key, ks.device_key(UID, 32).root_key
    assert len(k16) == 16 and len(k32) == 32 and not k32.startswith(k16)
    assert SecretKeystore(bytes(32)).device_key(UID).root_key != ks.device_key(UID).root_key
    assert MASTER.hex() not in repr(ks) and ks.key_id.hex() in repr(ks)
    with pytest.raises(InvalidArgumentError, match="UID must be 16 bytes"):
        ks.device_key(b"\x01" * 8)


def test_master_key_file_is_private_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    ks = SecretKeystore.generate()
    ks.write(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert read_master_file(path).device_key(UID) == ks.device_key(UID)
    with pytest.raises(InvalidArgumentError, match="exists; pass `force`"):
        ks.write(path)
    os.chmod(path, 0o644)
    with pytest.raises(InvalidArgumentError, match=r"accessible to group or others \(mode 0644\)"):
        read_master_file(path)
    os.chmod(path, 0o600)
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidArgumentError, match="checksum mismatch"):
        read_master_file(path)
    path.write_bytes(b"OOCD" + bytes(40))
    with pytest.raises(InvalidArgumentError, match="not an ooc master key file"):
        read_master_file(path)


def test_master_key_files_of_version_1_still_read(tmp_path: Path) -> None:
    """Version 1 had the manifest's magic OOCM; version 2 (OOCF) is what ooc writes now."""
    ks = SecretKeystore(MASTER)
    v2 = ks.to_bytes()
    assert v2[:5] == b"OOCF\x02"
    body = b"OOCM\x01" + v2[5:-4]
    path = tmp_path / "old.key"
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    path.chmod(0o600)
    assert read_master_file(path).device_key(UID) == ks.device_key(UID)
    body = b"OOCM\x02" + v2[5:-4]  # the old magic with the new version is neither
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    with pytest.raises(
        InvalidArgumentError,
        match=r"version 2 under magic OOCM; this ooc reads version 1 \(OOCM\) and 2 \(OOCF\)",
    ):
        read_master_file(path)


class _Tty(io.BytesIO):
    def isatty(self) -> bool:
        return True


def test_keystore_from_option_environment_or_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "master.key"
    ks = SecretKeystore(MASTER)
    ks.write(path)
    want = ks.device_key(UID)
    monkeypatch.delenv(ENV_FILE, raising=False)
    assert open_keystore(path).device_key(UID) == want
    assert open_keystore(None, io.BytesIO(ks.to_bytes())).device_key(UID) == want
    assert open_keystore(Path("-"), io.BytesIO(ks.to_bytes())).device_key(UID) == want
    with pytest.raises(InvalidArgumentError, match="no master key"):
        open_keystore(None, _Tty())
    monkeypatch.setenv(ENV_FILE, str(path))
    assert open_keystore(None, _Tty()).device_key(UID) == want
    os.chmod(path, 0o640)
    with pytest.raises(InvalidArgumentError, match="chmod 600"):
        open_keystore(None)
