//! The AWS provider. Every aws-sdk-* call in meshctl lives in this crate and nowhere else.
//!
//! Credentials, endpoint and retries come from the standard aws-config chain (`AWS_PROFILE`,
//! `AWS_ENDPOINT_URL`, SSO, credential_process...); only the region comes from the stack, because
//! a stack names the region it lives in. Clients are built on first use, so commands that never
//! touch AWS never load credentials.
//!
//! Throttling, 5xx and network faults are retried by the SDK on the call that met them (its
//! retry mode, with jittered exponential backoff), with at least `MIN_ATTEMPTS_PER_CALL`
//! attempts: a throttled `CreateSubnet` is sent again, the resource's create is not started over.
//!
//! Every object a resource creates is tagged `meshctl:stack` and `meshctl:address` (where AWS can
//! tag it) and recorded through the engine's callback as soon as it exists; objects whose ids AWS
//! assigns are found again by those tags when a killed run left them unrecorded (`sweep`). The
//! same tags decide ownership (`Owner`): a create takes over an object under its name only if it
//! is tagged with this stack and address, and a delete never removes one tagged for another.

mod acm;
mod balancers;
mod census;
pub mod discover;
mod eks;
mod errors;
mod iam;
mod kinds;
mod marks;
mod record_batches;
mod route53;
mod vpc;

use async_trait::async_trait;
use meshctl_model::kinds::Layer;
use meshctl_model::record::OwnedObject;
use meshctl_model::{Address, Kind};
use meshctl_provider::{
    Applied, ErrorClass, Found, Inputs, Lookup, Progress, Provider, ProviderError, Request,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::OnceCell;

pub(crate) use errors::{optional, sdk_error, Result};

/// Tag keys meshctl puts on every object it creates.
pub(crate) const TAG_STACK: &str = "meshctl:stack";
pub(crate) const TAG_ADDRESS: &str = "meshctl:address";

/// Whom an existing AWS object belongs to, by its `meshctl:stack` and `meshctl:address` tags.
/// Tags are the only proof of ownership meshctl has: it tags every object as it creates it, so
/// an object with this stack's name but not its tags was made by someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Tagged with this stack and this resource's address: an earlier attempt of this create.
    ThisResource,
    /// Tagged by meshctl for another stack or another resource.
    Other {
        stack: Option<String>,
        address: Option<String>,
    },
    /// No meshctl tags: made by hand or by another tool.
    Unmanaged,
}

impl Owner {
    /// Whom an object with these tags belongs to, seen from `cx`'s resource.
    pub fn of<'t>(cx: &Cx<'_>, tags: impl IntoIterator<Item = (&'t str, &'t str)>) -> Owner {
        let (mut stack, mut address) = (None, None);
        for (key, value) in tags {
            match key {
                TAG_STACK => stack = Some(value.to_string()),
                TAG_ADDRESS => address = Some(value.to_string()),
                _ => {}
            }
        }
        match (stack, address) {
            (None, None) => Owner::Unmanaged,
            (Some(s), Some(a)) if s == cx.settings.stack && a == cx.address.to_string() => {
                Owner::ThisResource
            }
            (stack, address) => Owner::Other { stack, address },
        }
    }

    /// Who it is, in words: `stack \`prod\` (eks_cluster.main)`.
    pub fn describe(&self) -> String {
        match self {
            Owner::ThisResource => "this resource".to_string(),
            Owner::Other { stack, address } => format!(
                "stack `{}` ({})",
                stack.as_deref().unwrap_or("?"),
                address.as_deref().unwrap_or("no meshctl:address tag")
            ),
            Owner::Unmanaged => "no meshctl stack".to_string(),
        }
    }
}

/// The engine's callback that makes an object durable before the next call.
pub(crate) type Record<'a> = &'a (dyn Fn(OwnedObject) + Send + Sync);

/// What the provider needs from the stack: its name (tags and default names `<stack>-<name>`
/// carry it) and its region.
pub use meshctl_provider::StackSettings as AwsSettings;

/// Attempts per AWS call, the first included, that meshctl asks of the SDK when the aws-config
/// chain asks for fewer (the SDK's default is 3). At 50% throttling 3 attempts lose about one call
/// in eight, and a create makes dozens of calls; 10 lose one in a thousand.
pub const MIN_ATTEMPTS_PER_CALL: u32 = 10;

/// The longest wait between two attempts of one call.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// `config` with per-call retries of at least `MIN_ATTEMPTS_PER_CALL` attempts. The retry mode
/// (`standard` or `adaptive`, from `AWS_RETRY_MODE` or the profile) is kept, as is a larger
/// attempt count set there (`AWS_MAX_ATTEMPTS`).
fn with_call_retries(config: aws_config::SdkConfig) -> aws_config::SdkConfig {
    let chosen = config
        .retry_config()
        .cloned()
        .unwrap_or_else(aws_config::retry::RetryConfig::standard);
    if chosen.max_attempts() >= MIN_ATTEMPTS_PER_CALL {
        return config;
    }
    let max_backoff = chosen.max_backoff().min(MAX_BACKOFF);
    let retries = chosen
        .with_max_attempts(MIN_ATTEMPTS_PER_CALL)
        .with_max_backoff(max_backoff);
    config.to_builder().retry_config(retries).build()
}

/// The SDK configuration every meshctl AWS client is built from: the standard aws-config chain
/// (profiles, SSO, `AWS_ENDPOINT_URL`…) with the stack's region and per-call retries. Public for
/// commands that only read the world beside the provider (`meshctl verify`).
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .load()
        .await;
    with_call_retries(config)
}

/// One client per AWS service meshctl calls.
pub(crate) struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub eks: aws_sdk_eks::Client,
    pub iam: aws_sdk_iam::Client,
    pub route53: aws_sdk_route53::Client,
    pub acm: aws_sdk_acm::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// Route53 record changes being gathered into change batches.
    pub record_batches: record_batches::RecordBatches,
}

impl Clients {
    fn new(config: &aws_config::SdkConfig) -> Self {
        Clients {
            ec2: aws_sdk_ec2::Client::new(config),
            eks: aws_sdk_eks::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
            acm: aws_sdk_acm::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            record_batches: record_batches::RecordBatches::default(),
        }
    }
}

/// What every kind's functions get: the clients and the resource being worked on.
pub(crate) struct Cx<'a> {
    pub aws: &'a Clients,
    pub settings: &'a AwsSettings,
    pub address: &'a Address,
}

impl Cx<'_> {
    /// An error about this resource.
    pub fn error(
        &self,
        class: ErrorClass,
        operation: &'static str,
        message: impl Into<String>,
    ) -> ProviderError {
        ProviderError::new(class, self.address, operation, message)
    }

    /// Turns an SDK error of `call` into this resource's error, for `map_err`.
    pub fn sdk<E>(
        &self,
        operation: &'static str,
        call: &'static str,
    ) -> impl FnOnce(aws_sdk_ec2::error::SdkError<E>) -> ProviderError + '_
    where
        E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        move |error| sdk_error(self.address, operation, call, error)
    }

    /// The tags every object of this resource carries.
    pub fn tags(&self) -> Vec<(String, String)> {
        vec![
            (TAG_STACK.to_string(), self.settings.stack.clone()),
            (TAG_ADDRESS.to_string(), self.address.to_string()),
        ]
    }

    /// The refusal to take over `what` (`IAM role demo-main-cluster`), which exists under the
    /// name this resource would create and belongs to `owner`, not to this resource. `rename`
    /// says how this resource gets another name; `import_id` is the id `meshctl import` takes
    /// for this resource, where adopting an object made by hand is possible (docs/adoption.md).
    pub fn taken(
        &self,
        operation: &'static str,
        what: &str,
        owner: &Owner,
        rename: &str,
        import_id: Option<&str>,
    ) -> ProviderError {
        match owner {
            Owner::Other { address, .. } => self
                .error(
                    ErrorClass::Permanent,
                    operation,
                    format!(
                        "{what} already exists and belongs to {}; meshctl does not take over another stack's objects",
                        owner.describe()
                    ),
                )
                .with_help(format!(
                    "{rename}; or delete it through its own stack first (remove {} from that stack and apply it)",
                    address.as_deref().unwrap_or("the resource"),
                )),
            Owner::Unmanaged | Owner::ThisResource => self
                .error(
                    ErrorClass::Permanent,
                    operation,
                    format!(
                        "{what} already exists and is not managed by meshctl (it has no {TAG_STACK} tag)"
                    ),
                )
                .with_help(match import_id {
                    Some(id) => format!(
                        "{rename}, or delete the existing one; to manage it with this stack instead: meshctl import {} {id} -f STACK",
                        self.address
                    ),
                    None => format!("{rename}, or delete the existing one"),
                }),
        }
    }

    /// A name unique to this stack and resource, for objects AWS names by the caller
    /// (`<stack>-<name>[-suffix]`), cut to `max` characters.
    pub fn name(&self, suffix: &str, max: usize) -> String {
        let mut name = format!("{}-{}", self.settings.stack, self.address.name);
        if !suffix.is_empty() {
            name.push('-');
            name.push_str(suffix);
        }
        name.truncate(max);
        name
    }

    /// Reads the request's desired fields as the kind's typed spec.
    pub fn spec<T: serde::de::DeserializeOwned>(
        &self,
        desired: &Value,
        operation: &'static str,
    ) -> Result<T> {
        serde_json::from_value(desired.clone()).map_err(|e| {
            self.error(
                ErrorClass::Permanent,
                operation,
                format!(
                    "the desired fields do not match the {} schema: {e}",
                    self.address.kind
                ),
            )
        })
    }

    /// The output `name` of the resource this one references by `field` (e.g. the cluster's
    /// `oidc_provider_arn`), from the request's inputs.
    pub fn input(
        &self,
        request: &Request<'_>,
        kind: Kind,
        name: &str,
        output: &str,
        operation: &'static str,
    ) -> Result<Value> {
        request
            .inputs
            .get(&Address::new(kind, name))
            .and_then(|outputs| outputs.get(output))
            .cloned()
            .ok_or_else(|| {
                self.error(
                    ErrorClass::Permanent,
                    operation,
                    format!("{kind}.{name} has no `{output}` output yet"),
                )
                .with_help(format!(
                    "{kind}.{name} records its outputs when it is applied: apply it first"
                ))
            })
    }
}

/// The AWS provider for the AWS kinds of docs/stack-language.md.
pub struct AwsProvider {
    settings: AwsSettings,
    clients: OnceCell<Clients>,
}

impl AwsProvider {
    pub fn new(settings: AwsSettings) -> Self {
        AwsProvider {
            settings,
            clients: OnceCell::new(),
        }
    }

    /// A provider using this SDK configuration instead of the standard chain (for programs
    /// that embed meshctl and already hold one).
    pub fn with_config(settings: AwsSettings, config: &aws_config::SdkConfig) -> Self {
        AwsProvider {
            settings,
            clients: OnceCell::new_with(Some(Clients::new(config))),
        }
    }

    async fn clients(&self) -> &Clients {
        self.clients
            .get_or_init(|| async { Clients::new(&sdk_config(&self.settings.region).await) })
            .await
    }

    async fn cx<'a>(&'a self, address: &'a Address) -> Cx<'a> {
        Cx {
            aws: self.clients().await,
            settings: &self.settings,
            address,
        }
    }
}

#[async_trait]
impl Provider for AwsProvider {
    fn kinds(&self) -> &'static [Kind] {
        // Every kind whose schema names the AWS layer (`KindSpec`), never a list of its own.
        Layer::Aws.kinds()
    }

    async fn read(
        &self,
        request: &Request<'_>,
        objects: &[OwnedObject],
    ) -> Result<Option<Applied>> {
        let cx = self.cx(request.address).await;
        kinds::read(&cx, request, objects).await
    }

    async fn read_batch(
        &self,
        reads: &[(Request<'_>, &[OwnedObject])],
    ) -> Result<BTreeMap<Address, Option<Applied>>> {
        let Some((first, _)) = reads.first() else {
            return Ok(BTreeMap::new());
        };
        let cx = self.cx(first.address).await;
        kinds::read_batch(&cx, reads).await
    }

    async fn lookup(&self, request: &Request<'_>) -> Result<Lookup> {
        let cx = self.cx(request.address).await;
        kinds::lookup(&cx, request).await
    }

    async fn create(
        &self,
        request: &Request<'_>,
        record: Record<'_>,
        progress: &dyn Progress,
    ) -> Result<Applied> {
        let cx = self.cx(request.address).await;
        kinds::create(&cx, request, record, progress).await
    }

    async fn update(
        &self,
        request: &Request<'_>,
        prior: &Value,
        objects: &[OwnedObject],
        record: Record<'_>,
        progress: &dyn Progress,
    ) -> Result<Applied> {
        let cx = self.cx(request.address).await;
        kinds::update(&cx, request, prior, objects, record, progress).await
    }

    async fn delete(
        &self,
        address: &Address,
        objects: &[OwnedObject],
        _inputs: &Inputs,
        progress: &dyn Progress,
    ) -> Result<()> {
        let cx = self.cx(address).await;
        kinds::delete(&cx, objects, progress).await
    }

    async fn sweep(
        &self,
        address: &Address,
        keep: &[OwnedObject],
        _inputs: &Inputs,
        progress: &dyn Progress,
    ) -> Result<()> {
        let cx = self.cx(address).await;
        kinds::sweep(&cx, keep, progress).await
    }

    async fn census(&self, address: &Address) -> Result<Vec<Found>> {
        let cx = self.cx(address).await;
        census::census(&cx).await
    }

    async fn import(&self, request: &Request<'_>, id: &str) -> Result<(Value, Applied)> {
        let cx = self.cx(request.address).await;
        kinds::import(&cx, request, id).await
    }

    async fn mark(&self, request: &Request<'_>, objects: &[OwnedObject]) -> Result<()> {
        let cx = self.cx(request.address).await;
        marks::mark(&cx, objects).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::retry::{RetryConfig, RetryMode};

    #[test]
    fn the_sdk_default_of_3_attempts_per_call_is_raised_and_the_mode_kept() {
        let chain = aws_config::SdkConfig::builder()
            .retry_config(RetryConfig::adaptive().with_max_attempts(3))
            .build();
        let retries = with_call_retries(chain).retry_config().cloned().unwrap();
        assert_eq!(retries.max_attempts(), MIN_ATTEMPTS_PER_CALL);
        assert_eq!(retries.mode(), RetryMode::Adaptive);
        assert!(retries.max_backoff() <= MAX_BACKOFF);
    }

    #[test]
    fn more_attempts_asked_by_the_chain_are_kept() {
        let chain = aws_config::SdkConfig::builder()
            .retry_config(RetryConfig::standard().with_max_attempts(25))
            .build();
        let retries = with_call_retries(chain).retry_config().cloned().unwrap();
        assert_eq!(retries.max_attempts(), 25);
    }

    #[test]
    fn no_retry_config_at_all_gets_standard_retries() {
        let retries = with_call_retries(aws_config::SdkConfig::builder().build())
            .retry_config()
            .cloned()
            .unwrap();
        assert_eq!(retries.max_attempts(), MIN_ATTEMPTS_PER_CALL);
        assert_eq!(retries.mode(), RetryMode::Standard);
    }
}
