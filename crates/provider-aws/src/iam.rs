//! IAM: roles meshctl creates (the cluster role, node roles, IRSA roles), the cluster's OIDC
//! provider, and `iam_service_account`'s AWS half: a role that only the named service account of
//! the named cluster can assume, with its policies.

use crate::{optional, sdk_error, Cx, Owner, Record, Result};
use aws_sdk_iam::types::Tag;
use meshctl_model::kinds::aws::{IamServiceAccount, WellKnownPolicy};
use meshctl_model::record::{FieldDrift, OwnedObject};
use meshctl_model::Kind;
use meshctl_provider::{Applied, ErrorClass, ProviderError, Request};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub(crate) const ROLE: &str = "iam:role";
pub(crate) const OIDC_PROVIDER: &str = "iam:oidc-provider";

/// The inline policy holding `inline_policy` or the well-known policy.
const INLINE_POLICY: &str = "meshctl";

const LB_CONTROLLER_POLICY: &str = include_str!("../policies/aws-load-balancer-controller.json");
const CERT_MANAGER_POLICY: &str = include_str!("../policies/cert-manager-route53.json");

fn well_known(policy: WellKnownPolicy) -> Value {
    let text = match policy {
        WellKnownPolicy::AwsLoadBalancerController => LB_CONTROLLER_POLICY,
        WellKnownPolicy::CertManagerRoute53 => CERT_MANAGER_POLICY,
    };
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn iam_tags(cx: &Cx<'_>) -> Result<Vec<Tag>> {
    cx.tags()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(|e| cx.error(ErrorClass::Permanent, "create", e.to_string()))
}

/// A trust policy letting an AWS service assume the role.
pub(crate) fn service_trust(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// A role with this trust policy, managed policies and optional inline policy. A role of that
/// name already there is taken as an earlier attempt of this resource only if its tags name this
/// stack and address; anyone else's (another stack's, or one made by hand) is refused untouched.
/// The role is recorded once it is ours: a run killed between creating and recording it leaves
/// a tagged role the sweep finds by its name and tags.
pub(crate) async fn ensure_role(
    cx: &Cx<'_>,
    name: &str,
    trust: &Value,
    managed: &[String],
    inline: Option<&Value>,
    record: Record<'_>,
) -> Result<String> {
    let iam = &cx.aws.iam;
    let arn = match get_role(cx, name, "create").await? {
        Some(role) => adopt_role(cx, name, &role, trust).await?,
        None => {
            let created = iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust.to_string())
                .description(format!("meshctl {} ({})", cx.address, cx.settings.stack))
                .set_tags(Some(iam_tags(cx)?))
                .send()
                .await;
            match created {
                Ok(out) => out.role().map(|r| r.arn().to_string()).unwrap_or_default(),
                // Made between the look and the create: the same rule decides.
                Err(e) if crate::errors::code_of(&e) == Some("EntityAlreadyExists") => {
                    let role = get_role(cx, name, "create").await?.ok_or_else(|| {
                        cx.error(
                            ErrorClass::Retryable,
                            "create",
                            format!("IAM role {name} exists but is not visible yet"),
                        )
                    })?;
                    adopt_role(cx, name, &role, trust).await?
                }
                Err(e) => return Err(sdk_error(cx.address, "create", "CreateRole", e)),
            }
        }
    };
    record(OwnedObject {
        kind: ROLE.into(),
        id: name.to_string(),
    });
    set_policies(cx, name, managed, inline, "create").await?;
    Ok(arn)
}

/// The role `name`, if it exists.
async fn get_role(
    cx: &Cx<'_>,
    name: &str,
    operation: &'static str,
) -> Result<Option<aws_sdk_iam::types::Role>> {
    let found = cx
        .aws
        .iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(cx.sdk(operation, "GetRole"));
    Ok(optional(found)?.and_then(|out| out.role().cloned()))
}

/// Whom a role belongs to, by its tags.
fn role_owner(cx: &Cx<'_>, role: &aws_sdk_iam::types::Role) -> Owner {
    Owner::of(cx, role.tags().iter().map(|t| (t.key(), t.value())))
}

/// Takes over an existing role if an earlier attempt of this resource made it (its trust policy
/// is set again); refuses anyone else's.
async fn adopt_role(
    cx: &Cx<'_>,
    name: &str,
    role: &aws_sdk_iam::types::Role,
    trust: &Value,
) -> Result<String> {
    let owner = role_owner(cx, role);
    if owner != Owner::ThisResource {
        return Err(cx.taken(
            "create",
            &format!("IAM role {name}"),
            &owner,
            "give this resource another name (meshctl names its roles <stack>-<resource>-<role>)",
            None,
        ));
    }
    cx.aws
        .iam
        .update_assume_role_policy()
        .role_name(name)
        .policy_document(trust.to_string())
        .send()
        .await
        .map_err(cx.sdk("create", "UpdateAssumeRolePolicy"))?;
    Ok(role.arn().to_string())
}

/// Whom the role or OIDC provider `object` belongs to, or `None` if it is gone.
pub(crate) async fn owner(cx: &Cx<'_>, object: &OwnedObject) -> Result<Option<Owner>> {
    match object.kind.as_str() {
        ROLE => Ok(get_role(cx, &object.id, "delete")
            .await?
            .map(|role| role_owner(cx, &role))),
        OIDC_PROVIDER => oidc_provider_owner(cx, &object.id, "delete").await,
        _ => Ok(None),
    }
}

/// Makes the role's attached and inline policies exactly these.
async fn set_policies(
    cx: &Cx<'_>,
    name: &str,
    managed: &[String],
    inline: Option<&Value>,
    operation: &'static str,
) -> Result<()> {
    let iam = &cx.aws.iam;
    let attached = attached_policies(cx, name, operation).await?;
    for arn in managed.iter().filter(|a| !attached.contains(a)) {
        iam.attach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(cx.sdk(operation, "AttachRolePolicy"))?;
    }
    for arn in attached.iter().filter(|a| !managed.contains(a)) {
        iam.detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(cx.sdk(operation, "DetachRolePolicy"))?;
    }
    match inline {
        Some(document) => {
            iam.put_role_policy()
                .role_name(name)
                .policy_name(INLINE_POLICY)
                .policy_document(document.to_string())
                .send()
                .await
                .map_err(cx.sdk(operation, "PutRolePolicy"))?;
        }
        None => {
            if let Err(e) = iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(INLINE_POLICY)
                .send()
                .await
            {
                let error = sdk_error(cx.address, operation, "DeleteRolePolicy", e);
                if error.class != ErrorClass::NotFound {
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

async fn attached_policies(
    cx: &Cx<'_>,
    name: &str,
    operation: &'static str,
) -> Result<Vec<String>> {
    let out = cx
        .aws
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(cx.sdk(operation, "ListAttachedRolePolicies"))?;
    Ok(out
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect())
}

/// Detaches and deletes every policy of the role, then the role.
pub(crate) async fn delete_role(cx: &Cx<'_>, name: &str) -> Result<()> {
    let iam = &cx.aws.iam;
    for arn in attached_policies(cx, name, "delete").await? {
        iam.detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(cx.sdk("delete", "DetachRolePolicy"))?;
    }
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(cx.sdk("delete", "ListRolePolicies"))?;
    for policy in inline.policy_names() {
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map_err(cx.sdk("delete", "DeleteRolePolicy"))?;
    }
    iam.delete_role()
        .role_name(name)
        .send()
        .await
        .map_err(cx.sdk("delete", "DeleteRole"))?;
    Ok(())
}

/// The ARN IAM gives the OIDC provider of `issuer` in the partition and account of the cluster
/// `cluster_arn` (`arn:PARTITION:eks:REGION:ACCOUNT:cluster/NAME`): known before the provider
/// exists, so it can be recorded before it is made.
pub(crate) fn oidc_provider_arn(cluster_arn: &str, issuer: &str) -> Option<String> {
    let mut parts = cluster_arn.split(':');
    let partition = parts.nth(1).filter(|p| !p.is_empty())?;
    let account = parts.nth(2).filter(|a| !a.is_empty())?;
    let host = issuer.strip_prefix("https://").filter(|h| !h.is_empty())?;
    Some(format!(
        "arn:{partition}:iam::{account}:oidc-provider/{host}"
    ))
}

/// The cluster's IAM OIDC identity provider, which IRSA roles trust. Its ARN is recorded before
/// the provider is made when `expected_arn` (from [`oidc_provider_arn`]) is known, so a kill at
/// any moment leaves it known to state; otherwise as soon as IAM returns it.
pub(crate) async fn create_oidc_provider(
    cx: &Cx<'_>,
    issuer: &str,
    expected_arn: Option<&str>,
    operation: &'static str,
    record: Record<'_>,
) -> Result<String> {
    // IAM trusts EKS issuers through its own CA store; the thumbprint is only a required field.
    const THUMBPRINT: &str = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";
    if let Some(arn) = expected_arn {
        // Looked at before it is recorded: a rollback must never be handed another stack's
        // provider, and one tagged for this resource is an earlier attempt of this call.
        match oidc_provider_owner(cx, arn, operation).await? {
            None => {}
            Some(Owner::ThisResource) => {
                record(OwnedObject {
                    kind: OIDC_PROVIDER.into(),
                    id: arn.to_string(),
                });
                return Ok(arn.to_string());
            }
            Some(owner) => return Err(oidc_provider_taken(cx, operation, arn, &owner)),
        }
        record(OwnedObject {
            kind: OIDC_PROVIDER.into(),
            id: arn.to_string(),
        });
    }
    let created = cx
        .aws
        .iam
        .create_open_id_connect_provider()
        .url(issuer)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list(THUMBPRINT)
        .set_tags(Some(iam_tags(cx)?))
        .send()
        .await;
    let arn = match created {
        Ok(out) => out
            .open_id_connect_provider_arn()
            .unwrap_or_default()
            .to_string(),
        // IAM names the provider by the issuer, which is the cluster's own: one that exists is an
        // earlier attempt of this resource only if its tags say so.
        Err(e) if crate::errors::code_of(&e) == Some("EntityAlreadyExists") => {
            let host = issuer.trim_start_matches("https://");
            let arn = find_oidc_providers(cx, false)
                .await?
                .into_iter()
                .find(|arn| arn.ends_with(&format!("oidc-provider/{host}")))
                .ok_or_else(|| {
                    cx.error(
                        ErrorClass::Retryable,
                        operation,
                        format!("OIDC provider for {issuer} exists but is not listed yet"),
                    )
                })?;
            match oidc_provider_owner(cx, &arn, operation).await? {
                Some(Owner::ThisResource) => arn,
                Some(owner) => return Err(oidc_provider_taken(cx, operation, &arn, &owner)),
                None => {
                    return Err(cx.error(
                        ErrorClass::Retryable,
                        operation,
                        format!("OIDC provider {arn} is listed but not readable yet"),
                    ))
                }
            }
        }
        Err(e) => {
            return Err(sdk_error(
                cx.address,
                operation,
                "CreateOpenIDConnectProvider",
                e,
            ))
        }
    };
    // Recorded first unless its ARN could not be foreseen, or IAM named it otherwise.
    if expected_arn != Some(arn.as_str()) {
        record(OwnedObject {
            kind: OIDC_PROVIDER.into(),
            id: arn.clone(),
        });
    }
    Ok(arn)
}

/// The refusal to take over the OIDC provider `arn`, which belongs to `owner`.
fn oidc_provider_taken(
    cx: &Cx<'_>,
    operation: &'static str,
    arn: &str,
    owner: &Owner,
) -> ProviderError {
    cx.taken(
        operation,
        &format!("IAM OIDC provider {arn}"),
        owner,
        "IAM names the provider by the cluster's issuer, so it cannot be renamed: set `oidc: false` to use the existing provider as it is",
        None,
    )
}

/// Whom the OIDC provider `arn` belongs to, or `None` if it is gone.
async fn oidc_provider_owner(
    cx: &Cx<'_>,
    arn: &str,
    operation: &'static str,
) -> Result<Option<Owner>> {
    let tags = cx
        .aws
        .iam
        .list_open_id_connect_provider_tags()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .map_err(cx.sdk(operation, "ListOpenIDConnectProviderTags"));
    Ok(optional(tags)?.map(|tags| Owner::of(cx, tags.tags().iter().map(|t| (t.key(), t.value())))))
}

/// OIDC providers in the account; with `ours`, only those tagged with this stack and address.
pub(crate) async fn find_oidc_providers(cx: &Cx<'_>, ours: bool) -> Result<Vec<String>> {
    let iam = &cx.aws.iam;
    let list = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(cx.sdk("read", "ListOpenIDConnectProviders"))?;
    let mut found = Vec::new();
    for arn in list
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
    {
        if ours && oidc_provider_owner(cx, arn, "sweep").await? != Some(Owner::ThisResource) {
            continue;
        }
        found.push(arn.to_string());
    }
    Ok(found)
}

pub(crate) async fn delete_object(cx: &Cx<'_>, object: &OwnedObject) -> Result<()> {
    match object.kind.as_str() {
        ROLE => delete_role(cx, &object.id).await,
        OIDC_PROVIDER => {
            cx.aws
                .iam
                .delete_open_id_connect_provider()
                .open_id_connect_provider_arn(&object.id)
                .send()
                .await
                .map_err(cx.sdk("delete", "DeleteOpenIDConnectProvider"))?;
            Ok(())
        }
        other => Err(cx
            .error(
                ErrorClass::Permanent,
                "delete",
                format!("unknown IAM object kind `{other}` in state"),
            )
            .with_help("the state was probably written by a newer meshctl: run that version")),
    }
}

/// The role named `name`, if it exists and is tagged with this stack and address.
pub(crate) async fn find_role_objects(cx: &Cx<'_>, name: &str) -> Result<Vec<OwnedObject>> {
    let ours = get_role(cx, name, "sweep")
        .await?
        .is_some_and(|role| role_owner(cx, &role) == Owner::ThisResource);
    Ok(if ours {
        vec![OwnedObject {
            kind: ROLE.into(),
            id: name.to_string(),
        }]
    } else {
        Vec::new()
    })
}

// ---- iam_service_account -------------------------------------------------------------------

/// IRSA roles are named after the stack and resource (IAM's limit is 64 characters).
pub(crate) fn irsa_role_name(cx: &Cx<'_>) -> String {
    cx.name("irsa", 64)
}

/// The trust policy that lets exactly `namespace/service_account` of the cluster assume the role.
fn irsa_trust(provider_arn: &str, issuer: &str, namespace: &str, service_account: &str) -> Value {
    let host = issuer.trim_start_matches("https://");
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    format!("{host}:sub"): format!("system:serviceaccount:{namespace}:{service_account}"),
                    format!("{host}:aud"): "sts.amazonaws.com"
                }
            }
        }]
    })
}

fn inline_document(spec: &IamServiceAccount) -> Option<Value> {
    spec.inline_policy
        .clone()
        .or_else(|| spec.well_known_policy.map(well_known))
}

fn policy_arns(spec: &IamServiceAccount) -> Vec<String> {
    spec.policy_arns
        .iter()
        .map(|a| a.as_str().to_string())
        .collect()
}

async fn trust_of(
    cx: &Cx<'_>,
    request: &Request<'_>,
    spec: &IamServiceAccount,
    operation: &'static str,
) -> Result<Value> {
    let provider = cx.input(
        request,
        Kind::EksCluster,
        &spec.cluster,
        "oidc_provider_arn",
        operation,
    )?;
    let issuer = cx.input(
        request,
        Kind::EksCluster,
        &spec.cluster,
        "oidc_issuer",
        operation,
    )?;
    match (provider.as_str(), issuer.as_str()) {
        (Some(provider), Some(issuer)) if !provider.is_empty() => Ok(irsa_trust(
            provider,
            issuer,
            spec.namespace.as_str(),
            spec.service_account.as_str(),
        )),
        _ => Err(cx
            .error(
                ErrorClass::Permanent,
                operation,
                format!("eks_cluster.{} has no OIDC provider", spec.cluster),
            )
            .with_help(format!(
                "set `oidc: true` on eks_cluster.{}: IRSA roles trust the cluster's OIDC provider",
                spec.cluster
            ))),
    }
}

pub(crate) async fn create(
    cx: &Cx<'_>,
    request: &Request<'_>,
    record: Record<'_>,
) -> Result<Applied> {
    let spec: IamServiceAccount = cx.spec(request.desired, "create")?;
    let trust = trust_of(cx, request, &spec, "create").await?;
    let name = irsa_role_name(cx);
    ensure_role(
        cx,
        &name,
        &trust,
        &policy_arns(&spec),
        inline_document(&spec).as_ref(),
        record,
    )
    .await?;
    read(
        cx,
        request,
        &[OwnedObject {
            kind: ROLE.into(),
            id: name,
        }],
    )
    .await?
    .ok_or_else(|| {
        cx.error(
            ErrorClass::Retryable,
            "create",
            "the new role is not visible yet",
        )
    })
}

pub(crate) async fn update(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Applied> {
    let spec: IamServiceAccount = cx.spec(request.desired, "update")?;
    let name = objects
        .iter()
        .find(|o| o.kind == ROLE)
        .map(|o| o.id.clone())
        .unwrap_or_else(|| irsa_role_name(cx));
    set_policies(
        cx,
        &name,
        &policy_arns(&spec),
        inline_document(&spec).as_ref(),
        "update",
    )
    .await?;
    read(cx, request, objects).await?.ok_or_else(|| {
        cx.error(
            ErrorClass::NotFound,
            "update",
            format!("role {name} is gone"),
        )
    })
}

/// IAM returns policy documents URL-encoded.
pub(crate) fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_document(text: &str) -> Value {
    serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&url_decode(text)))
        .unwrap_or(Value::Null)
}

/// The `namespace/service_account` a trust policy admits, from its `:sub` condition.
fn trusted_subject(trust: &Value) -> Option<(String, String)> {
    let statements = trust["Statement"].as_array()?;
    statements.iter().find_map(|s| {
        let equals = s["Condition"]["StringEquals"].as_object()?;
        let subject = equals
            .iter()
            .find(|(k, _)| k.ends_with(":sub"))?
            .1
            .as_str()?;
        let rest = subject.strip_prefix("system:serviceaccount:")?;
        let (namespace, account) = rest.split_once(':')?;
        Some((namespace.to_string(), account.to_string()))
    })
}

pub(crate) async fn read(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Option<Applied>> {
    let spec: IamServiceAccount = cx.spec(request.desired, "read")?;
    let Some(object) = objects.iter().find(|o| o.kind == ROLE) else {
        return Ok(None);
    };
    let iam = &cx.aws.iam;
    let found = iam
        .get_role()
        .role_name(&object.id)
        .send()
        .await
        .map_err(cx.sdk("read", "GetRole"));
    let Some(role) = optional(found)?.and_then(|out| out.role().cloned()) else {
        return Ok(None);
    };
    let trust = parse_document(role.assume_role_policy_document().unwrap_or_default());
    let (namespace, account) = trusted_subject(&trust).unwrap_or_default();
    let attached = attached_policies(cx, &object.id, "read").await?;
    let inline = iam
        .get_role_policy()
        .role_name(&object.id)
        .policy_name(INLINE_POLICY)
        .send()
        .await
        .map_err(cx.sdk("read", "GetRolePolicy"));
    let inline = optional(inline)?.map(|out| parse_document(out.policy_document()));
    let mut live = json!({
        "cluster": spec.cluster,
        "namespace": namespace,
        "service_account": account,
    });
    let mut drifts = Vec::new();
    if !spec.policy_arns.is_empty() {
        live["policy_arns"] = json!(attached);
    } else if !attached.is_empty() {
        // The stack attaches no managed policy, so its recorded fields have no `policy_arns` to
        // compare with: one attached by hand is reported here (update detaches it).
        drifts.push(FieldDrift {
            path: "policy_arns".into(),
            applied: Some(json!([])),
            live: Some(json!(attached)),
        });
    }
    // The inline document stands for whichever field the stack set.
    match (&spec.well_known_policy, &spec.inline_policy, inline) {
        (Some(policy), _, Some(doc)) if doc == well_known(*policy) => {
            live["well_known_policy"] = json!(policy)
        }
        (Some(_), _, Some(doc)) => live["well_known_policy"] = json!({ "edited": doc }),
        (_, Some(_), Some(doc)) => live["inline_policy"] = doc,
        _ => {}
    }
    Ok(Some(Applied {
        drifts,
        objects: objects.to_vec(),
        outputs: BTreeMap::from([
            ("role_arn".to_string(), json!(role.arn())),
            ("role_name".to_string(), json!(role.role_name())),
        ]),
        live,
    }))
}

pub(crate) async fn import(cx: &Cx<'_>, name: &str) -> Result<(Value, Applied)> {
    let out = cx
        .aws
        .iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(cx.sdk("import", "GetRole"))?;
    let role = out
        .role()
        .cloned()
        .ok_or_else(|| cx.error(ErrorClass::NotFound, "import", format!("no role {name}")))?;
    let trust = parse_document(role.assume_role_policy_document().unwrap_or_default());
    let (namespace, account) = trusted_subject(&trust).ok_or_else(|| {
        cx.error(
            ErrorClass::Permanent,
            "import",
            format!("role {name} does not trust a Kubernetes service account"),
        )
    })?;
    let attached = attached_policies(cx, name, "import").await?;
    let desired = json!({
        "cluster": "",
        "namespace": namespace,
        "service_account": account,
        "policy_arns": attached,
    });
    let applied = Applied {
        drifts: Vec::new(),
        objects: vec![OwnedObject {
            kind: ROLE.into(),
            id: name.to_string(),
        }],
        outputs: BTreeMap::from([
            ("role_arn".to_string(), json!(role.arn())),
            ("role_name".to_string(), json!(name)),
        ]),
        live: desired.clone(),
    };
    Ok((desired, applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_names_exactly_one_service_account() {
        let trust = irsa_trust(
            "arn:aws:iam::123456789012:oidc-provider/oidc.eks.ap-northeast-2.amazonaws.com/id/ABC",
            "https://oidc.eks.ap-northeast-2.amazonaws.com/id/ABC",
            "kube-system",
            "aws-load-balancer-controller",
        );
        let equals = &trust["Statement"][0]["Condition"]["StringEquals"];
        assert_eq!(
            equals["oidc.eks.ap-northeast-2.amazonaws.com/id/ABC:sub"],
            "system:serviceaccount:kube-system:aws-load-balancer-controller"
        );
        assert_eq!(
            equals["oidc.eks.ap-northeast-2.amazonaws.com/id/ABC:aud"],
            "sts.amazonaws.com"
        );
        assert_eq!(
            trusted_subject(&trust),
            Some(("kube-system".into(), "aws-load-balancer-controller".into()))
        );
    }

    #[test]
    fn oidc_provider_arn_takes_partition_and_account_from_the_cluster() {
        assert_eq!(
            oidc_provider_arn(
                "arn:aws-cn:eks:cn-north-1:123456789012:cluster/main",
                "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC",
            )
            .as_deref(),
            Some("arn:aws-cn:iam::123456789012:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC")
        );
        assert_eq!(oidc_provider_arn("not-an-arn", "https://x/id/A"), None);
        assert_eq!(
            oidc_provider_arn("arn:aws:eks:r:1:cluster/c", "http://x"),
            None
        );
    }

    #[test]
    fn url_encoded_documents_decode() {
        assert_eq!(parse_document("%7B%22a%22%3A%201%7D"), json!({"a": 1}));
        assert_eq!(parse_document("{\"a\": 2}"), json!({"a": 2}));
        assert_eq!(url_decode("100%"), "100%");
    }

    #[test]
    fn well_known_policies_are_valid_documents() {
        for policy in [
            WellKnownPolicy::AwsLoadBalancerController,
            WellKnownPolicy::CertManagerRoute53,
        ] {
            assert_eq!(well_known(policy)["Version"], "2012-10-17");
        }
    }
}
