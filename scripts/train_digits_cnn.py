"""Train the digits CNN of the approximate-inference evaluation and write it with its data.

Usage: python scripts/train_digits_cnn.py OUT_DIR [--seed N] [--epochs N] [--group-lasso W]

Writes OUT_DIR/digits_cnn.tflite (int8, ooc_sdk/model/zoo/digits.py: trained in numpy on the
first 1,200 of scikit-learn's bundled 8x8 digits) and OUT_DIR/digits.npz (x: the 597 held-out
digits as the model's int8 input, y: their labels), ready for
`ooc approx OUT_DIR/digits_cnn.tflite --data OUT_DIR/digits.npz -o approx/`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ooc_sdk.model.zoo import digits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--group-lasso", type=float, default=digits.GROUP_LASSO,
                    help="weight of the penalty on the operand groups' norms (0: none)")  # fmt: skip
    args = ap.parse_args()
    model, accuracy = digits.train(args.seed, args.epochs, args.group_lasso)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "digits_cnn.tflite").write_bytes(model)
    x, y = digits.evaluation_set()
    np.savez(args.out_dir / "digits.npz", x=x, y=y)
    print(f"float accuracy on the held-out digits {accuracy:.4f}; wrote "
          f"{args.out_dir}/digits_cnn.tflite ({len(model):,} bytes) and digits.npz")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
