//! The live reads of a verify run, in batches and side by side: one record listing per zone, one
//! balancer listing for the account, listeners and target groups per balancer, rules per
//! listener, health per target group and the certificates the listeners serve, and one list per
//! Kubernetes type and namespace on the paths. AWS clients come from provider-aws's
//! configuration (the standard chain, `AWS_ENDPOINT_URL`), the cluster's from provider-kube's
//! access (kubeconfig, `MESHCTL_KUBE_ENDPOINT`, EKS tokens); both only read.

use crate::snapshot::{
    normalize_dns, AcmCertificate, Balancer, Deployment, Endpoints, ExpectedBalancer,
    GatewayServer, IstioGateway, IstioVirtualService, Listener, NamespaceObjects, Pod, RecordSet,
    Service, ServicePort, Snapshot, TargetGroup, TargetHealth, TlsSecret, ZoneRead,
};
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum};
use base64::Engine as _;
use futures::future::join_all;
use meshctl_graph::traffic::{Role, TrafficModel};
use meshctl_model::{Address, Kind};
use meshctl_provider::StackSettings;
use meshctl_provider_aws::AwsProvider;
use meshctl_provider_kube::objects::Objects;
use meshctl_provider_kube::KubeProvider;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Why the live world could not be read (verify exits 1: it could not check).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read AWS ({operation}): {detail}")]
    Aws {
        operation: &'static str,
        detail: String,
    },
    #[error("cannot read the cluster ({what}): {detail}")]
    Kube { what: String, detail: String },
}

fn aws<E: std::error::Error>(operation: &'static str) -> impl Fn(E) -> ReadError {
    move |e| {
        let mut detail = e.to_string();
        let mut source = e.source();
        while let Some(inner) = source {
            detail = format!("{detail}: {inner}");
            source = inner.source();
        }
        ReadError::Aws { operation, detail }
    }
}

/// What verify needs from outside the model: recorded outputs by address (from state), and each
/// zone's domain (from the stack) to find a zone state has no id for.
pub struct ReadInput<'a> {
    pub model: &'a TrafficModel,
    pub outputs: &'a BTreeMap<Address, BTreeMap<String, Value>>,
    pub zone_domains: BTreeMap<Address, String>,
    pub now_unix: i64,
}

/// The clients verify reads through.
pub struct Clients {
    pub route53: aws_sdk_route53::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub acm: aws_sdk_acm::Client,
    pub kube: Objects,
}

impl Clients {
    pub fn new(config: &aws_types::SdkConfig, kube: Objects) -> Self {
        Clients {
            route53: aws_sdk_route53::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            acm: aws_sdk_acm::Client::new(config),
            kube,
        }
    }
}

impl Clients {
    /// Clients for the stack's account and cluster, made as the providers make theirs: AWS from
    /// the standard chain with the stack's region, the cluster from `kube:` and the recorded
    /// outputs of its `eks_cluster` in `outputs`.
    pub async fn connect(
        settings: &StackSettings,
        outputs: &BTreeMap<Address, BTreeMap<String, Value>>,
    ) -> Result<Self, ReadError> {
        let config = meshctl_provider_aws::sdk_config(&settings.region).await;
        let aws = Arc::new(AwsProvider::with_config(settings.clone(), &config));
        let kube = KubeProvider::new(settings.clone(), aws)
            .objects(outputs)
            .await
            .map_err(|e| ReadError::Kube {
                what: "the connection".into(),
                detail: match &e.help {
                    Some(help) => format!("{}; {help}", e.message),
                    None => e.message.clone(),
                },
            })?;
        Ok(Clients::new(&config, kube))
    }
}

/// Reads everything the model's paths cross.
pub async fn read(input: &ReadInput<'_>, clients: &Clients) -> Result<Snapshot, ReadError> {
    let (zones, balancers, namespaces) = futures::join!(
        read_zones(input, clients),
        list_balancers(clients),
        read_namespaces(input.model, clients),
    );
    let (zones, mut balancers, namespaces) = (zones?, balancers?, namespaces?);
    let expected = expected_balancers(input, &namespaces);
    let mut snapshot = Snapshot {
        zones,
        balancers: Vec::new(),
        expected_balancers: expected,
        certificates: BTreeMap::new(),
        namespaces,
        now_unix: input.now_unix,
    };
    // Only the stack's balancers are described further.
    let wanted: Vec<usize> = balancers
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            snapshot.expected_balancers.values().any(|e| {
                e.arn.as_deref() == Some(b.arn.as_str())
                    || e.dns_name
                        .as_deref()
                        .is_some_and(|d| normalize_dns(d) == b.dns_name)
            })
        })
        .map(|(i, _)| i)
        .collect();
    let described = join_all(
        wanted
            .iter()
            .map(|&i| describe_balancer(clients, balancers[i].arn.clone())),
    )
    .await;
    for (&i, found) in wanted.iter().zip(described) {
        let (listeners, groups) = found?;
        balancers[i].listeners = listeners;
        balancers[i].target_groups = groups;
    }
    let arns: BTreeSet<String> = wanted
        .iter()
        .flat_map(|&i| &balancers[i].listeners)
        .flat_map(|l| l.certificate_arns.iter().cloned())
        .collect();
    let certificates = join_all(
        arns.into_iter()
            .map(|arn| describe_certificate(clients, arn)),
    )
    .await;
    for certificate in certificates {
        if let Some(certificate) = certificate? {
            snapshot
                .certificates
                .insert(certificate.arn.clone(), certificate);
        }
    }
    snapshot.balancers = balancers;
    Ok(snapshot)
}

/// Which balancer each balancer node is: state's recorded ARN and DNS name (an `alb`'s `arn` and
/// `dns_name`, an NLB gateway's `load_balancer_hostname`), else the hostname the controller
/// wrote to the Ingress's or Service's status.
fn expected_balancers(
    input: &ReadInput<'_>,
    namespaces: &BTreeMap<String, NamespaceObjects>,
) -> BTreeMap<String, ExpectedBalancer> {
    let mut expected = BTreeMap::new();
    for path in &input.model.hosts {
        let (Some(entry), Some(workload)) = (&path.entry, &path.workload) else {
            continue;
        };
        let outputs = input.outputs.get(&entry.balancer);
        let output = |name: &str| {
            outputs
                .and_then(|o| o.get(name))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let (arn, dns_name) = match entry.role {
            Role::Nlb => (None, output("load_balancer_hostname")),
            _ => (output("arn"), output("dns_name")),
        };
        let found = if arn.is_some() || dns_name.is_some() {
            Some(ExpectedBalancer {
                arn,
                dns_name,
                source: "state".into(),
            })
        } else {
            let (kind, name) = match entry.role {
                Role::Nlb => ("Service", workload.service.clone()),
                _ => ("Ingress", entry.balancer.name.clone()),
            };
            namespaces
                .get(&workload.namespace)
                .and_then(|n| n.load_balancer_hostnames.get(&format!("{kind}/{name}")))
                .map(|hostname| ExpectedBalancer {
                    arn: None,
                    dns_name: Some(hostname.clone()),
                    source: format!("{kind} {}/{name}", workload.namespace),
                })
        };
        if let Some(found) = found {
            expected.insert(entry.balancer_node.clone(), found);
        }
    }
    expected
}

async fn read_zones(
    input: &ReadInput<'_>,
    clients: &Clients,
) -> Result<BTreeMap<String, ZoneRead>, ReadError> {
    let zones: BTreeSet<&Address> = input.model.hosts.iter().map(|h| &h.zone).collect();
    let read = join_all(zones.into_iter().map(|zone| async move {
        let recorded = input
            .outputs
            .get(zone)
            .and_then(|o| o.get("zone_id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let id = match recorded {
            Some(id) => Some(id),
            None => match input.zone_domains.get(zone) {
                Some(domain) => find_zone(clients, domain).await?,
                None => None,
            },
        };
        let read = match id {
            None => ZoneRead::Missing {
                detail: format!(
                    "state records no zone id for {zone} and no zone of its name was found"
                ),
            },
            Some(id) => list_records(clients, &id).await?,
        };
        Ok::<_, ReadError>((zone.to_string(), read))
    }))
    .await;
    read.into_iter().collect()
}

async fn find_zone(clients: &Clients, domain: &str) -> Result<Option<String>, ReadError> {
    let found = clients
        .route53
        .list_hosted_zones_by_name()
        .dns_name(domain)
        .send()
        .await
        .map_err(aws("ListHostedZonesByName"))?;
    let wanted = normalize_dns(domain);
    Ok(found
        .hosted_zones()
        .iter()
        .find(|z| normalize_dns(z.name()) == wanted)
        .map(|z| z.id().to_string()))
}

async fn list_records(clients: &Clients, zone_id: &str) -> Result<ZoneRead, ReadError> {
    let mut records = Vec::new();
    let mut next: Option<(String, aws_sdk_route53::types::RrType)> = None;
    loop {
        let mut call = clients
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone_id);
        if let Some((name, kind)) = &next {
            call = call.start_record_name(name).start_record_type(kind.clone());
        }
        let page = match call.send().await {
            Ok(page) => page,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_hosted_zone()) =>
            {
                return Ok(ZoneRead::Missing {
                    detail: format!("hosted zone {zone_id} does not exist"),
                })
            }
            Err(e) => return Err(aws("ListResourceRecordSets")(e)),
        };
        for set in page.resource_record_sets() {
            records.push(RecordSet {
                name: normalize_dns(&unescape_record_name(set.name())),
                record_type: set.r#type().as_str().to_string(),
                alias_dns_name: set.alias_target().map(|a| normalize_dns(a.dns_name())),
            });
        }
        match (
            page.is_truncated(),
            page.next_record_name(),
            page.next_record_type(),
        ) {
            (true, Some(name), Some(kind)) => next = Some((name.to_string(), kind.clone())),
            _ => break,
        }
    }
    Ok(ZoneRead::Read {
        zone_id: zone_id.to_string(),
        records,
    })
}

/// Route53 writes `*` in names as `\052`.
fn unescape_record_name(name: &str) -> String {
    name.replace("\\052", "*")
}

async fn list_balancers(clients: &Clients) -> Result<Vec<Balancer>, ReadError> {
    let mut balancers = Vec::new();
    let mut pages = clients
        .elb
        .describe_load_balancers()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws("DescribeLoadBalancers"))?;
        for b in page.load_balancers() {
            balancers.push(Balancer {
                arn: b.load_balancer_arn().unwrap_or_default().to_string(),
                name: b.load_balancer_name().unwrap_or_default().to_string(),
                dns_name: normalize_dns(b.dns_name().unwrap_or_default()),
                state: b
                    .state()
                    .and_then(|s| s.code())
                    .map_or("unknown".to_string(), |c| c.as_str().to_string()),
                listeners: Vec::new(),
                target_groups: Vec::new(),
            });
        }
    }
    Ok(balancers)
}

/// A balancer's listeners (with what their actions and rules forward to) and its target groups
/// (with their targets' health).
async fn describe_balancer(
    clients: &Clients,
    arn: String,
) -> Result<(Vec<Listener>, Vec<TargetGroup>), ReadError> {
    let listeners = async {
        let found = clients
            .elb
            .describe_listeners()
            .load_balancer_arn(&arn)
            .send()
            .await
            .map_err(aws("DescribeListeners"))?;
        let listeners: Vec<Listener> = found
            .listeners()
            .iter()
            .map(|l| Listener {
                arn: l.listener_arn().unwrap_or_default().to_string(),
                port: l.port().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                protocol: l
                    .protocol()
                    .map_or(String::new(), |p| p.as_str().to_string()),
                certificate_arns: l
                    .certificates()
                    .iter()
                    .filter_map(|c| c.certificate_arn().map(str::to_string))
                    .collect(),
                forwards_to: forwards(l.default_actions()),
            })
            .collect();
        // An ALB forwards by its rules; an NLB's default action is all it has.
        let rules = join_all(listeners.iter().map(|l| async {
            if !matches!(l.protocol.as_str(), "HTTP" | "HTTPS") {
                return Ok(Vec::new());
            }
            let rules = clients
                .elb
                .describe_rules()
                .listener_arn(&l.arn)
                .send()
                .await
                .map_err(aws("DescribeRules"))?;
            Ok::<_, ReadError>(
                rules
                    .rules()
                    .iter()
                    .flat_map(|r| forwards(r.actions()))
                    .collect::<Vec<_>>(),
            )
        }))
        .await;
        let mut listeners = listeners;
        for (listener, rules) in listeners.iter_mut().zip(rules) {
            for arn in rules? {
                if !listener.forwards_to.contains(&arn) {
                    listener.forwards_to.push(arn);
                }
            }
        }
        Ok::<_, ReadError>(listeners)
    };
    let groups = async {
        let found = clients
            .elb
            .describe_target_groups()
            .load_balancer_arn(&arn)
            .send()
            .await
            .map_err(aws("DescribeTargetGroups"))?;
        let mut groups: Vec<TargetGroup> = found
            .target_groups()
            .iter()
            .map(|g| TargetGroup {
                arn: g.target_group_arn().unwrap_or_default().to_string(),
                name: g.target_group_name().unwrap_or_default().to_string(),
                port: g.port().and_then(|p| u16::try_from(p).ok()),
                target_type: g
                    .target_type()
                    .map_or(String::new(), |t| t.as_str().to_string()),
                health_check_port: g.health_check_port().unwrap_or("traffic-port").to_string(),
                targets: Vec::new(),
            })
            .collect();
        let health = join_all(groups.iter().map(|g| async {
            let health = clients
                .elb
                .describe_target_health()
                .target_group_arn(&g.arn)
                .send()
                .await
                .map_err(aws("DescribeTargetHealth"))?;
            Ok::<_, ReadError>(
                health
                    .target_health_descriptions()
                    .iter()
                    .map(|d| TargetHealth {
                        id: d
                            .target()
                            .and_then(|t| t.id())
                            .unwrap_or_default()
                            .to_string(),
                        port: d
                            .target()
                            .and_then(|t| t.port())
                            .and_then(|p| u16::try_from(p).ok()),
                        state: d
                            .target_health()
                            .and_then(|h| h.state())
                            .map_or("unknown".to_string(), |s| s.as_str().to_string()),
                        reason: d
                            .target_health()
                            .and_then(|h| h.reason())
                            .map(|r| r.as_str().to_string()),
                    })
                    .collect::<Vec<_>>(),
            )
        }))
        .await;
        for (group, targets) in groups.iter_mut().zip(health) {
            group.targets = targets?;
        }
        Ok::<_, ReadError>(groups)
    };
    let (listeners, groups) = futures::join!(listeners, groups);
    Ok((listeners?, groups?))
}

/// The target groups actions forward to (a plain forward or a weighted one).
fn forwards(actions: &[Action]) -> Vec<String> {
    let mut arns = Vec::new();
    for action in actions {
        if action.r#type() != Some(&ActionTypeEnum::Forward) {
            continue;
        }
        if let Some(arn) = action.target_group_arn() {
            arns.push(arn.to_string());
        }
        if let Some(config) = action.forward_config() {
            for tuple in config.target_groups() {
                if let Some(arn) = tuple.target_group_arn() {
                    if !arns.iter().any(|a| a == arn) {
                        arns.push(arn.to_string());
                    }
                }
            }
        }
    }
    arns
}

async fn describe_certificate(
    clients: &Clients,
    arn: String,
) -> Result<Option<AcmCertificate>, ReadError> {
    let found = match clients
        .acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
    {
        Ok(found) => found,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(aws("DescribeCertificate")(e)),
    };
    let Some(detail) = found.certificate() else {
        return Ok(None);
    };
    let mut names: Vec<String> = detail
        .domain_name()
        .map(str::to_string)
        .into_iter()
        .collect();
    for name in detail.subject_alternative_names() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    Ok(Some(AcmCertificate {
        arn,
        status: detail
            .status()
            .map_or("UNKNOWN".to_string(), |s| s.as_str().to_string()),
        not_after_unix: detail.not_after().map(|t| t.secs()),
        names,
    }))
}

/// The Kubernetes types verify lists, and where each is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum KubeType {
    Service,
    Endpoints,
    Pod,
    Deployment,
    Gateway,
    VirtualService,
    Secret,
    Ingress,
}

impl KubeType {
    fn api(self) -> (&'static str, &'static str) {
        match self {
            KubeType::Service => ("v1", "Service"),
            KubeType::Endpoints => ("v1", "Endpoints"),
            KubeType::Pod => ("v1", "Pod"),
            KubeType::Deployment => ("apps/v1", "Deployment"),
            KubeType::Gateway => ("networking.istio.io/v1beta1", "Gateway"),
            KubeType::VirtualService => ("networking.istio.io/v1beta1", "VirtualService"),
            KubeType::Secret => ("v1", "Secret"),
            KubeType::Ingress => ("networking.k8s.io/v1", "Ingress"),
        }
    }
}

/// One list per type and namespace the paths cross, all at once.
async fn read_namespaces(
    model: &TrafficModel,
    clients: &Clients,
) -> Result<BTreeMap<String, NamespaceObjects>, ReadError> {
    let mut needs: BTreeSet<(String, KubeType)> = BTreeSet::new();
    for path in &model.hosts {
        if let Some(workload) = &path.workload {
            let ns = &workload.namespace;
            for t in [KubeType::Service, KubeType::Pod, KubeType::Deployment] {
                needs.insert((ns.clone(), t));
            }
            if path.entry.as_ref().is_some_and(|e| e.role == Role::Alb) {
                needs.insert((ns.clone(), KubeType::Ingress));
            }
            if path.gateways.iter().any(|g| g.tls_credential.is_some()) {
                needs.insert((ns.clone(), KubeType::Secret));
            }
        }
        for gateway in &path.gateways {
            needs.insert((gateway.namespace.clone(), KubeType::Gateway));
        }
        for route in &path.routes {
            needs.insert((route.namespace.clone(), KubeType::VirtualService));
        }
        for destination in &path.destinations {
            for t in [KubeType::Service, KubeType::Endpoints, KubeType::Pod] {
                needs.insert((destination.namespace.clone(), t));
            }
        }
    }
    let lists = join_all(needs.iter().map(|(namespace, t)| async move {
        let (api_version, kind) = t.api();
        clients
            .kube
            .list(api_version, kind, Some(namespace), "")
            .await
            .map_err(|e| ReadError::Kube {
                what: format!("{kind} objects in {namespace}"),
                detail: e.to_string(),
            })
    }))
    .await;
    let mut namespaces: BTreeMap<String, NamespaceObjects> = BTreeMap::new();
    for ((namespace, t), list) in needs.iter().zip(lists) {
        let objects = namespaces.entry(namespace.clone()).or_default();
        for item in list? {
            add_object(objects, *t, &item);
        }
    }
    Ok(namespaces)
}

fn name_of(item: &Value) -> String {
    item["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn port(value: &Value) -> Option<u16> {
    value.as_u64().and_then(|p| u16::try_from(p).ok())
}

fn add_object(objects: &mut NamespaceObjects, t: KubeType, item: &Value) {
    let name = name_of(item);
    let spec = &item["spec"];
    let status = &item["status"];
    match t {
        KubeType::Service => {
            let ports = spec["ports"]
                .as_array()
                .map(|ports| {
                    ports
                        .iter()
                        .map(|p| ServicePort {
                            name: p["name"].as_str().unwrap_or_default().to_string(),
                            port: port(&p["port"]).unwrap_or(0),
                            node_port: port(&p["nodePort"]),
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Some(hostname) = status["loadBalancer"]["ingress"][0]["hostname"].as_str() {
                objects
                    .load_balancer_hostnames
                    .insert(format!("Service/{name}"), hostname.to_string());
            }
            objects.services.insert(
                name,
                Service {
                    service_type: spec["type"].as_str().unwrap_or("ClusterIP").to_string(),
                    selector: string_map(&spec["selector"]),
                    ports,
                },
            );
        }
        KubeType::Endpoints => {
            let subsets = item["subsets"].as_array().cloned().unwrap_or_default();
            let count = |key: &str| {
                subsets
                    .iter()
                    .map(|s| s[key].as_array().map_or(0, Vec::len))
                    .sum::<usize>()
            };
            objects.endpoints.insert(
                name,
                Endpoints {
                    ready: count("addresses"),
                    not_ready: count("notReadyAddresses"),
                },
            );
        }
        KubeType::Pod => {
            let ready = status["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            let terminating = item["metadata"]["deletionTimestamp"].is_string();
            objects.pods.push(Pod {
                name,
                labels: string_map(&item["metadata"]["labels"]),
                ready: ready && !terminating,
            });
        }
        KubeType::Deployment => {
            objects.deployments.insert(
                name,
                Deployment {
                    replicas: spec["replicas"].as_u64().map_or(1, |r| r as u32),
                    ready_replicas: status["readyReplicas"].as_u64().unwrap_or(0) as u32,
                    template_labels: string_map(&spec["template"]["metadata"]["labels"]),
                },
            );
        }
        KubeType::Gateway => {
            let servers = spec["servers"]
                .as_array()
                .map(|servers| {
                    servers
                        .iter()
                        .map(|s| GatewayServer {
                            port: port(&s["port"]["number"]).unwrap_or(0),
                            protocol: s["port"]["protocol"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            hosts: strings(&s["hosts"]),
                            tls_mode: s["tls"]["mode"].as_str().map(str::to_string),
                            credential_name: s["tls"]["credentialName"]
                                .as_str()
                                .map(str::to_string),
                        })
                        .collect()
                })
                .unwrap_or_default();
            objects.gateways.insert(
                name,
                IstioGateway {
                    selector: string_map(&spec["selector"]),
                    servers,
                },
            );
        }
        KubeType::VirtualService => {
            objects.virtual_services.insert(
                name,
                IstioVirtualService {
                    hosts: strings(&spec["hosts"]),
                    gateways: strings(&spec["gateways"]),
                },
            );
        }
        KubeType::Secret => {
            let data = |key: &str| {
                item["data"][key]
                    .as_str()
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            };
            objects.secrets.insert(
                name,
                TlsSecret {
                    secret_type: item["type"].as_str().unwrap_or_default().to_string(),
                    certificate_der: data("tls.crt").and_then(|pem| first_pem_certificate(&pem)),
                    has_key: data("tls.key").is_some_and(|k| !k.is_empty()),
                },
            );
        }
        KubeType::Ingress => {
            if let Some(hostname) = status["loadBalancer"]["ingress"][0]["hostname"].as_str() {
                objects
                    .load_balancer_hostnames
                    .insert(format!("Ingress/{name}"), hostname.to_string());
            }
        }
    }
}

/// The first `CERTIFICATE` block of a PEM file, decoded.
pub fn first_pem_certificate(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    let body: String = text[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The `route53_zone` resources' domains, for finding a zone state has no id for.
pub fn zone_domains(stack: &meshctl_model::Stack) -> BTreeMap<Address, String> {
    stack
        .of_kind(Kind::Route53Zone)
        .filter_map(|r| match &r.spec {
            meshctl_model::Spec::Route53Zone(zone) => {
                Some((r.address.clone(), zone.domain.as_str().to_string()))
            }
            _ => None,
        })
        .collect()
}
