//! Drift report renderers: text for people and logs, JSON for tools (versioned), Markdown for an
//! issue or a pull-request comment, and the Prometheus text format for node_exporter's textfile
//! collector.

use super::{DriftKind, DriftReport, DriftedField, ResourceDrift};
use meshctl_model::diagnostic::escape_terminal;
use serde_json::Value;
use std::fmt::Write as _;

/// How to put things right, said after any drift.
const WHAT_NEXT: &str =
    "Put the world back with `meshctl apply`, or accept it into state with `meshctl refresh`.";

fn value(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".to_string(),
        Some(v) => v.to_string(),
    }
}

/// One line per field, or per object of a deleted resource.
fn details(resource: &ResourceDrift) -> Vec<String> {
    match resource.drift {
        DriftKind::Changed => resource.fields.iter().map(field_line).collect(),
        DriftKind::Deleted => resource
            .objects
            .iter()
            .map(|o| format!("{o} no longer exists"))
            .collect(),
        DriftKind::Tainted => resource.reason.iter().cloned().collect(),
    }
}

fn field_line(field: &DriftedField) -> String {
    format!(
        "{}: {} → {}",
        field.path,
        value(field.recorded.as_ref()),
        value(field.live.as_ref())
    )
}

fn headline(resource: &ResourceDrift) -> (&'static str, &'static str, &'static str) {
    match resource.drift {
        DriftKind::Changed => ("~", "33", "changed outside meshctl"),
        DriftKind::Deleted => ("-", "31", "deleted outside meshctl"),
        DriftKind::Tainted => ("!", "31", "tainted"),
    }
}

fn not_read_note(report: &DriftReport) -> Option<String> {
    (!report.not_read.is_empty()).then(|| {
        let names: Vec<String> = report.not_read.iter().map(|a| a.to_string()).collect();
        format!(
            "Not read (this build has no provider for their kinds): {}",
            names.join(", ")
        )
    })
}

/// For terminals and logs: a summary line, then each drifted resource with its fields.
pub fn text(report: &DriftReport, color: bool) -> String {
    let mut out = String::new();
    if !report.has_drift() {
        let _ = writeln!(
            out,
            "No drift in stack {}: the live world matches the last apply ({} resources checked at {}).",
            report.stack, report.resources_checked, report.checked_at
        );
    } else {
        let _ = writeln!(
            out,
            "Drift in stack {}: {} of {} resources moved from the last apply (checked at {}).\n",
            report.stack, report.drifted, report.resources_checked, report.checked_at
        );
        for resource in &report.resources {
            let (symbol, tint, what) = headline(resource);
            let symbol = if color {
                format!("\x1b[{tint}m{symbol}\x1b[0m")
            } else {
                symbol.to_string()
            };
            let _ = writeln!(out, "{symbol} {}: {what}", resource.address);
            for line in details(resource) {
                // Values and object names come from the live world: shown, never acted on.
                let _ = writeln!(out, "    {}", escape_terminal(&line));
            }
        }
        let _ = writeln!(out, "\n{WHAT_NEXT}");
    }
    for ignored in &report.ignored {
        let field = &ignored.field;
        let line = format!(
            "ignored: {} {} (lifecycle.ignore_changes)",
            ignored.address,
            field_line(field)
        );
        let _ = writeln!(out, "{}", escape_terminal(&line));
    }
    if let Some(note) = not_read_note(report) {
        let _ = writeln!(out, "{note}");
    }
    out
}

/// The report as a JSON document (`format_version` 1).
pub fn json(report: &DriftReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Markdown: one table row per field (or deleted object), for an issue or a PR comment.
pub fn markdown(report: &DriftReport) -> String {
    let mut out = format!("### meshctl drift: `{}`\n\n", report.stack);
    if !report.has_drift() {
        let _ = writeln!(
            out,
            "No drift: the live world matches the last apply ({} resources checked at {}).",
            report.resources_checked, report.checked_at
        );
    } else {
        let _ = writeln!(
            out,
            "**{} of {}** resources moved from the last apply (checked at {}).\n",
            report.drifted, report.resources_checked, report.checked_at
        );
        out.push_str("| Resource | Drift | Field | Recorded | Live |\n|---|---|---|---|---|\n");
        for resource in &report.resources {
            let drift = resource.drift.as_str();
            let address = format!("`{}`", resource.address);
            match resource.drift {
                DriftKind::Changed => {
                    for f in &resource.fields {
                        let _ = writeln!(
                            out,
                            "| {address} | {drift} | {} | {} | {} |",
                            code(&f.path),
                            code(&value(f.recorded.as_ref())),
                            code(&value(f.live.as_ref()))
                        );
                    }
                }
                DriftKind::Deleted => {
                    for o in &resource.objects {
                        let _ = writeln!(
                            out,
                            "| {address} | {drift} | {} | exists | (absent) |",
                            code(o)
                        );
                    }
                    if resource.objects.is_empty() {
                        let _ = writeln!(out, "| {address} | {drift} | | exists | (absent) |");
                    }
                }
                DriftKind::Tainted => {
                    let reason = resource.reason.as_deref().unwrap_or("");
                    let _ = writeln!(out, "| {address} | {drift} | | {} | |", cell(reason));
                }
            }
        }
        let _ = writeln!(out, "\n{WHAT_NEXT}");
    }
    if !report.ignored.is_empty() {
        out.push_str("\nIgnored by `lifecycle.ignore_changes` (not drift):\n\n");
        for ignored in &report.ignored {
            let _ = writeln!(
                out,
                "- `{}` {}",
                ignored.address,
                cell(&field_line(&ignored.field))
            );
        }
    }
    if let Some(note) = not_read_note(report) {
        let _ = writeln!(out, "\n{note}");
    }
    out
}

/// Text in a table cell: pipes would end the cell, newlines the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Inline code in a table cell; a backtick inside takes a longer fence.
fn code(text: &str) -> String {
    let text = cell(text);
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// The Prometheus text exposition format, for node_exporter's textfile collector: drifted
/// resources per kind (every kind state records, so a fixed drift reads 0 rather than vanishing),
/// one series per drifted field, when the check ran, and whether it succeeded.
pub fn prometheus(report: &DriftReport) -> String {
    let stack = label(&report.stack);
    let mut out = String::new();
    out.push_str("# HELP meshctl_drift_resources Resources whose live state differs from the last apply.\n# TYPE meshctl_drift_resources gauge\n");
    for kind in &report.kinds {
        let count = report.resources.iter().filter(|r| r.kind == *kind).count();
        let _ = writeln!(
            out,
            "meshctl_drift_resources{{stack=\"{stack}\",kind=\"{}\"}} {count}",
            kind.as_str()
        );
    }
    out.push_str("# HELP meshctl_drift_field A field (or, for deleted and tainted resources, an object) that differs from the last apply.\n# TYPE meshctl_drift_field gauge\n");
    for resource in &report.resources {
        let fields: Vec<String> = match resource.drift {
            DriftKind::Changed => resource.fields.iter().map(|f| f.path.clone()).collect(),
            DriftKind::Deleted if !resource.objects.is_empty() => resource.objects.clone(),
            _ => vec![String::new()],
        };
        for field in fields {
            let _ = writeln!(
                out,
                "meshctl_drift_field{{stack=\"{stack}\",address=\"{}\",drift=\"{}\",field=\"{}\"}} 1",
                label(&resource.address.to_string()),
                resource.drift.as_str(),
                label(&field)
            );
        }
    }
    out.push_str(&run_metrics(&report.stack, report.checked_at_unix, true));
    out
}

/// When the check ran and whether it succeeded: all a failed check can still say.
pub fn run_metrics(stack: &str, unix_time: u64, success: bool) -> String {
    let stack = label(stack);
    format!(
        "# HELP meshctl_drift_last_run_timestamp_seconds When the drift check ran (Unix time).\n# TYPE meshctl_drift_last_run_timestamp_seconds gauge\nmeshctl_drift_last_run_timestamp_seconds{{stack=\"{stack}\"}} {unix_time}\n# HELP meshctl_drift_success Whether the drift check could read state and the live world.\n# TYPE meshctl_drift_success gauge\nmeshctl_drift_success{{stack=\"{stack}\"}} {}\n",
        u8::from(success)
    )
}

/// A label value as the text format escapes it: backslash, double quote and newline.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::DRIFT_FORMAT_VERSION;
    use meshctl_model::{Address, Kind};
    use serde_json::json;

    const ANNOTATION: &str = r#"Ingress istio-system/public metadata.annotations["alb.ingress.kubernetes.io/healthcheck-path"]"#;

    fn sample() -> DriftReport {
        DriftReport {
            format_version: DRIFT_FORMAT_VERSION,
            stack: "moamoa".into(),
            checked_at: "2026-11-30T02:00:00Z".into(),
            checked_at_unix: 1_795_999_200,
            resources_checked: 3,
            drifted: 2,
            resources: vec![
                ResourceDrift {
                    address: Address::new(Kind::Alb, "public"),
                    kind: Kind::Alb,
                    drift: DriftKind::Changed,
                    fields: vec![DriftedField {
                        path: ANNOTATION.into(),
                        recorded: Some(json!("/healthz/ready")),
                        live: Some(json!("/x|y")),
                    }],
                    objects: vec![],
                    reason: None,
                },
                ResourceDrift {
                    address: Address::new(Kind::Gateway, "monitor-gateway"),
                    kind: Kind::Gateway,
                    drift: DriftKind::Deleted,
                    fields: vec![],
                    objects: vec!["Gateway istio-system/monitor-gateway".into()],
                    reason: None,
                },
            ],
            not_read: vec![],
            ignored: vec![],
            kinds: [Kind::Alb, Kind::Gateway, Kind::Vpc].into(),
        }
    }

    #[test]
    fn text_names_each_field_with_old_and_new() {
        let text = text(&sample(), false);
        assert!(text.contains("~ alb.public: changed outside meshctl\n    Ingress istio-system/public metadata.annotations[\"alb.ingress.kubernetes.io/healthcheck-path\"]: \"/healthz/ready\" → \"/x|y\"\n"), "{text}");
        assert!(text.contains("- gateway.monitor-gateway: deleted outside meshctl\n    Gateway istio-system/monitor-gateway no longer exists\n"), "{text}");
    }

    #[test]
    fn text_escapes_terminal_controls_from_the_live_world() {
        let mut report = sample();
        report.resources[0].fields[0].live = Some(json!("/x\u{202e}y"));
        report.resources[1].objects[0] = "Gateway istio-system/m\u{1b}[2J".into();
        let text = text(&report, false);
        assert!(text.contains(r#"→ "/x\u{202e}y""#), "{text}");
        assert!(
            text.contains(r"Gateway istio-system/m\u{1b}[2J no longer exists"),
            "{text}"
        );
        assert!(
            !text.contains('\u{202e}') && !text.contains('\u{1b}'),
            "{text}"
        );
    }

    #[test]
    fn markdown_escapes_pipes_in_cells() {
        let md = markdown(&sample());
        assert!(md.contains("| `alb.public` | changed | `Ingress istio-system/public metadata.annotations[\"alb.ingress.kubernetes.io/healthcheck-path\"]` | `\"/healthz/ready\"` | `\"/x\\|y\"` |\n"), "{md}");
    }

    #[test]
    fn prometheus_counts_every_kind_and_escapes_label_values() {
        let metrics = prometheus(&sample());
        for line in [
            "meshctl_drift_resources{stack=\"moamoa\",kind=\"alb\"} 1\n",
            "meshctl_drift_resources{stack=\"moamoa\",kind=\"vpc\"} 0\n",
            "meshctl_drift_field{stack=\"moamoa\",address=\"alb.public\",drift=\"changed\",field=\"Ingress istio-system/public metadata.annotations[\\\"alb.ingress.kubernetes.io/healthcheck-path\\\"]\"} 1\n",
            "meshctl_drift_field{stack=\"moamoa\",address=\"gateway.monitor-gateway\",drift=\"deleted\",field=\"Gateway istio-system/monitor-gateway\"} 1\n",
            "meshctl_drift_last_run_timestamp_seconds{stack=\"moamoa\"} 1795999200\n",
            "meshctl_drift_success{stack=\"moamoa\"} 1\n",
        ] {
            assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
        }
    }

    #[test]
    fn json_carries_paths_and_both_values() {
        let doc: Value = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(doc["format_version"], 1);
        assert_eq!(doc["resources"][0]["fields"][0]["path"], ANNOTATION);
        assert_eq!(
            doc["resources"][0]["fields"][0]["recorded"],
            "/healthz/ready"
        );
        assert_eq!(doc["resources"][1]["drift"], "deleted");
    }
}
