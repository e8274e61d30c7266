//! Edge rule `references`: each typed reference field (`cluster: main`, `zone: public`) is an
//! `EdgeKind::Reference` edge to the resource it names, or a diagnostic when it names nothing or
//! a resource of the wrong kind.

use super::{with_article, Index, Links, Rule};
use crate::de::closest;
use crate::diagnostic::Diagnostic;
use crate::load::list_or_none;
use crate::stack::{Address, Dependency, EdgeKind};

pub(super) const RULE: Rule = Rule {
    name: "references",
    apply: link_references,
};

fn link_references(index: &Index, links: &mut Links, diags: &mut Vec<Diagnostic>) {
    for (i, r) in index.stack.resources.iter().enumerate() {
        let base = r.path();
        for reference in r.spec.references().0 {
            let at = base.join(&reference.field);
            let target = if reference.kinds.len() == 1 {
                Some(Address::new(reference.kinds[0], reference.target.clone()))
            } else {
                Address::parse(&reference.target)
            };
            let expected = reference
                .kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(" or ");
            match target {
                Some(t)
                    if reference.kinds.contains(&t.kind) && index.by_address.contains_key(&t) =>
                {
                    links.edges[i].push(Dependency {
                        target: t,
                        path: at,
                        kind: EdgeKind::Reference,
                    });
                }
                Some(t) if index.broken.contains(&t) => {}
                Some(t) if !reference.kinds.contains(&t.kind) => diags.push(
                    Diagnostic::error(
                        "wrong-kind-reference",
                        format!(
                            "`{}` is {}, but this field takes {}",
                            reference.target,
                            with_article(t.kind.as_str()),
                            with_article(&expected)
                        ),
                    )
                    .at(at)
                    .help(format!("name {} resource", with_article(&expected))),
                ),
                None if reference.kinds.len() > 1 => diags.push(
                    Diagnostic::error(
                        "bad-address",
                        format!(
                            "`{}` is not an address of {}",
                            reference.target,
                            with_article(&expected)
                        ),
                    )
                    .at(at)
                    .help(format!("write kind.name, e.g. {}.NAME", reference.kinds[0])),
                ),
                _ => {
                    let kind = reference.kinds[0];
                    let plain = reference
                        .target
                        .rsplit('.')
                        .next()
                        .unwrap_or(&reference.target);
                    let other_kinds = index.by_name.get(plain).cloned().unwrap_or_default();
                    let d = if !other_kinds.is_empty() && reference.kinds.len() == 1 {
                        Diagnostic::error(
                            "wrong-kind-reference",
                            format!(
                                "`{}` is {}, but this field takes {}",
                                reference.target,
                                with_article(other_kinds[0].as_str()),
                                with_article(&expected)
                            ),
                        )
                        .help(format!(
                            "name {}; declared: {}",
                            with_article(&expected),
                            list_or_none(index.names_of(kind))
                        ))
                    } else {
                        let candidates = index.names_of(kind);
                        let help = match closest(plain, candidates.iter().copied()) {
                            // A field taking several kinds is written `kind.name`; suggest that form.
                            Some(close) if reference.kinds.len() > 1 => {
                                format!("did you mean `{kind}.{close}`?")
                            }
                            Some(close) => format!("did you mean `{close}`?"),
                            None => format!(
                                "declare {} named `{plain}`; declared: {}",
                                with_article(&expected),
                                list_or_none(candidates)
                            ),
                        };
                        Diagnostic::error(
                            "dangling-reference",
                            format!("no {expected} named `{}` in this stack", reference.target),
                        )
                        .help(help)
                    };
                    diags.push(d.at(at));
                }
            }
        }
        crate::limits::bound(diags);
    }
}
