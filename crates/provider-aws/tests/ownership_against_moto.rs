//! Two stacks in one account never touch each other's AWS objects: against a real moto server,
//! a create whose name is taken by another stack's object, or by a hand-made one, fails
//! permanently naming the owner and leaves the object as it was (checked with direct aws-sdk
//! calls); deleting what such a create recorded, as the engine's rollback does, leaves it too;
//! an object tagged for this very resource (an interrupted create's) is still taken over; a sweep
//! removes only objects tagged with this stack and address; a DNS record, or an ACM validation
//! record, holding someone else's answer is refused.

mod support;

use support::{sandbox, Inputs, Sandbox, STACK};

use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
use aws_sdk_iam::types::Tag as IamTag;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use meshctl_model::kinds::aws::{
    AcmCertificate, DnsRecord, EksCluster, IamServiceAccount, Nodegroup, Vpc,
};
use meshctl_model::record::OwnedObject;
use meshctl_model::{Address, Kind};
use meshctl_provider::{Applied, ErrorClass, Provider, ProviderError, Request};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

const ISSUER_ROLE: &str = "arn:aws:iam::123456789012:role/someone-elses-cluster-role";

impl Sandbox {
    fn eks(&self) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.config)
    }
    fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config)
    }
    fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.config)
    }

    /// Creates through the provider, returning its result and every object it recorded (what
    /// the engine's rollback would delete after a failure).
    async fn create(
        &self,
        address: &Address,
        desired: &Value,
        inputs: &Inputs,
    ) -> (Result<Applied, ProviderError>, Vec<OwnedObject>) {
        let recorded = Mutex::new(Vec::new());
        let record = |object: OwnedObject| recorded.lock().unwrap().push(object);
        let request = Request {
            address,
            desired,
            inputs,
        };
        let result = self
            .provider
            .create(&request, &record, &self.progress)
            .await;
        (result, recorded.into_inner().unwrap())
    }

    /// Deletes these objects as the engine's rollback of a failed create does.
    async fn delete(&self, address: &Address, objects: &[OwnedObject]) {
        self.provider
            .delete(address, objects, &Inputs::new(), &self.progress)
            .await
            .unwrap_or_else(|e| panic!("delete {address}: {e}"));
    }

    /// An EKS cluster made directly, with these tags; returns its ARN.
    async fn cluster(&self, name: &str, tags: &[(&str, &str)]) -> String {
        let tags: HashMap<String, String> = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.eks()
            .create_cluster()
            .name(name)
            .version("1.30")
            .role_arn(ISSUER_ROLE)
            .resources_vpc_config(VpcConfigRequest::builder().build())
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .expect("CreateCluster")
            .cluster()
            .and_then(|c| c.arn())
            .expect("a cluster ARN")
            .to_string()
    }

    /// The live cluster: its role and tags.
    async fn cluster_state(&self, name: &str) -> Option<(String, BTreeMap<String, String>)> {
        match self.eks().describe_cluster().name(name).send().await {
            Ok(out) => out.cluster().map(|c| {
                (
                    c.role_arn().unwrap_or_default().to_string(),
                    c.tags().cloned().unwrap_or_default().into_iter().collect(),
                )
            }),
            Err(e) if format!("{e:?}").contains("ResourceNotFoundException") => None,
            Err(e) => panic!("DescribeCluster {name}: {e:?}"),
        }
    }

    /// An IAM role made directly with this trust policy and tags.
    async fn role(&self, name: &str, trust: &Value, tags: &[(&str, &str)]) {
        let tags: Vec<IamTag> = tags
            .iter()
            .map(|(k, v)| IamTag::builder().key(*k).value(*v).build().expect("a tag"))
            .collect();
        self.iam()
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .expect("CreateRole");
    }

    /// A public hosted zone made directly; returns its id.
    async fn zone(&self, domain: &str) -> String {
        self.route53()
            .create_hosted_zone()
            .name(domain)
            .caller_reference(format!("test-{domain}"))
            .send()
            .await
            .expect("CreateHostedZone")
            .hosted_zone()
            .expect("a zone")
            .id()
            .trim_start_matches("/hostedzone/")
            .to_string()
    }

    /// A record written directly, as someone else would.
    async fn write_record(&self, zone: &str, name: &str, kind: RrType, value: &str) {
        let set = ResourceRecordSet::builder()
            .name(name)
            .r#type(kind)
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value(value)
                    .build()
                    .expect("a record"),
            )
            .build()
            .expect("a record set");
        self.route53()
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(
                ChangeBatch::builder()
                    .changes(
                        Change::builder()
                            .action(ChangeAction::Create)
                            .resource_record_set(set)
                            .build()
                            .expect("a change"),
                    )
                    .build()
                    .expect("a batch"),
            )
            .send()
            .await
            .expect("ChangeResourceRecordSets");
    }

    /// The values of the live record `name`/`kind`.
    async fn record_values(&self, zone: &str, name: &str, kind: RrType) -> Vec<String> {
        self.route53()
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .expect("ListResourceRecordSets")
            .resource_record_sets()
            .iter()
            .filter(|s| {
                s.r#type() == &kind && s.name().trim_end_matches('.') == name.trim_end_matches('.')
            })
            .flat_map(|s| s.resource_records().iter().map(|r| r.value().to_string()))
            .collect()
    }

    /// The live role's trust policy and attached policies, if it exists.
    async fn role_state(&self, name: &str) -> Option<(Value, Vec<String>)> {
        let role = match self.iam().get_role().role_name(name).send().await {
            Ok(out) => out.role().cloned().expect("a role"),
            Err(e) if format!("{e:?}").contains("NoSuchEntity") => return None,
            Err(e) => panic!("GetRole {name}: {e:?}"),
        };
        let attached = self
            .iam()
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .expect("ListAttachedRolePolicies")
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        let trust = role.assume_role_policy_document().unwrap_or_default();
        Some((document(trust), attached))
    }
}

/// A kind's desired fields as the engine sends them: the typed spec, defaults filled in.
fn desired<T: DeserializeOwned + Serialize>(fields: Value) -> Value {
    let spec: T = serde_json::from_value(fields).expect("the fields match the kind's spec");
    serde_json::to_value(spec).expect("the spec serializes")
}

/// An IAM policy document, whether the server returned it URL-encoded (as AWS does) or not.
fn document(text: &str) -> Value {
    if let Ok(value) = serde_json::from_str(text) {
        return value;
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            decoded.push(u8::from_str_radix(hex, 16).expect("a percent escape"));
            i += 3;
        } else {
            decoded.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    serde_json::from_slice(&decoded).expect("a JSON policy document")
}

fn trust_of_service(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// What a cluster create needs from its VPC (the refusal comes before any subnet is used).
fn vpc_inputs() -> Inputs {
    Inputs::from([(
        Address::new(Kind::Vpc, "main"),
        BTreeMap::from([
            ("public_subnet_ids".to_string(), json!([])),
            ("private_subnet_ids".to_string(), json!([])),
        ]),
    )])
}

fn cluster_spec(name: &str, oidc: bool) -> Value {
    desired::<EksCluster>(json!({
        "cluster_name": name,
        "version": "1.30",
        "vpc": "main",
        "oidc": oidc,
    }))
}

fn refusal(result: Result<Applied, ProviderError>) -> ProviderError {
    let error = result.expect_err("the create must be refused");
    assert_eq!(error.class, ErrorClass::Permanent, "{}", error.message);
    error
}

#[tokio::test]
async fn eks_cluster_of_another_stack_is_refused_and_never_deleted() {
    let sandbox = sandbox().await;
    let tags = [
        ("meshctl:stack", "payments"),
        ("meshctl:address", "eks_cluster.main"),
        ("team", "payments"),
    ];
    sandbox.cluster("shared-name", &tags).await;
    let before = sandbox.cluster_state("shared-name").await;
    let address = Address::new(Kind::EksCluster, "main");

    let (result, recorded) = sandbox
        .create(&address, &cluster_spec("shared-name", false), &vpc_inputs())
        .await;
    let error = refusal(result);
    assert!(
        error.message.contains("EKS cluster shared-name")
            && error
                .message
                .contains("stack `payments` (eks_cluster.main)"),
        "the error names the object and its owner: {}",
        error.message
    );
    let help = error.help.as_deref().unwrap_or_default();
    assert!(
        help.contains("cluster_name") && !error.message.contains("cluster_name"),
        "the help, apart from the message, says how to use another name: {error}"
    );
    assert_eq!(
        sandbox.cluster_state("shared-name").await,
        before,
        "the other stack's cluster is untouched"
    );
    assert!(
        sandbox.role_state("demo-main-cluster").await.is_none(),
        "nothing was made for the refused cluster"
    );

    // Even a record naming it (a state written before this rule, or a name taken between a
    // recorded intent and the create) never deletes another stack's cluster.
    let object = OwnedObject {
        kind: "eks:cluster".into(),
        id: "shared-name".into(),
    };
    sandbox.delete(&address, &[object]).await;
    assert_eq!(sandbox.cluster_state("shared-name").await, before);
    sandbox.delete(&address, &recorded).await;
    assert_eq!(sandbox.cluster_state("shared-name").await, before);
}

#[tokio::test]
async fn hand_made_eks_cluster_is_refused_untouched() {
    let sandbox = sandbox().await;
    sandbox.cluster("by-hand", &[("team", "ops")]).await;
    let before = sandbox.cluster_state("by-hand").await;
    let address = Address::new(Kind::EksCluster, "main");

    let (result, recorded) = sandbox
        .create(&address, &cluster_spec("by-hand", false), &vpc_inputs())
        .await;
    let error = refusal(result);
    assert!(
        error.message.contains("EKS cluster by-hand")
            && error.message.contains("not managed by meshctl"),
        "{}",
        error.message
    );
    let help = error.help.as_deref().unwrap_or_default();
    assert!(
        help.contains("delete the existing one") && !help.contains("state import"),
        "the help offers only commands that exist: {error}"
    );
    assert!(
        recorded.is_empty(),
        "nothing of the refused create is recorded, so a rollback deletes nothing: {recorded:?}"
    );
    sandbox.delete(&address, &recorded).await;
    assert_eq!(sandbox.cluster_state("by-hand").await, before);
}

#[tokio::test]
async fn eks_cluster_tagged_for_this_resource_is_taken_over_but_its_oidc_provider_of_another_stack_is_not(
) {
    let sandbox = sandbox().await;
    // What an interrupted create of this very resource left: tagged with this stack and address.
    let arn = sandbox
        .cluster(
            "ours",
            &[
                ("meshctl:stack", STACK),
                ("meshctl:address", "eks_cluster.main"),
            ],
        )
        .await;
    let address = Address::new(Kind::EksCluster, "main");
    let (result, recorded) = sandbox
        .create(&address, &cluster_spec("ours", false), &vpc_inputs())
        .await;
    let applied = result.unwrap_or_else(|e| panic!("our own cluster is taken over: {e}"));
    assert_eq!(applied.outputs["arn"], json!(arn));
    assert!(recorded
        .iter()
        .any(|o| o.kind == "eks:cluster" && o.id == "ours"));

    // The same cluster with IRSA: IAM names the OIDC provider by the cluster's issuer, and
    // another stack's provider for it is not taken over.
    let issuer = sandbox
        .eks()
        .describe_cluster()
        .name("ours")
        .send()
        .await
        .expect("DescribeCluster")
        .cluster()
        .and_then(|c| c.identity())
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .expect("an OIDC issuer")
        .to_string();
    let provider_arn = sandbox
        .iam()
        .create_open_id_connect_provider()
        .url(&issuer)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .tags(
            IamTag::builder()
                .key("meshctl:stack")
                .value("payments")
                .build()
                .expect("a tag"),
        )
        .tags(
            IamTag::builder()
                .key("meshctl:address")
                .value("eks_cluster.main")
                .build()
                .expect("a tag"),
        )
        .send()
        .await
        .expect("CreateOpenIDConnectProvider")
        .open_id_connect_provider_arn()
        .expect("an ARN")
        .to_string();
    let (result, recorded) = sandbox
        .create(&address, &cluster_spec("ours", true), &vpc_inputs())
        .await;
    let error = refusal(result);
    assert!(
        error.message.contains(&provider_arn) && error.message.contains("stack `payments`"),
        "{}",
        error.message
    );
    assert!(
        !recorded.iter().any(|o| o.id == provider_arn),
        "the other stack's provider is not recorded: {recorded:?}"
    );
    let listed = sandbox
        .iam()
        .list_open_id_connect_providers()
        .send()
        .await
        .expect("ListOpenIDConnectProviders");
    assert!(listed
        .open_id_connect_provider_list()
        .iter()
        .any(|p| p.arn() == Some(provider_arn.as_str())));
}

#[tokio::test]
async fn nodegroup_of_another_stack_in_a_shared_cluster_is_refused_untouched() {
    let sandbox = sandbox().await;
    // This stack's VPC and cluster, made through the provider.
    let vpc_address = Address::new(Kind::Vpc, "main");
    let vpc_spec = desired::<Vpc>(json!({ "cidr": "10.60.0.0/16", "azs": 2, "nat": "none" }));
    let (vpc, _) = sandbox
        .create(&vpc_address, &vpc_spec, &Inputs::new())
        .await;
    let vpc = vpc.unwrap_or_else(|e| panic!("create the VPC: {e}"));
    let cluster_address = Address::new(Kind::EksCluster, "main");
    let vpc_inputs = Inputs::from([(vpc_address, vpc.outputs.clone())]);
    let (cluster, _) = sandbox
        .create(
            &cluster_address,
            &cluster_spec("shared", false),
            &vpc_inputs,
        )
        .await;
    let cluster = cluster.unwrap_or_else(|e| panic!("create the cluster: {e}"));
    let subnets: Vec<String> =
        serde_json::from_value(vpc.outputs["private_subnet_ids"].clone()).expect("subnet ids");

    // Another stack's nodegroup in it, under the name this stack's nodegroup would take.
    sandbox
        .eks()
        .create_nodegroup()
        .cluster_name("shared")
        .nodegroup_name("general")
        .node_role("arn:aws:iam::123456789012:role/payments-general-node")
        .set_subnets(Some(subnets))
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(1)
                .desired_size(1)
                .max_size(1)
                .build(),
        )
        .tags("meshctl:stack", "payments")
        .tags("meshctl:address", "nodegroup.general")
        .send()
        .await
        .expect("CreateNodegroup");
    let live = || async {
        let group = sandbox
            .eks()
            .describe_nodegroup()
            .cluster_name("shared")
            .nodegroup_name("general")
            .send()
            .await
            .expect("DescribeNodegroup")
            .nodegroup()
            .cloned()
            .expect("the nodegroup exists");
        let scaling = group.scaling_config().expect("a scaling config");
        (
            group.node_role().map(str::to_string),
            scaling.desired_size(),
            group.tags().cloned().unwrap_or_default(),
        )
    };
    let before = live().await;

    let address = Address::new(Kind::Nodegroup, "general");
    let spec = desired::<Nodegroup>(json!({
        "cluster": "main",
        "instance_types": ["t3.large"],
        "scaling": { "min": 2, "desired": 3, "max": 4 },
        "subnets": "private",
    }));
    let inputs = Inputs::from([(cluster_address, cluster.outputs.clone())]);
    let (result, recorded) = sandbox.create(&address, &spec, &inputs).await;
    let error = refusal(result);
    assert!(
        error
            .message
            .contains("nodegroup general of EKS cluster shared")
            && error
                .message
                .contains("stack `payments` (nodegroup.general)"),
        "{}",
        error.message
    );
    assert!(recorded.is_empty(), "{recorded:?}");
    assert!(
        sandbox.role_state("demo-general-node").await.is_none(),
        "no node role was made for the refused nodegroup"
    );
    let object = OwnedObject {
        kind: "eks:nodegroup".into(),
        id: "shared/general".into(),
    };
    sandbox.delete(&address, &[object]).await;
    assert_eq!(
        live().await,
        before,
        "the other stack's nodegroup is untouched"
    );
}

/// What an `iam_service_account` create needs from its cluster.
fn irsa_inputs() -> Inputs {
    Inputs::from([(
        Address::new(Kind::EksCluster, "main"),
        BTreeMap::from([
            (
                "oidc_provider_arn".to_string(),
                json!("arn:aws:iam::123456789012:oidc-provider/oidc.eks.ap-northeast-2.amazonaws.com/id/ABC"),
            ),
            (
                "oidc_issuer".to_string(),
                json!("https://oidc.eks.ap-northeast-2.amazonaws.com/id/ABC"),
            ),
        ]),
    )])
}

fn irsa_spec() -> Value {
    desired::<IamServiceAccount>(json!({
        "cluster": "main",
        "namespace": "kube-system",
        "service_account": "aws-load-balancer-controller",
        "policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    }))
}

#[tokio::test]
async fn iam_role_of_another_stack_with_the_same_address_is_refused_untouched() {
    let sandbox = sandbox().await;
    // Another stack whose resource has the same address; the name is this stack's role name.
    let trust = trust_of_service("ec2.amazonaws.com");
    sandbox
        .role(
            "demo-lbc-irsa",
            &trust,
            &[
                ("meshctl:stack", "payments"),
                ("meshctl:address", "iam_service_account.lbc"),
            ],
        )
        .await;
    let address = Address::new(Kind::IamServiceAccount, "lbc");
    let (result, recorded) = sandbox.create(&address, &irsa_spec(), &irsa_inputs()).await;
    let error = refusal(result);
    assert!(
        error.message.contains("IAM role demo-lbc-irsa")
            && error
                .message
                .contains("stack `payments` (iam_service_account.lbc)"),
        "{}",
        error.message
    );
    assert_eq!(
        sandbox.role_state("demo-lbc-irsa").await,
        Some((trust.clone(), Vec::new())),
        "its trust policy and policies are as the other stack left them"
    );
    sandbox.delete(&address, &recorded).await;
    assert!(sandbox.role_state("demo-lbc-irsa").await.is_some());

    // The sweep after an interrupted run removes only roles tagged with this stack and address.
    sandbox
        .provider
        .sweep(&address, &[], &Inputs::new(), &sandbox.progress)
        .await
        .expect("sweep");
    assert_eq!(
        sandbox.role_state("demo-lbc-irsa").await,
        Some((trust, Vec::new())),
        "the sweep left the other stack's role"
    );
}

#[tokio::test]
async fn hand_made_iam_role_is_refused_and_survives_the_rollback() {
    let sandbox = sandbox().await;
    let trust = trust_of_service("ec2.amazonaws.com");
    sandbox.role("demo-lbc-irsa", &trust, &[]).await;
    let address = Address::new(Kind::IamServiceAccount, "lbc");
    let (result, recorded) = sandbox.create(&address, &irsa_spec(), &irsa_inputs()).await;
    let error = refusal(result);
    assert!(
        error.message.contains("IAM role demo-lbc-irsa")
            && error.message.contains("not managed by meshctl"),
        "{}",
        error.message
    );
    // The engine deletes what a failed create recorded; the hand-made role is not among it.
    sandbox.delete(&address, &recorded).await;
    assert_eq!(
        sandbox.role_state("demo-lbc-irsa").await,
        Some((trust, Vec::new())),
        "the hand-made role is untouched"
    );
}

#[tokio::test]
async fn iam_role_tagged_for_this_resource_is_taken_over() {
    let sandbox = sandbox().await;
    sandbox
        .role(
            "demo-lbc-irsa",
            &trust_of_service("ec2.amazonaws.com"),
            &[
                ("meshctl:stack", STACK),
                ("meshctl:address", "iam_service_account.lbc"),
            ],
        )
        .await;
    let address = Address::new(Kind::IamServiceAccount, "lbc");
    let (result, recorded) = sandbox.create(&address, &irsa_spec(), &irsa_inputs()).await;
    result.unwrap_or_else(|e| panic!("an earlier attempt's role is taken over: {e}"));
    assert_eq!(
        recorded,
        [OwnedObject {
            kind: "iam:role".into(),
            id: "demo-lbc-irsa".into()
        }]
    );
    let (trust, attached) = sandbox
        .role_state("demo-lbc-irsa")
        .await
        .expect("the role exists");
    assert_eq!(
        trust["Statement"][0]["Action"], "sts:AssumeRoleWithWebIdentity",
        "the trust policy is this resource's again"
    );
    assert_eq!(attached, ["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
}

#[tokio::test]
async fn dns_record_with_someone_elses_answer_is_refused_and_the_same_answer_adopted() {
    let sandbox = sandbox().await;
    let zone = sandbox.zone("owned-elsewhere.com").await;
    let name = "api.owned-elsewhere.com";
    sandbox
        .write_record(&zone, name, RrType::A, "198.51.100.7")
        .await;
    let inputs = Inputs::from([(
        Address::new(Kind::Route53Zone, "main"),
        BTreeMap::from([("zone_id".to_string(), json!(zone))]),
    )]);
    let values = |values: &[&str]| {
        desired::<DnsRecord>(json!({
            "zone": "main",
            "record": name,
            "type": "A",
            "values": values,
            "ttl": 60,
        }))
    };

    let address = Address::new(Kind::DnsRecord, "api");
    let (result, recorded) = sandbox
        .create(&address, &values(&["192.0.2.10"]), &inputs)
        .await;
    let error = refusal(result);
    assert!(
        error.message.contains("198.51.100.7") && error.message.contains("does not overwrite"),
        "the error shows the record's current answer: {}",
        error.message
    );
    assert!(recorded.is_empty(), "{recorded:?}");
    assert_eq!(
        sandbox.record_values(&zone, name, RrType::A).await,
        ["198.51.100.7"],
        "the record is untouched"
    );

    // The same answer changes nothing in DNS: it is adopted.
    let (result, recorded) = sandbox
        .create(&address, &values(&["198.51.100.7"]), &inputs)
        .await;
    result.unwrap_or_else(|e| panic!("a record already saying this is adopted: {e}"));
    assert_eq!(recorded.len(), 1);
}

#[tokio::test]
async fn acm_validation_record_holding_another_value_is_refused_untouched() {
    let sandbox = sandbox().await;
    let zone = sandbox.zone("certs-elsewhere.com").await;
    // moto names the validation record of a domain as ACM does, from the domain (and account).
    let validation = "_d930b28be6c5927595552b219965053e.app.certs-elsewhere.com";
    sandbox
        .write_record(
            &zone,
            validation,
            RrType::Cname,
            "somewhere-else.example.net",
        )
        .await;
    let inputs = Inputs::from([(
        Address::new(Kind::Route53Zone, "main"),
        BTreeMap::from([("zone_id".to_string(), json!(zone))]),
    )]);
    let address = Address::new(Kind::AcmCertificate, "web");
    let spec = desired::<AcmCertificate>(json!({
        "domain": "app.certs-elsewhere.com",
        "validation_zone": "main",
        "timeout": "60s",
    }));
    let (result, recorded) = sandbox.create(&address, &spec, &inputs).await;
    let error = refusal(result);
    assert!(
        error.message.contains(validation) && error.message.contains("somewhere-else.example.net"),
        "{}",
        error.message
    );
    // The rollback deletes what was recorded: the certificate, not the record.
    sandbox.delete(&address, &recorded).await;
    assert_eq!(
        sandbox
            .record_values(&zone, validation, RrType::Cname)
            .await,
        ["somewhere-else.example.net"],
        "the record is untouched"
    );
}
