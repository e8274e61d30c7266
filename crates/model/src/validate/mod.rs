//! Checks beyond the schema: per-resource rules (`LocalChecks`), the static-credential guard, and
//! the cross-resource traps of docs/stack-language.md (`cross`).

pub mod cross;
pub mod secrets;

use crate::diagnostic::Diagnostic;
use crate::path::FieldPath;
use crate::stack::Stack;
use std::collections::HashSet;

/// Collects problems of one resource; kinds report with paths relative to the resource.
pub struct LocalChecks {
    base: FieldPath,
    pub diagnostics: Vec<Diagnostic>,
}

impl LocalChecks {
    pub fn new(base: FieldPath) -> Self {
        LocalChecks {
            base,
            diagnostics: Vec::new(),
        }
    }

    pub fn error(
        &mut self,
        code: &str,
        at: FieldPath,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diagnostics.push(
            Diagnostic::error(code, message)
                .at(self.base.join(&at))
                .help(help),
        );
    }
}

/// Runs every kind's own checks, except on resources read only by setting bad values aside
/// (their defaults would repeat the problem already reported).
pub fn local(stack: &Stack, recovered: &HashSet<usize>, diags: &mut Vec<Diagnostic>) {
    for resource in stack
        .resources
        .iter()
        .filter(|r| !recovered.contains(&r.index))
    {
        let mut cx = LocalChecks::new(resource.path());
        resource.spec.check(&mut cx);
        diags.extend(cx.diagnostics);
    }
}
