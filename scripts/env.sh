# Source this file: makes sure ./.venv exists with ooc-sdk and its dev extra installed,
# then activates it. Reinstalls only when pyproject.toml changed since the last install.
set -euo pipefail
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_venv="$_root/.venv"
if [ ! -x "$_venv/bin/python" ]; then
    echo "ooc: creating $_venv" >&2
    python3 -m venv "$_venv"
fi
_stamp="$_venv/.ooc-installed"
_want="$(sha256sum "$_root/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$_stamp" ] || [ "$(cat "$_stamp")" != "$_want" ]; then
    echo "ooc: installing ooc-sdk[dev] into $_venv" >&2
    "$_venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2 || true
    "$_venv/bin/python" -m pip install --quiet -e "$_root[dev]" 2>&1 | grep -v '^WARNING: Location' >&2 || true
    "$_venv/bin/python" -c "import ooc_sdk, tflite_micro" || { echo "ooc: installation failed" >&2; exit 1; }
    echo "$_want" > "$_stamp"
fi
# shellcheck disable=SC1091
source "$_venv/bin/activate"
