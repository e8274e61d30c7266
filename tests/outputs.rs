//! `meshctl output` end to end: the real binary applies seed 001's stack, with an `outputs:`
//! section added, to the sandbox; `meshctl output --format json` is parsed and every value
//! compared with what the AWS SDK reads from moto directly (the ALB's DNS name and zone id, the
//! certificate's ARN, the hosted zone's id, the cluster's endpoint), never through meshctl. The
//! seed's own file, which declares no outputs, lists every recorded output from the same state;
//! an unknown NAME fails with a suggestion.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::sandbox::{assert_exit, show, Sandbox};
use support::{runtime, text, zone_id};

const DOMAIN: &str = "moamoa-news.com";

fn seed_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks/seed-001-https.yaml")
}

/// Seed 001 with declared outputs, as a pipeline's stack would have them.
const OUTPUTS: &str = r#"
outputs:
  alb_dns_name:
    value: "${alb.public.dns_name}"
    description: where the site's aliases point
  alb_zone_id: { value: "${alb.public.canonical_hosted_zone_id}" }
  certificate_arn: { value: "${acm_certificate.wildcard.arn}" }
  zone_id: { value: "${route53_zone.public.zone_id}" }
  cluster_endpoint: { value: "${eks_cluster.main.endpoint}" }
  url: { value: "https://${alb.public.dns_name}/" }
"#;

/// What moto holds, read with the AWS SDK: the one application load balancer's DNS name and
/// canonical zone id, the one certificate's ARN, the cluster's endpoint.
struct Moto {
    alb_dns_name: String,
    alb_zone_id: String,
    certificate_arn: String,
    cluster_endpoint: String,
}

fn read_moto(rt: &tokio::runtime::Runtime, config: &aws_config::SdkConfig) -> Moto {
    rt.block_on(async {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
        let balancers = elb.describe_load_balancers().send().await.unwrap();
        let albs: Vec<_> = balancers
            .load_balancers()
            .iter()
            .filter(|b| b.r#type().is_some_and(|t| t.as_str() == "application"))
            .collect();
        assert_eq!(albs.len(), 1, "seed 001 makes one ALB: {albs:?}");
        let acm = aws_sdk_acm::Client::new(config);
        let certificates = acm.list_certificates().send().await.unwrap();
        assert_eq!(certificates.certificate_summary_list().len(), 1);
        let cluster = aws_sdk_eks::Client::new(config)
            .describe_cluster()
            .name("moamoa-main")
            .send()
            .await
            .unwrap();
        Moto {
            alb_dns_name: albs[0].dns_name().unwrap().to_string(),
            alb_zone_id: albs[0].canonical_hosted_zone_id().unwrap().to_string(),
            certificate_arn: certificates.certificate_summary_list()[0]
                .certificate_arn()
                .unwrap()
                .to_string(),
            cluster_endpoint: cluster
                .cluster()
                .and_then(|c| c.endpoint())
                .unwrap()
                .to_string(),
        }
    })
}

fn json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", show(output)))
}

#[test]
fn outputs_read_from_state_match_what_aws_holds() {
    let rt = runtime();
    let (sandbox, config) = Sandbox::start("moamoa-main", DOMAIN, &rt);
    let work = tempfile::tempdir().unwrap();
    let stack = work.path().join("stack.yaml");
    let seed = std::fs::read_to_string(seed_file()).unwrap();
    std::fs::write(&stack, format!("{seed}{OUTPUTS}")).unwrap();
    let state = work.path().join("state");

    // Before anything is applied, a declared output has no value: said, exit 1.
    let early = sandbox.meshctl(&stack, &state, &["output", "alb_dns_name"]);
    assert_exit(&early, 1, "output before apply");
    assert!(
        text(&early.stderr).contains("has no value yet"),
        "{}",
        show(&early)
    );

    let applied = sandbox.meshctl_approved(&stack, &state, &["apply"]);
    assert_exit(&applied, 0, "apply of seed 001 with outputs");
    let moto = read_moto(&rt, &config);
    let zone = zone_id(&rt, &config, DOMAIN);

    let all = sandbox.meshctl(&stack, &state, &["output", "--format", "json"]);
    assert_exit(&all, 0, "output --format json");
    let document = json(&all);
    assert_eq!(document["format_version"], 1);
    assert_eq!(document["stack"], "moamoa");
    assert_eq!(document["declared"], true);
    let outputs = &document["outputs"];
    let names: Vec<&str> = outputs
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "alb_dns_name",
            "alb_zone_id",
            "certificate_arn",
            "zone_id",
            "cluster_endpoint",
            "url"
        ],
        "in the stack's order"
    );
    assert_eq!(outputs["alb_dns_name"]["value"], moto.alb_dns_name.as_str());
    assert_eq!(outputs["alb_dns_name"]["known"], true);
    assert_eq!(
        outputs["alb_dns_name"]["description"],
        "where the site's aliases point"
    );
    assert_eq!(
        outputs["alb_dns_name"]["from"],
        serde_json::json!(["alb.public.dns_name"])
    );
    assert_eq!(outputs["alb_zone_id"]["value"], moto.alb_zone_id.as_str());
    assert_eq!(
        outputs["certificate_arn"]["value"],
        moto.certificate_arn.as_str()
    );
    // moto's ids read `/hostedzone/Z…`; the zone id alone is what records and pipelines use.
    assert_eq!(
        outputs["zone_id"]["value"],
        zone.trim_start_matches("/hostedzone/")
    );
    assert_eq!(
        outputs["cluster_endpoint"]["value"],
        moto.cluster_endpoint.as_str()
    );
    assert_eq!(
        outputs["url"]["value"],
        format!("https://{}/", moto.alb_dns_name)
    );

    // One output: the value alone, raw in text (for `$(…)`), JSON with --format json.
    let one = sandbox.meshctl(&stack, &state, &["output", "alb_dns_name"]);
    assert_exit(&one, 0, "output alb_dns_name");
    assert_eq!(text(&one.stdout), format!("{}\n", moto.alb_dns_name));
    let one_json = sandbox.meshctl(
        &stack,
        &state,
        &["output", "certificate_arn", "--format", "json"],
    );
    assert_exit(&one_json, 0, "output certificate_arn --format json");
    assert_eq!(json(&one_json), moto.certificate_arn.as_str());

    // The seed's own file declares no outputs: every recorded one, from the same state.
    let undeclared = sandbox.meshctl(&seed_file(), &state, &["output", "--format", "json"]);
    assert_exit(&undeclared, 0, "output of a stack without outputs:");
    let document = json(&undeclared);
    assert_eq!(document["declared"], false);
    assert_eq!(
        document["outputs"]["alb.public.dns_name"]["value"],
        moto.alb_dns_name.as_str()
    );
    assert_eq!(
        document["outputs"]["acm_certificate.wildcard.arn"]["value"],
        moto.certificate_arn.as_str()
    );
    let by_address = sandbox.meshctl(
        &seed_file(),
        &state,
        &["output", "alb.public.canonical_hosted_zone_id"],
    );
    assert_exit(&by_address, 0, "output kind.name.output");
    assert_eq!(text(&by_address.stdout), format!("{}\n", moto.alb_zone_id));

    // An unknown name: exit 1, the closest name suggested, nothing on stdout.
    let unknown = sandbox.meshctl(&stack, &state, &["output", "alb_dns_nam"]);
    assert_exit(&unknown, 1, "output of an unknown name");
    assert!(unknown.stdout.is_empty(), "{}", show(&unknown));
    let stderr = text(&unknown.stderr);
    assert!(
        stderr.contains("the stack declares no output `alb_dns_nam`")
            && stderr.contains("did you mean `alb_dns_name`?"),
        "{stderr}"
    );
}
