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
    /// Byte offset of the first byte that is not UTF-8, when the file was read from such bytes
    /// (`text` then holds them replaced by U+FFFD, identical to the file before that offset).
    /// Loading reports it instead of reading the text.
    pub invalid_utf8: Option<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
            invalid_utf8: None,
        }
    }

    /// A file as read from disk: bytes that are not UTF-8 are remembered, to be reported with
    /// their line, column and offset, rather than refused without a location.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        match String::from_utf8(bytes) {
            Ok(text) => SourceFile::new(name, text),
            Err(error) => {
                let offset = error.utf8_error().valid_up_to();
                SourceFile {
                    invalid_utf8: Some(offset),
                    ..SourceFile::new(name, String::from_utf8_lossy(error.as_bytes()).into_owned())
                }
            }
        }
    }

    /// The text of 1-based line `line`, without its line ending.
    pub fn line(&self, line: u32) -> Option<&str> {
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        self.lines_iter().nth(index)
    }

    /// Every line, without line endings, for showing many places at once.
    pub fn lines(&self) -> Vec<&str> {
        self.lines_iter().collect()
    }

    fn lines_iter(&self) -> impl Iterator<Item = &str> {
        // A byte-order mark is not shown: columns do not count it.
        let text = self.text.strip_prefix('\u{feff}').unwrap_or(&self.text);
        text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
    }

    /// Number of lines, counting a last line without a newline.
    pub fn line_count(&self) -> u32 {
        u32::try_from(self.text.split('\n').count()).unwrap_or(u32::MAX)
    }
}
