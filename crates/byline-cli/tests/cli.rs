//! Runs the real `byline` binary on the fixtures under the workspace's `tests/fixtures/`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

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

/// The shared data folder, or `None` (and a printed reason) when it is absent.
fn shared_data() -> Option<PathBuf> {
    let data = byline_core::shared::path_from(Path::new(env!("CARGO_MANIFEST_DIR")), "data");
    if data.is_none() {
        eprintln!("skipping: shared data not found (set BYLINE_SHARED)");
    }
    data
}

#[test]
fn stats_of_fixtures() {
    byline().args(["stats", "."]).assert().success().stdout(
        "\
corpus          documents  sentences  tokens  PER  LOC  ORG  MISC  entities
conll/gold.txt          2          3      20    2    3    1     1         7
conll/pred.txt          2          3      20    2    2    2     1         7

corpus   documents  annotation files  words  attributions  with source  without source  direct quotes  content with quote mark
polnear          1                 1     30             3            3               0              1                        1
",
    );
}

#[test]
fn eval_conll_predictions_column() {
    // Five columns: the last is the prediction. 5 of 7 predicted entities are right.
    byline()
        .args([
            "eval",
            "--gold",
            "conll/gold.txt",
            "--pred",
            "conll/pred.txt",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "LOC           100.00    66.67    80.00         3",
        ))
        .stdout(predicate::str::contains(
            "micro avg      71.43    71.43    71.43         7",
        ));
}

/// `--errors FILE`: one row per disagreement, a count per layer and kind on standard error, the
/// report on standard output as before.
#[test]
fn eval_writes_every_disagreement() {
    let dir = tempfile::tempdir().unwrap();
    let entities = dir.path().join("entities.tsv");
    byline()
        .args([
            "eval",
            "--gold",
            "conll/gold.txt",
            "--pred",
            "conll/pred.txt",
            "--errors",
        ])
        .arg(&entities)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "micro avg      71.43    71.43    71.43         7",
        ))
        .stderr(predicate::str::contains("2 disagreements written to"))
        .stderr(predicate::str::contains(
            "entity               0         0         1         1         0",
        ));
    assert_eq!(
        std::fs::read_to_string(&entities).unwrap(),
        "document\tlayer\terror\tgold_start\tgold_end\tgold_label\tgold_text\tpred_start\t\
         pred_end\tpred_label\tpred_text\tcontent\n\
         gold-1\tentity\tlabel\t23\t33\tLOC\tPortsmouth\t23\t33\tORG\tPortsmouth\t\n\
         gold-2\tentity\tboundary\t0\t11\tPER\tHaruto Sato\t0\t6\tPER\tHaruto\t\n"
    );

    // Quotes: the gold fixture against a copy whose second quote lost its speaker.
    let gold = dir.path().join("gold.jsonl");
    byline()
        .args(["convert", "polnear", "--to", "jsonl", "-o"])
        .arg(&gold)
        .assert()
        .success();
    let mut doc: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&gold).unwrap().trim()).unwrap();
    doc["attributions"][1]["source"] = serde_json::Value::Null;
    let pred = dir.path().join("pred.jsonl");
    std::fs::write(&pred, format!("{doc}\n")).unwrap();
    let quotes = dir.path().join("quotes.tsv");
    byline()
        .args(["eval", "--gold", "polnear", "--pred"])
        .arg(&pred)
        .arg("--errors")
        .arg(&quotes)
        .assert()
        .success()
        .stderr(predicate::str::contains("2 disagreements written to"));
    let rows = std::fs::read_to_string(&quotes).unwrap();
    let rows: Vec<&str> = rows.lines().skip(1).collect();
    assert_eq!(
        rows,
        [
            "bridge\tsource\tmissed\t99\t102\t\tshe\t\t\t\t\t“We owe the city an honest timetable,”",
            "bridge\tattribution\tsource\t99\t102\t\tshe\t\t\t\t\t“We owe the city an honest timetable,”",
        ]
    );
}

#[test]
fn eval_json_report() {
    let out = byline()
        .args([
            "eval",
            "--gold",
            "conll/gold.txt",
            "--pred",
            "conll/pred.txt",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["entities"]["rows"].as_array().unwrap();
    let micro = rows.iter().find(|r| r["name"] == "micro avg").unwrap();
    assert!(
        (micro["f1"].as_f64().unwrap() - 5.0 / 7.0).abs() < 1e-12,
        "{micro}"
    );
}

#[test]
fn conll_to_jsonl_and_back_keeps_entities() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("gold.jsonl");
    let conll = dir.path().join("gold.conll");
    byline()
        .args(["convert", "conll/gold.txt", "--to", "jsonl", "-o"])
        .arg(&jsonl)
        .assert()
        .success()
        .stdout("");
    byline()
        .arg("convert")
        .arg(&jsonl)
        .args(["--to", "conll", "--docstart", "-o"])
        .arg(&conll)
        .assert()
        .success();
    // Scoring the round-tripped file against the original gives 100 %.
    byline()
        .args(["eval", "--gold", "conll/gold.txt", "--pred"])
        .arg(&conll)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "micro avg     100.00   100.00   100.00         7",
        ));
    // And the JSONL keeps code-point offsets and the covered text.
    let text = std::fs::read_to_string(&jsonl).unwrap();
    assert!(
        text.contains(r#"{"start":6,"end":14,"label":"PER","text":"Kowalski"}"#)
            || text.contains(r#""text":"Elena Kowalski""#),
        "{text}"
    );
}

#[test]
fn polnear_to_conll_tags_attribution_roles() {
    byline()
        .args(["convert", "polnear", "--to", "conll"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "Mayor B-SOURCE\nElena I-SOURCE\nKowalski I-SOURCE\nsaid B-CUE\nthe B-CONTENT\n",
        ))
        .stdout(predicate::str::contains(
            "\u{201C} B-CONTENT\nWe I-CONTENT\n",
        ));
}

#[test]
fn polnear_to_jsonl_uses_code_points() {
    let out = byline()
        .args(["convert", "polnear", "--to", "jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let doc: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let text: Vec<char> = doc["text"].as_str().unwrap().chars().collect();
    let quote = &doc["attributions"][1];
    let piece = &quote["content"][0];
    let (start, end) = (
        piece["start"].as_u64().unwrap() as usize,
        piece["end"].as_u64().unwrap() as usize,
    );
    let slice: String = text[start..end].iter().collect();
    assert_eq!(
        slice,
        "\u{201C}We owe the city an honest timetable,\u{201D}"
    );
    assert_eq!(quote["direct"], true);
    assert_eq!(doc["attributions"][0]["direct"], false);
}

#[test]
fn bad_conll_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "EU NNP I-NP I-ORG\nrejects VBZ I-VP\n").unwrap();
    byline()
        .arg("stats")
        .arg(&bad)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "bad.txt:2: expected 4 columns, found 3",
        ));
}

#[test]
fn invalid_utf8_names_line_and_byte() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, b"EU I-ORG\nrej\xffects O\n").unwrap();
    byline()
        .arg("stats")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bad.txt:2: invalid UTF-8 at byte 12",
        ));
}

#[test]
fn missing_input_is_an_error() {
    byline()
        .args(["stats", "no-such-file.txt"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no-such-file.txt: no such file or directory",
        ));
}

#[test]
fn eval_refuses_documents_that_do_not_pair() {
    byline()
        .args(["eval", "--gold", "conll/gold.txt", "--pred", "polnear"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("different numbers of documents"));
}

/// `byline stats` on the shared data prints the counts of its README.
#[test]
fn stats_of_shared_data() {
    let Some(data) = shared_data() else { return };
    let out = byline().arg("stats").arg(&data).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "conll2003/dev.txt          216      3,250   51,362  1,842  1,837  1,341    922     5,942",
        "conll2003/train.txt        946     14,041  203,621  6,600  7,140  6,321  3,438    23,499",
        "polnear/dev           84                94   67,609         2,193        2,066             127            361                      624",
        // The README's train quote columns say 3,033 and 5,176; see byline-core's
        // tests/polnear_real.rs for why byline counts 3,047 and 5,183.
        "polnear/train        840               919  624,643        19,868       18,361           1,507          3,047                    5,183",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in\n{stdout}");
    }
}
