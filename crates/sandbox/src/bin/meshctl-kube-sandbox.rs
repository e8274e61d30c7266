//! Runs the sandbox Kubernetes API server by hand: writes a kubeconfig, prints
//! `export KUBECONFIG=...`, and serves until SIGINT or SIGTERM.
//!
//! Usage: `meshctl-kube-sandbox [--kubeconfig PATH] [--token TOKEN] [--eks-cluster NAME] [--tls]`;
//! a token implies TLS, since kubectl sends credentials only over HTTPS. `--eks-cluster` accepts
//! EKS tokens (`aws eks get-token --cluster-name NAME`, signed with moto's test keys) too.

use std::path::PathBuf;
use std::process::ExitCode;

use meshctl_sandbox::kube::{ApiServer, ApiServerOptions};

fn usage() -> ExitCode {
    eprintln!(
        "usage: meshctl-kube-sandbox [--kubeconfig PATH] [--token TOKEN] [--eks-cluster NAME] [--tls]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut kubeconfig: Option<PathBuf> = None;
    let mut token: Option<String> = None;
    let mut eks_cluster: Option<String> = None;
    let mut tls = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kubeconfig" => match args.next() {
                Some(p) => kubeconfig = Some(PathBuf::from(p)),
                None => return usage(),
            },
            "--token" => match args.next() {
                Some(t) => token = Some(t),
                None => return usage(),
            },
            "--eks-cluster" => match args.next() {
                Some(c) => eks_cluster = Some(c),
                None => return usage(),
            },
            "--tls" => tls = true,
            "-h" | "--help" => {
                let _ = usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let kubeconfig = kubeconfig.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("meshctl-kube-sandbox-{}.yaml", std::process::id()))
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let options = ApiServerOptions {
            bearer_token: token.clone(),
            tls: tls || token.is_some() || eks_cluster.is_some(),
            eks_cluster,
            ..ApiServerOptions::default()
        };
        let server = match ApiServer::start(options).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = server.write_kubeconfig(&kubeconfig, token.as_deref()) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("sandbox API server listening on {}", server.url());
        println!("export KUBECONFIG={}", kubeconfig.display());
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: installing the SIGTERM handler: {e}");
                    return ExitCode::FAILURE;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        server.shutdown().await;
        let _ = std::fs::remove_file(&kubeconfig);
        ExitCode::SUCCESS
    })
}
