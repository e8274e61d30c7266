//! Edge rule `outputs`: each `${kind.name.output}` in a resource's strings is an
//! `EdgeKind::Interpolation` edge to the resource it names (and an entry of the resource's
//! `outputs_used`), or a diagnostic when it names no resource or an output the kind lacks. In
//! the header (`stack`, `backend`, `kube`…), which is read before anything exists, an output
//! reference is refused. The stack's `outputs:` are checked by the same rules, without edges.

use super::{Index, Links, Rule};
use crate::de::closest;
use crate::diagnostic::Diagnostic;
use crate::interpolate::{interpolations, Expr, OutputRef};
use crate::load::list_or_none;
use crate::path::FieldPath;
use crate::span::Span;
use crate::stack::{Address, Dependency, EdgeKind};
use crate::vars::CharColumns;
use crate::yaml::{Node, NodeKind, ScalarStyle};

pub(super) const RULE: Rule = Rule {
    name: "outputs",
    apply: link_outputs,
};

fn link_outputs(index: &Index, links: &mut Links, diags: &mut Vec<Diagnostic>) {
    refuse_outputs_in_header(index, diags);
    for (i, r) in index.stack.resources.iter().enumerate() {
        let mut used = Vec::new();
        if let Some(node) = index.stack.document.find(&r.path()) {
            collect_output_refs(node, &r.path(), &mut used);
        }
        for (path, span, output) in &used {
            if let Some(target) = check_output_ref(index, path, *span, output, diags) {
                links.edges[i].push(Dependency {
                    target,
                    path: path.clone(),
                    kind: EdgeKind::Interpolation,
                });
            }
        }
        links.outputs_used[i] = used.into_iter().map(|(p, _, o)| (p, o)).collect();
        crate::limits::bound(diags);
    }
    check_stack_outputs(index, diags);
}

/// The stack's `outputs:` read resources' outputs as resources do: each `${kind.name.output}` in
/// them must name a resource of the stack and an output of its kind. They make no edge: nothing
/// is applied for them.
fn check_stack_outputs(index: &Index, diags: &mut Vec<Diagnostic>) {
    let path = FieldPath::root().key("outputs");
    let Some(node) = index.stack.document.get("outputs") else {
        return;
    };
    let mut used = Vec::new();
    collect_output_refs(node, &path, &mut used);
    for (path, span, output) in &used {
        check_output_ref(index, path, *span, output, diags);
        crate::limits::bound(diags);
    }
}

/// The resource `output` (at `path`, `span`) reads, when it is in the stack and its kind has the
/// output; else a diagnostic (none for a resource that failed to read, already reported).
fn check_output_ref(
    index: &Index,
    path: &FieldPath,
    span: Span,
    output: &OutputRef,
    diags: &mut Vec<Diagnostic>,
) -> Option<Address> {
    let target = Address::new(output.kind, output.name.clone());
    if index.broken.contains(&target) {
        return None;
    }
    if !index.by_address.contains_key(&target) {
        diags.push(
            Diagnostic::error(
                "dangling-reference",
                format!("`{output}` refers to `{target}`, which is not in this stack"),
            )
            .at(path.clone())
            .with_span(span)
            .help(index.suggest_address(&target)),
        );
        return None;
    }
    let outputs = output.kind.schema().outputs;
    if !outputs.contains(&output.output.as_str()) {
        let help = match closest(&output.output, outputs.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("{} outputs: {}", output.kind, list_or_none(outputs)),
        };
        diags.push(
            Diagnostic::error(
                "unknown-output",
                format!("{} has no output `{}`", output.kind, output.output),
            )
            .at(path.clone())
            .with_span(span)
            .help(help),
        );
        return None;
    }
    Some(target)
}

/// The header names the state and the cluster before any resource exists, so it cannot wait for
/// an output: left as text, `backend: { local: state/${vpc.main.id} }` would quietly name a
/// directory of that name.
fn refuse_outputs_in_header(index: &Index, diags: &mut Vec<Diagnostic>) {
    let header = index
        .stack
        .document
        .entries()
        .iter()
        .filter(|e| !["vars", "resources", "outputs"].contains(&e.key.as_str()));
    for entry in header {
        let mut found = Vec::new();
        collect_output_refs(&entry.value, &FieldPath::root().key(&entry.key), &mut found);
        for (path, span, output) in found {
            diags.push(
                Diagnostic::error(
                    "output-in-header",
                    format!(
                        "`{output}` is an output, but `{path}` is read before anything is applied"
                    ),
                )
                .at(path)
                .with_span(span)
                .help("use a var instead (`${var.NAME}`, given with --var or --var-file)"),
            );
        }
        crate::limits::bound(diags);
    }
}

/// Every `${kind.name.output}` below `node`, with its field path and the span of the `${…}`.
fn collect_output_refs(node: &Node, path: &FieldPath, out: &mut Vec<(FieldPath, Span, OutputRef)>) {
    collect_below(node, &mut path.clone(), out);
}

/// `collect_output_refs` with one path, pushed and popped on the way down: copied only for what
/// it finds.
fn collect_below(node: &Node, path: &mut FieldPath, out: &mut Vec<(FieldPath, Span, OutputRef)>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            for e in entries {
                path.push_key(&e.key);
                collect_below(&e.value, path, out);
                path.pop();
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push_index(i);
                collect_below(item, path, out);
                path.pop();
            }
        }
        // Most scalars hold no `${`.
        NodeKind::Scalar(text, _) if !text.contains("${") => {}
        NodeKind::Scalar(text, style) => {
            let quoted = u32::from(*style == ScalarStyle::Quoted);
            let mut columns = CharColumns::default();
            for item in interpolations(text).map_while(Result::ok) {
                if let Expr::Output(o) = item.expr {
                    let len =
                        u32::try_from(text[item.start..item.end].chars().count()).unwrap_or(1);
                    out.push((
                        path.clone(),
                        node.span.shifted(
                            item.start + quoted as usize,
                            columns.at(text, item.start) + quoted,
                            len,
                        ),
                        o,
                    ));
                }
            }
        }
        NodeKind::Null | NodeKind::Removed => {}
    }
}
