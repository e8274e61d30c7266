//! The AWS side of the Load Balancer Controller: clients for an explicit endpoint (moto), and the
//! deployer that makes ELBv2 match an `LbModel` — find the stack's objects by their tags, create
//! what is missing, modify what differs, delete what is no longer wanted — or removes a stack.

use std::collections::{BTreeMap, HashMap};

use aws_config::BehaviorVersion;
use aws_sdk_ec2::types::Filter;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use elbv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ForwardActionConfig,
    HostHeaderConditionConfig, LoadBalancer, Matcher, PathPatternConditionConfig, ProtocolEnum,
    RedirectActionConfig, RedirectActionStatusCodeEnum, RuleCondition, Tag, TargetGroup,
    TargetGroupTuple, TargetTypeEnum,
};

use super::model::{
    conditions_key, redirect_key, ActionModel, LbModel, StackTags, Subnets, TargetGroupModel,
    CLUSTER_TAG,
};
use super::targets::TargetHealthBoard;

/// The AWS clients the Load Balancer Controller uses, bound to one endpoint and region with
/// moto's fixed test credentials (never the environment's: the sandbox must not reach AWS).
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub elb: elbv2::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub acm: aws_sdk_acm::Client,
}

impl AwsClients {
    /// Clients for `endpoint` (e.g. moto's URL) in `region`.
    pub async fn new(endpoint: &str, region: &str) -> Self {
        let credentials = aws_sdk_elasticloadbalancingv2::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "meshctl-sandbox",
        );
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(credentials)
            .load()
            .await;
        Self {
            elb: elbv2::Client::new(&config),
            ec2: aws_sdk_ec2::Client::new(&config),
            acm: aws_sdk_acm::Client::new(&config),
        }
    }
}

/// The SDK's HTTP client with rustls on ring, the one crypto provider the sandbox links (see
/// Cargo.toml).
pub fn http_client() -> elbv2::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `operation: Code: message` for an SDK error, falling back to the full error chain.
pub(crate) fn aws_error<E>(operation: &str, error: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{operation}: {code}: {message}"),
        (Some(code), None) => format!("{operation}: {code}"),
        _ => format!(
            "{operation}: {}",
            aws_sdk_elasticloadbalancingv2::error::DisplayErrorContext(error)
        ),
    }
}

/// A load balancer of a stack and its tags.
pub(crate) struct TaggedLb {
    pub lb: LoadBalancer,
    pub tags: HashMap<String, String>,
}

fn tags_of(list: &[elbv2::types::Tag]) -> HashMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn elb_tags(pairs: &BTreeMap<String, String>) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

impl AwsClients {
    /// The tags of ELBv2 resources, 20 ARNs per call (the API's limit).
    async fn tags(
        &self,
        arns: &[String],
    ) -> Result<HashMap<String, HashMap<String, String>>, String> {
        let mut out = HashMap::new();
        for chunk in arns.chunks(20) {
            let response = self
                .elb
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| aws_error("DescribeTags", &e))?;
            for description in response.tag_descriptions() {
                if let Some(arn) = description.resource_arn() {
                    out.insert(arn.to_string(), tags_of(description.tags()));
                }
            }
        }
        Ok(out)
    }

    /// Every load balancer of `cluster` tagged with the stack tag kind, with its tags.
    pub(crate) async fn cluster_load_balancers(
        &self,
        cluster: &str,
        kind: StackTags,
    ) -> Result<Vec<TaggedLb>, String> {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let response = self
                .elb
                .describe_load_balancers()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| aws_error("DescribeLoadBalancers", &e))?;
            all.extend(response.load_balancers().iter().cloned());
            marker = response.next_marker().map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        let arns: Vec<String> = all
            .iter()
            .filter_map(|lb| lb.load_balancer_arn().map(str::to_string))
            .collect();
        let tags = self.tags(&arns).await?;
        Ok(all
            .into_iter()
            .filter_map(|lb| {
                let tags = tags.get(lb.load_balancer_arn()?)?.clone();
                let ours = tags.get(CLUSTER_TAG).is_some_and(|c| c == cluster)
                    && tags.contains_key(kind.stack);
                ours.then_some(TaggedLb { lb, tags })
            })
            .collect())
    }

    /// The stack ids that have a load balancer in AWS (to clean up stacks whose objects are gone).
    pub(crate) async fn stack_ids(
        &self,
        cluster: &str,
        kind: StackTags,
    ) -> Result<Vec<String>, String> {
        Ok(self
            .cluster_load_balancers(cluster, kind)
            .await?
            .into_iter()
            .filter_map(|t| t.tags.get(kind.stack).cloned())
            .collect())
    }

    async fn stack_load_balancer(
        &self,
        cluster: &str,
        kind: StackTags,
        stack_id: &str,
    ) -> Result<Option<LoadBalancer>, String> {
        Ok(self
            .cluster_load_balancers(cluster, kind)
            .await?
            .into_iter()
            .find(|t| t.tags.get(kind.stack).is_some_and(|s| s == stack_id))
            .map(|t| t.lb))
    }

    /// The target groups of a stack.
    async fn stack_target_groups(
        &self,
        cluster: &str,
        kind: StackTags,
        stack_id: &str,
    ) -> Result<Vec<TargetGroup>, String> {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let response = self
                .elb
                .describe_target_groups()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| aws_error("DescribeTargetGroups", &e))?;
            all.extend(response.target_groups().iter().cloned());
            marker = response.next_marker().map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        let arns: Vec<String> = all
            .iter()
            .filter_map(|tg| tg.target_group_arn().map(str::to_string))
            .collect();
        let tags = self.tags(&arns).await?;
        Ok(all
            .into_iter()
            .filter(|tg| {
                tg.target_group_arn()
                    .and_then(|arn| tags.get(arn))
                    .is_some_and(|t| {
                        t.get(CLUSTER_TAG).is_some_and(|c| c == cluster)
                            && t.get(kind.stack).is_some_and(|s| s == stack_id)
                    })
            })
            .collect())
    }

    /// The subnets for a balancer: the named ones, or one per availability zone among those
    /// tagged with the scheme's role tag in the cluster's VPC, as the real controller discovers
    /// them. Subnets tagged for another cluster only (`kubernetes.io/cluster/<other>`) are skipped.
    pub(crate) async fn subnets(
        &self,
        subnets: &Subnets,
        scheme: &str,
        cluster: &str,
        vpc: Option<&str>,
    ) -> Result<Vec<String>, String> {
        let role = if scheme == "internal" {
            "kubernetes.io/role/internal-elb"
        } else {
            "kubernetes.io/role/elb"
        };
        let mut request = self.ec2.describe_subnets();
        match subnets {
            Subnets::Named(names) => {
                let (ids, names): (Vec<String>, Vec<String>) = names
                    .iter()
                    .cloned()
                    .partition(|n| n.starts_with("subnet-"));
                let mut found = Vec::new();
                if !ids.is_empty() {
                    let response = self
                        .ec2
                        .describe_subnets()
                        .set_subnet_ids(Some(ids.clone()))
                        .send()
                        .await
                        .map_err(|e| aws_error("DescribeSubnets", &e))?;
                    found.extend(
                        response
                            .subnets()
                            .iter()
                            .filter_map(|s| s.subnet_id().map(str::to_string)),
                    );
                }
                if !names.is_empty() {
                    let response = self
                        .ec2
                        .describe_subnets()
                        .filters(
                            Filter::builder()
                                .name("tag:Name")
                                .set_values(Some(names.clone()))
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| aws_error("DescribeSubnets", &e))?;
                    found.extend(
                        response
                            .subnets()
                            .iter()
                            .filter_map(|s| s.subnet_id().map(str::to_string)),
                    );
                }
                if found.len() < ids.len() + names.len() {
                    return Err(format!(
                        "couldn't find all subnets, want: {:?}, found: {:?}; check the subnets annotation against `aws ec2 describe-subnets`",
                        ids.iter().chain(&names).collect::<Vec<_>>(),
                        found
                    ));
                }
                return Ok(found);
            }
            Subnets::Discover => {
                request = request.filters(
                    Filter::builder()
                        .name(format!("tag:{role}"))
                        .values("")
                        .values("1")
                        .build(),
                );
                if let Some(vpc) = vpc {
                    request = request.filters(Filter::builder().name("vpc-id").values(vpc).build());
                }
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| aws_error("DescribeSubnets", &e))?;
        let own_cluster_tag = format!("kubernetes.io/cluster/{cluster}");
        let mut candidates: Vec<_> = response
            .subnets()
            .iter()
            .filter(|s| {
                let cluster_tags: Vec<&str> = s
                    .tags()
                    .iter()
                    .filter_map(|t| t.key())
                    .filter(|k| k.starts_with("kubernetes.io/cluster/"))
                    .collect();
                cluster_tags.is_empty() || cluster_tags.contains(&own_cluster_tag.as_str())
            })
            .cloned()
            .collect();
        candidates.sort_by(|a, b| a.subnet_id().cmp(&b.subnet_id()));
        // Without a configured VPC, the cluster's VPC is the one its tagged subnets are in.
        let chosen_vpc = vpc.map(str::to_string).or_else(|| {
            candidates
                .iter()
                .find(|s| {
                    s.tags()
                        .iter()
                        .any(|t| t.key() == Some(own_cluster_tag.as_str()))
                })
                .or(candidates.first())
                .and_then(|s| s.vpc_id().map(str::to_string))
        });
        let mut by_zone: BTreeMap<String, String> = BTreeMap::new();
        for subnet in &candidates {
            if subnet.vpc_id().map(str::to_string) != chosen_vpc {
                continue;
            }
            if let (Some(zone), Some(id)) = (subnet.availability_zone(), subnet.subnet_id()) {
                by_zone
                    .entry(zone.to_string())
                    .or_insert_with(|| id.to_string());
            }
        }
        if by_zone.is_empty() {
            return Err(format!(
                "couldn't auto-discover subnets: unable to resolve at least one subnet (0 match VPC and tags: [{role}]); tag the cluster's subnets with {role}=1 or set the subnets annotation"
            ));
        }
        Ok(by_zone.into_values().collect())
    }

    /// Checks that every certificate exists in ACM, so a typo is reported clearly rather than as
    /// a listener failure.
    pub(crate) async fn check_certificates(&self, arns: &[String]) -> Result<(), String> {
        for arn in arns {
            if let Err(e) = self
                .acm
                .describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
            {
                return Err(format!(
                    "certificate {arn} is not usable: {}; request or import it in ACM (region of the cluster) and use its ARN",
                    aws_error("DescribeCertificate", &e)
                ));
            }
        }
        Ok(())
    }

    /// Makes ELBv2 match `model`; returns the balancer's DNS name.
    pub(crate) async fn deploy(
        &self,
        cluster: &str,
        vpc: Option<&str>,
        model: &LbModel,
        board: &TargetHealthBoard,
    ) -> Result<String, String> {
        let certificates: Vec<String> = model
            .listeners
            .iter()
            .flat_map(|l| l.certificates.iter().cloned())
            .collect();
        self.check_certificates(&certificates).await?;
        let subnets = self
            .subnets(&model.subnets, &model.scheme, cluster, vpc)
            .await?;
        let mut tags = model.tags.clone();
        tags.insert(CLUSTER_TAG.to_string(), cluster.to_string());
        tags.insert(model.tags_kind.stack.to_string(), model.stack_id.clone());

        // The balancer: scheme, type and name cannot change in place, so a change replaces it.
        let existing = self
            .stack_load_balancer(cluster, model.tags_kind, &model.stack_id)
            .await?;
        let existing = match existing {
            Some(lb)
                if lb.scheme().map(|s| s.as_str()) != Some(model.scheme.as_str())
                    || lb.r#type().map(|t| t.as_str()) != Some(model.lb_type.as_str())
                    || lb.load_balancer_name() != Some(model.name.as_str()) =>
            {
                self.delete_load_balancer(&lb).await?;
                None
            }
            other => other,
        };
        let security_groups = self
            .frontend_security_groups(model, cluster, &tags, &subnets)
            .await?;
        let lb = match existing {
            Some(lb) => {
                self.sync_balancer_security_groups(&lb, &security_groups)
                    .await?;
                lb
            }
            None => {
                let mut lb_tags = tags.clone();
                lb_tags.insert(
                    model.tags_kind.resource.to_string(),
                    "LoadBalancer".to_string(),
                );
                let response = self
                    .elb
                    .create_load_balancer()
                    .name(&model.name)
                    .set_subnets(Some(subnets.clone()))
                    .set_security_groups(Some(security_groups.clone()))
                    .scheme(model.scheme.as_str().into())
                    .r#type(model.lb_type.as_str().into())
                    .set_tags(Some(elb_tags(&lb_tags)))
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateLoadBalancer", &e))?;
                response
                    .load_balancers()
                    .first()
                    .cloned()
                    .ok_or("CreateLoadBalancer answered without a load balancer")?
            }
        };
        let lb_arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        let vpc_id = lb.vpc_id().unwrap_or_default().to_string();
        self.sync_attributes(&lb_arn, &model.attributes).await?;

        // Target groups: create missing ones, fix health checks of existing ones.
        let existing_tgs = self
            .stack_target_groups(cluster, model.tags_kind, &model.stack_id)
            .await?;
        let mut tg_arns: HashMap<String, String> = HashMap::new();
        for tg in &model.target_groups {
            let found = existing_tgs
                .iter()
                .find(|e| e.target_group_name() == Some(tg.name.as_str()));
            let arn = match found {
                Some(found) => {
                    let arn = found.target_group_arn().unwrap_or_default().to_string();
                    if !health_matches(found, tg) {
                        self.modify_health_check(&arn, tg).await?;
                    }
                    arn
                }
                None => {
                    self.create_target_group(tg, &vpc_id, &tags, model.tags_kind)
                        .await?
                }
            };
            // The registration loop (`targets`) registers its targets from now on.
            board.bind(&arn, model.lb_type, tg);
            tg_arns.insert(tg.name.clone(), arn);
        }
        let tg_arn = |name: &str| tg_arns.get(name).cloned().unwrap_or_default();

        // Listeners and their rules.
        let listeners = self
            .elb
            .describe_listeners()
            .load_balancer_arn(&lb_arn)
            .send()
            .await
            .map_err(|e| aws_error("DescribeListeners", &e))?
            .listeners()
            .to_vec();
        for desired in &model.listeners {
            let default_action = sdk_action(&desired.default_action, &tg_arn);
            let certificates: Vec<Certificate> = desired
                .certificates
                .first()
                .map(|c| vec![Certificate::builder().certificate_arn(c).build()])
                .unwrap_or_default();
            let found = listeners.iter().find(|l| l.port() == Some(desired.port));
            let listener_arn = match found {
                Some(found) => {
                    let same = found.protocol().map(|p| p.as_str())
                        == Some(desired.protocol.as_str())
                        && found
                            .certificates()
                            .first()
                            .and_then(|c| c.certificate_arn())
                            == desired.certificates.first().map(String::as_str)
                        && (desired.ssl_policy.is_none()
                            || found.ssl_policy() == desired.ssl_policy.as_deref())
                        && found.default_actions().first().map(sdk_action_key)
                            == Some(desired.default_action.key(&tg_arn));
                    let arn = found.listener_arn().unwrap_or_default().to_string();
                    if !same {
                        self.elb
                            .modify_listener()
                            .listener_arn(&arn)
                            .protocol(ProtocolEnum::from(desired.protocol.as_str()))
                            .port(desired.port)
                            .set_certificates((!certificates.is_empty()).then_some(certificates))
                            .set_ssl_policy(desired.ssl_policy.clone())
                            .default_actions(default_action)
                            .send()
                            .await
                            .map_err(|e| aws_error("ModifyListener", &e))?;
                    }
                    arn
                }
                None => {
                    let mut listener_tags = tags.clone();
                    listener_tags.insert(
                        model.tags_kind.resource.to_string(),
                        format!("{}", desired.port),
                    );
                    let response = self
                        .elb
                        .create_listener()
                        .load_balancer_arn(&lb_arn)
                        .protocol(ProtocolEnum::from(desired.protocol.as_str()))
                        .port(desired.port)
                        .set_certificates((!certificates.is_empty()).then_some(certificates))
                        .set_ssl_policy(desired.ssl_policy.clone())
                        .default_actions(default_action)
                        .send()
                        .await
                        .map_err(|e| aws_error("CreateListener", &e))?;
                    response
                        .listeners()
                        .first()
                        .and_then(|l| l.listener_arn())
                        .ok_or("CreateListener answered without a listener")?
                        .to_string()
                }
            };
            if desired.certificates.len() > 1 {
                let extra: Vec<Certificate> = desired.certificates[1..]
                    .iter()
                    .map(|c| Certificate::builder().certificate_arn(c).build())
                    .collect();
                self.elb
                    .add_listener_certificates()
                    .listener_arn(&listener_arn)
                    .set_certificates(Some(extra))
                    .send()
                    .await
                    .map_err(|e| aws_error("AddListenerCertificates", &e))?;
            }
            if model.lb_type == super::model::LbType::Application {
                self.sync_rules(&listener_arn, desired, &tg_arn).await?;
            }
        }
        for stale in listeners
            .iter()
            .filter(|l| !model.listeners.iter().any(|d| Some(d.port) == l.port()))
        {
            self.elb
                .delete_listener()
                .set_listener_arn(stale.listener_arn().map(str::to_string))
                .send()
                .await
                .map_err(|e| aws_error("DeleteListener", &e))?;
        }
        // Target groups nothing points at any more.
        for stale in existing_tgs.iter().filter(|e| {
            !model
                .target_groups
                .iter()
                .any(|d| e.target_group_name() == Some(d.name.as_str()))
        }) {
            self.elb
                .delete_target_group()
                .set_target_group_arn(stale.target_group_arn().map(str::to_string))
                .send()
                .await
                .map_err(|e| aws_error("DeleteTargetGroup", &e))?;
        }
        Ok(lb.dns_name().unwrap_or_default().to_string())
    }

    async fn create_target_group(
        &self,
        tg: &TargetGroupModel,
        vpc_id: &str,
        stack_tags: &BTreeMap<String, String>,
        kind: StackTags,
    ) -> Result<String, String> {
        let mut tags = stack_tags.clone();
        tags.insert(kind.resource.to_string(), tg.resource_id.clone());
        let h = &tg.health;
        let response = self
            .elb
            .create_target_group()
            .name(&tg.name)
            .protocol(ProtocolEnum::from(tg.protocol.as_str()))
            .port(tg.port)
            .vpc_id(vpc_id)
            .target_type(TargetTypeEnum::from(tg.target_type.as_str()))
            .health_check_protocol(ProtocolEnum::from(h.protocol.as_str()))
            .health_check_port(&h.port)
            .set_health_check_path(h.path.clone())
            .health_check_interval_seconds(h.interval_seconds)
            .health_check_timeout_seconds(h.timeout_seconds)
            .healthy_threshold_count(h.healthy_threshold)
            .unhealthy_threshold_count(h.unhealthy_threshold)
            .set_matcher(
                h.success_codes
                    .as_ref()
                    .map(|c| Matcher::builder().http_code(c).build()),
            )
            .set_tags(Some(elb_tags(&tags)))
            .send()
            .await
            .map_err(|e| aws_error("CreateTargetGroup", &e))?;
        response
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .map(str::to_string)
            .ok_or_else(|| "CreateTargetGroup answered without a target group".to_string())
    }

    async fn modify_health_check(&self, arn: &str, tg: &TargetGroupModel) -> Result<(), String> {
        let h = &tg.health;
        self.elb
            .modify_target_group()
            .target_group_arn(arn)
            .health_check_protocol(ProtocolEnum::from(h.protocol.as_str()))
            .health_check_port(&h.port)
            .set_health_check_path(h.path.clone())
            .health_check_interval_seconds(h.interval_seconds)
            .health_check_timeout_seconds(h.timeout_seconds)
            .healthy_threshold_count(h.healthy_threshold)
            .unhealthy_threshold_count(h.unhealthy_threshold)
            .set_matcher(
                h.success_codes
                    .as_ref()
                    .map(|c| Matcher::builder().http_code(c).build()),
            )
            .send()
            .await
            .map_err(|e| aws_error("ModifyTargetGroup", &e))?;
        Ok(())
    }

    /// Makes the listener's rules (priority 1, 2, …) match; rewrites them all when any differs,
    /// which keeps priorities dense like the real controller's.
    async fn sync_rules(
        &self,
        listener_arn: &str,
        desired: &super::model::ListenerModel,
        tg_arn: &(dyn Fn(&str) -> String + Sync),
    ) -> Result<(), String> {
        let rules = self
            .elb
            .describe_rules()
            .listener_arn(listener_arn)
            .send()
            .await
            .map_err(|e| aws_error("DescribeRules", &e))?
            .rules()
            .to_vec();
        let mut existing: Vec<(i64, String)> = rules
            .iter()
            .filter(|r| r.is_default() != Some(true))
            .filter_map(|r| {
                let priority = r.priority()?.parse::<i64>().ok()?;
                let mut hosts = Vec::new();
                let mut paths = Vec::new();
                for c in r.conditions() {
                    match c.field() {
                        Some("host-header") => hosts.extend(
                            c.host_header_config()
                                .map(|h| h.values().to_vec())
                                .filter(|v| !v.is_empty())
                                .unwrap_or_else(|| c.values().to_vec()),
                        ),
                        Some("path-pattern") => paths.extend(
                            c.path_pattern_config()
                                .map(|p| p.values().to_vec())
                                .filter(|v| !v.is_empty())
                                .unwrap_or_else(|| c.values().to_vec()),
                        ),
                        _ => {}
                    }
                }
                let action = r.actions().first().map(sdk_action_key).unwrap_or_default();
                Some((
                    priority,
                    format!("{}|{action}", conditions_key(&hosts, &paths)),
                ))
            })
            .collect();
        existing.sort();
        let wanted: Vec<(i64, String)> = desired
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    i as i64 + 1,
                    format!(
                        "{}|{}",
                        conditions_key(&r.hosts, &r.paths),
                        r.action.key(tg_arn)
                    ),
                )
            })
            .collect();
        if existing == wanted {
            return Ok(());
        }
        for rule in rules.iter().filter(|r| r.is_default() != Some(true)) {
            self.elb
                .delete_rule()
                .set_rule_arn(rule.rule_arn().map(str::to_string))
                .send()
                .await
                .map_err(|e| aws_error("DeleteRule", &e))?;
        }
        for (i, rule) in desired.rules.iter().enumerate() {
            let mut conditions = Vec::new();
            if !rule.hosts.is_empty() {
                conditions.push(
                    RuleCondition::builder()
                        .field("host-header")
                        .host_header_config(
                            HostHeaderConditionConfig::builder()
                                .set_values(Some(rule.hosts.clone()))
                                .build(),
                        )
                        .build(),
                );
            }
            if !rule.paths.is_empty() {
                conditions.push(
                    RuleCondition::builder()
                        .field("path-pattern")
                        .path_pattern_config(
                            PathPatternConditionConfig::builder()
                                .set_values(Some(rule.paths.clone()))
                                .build(),
                        )
                        .build(),
                );
            }
            self.elb
                .create_rule()
                .listener_arn(listener_arn)
                .priority(i as i32 + 1)
                .set_conditions(Some(conditions))
                .actions(sdk_action(&rule.action, tg_arn))
                .send()
                .await
                .map_err(|e| aws_error("CreateRule", &e))?;
        }
        Ok(())
    }

    async fn delete_load_balancer(&self, lb: &LoadBalancer) -> Result<(), String> {
        // Listeners go with the balancer; target groups are freed once it is gone.
        self.elb
            .delete_load_balancer()
            .set_load_balancer_arn(lb.load_balancer_arn().map(str::to_string))
            .send()
            .await
            .map_err(|e| aws_error("DeleteLoadBalancer", &e))?;
        Ok(())
    }

    /// Removes everything of a stack: the balancer (and so its listeners), then its target groups.
    pub(crate) async fn delete_stack(
        &self,
        cluster: &str,
        kind: StackTags,
        stack_id: &str,
    ) -> Result<(), String> {
        if let Some(lb) = self.stack_load_balancer(cluster, kind, stack_id).await? {
            self.delete_load_balancer(&lb).await?;
        }
        self.delete_managed_security_group(cluster, kind, stack_id)
            .await?;
        for tg in self.stack_target_groups(cluster, kind, stack_id).await? {
            self.elb
                .delete_target_group()
                .set_target_group_arn(tg.target_group_arn().map(str::to_string))
                .send()
                .await
                .map_err(|e| aws_error("DeleteTargetGroup", &e))?;
        }
        Ok(())
    }
}

fn health_matches(found: &TargetGroup, tg: &TargetGroupModel) -> bool {
    let h = &tg.health;
    found.health_check_protocol().map(|p| p.as_str()) == Some(h.protocol.as_str())
        && found.health_check_port() == Some(h.port.as_str())
        && (h.path.is_none() || found.health_check_path() == h.path.as_deref())
        && found.health_check_interval_seconds() == Some(h.interval_seconds)
        && found.health_check_timeout_seconds() == Some(h.timeout_seconds)
        && found.healthy_threshold_count() == Some(h.healthy_threshold)
        && found.unhealthy_threshold_count() == Some(h.unhealthy_threshold)
        && (h.success_codes.is_none()
            || found.matcher().and_then(|m| m.http_code()) == h.success_codes.as_deref())
}

/// The SDK form of an action.
fn sdk_action(action: &ActionModel, tg_arn: &(dyn Fn(&str) -> String + Sync)) -> Action {
    match action {
        ActionModel::Forward(name) => forward(tg_arn(name)),
        ActionModel::ForwardArn(arn) => forward(arn.clone()),
        ActionModel::Redirect {
            protocol,
            port,
            host,
            path,
            query,
            status_code,
        } => Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .set_protocol(protocol.clone())
                    .set_port(port.clone())
                    .set_host(host.clone())
                    .set_path(path.clone())
                    .set_query(query.clone())
                    .status_code(RedirectActionStatusCodeEnum::from(status_code.as_str()))
                    .build(),
            )
            .build(),
        ActionModel::FixedResponse {
            status_code,
            content_type,
            body,
        } => Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code(status_code)
                    .set_content_type(content_type.clone())
                    .set_message_body(body.clone())
                    .build(),
            )
            .build(),
    }
}

fn forward(arn: String) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(&arn)
        .forward_config(
            ForwardActionConfig::builder()
                .target_groups(TargetGroupTuple::builder().target_group_arn(arn).build())
                .build(),
        )
        .build()
}

/// The comparable form of an action read from AWS (see `ActionModel::key`).
fn sdk_action_key(action: &Action) -> String {
    match action.r#type() {
        Some(ActionTypeEnum::Forward) => {
            let arn = action.target_group_arn().or_else(|| {
                action
                    .forward_config()
                    .and_then(|f| f.target_groups().first())
                    .and_then(|t| t.target_group_arn())
            });
            format!("forward:{}", arn.unwrap_or_default())
        }
        Some(ActionTypeEnum::Redirect) => {
            let r = action.redirect_config();
            redirect_key(
                r.and_then(|r| r.protocol()),
                r.and_then(|r| r.port()),
                r.and_then(|r| r.host()),
                r.and_then(|r| r.path()),
                r.and_then(|r| r.query()),
                r.and_then(|r| r.status_code())
                    .map(|s| s.as_str())
                    .unwrap_or_default(),
            )
        }
        Some(ActionTypeEnum::FixedResponse) => {
            let f = action.fixed_response_config();
            format!(
                "fixed:{}:{}:{}",
                f.and_then(|f| f.status_code()).unwrap_or_default(),
                f.and_then(|f| f.content_type()).unwrap_or_default(),
                f.and_then(|f| f.message_body()).unwrap_or_default()
            )
        }
        other => format!("{other:?}"),
    }
}
