//! `acm_certificate`: a DNS-validated certificate whose validation CNAMEs meshctl writes into the
//! zone, then waits for ISSUED with progress and the stack's timeout.

use crate::errors::code_of;
use crate::route53::{self, same_name};
use crate::{optional, sdk_error, Cx, Record, Result};
use aws_sdk_acm::types::{CertificateDetail, CertificateStatus, Tag, ValidationMethod};
use aws_sdk_route53::types::{ResourceRecord, ResourceRecordSet, RrType};
use meshctl_model::kinds::aws::AcmCertificate;
use meshctl_model::record::OwnedObject;
use meshctl_model::Kind;
use meshctl_provider::{Applied, ErrorClass, Progress, Request};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub(crate) const CERTIFICATE: &str = "acm:certificate";
/// A validation CNAME in the zone: `ZONEID/name/CNAME`.
pub(crate) const VALIDATION_RECORD: &str = "acm:validation-record";

fn timeout_of(spec: &AcmCertificate) -> Duration {
    meshctl_model::values::duration_seconds(&spec.timeout.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(1800))
}

async fn describe(
    cx: &Cx<'_>,
    arn: &str,
    operation: &'static str,
) -> Result<Option<CertificateDetail>> {
    let found = cx
        .aws
        .acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(cx.sdk(operation, "DescribeCertificate"));
    Ok(optional(found)?.and_then(|out| out.certificate().cloned()))
}

fn applied(
    spec: &AcmCertificate,
    detail: &CertificateDetail,
    objects: Vec<OwnedObject>,
) -> Applied {
    let domain = detail.domain_name().unwrap_or_default();
    let sans: Vec<&str> = detail
        .subject_alternative_names()
        .iter()
        .map(String::as_str)
        .filter(|san| *san != domain)
        .collect();
    let mut live = json!({
        "domain": domain,
        "validation_zone": spec.validation_zone,
        "timeout": spec.timeout,
    });
    if !sans.is_empty() || !spec.sans.is_empty() {
        live["sans"] = json!(sans);
    }
    Applied {
        drifts: Vec::new(),
        objects,
        outputs: BTreeMap::from([(
            "arn".to_string(),
            json!(detail.certificate_arn().unwrap_or_default()),
        )]),
        live,
    }
}

pub(crate) async fn create(
    cx: &Cx<'_>,
    request: &Request<'_>,
    record: Record<'_>,
    progress: &dyn Progress,
) -> Result<Applied> {
    let spec: AcmCertificate = cx.spec(request.desired, "create")?;
    let zone = cx
        .input(
            request,
            Kind::Route53Zone,
            &spec.validation_zone,
            "zone_id",
            "create",
        )?
        .as_str()
        .map(str::to_string)
        .unwrap_or_default();
    let tags: Vec<Tag> = cx
        .tags()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(|e| cx.error(ErrorClass::Permanent, "create", e.to_string()))?;
    let requested = cx
        .aws
        .acm
        .request_certificate()
        .domain_name(spec.domain.as_str())
        .set_subject_alternative_names(
            (!spec.sans.is_empty())
                .then(|| spec.sans.iter().map(|s| s.as_str().to_string()).collect()),
        )
        .validation_method(ValidationMethod::Dns)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(cx.sdk("create", "RequestCertificate"))?;
    let arn = requested.certificate_arn().unwrap_or_default().to_string();
    let mut objects = vec![OwnedObject {
        kind: CERTIFICATE.into(),
        id: arn.clone(),
    }];
    record(objects[0].clone());

    // ACM fills in the validation records a few seconds after the request.
    let records = validation_records(cx, &arn, progress).await?;
    for (name, value) in records {
        let object = OwnedObject {
            kind: VALIDATION_RECORD.into(),
            id: format!("{zone}/{}/CNAME", name.trim_end_matches('.')),
        };
        if !objects.contains(&object) {
            // Checked before it is recorded: a rollback deletes what was recorded.
            let needed = validation_record_needed(cx, &zone, &name, &value).await?;
            record(object.clone());
            if needed {
                write_validation_record(cx, &zone, &name, &value).await?;
            }
            objects.push(object);
        }
    }
    let detail = wait_issued(cx, &arn, timeout_of(&spec), progress).await?;
    Ok(applied(&spec, &detail, objects))
}

/// The (name, value) of each validation CNAME, once ACM has them.
async fn validation_records(
    cx: &Cx<'_>,
    arn: &str,
    progress: &dyn Progress,
) -> Result<Vec<(String, String)>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let detail = describe(cx, arn, "create").await?.ok_or_else(|| {
            cx.error(
                ErrorClass::Retryable,
                "create",
                format!("certificate {arn} is not visible yet"),
            )
        })?;
        let options = detail.domain_validation_options();
        let records: Vec<(String, String)> = options
            .iter()
            .filter_map(|o| o.resource_record())
            .map(|r| (r.name().to_string(), r.value().to_string()))
            .collect();
        if !options.is_empty() && records.len() == options.len() {
            return Ok(records);
        }
        if Instant::now() > deadline {
            return Err(cx.error(
                ErrorClass::Permanent,
                "create",
                format!("ACM gave no DNS validation records for {arn} within 2 minutes"),
            ));
        }
        progress.update(cx.address, "waiting for ACM's DNS validation records");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn write_validation_record(cx: &Cx<'_>, zone: &str, name: &str, value: &str) -> Result<()> {
    let set = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(|e| cx.error(ErrorClass::Permanent, "create", e.to_string()))?,
        )
        .build()
        .map_err(|e| cx.error(ErrorClass::Permanent, "create", e.to_string()))?;
    // UPSERT: a record written meanwhile for another certificate of the same name is the same.
    route53::upsert(cx, zone, set, "create").await
}

/// Whether the validation CNAME still has to be written. Certificates of this account for the
/// same name share it (ACM derives its name and value from the account and the name), so one
/// holding this value is left as it is; one holding another value is someone else's, and
/// overwriting it would take it over.
async fn validation_record_needed(
    cx: &Cx<'_>,
    zone: &str,
    name: &str,
    value: &str,
) -> Result<bool> {
    if let Some(live) = route53::find_set(cx, zone, name, &RrType::Cname, "create").await? {
        let values: Vec<&str> = live.resource_records().iter().map(|r| r.value()).collect();
        if let [one] = values.as_slice() {
            if same_name(one, value) {
                return Ok(false);
            }
        }
        return Err(cx
            .error(
                ErrorClass::Permanent,
                "create",
                format!(
                    "the validation record {name} CNAME already exists in zone {zone} with another value ({}); meshctl does not overwrite a record it did not write",
                    values.join(", ")
                ),
            )
            .with_help(format!(
                "ACM needs it to point at {value}: delete the existing record (or fix it to that value), then apply again"
            )));
    }
    Ok(true)
}

async fn wait_issued(
    cx: &Cx<'_>,
    arn: &str,
    timeout: Duration,
    progress: &dyn Progress,
) -> Result<CertificateDetail> {
    let started = Instant::now();
    loop {
        let detail = describe(cx, arn, "create").await?.ok_or_else(|| {
            cx.error(
                ErrorClass::Permanent,
                "create",
                format!("certificate {arn} disappeared while waiting for ISSUED"),
            )
        })?;
        match detail.status() {
            Some(CertificateStatus::Issued) => return Ok(detail),
            Some(CertificateStatus::PendingValidation) | None => {}
            Some(other) => {
                let reason = detail
                    .failure_reason()
                    .map(|r| format!(" ({})", r.as_str()))
                    .unwrap_or_default();
                return Err(cx.error(
                    ErrorClass::Permanent,
                    "create",
                    format!("certificate {arn} is {}{reason}", other.as_str()),
                )
                .with_help("check that the validation zone is the zone public DNS delegates to (its name servers at the registrar)"));
            }
        }
        let waited = started.elapsed();
        if waited > timeout {
            return Err(cx.error(
                ErrorClass::Permanent,
                "create",
                format!("certificate {arn} was not ISSUED within {}s", timeout.as_secs()),
            )
            .with_help("ACM validates through public DNS: check the zone's delegation, or raise `timeout`"));
        }
        progress.update(
            cx.address,
            &format!(
                "waiting for ISSUED: {} after {}s",
                detail.status().map(|s| s.as_str()).unwrap_or("PENDING"),
                waited.as_secs()
            ),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

pub(crate) async fn read(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Option<Applied>> {
    let spec: AcmCertificate = cx.spec(request.desired, "read")?;
    let Some(certificate) = objects.iter().find(|o| o.kind == CERTIFICATE) else {
        return Ok(None);
    };
    Ok(describe(cx, &certificate.id, "read")
        .await?
        .map(|detail| applied(&spec, &detail, objects.to_vec())))
}

/// Only `timeout` can change in place; everything else replaces the certificate.
pub(crate) async fn update(
    cx: &Cx<'_>,
    request: &Request<'_>,
    objects: &[OwnedObject],
) -> Result<Applied> {
    read(cx, request, objects)
        .await?
        .ok_or_else(|| cx.error(ErrorClass::NotFound, "update", "the certificate is gone"))
}

/// Deletes the certificate, then the validation records no other certificate still needs.
pub(crate) async fn delete(
    cx: &Cx<'_>,
    objects: &[OwnedObject],
    progress: &dyn Progress,
) -> Result<()> {
    for certificate in objects.iter().filter(|o| o.kind == CERTIFICATE) {
        delete_certificate(cx, &certificate.id, progress).await?;
    }
    let records: Vec<&OwnedObject> = objects
        .iter()
        .filter(|o| o.kind == VALIDATION_RECORD)
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    let still_needed = validation_names_in_use(cx).await?;
    for object in records {
        let name = object.id.split('/').nth(1).unwrap_or_default();
        if still_needed.iter().any(|n| same_name(n, name)) {
            continue;
        }
        let record = OwnedObject {
            kind: route53::RECORD.into(),
            id: object.id.clone(),
        };
        route53::delete_record_object(cx, &record).await?;
    }
    Ok(())
}

async fn delete_certificate(cx: &Cx<'_>, arn: &str, progress: &dyn Progress) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        match cx
            .aws
            .acm
            .delete_certificate()
            .certificate_arn(arn)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            // A listener the load balancer controller is still removing holds it.
            Err(e)
                if code_of(&e) == Some("ResourceInUseException") && Instant::now() < deadline =>
            {
                progress.update(
                    cx.address,
                    &format!("certificate {arn} is still in use; waiting"),
                );
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => {
                let error = sdk_error(cx.address, "delete", "DeleteCertificate", e);
                return if error.class == ErrorClass::NotFound {
                    Ok(())
                } else {
                    Err(error)
                };
            }
        }
    }
}

/// Validation record names of certificates that still exist (any stack, any status).
async fn validation_names_in_use(cx: &Cx<'_>) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for arn in list_arns(cx, "delete").await? {
        if let Some(detail) = describe(cx, &arn, "delete").await? {
            names.extend(
                detail
                    .domain_validation_options()
                    .iter()
                    .filter_map(|o| o.resource_record())
                    .map(|r| r.name().to_string()),
            );
        }
    }
    Ok(names)
}

pub(crate) async fn list_arns(cx: &Cx<'_>, operation: &'static str) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = cx
            .aws
            .acm
            .list_certificates()
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(cx.sdk(operation, "ListCertificates"))?;
        arns.extend(
            page.certificate_summary_list()
                .iter()
                .filter_map(|c| c.certificate_arn().map(str::to_string)),
        );
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(arns),
        }
    }
}

/// Every certificate of the account with its tags (ACM has no tag filter, so each
/// certificate's tags are read); one deleted meanwhile is left out.
pub(crate) async fn certificates_with_tags(
    cx: &Cx<'_>,
    operation: &'static str,
) -> Result<Vec<(String, Vec<(String, String)>)>> {
    let mut found = Vec::new();
    for arn in list_arns(cx, operation).await? {
        let tags = match cx
            .aws
            .acm
            .list_tags_for_certificate()
            .certificate_arn(&arn)
            .send()
            .await
        {
            Ok(tags) => tags,
            Err(e) => {
                let error = sdk_error(cx.address, operation, "ListTagsForCertificate", e);
                if error.class == ErrorClass::NotFound {
                    continue;
                }
                return Err(error);
            }
        };
        let pairs = tags
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        found.push((arn, pairs));
    }
    Ok(found)
}

/// Certificates tagged with this address.
pub(crate) async fn find_tagged(cx: &Cx<'_>) -> Result<Vec<OwnedObject>> {
    Ok(certificates_with_tags(cx, "sweep")
        .await?
        .into_iter()
        .filter(|(_, tags)| {
            matches!(
                crate::Owner::of(cx, tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                crate::Owner::ThisResource
            )
        })
        .map(|(arn, _)| OwnedObject {
            kind: CERTIFICATE.into(),
            id: arn,
        })
        .collect())
}

/// Whom the certificate `arn` belongs to by its tags, or `None` if it is gone.
pub(crate) async fn owner(cx: &Cx<'_>, arn: &str) -> Result<Option<crate::Owner>> {
    let tags = cx
        .aws
        .acm
        .list_tags_for_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(cx.sdk("import", "ListTagsForCertificate"));
    Ok(optional(tags)?.map(|tags| {
        crate::Owner::of(
            cx,
            tags.tags()
                .iter()
                .map(|t| (t.key(), t.value().unwrap_or_default())),
        )
    }))
}

pub(crate) async fn import(cx: &Cx<'_>, arn: &str) -> Result<(Value, Applied)> {
    let detail = describe(cx, arn, "import").await?.ok_or_else(|| {
        cx.error(
            ErrorClass::NotFound,
            "import",
            format!("no certificate {arn}"),
        )
    })?;
    let domain = detail.domain_name().unwrap_or_default().to_string();
    let desired = json!({
        "domain": domain,
        "sans": detail.subject_alternative_names().iter().filter(|s| **s != domain).collect::<Vec<_>>(),
        "validation_zone": "",
        "timeout": "30m",
    });
    let spec: AcmCertificate = cx.spec(&desired, "import")?;
    let applied = applied(
        &spec,
        &detail,
        vec![OwnedObject {
            kind: CERTIFICATE.into(),
            id: arn.to_string(),
        }],
    );
    Ok((desired, applied))
}
