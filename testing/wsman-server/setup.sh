#!/usr/bin/env bash
# Create (or reuse) the venv for the WS-Management test server and print its python path on stdout.
#
#   PY="$(testing/wsman-server/setup.sh)"
#   "$PY" testing/wsman-server/check_pywinrm.py
#
# The venv lives at ${OPSCONDUCTOR_WSMAN_VENV:-$HOME/.cache/opsconductor/wsman-venv}. All progress
# messages go to stderr so stdout carries only the interpreter path. Quick when already set up: the
# venv is reused as long as it imports spnego + winrm and requirements.txt is unchanged.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQ="$HERE/requirements.txt"
VENV="${OPSCONDUCTOR_WSMAN_VENV:-$HOME/.cache/opsconductor/wsman-venv}"
BASE_PY=/usr/bin/python3
STAMP="$VENV/.opsconductor-requirements.sha256"

log() { echo "setup.sh: $*" >&2; }

want="$(sha256sum "$REQ" | cut -d' ' -f1)"

# Fast path: nothing to do.
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && "$VENV/bin/python" -c 'import spnego, winrm' >/dev/null 2>&1; then
    echo "$VENV/bin/python"
    exit 0
fi

if [ ! -x "$BASE_PY" ]; then
    log "$BASE_PY not found"
    exit 1
fi

# Debian splits venv/ensurepip into python3-venv.
if ! "$BASE_PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    log "python3-venv missing; installing it with apt-get"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else log "need root (or sudo) for apt-get"; exit 1; fi
    fi
    $SUDO apt-get update >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y python3-venv >&2
fi

# A venv whose interpreter no longer starts (e.g. the base python changed) is rebuilt.
if [ -e "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "removing broken venv at $VENV"
    rm -rf "$VENV"
fi

if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv at $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$BASE_PY" -m venv "$VENV"
fi

log "installing pinned requirements"
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQ" >&2
"$VENV/bin/python" -c 'import spnego, winrm' >&2
echo "$want" > "$STAMP"
echo "$VENV/bin/python"
