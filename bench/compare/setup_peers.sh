#!/usr/bin/env bash
# The peers of bench/compare/run_compare.py that users pick today, in the git-ignored venv
# bench/.venv: PyTorch 2.x and JAX (CPU, jit) from PyPI, with numpy. (PyPI's Linux torch wheel
# brings the NVIDIA runtime libraries too: about 3 GB; PyTorch's CPU-only index is not reachable
# from the build machines.) Debian's python3-torch 1.13, the old baseline, comes from
# scripts/install-deps.sh --bench. Idempotent: a venv that imports both is left as it is.
#   bench/compare/setup_peers.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
venv=$ROOT/bench/.venv
if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c "import torch, jax" 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv" || { echo "setup_peers.sh: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q torch "jax[cpu]" numpy
"$venv/bin/python" -c "import torch, jax; print('bench/.venv: PyTorch', torch.__version__, '/ JAX', jax.__version__)"
