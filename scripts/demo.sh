#!/usr/bin/env bash
# The demo: install ooc into ./.venv, generate a keyword-spotting DS-CNN with the zoo,
# inspect it, emit its C, run it with the ooc C runtime and in the tflite-micro
# reference interpreter, and check the two agree bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out=demo-out
mkdir -p "$out"
set -x
ooc zoo ds-cnn --out "$out/ds_cnn.tflite" --seed 1
ooc inspect "$out/ds_cnn.tflite"
ooc codegen "$out/ds_cnn.tflite" -o "$out/ds_cnn_c"
ooc run "$out/ds_cnn.tflite" --seed 7 --output "$out/ds_cnn_ooc.npy"
ooc golden "$out/ds_cnn.tflite" --seed 7 --output "$out/ds_cnn_tflm.npy"
{ set +x; } 2>/dev/null
python - "$out" <<'PY'
import sys, numpy as np
ours, ref = (np.load(f"{sys.argv[1]}/ds_cnn_{k}.npy") for k in ("ooc", "tflm"))
assert ours.tobytes() == ref.tobytes(), "ooc and tflite-micro disagree"
print("ooc runtime output == tflite-micro output (bit-exact)")
PY
