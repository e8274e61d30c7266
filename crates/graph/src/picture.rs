//! The traffic picture: a stack's `TrafficModel` (client → DNS names → balancers → gateway
//! workloads → Gateways → VirtualServices → Services) as an `svg::Drawing`, the AWS and cluster
//! layers as bands, each link coloured by its last verify result. `graph --format svg` and
//! `verify --format svg` both draw through `render_svg`.

use crate::svg::{self, Drawing, DrawingBand, DrawingLink, DrawingNode, LinkStatus};
use crate::traffic::{Band, Role, TrafficModel};
use std::collections::BTreeMap;

/// The bands drawn, top to bottom. Route53 is an AWS service, so DNS names sit in the AWS band
/// above the balancers; the client is drawn above every band.
const AWS_BAND: usize = 0;
const CLUSTER_BAND: usize = 1;

/// The picture of `model` as SVG; `statuses` maps link ids (`traffic::Link::id`) to the last
/// verify result, and a link it does not name is drawn as unchecked.
pub fn render_svg(model: &TrafficModel, statuses: &BTreeMap<String, LinkStatus>) -> String {
    svg::render(&drawing(model, statuses))
}

/// The drawing `render_svg` lays out (tests look at where things went through `svg::place`).
pub fn drawing(model: &TrafficModel, statuses: &BTreeMap<String, LinkStatus>) -> Drawing {
    let bands = vec![
        DrawingBand {
            label: "AWS".to_string(),
            fill: "#fff4e5",
        },
        DrawingBand {
            label: "cluster".to_string(),
            fill: "#e8f0fe",
        },
    ];
    let nodes: Vec<DrawingNode> = model
        .nodes
        .iter()
        .map(|node| DrawingNode {
            id: node.id.clone(),
            band: match node.band {
                Band::Client => None,
                Band::Dns | Band::Aws => Some(AWS_BAND),
                Band::Cluster => Some(CLUSTER_BAND),
            },
            heading: heading(node.role).to_string(),
            // The client's label is its heading again.
            lines: std::iter::once(node.label.clone())
                .filter(|label| label != heading(node.role))
                .chain(node.details.iter().cloned())
                .collect(),
        })
        .collect();
    let index: BTreeMap<&str, usize> = model
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (node.id.as_str(), i))
        .collect();
    let links = model
        .links
        .iter()
        .filter_map(|link| {
            Some(DrawingLink {
                id: link.id.clone(),
                from: *index.get(link.from.as_str())?,
                to: *index.get(link.to.as_str())?,
                status: statuses
                    .get(&link.id)
                    .copied()
                    .unwrap_or(LinkStatus::Unchecked),
            })
        })
        .collect();
    Drawing {
        title: title(model),
        bands,
        nodes,
        links,
    }
}

/// What a box stands for, in the words of the console and `kubectl get`.
fn heading(role: Role) -> &'static str {
    match role {
        Role::Client => "client",
        Role::Record => "Route53 record",
        Role::Alb => "ALB",
        Role::Nlb => "NLB",
        Role::Workload => "ingress gateway",
        Role::Gateway => "Gateway",
        Role::VirtualService => "VirtualService",
        Role::Service => "Service",
    }
}

fn title(model: &TrafficModel) -> String {
    match model.hosts.len() {
        1 => "traffic path of 1 host".to_string(),
        n => format!("traffic paths of {n} hosts"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::{Link, LinkCheck, Node};

    fn node(id: &str, band: Band, role: Role) -> Node {
        Node {
            id: id.to_string(),
            band,
            role,
            label: id.to_string(),
            details: vec!["detail".to_string()],
            address: None,
        }
    }

    fn model() -> TrafficModel {
        TrafficModel {
            nodes: vec![
                node("client", Band::Client, Role::Client),
                node("dns_record.www", Band::Dns, Role::Record),
                node("alb.public", Band::Aws, Role::Alb),
                node("ingress_gateway.gw", Band::Cluster, Role::Workload),
            ],
            links: vec![
                Link {
                    id: "client→dns_record.www".to_string(),
                    from: "client".to_string(),
                    to: "dns_record.www".to_string(),
                    check: LinkCheck::Resolves,
                },
                Link {
                    id: "dns_record.www→alb.public".to_string(),
                    from: "dns_record.www".to_string(),
                    to: "alb.public".to_string(),
                    check: LinkCheck::Aliases,
                },
                Link {
                    id: "alb.public→ingress_gateway.gw".to_string(),
                    from: "alb.public".to_string(),
                    to: "ingress_gateway.gw".to_string(),
                    check: LinkCheck::Forwards,
                },
                Link {
                    id: "alb.public→nowhere".to_string(),
                    from: "alb.public".to_string(),
                    to: "nowhere".to_string(),
                    check: LinkCheck::Forwards,
                },
            ],
            hosts: Vec::new(),
        }
    }

    #[test]
    fn dns_and_balancers_share_the_aws_band_and_the_client_is_in_none() {
        let drawn = drawing(&model(), &BTreeMap::new());
        let bands: Vec<_> = drawn.nodes.iter().map(|n| n.band).collect();
        assert_eq!(
            bands,
            [None, Some(AWS_BAND), Some(AWS_BAND), Some(CLUSTER_BAND)]
        );
        assert_eq!(drawn.nodes[2].heading, "ALB");
        assert_eq!(drawn.nodes[2].lines, ["alb.public", "detail"]);
    }

    #[test]
    fn links_take_their_status_by_id_and_default_to_unchecked() {
        let statuses = BTreeMap::from([
            ("client→dns_record.www".to_string(), LinkStatus::Ok),
            ("dns_record.www→alb.public".to_string(), LinkStatus::Broken),
        ]);
        let drawn = drawing(&model(), &statuses);
        let got: Vec<_> = drawn
            .links
            .iter()
            .map(|l| (l.id.as_str(), l.from, l.to, l.status))
            .collect();
        // The link to a node the model does not have is left out, not drawn to a wrong box.
        assert_eq!(
            got,
            [
                ("client→dns_record.www", 0, 1, LinkStatus::Ok),
                ("dns_record.www→alb.public", 1, 2, LinkStatus::Broken),
                ("alb.public→ingress_gateway.gw", 2, 3, LinkStatus::Unchecked),
            ]
        );
    }
}
