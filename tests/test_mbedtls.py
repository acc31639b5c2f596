"""ooc's C crypto against a second implementation in C, Mbed TLS (Debian's libmbedtls-dev,
which scripts/install-toolchains.sh installs), and the PSA Crypto engine backend
(c_runtime/ports/psa/ooc_engine_psa.c) against both: the published vectors of test_crypto.py and
seeded random cases, in tests/c/test_mbedtls.c built under ASan and UBSan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from ooc_sdk.toolchain import SANITIZE, WARNINGS

sys.path.insert(0, str(Path(__file__).parent))
from test_crypto import HAND_CTR, HAND_KW, cmac_vectors, h, official_lines

HERE = Path(__file__).parent
CRYPTO_SRC = ROOT / "c_runtime" / "src" / "crypto"
PSA_PORT = ROOT / "c_runtime" / "ports" / "psa"
INCLUDE = ROOT / "c_runtime" / "include"
PSA_HEADER = Path("/usr/include/psa/crypto.h")


def _summary(proc: subprocess.CompletedProcess[str]) -> str:
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not PSA_HEADER.exists():
        pytest.fail(
            "Mbed TLS's PSA headers are missing: apt-get install libmbedtls-dev "
            "(scripts/install-toolchains.sh installs it)",
            pytrace=False,
        )
    sources = [p for p in sorted(CRYPTO_SRC.glob("*.c")) if p.name != "sign.c"]
    exe = tmp_path_factory.mktemp("mbedtls") / "test_mbedtls"
    cmd = [
        "cc", *WARNINGS, *SANITIZE, f"-I{INCLUDE}", f"-I{PSA_PORT}", f"-I{HERE / 'c'}",
        str(HERE / "c" / "test_mbedtls.c"), str(PSA_PORT / "ooc_engine_psa.c"),
        *map(str, sources), "-lmbedcrypto", "-o", str(exe),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return exe


def run(exe: Path, lines: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=False
    )


def test_published_vectors_ooc_psa_and_mbedtls_agree(driver: Path) -> None:
    """AES-CTR (RFC 3686, SP 800-38A), CMAC (SP 800-38B), Poly1305 (RFC 8439), key wrap (CAVP
    KW, RFC 3394, with the unwrap failures) and the SP 800-108 KDF (CAVP): ooc in software, ooc
    on the PSA engine and Mbed TLS each give every answer."""
    lines = official_lines()
    lines += [f"ctr {k} {iv} {p} {c}" for k, iv, p, c in HAND_CTR]
    lines += [f"kw {k} {d} {w}" for k, d, w in HAND_KW]
    kinds = {line.split()[0] for line in lines}
    assert kinds == {"ctr", "cmac", "poly1305", "kw", "kwfail", "kdf"}
    proc = run(driver, lines)
    assert _summary(proc) == f"{len(lines)} passed, 0 failed", proc.stdout[-4000:]
    assert proc.returncode == 0


def test_seeded_random_cases_agree(driver: Path) -> None:
    """600 random cases (two seeds): CTR at random counters, up to the last one before the
    32-bit wrap, and up to 4 KiB (the PSA engine's blocks, its bulk job, in place), CMAC (also
    PSA's PSA_ALG_CMAC), Poly1305 (split updates), key wrap and unwrap (a flipped bit refused by
    both), the KDF in both forms, and the AES block both ways."""
    lines = [f"random {seed:016x} {count:04x}" for seed, count in ((20240607, 300), (7, 300))]
    proc = run(driver, lines)
    assert _summary(proc) == "600 passed, 0 failed", proc.stdout[-4000:]
    assert proc.returncode == 0


def test_driver_reports_a_wrong_answer(driver: Path) -> None:
    """Not a rubber stamp: a tag off by one bit fails, and so do an unknown line and none."""
    key, msg, tag = cmac_vectors()[1]
    bad = bytearray(tag)
    bad[0] ^= 1
    for lines in ([f"cmac {h(key)} {h(msg)} {h(bytes(bad))}"], ["cmac 00"], []):
        proc = run(driver, lines)
        _summary(proc)
        assert proc.returncode == 1, lines
