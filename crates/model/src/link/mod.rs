//! Linking: every resource's dependency edges, derived by named edge rules that run in a fixed
//! order (as OpenTofu's graph transformers), each reporting the names that name nothing.
//!
//! `link` first indexes the resources by address (reporting duplicate addresses), then runs
//! `RULES` in order; each rule appends the edges of one reason (`EdgeKind`) to every resource's
//! list. Finally each list is sorted by target and field and deduplicated per target and kind.
//! The order matters only for that deduplication (the first edge of a kind to a target is kept,
//! naming its field), so it is fixed here and documented in ARCHITECTURE.md.

mod cluster;
mod controllers;
mod depends_on;
mod namespaces;
mod nodegroups;
mod outputs;
mod references;

use crate::de::closest;
use crate::diagnostic::Diagnostic;
use crate::interpolate::OutputRef;
use crate::kinds::Kind;
use crate::load::{list_or_none, Broken};
use crate::path::FieldPath;
use crate::stack::{Address, Dependency, Stack};
use std::collections::HashMap;

/// One edge rule: a name (for the docs and for reading `RULES`) and what it does.
pub(crate) struct Rule {
    /// What the rule links, as named in ARCHITECTURE.md.
    pub name: &'static str,
    pub apply: fn(&Index, &mut Links, &mut Vec<Diagnostic>),
}

/// The edge rules in the order they run:
/// 1. `references` — typed reference fields (`cluster: main`): `EdgeKind::Reference`;
/// 2. `depends_on` — the envelope's `depends_on`: `EdgeKind::Explicit`;
/// 3. `outputs` — `${kind.name.output}` in strings: `EdgeKind::Interpolation`;
/// 4. `cluster` — cluster-layer resources need the cluster of `kube.from_cluster`: `EdgeKind::Cluster`;
/// 5. `nodegroups` — and that cluster's nodegroups (pods need nodes): `EdgeKind::Nodes`;
/// 6. `controllers` — a custom resource needs the add-on serving it (`Resource::controller`):
///    `EdgeKind::Controller`;
/// 7. `namespaces` — a namespaced object needs its declared `namespace`, or else the install that
///    creates that namespace: `EdgeKind::Namespace`.
pub(crate) const RULES: &[Rule] = &[
    references::RULE,
    depends_on::RULE,
    outputs::RULE,
    cluster::RULE,
    nodegroups::RULE,
    controllers::RULE,
    namespaces::RULE,
];

/// The names of the edge rules, in the order they run (the tidy test checks that ARCHITECTURE.md
/// names each).
pub fn rule_names() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|rule| rule.name)
}

/// What the rules read: the stack and its resources by address and by name.
pub(crate) struct Index<'a> {
    pub stack: &'a Stack,
    /// The first resource declared at each address.
    pub by_address: HashMap<Address, usize>,
    /// The kinds declared under each name (to tell a wrong kind from a missing name).
    pub by_name: HashMap<&'a str, Vec<Kind>>,
    /// The names declared for each kind, in file order, a duplicated one as often as declared:
    /// what a reference that names nothing is compared with, without scanning the stack per
    /// reference.
    names_by_kind: HashMap<Kind, Vec<&'a str>>,
    /// The same with each address once (the first declared), for `suggest_address`.
    addresses_by_kind: HashMap<Kind, Vec<&'a str>>,
    /// Resources that failed to read, already reported: references to them are not reported again.
    pub broken: &'a Broken,
}

/// What the rules find, one entry per resource in `stack.resources` order.
pub(crate) struct Links {
    pub edges: Vec<Vec<Dependency>>,
    /// Output references found in each resource's strings, with their field paths.
    pub outputs_used: Vec<Vec<(FieldPath, OutputRef)>>,
}

/// Resolves every reference, interpolation and depends_on to an edge, adds the implicit edges
/// (cluster, nodes, controllers, namespaces), and reports the references that name nothing or the
/// wrong kind, and duplicate addresses.
pub(crate) fn link(stack: &mut Stack, broken: &Broken, diags: &mut Vec<Diagnostic>) {
    let count = stack.resources.len();
    let mut links = Links {
        edges: vec![Vec::new(); count],
        outputs_used: vec![Vec::new(); count],
    };
    {
        let index = Index::build(stack, broken, diags);
        for rule in RULES {
            (rule.apply)(&index, &mut links, diags);
        }
    }
    let Links {
        edges,
        outputs_used,
    } = links;
    for ((r, mut edges), used) in stack.resources.iter_mut().zip(edges).zip(outputs_used) {
        r.outputs_used = used;
        edges.sort_by(|a, b| a.target.cmp(&b.target).then(a.path.cmp(&b.path)));
        edges.dedup_by(|a, b| a.target == b.target && a.kind == b.kind);
        r.dependencies = edges;
    }
}

impl<'a> Index<'a> {
    /// Indexes the resources, reporting each address declared twice.
    fn build(stack: &'a Stack, broken: &'a Broken, diags: &mut Vec<Diagnostic>) -> Self {
        let mut by_address: HashMap<Address, usize> = HashMap::new();
        let mut by_name: HashMap<&str, Vec<Kind>> = HashMap::new();
        let mut names_by_kind: HashMap<Kind, Vec<&str>> = HashMap::new();
        let mut addresses_by_kind: HashMap<Kind, Vec<&str>> = HashMap::new();
        for (i, r) in stack.resources.iter().enumerate() {
            names_by_kind
                .entry(r.address.kind)
                .or_default()
                .push(r.address.name.as_str());
            if let Some(&first) = by_address.get(&r.address) {
                let first_path = stack.resources[first].path();
                diags.push(
                    Diagnostic::error(
                        "duplicate-address",
                        format!("`{}` is declared twice", r.address),
                    )
                    .at(r.path().key("name"))
                    .label(first_path.key("name"), "first declared here")
                    .help(
                        "give one of them another name: addresses (kind.name) are unique in a stack",
                    ),
                );
                crate::limits::bound(diags);
                continue;
            }
            by_address.insert(r.address.clone(), i);
            addresses_by_kind
                .entry(r.address.kind)
                .or_default()
                .push(r.address.name.as_str());
            by_name
                .entry(r.address.name.as_str())
                .or_default()
                .push(r.address.kind);
        }
        Index {
            stack,
            by_address,
            by_name,
            names_by_kind,
            addresses_by_kind,
            broken,
        }
    }

    /// The names declared for `kind`, in file order.
    fn names_of(&self, kind: Kind) -> &[&'a str] {
        self.names_by_kind.get(&kind).map_or(&[], Vec::as_slice)
    }

    /// A help line for an address that names nothing: the closest declared one of its kind, or
    /// those declared (in file order).
    fn suggest_address(&self, target: &Address) -> String {
        let same_kind = self
            .addresses_by_kind
            .get(&target.kind)
            .map_or(&[][..], Vec::as_slice);
        match closest(&target.name, same_kind.iter().copied()) {
            Some(close) => format!("did you mean `{}.{close}`?", target.kind),
            None => format!(
                "declared {} resources: {}",
                target.kind,
                list_or_none(same_kind)
            ),
        }
    }
}

/// "an istio", "a vpc": kind names read as words in messages.
fn with_article(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind}")
}
