#!/usr/bin/env bash
# Install the C toolchains the tests use, from Debian's packages, if they are missing:
# a host C compiler, arm-none-eabi-gcc with newlib (Cortex-M builds), qemu-system-arm (runs
# the Cortex-M4 builds: ooc run --target qemu-m4), cmake and make (tests/test_emitted_build.py
# builds the project ooc codegen emits with both), and with --with-chromium headless Chromium
# (tests/test_report.py opens the page of `ooc report` in it; the demo does not need it),
# SoftHSM2 (tests/test_pkcs11.py keeps the factory master key in a software PKCS#11 token),
# PostgreSQL's server (tests/test_registry_pg.py starts its own with initdb and pg_ctl), and
# Mbed TLS's development files (the PSA Crypto engine, c_runtime/ports/psa, and
# tests/test_mbedtls.py).
set -euo pipefail
need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v arm-none-eabi-gcc >/dev/null 2>&1 || need+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || need+=(qemu-system-arm)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v make >/dev/null 2>&1 || need+=(make)
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
    || need+=(postgresql)
# Mbed TLS: the PSA Crypto engine backend's host build and the crypto cross-checks link it
[ -f /usr/include/psa/crypto.h ] || need+=(libmbedtls-dev)
if [ "${1:-}" = "--with-chromium" ]; then
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "ooc: installing ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
