#!/usr/bin/env bash
# Installs the Debian packages lctw needs to build and test. Idempotent and quiet: prints
# nothing when everything is present. Without root it names exactly what is missing.
set -euo pipefail

PKGS=(
  gcc make
  liblua5.4-dev     # embedded Lua 5.4
  libreadline-dev   # REPL
  libncursesw5-dev  # dashboard
  libopenblas-dev   # CPU GEMM
  libpng-dev libjpeg-dev  # images
  tmux              # REPL and dashboard tests
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "lctw: missing Debian packages: ${missing[*]}" >&2
  echo "      install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "lctw: installing ${missing[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "lctw: dependencies installed" >&2
