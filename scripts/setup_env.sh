#!/usr/bin/env bash
# Create or reuse .venv/ and install what is missing. Idempotent: a second run on an installed
# machine only checks imports (a few seconds).
#
# Variables:
#   PYTHON        interpreter that creates the venv (default: python3, must be >= 3.10)
#   TORCH_SPEC    pip requirement(s) for torch, e.g. "torch==2.5.1 torchvision==0.20.1"
#                 (default: torch==2.14.1 torchvision==0.29.1)
#   TORCH_INDEX   extra pip index for torch, e.g. https://download.pytorch.org/whl/cu124
#   VENV          venv location (default: .venv in the project root)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$root/.venv}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
D2_SPEC=${D2_SPEC:-sal-detectron2==0.7.2}
py="$VENV/bin/python"
pip() { "$py" -m pip --disable-pip-version-check -q "$@"; }

if [ ! -x "$py" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi

if ! "$py" -c "import torch, torchvision" 2>/dev/null; then
  echo "[setup] installing $TORCH_SPEC"
  # shellcheck disable=SC2086
  pip install ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} $TORCH_SPEC
fi

# One stamp per requirements content, so an edited requirements or constraints file triggers a
# re-install.
stamp="$VENV/.srtod-reqs-$(cat requirements.txt requirements-test.txt constraints.txt | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing requirements.txt and requirements-test.txt (versions in constraints.txt)"
  pip install -r requirements.txt -r requirements-test.txt -c constraints.txt
  rm -f "$VENV"/.srtod-reqs-*
  touch "$stamp"
fi

# A detectron2 the user already has wins. Otherwise install the registry build: its wheel is
# tagged cp310 but its Python code runs on newer interpreters (the compiled _C is optional and
# only loaded lazily), so we fetch it for 3.10 into a temporary folder and copy the package in.
# Its own top-level `tools` package is left out on purpose: it would shadow ours.
if ! "$py" -c "import detectron2" 2>/dev/null; then
  echo "[setup] installing detectron2 from $D2_SPEC"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  pip install --no-deps --only-binary=:all: --python-version 3.10 --target "$tmp" "$D2_SPEC"
  site=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  cp -r "$tmp"/detectron2 "$tmp"/*.dist-info "$site"/
fi

"$py" - <<'PY'
import detectron2, torch, torchvision
print(f"[setup] ok: python {__import__('sys').version.split()[0]}, torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, detectron2 {detectron2.__version__} "
      f"({detectron2.__file__.rsplit('/', 2)[0]})")
PY
