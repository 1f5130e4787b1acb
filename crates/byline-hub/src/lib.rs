//! # byline-hub
//!
//! Model references resolved to a local folder: a folder as it is, or a Hugging Face hub id
//! `ORG/NAME[@REVISION]` fetched through the [`hf_hub`] crate into the cache that Python's
//! huggingface_hub uses ([`cache`] shows the layout), so either reads what the other fetched.
//!
//! * [`ModelRef::parse`]: an existing path wins; `./X` is always a path, `hf://ORG/NAME` always
//!   a hub id.
//! * [`HubSettings::from_env`]: `HF_HUB_CACHE` / `HF_HOME`, `HF_ENDPOINT`, `HF_TOKEN` (or the
//!   token file of `huggingface-cli login`), `HF_HUB_OFFLINE`.
//! * [`resolve`]: the snapshot folder of the revision, with what byline reads ([`files`]):
//!   `config.json`, the tokenizer files, byline's own files when the repository has them, and
//!   one checkpoint (`model.safetensors`, a sharded index and its shards, or `pytorch_model.bin`
//!   when there is no safetensors).
//!
//! What byline adds to hf-hub 0.5 (whose blocking client is ureq):
//!
//! * **Cache first.** A revision whose snapshot in the cache is complete is used without a
//!   request; a commit hash is looked up as a snapshot directly (hf-hub looks for a ref).
//! * **Offline.** With `HF_HUB_OFFLINE` no client is even built; a model missing from the cache
//!   is an error naming the repository and saying how to fetch it.
//! * **Nothing truncated is ever used.** hf-hub downloads into `blobs/<etag>.part`, resumes a
//!   partial file with a range request and renames it when the body ends; byline then checks the
//!   blob's size against the hub's, and its sha256 (LFS files) or git sha1 (other files) against
//!   the ETag, and removes a blob that fails. A partial file as long as the whole (which hf-hub
//!   would resume with an unsatisfiable range) is dropped first.
//! * **Two processes, one cache.** A download holds `.locks/models--ORG--NAME/<etag>.lock`
//!   (the lock file huggingface_hub takes, so it also waits for Python), waiting for another
//!   holder instead of failing after hf-hub's five one-second tries.
//! * **Errors** that name the repository, file and URL: unknown repository or revision, missing
//!   file, 401/403 with what to do about the token, server errors, connection failures, a cut
//!   download (resumed next run).

pub mod cache;
pub mod error;
pub mod files;
pub mod reference;
pub mod settings;
#[cfg(feature = "stand-in")]
pub mod stand_in;

use std::path::PathBuf;

use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};

pub use cache::CachedRepo;
pub use error::{Error, Result};
pub use reference::{parse_hub_id, HubId, ModelRef};
pub use settings::HubSettings;

/// The local folder of a model reference: the folder itself, or the cache snapshot of a hub id
/// (fetched when needed and allowed).
pub fn resolve(reference: &str, settings: &HubSettings) -> Result<PathBuf> {
    match ModelRef::parse(reference)? {
        ModelRef::Local(path) => Ok(path),
        ModelRef::Hub(id) => fetch(&id, settings).map_err(|e| {
            // `models/byline-news-smal` (a typo) reads as a hub id: say that the folder it
            // looks like is not there either.
            let org = id.repo.split('/').next().unwrap_or_default();
            if std::path::Path::new(org).is_dir() && !reference.starts_with(reference::HUB_PREFIX) {
                Error::BadReference {
                    reference: reference.to_string(),
                    why: format!("no such folder (though ./{org} exists), and as a hub id: {e}"),
                }
            } else {
                e
            }
        }),
    }
}

/// [`resolve`] with this process's environment ([`HubSettings::from_env`]), drawing download
/// progress when stderr is a terminal: what the command-line tool and training use.
pub fn resolve_from_env(reference: &str) -> Result<PathBuf> {
    let settings = HubSettings {
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ..HubSettings::from_env()
    };
    resolve(reference, &settings)
}

/// The cache snapshot folder of `id`, downloading what is missing unless offline.
pub fn fetch(id: &HubId, settings: &HubSettings) -> Result<PathBuf> {
    let cached = CachedRepo::new(&settings.cache, &id.repo);
    let revision = id.revision();
    if let Some(commit) = cached.commit(revision) {
        let missing = cached.missing(&commit, settings.offline);
        if missing.is_empty() {
            tracing::debug!(repo = %id, commit, "using the cached snapshot");
            return Ok(cached.snapshot(&commit));
        }
        if settings.offline {
            return Err(not_cached(
                id,
                settings,
                format!("missing {}", missing.join(", ")),
            ));
        }
    } else if settings.offline {
        return Err(not_cached(id, settings, "no snapshot".into()));
    }
    Fetcher::new(id, settings)?.run()
}

fn not_cached(id: &HubId, settings: &HubSettings, what: String) -> Error {
    Error::NotCached {
        repo: id.repo.clone(),
        revision: id.revision().to_string(),
        cache: settings.cache.clone(),
        what,
    }
}

/// One repository's download.
struct Fetcher<'a> {
    id: &'a HubId,
    settings: &'a HubSettings,
    api: Api,
    cached: CachedRepo,
}

impl<'a> Fetcher<'a> {
    fn new(id: &'a HubId, settings: &'a HubSettings) -> Result<Self> {
        let api = ApiBuilder::from_cache(Cache::new(settings.cache.clone()))
            .with_endpoint(settings.endpoint.clone())
            .with_token(settings.token.clone())
            .with_progress(settings.progress)
            .with_user_agent("byline", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| Error::Connection {
                repo: id.repo.clone(),
                url: settings.endpoint.clone(),
                message: e.to_string(),
            })?;
        Ok(Fetcher {
            id,
            settings,
            api,
            cached: CachedRepo::new(&settings.cache, &id.repo),
        })
    }

    fn repo_at(&self, revision: &str) -> Repo {
        Repo::with_revision(self.id.repo.clone(), RepoType::Model, revision.to_string())
    }

    fn run(&self) -> Result<PathBuf> {
        let revision = self.id.revision();
        let info_url = format!(
            "{}/api/models/{}/revision/{}",
            self.settings.endpoint,
            self.id.repo,
            revision.replace('/', "%2F")
        );
        let info = match self.api.repo(self.repo_at(revision)).info() {
            Ok(info) => info,
            Err(e) => return Err(self.info_error(e, &info_url)),
        };
        let commit = info.sha.trim().to_ascii_lowercase();
        if !cache::is_commit(&commit) {
            return Err(Error::BadRepo {
                repo: self.id.repo.clone(),
                message: format!("{info_url} gave `{}`, not a commit hash", info.sha),
            });
        }
        let names: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
        let (mut todo, absent) = files::plan(&self.id.repo, &names)?;
        for name in &absent {
            self.cached.mark_absent(&commit, name)?;
        }
        while let Some(name) = (!todo.is_empty()).then(|| todo.remove(0)) {
            let path = self.file(&commit, &name)?;
            if name == files::SAFETENSORS_INDEX {
                todo.extend(files::shards(&path)?);
            }
        }
        self.cached.write_ref(revision, &commit)?;
        // hf-hub writes `refs/<commit>` for the commit it downloads at; huggingface_hub does not.
        let stray = self.cached.dir.join("refs").join(&commit);
        if stray.is_file() {
            let _ = std::fs::remove_file(stray);
        }
        Ok(self.cached.snapshot(&commit))
    }

    /// One file of the commit in the cache: taken from the snapshot when there, else from a
    /// verified blob, else downloaded and verified.
    fn file(&self, commit: &str, name: &str) -> Result<PathBuf> {
        if let Some(path) = self.cached.file(commit, name) {
            return Ok(path);
        }
        let repo = self.api.repo(self.repo_at(commit));
        let url = repo.url(name);
        let meta = self
            .api
            .metadata(&url)
            .map_err(|e| self.file_error(e, name, &url))?;
        let etag = meta.etag().to_string();
        // hf-hub names the blob by the ETag as sent, quotes removed; a weak `W/"..."` ETag
        // becomes `blobs/W/...`.
        let plain = etag.strip_prefix("W/").unwrap_or(&etag);
        if plain.is_empty() || plain.contains(['/', '\\']) || plain.starts_with('.') {
            return Err(Error::BadRepo {
                repo: self.id.repo.clone(),
                message: format!("{url}: the ETag `{etag}` cannot name a file"),
            });
        }
        let _lock = self.lock(&etag)?;
        let blob = self.cached.blob(&etag);
        let ready = blob.is_file() && cache::verify(&blob, &etag, meta.size()).is_ok();
        if !ready {
            self.clear_stale(&blob, meta.size())?;
            tracing::info!(repo = %self.id.repo, file = name, bytes = meta.size(), "downloading");
            repo.download(name)
                .map_err(|e| self.file_error(e, name, &url))?;
            if let Err(message) = cache::verify(&blob, &etag, meta.size()) {
                let _ = std::fs::remove_file(&blob);
                let _ = std::fs::remove_file(self.cached.snapshot(commit).join(name));
                return Err(Error::Corrupt {
                    repo: self.id.repo.clone(),
                    file: name.to_string(),
                    message,
                });
            }
        }
        self.cached.link(commit, name, &etag)
    }

    /// Removes a blob that failed verification, and a partial download that is already as long
    /// as the whole file (or longer): resuming it would ask for bytes past the end.
    fn clear_stale(&self, blob: &std::path::Path, size: usize) -> Result<()> {
        if blob.exists() {
            std::fs::remove_file(blob).map_err(|e| Error::io(blob, e))?;
        }
        let part = blob.with_extension("part");
        if std::fs::metadata(&part).is_ok_and(|m| m.len() >= size as u64) {
            std::fs::remove_file(&part).map_err(|e| Error::io(&part, e))?;
        }
        Ok(())
    }

    /// Waits for, then holds, the lock of one blob.
    fn lock(&self, etag: &str) -> Result<std::fs::File> {
        let locks = &self.cached.locks;
        std::fs::create_dir_all(locks).map_err(|e| Error::io(locks, e))?;
        let path = locks.join(format!("{}.lock", etag.replace('/', "_")));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        file.lock().map_err(|e| Error::io(&path, e))?;
        Ok(file)
    }

    fn status(e: &ApiError) -> Option<u16> {
        match e {
            ApiError::RequestError(inner) => match inner.as_ref() {
                ureq::Error::StatusCode(s) => Some(*s),
                _ => None,
            },
            _ => None,
        }
    }

    /// The error of the repository-info request: a 404 is an unknown repository, or an unknown
    /// revision when the repository answers at `main`.
    fn info_error(&self, e: ApiError, url: &str) -> Error {
        let repo = self.id.repo.clone();
        match Self::status(&e) {
            Some(404) => {
                let revision = self.id.revision();
                let exists =
                    revision != "main" && self.api.repo(self.repo_at("main")).info().is_ok();
                if exists {
                    Error::UnknownRevision {
                        repo,
                        revision: revision.to_string(),
                        endpoint: self.settings.endpoint.clone(),
                    }
                } else {
                    Error::UnknownRepo {
                        repo,
                        endpoint: self.settings.endpoint.clone(),
                    }
                }
            }
            _ => self.request_error(e, None, url),
        }
    }

    fn file_error(&self, e: ApiError, file: &str, url: &str) -> Error {
        match Self::status(&e) {
            Some(404) => Error::MissingFile {
                repo: self.id.repo.clone(),
                revision: self.id.revision().to_string(),
                file: file.to_string(),
                url: url.to_string(),
            },
            _ => self.request_error(e, Some(file), url),
        }
    }

    fn request_error(&self, e: ApiError, file: Option<&str>, url: &str) -> Error {
        let repo = self.id.repo.clone();
        let url = url.to_string();
        if let Some(status) = Self::status(&e) {
            return match status {
                401 | 403 => Error::Unauthorized {
                    repo,
                    status,
                    url,
                    had_token: self.settings.token.is_some(),
                },
                _ => Error::Server { repo, status, url },
            };
        }
        match (e, file) {
            (ApiError::RequestError(inner), _) => Error::Connection {
                repo,
                url,
                message: inner.to_string(),
            },
            (ApiError::MissingHeader(h), _) => Error::BadRepo {
                repo,
                message: format!(
                    "{url}: the answer has no `{h}` header (is HF_ENDPOINT={} a hub?)",
                    self.settings.endpoint
                ),
            },
            (e, Some(file)) => Error::Download {
                repo,
                file: file.to_string(),
                url,
                message: e.to_string(),
            },
            (e, None) => Error::Connection {
                repo,
                url,
                message: e.to_string(),
            },
        }
    }
}
