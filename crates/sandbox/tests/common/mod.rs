//! Shared by the add-on, stand-in and sandbox-binary tests: the real kubectl against a sandbox
//! API server, moto, and AWS SDK clients built here (not the sandbox's) to check what the
//! controllers did.

#![allow(dead_code)] // Each test binary uses a different part.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use meshctl_sandbox::controllers::{self, ControllerOptions};
use meshctl_sandbox::kube::{ApiServer, ApiServerOptions};
pub use meshctl_sandbox::kubectl_path;
use meshctl_sandbox::Moto;
use serde_json::Value;

pub const REGION: &str = "ap-northeast-2";
pub const CLUSTER: &str = "seed-cluster";

/// Starts moto or fails the test saying how to install it.
pub fn start_moto() -> Moto {
    Moto::start().unwrap_or_else(|e| {
        panic!(
            "these tests need moto_server: {e} (CI installs it with `pip install 'moto[server]'`)"
        )
    })
}

/// An API server with a kubeconfig in a temporary directory.
pub struct Kube {
    pub server: ApiServer,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Kube {
    pub async fn start() -> Self {
        let server = ApiServer::start(ApiServerOptions::default())
            .await
            .expect("the sandbox API server starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        server
            .write_kubeconfig(&kubeconfig, None)
            .expect("kubeconfig written");
        Self {
            server,
            dir,
            kubeconfig,
        }
    }

    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("file written");
        path
    }

    pub async fn kubectl(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(kubectl_path())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .output()
            .await
            .expect("kubectl runs")
    }

    /// Runs kubectl and insists it succeeds; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f` of a manifest given as text.
    pub async fn apply(&self, name: &str, manifest: &str) -> String {
        let path = self.file(name, manifest);
        self.ok(&["apply", "-f", path.to_str().expect("utf-8 path")])
            .await
    }

    /// kubectl get … -o json, parsed.
    pub async fn get_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all).await).expect("kubectl printed JSON")
    }

    /// The Events (all namespaces) about the named object.
    pub async fn events_for(&self, name: &str) -> Vec<Value> {
        self.get_json(&["get", "events", "-A"]).await["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["involvedObject"]["name"] == name)
            .collect()
    }
}

/// Polls `probe` every 200 ms until it returns Some, or fails the test after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The sandbox with moto and the add-on controllers running; `aws` goes through the front, as
/// meshctl does against `meshctl-sandbox`.
pub struct Sandbox {
    pub moto: Moto,
    pub front: meshctl_sandbox::FaultProxy,
    pub kube: Kube,
    pub aws: Aws,
    _controllers: Vec<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    pub async fn start() -> Self {
        Self::start_for("unused-default").await
    }

    /// `start`, for the EKS cluster `cluster_name`: the Nodes are those of its nodegroups in moto.
    pub async fn start_for(cluster_name: &str) -> Self {
        kubectl_path();
        let moto = tokio::task::spawn_blocking(start_moto)
            .await
            .expect("moto start task");
        let kube = Kube::start().await;
        let options = ControllerOptions {
            aws_endpoint: Some(moto.url()),
            region: REGION.to_string(),
            cluster_name: cluster_name.to_string(),
            deletion_delay: Duration::from_secs(1),
            resync: Duration::from_secs(5),
            ..ControllerOptions::default()
        };
        let front = meshctl_sandbox::FaultProxy::start_front(&moto.url(), 1).expect("the front");
        front.add_correction(std::sync::Arc::new(
            controllers::targets::TargetHealthCorrection(options.target_health.clone()),
        ));
        let controllers = controllers::spawn(kube.server.store(), options).await;
        let aws = Aws::new(&front.url()).await;
        Self {
            moto,
            front,
            kube,
            aws,
            _controllers: controllers,
        }
    }

    /// What `helm install aws-load-balancer-controller` leaves: the controller Deployment.
    pub async fn install_load_balancer_controller(&self) {
        self.kube
            .apply(
                "lbc.yaml",
                &format!(
                    r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: aws-load-balancer-controller
  namespace: kube-system
spec:
  selector: {{matchLabels: {{app: lbc}}}}
  template:
    metadata: {{labels: {{app: lbc}}}}
    spec:
      containers:
      - name: controller
        image: public.ecr.aws/eks/aws-load-balancer-controller:v2.8.1
        args: ["--cluster-name={CLUSTER}", "--ingress-class=alb"]
"#
                ),
            )
            .await;
    }
}

/// SDK clients of the test's own, for moto.
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub acm: aws_sdk_acm::Client,
}

impl Aws {
    pub async fn new(endpoint: &str) -> Self {
        // The sandbox links only ring for rustls, so the SDK needs a client built for it.
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(controllers::http_client())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await;
        Self {
            ec2: aws_sdk_ec2::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            acm: aws_sdk_acm::Client::new(&config),
        }
    }

    /// A VPC with one subnet in each of two zones, tagged with `role_tag`=1.
    pub async fn vpc_with_tagged_subnets(&self, role_tag: &str) -> (String, Vec<String>) {
        let vpc = self
            .ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .expect("CreateVpc")
            .vpc
            .and_then(|v| v.vpc_id)
            .expect("VPC id");
        let mut subnets = Vec::new();
        for (i, zone) in ["a", "c"].iter().enumerate() {
            let subnet = self
                .ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(format!("10.0.{i}.0/24"))
                .availability_zone(format!("{REGION}{zone}"))
                .send()
                .await
                .expect("CreateSubnet")
                .subnet
                .and_then(|s| s.subnet_id)
                .expect("subnet id");
            self.ec2
                .create_tags()
                .resources(&subnet)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(role_tag)
                        .value("1")
                        .build(),
                )
                .send()
                .await
                .expect("CreateTags");
            subnets.push(subnet);
        }
        (vpc, subnets)
    }

    /// Requests an ACM certificate and returns its ARN.
    pub async fn certificate(&self, domain: &str) -> String {
        self.acm
            .request_certificate()
            .domain_name(domain)
            .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
            .send()
            .await
            .expect("RequestCertificate")
            .certificate_arn
            .expect("certificate ARN")
    }

    pub async fn load_balancers(&self) -> Vec<aws_sdk_elasticloadbalancingv2::types::LoadBalancer> {
        self.elb
            .describe_load_balancers()
            .send()
            .await
            .expect("DescribeLoadBalancers")
            .load_balancers
            .unwrap_or_default()
    }

    pub async fn target_groups(&self) -> Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup> {
        self.elb
            .describe_target_groups()
            .send()
            .await
            .expect("DescribeTargetGroups")
            .target_groups
            .unwrap_or_default()
    }
}

/// Reads `export KEY=VALUE` lines (values possibly single-quoted) into pairs.
pub fn parse_exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = if v.starts_with('\'') && v.ends_with('\'') && v.len() >= 2 {
                v[1..v.len() - 1].replace(r"'\''", "'")
            } else {
                v.to_string()
            };
            (k.to_string(), v)
        })
        .collect()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
