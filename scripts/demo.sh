#!/usr/bin/env bash
# The demo: install ooc into ./.venv, generate a keyword-spotting DS-CNN with the zoo,
# inspect it, and run it in the tflite-micro reference interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out=demo-out
mkdir -p "$out"
set -x
ooc zoo ds-cnn --out "$out/ds_cnn.tflite" --seed 1
ooc inspect "$out/ds_cnn.tflite"
ooc golden "$out/ds_cnn.tflite" --seed 7 --output "$out/ds_cnn_golden.npy"
