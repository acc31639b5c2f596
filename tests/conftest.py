"""Shared fixtures. Models from ../shared/models are required: a missing
directory fails the tests that need it (never a silent skip)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MODELS = Path(os.environ.get("OOC_SHARED_MODELS", ROOT.parent / "shared" / "models"))

# The supported real models with the MAC counts their publishers quote.
PUBLISHED_MACS = {
    "vww_96_int8.tflite": 7.49e6,
    "kws_ref_model.tflite": 2.66e6,
    "pretrainedResnet_quant.tflite": 12.5e6,
    "mobilenet_v2_quantized_1x3x224x224.tflite": 300.8e6,
}
SUPPORTED_SHARED = [
    "vww_96_int8.tflite",
    "pretrainedResnet_quant.tflite",
    "kws_ref_model.tflite",
    "ad01_int8.tflite",
    "person_detect.tflite",
    "micro_speech_quantized.tflite",
    "hello_world_int8.tflite",
    "mobilenet_v2_quantized_1x3x224x224.tflite",
]
# Arena totals measured with the tflite-micro interpreter (../shared/models/README.md).
TFLM_ARENA = {
    "vww_96_int8.tflite": 103_680,
    "person_detect.tflite": 85_264,
    "pretrainedResnet_quant.tflite": 55_984,
    "kws_ref_model.tflite": 24_272,
    "micro_speech_quantized.tflite": 7_584,
    "ad01_int8.tflite": 3_984,
}


def ooc_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``ooc ARGS`` in a fresh process (as a user runs it), with ``env`` over this one's."""
    return subprocess.run(
        [sys.executable, "-m", "ooc_sdk.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def spill_ring_sources() -> list[Path]:
    """The runtime sources the host spill drivers compile: the ring (spill.c, spill_ring.c), the
    port's checks (port.c) and the AES-based crypto they use; not the signature check
    (src/crypto/sign.c, which needs Monocypher), which the ring never calls."""
    from ooc_sdk.codegen.runtime import runtime_paths

    return [
        p
        for p in runtime_paths()
        if p.name.startswith(("spill", "port.")) or (p.parent.name == "crypto" and p.stem != "sign")
    ]


def run_damaged_tables(gen: object, name: str, test_c: str, out: Path) -> None:
    """Build tests/c/TEST_C against the generated model `gen` (ooc_sdk.codegen.emit's result,
    named NAME) under ASan/UBSan, run it, and assert it reports no failed check."""
    from ooc_sdk.toolchain import SANITIZE, WARNINGS

    d = gen.directory  # type: ignore[attr-defined]
    exe = out / Path(test_c).stem
    cmd = [
        "cc", *WARNINGS, *SANITIZE, f"-I{d}", f"-I{d / 'ooc_runtime' / 'include'}",
        f'-DTEST_HEADER="ooc_model_{name}.h"', f"-DTEST_MODEL=ooc_model_{name}",
        f"-DTEST_ARENA={gen.arena_bytes}u",  # type: ignore[attr-defined]
        str(gen.model_c), *map(str, gen.runtime_sources),  # type: ignore[attr-defined]
        str(ROOT / "tests" / "c" / test_c), "-o", str(exe),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 failed" in proc.stdout and "runtime error" not in proc.stderr


def shared_model(name: str) -> Path:
    path = SHARED_MODELS / name
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: the tests need ../shared/models beside the project", pytrace=False
        )
    return path


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private golden cache for tests that look at caching itself."""
    d = tmp_path / "cache"
    monkeypatch.setenv("OOC_CACHE_DIR", str(d))
    return d


# -- a SoftHSM2 token (tests/test_pkcs11.py: the factory master key in a PKCS#11 token) ----------

SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",  # Debian, Ubuntu
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",  # Fedora
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


@dataclass(frozen=True)
class SoftHsm:
    """An initialised SoftHSM2 token in a temporary directory ($SOFTHSM2_CONF points at it)."""

    module: Path
    conf: Path
    token: str
    pin: str

    def uri(self, label: str, *query: str) -> str:
        """The PKCS#11 URI of the secret key ``label`` (no PIN in it unless ``query`` adds one)."""
        return f"pkcs11:token={self.token};object={label}?" + "&".join(
            (f"module-path={self.module}", *query)
        )


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """One token per test process. SoftHSM2 missing fails the test under CI (CI=true), where
    scripts/install-toolchains.sh installs it, and skips it elsewhere."""
    util = shutil.which("softhsm2-util")
    module = next((Path(m) for m in SOFTHSM_MODULES if Path(m).is_file()), None)
    if os.environ.get("SOFTHSM2_MODULE"):
        module = Path(os.environ["SOFTHSM2_MODULE"])
    if util is None or module is None:
        why = "SoftHSM2 is not installed (apt-get install softhsm2; scripts/install-toolchains.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    d = tmp_path_factory.mktemp("softhsm")
    (d / "tokens").mkdir()
    conf = d / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {d / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    hsm = SoftHsm(module, conf, "ooc-test", "4711-ooc")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(
            [util, "--init-token", "--free", "--label", hsm.token, "--pin", hsm.pin,
             "--so-pin", "so-" + hsm.pin],
            check=True, capture_output=True,
        )  # fmt: skip
        yield hsm
