//! Embeds the commit meshctl is built from (`meshctl version`) as `MESHCTL_COMMIT`: the
//! `MESHCTL_COMMIT` environment variable when a packager sets it, else `git rev-parse HEAD`, else
//! "unknown" (a source tarball has no `.git`; the build never fails for it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MESHCTL_COMMIT");
    let commit = std::env::var("MESHCTL_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_head)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=MESHCTL_COMMIT={}", commit.trim());
}

/// The checked-out commit, watching the files that change with it (only those that exist: a
/// missing one would rerun this script on every build).
fn git_head() -> Option<String> {
    // A source tarball unpacked inside another repository (a vendored copy) is not that
    // repository's commit: only a checkout that tracks this very file names meshctl's.
    git(&["ls-files", "--error-unmatch", "build.rs"])?;
    let commit = git(&["rev-parse", "HEAD"])?;
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = absolute(Path::new(dir.trim()));
        let mut watched = vec![dir.join("HEAD"), dir.join("packed-refs")];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(dir.join(branch.trim()));
        }
        for file in watched.iter().filter(|f| f.exists()) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
    Some(commit)
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(std::env::var_os("CARGO_MANIFEST_DIR")?)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then_some(text)
}

/// `--git-dir` may be relative to the package's directory.
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(path)
}
