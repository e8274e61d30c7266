//! The whole sandbox in one process: moto for AWS, the Kubernetes API server with the add-on
//! controllers (AWS Load Balancer Controller, cert-manager), and a directory with the kubeconfig
//! and the helm and istioctl stand-ins. Prints the environment to use as shell `export` lines,
//! then `ready`, and runs until SIGINT, SIGTERM or (with `--exit-on-stdin-close`) the end of
//! stdin, stopping moto on the way out.
//!
//! Usage: `meshctl-sandbox [--dir DIR] [--region REGION] [--cluster-name NAME]
//! [--deletion-delay-ms MS] [--rollout-delay-ms MS] [--eks-token-lifetime-secs N] [--faults RULES]
//! [--exit-on-stdin-close]`
//!
//! `--eks-token-lifetime-secs 5` makes the API server refuse (401) an EKS token 5 s after its
//! X-Amz-Date instead of EKS's 15 minutes, and `--rollout-delay-ms 4000` makes workloads report
//! ready that long after a change (installs that wait for them take longer): together they show
//! in seconds whether a client keeps a token too long.
//!
//! The printed `AWS_ENDPOINT_URL` is always the sandbox's front to moto (`FaultProxy::start_front`),
//! never moto itself: it answers what moto gets wrong (target health, from the simulated Load
//! Balancer Controller's board) and corrects moto's known mistakes. The simulated controllers talk
//! to moto directly. `--faults ec2=throttle:0.3,route53=5xx:0.1` makes the front inject faults too,
//! to rehearse a bad AWS day; on the way out it reports what it injected.
//!
//! `eval "$(meshctl-sandbox --dir /tmp/sb | sed '/^ready$/q')"` is not how to use it (the process
//! must keep running); start it in the background, wait for `ready`, then source the lines above.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use meshctl_sandbox::controllers::targets::TargetHealthCorrection;
use meshctl_sandbox::controllers::{self, ControllerOptions};
use meshctl_sandbox::kube::{ApiServer, ApiServerOptions};
use meshctl_sandbox::{aws_env, FaultProxy, Faults, Moto};

const USAGE: &str = "usage: meshctl-sandbox [--dir DIR] [--region REGION] [--cluster-name NAME] [--deletion-delay-ms MS] [--rollout-delay-ms MS] [--eks-token-lifetime-secs N] [--faults SERVICE=throttle|5xx:RATE,...] [--exit-on-stdin-close]";

struct Args {
    dir: Option<PathBuf>,
    region: String,
    cluster_name: String,
    deletion_delay: Duration,
    /// How long after a change a workload reports ready (the API server's rollout delay).
    rollout_delay: Option<Duration>,
    /// How long EKS tokens are accepted after signing (EKS: 15 minutes).
    eks_token_lifetime: Option<Duration>,
    /// Faults the front injects; `None` injects none.
    faults: Option<Faults>,
    exit_on_stdin_close: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut parsed = Args {
        dir: None,
        region: "ap-northeast-2".to_string(),
        cluster_name: "sandbox".to_string(),
        deletion_delay: Duration::from_secs(1),
        rollout_delay: None,
        eks_token_lifetime: None,
        faults: None,
        exit_on_stdin_close: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--dir" => parsed.dir = Some(PathBuf::from(value("--dir")?)),
            "--region" => parsed.region = value("--region")?,
            "--cluster-name" => parsed.cluster_name = value("--cluster-name")?,
            "--deletion-delay-ms" => {
                let raw = value("--deletion-delay-ms")?;
                let ms: u64 = raw.parse().map_err(|_| {
                    format!("--deletion-delay-ms: {raw:?} is not a whole number of milliseconds")
                })?;
                parsed.deletion_delay = Duration::from_millis(ms);
            }
            "--rollout-delay-ms" => {
                let raw = value("--rollout-delay-ms")?;
                let ms: u64 = raw.parse().map_err(|_| {
                    format!("--rollout-delay-ms: {raw:?} is not a whole number of milliseconds")
                })?;
                parsed.rollout_delay = Some(Duration::from_millis(ms));
            }
            "--eks-token-lifetime-secs" => {
                let raw = value("--eks-token-lifetime-secs")?;
                let secs: u64 = raw.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("--eks-token-lifetime-secs: {raw:?} is not a whole number of seconds above 0")
                })?;
                parsed.eks_token_lifetime = Some(Duration::from_secs(secs));
            }
            "--faults" => {
                let spec = value("--faults")?;
                parsed.faults = Some(Faults::parse(&spec).map_err(|e| format!("--faults: {e}"))?);
            }
            "--exit-on-stdin-close" => parsed.exit_on_stdin_close = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Some(parsed))
}

/// The faults in words, for the startup line: `ec2 throttle 30%, route53 5xx 10%`.
fn describe_faults(faults: &Faults) -> String {
    let mut rules: Vec<String> = faults
        .throttle_rate
        .iter()
        .map(|(service, rate)| format!("{service} throttle {:.0}%", rate * 100.0))
        .chain(
            faults
                .server_error_rate
                .iter()
                .map(|(service, rate)| format!("{service} 5xx {:.0}%", rate * 100.0)),
        )
        .collect();
    rules.sort();
    if !faults.latency.is_zero() {
        rules.push(format!("latency {} ms", faults.latency.as_millis()));
    }
    if rules.is_empty() {
        "no faults".to_string()
    } else {
        rules.join(", ")
    }
}

/// Single-quotes a value for a POSIX shell when it needs it.
fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:,=+@%".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Links the helm and istioctl stand-ins (built next to this binary) into `bin`.
fn link_standins(bin: &Path) -> Result<(), String> {
    std::fs::create_dir_all(bin).map_err(|e| format!("creating {}: {e}", bin.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?;
    let here = exe.parent().unwrap_or(Path::new("."));
    for tool in ["helm", "istioctl"] {
        let source = here.join(tool);
        let link = bin.join(tool);
        if !source.exists() {
            return Err(format!(
                "the {tool} stand-in is not at {}; build it with `cargo build -p meshctl-sandbox --bins`",
                source.display()
            ));
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&source, &link)
            .map_err(|e| format!("linking {} to {}: {e}", link.display(), source.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let started = Instant::now();
    let (dir, temporary) = match &args.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("meshctl-sandbox-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let bin = dir.join("bin");
    link_standins(&bin)?;

    // moto takes a couple of seconds to import; start the API server meanwhile.
    let moto = tokio::task::spawn_blocking(Moto::start);
    // The API server plays the EKS cluster `--cluster-name`: meshctl's EKS tokens must be signed
    // for it, while kubectl and the stand-ins over plain HTTP come in anonymously.
    let defaults = ApiServerOptions::default();
    let server = ApiServer::start(ApiServerOptions {
        eks_cluster: Some(args.cluster_name.clone()),
        eks_token_lifetime: args
            .eks_token_lifetime
            .unwrap_or(defaults.eks_token_lifetime),
        rollout_delay: args.rollout_delay.unwrap_or(defaults.rollout_delay),
        anonymous: true,
        ..defaults
    })
    .await
    .map_err(|e| e.to_string())?;
    let moto = moto
        .await
        .map_err(|e| format!("starting moto: {e}"))?
        .map_err(|e| e.to_string())?;
    // Seeded by the clock: each rehearsal meets its faults at other calls.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let front = FaultProxy::start_front(&moto.url(), seed).map_err(|e| e.to_string())?;
    if let Some(faults) = &args.faults {
        front.set_faults(faults.clone());
    }
    let aws_endpoint = front.url();
    let kubeconfig = dir.join("kubeconfig");
    server
        .write_kubeconfig(&kubeconfig, None)
        .map_err(|e| e.to_string())?;
    let options = ControllerOptions {
        aws_endpoint: Some(moto.url()),
        region: args.region.clone(),
        cluster_name: args.cluster_name.clone(),
        deletion_delay: args.deletion_delay,
        ..ControllerOptions::default()
    };
    // The front answers DescribeTargetHealth from the Load Balancer Controller's board.
    front.add_correction(std::sync::Arc::new(TargetHealthCorrection(
        options.target_health.clone(),
    )));
    // moto deletes a nodegroup at once; EKS has removed its Nodes by then.
    front.add_correction(std::sync::Arc::new(controllers::nodes::NodegroupDeletion(
        server.store(),
    )));
    let controllers = controllers::spawn(server.store(), options).await;

    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // meshctl reaches the cluster the way users reach a private endpoint: an override URL.
    let mut lines = vec![
        ("KUBECONFIG".to_string(), kubeconfig.display().to_string()),
        ("MESHCTL_KUBE_ENDPOINT".to_string(), server.url()),
    ];
    lines.extend(
        aws_env(&aws_endpoint, &args.region)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
    );
    lines.push(("AWS_DEFAULT_REGION".to_string(), args.region.clone()));
    lines.push((
        "MESHCTL_STANDIN_LOG".to_string(),
        dir.join("standin.log").display().to_string(),
    ));
    lines.push(("PATH".to_string(), path));
    for (key, value) in lines {
        println!("export {key}={}", shell_quote(&value));
    }
    eprintln!(
        "sandbox up in {:.1} s: API server {}, moto {}",
        started.elapsed().as_secs_f64(),
        server.url(),
        moto.url()
    );
    eprintln!(
        "fault proxy {} in front of moto (AWS_ENDPOINT_URL): {}",
        front.url(),
        describe_faults(args.faults.as_ref().unwrap_or(&Faults::default()))
    );
    println!("ready");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();

    wait_for_stop(args.exit_on_stdin_close).await?;

    for handle in &controllers {
        handle.abort();
    }
    server.shutdown().await;
    if args.faults.is_some() {
        let mut services: Vec<_> = front.counts().into_iter().collect();
        services.sort_by(|a, b| a.0.cmp(&b.0));
        for (service, counts) in services {
            eprintln!(
                "fault proxy, {service}: {} forwarded, {} throttled, {} 5xx",
                counts.forwarded, counts.throttled, counts.server_errors
            );
        }
    }
    drop(front);
    drop(moto);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        let _ = std::fs::remove_file(&kubeconfig);
    }
    Ok(())
}

async fn wait_for_stop(exit_on_stdin_close: bool) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| format!("installing the SIGTERM handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| format!("installing the SIGINT handler: {e}"))?;
    let stdin_closed = async {
        if !exit_on_stdin_close {
            return std::future::pending::<()>().await;
        }
        // A blocking read on a plain thread (the runtime would wait for a blocking task at
        // shutdown): EOF or an error means whoever started us is gone.
        let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            let _ = closed.send(());
        });
        let _ = on_close.await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = stdin_closed => {}
    }
    Ok(())
}
