//! Random input to both readers: they return errors, never panic.

use std::path::Path;

use byline_core::{jsonl, polnear};
use proptest::prelude::*;

fn brat_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            0usize..30,
            "(Source|Cue|Content|Attribution|Discuss|Bogus)",
            0usize..40,
            0usize..40,
            ".{0,12}"
        )
            .prop_map(|(n, ty, s, e, cov)| format!("T{n}\t{ty} {s} {e}\t{cov}")),
        (0usize..30, 0usize..40, 0usize..40, 0usize..40, 0usize..40)
            .prop_map(|(n, a, b, c, d)| format!("T{n}\tContent {a} {b};{c} {d}\tx")),
        (
            0usize..30,
            "(Attribution|Content2?|Cue|Source|Attribution-no-source|Zap|)",
            0usize..30,
            "(Content|Cue|Source)",
            0usize..30
        )
            .prop_map(|(n, r1, t1, r2, t2)| format!("E{n}\t{r1}:T{t1} {r2}:T{t2}")),
        "[TE#ARX]?[0-9]{0,2}[\t ;:]{0,3}.{0,20}",
    ]
}

fn json_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (".{0,12}", 0usize..20, 0usize..20, ".{0,4}").prop_map(|(text, s, e, t)| {
            serde_json::json!({"text": text, "entities": [{"start": s, "end": e, "label": "X", "text": t}],
                "tokens": [[s, e]], "sentences": [[s, e]],
                "attributions": [{"content": [{"start": s, "end": e}], "cue": [], "source": null}]})
            .to_string()
        }),
        r#"[{}\[\]":,0-9a-z\- ]{0,40}"#,
    ]
}

proptest! {
    #[test]
    fn brat_never_panics(text in ".{0,40}", lines in prop::collection::vec(brat_line(), 0..8)) {
        let _ = polnear::parse_ann("f", text, &lines.join("\n"), Path::new("f.ann"));
    }

    #[test]
    fn brat_random_text_never_panics(text in ".{0,40}", ann in ".{0,200}") {
        let _ = polnear::parse_ann("f", text, &ann, Path::new("f.ann"));
    }

    #[test]
    fn jsonl_never_panics(lines in prop::collection::vec(json_line(), 0..6)) {
        let input = lines.join("\n");
        let _: Vec<_> = jsonl::Reader::new(input.as_bytes(), "f.jsonl").collect();
    }

    #[test]
    fn jsonl_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let results: Vec<_> = jsonl::Reader::new(&bytes[..], "f.jsonl").collect();
        prop_assert!(results.len() <= bytes.iter().filter(|b| **b == b'\n').count() + 1);
    }

    #[test]
    fn jsonl_round_trips_what_it_reads(line in json_line()) {
        if let Ok(doc) = jsonl::parse_line(&line, Path::new("f.jsonl"), 1) {
            let again = jsonl::parse_line(&jsonl::to_line(&doc).unwrap(), Path::new("f.jsonl"), 1).unwrap();
            prop_assert_eq!(again, doc);
        }
    }
}
