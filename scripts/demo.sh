#!/usr/bin/env bash
# The main job: build meshctl; validate, graph and plan every example stack; start the sandbox
# (`meshctl-sandbox`: moto for AWS, a local Kubernetes API server with the Load Balancer
# Controller and cert-manager, helm and istioctl stand-ins); plan and apply seed 001's whole stack
# to it (VPC, EKS, IRSA, the add-ons, Istio, the ALB, certificates, Route53) with the real
# providers; show that a second plan has no changes; edit the ALB's Ingress by hand and show
# `meshctl drift` naming the field, apply putting it back; destroy it all.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
export PATH="$HOME/.local/bin:$PATH"
scripts/sandbox-deps.sh
# The dev profile: a cold build takes minutes instead of half an hour (the AWS SDK crates dominate
# it), the binaries are the ones `cargo test` builds, and an apply spends its time waiting on the
# sandbox, not computing. `cargo install --path crates/cli` builds the optimized binary.
cargo build --locked -p meshctl -p meshctl-sandbox
meshctl=$PWD/target/debug/meshctl
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
# The sandbox's API server plays the EKS cluster the stack creates (`<stack>-<name>`).
"$PWD/target/debug/meshctl-sandbox" --dir "$scratch/sandbox" --cluster-name moamoa-main > "$scratch/sandbox.env" &
sandbox_pid=$!
for _ in $(seq 200); do grep -qx ready "$scratch/sandbox.env" && break; sleep 0.1; done
grep -qx ready "$scratch/sandbox.env" || { echo "the sandbox did not start" >&2; exit 1; }
eval "$(grep '^export ' "$scratch/sandbox.env")"
python3 - <<'PY'
import boto3  # installed with moto; the zone stands for the one the registrar created
boto3.client("route53").create_hosted_zone(Name="moamoa-news.com", CallerReference="demo")
PY
stack=stacks/seed-001-https.yaml
echo "== plan $stack"
"$meshctl" plan -f "$stack" --state "$scratch/state" | tail -n 3
echo "== apply $stack to the sandbox"
"$meshctl" apply -f "$stack" --state "$scratch/state" --auto-approve
echo "== what is running, as kubectl sees it"
kubectl get deployments,services,ingresses -A
kubectl get gateways,virtualservices,certificates -A
echo "== plan again: nothing left to do"
"$meshctl" plan -f "$stack" --state "$scratch/state" --detailed-exitcode
echo "== drift: someone edits the ALB's health check by hand"
kubectl annotate ingress public -n istio-system --overwrite alb.ingress.kubernetes.io/healthcheck-path=/edited-by-hand
"$meshctl" drift -f "$stack" --state "$scratch/state" && { echo "drift missed the edit" >&2; exit 1; } || [ $? -eq 2 ]
echo "== apply puts it back; drift is clean again"
"$meshctl" apply -f "$stack" --state "$scratch/state" --auto-approve | tail -n 1
"$meshctl" drift -f "$stack" --state "$scratch/state"
echo "== destroy"
"$meshctl" destroy -f "$stack" --state "$scratch/state" --auto-approve | tail -n 1
