//! A file replaced whole: written to a temporary file in its folder, synced, then renamed over
//! it, so a reader (or a crash) sees the old file or the new one, never half of either. Reports,
//! merged results and a resumed results file are all written this way.

use std::io::{self, Write};
use std::path::Path;

use tempfile::NamedTempFile;

/// A temporary file in `path`'s folder, to be renamed over `path` once whole ([`persist`]).
pub(crate) fn beside(path: &Path) -> io::Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    NamedTempFile::new_in(dir)
}

/// Renames the whole file in `temp` over `path`, synced, readable by others as a plainly created
/// file is (not the temporary file's private 0600).
pub(crate) fn persist(temp: NamedTempFile, path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    temp.as_file().sync_all()?;
    temp.persist(path).map(drop).map_err(|e| e.error)
}

/// Writes `bytes` as the whole of `path`.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = beside(path)?;
    temp.write_all(bytes)?;
    persist(temp, path)
}
