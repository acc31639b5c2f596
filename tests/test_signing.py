"""Signed images (docs/FORMAT.md, "Signed images"): one device's secrets forge nothing for
another device of its batch, on the host's C runtime, in ``ooc verify`` and on the Cortex-M4;
device install tags; the anti-rollback ratchet."""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.errors import RollbackError, SignatureError
from ooc_sdk.formats import image as fmt
from ooc_sdk.formats.keystore import KEYSTORE, keystore_record
from ooc_sdk.image import crypto, keys
from ooc_sdk.image.pack import PackOptions, pack_image, personalize
from ooc_sdk.image.reader import open_image, parse_image
from ooc_sdk.image.scheme import chunk_tag, content_subkeys
from ooc_sdk.image.signing import SigningKey, public_pem
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.run.golden import run_tflm
from ooc_sdk.run.host import build_image_tool, run_build
from ooc_sdk.run.qemu import run_build_m4
from ooc_sdk.targets import load_flash, load_mcu

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ooc_cli, shared_model

FLASH = load_flash("w25q128jv")
M4 = load_mcu("cortex-m4")
VENDOR = SigningKey.generate()
A = keys.DeviceKey(bytes(range(16)), random.Random(1).randbytes(32), (VENDOR.public_key,))
B = keys.DeviceKey(bytes(range(16, 32)), random.Random(2).randbytes(32), (VENDOR.public_key,))


def forge(image: bytes, thief: keys.DeviceKey, counter: int = 0xFFFFFFFF) -> bytes:
    """What an attacker holding ``thief``'s key storage does to another device's flash: unwrap
    the batch content key from the thief's own slot of the same build, re-encrypt and re-tag
    chunk 0 with changed weights, raise the security counter, re-tag the header. The victim's
    key slot stays."""
    info = parse_image(image)
    build_id = info.superblock["build_id"]
    ck = THIEF_CONTENT_KEYS[build_id]  # steal_content_key(): from the thief's own key slot
    k_hdr, k_enc, k_mac = content_subkeys(ck, build_id)
    out = bytearray(image)
    e = fmt.CHUNK_ENTRY.unpack(out, fmt.CHUNK_TABLE_OFFSET)
    off, n = e["flash_offset"], e["length"]
    block = fmt.counter_block(e["nonce"], fmt.DATA_COUNTER_START)
    plain = bytearray(crypto.aes_ctr(k_enc, block, bytes(out[off : off + n])))
    plain[0] ^= 0x55  # the attacker's weights
    ct = crypto.aes_ctr(k_enc, block, bytes(plain))
    out[off : off + n] = ct
    prefix = bytes(out[fmt.CHUNK_TABLE_OFFSET : fmt.CHUNK_TABLE_OFFSET + fmt.CHUNK_MAC_PREFIX])
    tag = chunk_tag(info.manifest["tag_alg"], k_enc, k_mac, e["nonce"], prefix, ct)
    out[fmt.CHUNK_TABLE_OFFSET + fmt.CHUNK_MAC_PREFIX : fmt.CHUNK_TABLE_OFFSET + 64] = tag
    mf = fmt.MANIFEST.unpack(out, fmt.MANIFEST_OFFSET)
    mf["security_counter"] = counter
    out[fmt.MANIFEST_OFFSET : fmt.MANIFEST_OFFSET + fmt.MANIFEST.size] = fmt.MANIFEST.pack(**mf)
    forged = parse_image(bytes(out))
    htag = crypto.cmac(k_hdr, forged.authenticated_bytes())
    out[mf["header_tag_offset"] : mf["header_tag_offset"] + fmt.TAG_BYTES] = htag
    return bytes(out)


THIEF_CONTENT_KEYS: dict[bytes, bytes] = {}


def steal_content_key(image_of_thief: bytes, thief: keys.DeviceKey) -> None:
    """Device A's key storage opens A's own key slot: the batch's content key."""
    info = parse_image(image_of_thief)
    ks, build_id = info.key_slot, info.superblock["build_id"]
    wrapped = ks["wrapped_key"][: ks["content_key_bytes"] + 8]
    THIEF_CONTENT_KEYS[build_id] = crypto.key_unwrap(thief.kek(build_id), wrapped)


@pytest.fixture(scope="module")
def tool() -> Path:
    return build_image_tool(sanitize=True)


def _tool(tool: Path, path: Path, dev: keys.DeviceKey, *extra: str) -> dict:
    proc = subprocess.run(
        [str(tool), str(path), dev.uid.hex(), dev.root_key.hex(), *extra],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    return json.loads(proc.stdout)


@pytest.mark.parametrize("tag_alg", [fmt.TAG_AES_CMAC, fmt.TAG_POLY1305])
def test_one_devices_keys_forge_nothing_for_another(
    tool: Path, tmp_path: Path, tag_alg: int
) -> None:
    graph = load_model(shared_model("kws_ref_model.tflite"))
    options = PackOptions(FLASH, tag_alg=tag_alg, signing_key=VENDOR)
    batch = pack_image(graph, None, options, content_key=bytes(range(16)))
    ck = bytes(range(16))
    image_a, image_b = personalize(batch.image, A, ck), personalize(batch.image, B, ck)
    steal_content_key(image_a, A)
    forged = forge(image_b, A)
    anchor = ["--anchor", VENDOR.public_key.hex(), "--install"]
    path = tmp_path / "b.bin"
    # Without anchors the batch tags are all the device checks: the forgery mounts (the threat).
    path.write_bytes(forged)
    assert _tool(tool, path, B)["status"] == 0
    # With the vendor's key as its anchor, B's C runtime refuses it at mount ...
    assert _tool(tool, path, B, *anchor)["status"] == fmt_err("ERR_SIGNATURE")
    # ... and so does ooc verify, in Python.
    with pytest.raises(SignatureError):
        open_image(forged, B, trust_anchors=B.anchors)
    # The genuine image installs and reads; then B's flash swapped chunk bytes fail the device
    # tags, and A's install tags (A installed the same image) do not open on B.
    path.write_bytes(image_b)
    assert _tool(tool, path, B, *anchor, "--write-back")["status"] == 0
    installed_b = path.read_bytes()
    assert _tool(tool, path, B, "--anchor", VENDOR.public_key.hex())["status"] == 0
    path_a = tmp_path / "a.bin"
    path_a.write_bytes(image_a)
    assert _tool(tool, path_a, A, *anchor, "--write-back")["status"] == 0
    off, n = parse_image(installed_b).partition(fmt.PART_INSTALL)
    tags_from_a = bytearray(installed_b)
    tags_from_a[off + 64 : off + n] = path_a.read_bytes()[off + 64 : off + n]
    path.write_bytes(bytes(tags_from_a))
    got = _tool(tool, path, B, "--anchor", VENDOR.public_key.hex())
    assert got["status"] == fmt_err("ERR_AUTH")
    # A forged install on top of B's installed flash: the record is B's, the chunk is not.
    path.write_bytes(forge(installed_b, A, counter=0))
    assert _tool(tool, path, B, *anchor)["status"] == fmt_err("ERR_SIGNATURE")


def fmt_err(name: str) -> int:
    from ooc_sdk.formats import errors

    return errors.CODES[name]


def test_an_unsigned_image_or_another_signer_is_refused(tool: Path, tmp_path: Path) -> None:
    graph = load_model(shared_model("kws_ref_model.tflite"))
    path = tmp_path / "b.bin"
    path.write_bytes(pack_image(graph, B, PackOptions(FLASH)).image)
    anchor = ["--anchor", VENDOR.public_key.hex(), "--install"]
    assert _tool(tool, path, B, *anchor)["status"] == fmt_err("ERR_SIGNATURE")
    other = SigningKey.generate()
    path.write_bytes(pack_image(graph, B, PackOptions(FLASH, signing_key=other)).image)
    assert _tool(tool, path, B, *anchor)["status"] == fmt_err("ERR_SIGNATURE")
    # key rotation: a device holding both anchors accepts either signer
    both = [*anchor, "--anchor", other.public_key.hex()]
    assert _tool(tool, path, B, *both)["status"] == 0


def test_the_ratchet_needs_a_signed_image(tool: Path, tmp_path: Path) -> None:
    graph = load_model(shared_model("kws_ref_model.tflite"))
    path, out = tmp_path / "b.bin", tmp_path / "counter.txt"
    path.write_bytes(pack_image(graph, B, PackOptions(FLASH, security_counter=5)).image)
    got = _tool(tool, path, B, "--commit-out", str(out))
    assert got["status"] == fmt_err("ERR_SIGNATURE") and not out.exists()
    signed = PackOptions(FLASH, security_counter=5, signing_key=VENDOR)
    path.write_bytes(pack_image(graph, B, signed).image)
    anchor = ["--anchor", VENDOR.public_key.hex(), "--install", "--commit-out", str(out)]
    assert _tool(tool, path, B, *anchor)["status"] == 0
    assert out.read_text().strip() == "5"
    assert _tool(tool, path, B, *anchor, "--min-counter", "6")["status"] == fmt_err("ERR_ROLLBACK")


@pytest.fixture(scope="module")
def signed_build(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = shared_model("kws_ref_model.tflite")
    graph = load_model(path)
    out = tmp_path_factory.mktemp("signed") / "out"
    req = PlanRequest(budget=64 * 1024, flash=FLASH, mcu=M4)
    build(graph, path.read_bytes(), out, B, BuildRequest(req, security_counter=5,
          signing_key=VENDOR))  # fmt: skip
    return out, graph


def test_forgery_refused_and_counter_ratchets_on_the_m4(signed_build, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, graph = signed_build
    x = random_inputs(graph, 0)
    keystore = tmp_path / "keystore.bin"
    keystore.write_bytes(keystore_record(B.uid, B.root_key, 0, B.anchors))
    flash = tmp_path / "flash.bin"
    pristine = (out / "flash.bin").read_bytes()
    image_bytes = parse_image(pristine).superblock["image_bytes"]
    # A device of B's batch would open the same content key from its own slot; B's slot
    # stands in for it here (B's build has one device).
    steal_content_key(pristine[:image_bytes], B)
    forged = forge(pristine[:image_bytes], B)
    flash.write_bytes(forged + pristine[image_bytes:])
    with pytest.raises(SignatureError, match="refused at mount"):
        run_build_m4(out, graph, B, [x], flash_file=flash, keystore=keystore)
    # genuine: installs on first boot, runs bit-exact, and ratchets the counter to 5
    flash.write_bytes(pristine)
    got = run_build_m4(out, graph, B, [x], flash_file=flash, keystore=keystore)
    want = run_tflm(shared_model("kws_ref_model.tflite"), x)
    for g, w in zip(got.outputs[0], want.outputs, strict=True):
        assert g.dtype == w.dtype and g.tobytes() == w.tobytes()
    assert KEYSTORE.unpack(keystore.read_bytes())["security_counter"] == 5
    # a validly signed image with counter 4 is now refused
    older = tmp_path / "older"
    req = PlanRequest(budget=64 * 1024, flash=FLASH, mcu=M4)
    path = shared_model("kws_ref_model.tflite")
    build(graph, path.read_bytes(), older, B, BuildRequest(req, security_counter=4,
          signing_key=VENDOR))  # fmt: skip
    with pytest.raises(RollbackError):
        run_build_m4(older, graph, B, [x], keystore=keystore)


def test_signed_build_installs_and_forgery_is_refused_by_the_host_runner(  # type: ignore[no-untyped-def]
    signed_build, tmp_path: Path
) -> None:
    out, graph = signed_build
    x = random_inputs(graph, 1)
    pristine = (out / "flash.bin").read_bytes()
    image_bytes = parse_image(pristine).superblock["image_bytes"]
    steal_content_key(pristine[:image_bytes], B)
    flash = tmp_path / "flash.bin"
    flash.write_bytes(forge(pristine[:image_bytes], B) + pristine[image_bytes:])
    with pytest.raises(SignatureError):
        run_build(out, graph, B, [x], flash_file=flash)
    flash.write_bytes(pristine)
    got = run_build(out, graph, B, [x], flash_file=flash, sanitize=True)
    want = run_tflm(shared_model("kws_ref_model.tflite"), x)
    for g, w in zip(got.outputs[0], want.outputs, strict=True):
        assert g.dtype == w.dtype and g.tobytes() == w.tobytes()
    installed = flash.read_bytes()
    off, n = parse_image(installed).partition(fmt.PART_INSTALL)
    assert installed[off : off + 4] == fmt.INSTALL_MAGIC and pristine[off : off + n] == b"\xff" * n
    # installed once: the next boot reads the same record and writes nothing
    again = run_build(out, graph, B, [x], flash_file=flash)
    assert [a.tobytes() for a in again.outputs[0]] == [a.tobytes() for a in got.outputs[0]]
    assert flash.read_bytes() == installed


def test_cli_signing_key_keygen_build_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ooc_sdk.cli import main

    vendor = tmp_path / "vendor.key"
    assert main(["signing-key", "-o", str(vendor)]) == 0
    assert (vendor.stat().st_mode & 0o777) == 0o600 and vendor.with_suffix(".pub").is_file()
    capsys.readouterr()
    assert main(["signing-key", "-o", str(vendor)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0]
    dev = tmp_path / "dev.key"
    anchor = str(vendor.with_suffix(".pub"))
    assert main(["keygen", "-o", str(dev), "--trust-anchor", anchor]) == 0
    assert "trust anchor" in capsys.readouterr().out
    assert keys.read_key_file(dev).anchors
    model = str(shared_model("kws_ref_model.tflite"))
    signed, unsigned = tmp_path / "signed", tmp_path / "unsigned"
    base = ["pack", model, "--device-key", str(dev)]
    assert main([*base, "-o", str(signed), "--signing-key", str(vendor)]) == 0
    assert main([*base, "-o", str(unsigned)]) == 0
    capsys.readouterr()
    assert main(["verify", str(signed), "--device-key", str(dev)]) == 0
    assert "signed by trusted key id" in capsys.readouterr().out
    assert main(["verify", str(unsigned), "--device-key", str(dev)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not signed" in err[0]
    assert main(["dumpinfo", str(signed), "--json"]) == 0
    kinds = [r["kind"] for r in json.loads(capsys.readouterr().out)["regions"]]
    assert "signature" in kinds and "install" in kinds
    plain = dataclasses.replace(keys.read_key_file(dev), anchors=())
    assert open_image((unsigned / "image.bin").read_bytes(), plain).info.signed is False


def test_a_provisioned_batch_device_refuses_a_batch_mates_forgery_on_the_m4(
    tmp_path: Path,
) -> None:
    """The acceptance case exactly: device A's key storage, device B's flash, re-tagged weights
    and counter, B's key slot: B's firmware refuses it at mount; `ooc verify` too."""
    from ooc_sdk.image.keystore import SecretKeystore
    from ooc_sdk.provisioning.programmers import qemu_device_dir
    from ooc_sdk.provisioning.registry import Registry

    path = shared_model("kws_ref_model.tflite")
    graph = load_model(path)
    factory = SecretKeystore(bytes(range(32)))
    master = tmp_path / "master.key"
    factory.write(master)
    out, line, reg = tmp_path / "batch", tmp_path / "line", tmp_path / "reg.sqlite"
    req = PlanRequest(budget=32 * 1024, flash=FLASH, mcu=M4)
    build(graph, path.read_bytes(), out, None, BuildRequest(req, signing_key=VENDOR),
          keystore=factory)  # fmt: skip
    pub = tmp_path / "vendor.pub"
    pub.write_bytes(public_pem(VENDOR.public_key))
    base = ["provision", "run", "--image", str(out), "--programmer", "qemu", "--master-key",
            str(master), "--registry", str(reg), "--out", str(line)]  # fmt: skip
    proc = ooc_cli(*base, "--count", "2")
    assert proc.returncode == 2 and "no --trust-anchor" in proc.stderr  # a signed batch needs one
    proc = ooc_cli(*base, "--count", "2", "--trust-anchor", str(pub))
    assert proc.returncode == 0, proc.stderr
    with Registry.open(reg, create=False) as registry:
        uids = [bytes.fromhex(d.uid) for d in registry.devices("verified")]
    dev_a, dev_b = (qemu_device_dir(line, u) for u in uids)
    key_a = keys.DeviceKey(uids[0], factory.device_key(uids[0]).root_key)  # A's key storage
    flash_b = (dev_b / "flash.bin").read_bytes()
    image_bytes = parse_image(flash_b).superblock["image_bytes"]
    steal_content_key((dev_a / "flash.bin").read_bytes()[:image_bytes], key_a)
    forged = forge(flash_b[:image_bytes], key_a)
    (tmp_path / "forged.bin").write_bytes(forged + flash_b[image_bytes:])
    key_b = dataclasses.replace(factory.device_key(uids[1]), anchors=(VENDOR.public_key,))
    x = random_inputs(graph, 2)
    with pytest.raises(SignatureError, match="refused at mount"):
        run_build_m4(out, graph, key_b, [x], flash_file=tmp_path / "forged.bin",
                     keystore=dev_b / "keystore.bin")  # fmt: skip
    with pytest.raises(SignatureError):
        open_image(forged, key_b, trust_anchors=key_b.anchors)
    got = run_build_m4(out, graph, key_b, [x], flash_file=dev_b / "flash.bin",
                       keystore=dev_b / "keystore.bin")  # fmt: skip
    want = run_tflm(path, x)
    for g, w in zip(got.outputs[0], want.outputs, strict=True):
        assert g.dtype == w.dtype and g.tobytes() == w.tobytes()
