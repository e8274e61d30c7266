//! Writing what commands produce to files: through a temporary file and a rename, so a crash
//! never leaves half a plan, and a reader (node_exporter's textfile collector) never sees half a
//! report.

use std::path::Path;

/// Writes `bytes` to `path` through a temporary file beside it (`.tmp` in place of its extension,
/// so a collector reading `*.prom` never picks it up) and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
