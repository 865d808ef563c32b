#!/usr/bin/env bash
# A second virtual environment, .venv-peer, for the pfl-research side of simulations/peer_benchmark.py
# (the benchmark runs this on first use). pfl 0.6.0 pins attrs<24 (through dp-accounting), older than
# the attrs 26 the project's own packages run on, so it does not go into .venv. .venv-peer holds pfl
# and its pinned dependencies only; everything else (torch, the same build; transformers; fedrobust
# itself, editable) is read from .venv, added as a site directory after .venv-peer's own packages.
# Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
main_python=.venv/bin/python
[ -x "$main_python" ] || { echo "run scripts/setup.sh first (no .venv)" >&2; exit 2; }
if [ ! -x .venv-peer/bin/python ]; then
  "$main_python" -m venv .venv-peer
fi
# pfl[pytorch]==0.6.0 and what it pins, as `pip install "pfl[pytorch]==0.6.0"` resolves them next to
# torch 2.13 (torch itself comes from .venv)
.venv-peer/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
  "pfl==0.6.0" "absl-py==1.4.0" "attrs==23.2.0" "dm-tree==0.1.10" "dp-accounting==0.5.1" "prv-accountant==0.2.0" \
  "wheel==0.45.1" 2>&1 | grep -v "^WARNING: Location" || true
main_site=$("$main_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
peer_site=$(.venv-peer/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$peer_site/zz_fedrobust_main_venv.pth"
# a .pth line that starts with "import" runs: addsitedir also runs .venv's own .pth files (the editable fedrobust)
echo "import site; site.addsitedir('$main_site')" > "$peer_site/zz_fedrobust_main_venv.pth"
.venv-peer/bin/python -c 'import attrs, fedrobust, pfl.model.pytorch, torch
from importlib.metadata import version
print("ready: .venv-peer with pfl", version("pfl"), "attrs", attrs.__version__, "torch", torch.__version__)'
