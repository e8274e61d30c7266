//! The resource types the sandbox serves: the built-in table (core, apps, the AWS Load Balancer
//! Controller's…) and the ones CustomResourceDefinitions add at run time (Istio, cert-manager).

use serde_json::{json, Value};

/// A resource type as storage keys it: objects live per group and plural, whatever the version
/// they were written with (Istio's v1alpha3 and v1beta1 share one store, as in a real cluster).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// API group; empty for the core group.
    pub group: String,
    /// Plural resource name, e.g. `deployments`.
    pub resource: String,
}

impl GroupResource {
    /// `deployments.apps`, or `services` for the core group: the form Kubernetes messages use.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// Group, version and resource: how in-process callers name what they read or write.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gvr {
    pub group: String,
    pub version: String,
    pub resource: String,
}

impl Gvr {
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        Self {
            group: group.to_string(),
            version: version.to_string(),
            resource: resource.to_string(),
        }
    }

    pub fn group_resource(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            resource: self.resource.clone(),
        }
    }

    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }
}

pub(crate) fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// One servable group/version/resource with what discovery says about it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub has_status: bool,
    /// Discovery categories (`all` makes `kubectl get all` include the resource).
    pub categories: Vec<String>,
    /// True when a CustomResourceDefinition added it (deleted with the CRD).
    pub from_crd: bool,
}

impl ResourceDef {
    pub fn gvr(&self) -> Gvr {
        Gvr::new(&self.group, &self.version, &self.plural)
    }

    pub fn group_resource(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            resource: self.plural.clone(),
        }
    }

    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// True for a type compiled into a real API server (the core group, `apps`, `policy`,
    /// `*.k8s.io`…), whose LIST answers carry each item without `apiVersion` and `kind` (only the
    /// list has them; kubernetes/kubernetes#3030, #63676). Custom resources (Istio,
    /// cert-manager, `elbv2.k8s.aws`, whatever a CRD adds) are listed with them, as the API
    /// server's custom resource handler serves unstructured objects. Watch events carry them
    /// for every type.
    pub fn lists_items_untyped(&self) -> bool {
        !self.from_crd && (!self.group.contains('.') || self.group.ends_with(".k8s.io"))
    }

    /// A stored object as a real server puts it in a list's `items` (see `lists_items_untyped`).
    pub fn as_list_item(&self, mut object: Value) -> Value {
        if self.lists_items_untyped() {
            if let Some(fields) = object.as_object_mut() {
                fields.remove("apiVersion");
                fields.remove("kind");
            }
        }
        object
    }

    /// The APIResource entries (the resource and its status subresource) of an APIResourceList.
    pub fn discovery_entries(&self) -> Vec<Value> {
        let verbs = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            main["categories"] = json!(self.categories);
        }
        let mut out = vec![main];
        if self.has_status {
            out.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if self.has_scale() {
            out.push(json!({
                "name": format!("{}/scale", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        out
    }

    /// Workloads with a replica count have the scale subresource.
    pub fn has_scale(&self) -> bool {
        self.group == "apps"
            && matches!(
                self.plural.as_str(),
                "deployments" | "statefulsets" | "replicasets"
            )
    }
}

/// (group, version, plural, kind, namespaced, short names, has status subresource)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
);

const BUILTIN: &[Row] = &[
    ("", "v1", "namespaces", "Namespace", false, &["ns"], true),
    ("", "v1", "services", "Service", true, &["svc"], true),
    ("", "v1", "configmaps", "ConfigMap", true, &["cm"], false),
    ("", "v1", "secrets", "Secret", true, &[], false),
    (
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        false,
    ),
    ("", "v1", "pods", "Pod", true, &["po"], true),
    ("", "v1", "events", "Event", true, &["ev"], false),
    ("", "v1", "endpoints", "Endpoints", true, &["ep"], false),
    (
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        true,
        &[],
        false,
    ),
    ("", "v1", "nodes", "Node", false, &["no"], true),
    (
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        true,
    ),
    ("apps", "v1", "daemonsets", "DaemonSet", true, &["ds"], true),
    (
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        true,
    ),
    (
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        true,
    ),
    (
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        true,
    ),
    (
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        false,
    ),
    (
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        true,
    ),
    (
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "IngressClass",
        false,
        &[],
        false,
    ),
    (
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        true,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
        false,
    ),
    // Istio's and cert-manager's kinds are served only once their CRDs are installed (the
    // istioctl and helm stand-ins install the upstream ones), as on a real cluster.
    (
        "elbv2.k8s.aws",
        "v1beta1",
        "targetgroupbindings",
        "TargetGroupBinding",
        true,
        &[],
        true,
    ),
    (
        "elbv2.k8s.aws",
        "v1beta1",
        "ingressclassparams",
        "IngressClassParams",
        false,
        &[],
        false,
    ),
];

/// The servable resources: the built-in table plus whatever CRDs added.
#[derive(Clone, Debug)]
pub struct Registry {
    defs: Vec<ResourceDef>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Registry {
    pub fn builtin() -> Self {
        let defs = BUILTIN
            .iter()
            .map(
                |(group, version, plural, kind, namespaced, short, status)| ResourceDef {
                    group: group.to_string(),
                    version: version.to_string(),
                    plural: plural.to_string(),
                    singular: kind.to_lowercase(),
                    kind: kind.to_string(),
                    namespaced: *namespaced,
                    short_names: short.iter().map(|s| s.to_string()).collect(),
                    has_status: *status,
                    categories: if matches!(
                        *plural,
                        "pods"
                            | "services"
                            | "deployments"
                            | "daemonsets"
                            | "statefulsets"
                            | "replicasets"
                            | "horizontalpodautoscalers"
                    ) {
                        vec!["all".to_string()]
                    } else {
                        Vec::new()
                    },
                    from_crd: false,
                },
            )
            .collect();
        Self { defs }
    }

    pub fn defs(&self) -> &[ResourceDef] {
        &self.defs
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
    }

    /// Any version's definition of a group/resource (kind, scope and subresources agree across
    /// versions).
    pub fn find_resource(&self, gr: &GroupResource) -> Option<&ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.group == gr.group && d.plural == gr.resource)
    }

    /// Does the group/version exist at all (for 404s on unknown group versions)?
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.defs
            .iter()
            .any(|d| d.group == group && d.version == version)
    }

    /// Groups in first-seen order, each with its versions in first-seen order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for d in &self.defs {
            if d.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == d.group) {
                Some((_, versions)) => {
                    if !versions.contains(&d.version) {
                        versions.push(d.version.clone());
                    }
                }
                None => out.push((d.group.clone(), vec![d.version.clone()])),
            }
        }
        out
    }

    /// The definitions a CustomResourceDefinition object declares (one per served version).
    pub fn defs_from_crd(crd: &Value) -> Vec<ResourceDef> {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let names = &spec["names"];
        let plural = names["plural"].as_str().unwrap_or_default();
        let kind = names["kind"].as_str().unwrap_or_default();
        if group.is_empty() || plural.is_empty() || kind.is_empty() {
            return Vec::new();
        }
        let singular = names["singular"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_lowercase());
        let short_names: Vec<String> = names["shortNames"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let categories: Vec<String> = names["categories"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        let mut out = Vec::new();
        for v in spec["versions"].as_array().into_iter().flatten() {
            let Some(version) = v["name"].as_str() else {
                continue;
            };
            if v["served"].as_bool() == Some(false) {
                continue;
            }
            out.push(ResourceDef {
                group: group.to_string(),
                version: version.to_string(),
                plural: plural.to_string(),
                singular: singular.clone(),
                kind: kind.to_string(),
                namespaced,
                short_names: short_names.clone(),
                has_status: v["subresources"]["status"].is_object(),
                categories: categories.clone(),
                from_crd: true,
            });
        }
        out
    }

    /// Adds a CRD's versions that the built-in table does not already serve; replaces the ones an
    /// earlier version of the same CRD added.
    pub fn add_crd_defs(&mut self, defs: Vec<ResourceDef>) {
        if let Some(first) = defs.first() {
            let (group, plural) = (first.group.clone(), first.plural.clone());
            self.defs
                .retain(|d| !(d.from_crd && d.group == group && d.plural == plural));
        }
        for def in defs {
            if self.find(&def.group, &def.version, &def.plural).is_none() {
                self.defs.push(def);
            }
        }
    }

    /// Removes what a CRD added; true when the group/resource is no longer served at all.
    pub fn remove_crd_defs(&mut self, group: &str, plural: &str) -> bool {
        self.defs
            .retain(|d| !(d.from_crd && d.group == group && d.plural == plural));
        !self
            .defs
            .iter()
            .any(|d| d.group == group && d.plural == plural)
    }
}
