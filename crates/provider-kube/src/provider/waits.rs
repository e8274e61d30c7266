//! Reading back what dependents need and waiting until it works: a gateway's nodePorts and
//! balancer, an ALB's DNS name, ARN and zone (from ELBv2), a Ready Certificate, available
//! Deployments; each wait polls with progress and gives up after the tools' timeout.

use std::collections::BTreeMap;
use std::time::Instant;

use meshctl_model::Kind;
use meshctl_provider::ErrorClass;
use serde_json::Value;

use super::{Call, Result, POLL};
use crate::objects::ObjectRef;
use crate::render::{Render, Rendered, DEFAULT_REVISION};
use crate::tools;

impl Call<'_> {
    /// Reads back what the resource's dependents need, waiting (when `wait`) until it works:
    /// the gateway's nodePorts and balancer, the ALB, a Ready Certificate, available
    /// Deployments. Returns the ARN of a balancer the controller made for it.
    pub(super) async fn observe(
        &self,
        render: &Render,
        outputs: &mut BTreeMap<String, Value>,
        wait: bool,
    ) -> Result<Option<String>> {
        match self.address.kind {
            Kind::IngressGateway => self.observe_gateway(outputs, wait).await,
            Kind::Istio if matches!(render.rendered, Rendered::Existing) => {
                self.observe_existing_control_plane(outputs).await?;
                Ok(None)
            }
            Kind::Alb => {
                let Rendered::Objects(objects) = &render.rendered else {
                    return Ok(None);
                };
                let Some(ingress) = objects.iter().find_map(ObjectRef::of) else {
                    return Ok(None);
                };
                let Some(hostname) = self.balancer_hostname(&ingress, wait).await? else {
                    return Ok(None);
                };
                let balancer = self.balancer(&hostname, wait).await?;
                outputs.insert("dns_name".into(), hostname.into());
                Ok(balancer.map(|b| {
                    outputs.insert("arn".into(), b.arn.clone().into());
                    outputs.insert(
                        "canonical_hosted_zone_id".into(),
                        b.canonical_hosted_zone_id.into(),
                    );
                    b.arn
                }))
            }
            Kind::Certificate if wait => {
                if let Rendered::Objects(objects) = &render.rendered {
                    for certificate in objects.iter().filter_map(ObjectRef::of) {
                        self.wait_certificate_ready(&certificate).await?;
                    }
                }
                Ok(None)
            }
            Kind::Manifest if wait => {
                if let Rendered::Objects(objects) = &render.rendered {
                    for deployment in objects
                        .iter()
                        .filter_map(ObjectRef::of)
                        .filter(|o| o.kind == "Deployment" && o.api_version == "apps/v1")
                    {
                        self.wait_deployment_available(&deployment).await?;
                    }
                }
                Ok(None)
            }
            Kind::HelmRelease => {
                if let Rendered::Helm(chart) = &render.rendered {
                    if let Some(revision) = self.helm_revision(chart).await? {
                        outputs.insert("revision".into(), revision.into());
                    }
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// An `existing` control plane: its istiod Deployment (`istiod`, or `istiod-<revision>`) in
    /// its namespace, available, and the version it runs (its image's tag) as the `version`
    /// output. Not there is `NotFound`: apply says what to do, drift reports it gone.
    pub(super) async fn observe_existing_control_plane(
        &self,
        outputs: &mut BTreeMap<String, Value>,
    ) -> Result<()> {
        let namespace = outputs
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("istio-system")
            .to_string();
        let revision = outputs
            .get("revision")
            .and_then(Value::as_str)
            .filter(|r| *r != DEFAULT_REVISION)
            .map(str::to_string);
        let istiod = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some(namespace.clone()),
            name: revision
                .as_ref()
                .map_or_else(|| "istiod".to_string(), |r| format!("istiod-{r}")),
        };
        let live = self
            .connected
            .objects
            .get(&istiod)
            .await
            .map_err(|e| self.object_error(e))?
            .ok_or_else(|| {
                let (message, help) = missing_control_plane(&istiod);
                self.error(ErrorClass::NotFound, message).with_help(help)
            })?;
        let image = live["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default();
        let running = image_version(image);
        let wanted = outputs.get("version").and_then(Value::as_str);
        match (wanted, &running) {
            (Some(wanted), Some(running)) if wanted != running => {
                return Err(self
                    .error(
                        ErrorClass::Permanent,
                        format!("{istiod} runs Istio {running}, not the {wanted} the stack says"),
                    )
                    .with_help(format!(
                        "set `version: {running}` (gateways run the control plane's version), or remove `version`"
                    )))
            }
            (None, Some(running)) => {
                outputs.insert("version".into(), running.clone().into());
            }
            _ => {}
        }
        if !outputs.contains_key("version") {
            return Err(self
                .error(
                    ErrorClass::Permanent,
                    format!(
                        "cannot tell which Istio version {istiod} runs from its image `{image}`"
                    ),
                )
                .with_help("set `version:` to the version it runs"));
        }
        Ok(())
    }

    /// The gateway Service's nodePorts, and for a LoadBalancer Service its balancer.
    pub(super) async fn observe_gateway(
        &self,
        outputs: &mut BTreeMap<String, Value>,
        wait: bool,
    ) -> Result<Option<String>> {
        let name = outputs
            .get("service_name")
            .and_then(Value::as_str)
            .unwrap_or(&self.address.name)
            .to_string();
        let namespace = outputs
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("istio-system")
            .to_string();
        let service = ObjectRef {
            api_version: "v1".into(),
            kind: "Service".into(),
            namespace: Some(namespace),
            name,
        };
        let Some(live) = self
            .connected
            .objects
            .get(&service)
            .await
            .map_err(|e| self.object_error(e))?
        else {
            return Err(self.error(
                ErrorClass::Permanent,
                format!("istioctl reported success, but {service} does not exist"),
            ));
        };
        let mut node_ports = serde_json::Map::new();
        for port in live["spec"]["ports"].as_array().into_iter().flatten() {
            if let (Some(port_name), Some(node_port)) =
                (port["name"].as_str(), port["nodePort"].as_u64())
            {
                node_ports.insert(port_name.to_string(), node_port.into());
                if port_name == "status-port" {
                    outputs.insert("status_node_port".into(), node_port.into());
                }
            }
        }
        outputs.insert("node_ports".into(), Value::Object(node_ports));
        if live["spec"]["type"] != "LoadBalancer" {
            return Ok(None);
        }
        let Some(hostname) = self.balancer_hostname(&service, wait).await? else {
            return Ok(None);
        };
        outputs.insert("load_balancer_hostname".into(), hostname.clone().into());
        let balancer = self.balancer(&hostname, wait).await?;
        Ok(balancer.map(|b| {
            outputs.insert(
                "canonical_hosted_zone_id".into(),
                b.canonical_hosted_zone_id.into(),
            );
            b.arn
        }))
    }

    /// `status.loadBalancer.ingress[0].hostname` of an Ingress or Service, waiting for the
    /// controller to write it when `wait`.
    pub(super) async fn balancer_hostname(
        &self,
        object: &ObjectRef,
        wait: bool,
    ) -> Result<Option<String>> {
        let what = format!("{object} to get a load balancer hostname");
        self.wait_for(&what, wait, || async {
            let live = self
                .connected
                .objects
                .get(object)
                .await
                .map_err(|e| self.object_error(e))?;
            let Some(live) = live else {
                return Err(self.error(ErrorClass::NotFound, format!("{object} does not exist")));
            };
            if let Some(hostname) =
                live["status"]["loadBalancer"]["ingress"][0]["hostname"].as_str()
            {
                return Ok(Some(hostname.to_string()));
            }
            Err(self.error(
                ErrorClass::Retryable,
                format!(
                    "{object} has no load balancer yet{}",
                    self.warning_events(object).await
                ),
            ))
        })
        .await
    }

    /// The balancer with this DNS name, from ELBv2.
    pub(super) async fn balancer(
        &self,
        hostname: &str,
        wait: bool,
    ) -> Result<Option<meshctl_provider::LoadBalancer>> {
        let what = format!("the load balancer {hostname} to appear in ELBv2");
        self.wait_for(&what, wait, || async {
            match self
                .provider
                .balancers
                .by_dns_name(self.address, hostname)
                .await?
            {
                Some(found) => Ok(Some(found)),
                None => Err(self.error(
                    ErrorClass::Retryable,
                    format!("no load balancer named {hostname} in ELBv2"),
                )),
            }
        })
        .await
    }

    pub(super) async fn wait_certificate_ready(&self, certificate: &ObjectRef) -> Result<()> {
        let what = format!("{certificate} to be Ready");
        self.wait_for(&what, true, || async {
            let live = self
                .connected
                .objects
                .get(certificate)
                .await
                .map_err(|e| self.object_error(e))?
                .ok_or_else(|| {
                    self.error(
                        ErrorClass::NotFound,
                        format!("{certificate} does not exist"),
                    )
                })?;
            let ready = live["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready");
            match ready {
                Some(c) if c["status"] == "True" => Ok(Some(())),
                Some(c) => Err(self.error(
                    ErrorClass::Retryable,
                    format!(
                        "{certificate} is not Ready: {}",
                        c["message"].as_str().unwrap_or("no message")
                    ),
                )),
                None => Err(self.error(
                    ErrorClass::Retryable,
                    format!("{certificate} has no Ready condition yet"),
                )),
            }
        })
        .await
        .map(|_| ())
    }

    pub(super) async fn wait_deployment_available(&self, deployment: &ObjectRef) -> Result<()> {
        let what = format!("{deployment} to be available");
        self.wait_for(&what, true, || async {
            let live = self
                .connected
                .objects
                .get(deployment)
                .await
                .map_err(|e| self.object_error(e))?
                .ok_or_else(|| {
                    self.error(ErrorClass::NotFound, format!("{deployment} does not exist"))
                })?;
            let wanted = live["spec"]["replicas"].as_u64().unwrap_or(1);
            let available = live["status"]["availableReplicas"].as_u64().unwrap_or(0);
            if available >= wanted {
                Ok(Some(()))
            } else {
                Err(self.error(
                    ErrorClass::Retryable,
                    format!("{deployment} has {available} of {wanted} replicas available"),
                ))
            }
        })
        .await
        .map(|_| ())
    }

    /// Polls `check` until it returns a value, a non-retryable error, or the tools' timeout
    /// passes (then the last retryable error, made permanent). Without `wait`, one look: a
    /// retryable answer means "not there yet" (`None`).
    pub(super) async fn wait_for<T, F, Fut>(
        &self,
        what: &str,
        wait: bool,
        check: F,
    ) -> Result<Option<T>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let started = Instant::now();
        let timeout = self.provider.tools.timeout;
        loop {
            match check().await {
                Ok(found) => return Ok(found),
                Err(e) if e.class == ErrorClass::Retryable && !wait => {
                    let _ = e;
                    return Ok(None);
                }
                Err(e) if e.class == ErrorClass::Retryable => {
                    if started.elapsed() >= timeout {
                        return Err(self
                            .error(
                                ErrorClass::Permanent,
                                format!(
                                    "gave up waiting for {what} after {} s: {}",
                                    timeout.as_secs(),
                                    e.message
                                ),
                            )
                            .with_help(format!(
                                "set {} (seconds) to wait longer",
                                tools::TIMEOUT_ENV
                            )));
                    }
                    self.progress.update(
                        self.address,
                        &format!("waiting for {what} ({} s)", started.elapsed().as_secs()),
                    );
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// ": <reason>: <message>" of the newest Warning Event about `object`, or "".
    pub(super) async fn warning_events(&self, object: &ObjectRef) -> String {
        let Some(namespace) = &object.namespace else {
            return String::new();
        };
        let api: kube::Api<k8s_openapi::api::core::v1::Event> =
            kube::Api::namespaced(self.connected.objects.client().clone(), namespace);
        let selector = format!(
            "involvedObject.kind={},involvedObject.name={}",
            object.kind, object.name
        );
        let Ok(events) = api
            .list(&kube::api::ListParams::default().fields(&selector))
            .await
        else {
            return String::new();
        };
        events
            .items
            .iter()
            .rfind(|e| e.type_.as_deref() == Some("Warning"))
            .map(|e| {
                format!(
                    ": {}: {}",
                    e.reason.as_deref().unwrap_or("Warning"),
                    e.message.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default()
    }
}

/// What to say when an `existing` control plane's istiod Deployment is not there: the message,
/// and what to do.
fn missing_control_plane(istiod: &ObjectRef) -> (String, String) {
    let which = match istiod.name.strip_prefix("istiod-") {
        Some(revision) => format!("revision `{revision}`"),
        None => "the default revision".to_string(),
    };
    (
        format!(
            "no Istio control plane of {which} in {}: {istiod} does not exist",
            istiod.namespace.as_deref().unwrap_or("istio-system")
        ),
        "install Istio first (the stack that owns it, or istioctl), or set the `namespace` and `revision` it runs with; or remove `existing` to install it from this stack".to_string(),
    )
}

/// The Istio version an image runs, from its tag: `docker.io/istio/pilot:1.22.3` and
/// `…/pilot:1.22.3-distroless` run 1.22.3. `None` for an untagged or digest-only image.
fn image_version(image: &str) -> Option<String> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let (repository, tag) = without_digest.rsplit_once(':')?;
    // A colon in the registry's host:port is not a tag.
    if tag.contains('/') || repository.is_empty() {
        return None;
    }
    let version = tag
        .strip_suffix("-distroless")
        .or_else(|| tag.strip_suffix("-debug"))
        .unwrap_or(tag);
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| version.to_string())
}

#[cfg(test)]
mod tests {
    use super::image_version;

    #[test]
    fn the_version_is_the_image_tag() {
        assert_eq!(
            image_version("docker.io/istio/pilot:1.22.3").as_deref(),
            Some("1.22.3")
        );
        assert_eq!(
            image_version("registry:5000/istio/pilot:1.21.0-distroless").as_deref(),
            Some("1.21.0")
        );
        assert_eq!(image_version("registry:5000/istio/pilot"), None);
        assert_eq!(image_version("istio/pilot:latest"), None);
        assert_eq!(image_version("istio/pilot@sha256:abc"), None);
    }
}
