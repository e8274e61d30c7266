//! Edge rule `nodegroups`: every cluster-layer resource waits for the nodegroups of the cluster
//! of `kube.from_cluster` (pods need nodes), an ordering-only `EdgeKind::Nodes` edge.

use super::{Index, Links, Rule};
use crate::diagnostic::Diagnostic;
use crate::kinds::{Layer, Spec};
use crate::stack::{Address, Dependency, EdgeKind};

pub(super) const RULE: Rule = Rule {
    name: "nodegroups",
    apply: link_nodegroups,
};

fn link_nodegroups(index: &Index, links: &mut Links, _diags: &mut Vec<Diagnostic>) {
    let stack = index.stack;
    // Only with `from_cluster`: a cluster reached by kubeconfig has nodes this stack does not own.
    let Some(cluster) = super::cluster::from_cluster(stack) else {
        return;
    };
    let nodegroups: Vec<Address> = stack
        .resources
        .iter()
        .filter(|r| matches!(&r.spec, Spec::Nodegroup(n) if n.cluster == cluster.name))
        .map(|r| r.address.clone())
        .collect();
    for (i, r) in stack.resources.iter().enumerate() {
        if r.address.kind.schema().layer != Layer::Cluster {
            continue;
        }
        for ng in &nodegroups {
            links.edges[i].push(Dependency {
                target: ng.clone(),
                path: r.path().key("kind"),
                kind: EdgeKind::Nodes,
            });
        }
    }
}
