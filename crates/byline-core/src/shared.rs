//! Finding the shared research data and base models, which byline never ships: the folder named
//! by `BYLINE_SHARED`, or a `shared/` folder beside or above a starting directory (a checkout
//! next to `../shared`).

use std::path::{Path, PathBuf};

/// The environment variable that names the shared folder.
pub const ENV: &str = "BYLINE_SHARED";

/// The shared folder: `$BYLINE_SHARED` if set, else the first `shared/` that holds `data/` or
/// `models/`, looking in `start`, its sibling `../shared`, and then upwards.
pub fn locate_from(start: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV) {
        return Some(PathBuf::from(dir));
    }
    start.ancestors().find_map(|dir| {
        [dir.join("shared"), dir.join("../shared")]
            .into_iter()
            .find(|d| d.join("data").is_dir() || d.join("models").is_dir())
    })
}

/// A path inside the shared folder found from `start`, if it exists. Tests use it as
/// `shared::path_from(Path::new(env!("CARGO_MANIFEST_DIR")), "data/conll2003/dev.txt")` and skip,
/// with a printed reason, on `None`.
pub fn path_from(start: &Path, relative: impl AsRef<Path>) -> Option<PathBuf> {
    let path = locate_from(start)?.join(relative);
    path.exists().then_some(path)
}
