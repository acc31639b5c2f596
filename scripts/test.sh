#!/usr/bin/env bash
# Install ooc with its dev extra into ./.venv, lint, and run the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k zoo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-toolchains.sh --with-chromium
source scripts/env.sh
# Monocypher, the runtime's Ed25519 verifier: fetched from PyPI and pinned (ooc_sdk/codegen/thirdparty.py)
python -m ooc_sdk.codegen.thirdparty >/dev/null
ruff check .
ruff format --check . || { echo "ooc: run 'ruff format .'" >&2; exit 1; }
lint-imports --no-cache   # the layering contract in pyproject.toml (docs/DESIGN.md, "Map")
# one worker per core (pytest-xdist); the slowest tests listed, to keep the suite short
python -m pytest -n auto --durations=12 "$@"
