#!/usr/bin/env bash
# Install qa and everything it needs into the current Python environment
# (a virtualenv if one is active). Safe to run again.
#
# torch: an installed torch (for example a CUDA build on a GPU runner) is
# kept. Where none is installed, QA_TORCH (default "torch==2.13.0") is
# installed; on our machines pip finds the CPU build of 2.13.0 in its local
# find-links folder, so no CUDA packages are pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

if "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "setup: keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
    echo "setup: installing ${QA_TORCH:-torch==2.13.0}"
    "$PY" -m pip install --quiet "${QA_TORCH:-torch==2.13.0}"
fi

"$PY" -m pip install --quiet -e ".[dev,ray,train]"

# pyenv only exposes new console scripts after a rehash.
if command -v pyenv >/dev/null 2>&1; then
    pyenv rehash || true
fi
echo "setup: done ($("$PY" -m qa --version))"
