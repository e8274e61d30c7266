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

/// Writes `text`, which is a credential by design, to standard output unredacted: only for the
/// credential plugin (`meshctl __eks-token`), whose reader is helm or istioctl, never a person.
pub fn print_credential(text: &str) -> anyhow::Result<()> {
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

/// Writes `bytes` to `path` so that a reader never sees half of it: through a temporary file of
/// its own beside the target (hidden, ending in `.tmp`, so a collector reading `*.prom` never picks
/// it up; created new, so no file of the user's is overwritten) and a rename. A symbolic link is
/// followed, so the link stays and its target is replaced. What is not a regular file (`/dev/null`,
/// `/dev/stdout`, a FIFO) cannot be renamed over and is written in place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return std::fs::write(path, bytes),
        Ok(_) => std::fs::canonicalize(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(e),
    };
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let tmp = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &target));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::write_atomically;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_special_file_is_written_in_place_not_replaced() {
        write_atomically(std::path::Path::new("/dev/null"), b"plan").unwrap();
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(meta.file_type().is_char_device(), "/dev/null was replaced");
    }

    #[test]
    fn a_link_stays_a_link_and_its_target_gets_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.plan");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("link.plan");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }

    #[test]
    fn a_file_of_the_users_beside_the_target_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("out.tmp"), "mine").unwrap();
        write_atomically(&dir.path().join("out.plan"), b"plan").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.tmp")).unwrap(),
            "mine"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.plan")).unwrap(),
            "plan"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "a temporary file was left: {names:?}");
    }
}
