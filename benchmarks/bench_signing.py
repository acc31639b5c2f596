"""Signed images on the Cortex-M4: what the signature check, the install and the per-read device
tags cost, against the same build unsigned, in one run.

Run: python benchmarks/bench_signing.py [--model NAME] [--sram 64KiB] [--out FILE]

For one shared model (default kws_ref_model) built out of core twice with the same plan, once
unsigned and once signed (`ooc build --signing-key`), each with CTR + CMAC and CTR + Poly1305
chunk tags, on QEMU mps2-an386 with -icount shift=0 (deterministic instruction counts):

- mount: instructions of the mount on the first boot (signed: the signature check and the
  install: every chunk hashed with SHA-512 and re-tagged under the device's key, tags
  programmed) and on the next boot (signed: the signature check and the install record);
- inference: instructions of one inference and its crypto share (chunk tag checks and
  decryption, per byte of weights read): the signed image checks device tags, the unsigned one
  the batch tags; the goal is no more per byte.

Prints a table and writes JSON (default benchmarks/results/signing.json).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from ooc_sdk.build import BuildRequest, build
from ooc_sdk.formats.keystore import keystore_record
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.image.signing import SigningKey
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.run.qemu import run_build_m4
from ooc_sdk.targets import load_flash, load_mcu
from ooc_sdk.units import parse_size

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "models"


def _measure(out: Path, graph, device: DeviceKey, work: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    flash, ks = work / "flash.bin", work / "keystore.bin"
    shutil.copyfile(out / "flash.bin", flash)
    ks.write_bytes(keystore_record(device.uid, device.root_key, 0, device.anchors))
    x = random_inputs(graph, 0)
    runs = [run_build_m4(out, graph, device, [x], flash_file=flash, keystore=ks) for _ in range(2)]
    first, second = (r.report for r in runs)
    weights = max(second["flash_read_bytes"], 1)
    return {
        "mount_first_boot": first["mount_instructions"],
        "mount_next_boot": second["mount_instructions"],
        "inference": second["instructions"],
        "crypto": second["crypto_instructions"],
        "crypto_per_byte_read": second["crypto_instructions"] / weights,
        "flash_read_bytes": second["flash_read_bytes"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="kws_ref_model")
    ap.add_argument("--sram", default="64KiB")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "signing.json")
    args = ap.parse_args()
    path = SHARED / f"{args.model}.tflite"
    if not path.is_file():
        print(f"error: {path} is missing (../shared/models)", file=sys.stderr)
        return 2
    graph = load_model(path)
    vendor = SigningKey.generate()
    plain = DeviceKey(bytes(range(16)), bytes(range(32)))
    anchored = DeviceKey(plain.uid, plain.root_key, (vendor.public_key,))
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ooc-bench-signing-") as tmp:
        for tag in ("cmac", "poly1305"):
            req = PlanRequest(parse_size(args.sram), load_flash("w25q128jv"),
                              load_mcu("cortex-m4"), tag=tag)  # fmt: skip
            for name, key, device in (("unsigned", None, plain), ("signed", vendor, anchored)):
                out, work = Path(tmp) / f"{tag}-{name}", Path(tmp) / f"{tag}-{name}-run"
                work.mkdir()
                print(f"building and running {args.model} {tag} {name} ...", file=sys.stderr)
                build(graph, path.read_bytes(), out, plain,
                      BuildRequest(req, signing_key=key))  # fmt: skip
                rows[f"{tag} {name}"] = _measure(out, graph, device, work)
    head = (
        f"{'image':<18}{'mount 1st boot':>16}{'mount later':>14}{'inference':>14}{'crypto/B':>10}"
    )
    print(head)
    for name, r in rows.items():
        print(
            f"{name:<18}{r['mount_first_boot']:>16,.0f}{r['mount_next_boot']:>14,.0f}"
            f"{r['inference']:>14,.0f}{r['crypto_per_byte_read']:>10.1f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"model": args.model, "sram": args.sram, "rows": rows}, indent=1)
    )
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
