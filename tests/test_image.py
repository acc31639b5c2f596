"""The secure flash image: Python packer, Python and C readers, tamper, keys, nonces, CLI."""

from __future__ import annotations

import itertools
import json
import os
import random
import stat
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import tflite
from click.testing import CliRunner

from conftest import ROOT, SUPPORTED_SHARED, shared_model
from ooc_sdk.cli import cli
from ooc_sdk.errors import (
    AuthenticationError,
    ImageFormatError,
    ImageTruncatedError,
    InvalidArgumentError,
    RollbackError,
    WrongDeviceError,
    WrongKeyError,
)
from ooc_sdk.formats import image as fmt
from ooc_sdk.image import crypto, keys
from ooc_sdk.image.pack import PackOptions, pack_image
from ooc_sdk.image.reader import open_image, public_info
from ooc_sdk.lower.prepare.conv import folds_offset, offset_folds
from ooc_sdk.model import load_model
from ooc_sdk.run.host import build_image_tool
from ooc_sdk.targets import load_flash

FLASH = load_flash("w25q128jv")
UID_A = bytes(range(16))
UID_B = bytes(range(16, 32))


@pytest.fixture(scope="module")
def tool() -> Path:
    return build_image_tool(sanitize=True)


def _device(uid: bytes = UID_A, seed: int = 1, n: int = 32) -> keys.DeviceKey:
    return keys.DeviceKey(uid, random.Random(seed).randbytes(n))


def _run_tool(tool: Path, image: bytes, device: keys.DeviceKey, tmp: Path, *extra: str) -> dict:
    path = tmp / "image.bin"
    path.write_bytes(image)
    proc = subprocess.run(
        [str(tool), str(path), device.uid.hex(), device.root_key.hex(), *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert "runtime error" not in proc.stderr and "AddressSanitizer" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def _buffers(data: bytes) -> dict[int, bytes]:
    """Independent of ooc's reader: each constant tensor's bytes, read with the tflite package."""
    model = tflite.Model.GetRootAs(data, 0)
    sub = model.Subgraphs(0)
    out = {}
    for i in range(sub.TensorsLength()):
        b = model.Buffers(sub.Tensors(i).Buffer())
        if b.Offset() > 1:
            out[i] = data[b.Offset() : b.Offset() + b.Size()]
        elif b.DataLength():
            out[i] = b.DataAsNumpy().tobytes()
    return out


# -- format (its C header: tests/test_formats.py) -------------------------------------------------


def test_format_md_documents_every_field() -> None:
    doc = (ROOT / "docs" / "FORMAT.md").read_text()
    for rec in fmt.RECORDS:
        for f in rec.fields:
            row = f"| {rec.offsets[f.name]} | {f.size} | `{f.name}` |"
            assert row in doc, f"docs/FORMAT.md lacks the {rec.name} row: {row}"
    for label in fmt.LABELS.values():
        assert f'"{label.decode()}"' in doc


def test_records_have_their_sizes() -> None:
    sizes = {rec.name: rec.size for rec in fmt.RECORDS}
    assert sizes == {
        "partition entry": 12,
        "superblock": 128,
        "key slot": 128,
        "manifest": 256,
        "chunk entry": 64,
        "signature block": 256,
        "install record": 64,
    }
    assert fmt.CHUNK_TABLE_OFFSET == 512 and fmt.CHUNK_MAC_PREFIX == 48


# -- cross-language ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", SUPPORTED_SHARED)
def test_c_reader_decrypts_every_model_byte_for_byte(name: str, tool: Path, tmp_path: Path) -> None:
    data = shared_model(name).read_bytes()
    graph = load_model(shared_model(name))
    i = SUPPORTED_SHARED.index(name)
    device = _device(seed=i, n=16 if i % 2 else 32)
    options = PackOptions(
        FLASH,
        cipher=fmt.CIPHER_AES256_CTR if i % 3 == 0 else fmt.CIPHER_AES128_CTR,
        tag_alg=fmt.TAG_POLY1305 if i % 2 else fmt.TAG_AES_CMAC,
        chunk_bytes=4096 if i % 2 else 8192,
    )
    packed = pack_image(graph, device, options)
    dump = tmp_path / "dump.bin"
    extra = ["--engine"] if i % 4 == 1 else []
    result = _run_tool(tool, packed.image, device, tmp_path, "--dump", str(dump), *extra)
    assert result["status"] == 0, result
    assert result["chunks"] == len(packed.chunks) > 0
    if extra:
        assert result["engine_calls"] > 0
    plain = dump.read_bytes()
    expected = _buffers(data)
    got: dict[int, bytearray] = defaultdict(bytearray)
    pos = 0
    for c in packed.chunks:
        assert c.tensor_offset == len(got[c.tensor])
        got[c.tensor] += plain[pos : pos + c.length]
        pos += c.length
    assert pos == len(plain)
    # every constant buffer is stored once, byte for byte
    stored_buffers = {graph.tensors[t].buffer for t in got}
    needed_buffers = {graph.tensors[t].buffer for t in expected if graph.tensors[t].is_constant}
    assert stored_buffers == needed_buffers
    # 1x1 convolutions' biases are stored with the input offset folded in (offset_folds):
    # bias - zero_point * sum(w) per output channel, here from the independently read bytes
    folds = offset_folds(graph)
    for op in graph.operators:
        if folds_offset(graph, op):
            w_t, b_t = op.inputs[1], op.inputs[2]
            w = np.frombuffer(expected[w_t], np.int8).reshape(graph.tensor(w_t).shape[0], -1)
            zp = int(graph.tensor(op.inputs[0]).quant.zero_point[0])  # type: ignore[union-attr]
            want = np.frombuffer(expected[b_t], np.int32) - zp * w.astype(np.int64).sum(axis=1)
            assert folds[b_t].tobytes() == want.astype(np.int32).tobytes()
    for t, blob in got.items():
        assert bytes(blob) == (folds[t].tobytes() if t in folds else expected[t]), t
    # the Python reader agrees
    verified = open_image(packed.image, device)
    assert b"".join(p for _, p in verified.chunks()) == plain


# -- tamper --------------------------------------------------------------------------------------


def _protected_bits(image: bytes) -> list[int]:
    info = public_info(image)
    kinds = {"superblock", "manifest", "chunk_table", "header_tag", "chunk"}
    return [
        8 * r["offset"] + b
        for r in info.regions()
        if r["kind"] in kinds
        for b in range(8 * r["length"])
    ]


@pytest.mark.slow
def test_every_bit_of_a_small_image_is_protected(tool: Path, tmp_path: Path) -> None:
    device = _device()
    graph = load_model(shared_model("hello_world_int8.tflite"))
    for tag in (fmt.TAG_AES_CMAC, fmt.TAG_POLY1305):
        packed = pack_image(graph, device, PackOptions(FLASH, tag_alg=tag, chunk_bytes=512))
        bits = _protected_bits(packed.image)
        assert len(bits) > 9_000  # superblock, manifest, table, header tag and all chunks
        (tmp_path / "bits.txt").write_text("\n".join(map(str, bits)))
        result = _run_tool(
            tool, packed.image, device, tmp_path, "--tamper", str(tmp_path / "bits.txt")
        )
        assert result["trials"] == len(bits)
        assert result["undetected"] == 0 and result["detected"] == len(bits), result


@pytest.mark.slow
def test_sampled_bits_of_a_large_image_are_protected(tool: Path, tmp_path: Path) -> None:
    device = _device()
    graph = load_model(shared_model("mobilenet_v2_quantized_1x3x224x224.tflite"))
    packed = pack_image(graph, device, PackOptions(FLASH))
    info = public_info(packed.image)
    rng = random.Random(7)
    header = [r for r in info.regions() if r["kind"] in ("superblock", "manifest", "chunk_table")]
    chunks = [r for r in info.regions() if r["kind"] == "chunk"]
    bits = set()
    for r in header:  # every header record gets samples
        bits.update(8 * r["offset"] + rng.randrange(8 * r["length"]) for _ in range(700))
    while len(bits) < 10_000:
        r = rng.choice(chunks)
        bits.add(8 * r["offset"] + rng.randrange(8 * r["length"]))
    (tmp_path / "bits.txt").write_text("\n".join(map(str, sorted(bits))))
    result = _run_tool(tool, packed.image, device, tmp_path, "--tamper", str(tmp_path / "bits.txt"))
    assert result["trials"] == len(bits) >= 10_000
    assert result["undetected"] == 0, result
    # The Python reader rejects a sample of the same flips.
    for bit in rng.sample(sorted(bits), 200):
        damaged = bytearray(packed.image)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises((AuthenticationError, ImageFormatError, ImageTruncatedError)):
            verified = open_image(bytes(damaged), device)
            for _ in verified.chunks():
                pass


# -- distinct errors -----------------------------------------------------------------------------


def test_each_failure_has_its_own_code_and_message(tool: Path, tmp_path: Path) -> None:
    graph = load_model(shared_model("kws_ref_model.tflite"))
    dev_a = _device(UID_A, 1)
    packed = pack_image(graph, dev_a, PackOptions(FLASH, security_counter=5))
    cases = {
        "wrong key": (packed.image, _device(UID_A, 2), [], WrongKeyError, -10),
        "other device": (packed.image, _device(UID_B, 1), [], WrongDeviceError, -11),
        "truncated": (packed.image[:-4096], dev_a, [], ImageTruncatedError, -8),
        "rollback": (packed.image, dev_a, ["--min-counter", "6"], RollbackError, -12),
    }
    other_build = pack_image(graph, dev_a, PackOptions(FLASH, security_counter=5))
    swapped = bytearray(packed.image)
    swapped[fmt.KEY_SLOT_OFFSET : fmt.KEY_SLOT_OFFSET + fmt.KEY_SLOT.size] = other_build.key_slot
    cases["key slot of another build"] = (bytes(swapped), dev_a, [], AuthenticationError, -9)
    cases["not an image"] = (b"\x00" * 8192, dev_a, [], ImageFormatError, -7)
    for what, (image, device, extra, error, code) in cases.items():
        result = _run_tool(tool, image, device, tmp_path, *extra)
        assert result["status"] == code, (what, result)
        assert error.code == code
        minimum = int(extra[1]) if extra else 0
        with pytest.raises(error):
            open_image(image, device, min_security_counter=minimum)
    assert _run_tool(tool, packed.image, dev_a, tmp_path, "--min-counter", "5")["status"] == 0
    messages = {c: _run_tool(tool, i, d, tmp_path, *e)["error"] for i, d, e, _, c in cases.values()}
    assert len(set(messages.values())) == len(messages)


# -- keys and nonces -----------------------------------------------------------------------------


def test_no_key_counter_block_is_used_twice() -> None:
    """Record every (key, counter block) while packing all models, both tag algorithms."""
    spans: dict[bytes, list[tuple[int, int]]] = defaultdict(list)

    def observe(key: bytes, block: bytes, n: int) -> None:
        start = int.from_bytes(block, "big")
        spans[key].append((start, start + n))

    crypto.ctr_observer = observe
    try:
        device = _device()
        total = 0
        for name in SUPPORTED_SHARED:
            graph = load_model(shared_model(name))
            for tag in (fmt.TAG_AES_CMAC, fmt.TAG_POLY1305):
                packed = pack_image(graph, device, PackOptions(FLASH, tag_alg=tag))
                total += len(packed.chunks)
    finally:
        crypto.ctr_observer = None
    assert total > 1000
    assert len(spans) == 2 * len(SUPPORTED_SHARED)  # one encryption key per image build
    blocks = 0
    for key, used in spans.items():
        used.sort()
        for (_, end), (start, _) in itertools.pairwise(used):
            assert start >= end, f"keystream reuse under key {key.hex()[:8]}.."
        blocks += sum(e - s for s, e in used)
    assert blocks > 200_000


def test_content_key_never_stored_in_plaintext(tmp_path: Path) -> None:
    graph = load_model(shared_model("kws_ref_model.tflite"))
    device = _device()
    content_key = random.Random(3).randbytes(16)
    packed = pack_image(graph, device, PackOptions(FLASH), content_key=content_key)
    blob = packed.image + packed.key_slot + json.dumps(packed.manifest).encode()
    for secret in (
        content_key,
        device.root_key,
        device.kek(public_info(packed.image).superblock["build_id"]),
    ):
        assert secret not in blob and secret.hex().encode() not in blob
    assert open_image(packed.image, device).chunk(0)  # and the image is still usable


def test_key_file_round_trip_and_permissions(tmp_path: Path) -> None:
    key = keys.generate(keys.parse_uid("0a:0b:0c"), 16)
    assert key.uid == bytes(13) + b"\x0a\x0b\x0c"
    path = tmp_path / "dev.key"
    keys.write_key_file(path, key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys.read_key_file(path) == key
    assert key.root_key.hex() not in repr(key)
    with pytest.raises(InvalidArgumentError, match="exists"):
        keys.write_key_file(path, key)
    os.chmod(path, 0o640)
    with pytest.raises(InvalidArgumentError, match="chmod 600"):
        keys.read_key_file(path)
    os.chmod(path, 0o600)
    raw = bytearray(path.read_bytes())
    raw[30] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(InvalidArgumentError, match="damaged"):
        keys.read_key_file(path)
    with pytest.raises(InvalidArgumentError, match="not hex"):
        keys.parse_uid("xyz")


def test_pack_refuses_an_image_that_does_not_fit() -> None:
    graph = load_model(shared_model("mobilenet_v2_quantized_1x3x224x224.tflite"))
    small = load_flash("mx25r6435f")
    with pytest.raises(InvalidArgumentError, match="needs"):
        pack_image(graph, _device(), PackOptions(small, base_offset=small.size_bytes - 1 << 20))
    with pytest.raises(InvalidArgumentError, match="sector"):
        pack_image(graph, _device(), PackOptions(FLASH, scratch_bytes=1000))
    with pytest.raises(InvalidArgumentError, match="at least 3 sectors"):
        pack_image(graph, _device(), PackOptions(FLASH, metadata_sectors=2))
    tiny = load_flash("w25q128jv").__class__(**{**FLASH.__dict__, "sector_bytes": 256})
    with pytest.raises(InvalidArgumentError, match="cannot hold"):
        pack_image(graph, _device(), PackOptions(tiny, metadata_sectors=3))


# -- CLI -----------------------------------------------------------------------------------------


def test_cli_keygen_pack_verify_dumpinfo(tmp_path: Path) -> None:
    from intelhex import IntelHex

    runner = CliRunner()
    key, other = tmp_path / "dev.key", tmp_path / "other.key"
    out = tmp_path / "out"
    model = shared_model("kws_ref_model.tflite")
    r = runner.invoke(cli, ["keygen", "-o", str(key), "--uid", "00112233"])
    assert r.exit_code == 0 and "00112233" in r.output
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    runner.invoke(cli, ["keygen", "-o", str(other), "--uid", "00112233"])
    r = runner.invoke(
        cli,
        [
            "pack",
            str(model),
            "--device-key",
            str(key),
            "-o",
            str(out),
            "--tag",
            "poly1305",
            "--security-counter",
            "3",
            "--hex-base",
            "0x90000000",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert sorted(Path(p).name for p in info["files"].values()) == [
        "image.bin",
        "image.hex",
        "keyslot.bin",
        "manifest.json",
    ]
    image = (out / "image.bin").read_bytes()
    hexed = IntelHex(str(out / "image.hex"))
    assert hexed.minaddr() == 0x90000000 and hexed.tobinstr(0x90000000, size=len(image)) == image
    assert (out / "keyslot.bin").read_bytes() == image[128:256]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["security_counter"] == 3 and manifest["tag"] == "poly1305"

    r = runner.invoke(cli, ["verify", str(out), "--device-key", str(key), "--model", str(model)])
    assert r.exit_code == 0 and r.output.startswith("OK")
    r = runner.invoke(cli, ["dumpinfo", str(out), "--json"])
    assert r.exit_code == 0
    dump = json.loads(r.output)
    pos = 0
    for region in dump["regions"]:
        assert region["offset"] == pos and region["length"] > 0
        assert set(region) >= {"offset", "length", "kind", "authenticated"}
        pos += region["length"]
    assert pos == len(image) == dump["image_bytes"]
    auth = {r["kind"] for r in dump["regions"] if r["authenticated"]}
    assert auth == {"superblock", "manifest", "chunk_table", "header_tag", "chunk"}
    assert runner.invoke(cli, ["dumpinfo", str(out)]).exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--device-key", "{other}"], "wrong device key"),
        (["--device-key", "{key}", "--min-security-counter", "4"], "rollback"),
        (["--device-key", "{key}", "--model", "{wrong_model}"], "expected"),
        (["--device-key", "{third}"], "wrapped for another device"),
    ],
)
def test_cli_verify_failures_are_one_line_exit_2(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ooc_sdk.cli import main

    key, other, out = tmp_path / "dev.key", tmp_path / "other.key", tmp_path / "out"
    model = shared_model("kws_ref_model.tflite")
    assert main(["keygen", "-o", str(key), "--uid", "01"]) == 0
    assert main(["keygen", "-o", str(other), "--uid", "01"]) == 0
    assert main(["keygen", "-o", str(tmp_path / "third.key"), "--uid", "02"]) == 0
    assert (
        main(
            [
                "pack",
                str(model),
                "--device-key",
                str(key),
                "-o",
                str(out),
                "--security-counter",
                "3",
            ]
        )
        == 0
    )
    capsys.readouterr()
    fill = {
        "key": key,
        "other": other,
        "third": tmp_path / "third.key",
        "wrong_model": shared_model("ad01_int8.tflite"),
    }
    code = main(["verify", str(out), *[a.format(**fill) for a in args]])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_cli_verify_reports_a_damaged_chunk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ooc_sdk.cli import main

    key, out = tmp_path / "dev.key", tmp_path / "out"
    assert main(["keygen", "-o", str(key)]) == 0
    assert (
        main(
            [
                "pack",
                str(shared_model("kws_ref_model.tflite")),
                "--device-key",
                str(key),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    image = bytearray((out / "image.bin").read_bytes())
    chunk = public_info(bytes(image)).entries[3]
    image[chunk["flash_offset"] + 5] ^= 0x10
    (out / "image.bin").write_bytes(bytes(image))
    capsys.readouterr()
    assert main(["verify", str(out), "--device-key", str(key)]) == 2
    assert "chunk 3" in capsys.readouterr().err
    (out / "image.bin").write_bytes(bytes(image[:300]))
    assert main(["verify", str(out), "--device-key", str(key)]) == 2
    assert "truncated" in capsys.readouterr().err
