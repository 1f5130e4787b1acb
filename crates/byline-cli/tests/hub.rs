//! `byline` with models from a stand-in hub on 127.0.0.1 (`HF_ENDPOINT`, `HF_HOME`,
//! `HF_HUB_OFFLINE`), plain token-classification checkpoints tagged as transformers' pipeline
//! tags them, and `byline export --format hf`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use byline_hub::stand_in::StandInHub;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hf_fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/hf").join(name)
}

/// The files of a fixture checkpoint, as a hub repository holds them.
fn repo_files(name: &str) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(hf_fixture(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "golden.json")
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn publish(hub: &StandInHub, repo: &str, revision: &str, name: &str) -> String {
    let files = repo_files(name);
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    hub.publish(repo, revision, &refs)
}

fn golden(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(hf_fixture(name).join("golden.json")).unwrap())
        .unwrap()
}

/// `byline` with the hub environment of a fresh cache in `home`.
fn byline(hub: Option<&StandInHub>, home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("byline").unwrap();
    cmd.env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("BYLINE_MODEL")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env("HF_HOME", home)
        .env(
            "HF_ENDPOINT",
            hub.map_or_else(|| "http://127.0.0.1:9".to_string(), StandInHub::url),
        );
    cmd
}

/// The golden texts as JSONL documents `t0`, `t1`, ...
fn texts_jsonl(g: &Value) -> String {
    g["texts"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"id": format!("t{i}"), "text": t}).to_string() + "\n")
        .collect()
}

/// Entities of `byline tag` output lines: (label, start, end, score) per document.
fn tagged(stdout: &[u8]) -> Vec<Vec<(String, u64, u64, f64)>> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["entities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["label"].as_str().unwrap().to_string(),
                        e["start"].as_u64().unwrap(),
                        e["end"].as_u64().unwrap(),
                        e["score"].as_f64().unwrap(),
                    )
                })
                .collect()
        })
        .collect()
}

fn assert_pipeline_entities(got: &[Vec<(String, u64, u64, f64)>], g: &Value, strategy: &str) {
    let want = g["pipeline"][strategy].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (t, (got, want)) in got.iter().zip(want).enumerate() {
        let want: Vec<(String, u64, u64, f64)> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["entity_group"].as_str().unwrap().to_string(),
                    e["start"].as_u64().unwrap(),
                    e["end"].as_u64().unwrap(),
                    e["score"].as_f64().unwrap(),
                )
            })
            .collect();
        let same = got.len() == want.len()
            && got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.0 == b.0 && a.1 == b.1 && a.2 == b.2 && (a.3 - b.3).abs() < 1e-4);
        assert!(
            same,
            "{strategy} text {t}\n byline {got:?}\n pipeline {want:?}"
        );
    }
}

#[test]
fn tag_with_a_hub_model_online_cached_offline_and_at_a_revision() {
    let hub = StandInHub::start().unwrap();
    publish(&hub, "newsroom/tiny-bert-ner", "main", "tiny-bert-bio");
    publish(
        &hub,
        "newsroom/tiny-bert-ner",
        "distil",
        "tiny-distilbert-bio",
    );
    let home = tempfile::tempdir().unwrap();
    let g = golden("tiny-bert-bio");
    let input = texts_jsonl(&g);

    for strategy in ["first", "simple", "average", "max"] {
        let out = byline(Some(&hub), home.path())
            .args([
                "tag",
                "--threads",
                "1",
                "--model",
                "newsroom/tiny-bert-ner",
                "--aggregation",
                strategy,
            ])
            .write_stdin(input.clone())
            .assert()
            .success();
        assert_pipeline_entities(&tagged(&out.get_output().stdout), &g, strategy);
    }
    // Downloaded once: the later runs read the cache without a request.
    let resolves = |h: &StandInHub| {
        h.requests()
            .iter()
            .filter(|r| r.contains("/resolve/"))
            .count()
    };
    let after_first = hub.requests().len();
    assert!(resolves(&hub) > 0);
    assert!(
        hub.requests()
            .iter()
            .filter(|r| r.contains("/api/models/"))
            .count()
            == 1,
        "{:?}",
        hub.requests()
    );

    // Offline: no request at all, same output.
    let out = byline(Some(&hub), home.path())
        .env("HF_HUB_OFFLINE", "1")
        .args(["tag", "--threads", "1", "--model", "newsroom/tiny-bert-ner"])
        .write_stdin(input.clone())
        .assert()
        .success();
    assert_pipeline_entities(&tagged(&out.get_output().stdout), &g, "first");
    assert_eq!(hub.requests().len(), after_first);

    // A revision (a branch holding the DistilBERT checkpoint).
    let gd = golden("tiny-distilbert-bio");
    let out = byline(Some(&hub), home.path())
        .args([
            "tag",
            "--threads",
            "1",
            "--model",
            "newsroom/tiny-bert-ner@distil",
            "--aggregation",
            "average",
        ])
        .write_stdin(texts_jsonl(&gd))
        .assert()
        .success();
    assert_pipeline_entities(&tagged(&out.get_output().stdout), &gd, "average");

    // Offline with a model the cache lacks: an error naming the repo and how to fetch it.
    let out = byline(Some(&hub), home.path())
        .env("HF_HUB_OFFLINE", "1")
        .args(["tag", "--model", "newsroom/never-fetched"])
        .write_stdin("{\"text\": \"x\"}\n")
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("newsroom/never-fetched") && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );

    // Unknown repository and revision, online.
    for (model, says) in [
        ("newsroom/nothing-here", "no such model repository"),
        ("newsroom/tiny-bert-ner@v9", "no revision `v9`"),
    ] {
        let out = byline(Some(&hub), home.path())
            .args(["tag", "--model", model])
            .write_stdin("{\"text\": \"x\"}\n")
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains(says), "{model}: {err}");
    }
}

#[test]
fn plain_checkpoints_in_every_output_mode() {
    let home = tempfile::tempdir().unwrap();
    let model = hf_fixture("tiny-bert-bio");
    let model = model.to_str().unwrap();
    let g = golden("tiny-bert-bio");
    let input = texts_jsonl(&g);
    // --stream gives the records of a whole-input run.
    let whole = byline(None, home.path())
        .args(["tag", "--threads", "1", "--model", model])
        .write_stdin(input.clone())
        .assert()
        .success();
    let stream = byline(None, home.path())
        .args(["tag", "--threads", "1", "--stream", "--model", model])
        .write_stdin(input.clone())
        .assert()
        .success();
    assert_eq!(
        tagged(&whole.get_output().stdout),
        tagged(&stream.get_output().stdout)
    );
    // q8: most entities kept.
    let q8 = byline(None, home.path())
        .args([
            "tag",
            "--threads",
            "1",
            "--quantize",
            "q8",
            "--model",
            model,
        ])
        .write_stdin(input.clone())
        .assert()
        .success();
    let (a, b) = (
        tagged(&whole.get_output().stdout),
        tagged(&q8.get_output().stdout),
    );
    let total: usize = a.iter().map(Vec::len).sum();
    let kept: usize = a
        .iter()
        .zip(&b)
        .map(|(x, y)| {
            x.iter()
                .filter(|e| y.iter().any(|f| f.0 == e.0 && f.1 == e.1 && f.2 == e.2))
                .count()
        })
        .sum();
    assert!(kept * 10 >= total * 8, "q8 kept {kept} of {total}");
    // Text output names the entities.
    let text = byline(None, home.path())
        .args([
            "tag",
            "--threads",
            "1",
            "--format",
            "text",
            "--model",
            model,
        ])
        .write_stdin(input)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    assert!(
        text.contains("entities:") && text.contains("quotes: 0"),
        "{text}"
    );
    // CoNLL in, CoNLL out with a predicted column from the checkpoint's labels.
    let conll = byline(None, home.path())
        .current_dir(repo_root().join("tests/fixtures"))
        .args([
            "tag",
            "--threads",
            "1",
            "--format",
            "conll",
            "--model",
            model,
            "conll/gold.txt",
        ])
        .assert()
        .success();
    let conll = String::from_utf8_lossy(&conll.get_output().stdout).into_owned();
    let gold = std::fs::read_to_string(repo_root().join("tests/fixtures/conll/gold.txt")).unwrap();
    assert_eq!(conll.lines().count(), gold.lines().count());
    assert!(
        conll.lines().any(|l| l.ends_with("B-PER")
            || l.ends_with("B-ORG")
            || l.ends_with("B-LOC")
            || l.ends_with("B-MISC")),
        "{conll}"
    );
}

/// A byline model trained one step from the tiny BERT checkpoint, with one entity head:
/// `decoder` softmax or crf, the casing table trained or left at zero.
fn byline_model(dir: &Path, decoder: &str, casing: bool) -> PathBuf {
    byline_model_from(dir, "tiny-bert-bio", decoder, casing)
}

/// [`byline_model`] fine-tuned from the tiny checkpoint `fixture` (any family).
fn byline_model_from(dir: &Path, fixture: &str, decoder: &str, casing: bool) -> PathBuf {
    let name = format!("{fixture}-{decoder}-{casing}");
    let cfg = dir.join(format!("train-{name}.toml"));
    let gold = repo_root().join("tests/fixtures/conll/gold.txt");
    std::fs::write(
        &cfg,
        format!(
            "model_dir = {:?}\noutput_dir = {:?}\nseed = 1\nmax_steps = 2\nbatch_size = 2\n\
             eval_every = 2\nlinker_epochs = 0\nthreads = 1\ncasing = {casing}\n\
             window_subwords = 60\nwindow_overlap = 8\n\
             [[tasks]]\nname = \"entities\"\ntrain = {gold:?}\ndev = {gold:?}\n\
             decoder = {decoder:?}\n",
            hf_fixture(fixture),
            dir.join(format!("run-{name}")),
        ),
    )
    .unwrap();
    byline(None, dir)
        .args(["train", "--config"])
        .arg(&cfg)
        .assert()
        .success();
    let best = dir.join(format!("run-{name}/best"));
    assert!(best.join("byline.json").is_file());
    best
}

fn keys(weights: &Path) -> Vec<String> {
    let bytes = std::fs::read(weights).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut keys: Vec<String> = header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The keys transformers' own model of fixture `name` has (its `golden.json`).
fn state_dict_keys(name: &str) -> Vec<String> {
    golden(name)["state_dict_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

/// `byline export --format hf --dtype f32 MODEL OUT --check GOLD`, which must succeed; its
/// stderr.
fn export_hf_checked(dir: &Path, model: &Path, out: &Path) -> String {
    let run = byline(None, dir)
        .args(["export", "--format", "hf", "--dtype", "f32"])
        .arg(model)
        .arg(out)
        .args(["--check"])
        .arg(repo_root().join("tests/fixtures/conll/gold.txt"))
        .assert()
        .success();
    String::from_utf8_lossy(&run.get_output().stderr).into_owned()
}

/// Tags one sentence with the exported folder `out` as a plain checkpoint.
fn tag_with(dir: &Path, out: &Path) {
    byline(None, dir)
        .args(["tag", "--threads", "1", "--model"])
        .arg(out)
        .write_stdin("{\"text\": \"Elena Kowalski visited Portsmouth.\"}\n")
        .assert()
        .success();
}

#[test]
fn export_hf_has_exactly_transformers_keys_and_refuses_lossy_models() {
    let dir = tempfile::tempdir().unwrap();
    let want = state_dict_keys("tiny-bert-bio");

    // A softmax head and no casing: nothing is dropped, the export is faithful.
    let model = byline_model(dir.path(), "softmax", false);
    let out = dir.path().join("hf-softmax");
    let err = export_hf_checked(dir.path(), &model, &out);
    assert!(!err.contains("warning"), "{err}");
    assert!(err.contains("agreement on") && err.contains("F1"), "{err}");
    assert_eq!(
        keys(&out.join("model.safetensors")),
        want,
        "the keys transformers expects"
    );
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForTokenClassification");
    assert_eq!(config["id2label"]["1"], "B-LOC");
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // The export is a plain checkpoint byline tags as the pipeline would.
    tag_with(dir.path(), &out);

    // A CRF and a trained casing table cannot be expressed: refused, then written with the flag.
    let model = byline_model(dir.path(), "crf", true);
    let out = dir.path().join("hf-crf");
    let run = byline(None, dir.path())
        .args(["export", "--format", "hf"])
        .arg(&model)
        .arg(&out)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(
        err.contains("casing table") && err.contains("CRF") && err.contains("--allow-lossy"),
        "{err}"
    );
    assert!(!out.join("model.safetensors").exists());
    let run = byline(None, dir.path())
        .args([
            "export",
            "--format",
            "hf",
            "--dtype",
            "f32",
            "--allow-lossy",
        ])
        .arg(&model)
        .arg(&out)
        .assert()
        .success();
    let err = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(err.contains("warning: not in the export"), "{err}");
    assert_eq!(keys(&out.join("model.safetensors")), want);
}

#[test]
fn export_hf_writes_each_family_in_its_own_layout() {
    // Fine-tuned from each family's tiny checkpoint, exported: exactly the keys transformers'
    // own model of that family has (DistilBERT is written as BERT, the same function).
    let dir = tempfile::tempdir().unwrap();
    for (fixture, layout, arch) in [
        (
            "tiny-roberta-bio",
            "tiny-roberta-bio",
            "RobertaForTokenClassification",
        ),
        (
            "tiny-xlm-roberta-bio",
            "tiny-xlm-roberta-bio",
            "XLMRobertaForTokenClassification",
        ),
        (
            "tiny-electra-bio",
            "tiny-electra-bio",
            "ElectraForTokenClassification",
        ),
        (
            "tiny-distilbert-bio",
            "tiny-bert-bio",
            "BertForTokenClassification",
        ),
        (
            "tiny-deberta-v3-bio",
            "tiny-deberta-v3-bio",
            "DebertaV2ForTokenClassification",
        ),
        (
            "tiny-deberta-v2-bio",
            "tiny-deberta-v2-bio",
            "DebertaV2ForTokenClassification",
        ),
        (
            "tiny-deberta-v2-conv-bio",
            "tiny-deberta-v2-conv-bio",
            "DebertaV2ForTokenClassification",
        ),
    ] {
        let model = byline_model_from(dir.path(), fixture, "softmax", false);
        let out = dir.path().join(format!("hf-{fixture}"));
        let err = export_hf_checked(dir.path(), &model, &out);
        assert!(err.contains("agreement on"), "{fixture}: {err}");
        assert_eq!(
            keys(&out.join("model.safetensors")),
            state_dict_keys(layout),
            "{fixture}"
        );
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["architectures"][0], arch, "{fixture}");
        tag_with(dir.path(), &out);
    }
}

#[test]
fn export_hf_refuses_modernbert_and_says_why() {
    // ModernBertForTokenClassification has a dense + GELU + LayerNorm head before its
    // classifier that a byline model lacks: no export could compute byline's function.
    let dir = tempfile::tempdir().unwrap();
    let model = byline_model_from(dir.path(), "tiny-modernbert-bio", "softmax", false);
    let out = dir.path().join("hf-modernbert");
    let run = byline(None, dir.path())
        .args(["export", "--format", "hf", "--dtype", "f32"])
        .arg(&model)
        .arg(&out)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(err.contains("ModernBertForTokenClassification"), "{err}");
    assert!(!out.join("model.safetensors").exists());
}

#[test]
fn every_family_tags_from_the_hub_as_the_pipeline_does() {
    // Each family's tiny checkpoint published on the stand-in hub and tagged by repo id:
    // pipeline-identical entities for every aggregation strategy.
    let hub = StandInHub::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    for name in [
        "tiny-roberta-bio",
        "tiny-xlm-roberta-bio",
        "tiny-electra-bio",
        "tiny-modernbert-bio",
        "tiny-deberta-v3-bio",
        "tiny-deberta-v2-bio",
        "tiny-deberta-v2-conv-bio",
    ] {
        let repo = format!("newsroom/{name}");
        publish(&hub, &repo, "main", name);
        let g = golden(name);
        for strategy in ["first", "simple", "average", "max"] {
            let out = byline(Some(&hub), home.path())
                .args([
                    "tag",
                    "--threads",
                    "1",
                    "--model",
                    &repo,
                    "--aggregation",
                    strategy,
                ])
                .write_stdin(texts_jsonl(&g))
                .assert()
                .success();
            assert_pipeline_entities(&tagged(&out.get_output().stdout), &g, strategy);
        }
    }
}

#[test]
fn training_starts_from_a_hub_encoder() {
    let hub = StandInHub::start().unwrap();
    publish(&hub, "newsroom/tiny-encoder", "main", "tiny-distilbert-bio");
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("train.toml");
    let gold = repo_root().join("tests/fixtures/conll/gold.txt");
    std::fs::write(
        &cfg,
        format!(
            "model_dir = \"newsroom/tiny-encoder\"\noutput_dir = {:?}\nseed = 1\nmax_steps = 2\n\
             batch_size = 2\neval_every = 2\nlinker_epochs = 0\nthreads = 1\n\
             window_subwords = 60\nwindow_overlap = 8\n\
             [[tasks]]\nname = \"entities\"\ntrain = {gold:?}\ndev = {gold:?}\n",
            home.path().join("run"),
        ),
    )
    .unwrap();
    byline(Some(&hub), home.path())
        .args(["train", "--config"])
        .arg(&cfg)
        .assert()
        .success();
    assert!(home.path().join("run/best/byline.json").is_file());
    assert!(home
        .path()
        .join("hub/models--newsroom--tiny-encoder/refs/main")
        .is_file());
}

#[test]
fn training_starts_from_every_encoder_family() {
    // Two steps from each family's tiny checkpoint as `model_dir`, then tagging with the result.
    let gold = repo_root().join("tests/fixtures/conll/gold.txt");
    for name in [
        "tiny-bert-bio",
        "tiny-distilbert-bio",
        "tiny-roberta-bio",
        "tiny-xlm-roberta-bio",
        "tiny-electra-bio",
        "tiny-modernbert-bio",
        "tiny-deberta-v3-bio",
        "tiny-deberta-v2-bio",
        "tiny-deberta-v2-conv-bio",
    ] {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join("train.toml");
        std::fs::write(
            &cfg,
            format!(
                "model_dir = {:?}\noutput_dir = {:?}\nseed = 1\nmax_steps = 2\n\
                 batch_size = 2\neval_every = 2\nlinker_epochs = 0\nthreads = 1\n\
                 window_subwords = 60\nwindow_overlap = 8\n\
                 [[tasks]]\nname = \"entities\"\ntrain = {gold:?}\ndev = {gold:?}\n",
                hf_fixture(name),
                home.path().join("run"),
            ),
        )
        .unwrap();
        byline(None, home.path())
            .args(["train", "--config"])
            .arg(&cfg)
            .assert()
            .success();
        let best = home.path().join("run/best");
        let out = byline(None, home.path())
            .args(["tag", "--threads", "1", "--model"])
            .arg(&best)
            .write_stdin("{\"text\": \"Elena Kowalski visited Portsmouth.\"}\n")
            .assert()
            .success();
        let line: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert!(line["entities"].is_array(), "{name}: {line}");
        // The saved config keeps the family.
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(best.join("config.json")).unwrap())
                .unwrap();
        let arch = config["architectures"][0].as_str().unwrap().to_string();
        let want = match name {
            "tiny-roberta-bio" => "RobertaForTokenClassification",
            "tiny-xlm-roberta-bio" => "XLMRobertaForTokenClassification",
            "tiny-electra-bio" => "ElectraForTokenClassification",
            "tiny-modernbert-bio" => "ModernBertForTokenClassification",
            "tiny-deberta-v3-bio" | "tiny-deberta-v2-bio" | "tiny-deberta-v2-conv-bio" => {
                "DebertaV2ForTokenClassification"
            }
            _ => "BertForTokenClassification",
        };
        assert_eq!(arch, want, "{name}");
    }
}

#[test]
fn training_continues_from_a_byline_model_on_the_hub() {
    // A byline model (trained here) published to the stand-in hub, then `init_from` its hub id:
    // its byline files (byline.json) come along and every trainable weight is taken from it.
    let dir = tempfile::tempdir().unwrap();
    let model = byline_model(dir.path(), "softmax", true);
    let hub = StandInHub::start().unwrap();
    let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&model)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    assert!(files.iter().any(|(n, _)| n == "byline.json"));
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    hub.publish("newsroom/byline-tiny", "main", &refs);

    let gold = repo_root().join("tests/fixtures/conll/gold.txt");
    let cfg = dir.path().join("continue.toml");
    std::fs::write(
        &cfg,
        format!(
            "model_dir = {:?}\ninit_from = \"newsroom/byline-tiny\"\noutput_dir = {:?}\n\
             seed = 2\nmax_steps = 2\nbatch_size = 2\neval_every = 2\nlinker_epochs = 0\n\
             threads = 1\ncasing = true\nwindow_subwords = 60\nwindow_overlap = 8\n\
             [[tasks]]\nname = \"entities\"\ntrain = {gold:?}\ndev = {gold:?}\n\
             decoder = \"softmax\"\n",
            hf_fixture("tiny-bert-bio"),
            dir.path().join("continued"),
        ),
    )
    .unwrap();
    byline(Some(&hub), dir.path())
        .args(["train", "--config"])
        .arg(&cfg)
        .assert()
        .success();
    assert!(dir.path().join("continued/best/byline.json").is_file());
    let fetched = dir.path().join("hub/models--newsroom--byline-tiny");
    assert!(fetched.join("refs/main").is_file());
    assert!(hub
        .requests()
        .iter()
        .any(|r| r.contains("/resolve/") && r.contains("byline.json")));
}
