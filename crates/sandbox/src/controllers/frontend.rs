//! The frontend of a balancer besides its listeners, as the Load Balancer Controller (v2.6+)
//! deploys it: its security groups (the annotation's, found by ID or `Name` tag, or one it
//! creates, tags with the stack and keeps open to the source ranges on the listener ports) and
//! the load balancer attributes of the annotation, in moto.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification};
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancer, LoadBalancerAttribute};

use super::aws::{aws_error, AwsClients};
use super::model::{
    IngressRule, LbModel, SecurityGroups, StackTags, CLUSTER_TAG, MANAGED_SECURITY_GROUP,
};

impl AwsClients {
    /// The IDs of the balancer's security groups, the managed one created or corrected.
    pub(crate) async fn frontend_security_groups(
        &self,
        model: &LbModel,
        cluster: &str,
        stack_tags: &BTreeMap<String, String>,
        subnets: &[String],
    ) -> Result<Vec<String>, String> {
        match &model.security_groups {
            SecurityGroups::Named(names) => {
                let mut ids = Vec::new();
                for name in names {
                    let filter = if name.starts_with("sg-") {
                        Filter::builder().name("group-id").values(name).build()
                    } else {
                        Filter::builder().name("tag:Name").values(name).build()
                    };
                    let found = self
                        .ec2
                        .describe_security_groups()
                        .filters(filter)
                        .send()
                        .await
                        .map_err(|e| aws_error("DescribeSecurityGroups", &e))?;
                    let id = found
                        .security_groups()
                        .first()
                        .and_then(|g| g.group_id())
                        .ok_or_else(|| {
                            format!("couldn't find all security groups: {name} is neither a security group ID nor the Name tag of one")
                        })?;
                    ids.push(id.to_string());
                }
                Ok(ids)
            }
            SecurityGroups::Managed { name, rules } => {
                let id = match self
                    .managed_security_group(cluster, model.tags_kind, &model.stack_id)
                    .await?
                {
                    Some(id) => id,
                    None => {
                        self.create_managed_security_group(model, name, stack_tags, subnets)
                            .await?
                    }
                };
                self.sync_ingress_rules(&id, rules).await?;
                Ok(vec![id])
            }
        }
    }

    /// The ID of the stack's managed security group, if it has one.
    async fn managed_security_group(
        &self,
        cluster: &str,
        kind: StackTags,
        stack_id: &str,
    ) -> Result<Option<String>, String> {
        let tag = |key: &str, value: &str| {
            Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build()
        };
        let found = self
            .ec2
            .describe_security_groups()
            .filters(tag(CLUSTER_TAG, cluster))
            .filters(tag(kind.stack, stack_id))
            .filters(tag(kind.resource, MANAGED_SECURITY_GROUP))
            .send()
            .await
            .map_err(|e| aws_error("DescribeSecurityGroups", &e))?;
        Ok(found
            .security_groups()
            .first()
            .and_then(|g| g.group_id())
            .map(str::to_string))
    }

    async fn create_managed_security_group(
        &self,
        model: &LbModel,
        name: &str,
        stack_tags: &BTreeMap<String, String>,
        subnets: &[String],
    ) -> Result<String, String> {
        let vpc = self
            .ec2
            .describe_subnets()
            .set_subnet_ids(Some(subnets.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("DescribeSubnets", &e))?
            .subnets()
            .first()
            .and_then(|s| s.vpc_id())
            .map(str::to_string)
            .ok_or("DescribeSubnets answered without the balancer's VPC")?;
        let mut tags: Vec<Tag> = stack_tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        tags.push(
            Tag::builder()
                .key(model.tags_kind.resource)
                .value(MANAGED_SECURITY_GROUP)
                .build(),
        );
        let created = self
            .ec2
            .create_security_group()
            .group_name(name)
            .description("[k8s] Managed SecurityGroup for LoadBalancer")
            .vpc_id(vpc)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::SecurityGroup)
                    .set_tags(Some(tags))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("CreateSecurityGroup", &e))?;
        created
            .group_id()
            .map(str::to_string)
            .ok_or_else(|| "CreateSecurityGroup answered without a group ID".to_string())
    }

    /// Makes the group's inbound rules exactly `rules`.
    async fn sync_ingress_rules(&self, group: &str, rules: &[IngressRule]) -> Result<(), String> {
        let described = self
            .ec2
            .describe_security_groups()
            .group_ids(group)
            .send()
            .await
            .map_err(|e| aws_error("DescribeSecurityGroups", &e))?;
        let mut present = BTreeSet::new();
        for permission in described
            .security_groups()
            .first()
            .map(|g| g.ip_permissions())
            .unwrap_or_default()
        {
            for range in permission.ip_ranges() {
                present.insert(IngressRule {
                    protocol: permission.ip_protocol().unwrap_or_default().to_string(),
                    port: permission.from_port().unwrap_or_default(),
                    cidr: range.cidr_ip().unwrap_or_default().to_string(),
                });
            }
        }
        let wanted: BTreeSet<IngressRule> = rules.iter().cloned().collect();
        let permission = |rule: &IngressRule| {
            IpPermission::builder()
                .ip_protocol(&rule.protocol)
                .from_port(rule.port)
                .to_port(rule.port)
                .ip_ranges(IpRange::builder().cidr_ip(&rule.cidr).build())
                .build()
        };
        let stale: Vec<IpPermission> = present.difference(&wanted).map(permission).collect();
        if !stale.is_empty() {
            self.ec2
                .revoke_security_group_ingress()
                .group_id(group)
                .set_ip_permissions(Some(stale))
                .send()
                .await
                .map_err(|e| aws_error("RevokeSecurityGroupIngress", &e))?;
        }
        let missing: Vec<IpPermission> = wanted.difference(&present).map(permission).collect();
        if !missing.is_empty() {
            self.ec2
                .authorize_security_group_ingress()
                .group_id(group)
                .set_ip_permissions(Some(missing))
                .send()
                .await
                .map_err(|e| aws_error("AuthorizeSecurityGroupIngress", &e))?;
        }
        Ok(())
    }

    /// Attaches `groups` to an existing balancer whose groups differ.
    pub(crate) async fn sync_balancer_security_groups(
        &self,
        lb: &LoadBalancer,
        groups: &[String],
    ) -> Result<(), String> {
        let attached: BTreeSet<&str> = lb.security_groups().iter().map(String::as_str).collect();
        let wanted: BTreeSet<&str> = groups.iter().map(String::as_str).collect();
        if attached == wanted {
            return Ok(());
        }
        self.elb
            .set_security_groups()
            .load_balancer_arn(lb.load_balancer_arn().unwrap_or_default())
            .set_security_groups(Some(groups.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("SetSecurityGroups", &e))?;
        Ok(())
    }

    /// Sets the attributes the model names where they differ; the others are left as they are.
    pub(crate) async fn sync_attributes(
        &self,
        lb_arn: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        if attributes.is_empty() {
            return Ok(());
        }
        let current = self
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .map_err(|e| aws_error("DescribeLoadBalancerAttributes", &e))?;
        let current: BTreeMap<&str, &str> = current
            .attributes()
            .iter()
            .filter_map(|a| Some((a.key()?, a.value()?)))
            .collect();
        let changes: Vec<LoadBalancerAttribute> = attributes
            .iter()
            .filter(|(k, v)| current.get(k.as_str()) != Some(&v.as_str()))
            .map(|(k, v)| LoadBalancerAttribute::builder().key(k).value(v).build())
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        self.elb
            .modify_load_balancer_attributes()
            .load_balancer_arn(lb_arn)
            .set_attributes(Some(changes))
            .send()
            .await
            .map_err(|e| aws_error("ModifyLoadBalancerAttributes", &e))?;
        Ok(())
    }

    /// Deletes the stack's managed security group once its balancer is gone.
    pub(crate) async fn delete_managed_security_group(
        &self,
        cluster: &str,
        kind: StackTags,
        stack_id: &str,
    ) -> Result<(), String> {
        if let Some(id) = self.managed_security_group(cluster, kind, stack_id).await? {
            self.ec2
                .delete_security_group()
                .group_id(id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteSecurityGroup", &e))?;
        }
        Ok(())
    }
}
