#!/usr/bin/env bash
# Applies a generated stack of 5,000 resources, 2,500 of them DNS records, to the fake cloud
# (meshctl-testbed) with latencies like AWS's, and prints how close the walk came to its floor
# (scripts/makespan-ratio.py: makespan ÷ max(critical path, rate-limit floor), goal ≤ 1.1).
#
# Usage: scripts/apply-at-scale.sh [RESOURCES [RECORDS]]   (default 5000 2500)
# MESHCTL_FAKE_LATENCY_MS overrides the latencies below (see meshctl-testbed).
set -euo pipefail
cd "$(dirname "$0")/.."
resources=${1:-5000}
records=${2:-2500}
cargo build --quiet --release --locked -p meshctl-testkit --bin meshctl-testbed
cargo build --quiet --release --locked -p meshctl-plan --example mixed_stack
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$target/examples/mixed_stack" "$resources" "$records" >"$work/stack.yaml"
# Seconds an AWS or cluster change takes, roughly: the cluster is the long pole.
export MESHCTL_FAKE_LATENCY_MS=${MESHCTL_FAKE_LATENCY_MS:-"20,vpc=3000,eks_cluster=11000,nodegroup=4000,iam_service_account=1000,lb_controller=3000,cert_manager=3000,istio=4000,ingress_gateway=2000,acm_certificate=5000,alb=3000,route53_zone=500,dns_record=100"}
export NO_COLOR=1
testbed="$target/meshctl-testbed"
files=(-f "$work/stack.yaml" --state "$work/state")
"$testbed" plan "${files[@]}" --out "$work/plan.json" >/dev/null
start=$(date +%s.%N)
"$testbed" apply "$work/plan.json" "${files[@]}" --events json >"$work/events.jsonl" 2>"$work/apply.log" || {
  echo "apply failed:" >&2
  tail -20 "$work/apply.log" >&2
  exit 1
}
end=$(date +%s.%N)
echo "apply of $resources resources ($records DNS records): $(echo "$end - $start" | bc) s wall clock"
python3 scripts/makespan-ratio.py "$work/plan.json" "$work/events.jsonl"
