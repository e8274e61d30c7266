//! Namespaces, raw manifests and the Helm add-ons: the AWS Load Balancer Controller,
//! cert-manager and any other chart.

use super::{merge, HelmChart, Render, RenderError, Rendered, Renderer, IRSA_ANNOTATION};
use meshctl_model::kinds::cluster::{CertManager, HelmRelease, LbController, Manifest, Namespace};
use meshctl_model::Kind;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The chart repository of the AWS Load Balancer Controller (`helm repo add eks ...`).
pub const EKS_CHARTS_REPOSITORY: &str = "https://aws.github.io/eks-charts";
/// cert-manager's chart repository.
pub const CERT_MANAGER_REPOSITORY: &str = "https://charts.jetstack.io";

pub(super) fn namespace(r: &Renderer<'_>, spec: &Namespace) -> Result<Render, RenderError> {
    let object = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": r.metadata(r.name(), None, &spec.labels.0, &spec.annotations.0),
    });
    Ok(Render {
        rendered: Rendered::Objects(vec![object]),
        outputs: BTreeMap::from([("name".to_string(), r.name().into())]),
    })
}

pub(super) fn manifest(r: &Renderer<'_>, spec: &Manifest) -> Result<Render, RenderError> {
    let objects = spec.objects.iter().cloned().map(|o| r.stamp(o)).collect();
    Ok(Render {
        rendered: Rendered::Objects(objects),
        outputs: BTreeMap::new(),
    })
}

/// The Kubernetes ServiceAccount an `iam_service_account` resource stands for. Its record does
/// not carry the account's name (the kind outputs only `role_arn` and `role_name`), so the
/// `service_account_name` output is used when a provider records it, else the resource name —
/// which is what every example stack uses.
fn service_account_name(r: &Renderer<'_>, resource: &str) -> String {
    r.optional_string_output(Kind::IamServiceAccount, resource, "service_account_name")
        .unwrap_or_else(|| resource.to_string())
}

/// `serviceAccount` values binding a chart's controller to its `iam_service_account` role: the
/// chart creates the ServiceAccount with the IRSA annotation (the AWS provider makes the role
/// only; creating the ServiceAccount is the chart's job, as eksctl's docs set these charts up).
fn irsa_service_account(r: &Renderer<'_>, resource: &str) -> Result<Value, RenderError> {
    let role_arn = r.string_output(Kind::IamServiceAccount, resource, "role_arn")?;
    Ok(json!({
        "create": true,
        "name": service_account_name(r, resource),
        "annotations": { IRSA_ANNOTATION: role_arn },
    }))
}

pub(super) fn lb_controller(r: &Renderer<'_>, spec: &LbController) -> Result<Render, RenderError> {
    let cluster = r.cx.cluster.ok_or_else(|| RenderError::NoCluster {
        address: r.address.clone(),
    })?;
    let cluster_name = r.string_output(Kind::EksCluster, &cluster.name, "name")?;
    let mut values = json!({
        "clusterName": cluster_name,
        "region": r.cx.region,
    });
    // The VPC id spares the controller an IMDS lookup; it is only known when a vpc's outputs
    // reach this node (eks_cluster does not output its VPC).
    let vpc_id =
        r.cx.inputs
            .iter()
            .filter(|(address, _)| address.kind == Kind::Vpc)
            .find_map(|(address, _)| r.optional_string_output(Kind::Vpc, &address.name, "vpc_id"));
    if let Some(vpc_id) = vpc_id {
        values["vpcId"] = vpc_id.into();
    }
    values["replicaCount"] = spec.replicas.into();
    values["serviceAccount"] = irsa_service_account(r, &spec.service_account)?;
    if let Some(repository) = &spec.image_repository {
        values["image"] = json!({ "repository": repository });
    }
    merge(&mut values, &spec.values);
    Ok(Render {
        rendered: Rendered::Helm(HelmChart {
            release: r.name().to_string(),
            namespace: "kube-system".to_string(),
            create_namespace: false,
            chart: "aws-load-balancer-controller".to_string(),
            repository: Some(EKS_CHARTS_REPOSITORY.to_string()),
            version: spec.chart_version.to_string(),
            values,
            labels: r.release_labels(),
        }),
        outputs: BTreeMap::from([("release".to_string(), r.name().into())]),
    })
}

/// cert-manager's chart versions carry a `v` (v1.14.4); stacks may write either.
fn jetstack_version(version: &str) -> String {
    if version.starts_with('v') {
        version.to_string()
    } else {
        format!("v{version}")
    }
}

/// cert-manager 1.15 replaced `installCRDs` with `crds.enabled`; older charts know only the former.
fn uses_crds_values(version: &str) -> bool {
    let mut parts = version.trim_start_matches('v').split('.');
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (1, 15)
}

pub(super) fn cert_manager(r: &Renderer<'_>, spec: &CertManager) -> Result<Render, RenderError> {
    let version = jetstack_version(spec.chart_version.as_str());
    let mut values = if uses_crds_values(&version) {
        // `keep` leaves the CRDs (and so every Certificate) in place if the release is removed.
        json!({ "crds": { "enabled": spec.install_crds, "keep": true } })
    } else {
        json!({ "installCRDs": spec.install_crds })
    };
    if let Some(account) = &spec.service_account {
        values["serviceAccount"] = irsa_service_account(r, account)?;
    }
    merge(&mut values, &spec.values);
    Ok(Render {
        rendered: Rendered::Helm(HelmChart {
            release: r.name().to_string(),
            namespace: spec.namespace.to_string(),
            create_namespace: true,
            chart: "cert-manager".to_string(),
            repository: Some(CERT_MANAGER_REPOSITORY.to_string()),
            version,
            values,
            labels: r.release_labels(),
        }),
        outputs: BTreeMap::from([("release".to_string(), r.name().into())]),
    })
}

pub(super) fn helm_release(r: &Renderer<'_>, spec: &HelmRelease) -> Result<Render, RenderError> {
    let values = if spec.values.is_null() {
        json!({})
    } else {
        spec.values.clone()
    };
    Ok(Render {
        rendered: Rendered::Helm(HelmChart {
            release: r.name().to_string(),
            namespace: spec.namespace.to_string(),
            create_namespace: spec.create_namespace,
            chart: spec.chart.clone(),
            repository: spec.repository.as_ref().map(ToString::to_string),
            version: spec.version.to_string(),
            values,
            labels: r.release_labels(),
        }),
        outputs: BTreeMap::from([("release".to_string(), r.name().into())]),
    })
}
