//! Entity metrics against numbers computed by Python's `seqeval` (default mode) on the fixtures
//! in `tests/fixtures/seqeval/`: `iob1.txt` and `iob2.txt` (hand-written, with invalid sequences,
//! type changes inside entities, adjacent entities, entities at sentence ends, a type only in the
//! gold column and one only in the predicted column) and `random.txt` (random tags from a fixed
//! seed). `scripts/seqeval_reference.py` wrote the `.json` files next to them.

use std::path::{Path, PathBuf};

use byline_core::metrics::entity::score_tag_sequences;
use byline_core::metrics::Counts;
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seqeval")
}

/// `token gold pred` per line, blank lines between sentences.
fn read_fixture(path: &Path) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let (mut gold, mut pred) = (Vec::new(), Vec::new());
    let (mut g, mut p) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        match cols[..] {
            [] => {
                if !g.is_empty() {
                    gold.push(std::mem::take(&mut g));
                    pred.push(std::mem::take(&mut p));
                }
            }
            [_, gt, pt] => {
                g.push(gt.to_owned());
                p.push(pt.to_owned());
            }
            _ => panic!("{}:{}: expected 3 columns", path.display(), n + 1),
        }
    }
    if !g.is_empty() {
        gold.push(g);
        pred.push(p);
    }
    (gold, pred)
}

fn assert_close(got: f64, want: &Value, what: &str) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number"));
    assert!(got.is_finite(), "{what}: {got}");
    assert!(
        (got - want).abs() < 1e-9,
        "{what}: got {got}, seqeval {want}"
    );
}

fn check_counts(c: Counts, want: &Value, what: &str) {
    for (field, got) in [
        ("correct", c.correct),
        ("predicted", c.predicted),
        ("gold", c.gold),
    ] {
        assert_eq!(Some(got as u64), want[field].as_u64(), "{what} {field}");
    }
    assert_close(
        c.precision(),
        &want["precision"],
        &format!("{what} precision"),
    );
    assert_close(c.recall(), &want["recall"], &format!("{what} recall"));
    assert_close(c.f1(), &want["f1"], &format!("{what} f1"));
}

fn check(name: &str) {
    let dir = fixture_dir();
    let (gold, pred) = read_fixture(&dir.join(format!("{name}.txt")));
    let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
    let want: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        Some(gold.len() as u64),
        want["sentences"].as_u64(),
        "{name}"
    );

    let scores = score_tag_sequences(&gold, &pred).unwrap();
    let types: Vec<&str> = scores.per_type.keys().map(String::as_str).collect();
    let want_types: Vec<&str> = want["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(types, want_types, "{name}: types and their order");
    for (label, &c) in &scores.per_type {
        check_counts(c, &want["per_type"][label], &format!("{name} {label}"));
    }
    check_counts(scores.micro(), &want["micro"], &format!("{name} micro"));

    // The table shows the same numbers, micro average last.
    let table = scores.table();
    let micro = table.rows.last().unwrap();
    assert_eq!(micro.name, "micro avg");
    assert_close(
        micro.f1,
        &want["micro"]["f1"],
        &format!("{name} table micro f1"),
    );
}

#[test]
fn iob2_matches_seqeval() {
    check("iob2");
}

#[test]
fn iob1_matches_seqeval() {
    check("iob1");
}

#[test]
fn random_tags_match_seqeval() {
    check("random");
}

#[test]
fn types_without_predictions_score_zero_not_nan() {
    let dir = fixture_dir();
    let (gold, pred) = read_fixture(&dir.join("iob2.txt"));
    let scores = score_tag_sequences(&gold, &pred).unwrap();
    // EVENT is only in the gold column, PRODUCT only in the predicted one.
    assert_eq!(scores.per_type["EVENT"], Counts::new(0, 0, 1));
    assert_eq!(scores.per_type["PRODUCT"], Counts::new(0, 1, 0));
    for t in ["EVENT", "PRODUCT"] {
        let c = scores.per_type[t];
        assert_eq!((c.precision(), c.recall(), c.f1()), (0.0, 0.0, 0.0), "{t}");
    }
}
