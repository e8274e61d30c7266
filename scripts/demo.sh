#!/usr/bin/env bash
# The main job, as far as it exists today: build meshctl; validate, graph and plan every example
# stack; apply the AWS half of seed 001's stack to the sandbox (moto, started by
# `meshctl-sandbox`) with the real AWS provider, plan it again (no changes) and destroy it; then
# apply the whole stack to the in-memory test cloud through `meshctl-testbed`, until the
# Kubernetes provider lands.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
export PATH="$HOME/.local/bin:$PATH"
scripts/sandbox-deps.sh
cargo build --locked --release -p meshctl -p meshctl-testkit -p meshctl-sandbox
meshctl=$PWD/target/release/meshctl
testbed=$PWD/target/release/meshctl-testbed
scratch=$(mktemp -d)
sandbox_pid=""
trap '[ -z "$sandbox_pid" ] || kill "$sandbox_pid" 2>/dev/null; rm -rf "$scratch"' EXIT
for stack in stacks/*.yaml; do
  echo "== $stack"
  "$meshctl" validate -f "$stack"
  "$meshctl" graph -f "$stack" --format mermaid | head -n 4
  "$meshctl" plan -f "$stack" --state "$scratch/$(basename "$stack" .yaml)" --refresh=false | head -n 1
done

echo
echo "== start the sandbox (moto + local Kubernetes)"
"$PWD/target/release/meshctl-sandbox" --dir "$scratch/sandbox" > "$scratch/sandbox.env" &
sandbox_pid=$!
for _ in $(seq 200); do grep -qx ready "$scratch/sandbox.env" && break; sleep 0.1; done
grep -qx ready "$scratch/sandbox.env" || { echo "the sandbox did not start" >&2; exit 1; }
eval "$(grep '^export ' "$scratch/sandbox.env")"
python3 - <<'PY'
import boto3  # installed with moto; the zone stands for the one the registrar created
boto3.client("route53").create_hosted_zone(Name="moamoa-news.com", CallerReference="demo")
PY
aws_part=(--target nodegroup.workers --target iam_service_account.aws-load-balancer-controller
  --target iam_service_account.cert-manager --target acm_certificate.wildcard)
echo "== apply the AWS half of stacks/seed-001-https.yaml to moto with the AWS provider"
"$meshctl" apply -f stacks/seed-001-https.yaml --state "$scratch/aws" "${aws_part[@]}" --auto-approve > /dev/null
echo "== plan again: nothing left to do"
"$meshctl" plan -f stacks/seed-001-https.yaml --state "$scratch/aws" "${aws_part[@]}" --detailed-exitcode
echo "== destroy"
"$meshctl" destroy -f stacks/seed-001-https.yaml --state "$scratch/aws" --auto-approve | tail -n 1

echo
echo "== apply stacks/seed-001-https.yaml against the in-memory test cloud"
export MESHCTL_FAKE_CLOUD="$scratch/cloud.json" MESHCTL_FAKE_LATENCY_MS=200
"$testbed" apply -f stacks/seed-001-https.yaml --state "$scratch/apply" --auto-approve > /dev/null
echo "== plan again: nothing left to do"
"$testbed" plan -f stacks/seed-001-https.yaml --state "$scratch/apply" --detailed-exitcode
