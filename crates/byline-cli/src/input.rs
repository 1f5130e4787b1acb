//! Finding and reading corpora: CoNLL column files, PolNeAR split directories and byline JSONL.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use byline_core::corpus::is_polnear_split;
pub use byline_core::corpus::{Corpus, Format};

/// Corpus files and split directories under `path`, in name order. A file or split directory is
/// itself; a directory is searched (not following into PolNeAR splits) for `.txt`, `.conll`,
/// `.iob`, `.iob1`, `.iob2`, `.bio`, `.bioes` (CoNLL) and `.jsonl` files. Other files
/// (READMEs, metadata) are skipped.
pub fn discover(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.exists() {
        bail!("{}: no such file or directory", path.display());
    }
    if !path.is_dir() || is_polnear_split(path) {
        return Ok(vec![path.to_owned()]);
    }
    let mut found = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list {}", path.display()))?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            found.extend(discover(&entry)?);
        } else if entry.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            matches!(
                e,
                "txt" | "conll" | "iob" | "iob1" | "iob2" | "bio" | "bioes" | "jsonl"
            )
        }) {
            found.push(entry);
        } else {
            tracing::debug!("skipping {}", entry.display());
        }
    }
    Ok(found)
}

/// Reads one corpus file or split directory, in `format` or the detected one.
pub fn load(path: &Path, format: Option<Format>) -> Result<Corpus> {
    Ok(byline_core::corpus::load(path, format)?)
}

/// Reads every corpus under `path` (see [`discover`]).
pub fn load_all(path: &Path, format: Option<Format>) -> Result<Vec<Corpus>> {
    let paths = discover(path)?;
    if paths.is_empty() {
        bail!("{}: no corpus files found", path.display());
    }
    paths.iter().map(|p| load(p, format)).collect()
}

/// A short name for a corpus path: relative to `root` when it lies under it.
pub fn display_name(path: &Path, root: &Path) -> String {
    let base = if root.is_dir() && !is_polnear_split(root) {
        root
    } else {
        root.parent().unwrap_or(root)
    };
    path.strip_prefix(base)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}
