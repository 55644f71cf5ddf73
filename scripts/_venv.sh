# Sourced by scripts/run and scripts/test: make sure .venv exists and holds an up-to-date editable install.
# Usage: ensure_venv EXTRAS [SIM]   (EXTRAS is "" or "[test]"; SIM=sim also installs the v7 simulator from
# simulator/, which the tests and the demo need). Re-installs only when a pyproject.toml changed.
set -euo pipefail

ensure_venv() {
    local extras="$1"
    local sim="${2:-}"
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
    hash="$(cat pyproject.toml simulator/pyproject.toml | cksum | cut -d' ' -f1)"
    local stamp=".venv/.installed${extras}${sim}-${hash}"
    # The test install includes the plain one and the simulator.
    if [ ! -e "$stamp" ] && [ ! -e ".venv/.installed[test]sim-${hash}" ]; then
        local what=(-e ".${extras}")
        if [ -n "$sim" ]; then what+=(-e ./simulator); fi
        echo "Installing balena-v6-proxy${extras}${sim:+ and balena-v7-simulator} into .venv" >&2
        .venv/bin/python -m pip install -q "${what[@]}"
        touch "$stamp"
    fi
}
