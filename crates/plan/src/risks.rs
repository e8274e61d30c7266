//! Risk notes: what a reviewer should know before approving a change.

use crate::{Action, ResourceChange};
use meshctl_model::record::NodeRecord;
use meshctl_model::Kind;

pub fn risks(change: &ResourceChange, prior: Option<&NodeRecord>) -> Vec<String> {
    let mut notes = Vec::new();
    let removes = matches!(change.action, Action::Replace | Action::Delete);
    let field_changed = |name: &str| {
        change
            .fields
            .iter()
            .any(|f| crate::diff::top_field(&f.path) == name || f.path.contains(name))
    };
    match change.kind {
        Kind::EksCluster if removes => notes.push("destroys an EKS cluster and every workload running on it".to_string()),
        Kind::EksCluster if change.action == Action::Update && field_changed("version") => {
            notes.push("upgrades the control plane one minor version; nodegroups are upgraded separately".to_string())
        }
        Kind::Vpc if removes => notes.push("destroys a VPC: everything in it must be gone first".to_string()),
        Kind::Nodegroup if removes => notes.push("replaces the nodes: every pod on them is rescheduled".to_string()),
        Kind::Route53Zone if removes && prior.is_some_and(|p| p.desired.get("existing").and_then(|e| e.as_bool()) == Some(false)) => {
            notes.push("deletes a hosted zone and every record in it".to_string())
        }
        Kind::Alb if change.action == Action::Replace => {
            notes.push("ALB replacement changes its DNS name: Route53 aliases follow in this apply, clients caching the old name fail until then".to_string())
        }
        Kind::Alb if change.action == Action::Delete => notes.push("deletes the ALB: traffic through it stops".to_string()),
        Kind::IngressGateway if change.action == Action::Update && field_changed("node_port") => {
            notes.push("nodePort change detaches the target group until the load balancer is reconciled".to_string())
        }
        Kind::IngressGateway if removes => notes.push("recreates the gateway Service: load balancer targets and nodePorts change".to_string()),
        Kind::AcmCertificate if change.action == Action::Delete => notes.push("deletes a certificate: listeners still using it fail".to_string()),
        Kind::Namespace if removes => notes.push(format!("deletes every object in namespace {}", change.address.name)),
        Kind::Istio if removes => notes.push("removes the Istio control plane: sidecars stop receiving configuration".to_string()),
        Kind::Istio if change.action == Action::Update && field_changed("version") => {
            notes.push("upgrades Istio in place: restart workloads to pick up the new proxies".to_string())
        }
        Kind::DnsRecord if removes => notes.push("deletes a DNS record: the name stops resolving".to_string()),
        _ => {}
    }
    notes
}
