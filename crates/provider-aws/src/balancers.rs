//! Load balancers made by the AWS Load Balancer Controller, looked up for the Kubernetes provider:
//! an Ingress or Service status names a DNS name, and a Route53 alias needs the balancer's ARN and
//! canonical hosted zone. meshctl never creates or deletes these itself; the controller does.

use async_trait::async_trait;
use meshctl_model::Address;
use meshctl_provider::{LoadBalancer, LoadBalancers};

use crate::{sdk_error, AwsProvider, Result};

#[async_trait]
impl LoadBalancers for AwsProvider {
    async fn by_dns_name(&self, address: &Address, dns_name: &str) -> Result<Option<LoadBalancer>> {
        let elb = &self.clients().await.elb;
        let wanted = dns_name.trim_end_matches('.');
        let mut pages = elb.describe_load_balancers().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(address, "read", "DescribeLoadBalancers", e))?;
            for balancer in page.load_balancers() {
                let Some(name) = balancer.dns_name() else {
                    continue;
                };
                if name.eq_ignore_ascii_case(wanted) {
                    return Ok(Some(LoadBalancer {
                        arn: balancer.load_balancer_arn().unwrap_or_default().to_string(),
                        dns_name: name.to_string(),
                        canonical_hosted_zone_id: balancer
                            .canonical_hosted_zone_id()
                            .unwrap_or_default()
                            .to_string(),
                    }));
                }
            }
        }
        Ok(None)
    }

    async fn exists(&self, address: &Address, arn: &str) -> Result<bool> {
        let elb = &self.clients().await.elb;
        let found = elb
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await;
        match found {
            Ok(page) => Ok(!page.load_balancers().is_empty()),
            Err(e) => {
                let error = sdk_error(address, "delete", "DescribeLoadBalancers", e);
                if error.class == meshctl_provider::ErrorClass::NotFound {
                    Ok(false)
                } else {
                    Err(error)
                }
            }
        }
    }
}
