"""Secure image speed: C verify+decrypt throughput and `ooc pack` time, in one run.

Run: python benchmarks/bench_crypto.py [--mib 64] [--out benchmarks/results/crypto.json]

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
from ooc_sdk.targets import load_flash

MODEL = "mobilenet_v2_quantized_1x3x224x224.tflite"


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
    args = ap.parse_args()
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "processor": platform.processor() or platform.machine(),
                "throughput": rows,
                "pack_seconds": round(seconds, 3),
                "pack_model": MODEL,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
