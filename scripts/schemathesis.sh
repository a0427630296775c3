#!/usr/bin/env bash
# Installs the pinned schemathesis (scripts/schemathesis-requirements.txt) into its own venv and
# prints the path of its `st`. Idempotent: an existing venv whose packages match the pins is reused
# (seconds); otherwise it is made anew (about 15 s from PyPI). Needs python3.11 (or python3 ≥ 3.10)
# with venv and pip.
#
#   scripts/schemathesis.sh            install if needed; print the path of `st`
#
# The venv lives in $TRIAGE_SCHEMATHESIS_VENV, else ${XDG_CACHE_HOME:-~/.cache}/triage/schemathesis-<version>.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIREMENTS=scripts/schemathesis-requirements.txt
VERSION=$(sed -n 's/^schemathesis==//p' "$REQUIREMENTS")
VENV=${TRIAGE_SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/triage/schemathesis-$VERSION}

log() { printf '[schemathesis] %s\n' "$*" >&2; }

pins() { grep -v '^#' "$REQUIREMENTS" | tr 'A-Z_' 'a-z-' | sort; }
installed() { "$VENV/bin/python" -m pip freeze 2>/dev/null | tr 'A-Z_' 'a-z-' | sort; }

if [ -x "$VENV/bin/st" ] && [ "$(installed)" = "$(pins)" ]; then
  echo "$VENV/bin/st"
  exit 0
fi

PYTHON=$(command -v python3.11 || command -v python3 || true)
[ -n "$PYTHON" ] || { log "no python3.11 or python3 on PATH"; exit 1; }
log "installing schemathesis $VERSION into $VENV (with $PYTHON)"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS" >&2
"$VENV/bin/st" --version >&2
echo "$VENV/bin/st"
