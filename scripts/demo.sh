#!/usr/bin/env bash
# The main job, as far as it exists today: build meshctl, then validate every example stack and
# print its dependency order. (Plan and apply against the sandbox join as their issues land.)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
cargo build --locked --release -p meshctl
meshctl=target/release/meshctl
for stack in stacks/*.yaml; do
  "$meshctl" validate -f "$stack"
  "$meshctl" graph -f "$stack" --format mermaid | head -n 4
  echo "  ..."
done
