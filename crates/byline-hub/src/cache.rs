//! The hub cache as Python's huggingface_hub lays it out, read and written the same way:
//!
//! ```text
//! <cache>/models--ORG--NAME/
//!     refs/<branch or tag>            the commit it points to (no newline)
//!     blobs/<etag>                    file contents, named by the hub's ETag (sha256 for LFS
//!                                     files, the git blob sha1 otherwise)
//!     snapshots/<commit>/<file>       relative symlink to ../../blobs/<etag>
//!     .no_exist/<commit>/<file>       empty: the file is known not to exist at that commit
//! <cache>/.locks/models--ORG--NAME/<etag>.lock
//! ```
//!
//! A model Python downloaded is read from here without a request, and the other way round.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files;

/// One model repository's folder in the cache.
#[derive(Debug, Clone)]
pub struct CachedRepo {
    /// `<cache>/models--ORG--NAME`.
    pub dir: PathBuf,
    /// `<cache>/.locks/models--ORG--NAME`.
    pub locks: PathBuf,
}

/// Whether `s` is a full commit hash.
pub fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl CachedRepo {
    pub fn new(cache: &Path, repo: &str) -> Self {
        let folder = format!("models--{}", repo.replace('/', "--"));
        CachedRepo {
            dir: cache.join(&folder),
            locks: cache.join(".locks").join(folder),
        }
    }

    /// The commit a revision names in the cache: itself when it is a commit hash, else what
    /// `refs/<revision>` holds.
    pub fn commit(&self, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_ascii_lowercase());
        }
        let text = std::fs::read_to_string(self.dir.join("refs").join(revision)).ok()?;
        let commit = text.trim();
        is_commit(commit).then(|| commit.to_string())
    }

    pub fn snapshot(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    pub fn blob(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(etag)
    }

    /// The file of a snapshot, when present (a symlink that resolves, or a plain file).
    pub fn file(&self, commit: &str, name: &str) -> Option<PathBuf> {
        let path = self.snapshot(commit).join(name);
        path.is_file().then_some(path)
    }

    /// Whether the cache records that `name` does not exist at `commit`.
    pub fn known_absent(&self, commit: &str, name: &str) -> bool {
        self.dir.join(".no_exist").join(commit).join(name).exists()
    }

    /// Records that `name` does not exist at `commit`.
    pub fn mark_absent(&self, commit: &str, name: &str) -> Result<()> {
        let path = self.dir.join(".no_exist").join(commit).join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::File::create(&path)
            .map(drop)
            .map_err(|e| Error::io(&path, e))
    }

    /// Points `refs/<revision>` at `commit`, atomically (a reader never sees a half-written ref).
    /// A revision that is itself a commit gets no ref, as in huggingface_hub.
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        if is_commit(revision) {
            return Ok(());
        }
        let path = self.dir.join("refs").join(revision);
        let parent = path.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let tmp = parent.join(format!(
            ".{}.{}.{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("ref"),
            std::process::id(),
            WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(commit.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&path, e)
        })
    }

    /// Makes `snapshots/<commit>/<name>` a relative symlink to `blobs/<etag>` (replacing a link
    /// that points elsewhere or nowhere).
    pub fn link(&self, commit: &str, name: &str, etag: &str) -> Result<PathBuf> {
        let pointer = self.snapshot(commit).join(name);
        let parent = pointer.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let depth = Path::new(name).components().count() + 1;
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(etag);
        if std::fs::read_link(&pointer).is_ok_and(|t| t == target) && pointer.is_file() {
            return Ok(pointer);
        }
        if pointer.symlink_metadata().is_ok() {
            std::fs::remove_file(&pointer).map_err(|e| Error::io(&pointer, e))?;
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &pointer).or_else(|e| {
            // Another process linked it first.
            if e.kind() == std::io::ErrorKind::AlreadyExists && pointer.is_file() {
                Ok(())
            } else {
                Err(Error::io(&pointer, e))
            }
        })?;
        #[cfg(not(unix))]
        std::fs::copy(self.blob(etag), &pointer).map_err(|e| Error::io(&pointer, e))?;
        Ok(pointer)
    }

    /// What the snapshot of `commit` lacks of what byline reads (empty when complete). With
    /// `lenient`, optional files that are simply absent (not recorded in `.no_exist`) count as
    /// absent on the hub, and `pytorch_model.bin` stands in for safetensors.
    pub fn missing(&self, commit: &str, lenient: bool) -> Vec<String> {
        let snapshot = self.snapshot(commit);
        if !snapshot.is_dir() {
            return vec![format!("no snapshot {commit}")];
        }
        let mut missing = Vec::new();
        for &name in files::REQUIRED {
            if self.file(commit, name).is_none() {
                missing.push(name.to_string());
            }
        }
        for &name in files::OPTIONAL {
            let settled = self.file(commit, name).is_some() || self.known_absent(commit, name);
            if !settled && !lenient {
                missing.push(name.to_string());
            }
        }
        if let Some(linker) = self.byline_linker(commit) {
            if self.file(commit, &linker).is_none() {
                missing.push(linker);
            }
        }
        if let Err(what) = self.weights(commit, lenient) {
            missing.push(what);
        }
        missing
    }

    /// The `linker.safetensors` a cached `byline.json` asks for, if any.
    fn byline_linker(&self, commit: &str) -> Option<String> {
        let path = self.file(commit, files::BYLINE)?;
        let text = std::fs::read_to_string(path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json.get("linker")
            .is_some_and(|l| !l.is_null())
            .then(|| files::LINKER.to_string())
    }

    /// `Ok` when the snapshot holds a whole checkpoint, else what is missing.
    fn weights(&self, commit: &str, lenient: bool) -> std::result::Result<(), String> {
        if self.file(commit, files::SAFETENSORS).is_some() {
            return Ok(());
        }
        if let Some(index) = self.file(commit, files::SAFETENSORS_INDEX) {
            let shards = files::shards(&index).map_err(|e| e.to_string())?;
            return match shards.iter().find(|s| self.file(commit, s).is_none()) {
                Some(s) => Err(s.clone()),
                None => Ok(()),
            };
        }
        let no_safetensors = self.known_absent(commit, files::SAFETENSORS)
            && self.known_absent(commit, files::SAFETENSORS_INDEX);
        if self.file(commit, files::PYTORCH).is_some() && (no_safetensors || lenient) {
            return Ok(());
        }
        Err(files::SAFETENSORS.to_string())
    }
}

/// Checks a downloaded blob against the hub's size and, where the ETag is a content hash, its
/// hash: 64 hex digits are the sha256 of an LFS file, and must match; 40 are the git blob sha1
/// of a regular file (a plain sha1 is accepted too), and a mismatch there is only logged, since
/// servers other than the hub may use 40 hex digits for other things. Other ETags: size only.
pub fn verify(path: &Path, etag: &str, size: usize) -> std::result::Result<(), String> {
    use sha1::Digest as _;
    let found = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if found != size as u64 {
        return Err(format!("{found} bytes, the hub says {size}"));
    }
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let is_hex = etag.bytes().all(|b| b.is_ascii_hexdigit());
    let etag = etag.to_ascii_lowercase();
    match etag.len() {
        64 if is_hex => {
            let mut h = sha2::Sha256::new();
            copy_into(path, &mut h)?;
            let digest = hex(&h.finalize());
            if digest != etag {
                return Err(format!("its sha256 is {digest}, the hub's ETag is {etag}"));
            }
        }
        40 if is_hex => {
            let mut git = sha1::Sha1::new();
            git.update(format!("blob {size}\0").as_bytes());
            copy_into(path, &mut git)?;
            let mut plain = sha1::Sha1::new();
            copy_into(path, &mut plain)?;
            let (git, plain) = (hex(&git.finalize()), hex(&plain.finalize()));
            if git != etag && plain != etag {
                tracing::warn!(
                    path = %path.display(),
                    etag,
                    "the ETag is neither the git blob sha1 nor the sha1 of the file; size checked only"
                );
            }
        }
        _ => {}
    }
    Ok(())
}

fn copy_into(path: &Path, hasher: &mut impl std::io::Write) -> std::result::Result<(), String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::copy(&mut f, hasher).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_sizes_and_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"hello\n").unwrap();
        // `printf 'hello\n' | sha256sum`, and `git hash-object` of the same.
        let sha256 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        let git = "ce013625030ba8dba906f756967f9e9ca394464a";
        assert_eq!(verify(&path, sha256, 6), Ok(()));
        assert_eq!(verify(&path, git, 6), Ok(()));
        assert_eq!(verify(&path, "not-a-hash", 6), Ok(()));
        // `printf 'hello\n' | sha1sum`: a plain sha1 is fine too.
        assert_eq!(
            verify(&path, "f572d396fae9206628714fb2ce00f72e94f2258f", 6),
            Ok(())
        );
        assert!(verify(&path, sha256, 7).unwrap_err().contains("6 bytes"));
        let other = "0".repeat(64);
        assert!(verify(&path, &other, 6).unwrap_err().contains("sha256"));
    }

    #[test]
    fn refs_links_and_absent_files() {
        let dir = tempfile::tempdir().unwrap();
        let repo = CachedRepo::new(dir.path(), "org/name");
        assert!(repo.dir.ends_with("models--org--name"));
        let commit = "a".repeat(40);
        assert_eq!(repo.commit(&commit), Some(commit.clone()));
        assert_eq!(repo.commit("main"), None);
        repo.write_ref("main", &commit).unwrap();
        assert_eq!(repo.commit("main"), Some(commit.clone()));
        repo.write_ref(&commit, &commit).unwrap();
        assert!(!repo.dir.join("refs").join(&commit).exists());
        std::fs::create_dir_all(repo.dir.join("blobs")).unwrap();
        std::fs::write(repo.blob("e1"), b"{}").unwrap();
        let p = repo.link(&commit, "config.json", "e1").unwrap();
        assert_eq!(
            std::fs::read_link(&p).unwrap(),
            PathBuf::from("../../blobs/e1")
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{}");
        // Relinking to another blob replaces the link.
        std::fs::write(repo.blob("e2"), b"[]").unwrap();
        let p = repo.link(&commit, "config.json", "e2").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "[]");
        assert!(!repo.known_absent(&commit, "byline.json"));
        repo.mark_absent(&commit, "byline.json").unwrap();
        assert!(repo.known_absent(&commit, "byline.json"));
        let missing = repo.missing(&commit, false);
        assert!(
            missing.contains(&"model.safetensors".to_string()),
            "{missing:?}"
        );
        assert!(
            missing.contains(&"tokenizer.json".to_string()),
            "{missing:?}"
        );
        assert!(!missing.contains(&"byline.json".to_string()), "{missing:?}");
    }
}
