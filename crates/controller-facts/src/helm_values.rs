//! The values each pinned Helm chart accepts, from the chart's own values.yaml at that version.
//!
//! Helm itself refuses unknown values only for charts that ship a `values.schema.json`; the charts
//! in this table do not (cert-manager ships one from v1.16.0 on, the Load Balancer Controller's
//! chart 1.7.2 none), so a real `helm install` takes a misspelled value silently and the chart
//! ignores it. The renderer's tests and the sandbox's helm stand-in refuse it instead.

use serde_json::Value;

use crate::charts::{Node, CERT_MANAGER_1_14_4, CERT_MANAGER_1_15_0, LB_CONTROLLER_1_7_2};

/// The values one chart version accepts.
#[derive(Debug)]
pub struct ChartValues {
    /// The chart's name (`aws-load-balancer-controller`, `cert-manager`).
    pub chart: &'static str,
    /// The chart version, without a leading `v`.
    pub version: &'static str,
    /// Whether the chart ships a values.schema.json, with which helm itself refuses unknown values.
    pub schema: bool,
    /// Where the paths were read from.
    pub source: &'static str,
    paths: &'static [(&'static str, Node)],
}

/// Every chart version in the table.
pub const CHARTS: &[ChartValues] = &[
    ChartValues {
        chart: "aws-load-balancer-controller",
        version: "1.7.2",
        schema: false,
        source: "kubernetes-sigs/aws-load-balancer-controller v2.7.2 helm/aws-load-balancer-controller/values.yaml",
        paths: LB_CONTROLLER_1_7_2,
    },
    ChartValues {
        chart: "cert-manager",
        version: "1.14.4",
        schema: false,
        source: "cert-manager/cert-manager v1.14.4 deploy/charts/cert-manager/values.yaml",
        paths: CERT_MANAGER_1_14_4,
    },
    ChartValues {
        chart: "cert-manager",
        version: "1.15.0",
        schema: false,
        source: "cert-manager/cert-manager v1.15.0 deploy/charts/cert-manager/values.yaml",
        paths: CERT_MANAGER_1_15_0,
    },
];

/// The table entry of a chart at a version (`v1.14.4` and `1.14.4` alike), if the table has it.
pub fn chart_values(chart: &str, version: &str) -> Option<&'static ChartValues> {
    let version = version.trim_start_matches('v');
    CHARTS
        .iter()
        .find(|c| c.chart == chart && c.version == version)
}

impl ChartValues {
    /// The dotted paths of `values` this chart version does not know, in document order.
    pub fn unknown_values(&self, values: &Value) -> Vec<String> {
        let mut unknown = Vec::new();
        self.walk(values, "", &mut unknown);
        unknown
    }

    fn node(&self, path: &str) -> Option<Node> {
        self.paths
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, node)| *node)
    }

    fn walk(&self, value: &Value, prefix: &str, unknown: &mut Vec<String>) {
        let Some(map) = value.as_object() else {
            return;
        };
        for (key, child) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match self.node(&path) {
                None => unknown.push(path),
                Some(Node::Leaf) => {}
                Some(Node::Branch) => self.walk(child, &path, unknown),
            }
        }
    }

    /// Up to three known keys at the level of `path` closest to its last segment, for help text.
    pub fn suggestions(&self, path: &str) -> Vec<&'static str> {
        let (parent, last) = path.rsplit_once('.').unwrap_or(("", path));
        let last = last.to_ascii_lowercase();
        let mut siblings: Vec<(usize, &'static str)> = self
            .paths
            .iter()
            .filter_map(|(p, _)| {
                let (p_parent, p_last) = p.rsplit_once('.').unwrap_or(("", p));
                (p_parent == parent).then(|| (distance(&last, &p_last.to_ascii_lowercase()), *p))
            })
            .filter(|(d, _)| *d <= 3)
            .collect();
        siblings.sort();
        siblings.into_iter().take(3).map(|(_, p)| p).collect()
    }
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cert_manager_knows_install_crds_before_1_15_and_crds_enabled_from_1_15() {
        let old = chart_values("cert-manager", "v1.14.4").unwrap();
        assert!(old.unknown_values(&json!({"installCRDs": true})).is_empty());
        assert_eq!(
            old.unknown_values(&json!({"crds": {"enabled": true}})),
            vec!["crds"]
        );
        let new = chart_values("cert-manager", "1.15.0").unwrap();
        assert!(new
            .unknown_values(&json!({"crds": {"enabled": true, "keep": true}}))
            .is_empty());
    }

    #[test]
    fn leaves_take_anything_and_branches_only_their_keys() {
        let lbc = chart_values("aws-load-balancer-controller", "1.7.2").unwrap();
        let values = json!({
            "clusterName": "main",
            "serviceAccount": {"create": true, "name": "x", "annotations": {"any/key": "v"}, "nmae": 1},
            "vpcID": "vpc-1",
        });
        assert_eq!(
            lbc.unknown_values(&values),
            vec!["serviceAccount.nmae", "vpcID"]
        );
        assert_eq!(lbc.suggestions("vpcID"), vec!["vpcId"]);
        assert_eq!(
            lbc.suggestions("serviceAccount.nmae")[0],
            "serviceAccount.name"
        );
    }

    #[test]
    fn charts_outside_the_table_are_not_judged() {
        assert!(chart_values("cert-manager", "1.13.0").is_none());
        assert!(chart_values("nginx", "1.7.2").is_none());
    }
}
