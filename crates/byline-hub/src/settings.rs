//! Where the hub and its cache are, from the environment variables Python's huggingface_hub
//! reads: `HF_HUB_CACHE` (else `HF_HOME/hub`, else `XDG_CACHE_HOME/huggingface/hub`, else
//! `~/.cache/huggingface/hub`), `HF_ENDPOINT`, `HF_TOKEN` (else the file `HF_TOKEN_PATH`, else
//! `HF_HOME/token`, which `huggingface-cli login` writes) and `HF_HUB_OFFLINE`.

use std::path::PathBuf;

/// The hub the model files come from by default.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How to reach the hub and where its cache is.
#[derive(Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// The hub cache folder (`.../huggingface/hub`), holding `models--ORG--NAME/`.
    pub cache: PathBuf,
    /// Base URL, without a trailing `/`.
    pub endpoint: String,
    pub token: Option<String>,
    /// Cache only: no request at all.
    pub offline: bool,
    /// Draw download progress bars (on stderr; callers set it when stderr is a terminal).
    pub progress: bool,
}

impl std::fmt::Debug for HubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSettings")
            .field("cache", &self.cache)
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("offline", &self.offline)
            .field("progress", &self.progress)
            .finish()
    }
}

/// huggingface_hub's `_is_true`: `1`, `ON`, `YES`, `TRUE` in any case.
fn is_true(value: Option<String>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_uppercase().as_str(),
            "1" | "ON" | "YES" | "TRUE"
        )
    })
}

impl HubSettings {
    /// The settings of this process's environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// The settings for the variables `var` gives (for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let home_dir = || {
            var("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
        };
        let hf_home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home_dir().join(".cache"))
                .join("huggingface")
        });
        let cache = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("hub"));
        let endpoint = var("HF_ENDPOINT")
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
            .trim_end_matches('/')
            .to_string();
        let token_file = var("HF_TOKEN_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("token"));
        let token = var("HF_TOKEN")
            .or_else(|| std::fs::read_to_string(token_file).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        HubSettings {
            cache,
            endpoint,
            token,
            offline: is_true(var("HF_HUB_OFFLINE")),
            progress: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> HubSettings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubSettings::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn cache_and_endpoint() {
        let s = settings(&[("HOME", "/home/u")]);
        assert_eq!(s.cache, PathBuf::from("/home/u/.cache/huggingface/hub"));
        assert_eq!(s.endpoint, DEFAULT_ENDPOINT);
        assert!(!s.offline);
        let s = settings(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]);
        assert_eq!(s.cache, PathBuf::from("/x/huggingface/hub"));
        let s = settings(&[("HF_HOME", "/hf"), ("XDG_CACHE_HOME", "/x")]);
        assert_eq!(s.cache, PathBuf::from("/hf/hub"));
        let s = settings(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")]);
        assert_eq!(s.cache, PathBuf::from("/c"));
        let s = settings(&[("HF_ENDPOINT", "http://127.0.0.1:9/")]);
        assert_eq!(s.endpoint, "http://127.0.0.1:9");
        for (v, offline) in [
            ("1", true),
            ("true", true),
            ("YES", true),
            ("on", true),
            ("0", false),
            ("no", false),
        ] {
            assert_eq!(settings(&[("HF_HUB_OFFLINE", v)]).offline, offline, "{v}");
        }
    }

    #[test]
    fn token_from_variable_then_files() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        std::fs::write(dir.path().join("token"), "hf_file\n").unwrap();
        std::fs::write(dir.path().join("other"), "hf_other").unwrap();
        let other = dir.path().join("other");
        let s = settings(&[("HF_HOME", home)]);
        assert_eq!(s.token.as_deref(), Some("hf_file"));
        let s = settings(&[
            ("HF_HOME", home),
            ("HF_TOKEN_PATH", other.to_str().unwrap()),
        ]);
        assert_eq!(s.token.as_deref(), Some("hf_other"));
        let s = settings(&[("HF_HOME", home), ("HF_TOKEN", "hf_env")]);
        assert_eq!(s.token.as_deref(), Some("hf_env"));
        assert!(
            !format!("{s:?}").contains("hf_env"),
            "the token is never printed"
        );
        let s = settings(&[("HF_HOME", "/nowhere")]);
        assert_eq!(s.token, None);
    }
}
