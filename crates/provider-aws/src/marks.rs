//! Ownership marks for what an import adopted: the `meshctl:stack` and `meshctl:address` tags a
//! create would have put on each object, placed by the first apply after the import (`import`
//! itself writes nothing). Route53 record sets and ACM's validation records take no tags; state
//! alone says whose they are.

use crate::{acm, eks, iam, route53, Cx};
use meshctl_model::record::OwnedObject;
use meshctl_provider::{ErrorClass, ProviderError};

type Result<T> = std::result::Result<T, ProviderError>;

/// Tags every object of `objects` that AWS can tag with this resource's marks. Tags the object
/// already carries stay; the marks are added or set.
pub(crate) async fn mark(cx: &Cx<'_>, objects: &[OwnedObject]) -> Result<()> {
    let ec2: Vec<String> = objects
        .iter()
        .filter(|o| o.kind.starts_with("ec2:"))
        .map(|o| o.id.clone())
        .collect();
    if !ec2.is_empty() {
        let tags = cx
            .tags()
            .into_iter()
            .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
            .collect();
        cx.aws
            .ec2
            .create_tags()
            .set_resources(Some(ec2))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(cx.sdk("mark", "CreateTags"))?;
    }
    for object in objects {
        match object.kind.as_str() {
            eks::CLUSTER => {
                let cluster = cx
                    .aws
                    .eks
                    .describe_cluster()
                    .name(&object.id)
                    .send()
                    .await
                    .map_err(cx.sdk("mark", "DescribeCluster"))?;
                if let Some(arn) = cluster.cluster().and_then(|c| c.arn()) {
                    tag_eks(cx, arn).await?;
                }
            }
            eks::NODEGROUP => {
                let Some((cluster, name)) = object.id.split_once('/') else {
                    continue;
                };
                let nodegroup = cx
                    .aws
                    .eks
                    .describe_nodegroup()
                    .cluster_name(cluster)
                    .nodegroup_name(name)
                    .send()
                    .await
                    .map_err(cx.sdk("mark", "DescribeNodegroup"))?;
                if let Some(arn) = nodegroup.nodegroup().and_then(|n| n.nodegroup_arn()) {
                    tag_eks(cx, arn).await?;
                }
            }
            iam::ROLE => {
                let tags = iam_tags(cx)?;
                cx.aws
                    .iam
                    .tag_role()
                    .role_name(&object.id)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(cx.sdk("mark", "TagRole"))?;
            }
            iam::OIDC_PROVIDER => {
                let tags = iam_tags(cx)?;
                cx.aws
                    .iam
                    .tag_open_id_connect_provider()
                    .open_id_connect_provider_arn(&object.id)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(cx.sdk("mark", "TagOpenIDConnectProvider"))?;
            }
            route53::ZONE => route53::tag_zone(cx, &object.id).await?,
            acm::CERTIFICATE => {
                let tags = acm_tags(cx)?;
                cx.aws
                    .acm
                    .add_tags_to_certificate()
                    .certificate_arn(&object.id)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(cx.sdk("mark", "AddTagsToCertificate"))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The marks as IAM tags (a tag the SDK cannot build is a permanent error, not a panic).
fn iam_tags(cx: &Cx<'_>) -> Result<Vec<aws_sdk_iam::types::Tag>> {
    cx.tags()
        .into_iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| cx.error(ErrorClass::Permanent, "mark", e.to_string()))
}

/// The marks as ACM tags.
fn acm_tags(cx: &Cx<'_>) -> Result<Vec<aws_sdk_acm::types::Tag>> {
    cx.tags()
        .into_iter()
        .map(|(k, v)| aws_sdk_acm::types::Tag::builder().key(k).value(v).build())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| cx.error(ErrorClass::Permanent, "mark", e.to_string()))
}

async fn tag_eks(cx: &Cx<'_>, arn: &str) -> Result<()> {
    cx.aws
        .eks
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(cx.tags().into_iter().collect()))
        .send()
        .await
        .map_err(cx.sdk("mark", "TagResource"))?;
    Ok(())
}
