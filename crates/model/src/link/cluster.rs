//! Edge rule `cluster`: every cluster-layer resource reaches the cluster of `kube.from_cluster`
//! through its outputs (endpoint, CA), an `EdgeKind::Cluster` edge. Reports a `from_cluster` that
//! names no `eks_cluster`, and cluster-layer resources in a stack with no `kube:` at all.

use super::{Index, Links, Rule};
use crate::de::closest;
use crate::diagnostic::Diagnostic;
use crate::kinds::{Kind, Layer};
use crate::load::list_or_none;
use crate::path::FieldPath;
use crate::stack::{Address, Dependency, EdgeKind, Stack};

pub(super) const RULE: Rule = Rule {
    name: "cluster",
    apply: link_cluster,
};

/// The `eks_cluster` address `kube.from_cluster` names, declared or not.
pub(super) fn from_cluster(stack: &Stack) -> Option<Address> {
    let name = stack.header.kube.as_ref()?.from_cluster.as_ref()?;
    Some(Address::new(Kind::EksCluster, name.clone()))
}

fn link_cluster(index: &Index, links: &mut Links, diags: &mut Vec<Diagnostic>) {
    let stack = index.stack;
    let cluster = from_cluster(stack);
    if let Some(address) = &cluster {
        if !index.by_address.contains_key(address) && !index.broken.contains(address) {
            let name = &address.name;
            let candidates = index.names_of(Kind::EksCluster);
            let help = match closest(name, candidates.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!(
                    "declare an eks_cluster named `{name}`; declared: {}",
                    list_or_none(candidates)
                ),
            };
            diags.push(
                Diagnostic::error(
                    "dangling-reference",
                    format!("kube.from_cluster names no eks_cluster `{name}`"),
                )
                .at(FieldPath::root().key("kube").key("from_cluster"))
                .help(help),
            );
        }
    }
    let cluster_kind_without_access = stack
        .resources
        .iter()
        .find(|r| r.address.kind.schema().layer == Layer::Cluster);
    if let (Some(r), None) = (cluster_kind_without_access, &stack.header.kube) {
        diags.push(
            Diagnostic::error("missing-kube", format!("`{}` is a cluster resource, but the stack does not say how to reach the cluster", r.address))
                .at(r.path().key("kind"))
                .help("add `kube: { from_cluster: <eks_cluster name> }` (or `kubeconfig:`) at the top of the stack"),
        );
    }
    let Some(address) = cluster.filter(|a| index.by_address.contains_key(a)) else {
        return;
    };
    for (i, r) in stack.resources.iter().enumerate() {
        if r.address.kind.schema().layer == Layer::Cluster {
            links.edges[i].push(Dependency {
                target: address.clone(),
                path: r.path().key("kind"),
                kind: EdgeKind::Cluster,
            });
        }
    }
}
