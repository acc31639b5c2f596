#!/usr/bin/env bash
# The demo: install ooc into ./.venv, generate a keyword-spotting DS-CNN with the zoo,
# inspect it, emit its C, run it with the ooc C runtime and in the tflite-micro
# reference interpreter, check the two agree bit for bit, then pack its weights into an
# encrypted, authenticated flash image for a demo device and verify every tag.
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
set -x
ooc keygen -o "$out/demo-device.key" --uid 00c0ffee00000001 --force
ooc pack "$out/ds_cnn.tflite" --device-key "$out/demo-device.key" -o "$out/ds_cnn_image"
ooc verify "$out/ds_cnn_image" --device-key "$out/demo-device.key" --model "$out/ds_cnn.tflite"
ooc dumpinfo "$out/ds_cnn_image"
