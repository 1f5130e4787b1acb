//! `byline tag` on a tiny random model saved here, whose entity head is forced to tag every
//! word `B-PER` (so each word comes out as one entity).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use byline_model::{LoadOptions, Tagger};

fn forced_model(dir: &Path) -> PathBuf {
    byline_model::fixtures::forced_model_dir(dir).unwrap()
}

fn tag(model: &Path) -> Command {
    let mut cmd = Command::cargo_bin("byline").unwrap();
    cmd.env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("BYLINE_MODEL")
        .args(["tag", "--threads", "1", "--model"])
        .arg(model);
    cmd
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every code-point span of a JSONL result slices its `text`.
fn assert_offsets_slice(doc: &serde_json::Value) {
    let chars: Vec<char> = doc["text"].as_str().unwrap().chars().collect();
    let mut spans: Vec<&serde_json::Value> = doc["entities"].as_array().unwrap().iter().collect();
    for a in doc["attributions"].as_array().unwrap() {
        for role in ["content", "cue", "source"] {
            spans.extend(a[role].as_array().into_iter().flatten());
        }
    }
    for s in spans {
        let (start, end) = (s["start"].as_u64().unwrap(), s["end"].as_u64().unwrap());
        let sliced: String = chars[start as usize..end as usize].iter().collect();
        assert_eq!(sliced, s["text"].as_str().unwrap(), "{s}");
    }
}

#[test]
fn jsonl_in_one_line_per_document_in_order_bad_line_is_an_error_record() {
    let tmp = tempfile::tempdir().unwrap();
    let model = forced_model(tmp.path());
    let input = tmp.path().join("in.jsonl");
    let mut data = Vec::new();
    data.extend_from_slice(br#"{"id": "a", "text": "Merkel met the officials in Berlin."}"#);
    data.extend_from_slice(b"\n{\"id\": \"b\", \"text\": \"bad \xff byte\"}\n\n");
    data.extend_from_slice(br#"{"id": "c", "text": ""}"#);
    data.extend_from_slice(b"\n");
    data.extend_from_slice(
        "{\"id\": \"d\", \"text\": \"Zoë said: \\\"🎉 we will win\\\" in Zürich.\"}\n".as_bytes(),
    );
    std::fs::write(&input, data).unwrap();

    let out = tag(&model).arg(&input).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = json_lines(&out.stdout);
    let ids: Vec<&str> = docs.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    assert_eq!(docs[0]["entities"].as_array().unwrap().len(), 7);
    assert_eq!(docs[0]["entities"][0]["text"], "Merkel");
    assert!(docs[0]["entities"][0]["score"].as_f64().unwrap() > 0.99);
    let error = docs[1]["error"].as_str().unwrap();
    assert!(
        error.contains("in.jsonl:2: invalid UTF-8 at byte"),
        "{error}"
    );
    assert!(docs[1].get("entities").is_none());
    assert_eq!(docs[2]["entities"], serde_json::json!([]));
    assert_eq!(docs[2]["attributions"], serde_json::json!([]));
    for doc in [&docs[0], &docs[3]] {
        assert_offsets_slice(doc);
    }
    let d: Vec<&str> = docs[3]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        d,
        ["Zoë", "said", ":", "\"", "🎉", "we", "will", "win", "\"", "in", "Zürich", "."]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("b:"), "{stderr}");
}

#[test]
fn stdin_text_and_files_and_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let model = forced_model(tmp.path());
    // stdin, not JSON: one text document.
    let out = tag(&model)
        .write_stdin("  Merkel met\nthe officials.\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = json_lines(&out.stdout);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["id"], "<stdin>");
    assert_eq!(docs[0]["entities"][0]["start"], 2);
    assert_eq!(docs[0]["entities"].as_array().unwrap().len(), 5);

    // A directory of text files (one invalid), in name order; text output to a file.
    let dir = tmp.path().join("docs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("1.txt"), "Berlin.").unwrap();
    std::fs::write(dir.join("2.txt"), b"in \xc3 Berlin").unwrap();
    std::fs::write(dir.join("3.txt"), "").unwrap();
    let out = tag(&model).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let docs = json_lines(&out.stdout);
    assert_eq!(docs.len(), 3);
    assert!(docs[0]["id"].as_str().unwrap().ends_with("1.txt"));
    assert_eq!(docs[0]["entities"].as_array().unwrap().len(), 2);
    assert!(docs[1]["error"]
        .as_str()
        .unwrap()
        .ends_with("invalid UTF-8 at byte 3"));
    assert_eq!(docs[2]["entities"], serde_json::json!([]));

    let text = tmp.path().join("out.txt");
    let out = tag(&model)
        .args(["--format", "text", "--output"])
        .arg(&text)
        .arg(dir.join("1.txt"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&text).unwrap();
    assert!(
        written.contains("entities: 2\n  0..6 PER 1.00 \"Berlin\""),
        "{written}"
    );
}

#[test]
fn conll_lines_come_back_with_one_more_column() {
    let tmp = tempfile::tempdir().unwrap();
    let model = forced_model(tmp.path());
    let input = tmp.path().join("dev.txt");
    let data =
        "-DOCSTART- -X- O O\n\nMerkel NNP\nmet VBD\n\nBerlin NNP\n\n-DOCSTART- -X- O O\n\nthe DT\n";
    std::fs::write(&input, data).unwrap();
    let out = tag(&model)
        .args(["--format", "conll"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = got.lines().collect();
    let want: Vec<&str> = data.lines().collect();
    assert_eq!(lines.len(), want.len());
    for (line, input) in lines.iter().zip(&want) {
        if input.is_empty() {
            assert!(line.is_empty());
        } else {
            let (kept, tag) = line.rsplit_once(' ').unwrap();
            assert_eq!(kept, *input);
            let expected = if input.starts_with("-DOCSTART-") {
                "O"
            } else {
                "B-PER"
            };
            assert_eq!(tag, expected, "{line}");
        }
    }
}

#[test]
fn a_5_mb_line_is_tagged_and_a_missing_model_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let model = forced_model(tmp.path());
    let mut text = String::new();
    while text.len() < 5_000_000 {
        text.push_str("Merkel met the officials in Berlin, \"we will win\" \u{7}🎉 ");
    }
    let input = tmp.path().join("long.txt");
    std::fs::write(&input, &text).unwrap();
    let out = tag(&model).arg(&input).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = json_lines(&out.stdout);
    assert_eq!(docs.len(), 1);
    let words = byline_core::tokenize::tokenize(&text).len();
    assert_eq!(docs[0]["entities"].as_array().unwrap().len(), words);

    let missing = tmp.path().join("no-such-model");
    let out = tag(&missing).arg(&input).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-model"), "{stderr}");
}

#[test]
fn hostile_text_gets_one_line_per_document() {
    let tmp = tempfile::tempdir().unwrap();
    let model = forced_model(tmp.path());
    let long_token = "x".repeat(10_000);
    let texts = [
        format!("Merkel {long_token} met"),
        "Merkel\u{0}met\u{1b}[31m the\u{7f} officials\u{200b}in\u{feff}Berlin\r\n.".to_string(),
        "Merkel встретила 官员 في برلين, said शहर 🇩🇪👩‍👩‍👧 we will win.".to_string(),
        "\u{301}\u{301} \u{fffd} 🎉🎉🎉".to_string(),
    ];
    let input = tmp.path().join("in.jsonl");
    let lines: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"id": format!("d{i}"), "text": t}).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = tag(&model).arg(&input).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = json_lines(&out.stdout);
    assert_eq!(docs.len(), texts.len());
    for (doc, text) in docs.iter().zip(&texts) {
        assert_eq!(doc["text"].as_str().unwrap(), text);
        assert_offsets_slice(doc);
        let words = byline_core::tokenize::tokenize(text).len();
        assert_eq!(doc["entities"].as_array().unwrap().len(), words, "{doc}");
    }
    assert!(docs[0]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["text"].as_str() == Some(long_token.as_str())));
}

/// The committed default model (no `--model`) on sentences whose answer is not in doubt.
#[test]
fn the_default_model_finds_people_places_and_a_quote() {
    let input = concat!(
        r#"{"id": "a", "text": "Angela Merkel met Emmanuel Macron in Paris on Tuesday."}"#,
        "\n",
        r#"{"id": "b", "text": "\"We will not raise taxes,\" Governor Maria Lopez said on Monday."}"#,
        "\n",
    );
    let out = Command::cargo_bin("byline")
        .unwrap()
        .env_remove("BYLINE_MODEL")
        .env_remove("RUST_LOG")
        .args(["tag", "--threads", "1"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = json_lines(&out.stdout);
    assert_eq!(docs.len(), 2);
    let entities = |d: &serde_json::Value| -> Vec<(String, String)> {
        d["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["text"].as_str().unwrap().into(),
                    e["label"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let pair = |t: &str, l: &str| (t.to_string(), l.to_string());
    assert_eq!(
        entities(&docs[0]),
        [
            pair("Angela Merkel", "PER"),
            pair("Emmanuel Macron", "PER"),
            pair("Paris", "LOC")
        ]
    );
    assert_eq!(entities(&docs[1]), [pair("Maria Lopez", "PER")]);
    let quotes = docs[1]["attributions"].as_array().unwrap();
    assert_eq!(quotes.len(), 1, "{quotes:?}");
    let q = &quotes[0];
    assert_eq!(q["direct"], true);
    assert_eq!(q["content"][0]["text"], "\"We will not raise taxes,\"");
    assert_eq!(q["cue"][0]["text"], "said");
    assert_eq!(q["source"][0]["text"], "Governor Maria Lopez");
    assert_eq!(q["source_entity"]["text"], "Maria Lopez");
    for doc in &docs {
        assert_offsets_slice(doc);
    }
}

/// CoNLL-2003 dev documents tagged by `byline tag --format conll` and scored by `byline eval`
/// give the entity F1 training's evaluation reports for the same model and documents (the
/// first 12 documents, to keep the test short; the whole dev set is in the model card).
#[test]
fn tag_conll_then_eval_equals_the_training_evaluation() {
    let Some(dev) = byline_core::shared::path_from(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "data/conll2003/dev.txt",
    ) else {
        eprintln!("skipping: shared data not found (set BYLINE_SHARED)");
        return;
    };
    let text = std::fs::read_to_string(&dev).unwrap();
    let docs: Vec<&str> = text.split("-DOCSTART-").skip(1).take(12).collect();
    let subset: String = docs.iter().map(|d| format!("-DOCSTART-{d}")).collect();
    let tmp = tempfile::tempdir().unwrap();
    let gold = tmp.path().join("dev12.txt");
    std::fs::write(&gold, &subset).unwrap();
    let pred = tmp.path().join("pred.conll");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/byline-news-small");

    let out = tag(&model)
        .args(["--format", "conll", "-o"])
        .arg(&pred)
        .arg(&gold)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::cargo_bin("byline")
        .unwrap()
        .args(["eval", "--json", "--gold"])
        .arg(&gold)
        .arg("--pred")
        .arg(&pred)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["entities"]["rows"].as_array().unwrap();
    let micro = rows.iter().find(|r| r["name"] == "micro avg").unwrap();

    let tagger = Tagger::load(&model, &LoadOptions::default()).unwrap();
    let task = byline_train::tagging::TaskData {
        name: "entities".into(),
        kind: byline_model::HeadKind::Entities,
        train: Vec::new(),
        dev: byline_core::corpus::load_documents(&gold).unwrap(),
        cofenet: Vec::new(),
    };
    let metrics = byline_train::tagging::evaluate(&tagger, &[task]).unwrap();
    let f1 = metrics["entities.f1"];
    let eval_f1 = micro["f1"].as_f64().unwrap();
    assert!(
        (eval_f1 - f1).abs() < 1e-9,
        "eval {eval_f1} vs training {f1}"
    );
    assert!(f1 > 0.8, "{f1}");
}

#[test]
fn export_writes_f16_weights_and_a_decode_bias_that_tagging_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let model = forced_model(tmp.path());
    let out = tmp.path().join("exported");
    let export = |extra: &[&str]| {
        let mut cmd = Command::cargo_bin("byline").unwrap();
        cmd.env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .arg("export")
            .arg(&model)
            .arg(&out)
            .args(extra);
        cmd.output().unwrap()
    };
    // The forced head tags every word B-PER; a large negative PER bias turns that off.
    let done = export(&["--decode-bias", "entities.PER=-1000"]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let spec = std::fs::read_to_string(out.join("byline.json")).unwrap();
    assert!(spec.contains("\"decode_bias\""), "{spec}");
    assert!(
        std::fs::metadata(out.join("model.safetensors"))
            .unwrap()
            .len()
            < std::fs::metadata(model.join("model.safetensors"))
                .unwrap()
                .len(),
        "f16 weights are smaller"
    );
    let tagged = tag(&out)
        .write_stdin("Merkel met Sato in Berlin.")
        .output()
        .unwrap();
    assert!(tagged.status.success());
    let docs = json_lines(&tagged.stdout);
    assert_eq!(
        docs[0]["entities"].as_array().unwrap().len(),
        0,
        "{:?}",
        docs[0]
    );
    let plain = tag(&model)
        .write_stdin("Merkel met Sato in Berlin.")
        .output()
        .unwrap();
    assert!(!json_lines(&plain.stdout)[0]["entities"]
        .as_array()
        .unwrap()
        .is_empty());

    // Bad specs and unknown labels are errors that say what is wrong.
    for (bad, says) in [
        ("entities.PER", "HEAD.LABEL=VALUE"),
        ("entities.NOPE=1", "NOPE"),
        ("nohead.PER=1", "nohead"),
    ] {
        let failed = export(&["--decode-bias", bad]);
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(
            !failed.status.success() && stderr.contains(says),
            "{bad}: {stderr}"
        );
    }
}

#[test]
fn average_of_a_model_with_its_copy_tags_as_the_model_and_one_model_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let model = forced_model(tmp.path());
    let copy = tmp.path().join("copy");
    Tagger::load(&model, &LoadOptions::default())
        .unwrap()
        .save(&copy)
        .unwrap();
    let out = tmp.path().join("averaged");
    let average = |models: &[&Path]| {
        let mut cmd = Command::cargo_bin("byline").unwrap();
        cmd.env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .arg("average")
            .args(models)
            .arg("--output")
            .arg(&out);
        cmd.output().unwrap()
    };
    let done = average(&[&model, &copy]);
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert!(stderr.contains("the mean of 2 models"), "{stderr}");
    let text = "Merkel met the officials in Berlin.";
    let run = |m: &Path| {
        let out = tag(m).write_stdin(text).output().unwrap();
        assert!(out.status.success());
        json_lines(&out.stdout)
    };
    assert_eq!(run(&out), run(&model));

    let refused = average(&[&model]);
    assert_eq!(refused.status.code(), Some(2), "clap's usage error");
}
