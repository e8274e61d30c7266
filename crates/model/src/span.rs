//! Source positions: where in a stack file a value was written.

use serde::{Deserialize, Serialize};

/// A region of one source file. Lines and columns are 1-based and count characters, as editors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Span {
    /// Byte offset of the first character.
    pub offset: usize,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// Length in characters on the first line (at least 1 when rendered).
    pub len: u32,
}

impl Span {
    pub fn new(offset: usize, line: u32, col: u32, len: u32) -> Self {
        Span {
            offset,
            line,
            col,
            len,
        }
    }

    /// A place inside this span's text on its first line: `bytes`/`chars` from its start, `len`
    /// characters long.
    pub fn shifted(self, bytes: usize, chars: u32, len: u32) -> Self {
        Span {
            offset: self.offset + bytes,
            line: self.line,
            col: self.col + chars,
            len,
        }
    }
}

/// One stack file's name and text, kept so diagnostics can show the offending line.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// The text of 1-based line `line`, without its line ending.
    pub fn line(&self, line: u32) -> Option<&str> {
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        self.text
            .split('\n')
            .nth(index)
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
    }

    /// Number of lines, counting a last line without a newline.
    pub fn line_count(&self) -> u32 {
        u32::try_from(self.text.split('\n').count()).unwrap_or(u32::MAX)
    }
}
