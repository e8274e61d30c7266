//! The errored-state file: when an apply or destroy ends because its state could not be saved
//! (the store refused or failed a write after its retries), everything the run recorded is still
//! in the store's memory. It is written to `meshctl-errored-state-<lineage>.json` in the working
//! directory, as Terraform writes `errored.tfstate`, so that `meshctl state push FILE` can put
//! it where it belongs once the backend works again.

use anyhow::{Context, Result};
use meshctl_state::Snapshot;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How many numbered names (`-2`, `-3`, ...) are tried beside an existing file before giving up.
const MAX_SUFFIX: u32 = 1000;

/// The file name for a state of `lineage`, the `n`th of them in a directory (1: no suffix).
fn file_name(lineage: &str, n: u32) -> String {
    // The lineage is a UUID meshctl made, but a state file can say anything: keep it a file name.
    let lineage: String = lineage
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if n <= 1 {
        format!("meshctl-errored-state-{lineage}.json")
    } else {
        format!("meshctl-errored-state-{lineage}-{n}.json")
    }
}

/// Writes `snapshot` (as `meshctl state pull` prints a state) to a new errored-state file in
/// `dir` and returns its path. The file appears whole or not at all (written to a temporary
/// file, flushed, then linked into place), and an existing one is never overwritten: a run
/// that fails again writes the next numbered name.
pub fn save(snapshot: &Snapshot, dir: &Path) -> Result<PathBuf> {
    let mut json = serde_json::to_vec_pretty(snapshot).context("cannot encode the state")?;
    json.push(b'\n');
    let temporary = dir.join(format!(".meshctl-errored-state.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&json)?;
        file.sync_all()
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("cannot write {}", temporary.display()));
    }
    let placed = place(&temporary, &json, dir, &snapshot.meta.lineage);
    let _ = std::fs::remove_file(&temporary);
    let path = placed?;
    // The new name is durable once the directory is.
    if let Ok(directory) = std::fs::File::open(dir) {
        let _ = directory.sync_all();
    }
    Ok(path)
}

/// Gives the written `temporary` file the first free errored-state name in `dir`.
fn place(temporary: &Path, json: &[u8], dir: &Path, lineage: &str) -> Result<PathBuf> {
    for n in 1..=MAX_SUFFIX {
        let path = dir.join(file_name(lineage, n));
        match std::fs::hard_link(temporary, &path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            // A file system without hard links: create the name exclusively and write it (never
            // over an existing file; a crash may leave it short, and `state push` refuses that).
            Err(_) => match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(json)
                        .and_then(|()| file.sync_all())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    return Ok(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot write {}", path.display()))
                }
            },
        }
    }
    anyhow::bail!(
        "{} errored-state files of lineage {lineage} already exist in {}; push or remove them",
        MAX_SUFFIX,
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(lineage: &str, serial: u64) -> Snapshot {
        let mut meta = meshctl_state::new_meta("demo");
        meta.lineage = lineage.to_string();
        meta.serial = serial;
        Snapshot {
            meta,
            written: "2026-12-02T10:00:00Z".into(),
            records: Vec::new(),
            journal: Vec::new(),
            history: Vec::new(),
        }
    }

    #[test]
    fn an_existing_errored_state_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let first = save(&snapshot("5b0e", 3), dir.path()).unwrap();
        let second = save(&snapshot("5b0e", 4), dir.path()).unwrap();
        assert_eq!(first, dir.path().join("meshctl-errored-state-5b0e.json"));
        assert_eq!(second, dir.path().join("meshctl-errored-state-5b0e-2.json"));
        let read = |path: &Path| -> Snapshot {
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
        };
        assert_eq!(read(&first).meta.serial, 3);
        assert_eq!(read(&second).meta.serial, 4);
        // Nothing else is left behind: no temporary file.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_lineage_that_is_not_a_file_name_is_made_one() {
        assert_eq!(
            file_name("../../etc/passwd", 1),
            "meshctl-errored-state-______etc_passwd.json"
        );
    }
}
