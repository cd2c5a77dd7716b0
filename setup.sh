#!/usr/bin/env bash
# Create .venv (Python 3.11 by default; PYTHON=python3.12 also works) and install requirements.txt.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
export PIP_CONSTRAINT="$PWD/constraints.txt" PIP_BUILD_CONSTRAINT="$PWD/constraints.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install --quiet --no-cache-dir -r requirements.txt
.venv/bin/python -c "import ganlib.compat, chainer; print('setup ok: chainer', chainer.__version__)"
