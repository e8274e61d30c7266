//! `${...}` interpolation: `${var.x}` is substituted when the stack loads; `${kind.name.output}`
//! stays in the value until apply resolves it, and becomes a dependency edge.

use crate::kinds::Kind;
use std::fmt;

/// One `${...}` occurrence in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolation {
    /// Byte range of the whole `${...}` in the string.
    pub start: usize,
    pub end: usize,
    pub expr: Expr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Var(String),
    Output(OutputRef),
    /// Anything else, kept as written for the diagnostic.
    Invalid(String),
}

/// `${kind.name.output}`: an output of another resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutputRef {
    pub kind: Kind,
    pub name: String,
    pub output: String,
}

impl fmt::Display for OutputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}.{}.{}}}", self.kind, self.name, self.output)
    }
}

/// Scans a string for `${...}`. An unclosed `${` is returned as `Err(byte offset)`.
pub fn scan(text: &str) -> Result<Vec<Interpolation>, usize> {
    interpolations(text).collect()
}

/// `scan`, one at a time: a long string of millions of `${...}` is never held as a list. An
/// unclosed `${` ends the sequence with `Err(byte offset)`.
pub fn interpolations(text: &str) -> impl Iterator<Item = Result<Interpolation, usize>> + '_ {
    let mut from = Some(0);
    std::iter::from_fn(move || {
        let at = from?;
        let start = at + text[at..].find("${")?;
        let Some(close) = text[start..].find('}') else {
            from = None;
            return Some(Err(start));
        };
        let end = start + close + 1;
        from = Some(end);
        Some(Ok(Interpolation {
            start,
            end,
            expr: parse_expr(&text[start + 2..end - 1]),
        }))
    })
}

/// Where the first unclosed `${` of a string is, if any.
pub fn unclosed(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(rel) = text[from..].find("${") {
        let start = from + rel;
        match text[start..].find('}') {
            Some(close) => from = start + close + 1,
            None => return Some(start),
        }
    }
    None
}

fn parse_expr(body: &str) -> Expr {
    let parts: Vec<&str> = body.trim().split('.').collect();
    let ident = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    match parts.as_slice() {
        ["var", name] if ident(name) => Expr::Var(name.to_string()),
        [kind, name, output] if ident(name) && ident(output) => match Kind::parse(kind) {
            Some(kind) => Expr::Output(OutputRef {
                kind,
                name: name.to_string(),
                output: output.to_string(),
            }),
            None => Expr::Invalid(body.to_string()),
        },
        _ => Expr::Invalid(body.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_vars_outputs_and_mistakes() {
        let found = scan("www.${var.domain}/${alb.public.dns_name}${nope}").unwrap();
        assert_eq!(found[0].expr, Expr::Var("domain".into()));
        assert_eq!((found[0].start, found[0].end), (4, 17));
        assert!(
            matches!(&found[1].expr, Expr::Output(o) if o.kind == Kind::Alb && o.output == "dns_name")
        );
        assert_eq!(found[2].expr, Expr::Invalid("nope".into()));
        assert_eq!(scan("a ${var.x").unwrap_err(), 2);
        assert_eq!(unclosed("a ${var.x} ${var.y"), Some(11));
        assert_eq!(unclosed("a ${var.x}"), None);
    }
}
