//! Kubernetes objects by their JSON: server-side apply with field manager `meshctl`, get (one, or
//! many by listing their type once per namespace) and delete of any kind, found through API
//! discovery (custom resources included), and the ids under which state records them
//! (`k8s:<apiVersion>/<Kind>` + `namespace/name`).

use std::collections::HashMap;
use std::sync::Mutex;

use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PropagationPolicy,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use meshctl_model::record::OwnedObject;
use serde_json::Value;

/// The field manager of every server-side apply meshctl makes.
pub const FIELD_MANAGER: &str = "meshctl";
/// What an object's owned-object kind starts with.
const KIND_PREFIX: &str = "k8s:";

/// Which object: its type and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// The reference of a rendered object; `None` when it lacks apiVersion, kind or name.
    pub fn of(object: &Value) -> Option<ObjectRef> {
        Some(ObjectRef {
            api_version: object["apiVersion"].as_str()?.to_string(),
            kind: object["kind"].as_str()?.to_string(),
            namespace: object["metadata"]["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            name: object["metadata"]["name"].as_str()?.to_string(),
        })
    }

    /// The object as state records it.
    pub fn owned(&self) -> OwnedObject {
        OwnedObject {
            kind: format!("{KIND_PREFIX}{}/{}", self.api_version, self.kind),
            id: match &self.namespace {
                Some(namespace) => format!("{namespace}/{}", self.name),
                None => self.name.clone(),
            },
        }
    }

    /// The reference of a recorded object; `None` when it is not a Kubernetes object.
    pub fn from_owned(object: &OwnedObject) -> Option<ObjectRef> {
        let type_ = object.kind.strip_prefix(KIND_PREFIX)?;
        let (api_version, kind) = type_.rsplit_once('/')?;
        let (namespace, name) = match object.id.split_once('/') {
            Some((namespace, name)) => (Some(namespace.to_string()), name.to_string()),
            None => (None, object.id.clone()),
        };
        Some(ObjectRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace,
            name,
        })
    }

    /// Whether this object, found on the cluster in a type that is `namespaced` or not, is the
    /// one `recorded` names: the same group, kind, namespace and name, whatever the version
    /// (state keeps the version the stack wrote; discovery finds the one the cluster prefers).
    pub fn is(&self, recorded: &ObjectRef, namespaced: bool) -> bool {
        let (found, recorded_gvk) = (self.gvk(), recorded.gvk());
        // A namespaced object rendered without a namespace went to `default`; a cluster-scoped
        // one has none, whatever its manifest said.
        let same_namespace = !namespaced
            || self.namespace.as_deref().unwrap_or("default")
                == recorded.namespace.as_deref().unwrap_or("default");
        found.group == recorded_gvk.group
            && self.kind == recorded.kind
            && self.name == recorded.name
            && same_namespace
    }

    fn gvk(&self) -> GroupVersionKind {
        let (group, version) = match self.api_version.rsplit_once('/') {
            Some((group, version)) => (group, version),
            None => ("", self.api_version.as_str()),
        };
        GroupVersionKind::gvk(group, version, &self.kind)
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A failed object call: the kube error, and whether discovery could not place the type.
/// Why an object call failed, naming the object.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The cluster serves no such type (its CRD is missing: the add-on is not installed).
    #[error("the cluster does not serve {object}: {detail}")]
    UnknownType { object: String, detail: String },
    #[error("{object}: {error}")]
    Api {
        object: String,
        #[source]
        error: kube::Error,
    },
}

impl ObjectError {
    pub fn status_code(&self) -> Option<u16> {
        match self {
            ObjectError::Api {
                error: kube::Error::Api(status),
                ..
            } => Some(status.code),
            _ => None,
        }
    }
}

/// A listed object's JSON with the apiVersion and kind of the type that was listed: a real API
/// server sends the items of a built-in type's list without them (only the list has them;
/// custom resources keep theirs), and readers of the object (`ObjectRef::of`) need them.
fn listed_item(mut item: DynamicObject, api_version: &str, kind: &str) -> Value {
    // kube-rs may read absent fields as an empty TypeMeta rather than none.
    if !matches!(&item.types, Some(t) if !t.kind.is_empty() && !t.api_version.is_empty()) {
        item.types = Some(kube::core::TypeMeta {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        });
    }
    serde_json::to_value(item).unwrap_or(Value::Null)
}

/// An object found by `Objects::list_labelled`.
pub struct Listed {
    /// Its type as the cluster prefers to serve it, and where it lives.
    pub reference: ObjectRef,
    pub namespaced: bool,
    pub object: Value,
}

/// What `Objects::list_labelled` found, and the API groups or types it could not read (an
/// aggregated API that is down, a type the credentials may not list), each with the reason.
pub struct LabelledObjects {
    pub found: Vec<Listed>,
    pub unread: Vec<String>,
}

/// Object calls against one cluster, with discovery results cached per type.
pub struct Objects {
    client: kube::Client,
    types: Mutex<HashMap<GroupVersionKind, (ApiResource, Scope)>>,
}

impl Objects {
    pub fn new(client: kube::Client) -> Self {
        Objects {
            client,
            types: Mutex::new(HashMap::new()),
        }
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    async fn api(&self, object: &ObjectRef) -> Result<Api<DynamicObject>, ObjectError> {
        let gvk = object.gvk();
        let cached = self
            .types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&gvk)
            .cloned();
        let (resource, scope) = match cached {
            Some(found) => found,
            None => {
                let (resource, capabilities) = kube::discovery::pinned_kind(&self.client, &gvk)
                    .await
                    .map_err(|e| ObjectError::UnknownType {
                        object: object.to_string(),
                        detail: e.to_string(),
                    })?;
                let found = (resource, capabilities.scope);
                self.types
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(gvk, found.clone());
                found
            }
        };
        Ok(match (&scope, &object.namespace) {
            (Scope::Namespaced, Some(namespace)) => {
                Api::namespaced_with(self.client.clone(), namespace, &resource)
            }
            (Scope::Namespaced, None) => {
                Api::default_namespaced_with(self.client.clone(), &resource)
            }
            (Scope::Cluster, _) => Api::all_with(self.client.clone(), &resource),
        })
    }

    /// Server-side applies `object` as field manager `meshctl`, taking over fields another
    /// manager changed (apply puts the world back to the stack); returns the object as stored.
    pub async fn apply(&self, object: &Value) -> Result<Value, ObjectError> {
        let reference = ObjectRef::of(object).ok_or_else(|| ObjectError::UnknownType {
            object: object.to_string(),
            detail: "the object has no apiVersion, kind or metadata.name".into(),
        })?;
        let api = self.api(&reference).await?;
        // Strict: a field the kind's schema lacks is refused, not silently dropped (kubectl's
        // default too).
        let params = PatchParams::apply(FIELD_MANAGER)
            .force()
            .validation_strict();
        let applied = api
            .patch(&reference.name, &params, &Patch::Apply(object))
            .await
            .map_err(|error| ObjectError::Api {
                object: reference.to_string(),
                error,
            })?;
        Ok(serde_json::to_value(applied).unwrap_or(Value::Null))
    }

    /// The object as stored, or `None` when it does not exist.
    pub async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, ObjectError> {
        let api = match self.api(object).await {
            Ok(api) => api,
            // No such type means no such object (the add-on and its CRDs are gone).
            Err(ObjectError::UnknownType { .. }) => return Ok(None),
            Err(other) => return Err(other),
        };
        let found = api
            .get_opt(&object.name)
            .await
            .map_err(|error| ObjectError::Api {
                object: object.to_string(),
                error,
            })?;
        Ok(found.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)))
    }

    /// Several objects as stored, in order, `None` for each that does not exist: where several
    /// are of one type in one namespace they come from one list of that type there instead of
    /// one GET each (a refresh of many VirtualServices lists them once).
    pub async fn get_many(&self, objects: &[ObjectRef]) -> Result<Vec<Option<Value>>, ObjectError> {
        let mut found = vec![None; objects.len()];
        // Which objects share a type and namespace, in the order first met.
        let mut groups: Vec<(GroupVersionKind, Option<&str>, Vec<usize>)> = Vec::new();
        for (index, object) in objects.iter().enumerate() {
            let (gvk, namespace) = (object.gvk(), object.namespace.as_deref());
            match groups
                .iter_mut()
                .find(|(g, n, _)| *g == gvk && *n == namespace)
            {
                Some((_, _, members)) => members.push(index),
                None => groups.push((gvk, namespace, vec![index])),
            }
        }
        for (_, _, members) in groups {
            let [first_index, ..] = members[..] else {
                continue;
            };
            let first = &objects[first_index];
            if members.len() == 1 {
                found[first_index] = self.get(first).await?;
                continue;
            }
            let api = match self.api(first).await {
                Ok(api) => api,
                // No such type means no such objects (the add-on and its CRDs are gone).
                Err(ObjectError::UnknownType { .. }) => continue,
                Err(other) => return Err(other),
            };
            let listed = match api.list(&ListParams::default()).await {
                Ok(listed) => listed,
                // An identity allowed to get its objects but not to list their type (RBAC) reads
                // them one by one, as before.
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    for index in members {
                        found[index] = self.get(&objects[index]).await?;
                    }
                    continue;
                }
                Err(error) => {
                    return Err(ObjectError::Api {
                        object: match &first.namespace {
                            Some(namespace) => format!("{} objects in {namespace}", first.kind),
                            None => format!("{} objects", first.kind),
                        },
                        error,
                    })
                }
            };
            let by_name: HashMap<String, DynamicObject> = listed
                .items
                .into_iter()
                .filter_map(|item| Some((item.metadata.name.clone()?, item)))
                .collect();
            for index in members {
                let object = &objects[index];
                found[index] = by_name
                    .get(&object.name)
                    .map(|item| listed_item(item.clone(), &object.api_version, &object.kind));
            }
        }
        Ok(found)
    }

    /// The objects of a type (in `namespace`, or everywhere) matching a label selector (`""`:
    /// all); none when the cluster does not serve the type.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, ObjectError> {
        let of_type = ObjectRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: String::new(),
        };
        let api = match self.api(&of_type).await {
            // No namespace: every namespace's (`api` would give the default namespace's).
            Ok(_) if namespace.is_none() => match self
                .types
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&of_type.gvk())
            {
                Some((resource, _)) => Api::all_with(self.client.clone(), resource),
                None => return Ok(Vec::new()),
            },
            Ok(api) => api,
            Err(ObjectError::UnknownType { .. }) => return Ok(Vec::new()),
            Err(other) => return Err(other),
        };
        let mut params = ListParams::default();
        if !selector.is_empty() {
            params = params.labels(selector);
        }
        let found = api.list(&params).await.map_err(|error| ObjectError::Api {
            object: format!("{kind} objects"),
            error,
        })?;
        Ok(found
            .items
            .into_iter()
            .map(|o| listed_item(o, api_version, kind))
            .collect())
    }

    /// The objects of every type the cluster serves (each group's preferred version) that match
    /// the label selector, in every namespace. A group or type that cannot be read is reported
    /// in `unread`, not an error: the rest is still worth looking at.
    pub async fn list_labelled(&self, selector: &str) -> Result<LabelledObjects, ObjectError> {
        let groups = self
            .client
            .list_api_groups()
            .await
            .map_err(|error| ObjectError::Api {
                object: "the cluster's API groups".into(),
                error,
            })?;
        let names = std::iter::once(String::new()).chain(groups.groups.into_iter().map(|g| g.name));
        let mut listed = LabelledObjects {
            found: Vec::new(),
            unread: Vec::new(),
        };
        let params = ListParams::default().labels(selector);
        for name in names {
            let shown = if name.is_empty() { "core" } else { &name };
            let group = match kube::discovery::group(&self.client, &name).await {
                Ok(group) => group,
                Err(error) => {
                    listed.unread.push(format!("API group {shown}: {error}"));
                    continue;
                }
            };
            for (resource, capabilities) in group.recommended_resources() {
                if !capabilities.supports_operation(kube::discovery::verbs::LIST) {
                    continue;
                }
                let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
                let items = match api.list(&params).await {
                    Ok(items) => items,
                    Err(error) => {
                        listed.unread.push(format!(
                            "{} ({}): {error}",
                            resource.kind, resource.api_version
                        ));
                        continue;
                    }
                };
                for item in items.items {
                    let Some(name) = item.metadata.name.clone() else {
                        continue;
                    };
                    listed.found.push(Listed {
                        reference: ObjectRef {
                            api_version: resource.api_version.clone(),
                            kind: resource.kind.clone(),
                            namespace: item.metadata.namespace.clone(),
                            name,
                        },
                        namespaced: capabilities.scope == Scope::Namespaced,
                        object: listed_item(item, &resource.api_version, &resource.kind),
                    });
                }
            }
        }
        Ok(listed)
    }

    /// Starts deleting the object (dependents in the foreground); `false` when it was already
    /// gone.
    pub async fn delete(&self, object: &ObjectRef) -> Result<bool, ObjectError> {
        let api = match self.api(object).await {
            Ok(api) => api,
            Err(ObjectError::UnknownType { .. }) => return Ok(false),
            Err(other) => return Err(other),
        };
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..DeleteParams::default()
        };
        match api.delete(&object.name, &params).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(error) => Err(ObjectError::Api {
                object: object.to_string(),
                error,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owned_ids_round_trip() {
        let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "public", "namespace": "istio-system"}});
        let reference = ObjectRef::of(&ingress).unwrap();
        let owned = reference.owned();
        assert_eq!(owned.kind, "k8s:networking.k8s.io/v1/Ingress");
        assert_eq!(owned.id, "istio-system/public");
        assert_eq!(ObjectRef::from_owned(&owned), Some(reference));

        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}});
        let reference = ObjectRef::of(&namespace).unwrap();
        assert_eq!(reference.owned().kind, "k8s:v1/Namespace");
        assert_eq!(reference.owned().id, "apps");
        assert_eq!(
            ObjectRef::from_owned(&reference.owned()),
            Some(reference.clone())
        );
        assert_eq!(
            reference.gvk(),
            GroupVersionKind::gvk("", "v1", "Namespace")
        );

        let not_kube = OwnedObject {
            kind: "helm:release".into(),
            id: "kube-system/x".into(),
        };
        assert_eq!(ObjectRef::from_owned(&not_kube), None);
    }
}
