//! Finding and reading corpora: CoNLL column files, PolNeAR split directories and byline JSONL.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use byline_core::conll::ConllReader;
use byline_core::polnear::{self, PolnearStats};
use byline_core::{jsonl, Document};

/// A corpus format byline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// CoNLL column files (CoNLL-2003 4 columns or 2-column variants; IOB1, IOB2 or BIOES).
    Conll,
    /// A PolNeAR split directory (`text/*.txt` + `attributions/*.ann`, brat standoff).
    Polnear,
    /// byline JSONL, one document per line.
    Jsonl,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Conll => "conll",
            Format::Polnear => "polnear",
            Format::Jsonl => "jsonl",
        })
    }
}

/// A corpus read from one file or split directory.
#[derive(Debug)]
pub struct Corpus {
    pub path: PathBuf,
    pub format: Format,
    pub documents: Vec<Document>,
    /// The counts of PolNeAR's own table (annotation files, events without content), for splits.
    pub polnear: Option<PolnearStats>,
}

/// Whether `dir` is a PolNeAR split: it has `text/` and `attributions/` folders.
fn is_polnear_split(dir: &Path) -> bool {
    dir.join("text").is_dir() && dir.join("attributions").is_dir()
}

/// The format of a path: a PolNeAR split directory, a `.jsonl` file, or else a CoNLL file.
pub fn detect(path: &Path) -> Format {
    if path.is_dir() {
        Format::Polnear
    } else if path.extension().is_some_and(|e| e == "jsonl") {
        Format::Jsonl
    } else {
        Format::Conll
    }
}

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
    let format = format.unwrap_or_else(|| detect(path));
    let mut polnear_stats = None;
    let documents = match format {
        Format::Conll => ConllReader::new().read_path(path)?.documents,
        Format::Jsonl => jsonl::read_all(path)?,
        Format::Polnear => {
            if !is_polnear_split(path) {
                bail!(
                    "{}: not a PolNeAR split directory (expected text/ and attributions/ inside)",
                    path.display()
                );
            }
            let split = polnear::read_split(path)?;
            polnear_stats = Some(PolnearStats::of_split(&split));
            split.articles.into_iter().map(|a| a.document).collect()
        }
    };
    Ok(Corpus {
        path: path.to_owned(),
        format,
        documents,
        polnear: polnear_stats,
    })
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
