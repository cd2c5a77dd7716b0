#!/usr/bin/env bash
# Create a virtual environment and install requirements.txt.  Idempotent: a second run only checks.
#
#   ./setup.sh                 .venv         Python 3.11, NumPy 1.26 (the default stack)
#   STACK=numpy2 ./setup.sh    .venv-numpy2  Python 3.12, NumPy 2.x (the GPU machines' stack)
#   ./setup.sh --mpi           also Open MPI (apt-get, when root and missing) and mpi4py, for --communicator
#
# PYTHON=... and VENV=... override the interpreter and the folder.
set -euo pipefail
cd "$(dirname "$0")"
MPI=0
for arg in "$@"; do
  case "$arg" in
    --mpi) MPI=1 ;;
    *) echo "setup.sh: error: unknown option $arg (use --mpi)" >&2; exit 2 ;;
  esac
done
STACK=${STACK:-default}
case "$STACK" in
  default) want=3.11; VENV=${VENV:-.venv}; NUMPY='numpy<2' ;;
  numpy2)  want=3.12; VENV=${VENV:-.venv-numpy2}; NUMPY='numpy>=2' ;;
  *) echo "setup.sh: error: STACK must be default or numpy2, got $STACK" >&2; exit 2 ;;
esac

find_python() {  # python$want on PATH, else pyenv's, else python3
  local c
  for c in "python$want" "$(pyenv root 2>/dev/null)"/versions/"$want"*/bin/"python$want"; do
    if [ -n "$c" ] && "$c" -c 'pass' >/dev/null 2>&1; then echo "$c"; return; fi
  done
  echo python3
}
PYTHON=${PYTHON:-$(find_python)}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
export PIP_CONSTRAINT="$PWD/constraints.txt" PIP_BUILD_CONSTRAINT="$PWD/constraints.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/python" -m pip install --quiet --no-cache-dir -r requirements.txt "$NUMPY"
if [ "$MPI" = 1 ]; then
  if ! command -v mpiexec >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openmpi-bin libopenmpi-dev >/dev/null
    else
      echo "setup.sh: error: --mpi needs Open MPI (Debian: sudo apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 2
    fi
  fi
  "$VENV/bin/python" -m pip install --quiet --no-cache-dir -r requirements-mpi.txt
fi
"$VENV/bin/python" -c "import ganlib.compat, chainer, numpy, sys; print('setup ok ($VENV): Python', sys.version.split()[0], '| chainer', chainer.__version__, '| numpy', numpy.__version__)"
