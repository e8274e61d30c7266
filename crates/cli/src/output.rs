//! Where command output goes. Files are written through a temporary file and a rename, so a crash
//! never leaves half a plan and a reader (node_exporter's textfile collector) never sees half a
//! report. Standard output is written only through `print` (never `print!`/`println!`, which panic
//! when the reader has gone): a closed pipe (`meshctl show p --format json | head -1`) becomes
//! `StdoutClosed`, which `run` turns into a quiet exit with `STDOUT_CLOSED_EXIT`. An apply is the
//! exception: once the executor may start, output goes through `print_while_applying` and `note`,
//! which never stop it, because its records must be completed.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit code when standard output was closed before meshctl finished writing: what a shell
/// reports for a program ended by SIGPIPE (128 + 13), as `cat` or `grep` would end.
pub const STDOUT_CLOSED_EXIT: u8 = 141;

/// Standard output was closed by its reader (a pipe to `head`, a pager that quit).
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

/// Writes `text` to standard output and flushes it. A closed pipe is `StdoutClosed`. Whatever
/// looks like a credential is written as `<redacted>` (the renderers redact already; this is the
/// last net for messages that quote a value, e.g. a provider's error).
pub fn print(text: &str) -> anyhow::Result<()> {
    let text = meshctl_model::redact::redact(text);
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// `println!` for commands: the line goes through `print`, and a closed stdout returns
/// `StdoutClosed` from the enclosing function (which returns `anyhow::Result`) instead of
/// panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::print(&format!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use outln;

/// True when `error` (or anything it wraps) is `StdoutClosed`.
pub fn is_stdout_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<StdoutClosed>())
}

/// Set once standard output failed during an apply; later output is dropped.
static APPLY_STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Standard output during an apply: a write that fails drops this and all later output, with one
/// note on standard error, and the apply goes on to its own end and exit code.
pub fn print_while_applying(text: &str) {
    if APPLY_STDOUT_GONE.load(Ordering::SeqCst) {
        return;
    }
    if let Err(error) = print(text) {
        if !APPLY_STDOUT_GONE.swap(true, Ordering::SeqCst) {
            note(&format!(
                "note: {error:#}; the run goes on, and its result is reported here and in its exit code"
            ));
        }
    }
}

/// One line on standard error, ignoring failure: progress and results of an apply must never
/// stop it (`eprintln!` panics when standard error is a closed pipe).
pub fn note(line: &str) {
    to_stderr(&format!("{line}\n"));
}

/// Text on standard error, redacted like standard output. A closed standard error is ignored:
/// messages are for a person who is no longer listening, and what the command does (and its exit
/// code) must not change because of it. `eprint!`/`eprintln!` panic there, so the CLI uses
/// `errln!`/`err!` instead.
pub fn to_stderr(text: &str) {
    let text = meshctl_model::redact::redact(text);
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.flush());
}

/// `eprintln!` that never panics: see `to_stderr`.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::to_stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use errln;

/// `eprint!` that never panics: see `to_stderr`.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::output::to_stderr(&format!($($arg)*))
    };
}
pub(crate) use err;

/// Writes `bytes` to `path` through a temporary file beside it (`.tmp` in place of its extension,
/// so a collector reading `*.prom` never picks it up) and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
