"""The C crypto primitives (c_runtime/src/crypto) against published test vectors and against
Python's `cryptography`, built with ASan and UBSan; and the Python wrappers in
ooc_sdk/image/crypto.py against the same published vectors. The signature checks (SHA-512 and
Ed25519 through Monocypher, src/crypto/sign.c) run their standard vectors on the host and on the
Cortex-M4 under QEMU.

The drivers tests/c/test_crypto.c and tests/c/test_sign.c read one vector per line ("kind HEX
HEX ...", "-" for empty) and print "N passed, M failed"; tests/c/test_sign_m4.c runs the same
signature lines on the M4.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import cmac as _cmac
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFCMAC, CounterLocation, Mode
from cryptography.hazmat.primitives.poly1305 import Poly1305

from conftest import ROOT
from ooc_sdk.codegen.runtime import runtime_paths
from ooc_sdk.codegen.thirdparty import SUBDIR as THIRD_PARTY
from ooc_sdk.image import crypto
from ooc_sdk.run.qemu import compile_firmware, run_qemu
from ooc_sdk.toolchain import SANITIZE, WARNINGS

HERE = Path(__file__).parent
CRYPTO_SRC = ROOT / "c_runtime" / "src" / "crypto"
INCLUDE = ROOT / "c_runtime" / "include"
GENERATOR = ROOT / "tools" / "gen_aes_tables.py"
ARM = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]

Record = dict[str, str]


# --- the C driver -----------------------------------------------------------------------------


def crypto_sources() -> list[Path]:
    """The runtime's crypto sources and the Monocypher sources sign.c calls (fetched and pinned,
    ooc_sdk/codegen/thirdparty.py), as c_runtime/sources.txt lists them."""
    third_party = ROOT / "c_runtime" / THIRD_PARTY
    return [
        p for p in runtime_paths() if p.is_relative_to(CRYPTO_SRC) or p.is_relative_to(third_party)
    ]


@pytest.fixture(scope="module")
def crypto_objects(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """crypto_sources() compiled once under ASan and UBSan for both drivers, in parallel
    (Monocypher's big file takes most of the time)."""
    out = tmp_path_factory.mktemp("crypto-obj")
    cc = ["cc", *WARNINGS, *SANITIZE, f"-I{INCLUDE}", "-c"]
    jobs = [
        (out / f"{i}_{src.stem}.o", [*cc, str(src), "-o", str(out / f"{i}_{src.stem}.o")])
        for i, src in enumerate(crypto_sources())
    ]
    procs = [(cmd, subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)) for _, cmd in jobs]
    for cmd, proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{err}"
    return [obj for obj, _ in jobs]


def build_driver(objects: list[Path], exe: Path, *mains: Path) -> Path:
    cmd = ["cc", *WARNINGS, *SANITIZE, f"-I{INCLUDE}", *map(str, [*mains, *objects])]
    proc = subprocess.run([*cmd, "-o", str(exe)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return exe


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory, crypto_objects: list[Path]) -> Path:
    exe = tmp_path_factory.mktemp("crypto") / "test_crypto"
    return build_driver(crypto_objects, exe, HERE / "c" / "test_crypto.c")


def run_driver(exe: Path, lines: list[str]) -> None:
    """Feed ``lines`` to the driver; every one must pass and nothing may trip a sanitizer."""
    assert lines
    proc = subprocess.run(
        [str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=False
    )
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert summary == f"{len(lines)} passed, 0 failed", proc.stdout[-4000:] + proc.stderr
    assert proc.returncode == 0


def h(b: bytes) -> str:
    return b.hex() if b else "-"


def unhex(s: str) -> bytes:
    return bytes.fromhex(s)


# --- published vectors, from the cryptography_vectors package ---------------------------------


def read_nist(path: str) -> Iterator[Record]:
    """Records of a NIST-style .rsp/.txt file, each merged with its "[NAME = VALUE]" sections.

    Indented lines (the KDF file's "\\tBinary rep of i = ..." and "\\tinstring = ...") are
    commentary and skipped; a bare "FAIL" line marks a record the unwrap must reject.
    """
    section: Record = {}
    rec: Record = {}
    with cryptography_vectors.open_vector_file(path, "r") as f:
        for raw in [*f, ""]:
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("["):
                if "COUNT" in rec:
                    yield {**section, **rec}
                rec = {}
                if line.startswith("["):
                    name, _, value = line.strip("[]").partition("=")
                    section[name.strip()] = value.strip()
                continue
            if line.startswith(("#", " ", "\t")):
                continue
            if line.strip() == "FAIL":
                rec["FAIL"] = "1"
                continue
            name, _, value = line.partition("=")
            rec[name.strip()] = value.strip()


def ctr_vectors() -> list[tuple[bytes, bytes, bytes, bytes]]:
    # RFC 3686 section 6 (AES-CTR for IPsec), as converted in cryptography_vectors.
    out = []
    for name in ("aes-128-ctr.txt", "aes-256-ctr.txt"):
        for r in read_nist(f"ciphers/AES/CTR/{name}"):
            key, iv, plain, cipher = (r["KEY"], r["IV"], r["PLAINTEXT"], r["CIPHERTEXT"])
            out.append((unhex(key), unhex(iv), unhex(plain), unhex(cipher)))
    return out


def cmac_vectors() -> list[tuple[bytes, bytes, bytes]]:
    # NIST SP 800-38B appendix D.1 and D.3 (the same examples as RFC 4493 section 4).
    out = []
    for name in ("nist-800-38b-aes128.txt", "nist-800-38b-aes256.txt"):
        for r in read_nist(f"CMAC/{name}"):
            out.append((unhex(r["KEY"]), unhex(r["MESSAGE"]), unhex(r["OUTPUT"])))
    return out


def poly1305_vectors() -> list[tuple[bytes, bytes, bytes]]:
    # RFC 7539 section 2.5.2 and appendix A.3 (unchanged in RFC 8439).
    return [
        (bytes.fromhex(r["KEY"]), bytes.fromhex(r["MSG"]), bytes.fromhex(r["TAG"]))
        for r in read_nist("poly1305/rfc7539.txt")
    ]


def kw_vectors() -> list[tuple[bytes, bytes, bytes | None]]:
    """(kek, wrapped, key data or None for FAIL) from NIST CAVP SP 800-38F KW (KW_AE_* are
    wrap vectors, KW_AD_* unwrap vectors with FAIL cases); key data of 128..512 bits in 64-bit
    steps, which is what RFC 3394 and the C runtime support."""
    out = []
    for name in ("KW_AE_128.txt", "KW_AD_128.txt", "KW_AE_256.txt", "KW_AD_256.txt"):
        for r in read_nist(f"keywrap/kwtestvectors/{name}"):
            bits = int(r["PLAINTEXT LENGTH"])
            if bits % 64 or not 128 <= bits <= 512:
                continue
            plain = None if "FAIL" in r else bytes.fromhex(r["P"])
            out.append((bytes.fromhex(r["K"]), bytes.fromhex(r["C"]), plain))
    return out


def kdf_vectors() -> list[tuple[bytes, bytes, bytes]]:
    # NIST CAVP SP 800-108 KBKDF, counter mode: the CMAC-AES128/256 cases with a 32-bit counter
    # before the fixed input data.
    out = []
    for r in read_nist("KDF/nist-800-108-KBKDF-CTR.txt"):
        if (
            r["PRF"] in ("CMAC_AES128", "CMAC_AES256")
            and r["CTRLOCATION"] == "BEFORE_FIXED"
            and r["RLEN"] == "32_BITS"
        ):
            ko = bytes.fromhex(r["KO"])
            assert len(ko) * 8 == int(r["L"])
            out.append((bytes.fromhex(r["KI"]), bytes.fromhex(r["FixedInputData"]), ko))
    return out


def official_lines() -> list[str]:
    lines = [f"ctr {h(k)} {h(iv)} {h(p)} {h(c)}" for k, iv, p, c in ctr_vectors()]
    lines += [f"cmac {h(k)} {h(m)} {h(t)}" for k, m, t in cmac_vectors()]
    lines += [f"poly1305 {h(k)} {h(m)} {h(t)}" for k, m, t in poly1305_vectors()]
    for kek, wrapped, plain in kw_vectors():
        if plain is None:
            lines.append(f"kwfail {h(kek)} {h(wrapped)}")
        else:
            lines.append(f"kw {h(kek)} {h(plain)} {h(wrapped)}")
    lines += [f"kdf {h(k)} {h(fx)} {h(o)}" for k, fx, o in kdf_vectors()]
    return lines


def test_vector_counts() -> None:
    """The vector files hold what this test expects (a parsing slip would silently shrink it)."""
    kw = kw_vectors()
    assert len(ctr_vectors()) == 6
    assert len(cmac_vectors()) == 8
    assert len(poly1305_vectors()) == 11
    assert len(kw) == 1600 and sum(p is None for _, _, p in kw) > 100
    assert len(kdf_vectors()) == 80


def test_c_official_vectors(driver: Path) -> None:
    run_driver(driver, official_lines())


# --- vectors written from the standards documents ----------------------------------------------

# NIST SP 800-38A appendix F.5.1 (CTR-AES128.Encrypt) and F.5.5 (CTR-AES256.Encrypt).
SP800_38A_COUNTER = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
SP800_38A_PLAIN = (
    "6bc1bee22e409f96e93d7e117393172a"
    "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710"
)
HAND_CTR = [
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        SP800_38A_COUNTER,
        SP800_38A_PLAIN,
        "874d6191b620e3261bef6864990db6ce"
        "9806f66b7970fdff8617187bb9fffdff"
        "5ae4df3edbd5d35e5b4f09020db03eab"
        "1e031dda2fbe03d1792170a0f3009cee",
    ),
    (
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        SP800_38A_COUNTER,
        SP800_38A_PLAIN,
        "601ec313775789a5b7a7f504bbf3d228"
        "f443e3ca4d62b59aca84e990cacaf5c5"
        "2b0930daa23de94ce87017ba2d84988d"
        "dfc9c58db67aada613c2dd08457941a6",
    ),
]
# RFC 3394 section 4.1 (128-bit key data, 128-bit KEK) and 4.6 (256-bit key data, 256-bit KEK).
HAND_KW = [
    (
        "000102030405060708090a0b0c0d0e0f",
        "00112233445566778899aabbccddeeff",
        "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5",
    ),
    (
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
        "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21",
    ),
]
# FIPS 197 appendix C.1 (AES-128) and C.3 (AES-256): one block, for the "aes" lines.
FIPS197_PLAIN = "00112233445566778899aabbccddeeff"
HAND_AES = [
    ("000102030405060708090a0b0c0d0e0f", FIPS197_PLAIN, "69c4e0d86a7b0430d8cdb78070b4c55a"),
    (
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        FIPS197_PLAIN,
        "8ea2b7ca516745bfeafc49904b496089",
    ),
]


def test_hand_entered_vectors_match_cryptography() -> None:
    """A typo in the hand-entered vectors above cannot slip through: `cryptography` agrees."""
    for key, iv, plain, cipher in HAND_CTR:
        enc = Cipher(algorithms.AES(bytes.fromhex(key)), modes.CTR(bytes.fromhex(iv))).encryptor()
        assert enc.update(bytes.fromhex(plain)) + enc.finalize() == bytes.fromhex(cipher)
    for kek, data, wrapped in HAND_KW:
        assert keywrap.aes_key_wrap(bytes.fromhex(kek), bytes.fromhex(data)) == bytes.fromhex(
            wrapped
        )
    for key, plain, cipher in HAND_AES:
        enc = Cipher(algorithms.AES(bytes.fromhex(key)), modes.ECB()).encryptor()
        assert enc.update(bytes.fromhex(plain)) + enc.finalize() == bytes.fromhex(cipher)


def test_c_hand_entered_vectors(driver: Path) -> None:
    lines = [f"ctr {k} {iv} {p} {c}" for k, iv, p, c in HAND_CTR]
    lines += [f"kw {k} {d} {w}" for k, d, w in HAND_KW]
    lines += [f"aes {k} {p} {c}" for k, p, c in HAND_AES]
    run_driver(driver, lines)


# --- the Python wrappers against the same published vectors -----------------------------------


def test_python_wrappers_official_vectors() -> None:
    for key, iv, plain, cipher in ctr_vectors():
        assert crypto.aes_ctr(key, iv, plain) == cipher
        assert crypto.aes_ctr(key, iv, cipher) == plain
    for key, iv, plain, cipher in HAND_CTR:
        assert crypto.aes_ctr(bytes.fromhex(key), bytes.fromhex(iv), bytes.fromhex(plain)) == (
            bytes.fromhex(cipher)
        )
    for key, msg, tag in cmac_vectors():
        assert crypto.cmac(key, msg) == tag
    for key, msg, tag in poly1305_vectors():
        assert crypto.poly1305(key, msg) == tag
    for kek, wrapped, plain in [
        *kw_vectors(),
        *((bytes.fromhex(k), bytes.fromhex(w), bytes.fromhex(d)) for k, d, w in HAND_KW),
    ]:
        if plain is None:
            with pytest.raises(crypto.UnwrapError):
                crypto.key_unwrap(kek, wrapped)
        else:
            assert crypto.key_wrap(kek, plain) == wrapped
            assert crypto.key_unwrap(kek, wrapped) == plain
    for key, fixed, out in kdf_vectors():
        assert crypto.kdf_fixed(key, fixed, len(out)) == out


def test_kdf_label_context_c_matches_python(driver: Path) -> None:
    """ooc_kdf_cmac builds label || 0x00 || context || [L]_32 exactly as the Python kdf()."""
    cases = [
        (bytes(range(16)), b"", b"", 16),
        (bytes(range(32)), b"ooc image key", b"\x01\x02\x03\x04", 32),
        (bytes(range(16)), b"L" * 48, b"C" * 48, 64),  # the longest label + context allowed
        (bytes(range(32)), b"mac", b"", 20),
        (bytes(range(16)), b"", b"uid:0123456789ab", 1),
    ]
    lines = []
    for key, label, context, n in cases:
        out = crypto.kdf(key, label, context, n)
        # The same derivation as NIST's "fixed input data" form.
        fixed = label + b"\x00" + context + (8 * n).to_bytes(4, "big")
        assert crypto.kdf_fixed(key, fixed, n) == out
        lines.append(f"kdfl {h(key)} {h(label)} {h(context)} {h(out)}")
    run_driver(driver, lines)


# --- random cross-checks, `cryptography` as the oracle -----------------------------------------


def _ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def _kbkdf(
    key: bytes, n: int, fixed: bytes | None, label: bytes = b"", context: bytes = b""
) -> bytes:
    return KBKDFCMAC(
        algorithm=algorithms.AES,
        mode=Mode.CounterMode,
        length=n,
        rlen=4,
        llen=None if fixed is not None else 4,
        location=CounterLocation.BeforeFixed,
        label=None if fixed is not None else label,
        context=None if fixed is not None else context,
        fixed=fixed,
    ).derive(key)


def random_lines(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        key = rng.randbytes(rng.choice((16, 32)))
        data = rng.randbytes(rng.randint(0, 300))
        # CTR: a random nonce and counter, every few cases ending exactly at 2^32 - 1.
        blocks = -(-len(data) // 16)
        start = (1 << 32) - max(blocks, 1) if i % 5 == 0 else rng.randrange((1 << 32) - blocks + 1)
        iv = rng.randbytes(12) + start.to_bytes(4, "big")
        lines.append(f"ctr {h(key)} {h(iv)} {h(data)} {h(_ctr(key, iv, data))}")
        lines.append(f"engine {h(key)} {h(data)} {h(_ctr(key, bytes(16), data))}")
        c = _cmac.CMAC(algorithms.AES(key))
        c.update(data)
        lines.append(f"cmac {h(key)} {h(data)} {h(c.finalize())}")
        otk = rng.randbytes(32)
        msg = rng.randbytes(rng.randint(0, 300))
        lines.append(f"poly1305 {h(otk)} {h(msg)} {h(Poly1305.generate_tag(otk, msg))}")
        # Key wrap, and the same wrapped key with one bit flipped.
        plain = rng.randbytes(8 * rng.randint(2, 8))
        wrapped = bytearray(keywrap.aes_key_wrap(key, plain))
        lines.append(f"kw {h(key)} {h(plain)} {h(bytes(wrapped))}")
        bit = rng.randrange(8 * len(wrapped))
        wrapped[bit // 8] ^= 1 << (bit % 8)
        lines.append(f"kwfail {h(key)} {h(bytes(wrapped))}")
        # KDF: random fixed data, and random label / context (together at most 96 bytes).
        out_len = rng.randint(1, 64)
        fixed = rng.randbytes(rng.randint(0, 100))
        lines.append(f"kdf {h(key)} {h(fixed)} {h(_kbkdf(key, out_len, fixed))}")
        label = rng.randbytes(rng.randint(0, 96))
        context = rng.randbytes(rng.randint(0, 96 - len(label)))
        out = _kbkdf(key, out_len, None, label, context)
        lines.append(f"kdfl {h(key)} {h(label)} {h(context)} {h(out)}")
        block = rng.randbytes(16)
        enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        lines.append(f"aes {h(key)} {h(block)} {h(enc.update(block) + enc.finalize())}")
    return lines


def test_c_random_cross_check(driver: Path) -> None:
    run_driver(driver, random_lines(seed=20240607, n=300))


def test_c_ctr_across_counter_byte_carries(driver: Path) -> None:
    """Software CTR caches the first two rounds while only the counter's low byte changes: runs
    that cross a low-byte wrap, a carry into the upper bytes, most of a 256-block group and a
    partial last block all match `cryptography` (the driver's fields hold up to 2 KiB; the
    M4 crypto bench crosses whole groups)."""
    rng = random.Random(24)
    lines = []
    for start, n in [(0xFD, 40), (0xFF, 17), (0xFFFF, 33), (0x00FFFFF0, 300), (0x80, 2047),
                     (0x1F0, 2048), ((1 << 32) - 100, 1599)]:  # fmt: skip
        key = rng.randbytes(16 if n % 2 else 32)
        for k in (key[:16], key):
            data = rng.randbytes(n)
            iv = rng.randbytes(12) + start.to_bytes(4, "big")
            lines.append(f"ctr {h(k)} {h(iv)} {h(data)} {h(_ctr(k, iv, data))}")
    run_driver(driver, lines)


def test_driver_reports_failures(driver: Path) -> None:
    """The driver is not a rubber stamp: a wrong tag, an empty input and a bad line all fail."""
    key, msg, tag = cmac_vectors()[1]
    bad = bytearray(tag)
    bad[0] ^= 1
    for stdin in (f"cmac {h(key)} {h(msg)} {h(bytes(bad))}\n", "", "cmac 00\n"):
        proc = subprocess.run(
            [str(driver)], input=stdin, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 1, stdin


# --- the generated tables and the cross builds -------------------------------------------------


def test_aes_tables_regenerate_identically(tmp_path: Path) -> None:
    out = tmp_path / "aes_tables.c"
    subprocess.run([sys.executable, str(GENERATOR), "-o", str(out)], check=True)
    assert out.read_bytes() == (CRYPTO_SRC / "aes_tables.c").read_bytes()


@pytest.mark.parametrize("compiler", ["gcc", "arm-none-eabi-gcc"])
def test_crypto_builds_warning_free(compiler: str) -> None:
    if shutil.which(compiler) is None:
        pytest.fail(f"{compiler} is not installed (.ci/run installs it)", pytrace=False)
    cc = ARM if compiler.startswith("arm") else ["gcc"]
    sources = crypto_sources()
    assert set(CRYPTO_SRC.glob("*.c")) < set(sources)  # and Monocypher
    for src in sources:
        cmd = [*cc, *WARNINGS, "-O2", f"-I{INCLUDE}", "-c", str(src), "-o", "/dev/null"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"


# --- SHA-512 and Ed25519 (src/crypto/sign.c over Monocypher), on the host and on the M4 ---------

# FIPS 180-2 appendix C (the NIST examples): "abc", the 896-bit two-block message; and the
# empty message.
SHA512_VECTORS = [
    (
        b"abc",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    ),
    (
        b"",
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    ),
    (
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
        "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
    ),
]

# RFC 8032 section 7.1: (name, secret key, public key, message, signature). TEST 1024's
# 1023-byte message is line 1024 of the SUPERCOP file sign.input (where TEST 1, 2, 3 come from
# too), in cryptography_vectors; its keys and signature below are the RFC's.
RFC8032 = [
    (
        "TEST 1",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "TEST 1024",
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        "sign.input:1024",
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
        "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    ),
    (
        "TEST SHA(abc)",
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
        "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]
# The order of the Ed25519 group (RFC 8032 section 5.1): a signature's S must be below it.
ED25519_L = 2**252 + 27742317777372353535851937790883648493

SignCase = tuple[str, bytes, bytes, bytes, bool]  # (what, public key, message, signature, valid)


def sign_input_line(n: int) -> list[bytes]:
    """Line ``n`` (from 1) of SUPERCOP's sign.input: secret||public, public, message,
    signature||message."""
    with cryptography_vectors.open_vector_file("asymmetric/Ed25519/sign.input", "r") as f:
        line = f.read().splitlines()[n - 1]
    return [bytes.fromhex(x) for x in line.split(":")[:4]]


def rfc8032_vectors() -> list[tuple[str, bytes, bytes, bytes, bytes]]:
    out = []
    for name, secret, public, msg, sig in RFC8032:
        m = sign_input_line(1024)[2] if msg == "sign.input:1024" else bytes.fromhex(msg)
        out.append((name, unhex(secret), unhex(public), m, unhex(sig)))
    return out


def flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def with_s_plus_l(sig: bytes) -> bytes:
    """The same signature with S replaced by S + L: the same point equation, but S >= L (not
    canonical, RFC 8032 section 5.1.7), which a verifier must refuse."""
    s = int.from_bytes(sig[32:], "little") + ED25519_L
    return sig[:32] + s.to_bytes(32, "little")


def rfc8032_cases() -> list[SignCase]:
    """Each RFC 8032 vector, then the same with one bit flipped in the signature (in R and in S),
    the message (for the empty one: a zero byte added) and the public key (a low bit, and the
    sign bit of x), and with S + L."""
    cases: list[SignCase] = []
    for name, _, pub, msg, sig in rfc8032_vectors():
        cases.append((name, pub, msg, sig, True))
        cases += [
            (f"{name} sig bit {b}", pub, msg, flip(sig, b), False) for b in (0, 200, 256, 400)
        ]
        bad_msgs = [flip(msg, 0), flip(msg, 8 * len(msg) - 1)] if msg else [b"\x00"]
        cases += [(f"{name} message changed", pub, m, sig, False) for m in bad_msgs]
        cases += [(f"{name} key bit {b}", flip(pub, b), msg, sig, False) for b in (0, 255)]
        cases.append((f"{name} S + L", pub, msg, with_s_plus_l(sig), False))
    return cases


def random_sign_cases(seed: int, n: int) -> list[SignCase]:
    """Signatures by `cryptography` over random messages (one of them 2 KiB), and each with a
    random bit of the signature, message or key flipped."""
    rng = random.Random(seed)
    cases: list[SignCase] = []
    for i in range(n):
        key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        pub = key.public_key().public_bytes_raw()
        msg = rng.randbytes(2048 if i == 0 else rng.randint(0, 300))
        sig = key.sign(msg)
        cases.append((f"random {i}", pub, msg, sig, True))
        which = rng.randrange(3 if msg else 2)
        if which == 0:
            cases.append((f"random {i} sig", pub, msg, flip(sig, rng.randrange(512)), False))
        elif which == 1:
            cases.append((f"random {i} key", flip(pub, rng.randrange(256)), msg, sig, False))
        else:
            cases.append(
                (f"random {i} msg", pub, flip(msg, rng.randrange(8 * len(msg))), sig, False)
            )
    return cases


def cryptography_verifies(pub: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_lines(cases: list[SignCase]) -> list[str]:
    lines = [f"sha512 {h(m)} {d}" for m, d in SHA512_VECTORS]
    for _, pub, msg, sig, valid in cases:
        lines.append(f"{'ed25519' if valid else 'ed25519bad'} {h(pub)} {h(msg)} {h(sig)}")
    return lines


def test_signature_vectors_match_cryptography() -> None:
    """The hand-entered vectors above are the standards' (a typo cannot slip through) and
    `cryptography` agrees on every case the C code gets, the refusals included."""
    for msg, digest in SHA512_VECTORS:
        assert hashlib.sha512(msg).hexdigest() == digest
    vectors = rfc8032_vectors()
    for n, (name, secret, pub, msg, sig) in zip((1, 2, 3, 1024), vectors, strict=False):
        assert sign_input_line(n) == [secret + pub, pub, msg, sig + msg], name
    assert vectors[4][3] == hashlib.sha512(b"abc").digest()
    for name, secret, pub, msg, sig in vectors:
        key = Ed25519PrivateKey.from_private_bytes(secret)
        assert key.public_key().public_bytes_raw() == pub, name
        assert key.sign(msg) == sig, name  # Ed25519 signatures are deterministic
    cases = rfc8032_cases() + random_sign_cases(seed=8032, n=3)
    assert len(cases) == 5 * 10 - 1 + 6  # TEST 1 (empty message) has one changed message
    for what, pub, msg, sig, valid in cases:
        assert cryptography_verifies(pub, msg, sig) == valid, what


@pytest.fixture(scope="module")
def sign_driver(tmp_path_factory: pytest.TempPathFactory, crypto_objects: list[Path]) -> Path:
    exe = tmp_path_factory.mktemp("sign") / "test_sign"
    c = HERE / "c"
    return build_driver(crypto_objects, exe, c / "test_sign.c", c / "sign_vectors.c")


def test_c_signature_vectors(sign_driver: Path) -> None:
    """RFC 8032 and FIPS 180-2 vectors, their refusals, and random cases (`cryptography` signs,
    hashlib hashes) on the host under ASan and UBSan."""
    rng = random.Random(512)
    sha = [rng.randbytes(n) for n in (*range(0, 260, 7), 1000, 2048)]
    lines = sign_lines(rfc8032_cases() + random_sign_cases(seed=20240607, n=40))
    lines += [f"sha512 {h(m)} {hashlib.sha512(m).hexdigest()}" for m in sha]
    run_driver(sign_driver, lines)


def test_sign_driver_reports_failures(sign_driver: Path) -> None:
    """The signature driver is not a rubber stamp: a valid signature marked bad, a bad one
    marked valid, a wrong digest, a bad line and no vectors all fail."""
    _, _, pub, msg, sig = rfc8032_vectors()[1]
    msg0, digest = SHA512_VECTORS[0]
    for stdin in (
        f"ed25519bad {h(pub)} {h(msg)} {h(sig)}\n",
        f"ed25519 {h(pub)} {h(msg)} {h(with_s_plus_l(sig))}\n",
        f"sha512 {h(msg0)} {digest[:-2]}00\n",
        f"ed25519 {h(pub)} {h(msg)}\n",
        "",
    ):
        proc = subprocess.run(
            [str(sign_driver)], input=stdin, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 1, stdin


def test_m4_signature_vectors() -> None:
    """The same RFC 8032 and FIPS 180-2 lines, refusals included, checked by the same C code
    on the Cortex-M4 (QEMU mps2-an386), Monocypher built as the firmware builds the runtime."""
    lines = sign_lines(rfc8032_cases())
    fw = compile_firmware(
        [HERE / "c" / "test_sign_m4.c", HERE / "c" / "sign_vectors.c"], include_dirs=[HERE / "c"]
    )
    status, console, files = run_qemu(
        fw, {}, {"vectors.txt": ("\n".join(lines) + "\n").encode()}, timeout=300
    )
    assert status == 0, console
    report = json.loads(files["report.json"])
    assert report == {"status": 0, "passed": len(lines), "failed": 0}, console
