//! Where byline's default model is: `models/byline-news-small/` of the repository, committed
//! with the code, found without any flag by a binary run from a checkout.

use std::path::{Path, PathBuf};

/// The default model's directory name under `models/`.
pub const DEFAULT_MODEL: &str = "byline-news-small";

/// The environment variable naming a model directory to use instead of the default one.
pub const MODEL_ENV: &str = "BYLINE_MODEL";

/// Candidate directories for the default model, in the order they are tried: `models/<name>`
/// under the current directory, under each ancestor of the running executable (a binary in
/// `target/release/` of a checkout), and under the repository this crate was compiled from.
pub fn default_model_candidates() -> Vec<PathBuf> {
    let rel = Path::new("models").join(DEFAULT_MODEL);
    let mut out = vec![rel.clone()];
    if let Ok(exe) = std::env::current_exe() {
        out.extend(exe.ancestors().skip(1).take(4).map(|dir| dir.join(&rel)));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    out.push(repo.join(&rel));
    out
}

/// The first candidate that holds a model (`byline.json`), or the list of places looked at.
pub fn locate_default_model() -> Result<PathBuf, Vec<PathBuf>> {
    let candidates = default_model_candidates();
    candidates
        .iter()
        .find(|dir| dir.join(byline_model::tagger::BYLINE_FILE).is_file())
        .map(|dir| dir.canonicalize().unwrap_or_else(|_| dir.clone()))
        .ok_or(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_end_with_the_compiled_repository() {
        let c = default_model_candidates();
        assert_eq!(c[0], Path::new("models").join(DEFAULT_MODEL));
        assert!(c
            .last()
            .unwrap()
            .ends_with(Path::new("models").join(DEFAULT_MODEL)));
        assert!(c.last().unwrap().starts_with(env!("CARGO_MANIFEST_DIR")));
    }
}
