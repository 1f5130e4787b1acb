//! What a user names a model by: a local folder, or a hub id `ORG/NAME` with an optional
//! `@REVISION` (a branch, a tag or a commit).
//!
//! A path that exists wins over a hub id. `./ORG/NAME` (or any path starting with `/`, `./`,
//! `../` or `~`) is always a path; `hf://ORG/NAME[@REVISION]` is always a hub id.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Prefix that forces a hub id.
pub const HUB_PREFIX: &str = "hf://";

/// A parsed model reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    Local(PathBuf),
    Hub(HubId),
}

/// A model repository on the hub, at a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubId {
    /// `ORG/NAME`.
    pub repo: String,
    /// A branch, tag or commit; `None` means `main`.
    pub revision: Option<String>,
}

impl HubId {
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or("main")
    }
}

impl std::fmt::Display for HubId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.revision {
            Some(r) => write!(f, "{}@{r}", self.repo),
            None => f.write_str(&self.repo),
        }
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelRef::Local(p) => write!(f, "{}", p.display()),
            ModelRef::Hub(id) => id.fmt(f),
        }
    }
}

/// Whether `s` is spelt as a path, never a hub id.
fn forced_path(s: &str) -> bool {
    s.starts_with('/')
        || s.starts_with("./")
        || s.starts_with("../")
        || s.starts_with('~')
        || s == "."
        || s == ".."
}

/// A name part of a hub id: letters, digits, `-`, `_`, `.`; not starting or ending with `-` or
/// `.`, no `--` or `..`, at most 96 characters (the hub's rules).
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 96
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
        && !s.contains("--")
        && !s.contains("..")
}

/// A revision: no whitespace, control characters, `..` or leading `/`.
fn valid_revision(s: &str) -> bool {
    !s.is_empty()
        && !s.contains("..")
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
}

/// Parses a hub id `ORG/NAME[@REVISION]`.
pub fn parse_hub_id(s: &str) -> Result<HubId> {
    let bad = |why: &str| Error::BadReference {
        reference: s.to_string(),
        why: why.to_string(),
    };
    let (repo, revision) = match s.split_once('@') {
        Some((repo, rev)) => (repo, Some(rev)),
        None => (s, None),
    };
    let Some((org, name)) = repo.split_once('/') else {
        return Err(bad("a hub id is ORG/NAME[@REVISION]"));
    };
    if !valid_name(org) || !valid_name(name) {
        return Err(bad(
            "a hub id is ORG/NAME[@REVISION], each name of letters, digits, `-`, `_` and `.`",
        ));
    }
    if let Some(rev) = revision {
        if !valid_revision(rev) {
            return Err(bad("the revision after `@` is empty or malformed"));
        }
    }
    Ok(HubId {
        repo: repo.to_string(),
        revision: revision.map(String::from),
    })
}

impl ModelRef {
    /// Reads a reference (see the [module docs](self)): an existing path, else a hub id.
    pub fn parse(s: &str) -> Result<ModelRef> {
        if let Some(id) = s.strip_prefix(HUB_PREFIX) {
            return parse_hub_id(id).map(ModelRef::Hub);
        }
        if forced_path(s) || Path::new(s).exists() {
            return Ok(ModelRef::Local(PathBuf::from(s)));
        }
        match parse_hub_id(s) {
            Ok(id) => Ok(ModelRef::Hub(id)),
            Err(_) => Err(Error::BadReference {
                reference: s.to_string(),
                why: "no such directory, and not a hub id ORG/NAME[@REVISION] \
                      (write ./PATH to mean a path, hf://ORG/NAME to mean the hub)"
                    .into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(repo: &str, rev: Option<&str>) -> ModelRef {
        ModelRef::Hub(HubId {
            repo: repo.into(),
            revision: rev.map(String::from),
        })
    }

    #[test]
    fn references() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("org").join("name");
        std::fs::create_dir_all(&existing).unwrap();
        let existing = existing.to_str().unwrap().to_string();
        let cases: &[(&str, Option<ModelRef>)] = &[
            (
                "dslim/bert-base-NER",
                Some(hub("dslim/bert-base-NER", None)),
            ),
            ("org/name@v1.0", Some(hub("org/name", Some("v1.0")))),
            (
                "org/name@refs/pr/1",
                Some(hub("org/name", Some("refs/pr/1"))),
            ),
            (
                "org/name@0123456789abcdef0123456789abcdef01234567",
                Some(hub(
                    "org/name",
                    Some("0123456789abcdef0123456789abcdef01234567"),
                )),
            ),
            ("hf://org/name", Some(hub("org/name", None))),
            ("./org/name", Some(ModelRef::Local("./org/name".into()))),
            (
                "/abs/org/name",
                Some(ModelRef::Local("/abs/org/name".into())),
            ),
            (&existing, Some(ModelRef::Local(existing.clone().into()))),
            ("org/name/extra", None),
            ("org//name", None),
            ("org/", None),
            ("name-only", None),
            ("org/na me", None),
            ("org/name@", None),
            ("org/name@a..b", None),
            ("-org/name", None),
            ("org/name--x", None),
            ("hf://not-an-id", None),
        ];
        for (s, want) in cases {
            let got = ModelRef::parse(s);
            match want {
                Some(w) => assert_eq!(got.as_ref().ok(), Some(w), "{s}: {got:?}"),
                None => {
                    let e = got.expect_err(s).to_string();
                    assert!(e.contains(s.trim_start_matches("hf://")), "{s}: {e}");
                }
            }
        }
    }
}
