//! `meshctl graph`: print the dependency DAG of a stack as Graphviz dot or Mermaid, or draw its
//! traffic path as SVG.

use crate::input::{stderr_color, StackArgs};
use crate::state_access::StateArgs;
use anyhow::Result;
use clap::ValueEnum;
use meshctl_graph::svg::LinkStatus;
use meshctl_model::diagnostic::render_text;
use meshctl_verify::Status;
use std::collections::BTreeMap;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
    /// The traffic path (not the dependency DAG) as an SVG picture.
    Svg,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    stack: StackArgs,
    /// Output format: the dependency DAG as Graphviz dot or Mermaid, or `svg`: the traffic path
    /// instead (client → DNS names → balancers → gateways → Gateways → VirtualServices →
    /// Services, in AWS and cluster bands), each link coloured by its last verify result.
    #[arg(long, value_enum, default_value = "dot")]
    format: Format,
    /// Where the state is, and with it the last verify result `svg` colours by.
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let source = args.stack.source()?;
    let vars = match args.stack.overrides() {
        Ok(vars) => vars,
        Err(problem) => {
            crate::output::err!(
                "{}",
                render_text(&[problem.diagnostic], &problem.file, stderr_color())
            );
            return Ok(ExitCode::from(1));
        }
    };
    let (checked, diagnostics) = meshctl_graph::validate(&source, &vars);
    crate::output::err!("{}", render_text(&diagnostics, &source, stderr_color()));
    let Some((stack, graph)) = checked else {
        return Ok(ExitCode::from(1));
    };
    let text = match args.format {
        Format::Dot | Format::Mermaid => {
            meshctl_graph::render(&stack, &graph, matches!(args.format, Format::Mermaid))
        }
        Format::Svg => {
            // No result yet, or one that cannot be read, draws every link unchecked: the
            // picture of the stack is still worth having.
            let last = match crate::commands::verify::last_link_status(&args.stack, &args.state) {
                Ok(last) => last.unwrap_or_default(),
                Err(problem) => {
                    crate::output::err!("warning: every link is drawn unchecked: {problem:#}");
                    BTreeMap::new()
                }
            };
            meshctl_graph::picture::render_svg(
                &meshctl_graph::traffic::traffic(&stack),
                &picture_statuses(&last),
            )
        }
    };
    crate::output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The picture's colour for each link of a verify report (`verify --format svg` draws with it
/// too).
pub fn picture_statuses(last: &BTreeMap<String, Status>) -> BTreeMap<String, LinkStatus> {
    last.iter()
        .map(|(link, status)| {
            let drawn = match status {
                Status::Ok => LinkStatus::Ok,
                Status::Broken => LinkStatus::Broken,
                Status::Unchecked => LinkStatus::Unchecked,
            };
            (link.clone(), drawn)
        })
        .collect()
}
