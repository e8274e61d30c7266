//! Edge rule `depends_on`: each address in a resource's `depends_on` is an `EdgeKind::Explicit`
//! edge (ordering only), or a diagnostic when it is not in the stack.

use super::{Index, Links, Rule};
use crate::diagnostic::Diagnostic;
use crate::stack::{Dependency, EdgeKind};

pub(super) const RULE: Rule = Rule {
    name: "depends_on",
    apply: link_depends_on,
};

fn link_depends_on(index: &Index, links: &mut Links, diags: &mut Vec<Diagnostic>) {
    for (i, r) in index.stack.resources.iter().enumerate() {
        let base = r.path();
        for (n, target) in r.depends_on.iter().enumerate() {
            let at = base.key("depends_on").index(n);
            if index.by_address.contains_key(target) {
                links.edges[i].push(Dependency {
                    target: target.clone(),
                    path: at,
                    kind: EdgeKind::Explicit,
                });
            } else if !index.broken.contains(target) {
                diags.push(
                    Diagnostic::error(
                        "dangling-reference",
                        format!("depends_on names `{target}`, which is not in this stack"),
                    )
                    .at(at)
                    .help(index.suggest_address(target)),
                );
            }
        }
        crate::limits::bound(diags);
    }
}
