#!/usr/bin/env bash
# The GPU step, measured once on a lent H100/H200 (bench/gpu_step.py says what is measured and how).
# Needs a CUDA torch and a transformers 5 that has Qwen3.5 in .venv; flash-attn, flash-linear-attention and
# causal-conv1d are used when installed (the first line of the output says which were there).
# About 5 minutes for the six models at both budgets; add --compile for the static-cache + torch.compile rows
# (a few minutes more per model: each compiles once). Extra arguments go to bench/gpu_step.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/gpu_step.py --json "$@"
