#!/usr/bin/env bash
# Install ooc with its dev extra into ./.venv, lint, and run the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -k zoo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-toolchains.sh --with-chromium
source scripts/env.sh
ruff check .
ruff format --check . || { echo "ooc: run 'ruff format .'" >&2; exit 1; }
python -m pytest --durations=12 "$@"   # the slowest tests, to keep the suite short
