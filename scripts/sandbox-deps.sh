#!/usr/bin/env bash
# Installs what the sandbox runs on when it is missing: moto's server (PyPI `moto[server]`) for
# AWS, and kubectl (Debian `kubernetes-client`) to check the local Kubernetes with a real client.
set -euo pipefail
if ! command -v moto_server >/dev/null; then
  echo "installing moto[server] from PyPI" >&2
  python3 -m pip install --quiet --user 'moto[server]' 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages --user 'moto[server]'
  export PATH="$HOME/.local/bin:$PATH"
  command -v moto_server >/dev/null || { echo "moto_server is still not on PATH" >&2; exit 1; }
fi
if ! command -v kubectl >/dev/null; then
  echo "installing kubectl (Debian kubernetes-client)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq kubernetes-client
fi
