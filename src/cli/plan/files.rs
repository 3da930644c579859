//! The files a plan names: two flags naming one file are refused (also through `./`, `..` or a
//! symlink), and the results format an output file's extension implies.

use std::path::{Path, PathBuf};

use super::usage;
use crate::cli::error::AppError;
use crate::output::Format;

/// Refuses two flags that name one file (also through `./`, `..` or a symlink): the file
/// written last would silently replace the other's contents (or an `--ids` list read too late).
pub(super) fn distinct_files(files: &[(&'static str, Option<&Path>)]) -> Result<(), AppError> {
    let named: Vec<(&'static str, &Path, PathBuf)> = files
        .iter()
        .filter_map(|(flag, path)| path.map(|p| (*flag, p, resolved(p))))
        .collect();
    for (i, (flag, path, real)) in named.iter().enumerate() {
        if let Some((other, other_path, _)) = named[..i].iter().find(|(_, _, r)| r == real) {
            return Err(usage(
                flag,
                format!(
                    "{} is also the file of {other} ({}): give each its own file",
                    path.display(),
                    other_path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Where `path` really is: the file it names once symlinks and `.`/`..` are resolved; for a
/// file not yet created, its resolved folder joined with its name.
fn resolved(path: &Path) -> PathBuf {
    let mut path = path.to_path_buf();
    // A symlink to a file not yet created: follow it by hand (as the OS would, within limits).
    for _ in 0..40 {
        if let Ok(real) = std::fs::canonicalize(&path) {
            return real;
        }
        match std::fs::read_link(&path) {
            Ok(target) => path = path.parent().unwrap_or(Path::new(".")).join(target),
            Err(_) => break,
        }
    }
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(folder), path.file_name()) {
        (Ok(folder), Some(name)) => folder.join(name),
        _ => path.to_path_buf(),
    }
}

/// The results format an output file's extension names, if any.
pub(crate) fn format_from_extension(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()? {
        "csv" => Some(Format::Csv),
        "json" => Some(Format::Json),
        "ndjson" | "jsonl" => Some(Format::Ndjson),
        "txt" => Some(Format::Table),
        "sqlite" | "sqlite3" | "db" => Some(Format::Sqlite),
        _ => None,
    }
}
