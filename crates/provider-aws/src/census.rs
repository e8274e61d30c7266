//! The census: objects in AWS (VPCs, certificates, clusters, IAM roles, hosted zones) tagged `meshctl:stack` with this stack, whatever address their
//! `meshctl:address` tag names. The engine compares them with the state before creating
//! anything, so a state that is missing or in the wrong place stops the plan instead of
//! building a second copy of the stack beside the first.

use crate::{sdk_error, Cx, Result, TAG_STACK};
use aws_sdk_ec2::types::Filter;
use meshctl_model::record::OwnedObject;
use meshctl_model::Kind;
use meshctl_provider::{ErrorClass, Found};

/// The tagged objects of the kind `cx`'s resource would create. Kinds whose objects carry no
/// tags AWS can search by (DNS records) find nothing.
pub(crate) async fn census(cx: &Cx<'_>) -> Result<Vec<Found>> {
    match cx.address.kind {
        Kind::Vpc => vpcs(cx).await,
        Kind::AcmCertificate => certificates(cx).await,
        Kind::EksCluster => {
            let mut found = clusters(cx).await?;
            found.extend(roles(cx).await?);
            Ok(found)
        }
        Kind::Nodegroup | Kind::IamServiceAccount => roles(cx).await,
        Kind::Route53Zone => zones(cx).await,
        Kind::DnsRecord | crate::kinds::cluster_kinds!() => Ok(Vec::new()),
    }
}

/// The address a set of tags names, if they carry this stack's tag at all.
fn stack_tagged<'t>(
    cx: &Cx<'_>,
    tags: impl IntoIterator<Item = (&'t str, &'t str)>,
) -> Option<Option<String>> {
    match crate::Owner::of(cx, tags) {
        crate::Owner::ThisResource => Some(Some(cx.address.to_string())),
        crate::Owner::Other {
            stack: Some(stack),
            address,
        } if stack == cx.settings.stack => Some(address),
        _ => None,
    }
}

/// VPCs, found by a tag filter (one call per page).
async fn vpcs(cx: &Cx<'_>) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = cx
            .aws
            .ec2
            .describe_vpcs()
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_STACK}"))
                    .values(&cx.settings.stack)
                    .build(),
            )
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(cx.sdk("census", "DescribeVpcs"))?;
        for vpc in page.vpcs() {
            let tags = vpc
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
            if let (Some(id), Some(address)) = (vpc.vpc_id(), stack_tagged(cx, tags)) {
                found.push(Found {
                    object: OwnedObject {
                        kind: crate::vpc::VPC.into(),
                        id: id.to_string(),
                    },
                    address,
                });
            }
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(found),
        }
    }
}

/// ACM certificates, by their tags.
async fn certificates(cx: &Cx<'_>) -> Result<Vec<Found>> {
    let tagged = crate::acm::certificates_with_tags(cx, "census").await?;
    Ok(ours(cx, crate::acm::CERTIFICATE, tagged))
}

/// EKS clusters named like this stack's (`<stack>-...`, the names meshctl gives them), which
/// bounds the DescribeCluster calls to this stack's clusters.
async fn clusters(cx: &Cx<'_>) -> Result<Vec<Found>> {
    let prefix = format!("{}-", cx.settings.stack);
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = cx
            .aws
            .eks
            .list_clusters()
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(cx.sdk("census", "ListClusters"))?;
        names.extend(
            page.clusters()
                .iter()
                .filter(|name| name.starts_with(&prefix))
                .cloned(),
        );
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => break,
        }
    }
    let mut found = Vec::new();
    for name in names {
        let described = match cx.aws.eks.describe_cluster().name(&name).send().await {
            Ok(described) => described,
            Err(e) => {
                let error = sdk_error(cx.address, "census", "DescribeCluster", e);
                if error.class == ErrorClass::NotFound {
                    continue;
                }
                return Err(error);
            }
        };
        let tags = described
            .cluster()
            .and_then(|c| c.tags())
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        if let Some(address) = stack_tagged(cx, tags) {
            found.push(Found {
                object: OwnedObject {
                    kind: crate::eks::CLUSTER.into(),
                    id: name,
                },
                address,
            });
        }
    }
    Ok(found)
}

/// IAM roles named like this stack's (`<stack>-...`: cluster, node and IRSA roles), by their
/// tags.
async fn roles(cx: &Cx<'_>) -> Result<Vec<Found>> {
    let prefix = format!("{}-", cx.settings.stack);
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = cx
            .aws
            .iam
            .list_roles()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(cx.sdk("census", "ListRoles"))?;
        names.extend(
            page.roles()
                .iter()
                .map(|role| role.role_name().to_string())
                .filter(|name| name.starts_with(&prefix)),
        );
        match page.marker() {
            Some(next) if page.is_truncated() => marker = Some(next.to_string()),
            _ => break,
        }
    }
    let mut found = Vec::new();
    for name in names {
        let tags = match cx.aws.iam.list_role_tags().role_name(&name).send().await {
            Ok(tags) => tags,
            Err(e) => {
                let error = sdk_error(cx.address, "census", "ListRoleTags", e);
                if error.class == ErrorClass::NotFound {
                    continue;
                }
                return Err(error);
            }
        };
        let pairs = tags.tags().iter().map(|t| (t.key(), t.value()));
        if let Some(address) = stack_tagged(cx, pairs) {
            found.push(Found {
                object: OwnedObject {
                    kind: crate::iam::ROLE.into(),
                    id: name,
                },
                address,
            });
        }
    }
    Ok(found)
}

/// Route53 hosted zones, by their tags (a zone the stack only looks up carries none).
async fn zones(cx: &Cx<'_>) -> Result<Vec<Found>> {
    let tagged = crate::route53::zones_with_tags(cx, "census").await?;
    Ok(ours(cx, crate::route53::ZONE, tagged))
}

/// The objects among `tagged` (id and tags) that carry this stack's tag.
fn ours(cx: &Cx<'_>, kind: &str, tagged: Vec<(String, Vec<(String, String)>)>) -> Vec<Found> {
    tagged
        .into_iter()
        .filter_map(|(id, tags)| {
            let address = stack_tagged(cx, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
            Some(Found {
                object: OwnedObject {
                    kind: kind.into(),
                    id,
                },
                address,
            })
        })
        .collect()
}
