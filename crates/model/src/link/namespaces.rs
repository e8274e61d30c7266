//! Edge rule `namespaces`: a cluster-layer resource needs each Kubernetes namespace its objects
//! live in (`Resource::namespaces`) first: the stack's `namespace` resource of that name, or, when
//! the stack declares none, the installs that create it (`Namespaces::Created`: istioctl's
//! namespace, a chart with `create_namespace`). An ordering-only `EdgeKind::Namespace` edge.

use super::{Index, Links, Rule};
use crate::diagnostic::Diagnostic;
use crate::kinds::{Kind, Layer, Namespaces};
use crate::stack::{Address, Dependency, EdgeKind};
use std::collections::HashMap;

pub(super) const RULE: Rule = Rule {
    name: "namespaces",
    apply: link_namespaces,
};

fn link_namespaces(index: &Index, links: &mut Links, _diags: &mut Vec<Diagnostic>) {
    let stack = index.stack;
    // Installs that create their namespace when it does not exist.
    let mut namespace_creators: HashMap<&str, Vec<Address>> = HashMap::new();
    for r in &stack.resources {
        if let Namespaces::Created(ns) = r.spec.namespaces() {
            namespace_creators
                .entry(ns)
                .or_default()
                .push(r.address.clone());
        }
    }
    for (i, r) in stack.resources.iter().enumerate() {
        if r.address.kind.schema().layer != Layer::Cluster {
            continue;
        }
        let namespace_path = match r.address.kind {
            Kind::Manifest => r.path().key("objects"),
            _ => r.path().key("namespace"),
        };
        for ns in r.namespaces() {
            let address = Address::new(Kind::Namespace, ns);
            if r.address.kind != Kind::Namespace && index.by_address.contains_key(&address) {
                links.edges[i].push(Dependency {
                    target: address,
                    path: namespace_path.clone(),
                    kind: EdgeKind::Namespace,
                });
            } else if !matches!(r.address.kind, Kind::Istio | Kind::IngressGateway) {
                // No `namespace` resource: the install that creates it (istioctl's namespace,
                // a chart's with create_namespace) must come first.
                for creator in namespace_creators.get(ns).into_iter().flatten() {
                    if *creator != r.address {
                        links.edges[i].push(Dependency {
                            target: creator.clone(),
                            path: namespace_path.clone(),
                            kind: EdgeKind::Namespace,
                        });
                    }
                }
            }
        }
    }
}
