#!/usr/bin/env bash
# The main job, as far as it exists today: build meshctl; validate, graph and plan every example
# stack; then apply seed 001's stack and plan it again. Until the sandbox (moto + a local
# Kubernetes) lands, the apply runs against the in-memory test cloud through `meshctl-testbed`
# (meshctl's own command line with the fake cloud as its only provider).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
cargo build --locked --release -p meshctl -p meshctl-testkit
meshctl=$PWD/target/release/meshctl
testbed=$PWD/target/release/meshctl-testbed
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for stack in stacks/*.yaml; do
  echo "== $stack"
  "$meshctl" validate -f "$stack"
  "$meshctl" graph -f "$stack" --format mermaid | head -n 4
  "$meshctl" plan -f "$stack" --state "$scratch/$(basename "$stack" .yaml)" --refresh=false | head -n 1
done

echo
echo "== apply stacks/seed-001-https.yaml against the in-memory test cloud"
export MESHCTL_FAKE_CLOUD="$scratch/cloud.json" MESHCTL_FAKE_LATENCY_MS=200
"$testbed" apply -f stacks/seed-001-https.yaml --state "$scratch/apply" --auto-approve > /dev/null
echo "== plan again: nothing left to do"
"$testbed" plan -f stacks/seed-001-https.yaml --state "$scratch/apply" --detailed-exitcode
