#!/usr/bin/env bash
# Create .venv-serve: `transformers serve` (an OpenAI-compatible server) for tests/test_openai_serve.py.
#
# It lives apart from .venv because Qwen-VL processors under `transformers serve` need torchvision, and no
# torchvision build fits the CPU torch of .venv; torch 2.14.1 + torchvision 0.29.1 (a CUDA build, which
# runs on CPU too; ~5.7 GB installed) go here instead, with the same transformers version as .venv.
# Idempotent: does nothing when .venv-serve already has exactly these versions.
#
#   bash tests/helpers/serve_venv.sh            # or: PYTHON=python3.11 bash tests/helpers/serve_venv.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SERVE_VENV:-$ROOT/.venv-serve}"  # SERVE_VENV: another place (e.g. to time a fresh install)
PYTHON="${PYTHON:-python3}"
TORCH="torch==2.14.1"
TORCHVISION="torchvision==0.29.1"

if [[ -x "$ROOT/.venv/bin/python" ]]; then
    TRANSFORMERS_VERSION="$("$ROOT/.venv/bin/python" -c 'import transformers; print(transformers.__version__)' 2>/dev/null || true)"
fi
TRANSFORMERS="transformers[serving]${TRANSFORMERS_VERSION:+==$TRANSFORMERS_VERSION}"
WANT="$TORCH $TORCHVISION $TRANSFORMERS"
STAMP="$VENV/.deskpilot-serve"

if [[ -x "$VENV/bin/transformers" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "serve venv: $VENV is up to date ($WANT)"
    exit 0
fi

echo "serve venv: creating $VENV with $WANT"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "$TORCH" "$TORCHVISION" "$TRANSFORMERS"
"$VENV/bin/python" -c 'import torch, torchvision, transformers, fastapi, uvicorn; print("serve venv: torch", torch.__version__, "torchvision", torchvision.__version__, "transformers", transformers.__version__)'
echo "$WANT" > "$STAMP"
