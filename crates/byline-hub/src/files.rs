//! Which files of a model repository byline reads, and so fetches: nothing else is downloaded.

use std::path::Path;

use crate::error::{Error, Result};

pub const CONFIG: &str = "config.json";
pub const TOKENIZER: &str = "tokenizer.json";
pub const BYLINE: &str = "byline.json";
pub const LINKER: &str = "linker.safetensors";
pub const SAFETENSORS: &str = "model.safetensors";
pub const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
pub const PYTORCH: &str = "pytorch_model.bin";

/// Always needed.
pub const REQUIRED: &[&str] = &[CONFIG];

/// Read when the repository has them: the tokenizer and its settings (special tokens, length),
/// and byline's own files.
pub const OPTIONAL: &[&str] = &[
    TOKENIZER,
    "tokenizer_config.json",
    "special_tokens_map.json",
    BYLINE,
];

/// DeBERTa-v2/v3's SentencePiece model, fetched only when the repository has no tokenizer.json
/// (byline then converts it).
pub const SPM: &str = "spm.model";

/// The files to fetch from a repository holding `names` (its `siblings`): the required and
/// optional ones it has, byline's linker when it has one, and one checkpoint: `model.safetensors`,
/// else the sharded index (its shards are added once it is read), else `pytorch_model.bin`.
/// Also returns the optional files it lacks.
pub fn plan(repo: &str, names: &[String]) -> Result<(Vec<String>, Vec<String>)> {
    let has = |n: &str| names.iter().any(|x| x == n);
    let mut fetch = Vec::new();
    let mut absent = Vec::new();
    for &name in REQUIRED {
        if !has(name) {
            return Err(Error::BadRepo {
                repo: repo.to_string(),
                message: format!("the repository has no {name}: it is not a transformers model"),
            });
        }
        fetch.push(name.to_string());
    }
    for &name in OPTIONAL.iter().chain(&[LINKER]) {
        if has(name) {
            fetch.push(name.to_string());
        } else {
            absent.push(name.to_string());
        }
    }
    if !has(TOKENIZER) && has(SPM) {
        fetch.push(SPM.to_string());
    }
    let weights = [SAFETENSORS, SAFETENSORS_INDEX, PYTORCH]
        .into_iter()
        .find(|w| has(w))
        .ok_or_else(|| Error::BadRepo {
            repo: repo.to_string(),
            message: format!(
                "the repository has no {SAFETENSORS}, {SAFETENSORS_INDEX} or {PYTORCH}"
            ),
        })?;
    for w in [SAFETENSORS, SAFETENSORS_INDEX] {
        if w != weights && !has(w) {
            absent.push(w.to_string());
        }
    }
    fetch.push(weights.to_string());
    Ok((fetch, absent))
}

/// The shard files a `model.safetensors.index.json` names, sorted, without repeats. A name that
/// is not a plain file name is an error.
pub fn shards(index: &Path) -> Result<Vec<String>> {
    let bad = |message: String| Error::BadRepo {
        repo: index.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no `weight_map` object".into()))?;
    let mut out: Vec<String> = Vec::new();
    for (weight, file) in map {
        let file = file
            .as_str()
            .filter(|f| !f.is_empty() && !f.contains(['/', '\\']) && !f.starts_with('.'))
            .ok_or_else(|| {
                bad(format!(
                    "weight `{weight}`: {file} is not a shard file name"
                ))
            })?;
        if !out.iter().any(|o| o == file) {
            out.push(file.to_string());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn spm_model_is_fetched_only_without_tokenizer_json() {
        let deberta = names(&[
            "config.json",
            "spm.model",
            "tokenizer_config.json",
            "pytorch_model.bin",
        ]);
        let (fetch, _) = plan("o/n", &deberta).unwrap();
        assert!(fetch.contains(&"spm.model".to_string()), "{fetch:?}");
        let mut both = deberta.clone();
        both.push("tokenizer.json".into());
        let (fetch, _) = plan("o/n", &both).unwrap();
        assert!(!fetch.contains(&"spm.model".to_string()), "{fetch:?}");
        assert!(fetch.contains(&"tokenizer.json".to_string()));
    }

    #[test]
    fn plans_only_what_byline_reads() {
        let (fetch, absent) = plan(
            "o/n",
            &names(&[
                "config.json",
                "tokenizer.json",
                "model.safetensors",
                "pytorch_model.bin",
                "tf_model.h5",
                "README.md",
                "vocab.txt",
            ]),
        )
        .unwrap();
        assert_eq!(
            fetch,
            names(&["config.json", "tokenizer.json", "model.safetensors"])
        );
        assert!(absent.contains(&"byline.json".to_string()));
        assert!(absent.contains(&"model.safetensors.index.json".to_string()));
        let (fetch, _) = plan("o/n", &names(&["config.json", "pytorch_model.bin"])).unwrap();
        assert_eq!(fetch, names(&["config.json", "pytorch_model.bin"]));
        let (fetch, _) = plan(
            "o/n",
            &names(&[
                "config.json",
                "model.safetensors.index.json",
                "pytorch_model.bin",
                "byline.json",
                "linker.safetensors",
            ]),
        )
        .unwrap();
        assert_eq!(
            fetch,
            names(&[
                "config.json",
                "byline.json",
                "linker.safetensors",
                "model.safetensors.index.json"
            ])
        );
        let e = plan("o/n", &names(&["model.safetensors"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("o/n") && e.contains("config.json"), "{e}");
        let e = plan("o/n", &names(&["config.json", "tf_model.h5"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("o/n") && e.contains("model.safetensors"), "{e}");
    }

    #[test]
    fn reads_shard_names() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("i.json");
        std::fs::write(
            &index,
            r#"{"metadata":{},"weight_map":{"a":"m-00002.safetensors","b":"m-00001.safetensors","c":"m-00001.safetensors"}}"#,
        )
        .unwrap();
        assert_eq!(
            shards(&index).unwrap(),
            names(&["m-00001.safetensors", "m-00002.safetensors"])
        );
        std::fs::write(&index, r#"{"weight_map":{"a":"../etc/passwd"}}"#).unwrap();
        assert!(shards(&index).is_err());
    }
}
