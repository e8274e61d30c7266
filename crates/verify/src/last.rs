//! The last verify report of a stack, kept in a file so that a later `meshctl graph --format svg`
//! colours each link by it without reading the world again (docs/verify.md says where).

use crate::report::{Report, Status};
use std::collections::BTreeMap;
use std::path::Path;

/// The file name of the last report, in the directory the CLI picks (beside a local state).
pub const FILE_NAME: &str = "last-verify.json";

/// Why the last report could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum LastError {
    #[error("cannot write the verify report {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read the last verify report {path}: {detail}; run `meshctl verify` again to replace it")]
    Read { path: String, detail: String },
}

/// Writes `report` to `path` whole (a temporary file renamed over it), so a reader never sees
/// half of one.
pub fn save(path: &Path, report: &Report) -> Result<(), LastError> {
    let write = |e| LastError::Write {
        path: path.display().to_string(),
        source: e,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let temporary = path.with_extension("json.tmp");
    let text = crate::render::json(report) + "\n";
    std::fs::write(&temporary, text).map_err(write)?;
    std::fs::rename(&temporary, path).map_err(write)
}

/// The report last saved at `path`; `None` when verify has not run there.
pub fn load(path: &Path) -> Result<Option<Report>, LastError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LastError::Read {
                path: path.display().to_string(),
                detail: e.to_string(),
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| LastError::Read {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
}

/// Each link's status (traffic model link id → status) in the report last saved at `path`, or
/// `None` when verify has not run there: what `graph --format svg` colours by.
pub fn link_status(path: &Path) -> Result<Option<BTreeMap<String, Status>>, LastError> {
    Ok(load(path)?.map(|report| report.links))
}
