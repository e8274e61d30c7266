//! Installs through processes: `helm upgrade --install` / `uninstall` / `status` of a chart, and
//! `istioctl install` / `uninstall` of an IstioOperator, found again by istioctl's record of it
//! (`installed-state-<name>`).

use std::time::Duration;

use meshctl_model::record::OwnedObject;
use meshctl_model::Kind;
use meshctl_provider::ErrorClass;
use serde_json::{json, Value};

use super::{split_id, temp_file, Call, Record, Result, HELM_RELEASE, ISTIO_OPERATOR};
use crate::objects::ObjectRef;
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
        let object = OwnedObject {
            kind: ISTIO_OPERATOR.to_string(),
            id: format!(
                "{}/{}",
                reference.namespace.as_deref().unwrap_or("istio-system"),
                reference.name
            ),
        };
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

    /// istioctl's record of an install: IstioOperator `installed-state-<name>`.
    pub(super) async fn installed_state(&self, object: &OwnedObject) -> Result<Option<Value>> {
        let (namespace, name) = split_id(&object.id);
        let reference = ObjectRef {
            api_version: "install.istio.io/v1alpha1".into(),
            kind: "IstioOperator".into(),
            namespace: Some(namespace.to_string()),
            name: format!("installed-state-{name}"),
        };
        self.connected
            .objects
            .get(&reference)
            .await
            .map_err(|e| self.object_error(e))
    }

    pub(super) async fn helm_uninstall(&self, object: &OwnedObject) -> Result<()> {
        let (namespace, release) = split_id(&object.id);
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
    /// that operator installed (other operators' gateways stay).
    pub(super) async fn istio_uninstall(&self, object: &OwnedObject) -> Result<()> {
        let Some(state) = self.installed_state(object).await? else {
            return Ok(());
        };
        let (namespace, name) = split_id(&object.id);
        // The control plane goes with everything Istio installed (its CRDs too): its gateways
        // and mesh objects depend on it and are gone by now. A gateway removes only its own,
        // named by the spec istioctl recorded.
        let mut args = vec!["uninstall".to_string(), "-y".to_string()];
        let mut _operator_file = None;
        if self.address.kind == Kind::Istio {
            args.push("--purge".to_string());
        } else {
            let operator = json!({
                "apiVersion": "install.istio.io/v1alpha1",
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
            args.extend(["-f".to_string(), file.display().to_string()]);
            _operator_file = Some(file);
        }
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
        Ok(())
    }
}
