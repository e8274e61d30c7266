//! Plan renderers: text for terminals and logs (summary first), JSON (versioned, see
//! docs/plan-json.md) for tools, Markdown for pull-request comments. Every rendering passes
//! through `meshctl_model::redact`: a value that looks like a credential is shown as
//! `<redacted>` whatever field, key, reason or risk holds it (the plan itself keeps it, to apply).

use crate::blast::BlastRadius;
use crate::diff::FieldChange;
use crate::{Action, Plan, ResourceChange};
use meshctl_model::diagnostic::escape_terminal;
use meshctl_model::redact::{redact, redact_value};
use meshctl_model::Address;
use serde_json::Value;
use std::fmt::Write as _;

const UNKNOWN: &str = "(known after apply)";
const SENSITIVE: &str = "(sensitive)";

/// The one-line summary every rendering starts with.
pub fn summary_line(plan: &Plan) -> String {
    let s = plan.summary();
    if !plan.has_changes() {
        return format!(
            "No changes. {} resources are up to date{}.",
            s.unchanged,
            if s.read > 0 {
                format!(", {} read", s.read)
            } else {
                String::new()
            }
        );
    }
    let mut parts = Vec::new();
    if s.import > 0 {
        parts.push(format!("{} to import", s.import));
    }
    parts.extend([
        format!("{} to create", s.create),
        format!("{} to update", s.update),
        format!("{} to replace", s.replace),
        format!("{} to delete", s.delete),
    ]);
    if s.read > 0 {
        parts.push(format!("{} to read", s.read));
    }
    parts.push(format!("{} unchanged", s.unchanged));
    format!("Plan: {}.", parts.join(", "))
}

fn symbol(change: &ResourceChange) -> &'static str {
    match change.action {
        Action::NoOp => " ",
        Action::Create => "+",
        Action::Update => "~",
        Action::Replace if change.create_before_destroy => "+/-",
        Action::Replace => "-/+",
        Action::Delete => "-",
        Action::Read => "<=",
        Action::Import => "<-",
    }
}

fn tint(action: Action) -> &'static str {
    match action {
        Action::Create => "32",
        Action::Update => "33",
        Action::Replace | Action::Delete => "31",
        Action::Read => "36",
        Action::Import => "35",
        Action::NoOp => "0",
    }
}

fn show(value: Option<&Value>, sensitive: bool) -> String {
    match value {
        _ if sensitive => SENSITIVE.to_string(),
        None => "(none)".to_string(),
        Some(Value::String(s)) if s.contains("${") => UNKNOWN.to_string(),
        // JSON escapes C0 controls; bidirectional overrides and C1 controls need escaping too.
        Some(v) => escape_terminal(&v.to_string()).into_owned(),
    }
}

/// The fields a reader is shown: without the whole-resource `{}` that a kind with no fields (or
/// one that gains or loses its first field) diffs as, which says nothing (JSON keeps it).
fn shown_fields(change: &ResourceChange) -> impl Iterator<Item = &FieldChange> {
    let empty = |v: &Option<Value>| match v {
        None => true,
        Some(Value::Object(map)) => map.is_empty(),
        Some(_) => false,
    };
    change
        .fields
        .iter()
        .filter(move |f| !(f.path.is_empty() && empty(&f.old) && empty(&f.new)))
}

fn field_line(f: &FieldChange, action: Action) -> String {
    let new = if f.unknown && !f.sensitive {
        UNKNOWN.to_string()
    } else {
        show(f.new.as_ref(), f.sensitive)
    };
    let mut line = match (action, &f.old, &f.new) {
        (Action::Create | Action::Read, _, _) => format!("{} = {new}", f.path),
        (_, None, Some(_)) => format!("{}: (none) → {new}", f.path),
        (_, Some(_), None) => format!("{}: {} → (none)", f.path, show(f.old.as_ref(), f.sensitive)),
        _ => format!("{}: {} → {new}", f.path, show(f.old.as_ref(), f.sensitive)),
    };
    if f.forces_replacement {
        line.push_str("   # forces replacement");
    }
    line
}

/// Human-readable plan: summary line, warnings, then each change with its fields and risks.
pub fn text(plan: &Plan, color: bool) -> String {
    redact(&unredacted_text(plan, color)).into_owned()
}

fn unredacted_text(plan: &Plan, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color && code != "0" {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", paint("1", &summary_line(plan)));
    if plan.has_changes() {
        let radius = BlastRadius::of(plan);
        if radius.is_hitless() {
            let _ = writeln!(out, "Blast radius: {HITLESS}");
        } else {
            let _ = writeln!(out, "Blast radius:");
            for (label, line) in blast_lines(&radius, &|a| a.to_string()) {
                let _ = writeln!(out, "  {label}: {}", escape_terminal(&line));
            }
        }
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "{} {}", paint("33", "warning:"), escape_terminal(w));
    }
    for change in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        out.push('\n');
        let mut header = format!(
            "{} {} ({})",
            symbol(change),
            change.address,
            change.action.verb()
        );
        if !change.reasons.is_empty() {
            header.push_str(&format!(": {}", change.reasons.join("; ")));
        }
        let header = escape_terminal(&header);
        let _ = writeln!(out, "{}", paint(tint(change.action), &header));
        for f in shown_fields(change) {
            let _ = writeln!(out, "    {}", field_line(f, change.action));
            if let Some(diff) = &f.text_diff {
                for line in diff
                    .lines()
                    .filter(|l| !l.starts_with("---") && !l.starts_with("+++"))
                {
                    let code = if line.starts_with('+') {
                        "32"
                    } else if line.starts_with('-') {
                        "31"
                    } else {
                        "0"
                    };
                    let _ = writeln!(out, "        {}", paint(code, &escape_terminal(line)));
                }
            }
        }
        if change.action == Action::Delete {
            for o in &change.prior_objects {
                let _ = writeln!(out, "    owns {} {}", o.kind, o.id);
            }
        }
        if change.action == Action::Import {
            for o in &change.prior_objects {
                let line = format!("    adopts {} {}", o.kind, o.id);
                let _ = writeln!(out, "{}", escape_terminal(&line));
            }
        }
        for r in &change.risks {
            let _ = writeln!(
                out,
                "    {} {}",
                paint("1;33", "! risk:"),
                escape_terminal(r)
            );
        }
    }
    for (change, f) in ignored_fields(plan) {
        let _ = writeln!(
            out,
            "\n{} {} {}",
            paint("2", "ignored:"),
            change.address,
            escape_terminal(&ignored_line(f))
        );
    }
    out
}

/// Differences `lifecycle.ignore_changes` leaves alone, in plan order.
fn ignored_fields(plan: &Plan) -> impl Iterator<Item = (&ResourceChange, &FieldChange)> {
    plan.changes
        .iter()
        .flat_map(|c| c.ignored.iter().map(move |f| (c, f)))
}

/// `scaling.desired: 3 (the stack says 2)`: the world's value stays.
fn ignored_line(f: &FieldChange) -> String {
    format!(
        "{}: {} (the stack says {}), left as it is by lifecycle.ignore_changes",
        f.path,
        show(f.old.as_ref(), f.sensitive),
        show(f.new.as_ref(), f.sensitive)
    )
}

/// The versioned JSON document: the plan itself plus its summary.
pub fn json(plan: &Plan) -> String {
    let mut value = serde_json::to_value(plan).unwrap_or(Value::Null);
    redact_value(&mut value);
    if let Value::Object(map) = &mut value {
        map.insert(
            "summary".to_string(),
            serde_json::to_value(plan.summary()).unwrap_or(Value::Null),
        );
        map.insert("has_changes".to_string(), Value::Bool(plan.has_changes()));
        map.insert(
            "blast_radius".to_string(),
            serde_json::to_value(BlastRadius::of(plan)).unwrap_or(Value::Null),
        );
    }
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// A pull-request comment: summary, a table of changes, risks, and diffs in a fold.
pub fn markdown(plan: &Plan) -> String {
    redact(&unredacted_markdown(plan)).into_owned()
}

fn unredacted_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### meshctl plan: `{}`\n\n**{}**\n",
        plan.stack,
        summary_line(plan)
    );
    if plan.has_changes() {
        let radius = BlastRadius::of(plan);
        if radius.is_hitless() {
            let _ = writeln!(out, "**Blast radius**: {HITLESS}\n");
        } else {
            out.push_str("**Blast radius**\n\n");
            for (label, line) in blast_lines(&radius, &|a| format!("`{a}`")) {
                let _ = writeln!(out, "- {label}: {line}");
            }
            out.push('\n');
        }
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "> ⚠️ {w}\n");
    }
    let ignored: Vec<String> = ignored_fields(plan)
        .map(|(c, f)| format!("- `{}` {}", c.address, ignored_line(f)))
        .collect();
    if !ignored.is_empty() {
        let _ = writeln!(
            out,
            "Ignored (`lifecycle.ignore_changes`):\n\n{}\n",
            ignored.join("\n")
        );
    }
    let changed: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    if changed.is_empty() {
        return out;
    }
    out.push_str("| | resource | action | why |\n|---|---|---|---|\n");
    for c in &changed {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} |",
            symbol(c),
            c.address,
            c.action.verb(),
            c.reasons.join("; ").replace('|', "\\|")
        );
    }
    let risky: Vec<(&ResourceChange, &String)> = changed
        .iter()
        .flat_map(|c| c.risks.iter().map(move |r| (*c, r)))
        .collect();
    if !risky.is_empty() {
        out.push_str("\n**Risks**\n\n");
        for (c, r) in risky {
            let _ = writeln!(out, "- `{}`: {r}", c.address);
        }
    }
    out.push_str("\n<details><summary>Field changes</summary>\n\n```diff\n");
    for c in &changed {
        let _ = writeln!(
            out,
            "{} {} ({})",
            symbol(c).chars().next().unwrap_or(' '),
            c.address,
            c.action.verb()
        );
        for f in shown_fields(c) {
            let _ = writeln!(
                out,
                "{}     {}",
                if c.action == Action::Delete {
                    '-'
                } else if f.old.is_none() {
                    '+'
                } else {
                    '!'
                },
                field_line(f, c.action)
            );
        }
    }
    out.push_str("```\n\n</details>\n");
    out
}

/// The blast radius of a plan whose every change is hitless.
const HITLESS: &str =
    "every change is hitless (no replacement, no public name changed, nothing interrupts traffic).";

/// How many addresses a line of the blast radius names before "and N more" (JSON has them all).
const BLAST_NAMES_SHOWN: usize = 10;

/// The blast radius as labelled lines, each address written by `name` (plain or as code).
fn blast_lines(
    radius: &BlastRadius,
    name: &dyn Fn(&Address) -> String,
) -> Vec<(&'static str, String)> {
    let list = |items: Vec<String>| -> String {
        if items.is_empty() {
            return "none".to_string();
        }
        let more = items.len().saturating_sub(BLAST_NAMES_SHOWN);
        let mut line = items
            .into_iter()
            .take(BLAST_NAMES_SHOWN)
            .collect::<Vec<_>>()
            .join(", ");
        if more > 0 {
            line.push_str(&format!(" and {more} more"));
        }
        line
    };
    let public = radius
        .public_names
        .iter()
        .map(|p| {
            format!(
                "{} {} ({})",
                name(&p.address),
                p.outputs.join(", "),
                p.action.verb()
            )
        })
        .collect();
    let replacements = radius
        .replacements
        .iter()
        .map(|r| {
            let count = r.dependents.len();
            let dependents = r
                .dependents
                .iter()
                .take(BLAST_NAMES_SHOWN)
                .map(name)
                .collect::<Vec<_>>();
            let more = count.saturating_sub(BLAST_NAMES_SHOWN);
            match count {
                0 => format!("{} drags along no dependent", name(&r.address)),
                _ => format!(
                    "{} drags along {count} dependent{} ({}{})",
                    name(&r.address),
                    if count == 1 { "" } else { "s" },
                    dependents.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
            }
        })
        .collect();
    let interrupting = radius
        .interrupting
        .iter()
        .map(|i| format!("{} ({})", name(&i.address), i.action.verb()))
        .collect();
    let hitless = radius.hitless.iter().map(name).collect();
    vec![
        ("public names changed", list(public)),
        ("replacements", list(replacements)),
        ("interrupts traffic", list(interrupting)),
        ("hitless", list(hitless)),
    ]
}
