//! A verify report as text (a line per host; a tree of checks under a broken one, with the
//! object and field at fault), JSON (docs/verify.md) and Markdown (for a pull request or an
//! incident channel). What came from the world is escaped before it reaches a terminal.

use crate::report::{HostReport, Report, Status, Step};
use meshctl_model::diagnostic::escape_terminal;
use std::fmt::Write as _;

fn mark(status: Status) -> &'static str {
    match status {
        Status::Ok => "✓",
        Status::Unchecked => "?",
        Status::Broken => "✗",
    }
}

fn paint(text: &str, status: Status, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match status {
        Status::Ok => "32",
        Status::Unchecked => "33",
        Status::Broken => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A link id as read: `a→b` shown as `a → b`.
fn arrow(link: &str) -> String {
    link.replace('→', " → ")
}

/// The text report: one line per host; under a host that is not all good, each check of its
/// path, and under the failed ones the object, field, stack resource and what to do.
pub fn text(report: &Report, color: bool) -> String {
    let mut out = String::new();
    let width = report.hosts.iter().map(|h| h.host.len()).max().unwrap_or(0);
    for host in &report.hosts {
        let name = escape_terminal(&host.host);
        match host.status {
            Status::Ok => {
                let _ = writeln!(
                    out,
                    "{} {name:<width$}  {}",
                    paint(mark(Status::Ok), Status::Ok, color),
                    path_line(host)
                );
            }
            status => {
                let headline = match host.first_broken_step() {
                    Some(step) => format!(
                        "broken at {} ({}): {}",
                        arrow(&step.link),
                        escape_terminal(&step.what),
                        escape_terminal(&step.message)
                    ),
                    None => "not every link could be checked".to_string(),
                };
                let _ = writeln!(
                    out,
                    "{} {name:<width$}  {headline}",
                    paint(mark(status), status, color)
                );
                tree(&mut out, host, color);
            }
        }
    }
    let broken = report
        .hosts
        .iter()
        .filter(|h| h.status == Status::Broken)
        .count();
    let unchecked = report
        .hosts
        .iter()
        .filter(|h| h.status == Status::Unchecked)
        .count();
    let _ = writeln!(
        out,
        "\n{} host(s): {} reachable, {broken} broken{} (stack {}, checked {}, reads {} ms).",
        report.hosts.len(),
        report.hosts.len() - broken - unchecked,
        if unchecked > 0 {
            format!(", {unchecked} not fully checked")
        } else {
            String::new()
        },
        escape_terminal(&report.stack),
        report.checked_at,
        report.read_ms
    );
    out
}

/// The nodes of a good path, from its steps' links in order.
fn path_line(host: &HostReport) -> String {
    let mut nodes: Vec<&str> = Vec::new();
    for step in &host.steps {
        if let Some((from, to)) = step.link.split_once('→') {
            for node in [from, to] {
                if node != "client" && !nodes.contains(&node) {
                    nodes.push(node);
                }
            }
        }
    }
    escape_terminal(&nodes.join(" → ")).into_owned()
}

fn tree(out: &mut String, host: &HostReport, color: bool) {
    for step in &host.steps {
        let _ = writeln!(
            out,
            "    {} {}  {}: {}",
            paint(mark(step.status), step.status, color),
            arrow(&step.link),
            escape_terminal(&step.what),
            escape_terminal(&step.message)
        );
        if step.status == Status::Broken {
            details(out, step, "        ");
        }
    }
}

fn details(out: &mut String, step: &Step, indent: &str) {
    let lines = [
        ("object", &step.object),
        ("field", &step.field),
        ("stack", &step.resource),
        ("help", &step.help),
    ];
    for (name, value) in lines {
        if let Some(value) = value {
            let _ = writeln!(out, "{indent}{name}: {}", escape_terminal(value));
        }
    }
}

/// The JSON document of docs/verify.md.
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Markdown: a table of hosts, then each broken host's checks.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let broken = report
        .hosts
        .iter()
        .filter(|h| h.status == Status::Broken)
        .count();
    let _ = writeln!(
        out,
        "### meshctl verify: {}\n\n{} host(s), {broken} broken, checked {}.\n",
        cell(&report.stack),
        report.hosts.len(),
        report.checked_at
    );
    let _ = writeln!(
        out,
        "| | Host | First broken link | What |\n|---|---|---|---|"
    );
    for host in &report.hosts {
        let (link, what) = match host.first_broken_step() {
            Some(step) => (
                format!("`{}`", cell(&arrow(&step.link))),
                format!("{}: {}", cell(&step.what), cell(&step.message)),
            ),
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {link} | {what} |",
            mark(host.status),
            cell(&host.host)
        );
    }
    for host in report.hosts.iter().filter(|h| h.status != Status::Ok) {
        let _ = writeln!(out, "\n#### `{}`\n", cell(&host.host));
        for step in &host.steps {
            let _ = writeln!(
                out,
                "- {} `{}` {}: {}",
                mark(step.status),
                cell(&arrow(&step.link)),
                cell(&step.what),
                cell(&step.message)
            );
            if step.status == Status::Broken {
                for (name, value) in [
                    ("object", &step.object),
                    ("field", &step.field),
                    ("stack", &step.resource),
                    ("help", &step.help),
                ] {
                    if let Some(value) = value {
                        let _ = writeln!(out, "  - {name}: {}", cell(value));
                    }
                }
            }
        }
    }
    out
}

/// Text safe in a Markdown table cell: pipes escaped, newlines as spaces, no terminal controls.
fn cell(text: &str) -> String {
    escape_terminal(text)
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}
