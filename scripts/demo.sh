#!/usr/bin/env bash
# The main job, as far as it exists today: build meshctl, then validate every example stack, print
# its dependency order and plan it against a scratch state. (Apply against the sandbox joins when
# the executor, providers and sandbox land.)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
cargo build --locked --release -p meshctl
meshctl=$PWD/target/release/meshctl
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for stack in stacks/*.yaml; do
  echo "== $stack"
  "$meshctl" validate -f "$stack"
  "$meshctl" graph -f "$stack" --format mermaid | head -n 4
  "$meshctl" plan -f "$stack" --state "$scratch/$(basename "$stack" .yaml)" --refresh=false | head -n 1
done
