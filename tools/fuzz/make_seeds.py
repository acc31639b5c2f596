"""Write the seed corpus for tools/fuzz/fuzz_image.c.

Each seed is one mode byte followed by a complete, valid image packed for the harness's test-only
device (UID and root key read from fuzz_image.c, so the two never drift apart). Every image is
written with mode bit 0 clear ("raw") and set ("re-sealed"); mode bit 1 says which root key length
the image was packed for; two images also get the other mode settings (EXTRA_MODES). Images are
deterministic (fixed content key, build id and time) and small: tiny models, 256 B - 1 KiB chunks,
a 4 KiB scratch partition and three metadata sectors (the fewest that hold the metadata files).

Each line printed names a seed and ends with what the harness must report for it: the mount
result and, when it mounts, how many chunks read back (run.sh checks this before fuzzing).

Usage: python tools/fuzz/make_seeds.py OUT_DIR
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ooc_sdk.formats import image as fmt
from ooc_sdk.image.keys import DeviceKey
from ooc_sdk.image.pack import PackedImage, PackOptions, pack_image
from ooc_sdk.model import load_model, parse_model, zoo
from ooc_sdk.model.ir import Graph
from ooc_sdk.model.zoo import Knobs
from ooc_sdk.targets import load_flash

HARNESS = Path(__file__).with_name("fuzz_image.c")
MODELS = Path("/work/shared/models")
MAX_SEED_BYTES = 100 * 1024
# PackOptions accepts 2 metadata sectors, but littlefs runs out of space (LFS_ERR_NOSPC) for the
# three metadata files in 2 x 4 KiB: 3 is the smallest that packs.
METADATA_SECTORS = 3

MODE_RESEALED = 0x01
MODE_ROOT_KEY_32 = 0x02
# Extra mode bytes for some images, so the corpus starts with the harness's other settings (a
# one-byte mode in a 24 KiB input is rarely mutated): name, mode, mount result (ooc.h).
EXTRA_MODES = [
    ("faults", MODE_RESEALED | 0x04, 0),  # the last chunk is unreadable: its read fails
    ("top", MODE_RESEALED | 0x08, 0),  # image at the top of the 32-bit address space
    ("model", MODE_RESEALED | 0x40, 0),  # expected model and plan: the image's own
    ("rollback", MODE_RESEALED | 0x30, -12),  # device counter 0xFFFFFFFF: OOC_ERR_ROLLBACK
    ("othermodel", MODE_RESEALED | 0xC0, -13),  # another plan id expected: OOC_ERR_MODEL
]


def harness_bytes(name: str) -> bytes:
    """The bytes of the C array ``name`` in fuzz_image.c."""
    m = re.search(rf"\b{name}\[\d+\]\s*=\s*\{{([^}}]*)\}}", HARNESS.read_text())
    if m is None:
        sys.exit(f"make_seeds: {name} not found in {HARNESS}")
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-fA-F]{2})", m.group(1)))


@dataclass
class Seed:
    name: str
    graph: Graph
    cipher: int
    tag_alg: int
    chunk_bytes: int
    root_key_bytes: int
    security_counter: int = 0
    extra_modes: bool = False


def tiny_graphs() -> list[tuple[str, Graph]]:
    """Models with 0.4 - 2 KiB of weights: every exec reads and checks all of it, twice."""
    return [
        ("hello", load_model(MODELS / "hello_world_int8.tflite")),
        ("dscnn", parse_model(zoo.generate("ds-cnn", Knobs(width=8, depth=1)).data)),
        ("resnet8", parse_model(zoo.generate("resnet8", Knobs(width=2)).data)),
        ("dscnn2", parse_model(zoo.generate("ds-cnn", Knobs(width=16, depth=2)).data)),
    ]


def seeds() -> list[Seed]:
    combos = [  # every cipher x tag pair, both root key lengths, several chunk sizes
        (fmt.CIPHER_AES128_CTR, fmt.TAG_AES_CMAC, 256, 16, 0, True),
        (fmt.CIPHER_AES256_CTR, fmt.TAG_POLY1305, 512, 32, 1, True),
        (fmt.CIPHER_AES128_CTR, fmt.TAG_POLY1305, 256, 16, 2, False),
        (fmt.CIPHER_AES256_CTR, fmt.TAG_AES_CMAC, 1024, 32, 0, False),
    ]
    out = []
    for (name, graph), combo in zip(tiny_graphs(), combos, strict=True):
        out.append(Seed(name, graph, *combo))
    return out


def pack(seed: Seed, uid: bytes, root_key: bytes) -> PackedImage:
    device = DeviceKey(uid, root_key[: seed.root_key_bytes])
    options = PackOptions(
        load_flash("w25q128jv"),
        cipher=seed.cipher,
        tag_alg=seed.tag_alg,
        security_counter=seed.security_counter,
        chunk_bytes=seed.chunk_bytes,
        scratch_bytes=4096,
        metadata_sectors=METADATA_SECTORS,
    )
    key_len = fmt.CIPHER_KEY_BYTES[seed.cipher]
    ck = hashlib.sha256(b"ooc fuzz content key " + seed.name.encode()).digest()[:key_len]
    build_id = hashlib.sha256(b"ooc fuzz build id " + seed.name.encode()).digest()[:16]
    return pack_image(seed.graph, device, options, content_key=ck, build_id=build_id, now=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="corpus directory (created)")
    args = parser.parse_args()
    uid = harness_bytes("FUZZ_DEVICE_UID")
    root_key = harness_bytes("FUZZ_ROOT_KEY")
    if len(uid) != fmt.UID_BYTES or len(root_key) != 32:
        sys.exit("make_seeds: unexpected UID or root key length in fuzz_image.c")
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in seeds():
        packed = pack(seed, uid, root_key)
        image, n_chunks = packed.image, len(packed.chunks)
        rk_bit = MODE_ROOT_KEY_32 if seed.root_key_bytes == 32 else 0
        modes = [("raw", 0, 0), ("resealed", MODE_RESEALED, 0)]
        if seed.extra_modes:
            modes += EXTRA_MODES
        for mode_name, mode, expect in modes:
            data = bytes([mode | rk_bit]) + image
            if len(data) > MAX_SEED_BYTES:
                print(f"make_seeds: warning: {seed.name} is {len(data)} bytes", file=sys.stderr)
            path = args.out / f"seed-{seed.name}-{mode_name}.bin"
            path.write_bytes(data)
            # run.sh reads the end of the line: the mount result the harness must report and,
            # when it mounts, how many chunks must read back.
            expect_text = f"expect mount {expect}"
            if expect == 0:
                ok = n_chunks - 1 if mode & 0x04 else n_chunks
                expect_text += f" read {ok}/{n_chunks}"
            print(
                f"{path.name}: {len(data)} bytes, mode {mode | rk_bit:#04x}, "
                f"{fmt.CIPHER_NAMES[seed.cipher]}, {fmt.TAG_NAMES[seed.tag_alg]}, "
                f"chunk {seed.chunk_bytes}, root key {seed.root_key_bytes}, {expect_text}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
