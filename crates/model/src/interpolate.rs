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
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(rel) = text[from..].find("${") {
        let start = from + rel;
        let Some(close) = text[start..].find('}') else {
            return Err(start);
        };
        let end = start + close + 1;
        found.push(Interpolation {
            start,
            end,
            expr: parse_expr(&text[start + 2..end - 1]),
        });
        from = end;
    }
    Ok(found)
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
    }
}
