"""Secure image speed: the signature check's cost on the Cortex-M4, C verify+decrypt throughput
and `ooc pack` time, in one run.

Run: python benchmarks/bench_crypto.py [--m4-only] [--mib 64] [--out benchmarks/results/crypto.json]

0. Cortex-M4 (QEMU mps2-an386, -icount shift=0: deterministic instruction counts), from the
   crypto bench firmware (c_runtime/ports/qemu_mps2/ooc_crypto_bench_main.c): instructions of one
   Ed25519 verify of a 192-byte message (what an image's signature covers) and its stack depth,
   SHA-512 instructions per byte over 16 KiB in SRAM, beside the per-read CTR + CMAC and
   CTR + Poly1305 (AES-128); and the code size the signature check adds to a firmware: two
   firmwares linked as ooc_sdk.run.qemu links them (-ffunction-sections -fdata-sections
   -Wl,--gc-sections), one calling ooc_ed25519_verify, one not, measured with
   arm-none-eabi-size. `--m4-only` runs just this part (no model needed) and merges its "m4"
   entry into --out.

1. Host throughput (MB/s) of the C image reader's chunk path (read from an in-memory flash,
   tag check, AES-CTR decrypt) for AES-128/256 with CTR+CMAC and CTR+Poly1305, over the
   MobileNetV2 image (8 KiB chunks), built -O3. The peer in the same run is OpenSSL through
   `cryptography` doing the same two passes (tag, then CTR) on the same bytes: it uses AES-NI
   where the CPU has it, so the ratio shows what a hardware AES engine buys.
2. `ooc pack` of mobilenet_v2_quantized_1x3x224x224 end to end (the CLI in a fresh process:
   model load, chunking, crypto, littlefs, .bin/.hex/.json writes), median of 3. Goal: < 2 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ooc_sdk.formats import image as fmt
from ooc_sdk.image import crypto, keys
from ooc_sdk.image.pack import PackOptions, pack_image
from ooc_sdk.model import load_model
from ooc_sdk.run.host import build_image_tool
from ooc_sdk.run.qemu import INSTRUCTIONS_PER_TICK, PORT, compile_firmware, run_firmware
from ooc_sdk.targets import load_flash

MODEL = "mobilenet_v2_quantized_1x3x224x224.tflite"

# Two firmwares that differ only by a call to ooc_ed25519_verify: the linked size difference is
# what the signature check adds (sign.c, the parts of Monocypher it reaches, their constants).
_SIZE_MAIN = """#include <stdint.h>
#include "board.h"
#include "ooc/ooc_crypto.h"
uint8_t data[64 + 32 + 192]; /* external: read in both, so both keep it */
int main(void)
{
    ooc_board_counter_start();
    return %s;
}
"""
_WITHOUT = "data[0]"
_WITH = "ooc_ed25519_verify(data, data + 64, data + 96, 192) == 0"


def m4_signature_size() -> dict[str, int]:
    """Bytes of flash (text + rodata) and of RAM (data + bss) the signature check adds."""
    with tempfile.TemporaryDirectory() as tmp:
        sizes = []
        for body in (_WITHOUT, _WITH):
            src = Path(tmp) / "size_main.c"
            src.write_text(_SIZE_MAIN % body)
            sizes.append(compile_firmware([src]).sections)
    without, with_ = sizes
    return {
        "flash_bytes": with_["text"] + with_["rodata"] - without["text"] - without["rodata"],
        "ram_bytes": with_["data"] + with_["bss"] - without["data"] - without["bss"],
    }


def m4_costs() -> dict[str, float | int]:
    """The signature check and the per-read crypto on the M4, checked against known answers."""
    rep, _ = run_firmware(compile_firmware([PORT / "ooc_crypto_bench_main.c"]), {}, {})
    n = rep["bytes"]
    filled = bytes((i * 7 + 3) & 0xFF for i in range(n))
    if rep["sha512_head"] != int.from_bytes(hashlib.sha512(filled).digest()[:4], "big"):
        raise SystemExit("the M4's SHA-512 differs from hashlib's: its figures mean nothing")
    if rep["ed25519_ok"] != 1:
        raise SystemExit("the M4's Ed25519 verify refused a valid signature or passed a forgery")

    def per_byte(name: str) -> float:
        return rep[f"{name}_ticks"] * INSTRUCTIONS_PER_TICK / n

    return {
        "ed25519_verify_instructions": rep["ed25519_verify_instructions"],
        "ed25519_signed_bytes": rep["ed25519_signed_bytes"],
        "ed25519_stack_bytes": rep["ed25519_stack_bytes"],
        "sha512_instructions_per_byte": round(per_byte("sha512"), 2),
        "ctr_plus_cmac_instructions_per_byte": round(
            per_byte("aes128_ctr") + per_byte("cmac128"), 2
        ),
        "ctr_plus_poly1305_instructions_per_byte": round(
            per_byte("aes128_ctr") + per_byte("poly1305"), 2
        ),
        "buffer_bytes": n,
        **{f"signature_check_{k}": v for k, v in m4_signature_size().items()},
    }


def print_m4(m4: dict[str, float | int]) -> None:
    print("Cortex-M4 (QEMU mps2-an386, -icount shift=0): the signature check and per-read crypto")
    print(
        f"{'Ed25519 verify (192 B)':>23} {'stack B':>8} {'SHA-512 /B':>11} {'CTR+CMAC /B':>12} "
        f"{'CTR+Poly1305 /B':>16} {'flash B':>8} {'RAM B':>6}"
    )
    print(
        f"{m4['ed25519_verify_instructions']:>23,} {m4['ed25519_stack_bytes']:>8,} "
        f"{m4['sha512_instructions_per_byte']:>11.2f} "
        f"{m4['ctr_plus_cmac_instructions_per_byte']:>12.2f} "
        f"{m4['ctr_plus_poly1305_instructions_per_byte']:>16.2f} "
        f"{m4['signature_check_flash_bytes']:>8,} {m4['signature_check_ram_bytes']:>6,}"
    )
    print("(instructions; /B: instructions per byte; flash, RAM: what the check adds, linked)")
    print(json.dumps({"m4": m4}))


def write_results(out: Path, results: dict[str, object]) -> None:
    """Write ``results`` to ``out``, keeping the other entries of an earlier run there."""
    old: dict[str, object] = {}
    try:
        loaded = json.loads(out.read_text())
        old = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**old, **results}, indent=2))
    print(f"wrote {out}")


def c_throughput(tool: Path, image: bytes, device: keys.DeviceKey, mib: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "image.bin"
        path.write_bytes(image)
        runs = []
        for _ in range(3):
            proc = subprocess.run(
                [
                    str(tool),
                    str(path),
                    device.uid.hex(),
                    device.root_key.hex(),
                    "--bench",
                    str(mib),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(proc.stdout)["mb_per_s"])
    return statistics.median(runs)


def openssl_throughput(key: bytes, tag_alg: int, mib: int) -> float:
    chunk = bytes(8192)
    n = mib * 1024 * 1024 // len(chunk)
    prefix = bytes(48)
    mac_key = crypto.kdf(key, b"bench", b"", len(key))
    t0 = time.perf_counter()
    for i in range(n):
        nonce = fmt.chunk_nonce(i)
        if tag_alg == fmt.TAG_AES_CMAC:
            crypto.cmac(mac_key, prefix + chunk)
        else:
            otk = crypto.aes_ctr(key, fmt.counter_block(nonce, 0), bytes(32))
            crypto.poly1305(otk, prefix + chunk)
        crypto.aes_ctr(key, fmt.counter_block(nonce, 2), chunk)
    return n * len(chunk) / (time.perf_counter() - t0) / 1e6


def pack_seconds(model: Path, key_file: Path, out: Path) -> float:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ooc_sdk.cli",
                "pack",
                str(model),
                "--device-key",
                str(key_file),
                "-o",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "models"
    )
    ap.add_argument("--mib", type=int, default=64, help="MiB to decrypt per measurement")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "crypto.json")
    ap.add_argument("--m4-only", action="store_true", help="only the Cortex-M4 costs (QEMU)")
    args = ap.parse_args()
    m4 = m4_costs()
    print_m4(m4)
    if args.m4_only:
        write_results(args.out, {"m4": m4})
        return 0
    print()
    model = args.models / MODEL
    if not model.exists():
        print(f"missing {model}", file=sys.stderr)
        return 2
    graph = load_model(model)
    tool = build_image_tool(sanitize=False)
    device = keys.generate(bytes(16), 32)
    flash = load_flash("w25q128jv")
    rows = []
    print(f"{'cipher':<11} {'tag':<9} {'ooc C MB/s':>11} {'OpenSSL MB/s':>13} {'ooc/OpenSSL':>12}")
    for cipher in (fmt.CIPHER_AES128_CTR, fmt.CIPHER_AES256_CTR):
        for tag in (fmt.TAG_AES_CMAC, fmt.TAG_POLY1305):
            packed = pack_image(graph, device, PackOptions(flash, cipher=cipher, tag_alg=tag))
            ours = c_throughput(tool, packed.image, device, args.mib)
            peer = openssl_throughput(bytes(fmt.CIPHER_KEY_BYTES[cipher]), tag, args.mib)
            row = {
                "cipher": fmt.CIPHER_NAMES[cipher],
                "tag": fmt.TAG_NAMES[tag],
                "ooc_c_mb_per_s": round(ours, 2),
                "openssl_mb_per_s": round(peer, 2),
                "ratio": round(ours / peer, 3),
            }
            rows.append(row)
            print(
                f"{row['cipher']:<11} {row['tag']:<9} {ours:>11.1f} {peer:>13.1f} {row['ratio']:>12.3f}"
            )
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "dev.key"
        keys.write_key_file(key_file, device)
        seconds = pack_seconds(model, key_file, Path(tmp) / "out")
    print(f"ooc pack {MODEL}: {seconds:.2f} s (median of 3, whole CLI process; goal < 2 s)")
    write_results(
        args.out,
        {
            "machine": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "m4": m4,
            "throughput": rows,
            "pack_seconds": round(seconds, 3),
            "pack_model": MODEL,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
