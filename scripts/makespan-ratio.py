#!/usr/bin/env python3
"""How close an apply came to the fastest it could have been, from its own record.

Reads the plan (`meshctl plan --format json`, or a plan file written with `--out`) and the
`meshctl apply --events json` stream of applying it, and prints:

- makespan: when the last step finished (`at_ms` of the last `finished` event);
- critical path: the longest chain of dependencies (`depends_on` in the plan), each step counted
  for the time it worked (`elapsed_ms` less `rate_wait_ms`, the time it queued on a rate limit);
- rate-limit floor: the fewest requests the rate-limited steps need, at the service's rate;
  Route53 takes 5 requests a second per account and one change batch carries up to 1,000
  record changes of one zone (mirrors `Schema::rate_limit` of `route53_zone` and `dns_record`);
- parallelism floor: the work of the steps that hold a parallel slot spread over
  `--parallelism` slots (steps whose calls share a request, DNS records, run together as the
  one request they are and are left out);
- ratio: makespan ÷ max(critical path, rate-limit floor). The goal is ≤ 1.1 (issue 22). The
  parallelism floor is printed beside it: where it is the largest, no scheduler can reach 1.0.

Usage: makespan-ratio.py PLAN_JSON EVENTS_JSONL [--parallelism 10] [--json]
"""

import argparse
import json
import math
import sys
from collections import defaultdict

# Requests per second and the most changes one request carries, by kind (None: one per step).
RATE_LIMITED = {
    "route53_zone": ("route53", 5.0, None),
    "dns_record": ("route53", 5.0, ("zone", 1000)),
}


def load_plan(path):
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    # A plan file wraps the plan; `plan --format json` is the plan itself.
    return document.get("plan", document)


def load_events(path):
    finished = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{number}: not a JSON event: {e}")
            if event.get("event") == "finished":
                finished[event["address"]] = event
    return finished


def critical_path(changes, work):
    """The longest chain of work through `depends_on`, and the chain itself."""
    by_address = {c["address"]: c for c in changes}
    longest = {}
    via = {}
    visiting = set()

    def finish(address):
        if address in longest:
            return longest[address]
        if address in visiting:
            sys.exit(f"dependency cycle through {address}")
        visiting.add(address)
        best, best_dep = 0, None
        for dep in by_address.get(address, {}).get("depends_on", []):
            if dep in by_address:
                length = finish(dep)
                if length > best:
                    best, best_dep = length, dep
        visiting.discard(address)
        longest[address] = best + work.get(address, 0)
        via[address] = best_dep
        return longest[address]

    # `finish` recurses once per link of the longest chain.
    sys.setrecursionlimit(max(10000, 4 * len(changes)))
    end = max(by_address, key=finish, default=None)
    chain = []
    while end is not None:
        chain.append(end)
        end = via.get(end)
    return (longest[chain[0]] if chain else 0), list(reversed(chain))


def rate_floor_ms(changes):
    """The fewest requests the rate-limited steps need, in milliseconds at their service's rate."""
    requests = defaultdict(float)  # service -> requests
    rates = {}
    groups = defaultdict(int)  # (service, kind, group key) -> changes
    for change in changes:
        limited = RATE_LIMITED.get(change["kind"])
        if limited is None or change["action"] == "no-op":
            continue
        service, rate, shared = limited
        rates[service] = rate
        if shared is None:
            requests[service] += 1
        else:
            field, _ = shared
            key = json.dumps((change.get("desired") or {}).get(field))
            groups[(service, change["kind"], key)] += 1
    for (service, kind, _), count in groups.items():
        at_most = RATE_LIMITED[kind][2][1]
        requests[service] += math.ceil(count / at_most)
    return max((1000.0 * n / rates[s] for s, n in requests.items()), default=0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan")
    parser.add_argument("events")
    parser.add_argument("--parallelism", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    plan = load_plan(args.plan)
    changes = [c for c in plan["changes"] if c["action"] != "no-op"]
    finished = load_events(args.events)
    missing = [c["address"] for c in changes if c["address"] not in finished]
    if missing:
        sys.exit(f"{len(missing)} planned steps never finished, e.g. {missing[:3]}: was the apply complete?")
    work = {a: e["elapsed_ms"] - e.get("rate_wait_ms", 0) for a, e in finished.items()}
    makespan = max(e["at_ms"] for e in finished.values())
    path, chain = critical_path(changes, work)
    rate = rate_floor_ms(changes)
    slot_holders = [
        c["address"]
        for c in changes
        if (RATE_LIMITED.get(c["kind"]) or (None, None, None))[2] is None
    ]
    spread = sum(work[a] for a in slot_holders) / max(args.parallelism, 1)
    ratio = makespan / max(path, rate, 1)
    figures = {
        "steps": len(changes),
        "makespan_ms": makespan,
        "critical_path_ms": path,
        "critical_path": chain,
        "rate_limit_floor_ms": round(rate),
        "parallelism_floor_ms": round(spread),
        "ratio": round(ratio, 3),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"steps:              {len(changes)}")
    print(f"makespan:           {makespan / 1000:.2f} s")
    print(f"critical path:      {path / 1000:.2f} s  ({' → '.join(chain)})")
    print(f"rate-limit floor:   {rate / 1000:.2f} s")
    print(f"parallelism floor:  {spread / 1000:.2f} s  (work ÷ {args.parallelism} slots)")
    print(f"ratio:              {ratio:.3f}  (makespan ÷ max(critical path, rate-limit floor); goal ≤ 1.1)")


if __name__ == "__main__":
    main()
