"""The activation spill ring (c_runtime/src/spill.c) on the host NOR flash emulator.

The C driver tests/c/test_spill.c (built here with ASan and UBSan) runs the ring and prints one
JSON object per mode. This file asserts the issue's acceptance figures on it, and checks the
byte format of docs/spill.md independently: a Python model of the ring's cost predicts every
inference's programs and erases, and a flash dump is parsed, decrypted and verified with the
`cryptography` package.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import cmac as _cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFCMAC, CounterLocation, Mode
from cryptography.hazmat.primitives.poly1305 import Poly1305

from conftest import ROOT, spill_ring_sources
from ooc_sdk.codegen.runtime import runtime_paths
from ooc_sdk.plan import spill as ring
from ooc_sdk.toolchain import SANITIZE, WARNINGS

INCLUDE = ROOT / "c_runtime" / "include"
HOST = ROOT / "c_runtime" / "ports" / "host"
# the ring (spill.c, spill_ring.c), the port's checks (port.c) and the crypto it uses
RING = [p for p in runtime_paths() if p.name.startswith(("spill", "port."))]
SPILL = spill_ring_sources()
DRIVER = ROOT / "tests" / "c" / "test_spill.c"
ARM = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]

# docs/spill.md, "Byte format"
SH, RH, TAG, ALIGN = 32, 32, 16, 16
SLOT_XOR = 0x7FFFFFFF
RECORD_DATA, RECORD_BOOT = 1, 2
# tests/c/test_spill.c: the device identity and the spilling build's pattern
ROOT_KEY = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
UID = bytes(8) + bytes.fromhex("1122334455667788")
PATTERN = [(3, 0, 1500), (3, 1, 1500), (7, 0, 700), (9, 0, 333)]
INFERENCES = 10_000


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("spill") / "test_spill"
    cmd = ["cc", *WARNINGS, *SANITIZE, f"-I{INCLUDE}", f"-I{HOST}"]
    cmd += [str(DRIVER), *map(str, SPILL), str(HOST / "ooc_nor_emu.c"), "-lm"]
    proc = subprocess.run([*cmd, "-o", str(exe)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return exe


def run(exe: Path, *args: str) -> dict:
    proc = subprocess.run(
        [str(exe), *args], capture_output=True, text=True, check=False, timeout=300
    )
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["failed"] == 0 and out["passed"] > 0, proc.stderr
    return out


# -- a Python model of the ring's flash traffic (docs/spill.md, "Cost") ---------------------------


record_bytes = ring.record_bytes


def predict(page: int, sector: int, pos: int, lens: list[int]) -> tuple[tuple[int, int, int], int]:
    """(bytes programmed, page programs, erases) of appending records of `lens` at write offset
    `pos` of the head sector, and the offset afterwards: the SDK's ring model
    (ooc_sdk/plan/spill.py, which the planner uses)."""
    cost, pos = ring.predict(page, sector, pos, lens)
    return (cost.bytes_programmed, cost.page_programs, cost.erases), pos


def cycle(page: int, sector: int, pos: int, lens: list[int]) -> tuple[int, int, list]:
    """The steady state (ring.cycle): (inferences before it, its length, the costs around it)."""
    start, costs = ring.cycle(page, sector, pos, lens)
    return start, len(costs), [(c.bytes_programmed, c.page_programs, c.erases) for c in costs]


# -- an independent reader of the byte format (docs/spill.md) -----------------------------------


def kdf(label: bytes, boot: int, n: int = 32) -> bytes:
    return KBKDFCMAC(
        algorithm=algorithms.AES,
        mode=Mode.CounterMode,
        length=n,
        rlen=4,
        llen=4,
        location=CounterLocation.BeforeFixed,
        label=label,
        context=UID + struct.pack("<I", boot) + bytes(16),
        fixed=None,
    ).derive(ROOT_KEY)


def ctr(key: bytes, boot: int, seq: int, block: int, data: bytes) -> bytes:
    iv = struct.pack("<IQ", boot, seq) + struct.pack(">I", block)
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def tag_of(alg: str, boot: int, seq: int, message: bytes) -> bytes:
    if alg == "cmac":
        c = _cmac.CMAC(algorithms.AES(kdf(b"ooc spill mac", boot)))
        c.update(message)
        return c.finalize()
    otk = ctr(kdf(b"ooc spill enc", boot), boot, seq, 0, bytes(32))
    return Poly1305.generate_tag(otk, message)


def plaintext(inference: int, i: int, n: int) -> bytes:
    """tests/c/test_spill.c fill(): xorshift64* seeded by (inference, tile index)."""
    mask = (1 << 64) - 1
    s = ((inference + 1) * 0x100000001B3 + ((i * 0x9E3779B1) & 0xFFFFFFFF) + 1) & mask
    out = bytearray()
    for _ in range(n):
        s ^= s >> 12
        s = (s ^ (s << 25)) & mask
        s ^= s >> 27
        out.append(((s * 0x2545F4914F6CDD1D) & mask) >> 56)
    return bytes(out)


def parse_sector(raw: bytes) -> dict | None:
    magic, version, reserved, hbytes, count, ring_seq, boot, crc, nxt, check = struct.unpack_from(
        "<4sBBHIIIIII", raw
    )
    if magic != b"OOCS" or version != 1 or reserved or hbytes != SH or ring_seq == 0:
        return None
    if crc != zlib.crc32(raw[:20]):
        return None
    slot = None if raw[24:32] == b"\xff" * 8 else (nxt if check == nxt ^ SLOT_XOR else "bad")
    return {"erase_count": count, "ring_seq": ring_seq, "boot": boot, "next_count": slot}


def parse_records(raw: bytes, sector: int) -> list[dict]:
    out, pos = [], SH
    while pos + RH <= sector and raw[pos : pos + RH] != b"\xff" * RH:
        h = raw[pos : pos + RH]
        kind, version, reserved, length, boot, tensor, tile, seq, crc = struct.unpack(
            "<BBHIIIIQI", h
        )
        assert crc == zlib.crc32(h[:28]) and version == 1 and reserved == 0, pos
        rec = {"type": kind, "offset": pos, "length": length, "boot": boot, "seq": seq}
        if kind == RECORD_DATA:
            rec.update(
                tensor=tensor,
                tile=tile,
                header=h,
                ciphertext=raw[pos + RH : pos + RH + length],
                tag=raw[pos + RH + length : pos + RH + length + TAG],
            )
            pos += record_bytes(length)
        else:
            assert kind == RECORD_BOOT and length == 0 and seq == tensor == tile == 0
            pos += RH
        out.append(rec)
    assert raw[pos:] == b"\xff" * (sector - pos)  # free space is erased
    return out


# -- tests ----------------------------------------------------------------------------------------


def test_c_unit_tests(driver: Path) -> None:
    out = run(driver, "unit")
    # The rollback threat and its answers (docs/spill.md, "Keys"): with only the counter kept
    # on the untrusted flash, wiping the partition makes the boot number repeat, and a spill of
    # the earlier boot with that number replays; a TRNG salt or a trusted min_boot stops it.
    assert out["rollback_replay_accepted"] == {
        "counter_only": True,
        "salt": False,
        "min_boot": False,
    }
    # Boot numbers at the counter's limit forged into the ring (a sector header and a boot
    # record, CRCs valid): with min_boot from trusted storage the boots are min_boot, 2 and then
    # 3 (the genuine flash restored), and every inference reads back right; without trusted
    # storage the ring believes them and the next mount is exhausted (the documented limit).
    assert out["forged_boot_numbers"] == {"trusted_boots": [2, 3], "untrusted_boot": 0}


@pytest.mark.parametrize("compiler", ["gcc", "arm-none-eabi-gcc"])
def test_builds_warning_free(compiler: str, tmp_path: Path) -> None:
    if shutil.which(compiler) is None:
        pytest.fail(f"{compiler} is not installed (.ci/run installs it)", pytrace=False)
    cc = ARM if compiler.startswith("arm") else ["gcc"]
    for opt, src in ((o, s) for o in ("-O0", "-O2", "-Os") for s in RING):
        cmd = [*cc, *WARNINGS, opt, f"-I{INCLUDE}", "-c", str(src), "-o", str(tmp_path / "s.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    for src in RING:
        text = src.read_text()
        for banned in ("malloc", "stdio", "printf", "free("):
            assert banned not in text, f"{src.name} uses {banned}"
    if compiler == "gcc":
        cmd = ["gcc", *WARNINGS, "-O2", f"-I{INCLUDE}", f"-I{HOST}", "-c", str(DRIVER)]
        proc = subprocess.run([*cmd, "-o", str(tmp_path / "d.o")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("alg", "n"), [("cmac", INFERENCES), ("poly1305", 1_000)])
def test_wear_and_cost_over_inferences(driver: Path, tmp_path: Path, alg: str, n: int) -> None:
    dump = tmp_path / "scratch.bin"
    out = run(driver, "wear", alg, str(n), str(dump))
    page, sector, n_sectors = out["page"], out["sector"], out["n_sectors"]
    lens = out["pattern"]
    assert lens == [t[2] for t in PATTERN] and out["inferences"] == n
    assert out["reads_ok"] == n * len(lens) and out["wrong"] == 0

    # Every inference's bytes programmed, page programs and erases, as the emulator counted
    # them, equal the C prediction (ooc_spill_predict) and this file's model of the format.
    measured = [tuple(m) for m in out["measured"]]
    assert measured == [tuple(p) for p in out["predicted"]]
    positions = out["positions"] + [out["final_position"]]
    for i in range(n):
        cost, after = predict(page, sector, positions[i], lens)
        assert measured[i] == cost and positions[i + 1] == after, i
    # Erases per inference alternate; over whole ring cycles they are exact too.
    start, period, costs = cycle(page, sector, positions[0], lens)
    whole = (n - start) // period
    span = measured[start : start + whole * period]
    assert [sum(c[k] for c in span) for k in range(3)] == [
        whole * sum(c[k] for c in costs) for k in range(3)
    ]
    assert (start, period) == (1, 3) and [c[2] for c in costs] == [1, 1, 2]
    assert out["total_erases"] == sum(m[2] for m in measured)

    # Wear: every sector is erased when the ring comes back to it, so counts differ by <= 1.
    counts = out["emulator_erase_counts"]
    assert out["ring_erase_counts"] == counts
    mean = sum(counts) / len(counts)
    assert max(counts) / mean <= 1.05 and max(counts) - min(counts) <= 1
    if n == INFERENCES:
        assert max(counts) / mean < 1.001 and sum(counts) == out["total_erases"]

    # The flash dump alone shows the wear: each sector header's erase count, and the ring.
    raw = dump.read_bytes()
    assert len(raw) == n_sectors * sector
    headers = [parse_sector(raw[i * sector : (i + 1) * sector]) for i in range(n_sectors)]
    assert all(h is not None for h in headers)
    assert [h["erase_count"] for h in headers] == counts
    head = max(range(n_sectors), key=lambda i: headers[i]["ring_seq"])
    for k in range(1, n_sectors):  # ring order: each sector one ring_seq after the previous
        prev, cur = headers[(head - k) % n_sectors], headers[(head - k + 1) % n_sectors]
        assert cur["ring_seq"] == prev["ring_seq"] + 1
        # The slot each sector wrote before the ring erased the next one: its old count.
        assert prev["next_count"] == cur["erase_count"] - 1
    assert headers[head]["next_count"] is None and headers[head]["boot"] == 1

    # Every record on the flash decrypts and verifies under the documented keys and nonces,
    # and holds the driver's plaintext; boot records mark the boot.
    k_enc = kdf(b"ooc spill enc", 1)
    checked, tiles = 0, set()
    for i in range(n_sectors):
        for rec in parse_records(raw[i * sector : (i + 1) * sector], sector):
            assert rec["boot"] == 1
            if rec["type"] != RECORD_DATA:
                continue
            inference, idx = divmod(rec["seq"], len(PATTERN))
            assert (rec["tensor"], rec["tile"], rec["length"]) == PATTERN[idx]
            message = rec["header"] + rec["ciphertext"]
            assert tag_of(alg, 1, rec["seq"], message) == rec["tag"]
            plain = ctr(k_enc, 1, rec["seq"], 2, rec["ciphertext"])
            assert plain == plaintext(inference, idx, rec["length"])
            checked += 1
            tiles.add(idx)
    assert checked >= 2 * n_sectors and tiles == set(range(len(PATTERN)))


@pytest.mark.parametrize("alg", ["cmac", "poly1305"])
def test_tamper_bit_flips_and_replays_are_detected(driver: Path, alg: str) -> None:
    out = run(driver, "tamper", alg, "1000", "100")
    assert out["flips"] == out["flips_detected"] == 1000
    for part in ("header", "ciphertext", "tag"):
        assert out[f"flips_in_{part}"] >= 250
    assert out["replays"] == 100 and out["replays_detected"] == out["replay_reads"] >= 100
    assert all(v == 25 for v in out["replay_kinds"].values())
    for bad in ("accepted_tampered", "other_errors", "untampered_failed", "wrong_outputs"):
        assert out[bad] == 0, bad
    assert out["unwiped_outputs"] == 0


@pytest.mark.parametrize("alg", ["cmac", "poly1305"])
def test_nonces_unique_across_reboots(driver: Path, alg: str) -> None:
    out = run(driver, "nonce", alg, str(INFERENCES), "3")
    assert out["inferences"] == INFERENCES and out["reboots"] == 3 and out["cut_writes"] == 1
    assert out["boots"] == [1, 2, 3, 4]
    assert out["nonces"] == out["writes"] > 3 * INFERENCES
    assert out["duplicate_nonces"] == 0 and out["duplicate_counter_blocks"] == 0
    assert out["counter_blocks_logged"] > 6 * INFERENCES and out["keys_distinct"]
    assert out["independently_verified"] == out["writes"] - out["cut_writes"]


@pytest.mark.parametrize("alg", ["cmac", "poly1305"])
def test_power_loss_at_every_program_and_erase(driver: Path, alg: str) -> None:
    out = run(driver, "powerloss", alg)
    # Each phase's inference was cut at every one of its operations (then run whole).
    inf = out["inference"]
    assert inf["cases"] == sum(out["phase_ops"]) and inf["cut_erases"] >= 10
    assert len(set(out["phase_start_positions"])) >= 4
    for key in (
        "remount_ok",
        "boot_advanced_by_one",
        "next_inference_ok",
        "erase_counts_exact",
        "old_refs_stale",
        "ring_round_ok",
    ):
        assert inf[key] == inf["cases"], key
    mount = out["mount"]
    assert out["mount_ops"] == [2, 4, 4, 1] and mount["cases"] == sum(out["mount_ops"])
    assert mount["cut_erases"] == 2 and mount["recovered_heads"] >= 4
    for key in (
        "remount_ok",
        "boot_advanced",
        "next_inference_ok",
        "erase_counts_exact",
        "ring_round_ok",
    ):
        assert mount[key] == mount["cases"], key


def test_damaged_partition_mounts_or_fails_cleanly(driver: Path) -> None:
    out = run(driver, "fuzz", "cmac", "300")
    assert out["cases"] == 300 and out["bad"] == 0 and out["wrong_outputs"] == 0
    assert out["mounted"] + out["exhausted"] >= 300 and out["ran_ok"] == out["mounted"]
    assert out["mounted"] >= 250
    # half the cases mount with a trusted min_boot: the forged boot numbers never move it
    assert out["trusted_boot_is_min_boot"] == out["trusted_mounted"] >= 120


def test_python_model_matches_documented_examples() -> None:
    # docs/spill.md, "Cost": the worked example
    assert record_bytes(1500) == 1552 and record_bytes(333) == 384 and record_bytes(4016) == 4064
    cost, pos = predict(256, 4096, 64, [1500, 1500, 1000])
    assert cost == (3 * 48 + 4000 + 40, 7 + 7 + 1 + 1 + 5, 1) and pos == 32 + 1056
