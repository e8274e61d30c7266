#!/usr/bin/env python3
"""Prints the key paths of a Helm chart's values.yaml as the Rust table `helm_values` embeds.

A mapping with keys is a branch (its keys are the only ones the chart knows); anything else (a
scalar, a list, an empty mapping such as `annotations: {}`, or null) is a leaf, under which the
chart takes any value. Keys cert-manager documents commented out (`# +docs:property` then
`# name: ""`) count as written. Usage: values_paths.py CONST_NAME < values.yaml
"""
import re
import sys

import yaml


def walk(node, prefix, out):
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.append((path, "Branch"))
            walk(value, path, out)
        else:
            out.append((path, "Leaf"))


def uncomment_documented(text):
    """cert-manager documents optional keys commented out under `# +docs:property`: keep them."""
    lines = text.splitlines()
    out = []
    documented = False
    for line in lines:
        match = re.match(r"^(\s*)# ([A-Za-z][A-Za-z0-9]*:.*)$", line)
        if documented and match:
            out.append(match.group(1) + match.group(2))
            documented = False
            continue
        documented = line.strip() == "# +docs:property"
        out.append(line)
    return "\n".join(out)


def main():
    name = sys.argv[1]
    out = []
    walk(yaml.safe_load(uncomment_documented(sys.stdin.read())) or {}, "", out)
    print(f"pub(crate) const {name}: &[(&str, Node)] = &[")
    for path, node in out:
        print(f'    ("{path}", Node::{node}),')
    print("];")


if __name__ == "__main__":
    main()
