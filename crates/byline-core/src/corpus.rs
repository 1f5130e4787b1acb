//! Reading a corpus from a path in any format byline reads: a CoNLL column file, a PolNeAR split
//! directory (`text/` + `attributions/`, brat standoff) or byline JSONL. The format is detected
//! from the path unless given.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::conll::ConllReader;
use crate::document::Document;
use crate::error::{Error, Result};
use crate::jsonl;
use crate::polnear::{self, PolnearStats};

/// A corpus format byline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// CoNLL column files (CoNLL-2003 4 columns or 2-column variants; IOB1, IOB2 or BIOES).
    Conll,
    /// A PolNeAR split directory (`text/*.txt` + `attributions/*.ann`, brat standoff).
    Polnear,
    /// byline JSONL, one document per line.
    Jsonl,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Conll, Format::Polnear, Format::Jsonl];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Conll => "conll",
            Format::Polnear => "polnear",
            Format::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not `conll`, `polnear` or `jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown corpus format `{0}`: expected conll, polnear or jsonl")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// Case-insensitive.
    fn from_str(s: &str) -> std::result::Result<Self, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// A corpus read from one file or split directory.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub path: PathBuf,
    pub format: Format,
    pub documents: Vec<Document>,
    /// The counts of PolNeAR's own table (annotation files, events without content), for splits.
    pub polnear: Option<PolnearStats>,
}

/// Whether `dir` is a PolNeAR split: it has `text/` and `attributions/` folders.
pub fn is_polnear_split(dir: &Path) -> bool {
    dir.join("text").is_dir() && dir.join("attributions").is_dir()
}

/// The format of a path: a directory is a PolNeAR split, a `.jsonl` file JSONL, anything else
/// CoNLL.
pub fn detect(path: &Path) -> Format {
    if path.is_dir() {
        Format::Polnear
    } else if path.extension().is_some_and(|e| e == "jsonl") {
        Format::Jsonl
    } else {
        Format::Conll
    }
}

/// Reads one corpus file or split directory, in `format` or the detected one.
pub fn load(path: &Path, format: Option<Format>) -> Result<Corpus> {
    if !path.exists() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ));
    }
    let format = format.unwrap_or_else(|| detect(path));
    let mut polnear_stats = None;
    let documents = match format {
        Format::Conll => ConllReader::new().read_path(path)?.documents,
        Format::Jsonl => jsonl::read_all(path)?,
        Format::Polnear => {
            if !is_polnear_split(path) {
                return Err(Error::NotPolnearSplit {
                    path: path.to_owned(),
                });
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

/// The documents of the corpus at `path`, format detected (see [`load`]).
pub fn load_documents(path: &Path) -> Result<Vec<Document>> {
    Ok(load(path, None)?.documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string().to_uppercase().parse::<Format>(), Ok(f));
        }
        assert!("brat".parse::<Format>().is_err());
    }

    #[test]
    fn missing_paths_and_non_splits_are_errors_naming_the_path() {
        let dir = std::env::temp_dir();
        let missing = dir.join("byline-no-such-corpus.txt");
        let err = load(&missing, None).unwrap_err();
        assert!(
            err.to_string().contains("byline-no-such-corpus.txt"),
            "{err}"
        );
        let err = load(&dir, Some(Format::Polnear)).unwrap_err();
        assert!(matches!(err, Error::NotPolnearSplit { .. }), "{err}");
    }
}
