#!/usr/bin/env bash
# The demo: install ooc into ./.venv, generate a keyword-spotting DS-CNN with 192 KiB of weights,
# build it to run out of core in a 64 KiB SRAM budget (plan, encrypted image, C sources, image
# written to an emulated W25Q128JV NOR flash), run it on this host with its weights only in that
# flash (every chunk read, verified and decrypted on the way), run the same build on an emulated
# Cortex-M4 (QEMU) in its planned SRAM, run it in the tflite-micro reference interpreter, and
# check all three agree bit for bit. The image is signed with a vendor key the device trusts: the
# device installs it on its first boot and refuses any image that key did not sign.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-toolchains.sh
source scripts/env.sh
out=demo-out
mkdir -p "$out"
set -x
ooc zoo ds-cnn --weights 192KiB --out "$out/ds_cnn.tflite" --seed 1
ooc inspect "$out/ds_cnn.tflite"
ooc signing-key -o "$out/vendor.key" --force
ooc keygen -o "$out/demo-device.key" --uid 00c0ffee00000001 --trust-anchor "$out/vendor.pub" --force
ooc plan "$out/ds_cnn.tflite" --sram 64KiB --flash w25q128jv --mcu cortex-m4
ooc build "$out/ds_cnn.tflite" --sram 64KiB --flash w25q128jv --mcu cortex-m4 \
    --device-key "$out/demo-device.key" --signing-key "$out/vendor.key" -o "$out/ds_cnn_build" --force
ooc run "$out/ds_cnn_build" --device-key "$out/demo-device.key" --seed 7 --output "$out/ds_cnn_ooc.npy"
ooc run "$out/ds_cnn_build" --device-key "$out/demo-device.key" --seed 7 --target qemu-m4 \
    --output "$out/ds_cnn_m4.npy"
ooc golden "$out/ds_cnn.tflite" --seed 7 --output "$out/ds_cnn_tflm.npy"
{ set +x; } 2>/dev/null
python - "$out" <<'PY'
import sys, numpy as np
ours, m4, ref = (np.load(f"{sys.argv[1]}/ds_cnn_{k}.npy") for k in ("ooc", "m4", "tflm"))
assert ours.tobytes() == ref.tobytes(), "ooc (host) and tflite-micro disagree"
assert m4.tobytes() == ref.tobytes(), "ooc (Cortex-M4) and tflite-micro disagree"
print("out-of-core ooc output, on the host and on the Cortex-M4, == tflite-micro output (bit-exact)")
PY
set -x
ooc verify "$out/ds_cnn_build/image" --device-key "$out/demo-device.key" --model "$out/ds_cnn.tflite"
ooc dumpinfo "$out/ds_cnn_build/image"
