# Sourced by scripts/run and scripts/test: make sure .venv exists and holds an up-to-date editable install.
# Usage: ensure_venv EXTRAS   (EXTRAS is "" or "[test]"). Re-installs only when pyproject.toml changed.
set -euo pipefail

ensure_venv() {
    local extras="$1"
    local python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "error: Python 3.11 or newer is needed (tried '$python'; set PYTHON=/path/to/python3.11)" >&2
            exit 1
        fi
        echo "Creating .venv with $("$python" --version)" >&2
        "$python" -m venv .venv
    fi
    local hash
    hash="$(cksum < pyproject.toml | cut -d' ' -f1)"
    local stamp=".venv/.installed${extras}-${hash}"
    # The test install includes the plain one.
    if [ ! -e "$stamp" ] && [ ! -e ".venv/.installed[test]-${hash}" ]; then
        echo "Installing balena-v6-proxy${extras} into .venv" >&2
        .venv/bin/python -m pip install -q -e ".${extras}"
        touch "$stamp"
    fi
}
