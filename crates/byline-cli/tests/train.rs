//! `byline train` and `byline bench train` on a tiny random model created here, over the
//! fixtures under the workspace's `tests/fixtures/`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use byline_model::{Config, LoadOptions, Pretrained, Tokenizer};

const VOCAB: &[&str] = &[
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "elena",
    "kowalski",
    "visited",
    "portsmouth",
    ".",
    "northgate",
    "engineering",
    "blamed",
    "dutch",
    "steel",
    "haruto",
    "sato",
    "met",
    "officials",
    "in",
    "geneva",
    "and",
    "ottawa",
    "the",
    "said",
    "\"",
    ",",
    "a",
    "bridge",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn byline() -> Command {
    let mut cmd = Command::cargo_bin("byline").unwrap();
    cmd.current_dir(fixtures())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG");
    cmd
}

/// A tiny random model directory: config.json, model.safetensors, tokenizer.json.
fn tiny_model(dir: &Path) -> PathBuf {
    let model = dir.join("model");
    let config = Config {
        vocab_size: VOCAB.len(),
        ..Config::tiny()
    };
    Pretrained::random(&config, &LoadOptions::default())
        .unwrap()
        .save(&model)
        .unwrap();
    Tokenizer::from_vocab(VOCAB)
        .unwrap()
        .inner()
        .save(model.join("tokenizer.json"), false)
        .unwrap();
    model
}

fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn train_runs_then_resume_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let run = tmp.path().join("run");
    let train = |extra: &[&str]| {
        let mut cmd = byline();
        cmd.args(["train", "--config", "train/tiny.toml", "--threads", "1"])
            .arg("--set")
            .arg(format!("model_dir={}", model.display()))
            .arg("--output")
            .arg(&run)
            .args(extra);
        cmd.output().unwrap()
    };

    let out = train(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["step"], 5);
    assert_eq!(summary["total_steps"], 5);
    // stderr is not a terminal: JSON lines.
    assert!(
        stderr.lines().any(|l| l.contains(r#""event":"step""#)),
        "{stderr}"
    );
    let best = &summary["best"]["metrics"];
    for figure in [
        "f1",
        "entities.f1",
        "entities.precision",
        "attributions.f1",
        "attributions.content_overlap_f1",
        "attributions.cue_exact_f1",
        "attributions.direct_speaker_correct",
    ] {
        assert!(best[figure].is_number(), "{figure}: {summary}");
    }
    for file in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "byline.json",
        "linker.safetensors",
    ] {
        assert!(run.join("best").join(file).is_file(), "best/{file}");
    }
    assert!(run.join("config.toml").is_file());
    // The linker was trained on the best model's encoder and scored with it.
    let fit = &summary["linker"]["fit"];
    assert_eq!(fit["head"], "attributions", "{summary}");
    assert!(fit["train"]["examples"].as_u64().unwrap() > 0, "{summary}");
    let dev = &summary["linker"]["dev"];
    assert!(dev["rules"]["attribution_f1"].is_number(), "{summary}");
    assert!(dev["linker"]["attribution_f1"].is_number(), "{summary}");

    // Continue the same run to 8 steps from its step-5 checkpoint.
    let out = train(&["--resume", "--set", "max_steps=8"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["step"], 8);
    let log = events(&run.join("metrics.jsonl"));
    let steps: Vec<u64> = log
        .iter()
        .filter(|e| e["event"] == "step")
        .map(|e| e["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=8).collect::<Vec<_>>());
    assert!(log
        .iter()
        .any(|e| e["event"] == "start" && e["resumed"] == true && e["step"] == 5));

    // A fresh run into a directory with checkpoints is refused.
    let out = train(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("resume"));
}

#[test]
fn train_reports_a_bad_override() {
    byline()
        .args([
            "train",
            "--config",
            "train/tiny.toml",
            "--set",
            "lerning_rate=1",
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains("lerning_rate"));
}

#[test]
fn bench_train_prints_a_table() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let out = byline()
        .args([
            "bench",
            "train",
            "--threads",
            "1",
            "--steps",
            "2",
            "--batch",
            "2",
        ])
        .args(["--seq", "16", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in [
        "tokens/s",
        "forward s",
        "backward s",
        "optimiser s",
        "share of peak",
        "2 x 16",
    ] {
        assert!(stdout.contains(row), "{row}: {stdout}");
    }
}
