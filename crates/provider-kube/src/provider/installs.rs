//! Installs through processes: `helm upgrade --install` / `uninstall` / `status` of a chart, and
//! `istioctl install` / `uninstall` of an IstioOperator, found again by istioctl's record of it
//! (`installed-state-<name>[-<revision>]`).
//!
//! Each carries its owner: a release its `--labels` (helm 3.13 or later), an IstioOperator its
//! metadata's labels and annotations, which istioctl keeps on the installed state. Neither is
//! installed over another stack's, and a control plane never over another install's revision.
//! Uninstalling an operator removes what that operator and revision installed (`uninstall -f`);
//! never `--purge`, which would remove every control plane and Istio's CRDs, shared by all.
//!
//! Both installs are recorded before the tool runs, so an install killed half-way is still
//! removed by the next destroy or apply. Helm stores a release `pending-install` before writing
//! any object, and `helm uninstall` removes it like any other. istioctl writes its record (the
//! installed state) last and `uninstall -f` goes by it, so what a half-done install left is
//! found by the labels istioctl puts on everything it installs (`install_leftovers`).

use std::time::Duration;

use meshctl_model::record::OwnedObject;
use meshctl_provider::ErrorClass;
use serde_json::{json, Value};

use super::{split_id, temp_file, Call, Record, Result, HELM_RELEASE, ISTIO_OPERATOR};
use crate::objects::ObjectRef;
use crate::owner::{self, Owner};
use crate::render::HelmChart;
use crate::tools::{self, ToolError};

impl Call<'_> {
    pub(super) async fn helm_install(
        &self,
        chart: &HelmChart,
        record: Record<'_>,
    ) -> Result<OwnedObject> {
        let object = OwnedObject {
            kind: HELM_RELEASE.to_string(),
            id: format!("{}/{}", chart.namespace, chart.release),
        };
        if let Some(owner) = self.release_owner(&chart.namespace, &chart.release).await? {
            if owner.is_other_than(self.stack()) {
                let what = format!("Helm release {}", object.id);
                return Err(self.owned_elsewhere(&what, &owner));
            }
        }
        record(object.clone());
        let values = temp_file(
            "values.yaml",
            &serde_yaml::to_string(&chart.values).unwrap_or_default(),
        )
        .map_err(|e| {
            self.error(
                ErrorClass::Permanent,
                format!("cannot write the Helm values: {e}"),
            )
        })?;
        let timeout = self.provider.tools.timeout;
        let mut args = vec![
            "upgrade".to_string(),
            "--install".to_string(),
            chart.release.clone(),
            chart.chart.clone(),
        ];
        if let Some(repository) = &chart.repository {
            args.extend(["--repo".to_string(), repository.clone()]);
        }
        args.extend([
            "--version".to_string(),
            chart.version.clone(),
            "--namespace".to_string(),
            chart.namespace.clone(),
            "--values".to_string(),
            values.display().to_string(),
            "--wait".to_string(),
            "--timeout".to_string(),
            format!("{}s", timeout.as_secs()),
        ]);
        if chart.create_namespace {
            args.push("--create-namespace".to_string());
        }
        if !chart.labels.is_empty() {
            let labels: Vec<String> = chart
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            args.extend(["--labels".to_string(), labels.join(",")]);
        }
        args.extend(self.connected.kubeconfig.helm());
        self.progress.update(
            self.address,
            &format!(
                "helm upgrade --install {} {} {}",
                chart.release, chart.chart, chart.version
            ),
        );
        tools::run(
            &self.provider.tools.helm,
            tools::HELM_ENV,
            &args,
            timeout + Duration::from_secs(60),
        )
        .await
        .map_err(|e| self.tool_error(e))?;
        Ok(object)
    }

    pub(super) async fn istio_install(
        &self,
        operator: &Value,
        record: Record<'_>,
    ) -> Result<OwnedObject> {
        let reference = ObjectRef::of(operator)
            .ok_or_else(|| self.error(ErrorClass::Permanent, "the IstioOperator has no name"))?;
        let namespace = reference.namespace.as_deref().unwrap_or("istio-system");
        let revision = operator["spec"]["revision"]
            .as_str()
            .filter(|r| !r.is_empty());
        let object = OwnedObject {
            kind: ISTIO_OPERATOR.to_string(),
            id: format!(
                "{namespace}/{}",
                installed_suffix(&reference.name, revision)
            ),
        };
        self.refuse_istio_of_others(operator, namespace, &object)
            .await?;
        record(object.clone());
        let file = temp_file(
            "istio-operator.yaml",
            &serde_yaml::to_string(operator).unwrap_or_default(),
        )
        .map_err(|e| {
            self.error(
                ErrorClass::Permanent,
                format!("cannot write the IstioOperator: {e}"),
            )
        })?;
        let timeout = self.provider.tools.timeout;
        let mut args = vec![
            "install".to_string(),
            "-y".to_string(),
            "-f".to_string(),
            file.display().to_string(),
            "--readiness-timeout".to_string(),
            format!("{}s", timeout.as_secs()),
        ];
        args.extend(self.connected.kubeconfig.istioctl());
        self.progress.update(
            self.address,
            &format!("istioctl install {}", reference.name),
        );
        tools::run(
            &self.provider.tools.istioctl,
            tools::ISTIOCTL_ENV,
            &args,
            timeout + Duration::from_secs(60),
        )
        .await
        .map_err(|e| self.tool_error(e))?;
        Ok(object)
    }

    pub(super) async fn helm_revision(&self, chart: &HelmChart) -> Result<Option<u64>> {
        let status = self.helm_status(&chart.namespace, &chart.release).await?;
        Ok(status.and_then(|s| s["version"].as_u64()))
    }

    /// `helm status -o json` of a release, or `None` when there is no such release.
    pub(super) async fn helm_status(
        &self,
        namespace: &str,
        release: &str,
    ) -> Result<Option<Value>> {
        let mut args = vec![
            "status".to_string(),
            release.to_string(),
            "--namespace".to_string(),
            namespace.to_string(),
            "-o".to_string(),
            "json".to_string(),
        ];
        args.extend(self.connected.kubeconfig.helm());
        match tools::run(
            &self.provider.tools.helm,
            tools::HELM_ENV,
            &args,
            Duration::from_secs(120),
        )
        .await
        {
            Ok(output) => Ok(Some(
                serde_json::from_str(&output.stdout).unwrap_or(Value::Null),
            )),
            Err(ToolError::Failed { output, .. }) if output.contains("not found") => Ok(None),
            Err(e) => Err(self.tool_error(e)),
        }
    }

    /// istioctl's record of an install: IstioOperator `installed-state-<name>[-<revision>]`.
    pub(super) async fn installed_state(&self, object: &OwnedObject) -> Result<Option<Value>> {
        let (namespace, suffix) = split_id(&object.id);
        let reference = ObjectRef {
            api_version: OPERATOR_API.into(),
            kind: "IstioOperator".into(),
            namespace: Some(namespace.to_string()),
            name: format!("{INSTALLED_STATE}-{suffix}"),
        };
        self.connected
            .objects
            .get(&reference)
            .await
            .map_err(|e| self.object_error(e))
    }

    /// The owner a Helm release's storage Secrets are labelled with (`helm --labels`), newest
    /// revision first; `None` for no release, or one with no owner mark (installed by hand, or
    /// stored elsewhere than in Secrets).
    pub(super) async fn release_owner(
        &self,
        namespace: &str,
        release: &str,
    ) -> Result<Option<Owner>> {
        let secrets = self
            .connected
            .objects
            .list(
                "v1",
                "Secret",
                Some(namespace),
                &format!("owner=helm,name={release}"),
            )
            .await
            .map_err(|e| self.object_error(e))?;
        let newest = secrets.iter().max_by_key(|s| {
            s["metadata"]["labels"]["version"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        });
        Ok(newest.and_then(|s| Owner::of_release(&s["metadata"]["labels"], release)))
    }

    /// Refuses an install that would overwrite another stack's: the same operator installed by
    /// another stack, or, for a control plane, a revision another install already runs in the
    /// namespace (istioctl would replace its istiod).
    async fn refuse_istio_of_others(
        &self,
        operator: &Value,
        namespace: &str,
        object: &OwnedObject,
    ) -> Result<()> {
        let states = self
            .connected
            .objects
            .list(OPERATOR_API, "IstioOperator", Some(namespace), "")
            .await
            .map_err(|e| self.object_error(e))?;
        let (_, suffix) = split_id(&object.id);
        let ours = format!("{INSTALLED_STATE}-{suffix}");
        let revision = revision_of(&operator["spec"]);
        for state in &states {
            let name = state["metadata"]["name"].as_str().unwrap_or_default();
            if !name.starts_with(INSTALLED_STATE) {
                continue;
            }
            if name == ours {
                if let Some(owner) = owner::other_stack(state, self.stack()) {
                    let what = format!("the Istio install {namespace}/{name}");
                    return Err(self.owned_elsewhere(&what, &owner));
                }
                continue;
            }
            let same_control_plane = installs_pilot(&operator["spec"])
                && installs_pilot(&state["spec"])
                && revision_of(&state["spec"]) == revision;
            if !same_control_plane {
                continue;
            }
            let by = match Owner::of(state) {
                Some(owner) => owner.to_string(),
                None => format!("{namespace}/{name}, not installed by meshctl"),
            };
            return Err(self
                .error(
                    ErrorClass::Permanent,
                    format!(
                        "the Istio control plane of revision `{revision}` in {namespace} is already installed, by {by}; installing {} would replace it",
                        self.address
                    ),
                )
                .with_help(format!(
                    "use it: `existing: true` on {} (with `revision: {revision}` unless it is `default`); or give {} a `revision:` of its own",
                    self.address, self.address
                )));
        }
        Ok(())
    }

    /// Uninstalls this resource's release; one another stack has installed under the name since
    /// is left alone.
    pub(super) async fn helm_uninstall(&self, object: &OwnedObject) -> Result<()> {
        let (namespace, release) = split_id(&object.id);
        if let Some(owner) = self.release_owner(namespace, release).await? {
            if owner.is_other_than(self.stack()) {
                self.progress.update(
                    self.address,
                    &format!("leaving Helm release {}: it belongs to {owner}", object.id),
                );
                return Ok(());
            }
        }
        let timeout = self.provider.tools.timeout;
        let mut args = vec![
            "uninstall".to_string(),
            release.to_string(),
            "--namespace".to_string(),
            namespace.to_string(),
            "--wait".to_string(),
            "--timeout".to_string(),
            format!("{}s", timeout.as_secs()),
        ];
        args.extend(self.connected.kubeconfig.helm());
        self.progress
            .update(self.address, &format!("helm uninstall {release}"));
        match tools::run(
            &self.provider.tools.helm,
            tools::HELM_ENV,
            &args,
            timeout + Duration::from_secs(60),
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(ToolError::Failed { output, .. }) if output.contains("not found") => Ok(()),
            Err(e) => Err(self.tool_error(e)),
        }
    }

    /// `istioctl uninstall -f` with the spec istioctl recorded at install: removes exactly what
    /// that operator and revision installed. Never `--purge`: that removes every control plane
    /// and gateway on the cluster and Istio's CRDs, which other stacks' installs share; the CRDs
    /// stay (docs/stack-language.md says how to remove them by hand).
    ///
    /// Then removes what the install left without a record (`remove_install_leftovers`): all of
    /// it when the install was killed before istioctl wrote the record.
    pub(super) async fn istio_uninstall(&self, object: &OwnedObject) -> Result<()> {
        let (namespace, suffix) = split_id(&object.id);
        match self.installed_state(object).await? {
            Some(state) => {
                if !self.istioctl_uninstall(namespace, suffix, &state).await? {
                    return Ok(());
                }
            }
            None => self.progress.update(
                self.address,
                &format!("no record of the Istio install {namespace}/{suffix} (it was interrupted): removing what it made by its labels"),
            ),
        }
        self.remove_install_leftovers(namespace, suffix).await
    }

    /// `istioctl uninstall -f` of the install recorded as `state`; `false` when the install is
    /// another stack's and was left alone.
    async fn istioctl_uninstall(
        &self,
        namespace: &str,
        suffix: &str,
        state: &Value,
    ) -> Result<bool> {
        if let Some(owner) = owner::other_stack(state, self.stack()) {
            self.progress.update(
                self.address,
                &format!("leaving the Istio install {namespace}/{suffix}: it belongs to {owner}"),
            );
            return Ok(false);
        }
        // The operator's own name: the record's suffix without the revision istioctl appended.
        let name = revision_of_spec(&state["spec"])
            .and_then(|rev| suffix.strip_suffix(&format!("-{rev}")))
            .unwrap_or(suffix);
        let operator = json!({
            "apiVersion": OPERATOR_API,
            "kind": "IstioOperator",
            "metadata": { "name": name, "namespace": namespace },
            "spec": state["spec"],
        });
        let file = temp_file(
            "istio-operator.yaml",
            &serde_yaml::to_string(&operator).unwrap_or_default(),
        )
        .map_err(|e| {
            self.error(
                ErrorClass::Permanent,
                format!("cannot write the IstioOperator: {e}"),
            )
        })?;
        let mut args = vec![
            "uninstall".to_string(),
            "-y".to_string(),
            "-f".to_string(),
            file.display().to_string(),
        ];
        args.extend(self.connected.kubeconfig.istioctl());
        self.progress
            .update(self.address, &format!("istioctl uninstall {name}"));
        tools::run(
            &self.provider.tools.istioctl,
            tools::ISTIOCTL_ENV,
            &args,
            self.provider.tools.timeout,
        )
        .await
        .map_err(|e| self.tool_error(e))?;
        Ok(true)
    }

    /// Deletes what istioctl installed for the operator and revision of `suffix` in `namespace`,
    /// found by the labels istioctl puts on every object (owning operator, its namespace,
    /// revision): the webhooks first (one whose service is gone blocks every pod creation),
    /// then the rest. Istio's CRDs stay, as after a finished install (see `istio_uninstall`);
    /// namespaces stay too (istioctl never removes them; meshctl's own are separate objects).
    async fn remove_install_leftovers(&self, namespace: &str, suffix: &str) -> Result<()> {
        for (api_version, kind) in INSTALLED_KINDS {
            let found = self
                .connected
                .objects
                .list(api_version, kind, None, OWNING_RESOURCE)
                .await
                .map_err(|e| self.object_error(e))?;
            for leftover in found
                .iter()
                .filter(|o| installed_by(&o["metadata"]["labels"], namespace, suffix))
            {
                let Some(mut reference) = ObjectRef::of(leftover) else {
                    continue;
                };
                // A listed object carries no apiVersion of its own in every client's answer.
                reference.api_version = api_version.to_string();
                reference.kind = kind.to_string();
                self.delete_object(&reference).await?;
            }
        }
        Ok(())
    }
}

/// The label istioctl marks everything it installs with: the owning IstioOperator's name.
const OWNING_RESOURCE: &str = "install.operator.istio.io/owning-resource";
/// The owning IstioOperator's namespace, on the same objects.
const OWNING_NAMESPACE: &str = "install.operator.istio.io/owning-resource-namespace";
/// The revision label on everything a control plane install makes (`default` for none).
const REVISION_LABEL: &str = "istio.io/rev";

/// What `istioctl install` makes besides CRDs and namespaces, webhooks first.
const INSTALLED_KINDS: &[(&str, &str)] = &[
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
    ),
    ("apps/v1", "Deployment"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
];

/// Whether an object with these labels was installed by the operator whose record suffix is
/// `suffix` (`<name>[-<revision>]`) in `namespace`.
fn installed_by(labels: &Value, namespace: &str, suffix: &str) -> bool {
    let Some(operator) = labels[OWNING_RESOURCE].as_str() else {
        return false;
    };
    // Older istioctl releases leave the namespace label out.
    if labels[OWNING_NAMESPACE]
        .as_str()
        .is_some_and(|n| n != namespace)
    {
        return false;
    }
    let revision = labels[REVISION_LABEL].as_str().filter(|r| !r.is_empty());
    suffix
        == installed_suffix(
            operator,
            revision.filter(|r| *r != crate::render::DEFAULT_REVISION),
        )
        || revision.is_some_and(|r| suffix == installed_suffix(operator, Some(r)))
}

/// The install an IstioOperator found on the cluster is istioctl's record of, as state records
/// it (`istio:operator namespace/suffix`); `None` for any other object.
pub(super) fn install_recorded_by(reference: &ObjectRef) -> Option<OwnedObject> {
    let group = OPERATOR_API
        .split_once('/')
        .map_or(OPERATOR_API, |(group, _)| group);
    if reference.kind != "IstioOperator" || !reference.api_version.starts_with(&format!("{group}/"))
    {
        return None;
    }
    let suffix = reference
        .name
        .strip_prefix(INSTALLED_STATE)?
        .strip_prefix('-')?;
    Some(OwnedObject {
        kind: ISTIO_OPERATOR.to_string(),
        id: format!(
            "{}/{suffix}",
            reference.namespace.as_deref().unwrap_or("istio-system")
        ),
    })
}

const OPERATOR_API: &str = "install.istio.io/v1alpha1";
/// What istioctl names its record of an install, before `-<name>` and `-<revision>`.
const INSTALLED_STATE: &str = "installed-state";

/// The part of istioctl's record name after `installed-state-`: the operator's name, then its
/// revision when it has one (as istioctl names it, so operators side by side keep their own).
pub(super) fn installed_suffix(name: &str, revision: Option<&str>) -> String {
    match revision {
        Some(revision) => format!("{name}-{revision}"),
        None => name.to_string(),
    }
}

/// An operator spec's revision, when it sets one.
fn revision_of_spec(spec: &Value) -> Option<&str> {
    spec["revision"].as_str().filter(|r| !r.is_empty())
}

/// An operator spec's revision as Istio names it: `default` when it sets none.
fn revision_of(spec: &Value) -> &str {
    revision_of_spec(spec).unwrap_or(crate::render::DEFAULT_REVISION)
}

/// Whether an operator spec installs a control plane (istiod): every profile but `empty` does,
/// unless the pilot component is disabled.
pub(super) fn installs_pilot(spec: &Value) -> bool {
    match spec["components"]["pilot"]["enabled"].as_bool() {
        Some(enabled) => enabled,
        None => spec["profile"].as_str() != Some("empty"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_named_like_istioctl_names_them() {
        assert_eq!(installed_suffix("mesh", None), "mesh");
        assert_eq!(installed_suffix("mesh", Some("b")), "mesh-b");
        let spec = json!({"profile": "default", "revision": "b"});
        assert_eq!(revision_of(&spec), "b");
        assert_eq!(revision_of(&json!({"revision": ""})), "default");
    }

    #[test]
    fn leftovers_are_matched_by_operator_namespace_and_revision() {
        let labels = |operator: &str, namespace: &str, revision: &str| json!({OWNING_RESOURCE: operator, OWNING_NAMESPACE: namespace, REVISION_LABEL: revision});
        assert!(installed_by(
            &labels("mesh", "istio-system", "default"),
            "istio-system",
            "mesh"
        ));
        assert!(installed_by(
            &labels("mesh", "istio-system", "b"),
            "istio-system",
            "mesh-b"
        ));
        // Another revision, operator or namespace, or no operator label: not ours.
        assert!(!installed_by(
            &labels("mesh", "istio-system", "b"),
            "istio-system",
            "mesh"
        ));
        assert!(!installed_by(
            &labels("other", "istio-system", "default"),
            "istio-system",
            "mesh"
        ));
        assert!(!installed_by(
            &labels("mesh", "mesh-b", "default"),
            "istio-system",
            "mesh"
        ));
        assert!(!installed_by(
            &json!({REVISION_LABEL: "default"}),
            "istio-system",
            "mesh"
        ));
        // Without the namespace label (older istioctl), the operator and revision decide.
        assert!(installed_by(
            &json!({OWNING_RESOURCE: "mesh"}),
            "istio-system",
            "mesh"
        ));
    }

    #[test]
    fn only_a_profile_with_pilot_installs_a_control_plane() {
        assert!(installs_pilot(&json!({"profile": "default"})));
        assert!(installs_pilot(&json!({})));
        assert!(!installs_pilot(&json!({"profile": "empty"})));
        assert!(!installs_pilot(
            &json!({"profile": "default", "components": {"pilot": {"enabled": false}}})
        ));
        assert!(installs_pilot(
            &json!({"profile": "empty", "components": {"pilot": {"enabled": true}}})
        ));
    }
}
