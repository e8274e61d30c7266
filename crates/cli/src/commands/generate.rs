//! `meshctl generate --cluster NAME --region R [--zone DOMAIN]`: writes a stack file from a live
//! account and cluster built by hand (docs/generate.md). provider-aws and provider-kube discover
//! (reading only); meshctl-generate writes the stack, with `import:` on every resource.

use crate::output::{errln, outln};
use anyhow::Result;
use meshctl_generate::Facts;
use meshctl_model::stack::KubeAccess;
use meshctl_provider::StackSettings;
use meshctl_provider_aws::AwsProvider;
use meshctl_provider_kube::KubeProvider;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// The EKS cluster's name.
    #[arg(long)]
    cluster: String,
    /// The cluster's region.
    #[arg(long)]
    region: String,
    /// The public hosted zone whose records alias the cluster's balancers (e.g. example.com).
    #[arg(long, value_name = "DOMAIN")]
    zone: Option<String>,
    /// The stack's name [default: the cluster's name, as a resource name].
    #[arg(long)]
    stack: Option<String>,
    /// Write the stack file here instead of standard output (refused if the file exists).
    #[arg(short = 'o', long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let stack = args
        .stack
        .clone()
        .unwrap_or_else(|| meshctl_generate::compose::resource_name(&args.cluster));
    if let Some(out) = &args.out {
        if out.exists() {
            errln!(
                "error: {} exists: generate writes a new stack file and never overwrites one\n  help: give another -o FILE, or move the file away",
                out.display()
            );
            return Ok(ExitCode::from(1));
        }
    }
    let settings = StackSettings {
        stack: stack.clone(),
        region: args.region.clone(),
        kube: Some(KubeAccess {
            from_cluster: Some("main".to_string()),
            kubeconfig: None,
            context: None,
            endpoint_override: None,
        }),
    };
    let discovered = crate::runtime::block_on(async {
        let config = meshctl_provider_aws::sdk_config(&args.region).await;
        let aws = match meshctl_provider_aws::discover::discover(
            &config,
            &args.region,
            &args.cluster,
            args.zone.as_deref(),
        )
        .await
        {
            Ok(aws) => aws,
            Err(e) => return Err(format!("error: {e}\n  help: {}", e.help())),
        };
        let balancers = Arc::new(AwsProvider::with_config(settings.clone(), &config));
        let mut kube = KubeProvider::new(settings.clone(), balancers);
        // helm reaches the cluster through this program's EKS token plugin, as in apply.
        if let Some(command) = crate::commands::eks_token::token_command() {
            kube = kube.with_token_command(command);
        }
        let kube = kube
            .discover(&aws.cluster)
            .await
            .map_err(|e| format!("error: reading cluster {}: {}", args.cluster, e.explained()))?;
        Ok(Facts {
            stack: stack.clone(),
            region: args.region.clone(),
            aws,
            kube,
        })
    })?;
    let facts = match discovered {
        Ok(facts) => facts,
        Err(message) => {
            errln!("{message}");
            return Ok(ExitCode::from(1));
        }
    };
    let text = meshctl_generate::compose(&facts);
    match &args.out {
        Some(out) => {
            let mut file = match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(out)
            {
                Ok(file) => file,
                Err(e) => {
                    errln!("error: cannot create {}: {e}", out.display());
                    return Ok(ExitCode::from(1));
                }
            };
            std::io::Write::write_all(&mut file, text.as_bytes())?;
            errln!(
                "Wrote {} ({} lines). Next: `meshctl validate -f {0}`, then `meshctl plan -f {0}`.",
                out.display(),
                text.lines().count()
            );
        }
        None => outln!("{}", text.trim_end()),
    }
    Ok(ExitCode::SUCCESS)
}
