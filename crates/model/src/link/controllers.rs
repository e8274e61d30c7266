//! Edge rule `controllers`: a cluster-layer resource whose objects need an add-on's CRDs and
//! controller (`Resource::controller`: a Certificate needs cert-manager, an ALB Ingress the Load
//! Balancer Controller, a VirtualService Istio) waits for every resource of that add-on's kind,
//! an ordering-only `EdgeKind::Controller` edge.

use super::{Index, Links, Rule};
use crate::diagnostic::Diagnostic;
use crate::kinds::{Kind, Layer};
use crate::stack::{Address, Dependency, EdgeKind};
use std::collections::HashMap;

pub(super) const RULE: Rule = Rule {
    name: "controllers",
    apply: link_controllers,
};

fn link_controllers(index: &Index, links: &mut Links, _diags: &mut Vec<Diagnostic>) {
    let stack = index.stack;
    // Every resource by kind: the add-on kinds are those some kind's `controller` names.
    let mut by_kind: HashMap<Kind, Vec<Address>> = HashMap::new();
    for r in &stack.resources {
        by_kind
            .entry(r.address.kind)
            .or_default()
            .push(r.address.clone());
    }
    for (i, r) in stack.resources.iter().enumerate() {
        if r.address.kind.schema().layer != Layer::Cluster {
            continue;
        }
        if let Some(controller) = r.controller() {
            for target in by_kind.get(&controller).into_iter().flatten() {
                links.edges[i].push(Dependency {
                    target: target.clone(),
                    path: r.path().key("kind"),
                    kind: EdgeKind::Controller,
                });
            }
        }
    }
}
