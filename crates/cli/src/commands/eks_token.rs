//! `meshctl __eks-token --cluster-name NAME --region REGION` (hidden): the credential plugin the
//! kubeconfig meshctl writes for helm and istioctl names, printing a client-go `ExecCredential`
//! with an EKS token signed now, as `aws eks get-token` does; so the tools never hold a token
//! older than they need.

use anyhow::{Context as _, Result};
use meshctl_provider_kube::access::{self, TokenCommand};
use std::process::ExitCode;

/// The subcommand's name, which the kubeconfig's `exec` names.
pub const NAME: &str = "__eks-token";

#[derive(clap::Args)]
pub struct Args {
    /// The EKS cluster the token is for (signed into it as `x-k8s-aws-id`).
    #[arg(long)]
    cluster_name: String,
    /// The region of the STS host the token names.
    #[arg(long)]
    region: String,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let credential = crate::runtime::block_on(access::plugin_credential(
        &args.cluster_name,
        &args.region,
        |time| humantime::format_rfc3339_seconds(time).to_string(),
    ))?
    .with_context(|| format!("making an EKS token for cluster {}", args.cluster_name))?;
    // The token is the point of this output: not redacted as everything else printed is.
    crate::output::print_credential(&format!("{credential}\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// This very program as the credential plugin helm and istioctl run (`None` when the operating
/// system cannot say where it is; the provider then names `aws eks get-token`).
pub fn token_command() -> Option<TokenCommand> {
    Some(TokenCommand {
        program: std::env::current_exe().ok()?,
        args: vec![NAME.to_string()],
    })
}
