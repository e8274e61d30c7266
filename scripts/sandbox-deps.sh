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
# Upstream schemas the sandbox's API server validates against (crates/sandbox/src/kube/schema.rs):
# the Kubernetes OpenAPI schemas per version from PyPI kubernetes-validate, and the JSON schemas
# generated from Istio's (1.18) and cert-manager's (1.11) CRDs from npm @kubernetes-models (the
# versions pinned here ship them as JSON literals; later ones ship compiled validators only).
# npm installs into a fixed per-user prefix, where the sandbox looks (MESHCTL_SANDBOX_CRD_SCHEMAS
# overrides it; MESHCTL_SANDBOX_K8S_SCHEMAS overrides the Kubernetes one).
if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
  echo "installing kubernetes-validate from PyPI" >&2
  python3 -m pip install --quiet --user 'kubernetes-validate==1.37.0' 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages --user 'kubernetes-validate==1.37.0'
fi
npm_prefix="$HOME/.local/share/meshctl-sandbox/npm"
if ! grep -qs '"version": "4.3.1"' "$npm_prefix/node_modules/@kubernetes-models/cert-manager/package.json" \
  || ! grep -qs '"version": "2.3.0"' "$npm_prefix/node_modules/@kubernetes-models/istio/package.json"; then
  echo "installing @kubernetes-models/istio and @kubernetes-models/cert-manager from npm into $npm_prefix" >&2
  mkdir -p "$npm_prefix"
  npm install --prefix "$npm_prefix" --no-audit --no-fund --silent \
    '@kubernetes-models/istio@2.3.0' '@kubernetes-models/cert-manager@4.3.1'
fi
