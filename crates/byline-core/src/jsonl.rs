//! byline's JSON-lines document format: one document per line.
//!
//! ```json
//! {"id": "a1", "text": "Mo said “hi”.",
//!  "tokens": [[0,2],[3,7],[8,12],[12,13]], "sentences": [[0,4]],
//!  "entities": [{"start":0,"end":2,"label":"PER","text":"Mo","score":0.98}],
//!  "attributions": [{"content":[{"start":8,"end":12,"text":"“hi”"}],
//!                    "cue":[{"start":3,"end":7,"text":"said"}],
//!                    "source":[{"start":0,"end":2,"text":"Mo"}], "direct":true, "mixed":false}]}
//! ```
//!
//! Offsets are Unicode **code points** (half-open); in memory they are bytes. `sentences` are
//! `[first_token, end_token)` ranges of token indices. The writer fills every span's `text` and
//! each attribution's `direct` and `mixed` ([`QuoteKind`] of the content text).
//!
//! Reading, only `text` is required: `id` defaults to the 1-based line number, the lists to
//! empty, `cue` and `source` to none (an empty list also means none). A span's `text`, when
//! given, must equal the document text at its offsets. `direct` and `mixed` are derived, so they
//! are ignored, as are fields byline does not know. Blank lines are skipped. [`Reader`] yields one result per
//! line, so a bad line can be reported and skipped; [`read_all`] stops at the first error.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::document::{Attribution, Document, Entity, Mention};
use crate::error::{Error, JsonlErrorKind, Result};
use crate::quote::QuoteKind;
use crate::span::{OffsetMap, Span};

#[derive(Debug, Serialize, Deserialize)]
struct JsonDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokens: Option<Vec<[usize; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sentences: Option<Vec<[usize; 2]>>,
    #[serde(default)]
    entities: Vec<JsonEntity>,
    #[serde(default)]
    attributions: Vec<JsonAttribution>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JsonEntity {
    start: usize,
    end: usize,
    label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JsonSpan {
    start: usize,
    end: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JsonAttribution {
    content: Vec<JsonSpan>,
    #[serde(default)]
    cue: Option<Vec<JsonSpan>>,
    #[serde(default)]
    source: Option<Vec<JsonSpan>>,
    /// Written for readers of the file (`true`/`false`); ignored on read, as it is derived.
    #[serde(default)]
    direct: serde_json::Value,
    /// Written like `direct`: a quoted fragment inside reported speech; ignored on read.
    #[serde(default)]
    mixed: serde_json::Value,
    /// The predicted entity the source names, written by [`prediction_line`]; ignored on read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_entity: Option<serde_json::Value>,
    /// The speaker by name (`crate::speaker::canonical_names` of the linked entity), written
    /// by [`prediction_line`]; ignored on read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    speaker: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Serialises one document as one JSON line (without the newline).
pub fn to_line(doc: &Document) -> Result<String> {
    let json = to_json(doc)?;
    serde_json::to_string(&json).map_err(|e| write_error(doc, e))
}

fn write_error(doc: &Document, e: serde_json::Error) -> Error {
    // Serialising strings, numbers and booleans does not fail; the error is kept all the same.
    Error::io(
        format!("document {:?}", doc.id),
        std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    )
}

/// Writes documents as JSON lines.
pub fn write<W: Write>(out: &mut W, docs: &[Document], path: &Path) -> Result<()> {
    for doc in docs {
        let line = to_line(doc)?;
        writeln!(out, "{line}").map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// Writes documents to a JSONL file.
pub fn write_file(path: &Path, docs: &[Document]) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = std::io::BufWriter::new(file);
    write(&mut out, docs, path)?;
    out.flush().map_err(|e| Error::io(path, e))
}

/// One tagging result as one JSON line: `id`, `text`, `entities` and `attributions` (no tokens
/// or sentences). `source_entities[i]`, when given, is the index in `doc.entities` of the entity
/// attribution `i`'s source names; it is written as that attribution's `source_entity`
/// (`start`, `end`, `text`, `label`, `score`) and `speaker` (the name that entity goes by in
/// the document, [`crate::speaker::canonical_names`]: "Elena Kowalski" for a source
/// "Kowalski" or "she"). The line reads back with [`parse_line`].
pub fn prediction_line(doc: &Document, source_entities: &[Option<usize>]) -> Result<String> {
    let mut json = to_json(doc)?;
    json.tokens = None;
    json.sentences = None;
    let speakers = crate::speaker::speaker_names(doc, source_entities);
    for ((a, link), speaker) in json
        .attributions
        .iter_mut()
        .zip(source_entities)
        .zip(speakers)
    {
        if let Some(e) = link.and_then(|i| json.entities.get(i)) {
            a.source_entity = Some(serde_json::to_value(e).map_err(|e| write_error(doc, e))?);
        }
        a.speaker = speaker;
    }
    serde_json::to_string(&json).map_err(|e| write_error(doc, e))
}

/// The line written instead of a document that could not be read or tagged:
/// `{"id": .., "error": ..}`.
pub fn error_line(id: &str, message: &str) -> String {
    serde_json::json!({ "id": id, "error": message }).to_string()
}

fn to_json(doc: &Document) -> Result<JsonDoc> {
    let map = OffsetMap::new(&doc.text);
    let chars = |what: &'static str, span: Span| -> Result<(usize, usize)> {
        span.slice(&doc.text)
            .and_then(|_| map.span_to_chars(span))
            .ok_or_else(|| Error::InvalidSpan {
                id: doc.id.clone(),
                what,
                start: span.start,
                end: span.end,
                len: doc.text.len(),
            })
    };
    let span = |what: &'static str, s: Span| -> Result<JsonSpan> {
        let (start, end) = chars(what, s)?;
        Ok(JsonSpan {
            start,
            end,
            text: Some(doc.text[s.start..s.end].to_owned()),
        })
    };
    let mention = |what: &'static str, m: &Mention| -> Result<Vec<JsonSpan>> {
        m.pieces.iter().map(|s| span(what, *s)).collect()
    };
    let tokens = doc
        .tokens
        .iter()
        .map(|t| chars("token", *t).map(|(s, e)| [s, e]))
        .collect::<Result<Vec<_>>>()?;
    let entities = doc
        .entities
        .iter()
        .map(|e| {
            let s = span("entity", e.span)?;
            Ok(JsonEntity {
                start: s.start,
                end: s.end,
                label: e.label.clone(),
                text: s.text,
                score: e.score,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let attributions = doc
        .attributions
        .iter()
        .map(|a| {
            let kind = QuoteKind::of(&a.content.text(&doc.text).unwrap_or_default());
            Ok(JsonAttribution {
                content: mention("content", &a.content)?,
                cue: a.cue.as_ref().map(|m| mention("cue", m)).transpose()?,
                source: a
                    .source
                    .as_ref()
                    .map(|m| mention("source", m))
                    .transpose()?,
                direct: (kind == QuoteKind::Direct).into(),
                mixed: (kind == QuoteKind::Mixed).into(),
                source_entity: None,
                speaker: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(JsonDoc {
        id: Some(doc.id.clone()),
        text: doc.text.clone(),
        tokens: (!doc.tokens.is_empty()).then_some(tokens),
        sentences: (!doc.sentences.is_empty())
            .then(|| doc.sentences.iter().map(|r| [r.start, r.end]).collect()),
        entities,
        attributions,
    })
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Parses one JSON line. `path` and `line` (1-based) name it in errors; `line` is also the
/// default id.
pub fn parse_line(json: &str, path: &Path, line: usize) -> Result<Document> {
    let err = |kind: JsonlErrorKind| Error::Jsonl {
        path: path.to_owned(),
        line,
        kind,
    };
    let raw: JsonDoc = serde_json::from_str(json).map_err(|e| err(e.into()))?;
    from_json(raw, line).map_err(err)
}

fn from_json(raw: JsonDoc, line: usize) -> Result<Document, JsonlErrorKind> {
    let map = OffsetMap::new(&raw.text);
    let text = raw.text.as_str();
    let to_bytes = |what: &'static str, start: usize, end: usize| {
        if start > end {
            return Err(JsonlErrorKind::StartAfterEnd { what, start, end });
        }
        map.span_from_chars(start, end)
            .ok_or(JsonlErrorKind::OutsideText {
                what,
                start,
                end,
                len: map.len_chars(),
            })
    };
    let checked = |what: &'static str, start: usize, end: usize, given: Option<&str>| {
        let span = to_bytes(what, start, end)?;
        let expected = &text[span.start..span.end];
        match given {
            Some(found) if found != expected => Err(JsonlErrorKind::TextMismatch {
                what,
                start,
                end,
                expected: expected.to_owned(),
                found: found.to_owned(),
            }),
            _ => Ok(span),
        }
    };
    let mention = |what: &'static str, spans: &[JsonSpan]| {
        spans
            .iter()
            .map(|s| checked(what, s.start, s.end, s.text.as_deref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Mention::new)
    };
    let optional = |what: &'static str, spans: &Option<Vec<JsonSpan>>| match spans {
        Some(spans) if !spans.is_empty() => mention(what, spans).map(Some),
        _ => Ok(None),
    };

    let tokens = raw
        .tokens
        .iter()
        .flatten()
        .map(|[s, e]| to_bytes("token", *s, *e))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sentences = Vec::new();
    for &[first, end] in raw.sentences.iter().flatten() {
        if first > end || end > tokens.len() {
            return Err(JsonlErrorKind::BadSentence {
                first,
                end,
                tokens: tokens.len(),
            });
        }
        sentences.push(first..end);
    }
    let entities = raw
        .entities
        .iter()
        .map(|e| {
            Ok(Entity {
                span: checked("entity", e.start, e.end, e.text.as_deref())?,
                label: e.label.clone(),
                score: e.score,
            })
        })
        .collect::<Result<Vec<_>, JsonlErrorKind>>()?;
    let mut attributions = Vec::new();
    for a in &raw.attributions {
        if a.content.is_empty() {
            return Err(JsonlErrorKind::EmptyContent);
        }
        attributions.push(Attribution {
            content: mention("content", &a.content)?,
            cue: optional("cue", &a.cue)?,
            source: optional("source", &a.source)?,
        });
    }
    Ok(Document {
        id: raw.id.unwrap_or_else(|| line.to_string()),
        text: raw.text,
        tokens,
        sentences,
        entities,
        attributions,
    })
}

/// Reads a JSONL stream one document per line. Each item is one non-blank line's document or
/// the error of that line; iteration goes on after a bad line. After an I/O error it stops.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    path: PathBuf,
    line: usize,
    byte: usize,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    /// `path` names the stream in errors.
    pub fn new(input: R, path: impl Into<PathBuf>) -> Self {
        Reader {
            input,
            path: path.into(),
            line: 0,
            byte: 0,
            buf: Vec::new(),
            done: false,
        }
    }
}

impl Reader<BufReader<File>> {
    /// Opens a JSONL file.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(Reader::new(BufReader::new(file), path))
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            let n = match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(Error::io(&self.path, e)));
                }
            };
            self.line += 1;
            let line_start = self.byte;
            self.byte += n;
            let line = match std::str::from_utf8(&self.buf) {
                Ok(line) => line,
                Err(e) => {
                    return Some(Err(Error::InvalidUtf8 {
                        path: self.path.clone(),
                        line: Some(self.line),
                        byte: line_start + e.valid_up_to(),
                    }))
                }
            };
            let line = line.strip_suffix('\n').unwrap_or(line);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            return Some(parse_line(line, &self.path, self.line));
        }
        None
    }
}

/// Reads every document of a JSONL file; fails on the first bad line.
pub fn read_all(path: &Path) -> Result<Vec<Document>> {
    Reader::open(path)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Document {
        let text = "José said “Zürich is 🎉” today. Café owners agreed.";
        let mut doc = Document::new("d1", text);
        let find = |s: &str| {
            let start = text.find(s).unwrap();
            Span::new(start, start + s.len())
        };
        doc.tokens = ["José", "said", "“Zürich", "is", "🎉”", "today."]
            .iter()
            .map(|t| find(t))
            .collect();
        doc.sentences = vec![0..3, 3..6];
        doc.entities = vec![
            Entity {
                span: find("José"),
                label: "PER".into(),
                score: Some(0.5),
            },
            Entity {
                span: find("Zürich"),
                label: "LOC".into(),
                score: None,
            },
        ];
        doc.attributions = vec![
            Attribution {
                content: Mention::single(find("“Zürich is 🎉”")),
                cue: Some(Mention::single(find("said"))),
                source: Some(Mention::single(find("José"))),
            },
            Attribution {
                content: Mention::new(vec![find("Café"), find("agreed")]),
                cue: None,
                source: None,
            },
        ];
        doc
    }

    fn parse(json: &str) -> Result<Document> {
        parse_line(json, Path::new("mem.jsonl"), 7)
    }

    #[test]
    fn round_trip_non_ascii() {
        let doc = sample();
        let line = to_line(&doc).unwrap();
        assert!(!line.contains('\n'));
        let back = parse(&line).unwrap();
        assert_eq!(back, doc);
        let a = &back.attributions[0];
        assert_eq!(back.slice(a.content.pieces[0]), "“Zürich is 🎉”");
        assert_eq!(back.slice(back.entities[1].span), "Zürich");
        assert_eq!(back.slice(back.tokens[4]), "🎉”");
    }

    #[test]
    fn writes_mixed_quotes_and_ignores_the_flags_on_read() {
        let text = "Mo called it \u{201C}a disaster\u{201D} for all.";
        let mut doc = Document::new("m", text);
        let start = text.find("it").unwrap();
        doc.attributions = vec![Attribution {
            content: Mention::single(Span::new(start + 3, text.len() - 1)),
            cue: None,
            source: None,
        }];
        let line = prediction_line(&doc, &[None]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["attributions"][0]["direct"], false);
        assert_eq!(v["attributions"][0]["mixed"], true);
        let flipped = line.replace("\"mixed\":true", "\"mixed\":\"anything\"");
        assert_eq!(parse(&flipped).unwrap().attributions, doc.attributions);
    }

    #[test]
    fn writes_code_points_text_and_direct() {
        let v: serde_json::Value = serde_json::from_str(&to_line(&sample()).unwrap()).unwrap();
        // "José said " is 10 code points (11 bytes).
        assert_eq!(v["attributions"][0]["content"][0]["start"], 10);
        assert_eq!(v["attributions"][0]["content"][0]["end"], 23);
        assert_eq!(v["attributions"][0]["content"][0]["text"], "“Zürich is 🎉”");
        assert_eq!(v["attributions"][0]["direct"], true);
        assert_eq!(v["attributions"][0]["mixed"], false);
        assert_eq!(v["attributions"][1]["direct"], false);
        assert_eq!(v["attributions"][1]["mixed"], false);
        assert_eq!(v["attributions"][1]["cue"], serde_json::Value::Null);
        assert_eq!(v["entities"][0]["score"], 0.5);
        assert_eq!(v["tokens"][1], serde_json::json!([5, 9]));
    }

    #[test]
    fn prediction_lines_link_sources_and_read_back() {
        let doc = sample();
        let line = prediction_line(&doc, &[Some(0), None]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v.get("tokens").is_none() && v.get("sentences").is_none());
        let linked = &v["attributions"][0]["source_entity"];
        assert_eq!(linked["text"], "José");
        assert_eq!(linked["label"], "PER");
        assert_eq!((&linked["start"], &linked["end"]), (&0.into(), &4.into()));
        assert!(v["attributions"][1].get("source_entity").is_none());
        assert_eq!(v["attributions"][0]["speaker"], "José");
        assert!(v["attributions"][1].get("speaker").is_none());
        let back = parse(&line).unwrap();
        assert_eq!(back.entities, doc.entities);
        assert_eq!(back.attributions, doc.attributions);
        let err: serde_json::Value = serde_json::from_str(&error_line("d\"7", "bad byte")).unwrap();
        assert_eq!(err, serde_json::json!({"id": "d\"7", "error": "bad byte"}));
    }

    #[test]
    fn minimal_line_defaults() {
        let doc = parse(r#"{"text": "Hi there", "attributions": [{"content": [{"start": 3, "end": 8}], "direct": "whatever"}]}"#).unwrap();
        assert_eq!(doc.id, "7");
        assert!(doc.tokens.is_empty() && doc.entities.is_empty());
        assert_eq!(doc.slice(doc.attributions[0].content.pieces[0]), "there");
        assert_eq!(doc.attributions[0].cue, None);
    }

    #[test]
    fn bad_lines() {
        let cases: &[(&str, &str)] = &[
            ("not json", "invalid JSON"),
            (r#"{"id": "x"}"#, "invalid JSON"),
            (
                r#"{"text": "abc", "entities": [{"start": 2, "end": 1, "label": "X"}]}"#,
                "start > end",
            ),
            (
                r#"{"text": "abc", "entities": [{"start": 1, "end": 4, "label": "X"}]}"#,
                "outside the text",
            ),
            (
                r#"{"text": "é!", "entities": [{"start": 0, "end": 1, "label": "X", "text": "é!"}]}"#,
                "has text",
            ),
            (
                r#"{"text": "abc", "tokens": [[0, 1]], "sentences": [[0, 2]]}"#,
                "sentence 0..2",
            ),
            (
                r#"{"text": "abc", "attributions": [{"content": []}]}"#,
                "no pieces",
            ),
            (
                r#"{"text": "abc", "attributions": [{"content": [{"start": 0, "end": 1}], "cue": [{"start": 1, "end": 9}]}]}"#,
                "cue span 1..9",
            ),
            (r#"{"text": "abc", "tokens": [[-1, 2]]}"#, "invalid JSON"),
        ];
        for (json, want) in cases {
            let err = parse(json).unwrap_err().to_string();
            assert!(err.starts_with("mem.jsonl:7: "), "{json}: {err}");
            assert!(err.contains(want), "{json}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn one_bad_line_among_good_ones() {
        let good = to_line(&sample()).unwrap();
        let mut input = Vec::new();
        input.extend_from_slice(format!("{good}\n\n").as_bytes());
        input.extend_from_slice(b"{\"text\": \"bad \xff byte\"}\n");
        input.extend_from_slice(b"{\"text\": 3}\r\n");
        input.extend_from_slice(format!("{good}\r\n").as_bytes());
        input.extend_from_slice(br#"{"text": "last, no newline"}"#);
        let results: Vec<_> = Reader::new(&input[..], "in.jsonl").collect();
        assert_eq!(results.len(), 5);
        assert!(results[0].is_ok() && results[3].is_ok());
        assert_eq!(results[4].as_ref().unwrap().id, "6");
        let utf8 = results[1].as_ref().unwrap_err().to_string();
        let line1 = good.len() + 2;
        assert_eq!(
            utf8,
            format!("in.jsonl:3: invalid UTF-8 at byte {}", line1 + 14)
        );
        let json = results[2].as_ref().unwrap_err().to_string();
        assert!(json.starts_with("in.jsonl:4: invalid JSON"), "{json}");
    }

    #[test]
    fn read_all_stops_at_first_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs.jsonl");
        write_file(&path, &[sample(), sample()]).unwrap();
        assert_eq!(read_all(&path).unwrap(), vec![sample(), sample()]);
        std::fs::write(&path, "{\"text\": \"ok\"}\n{oops\n").unwrap();
        let err = read_all(&path).unwrap_err().to_string();
        assert!(err.contains("docs.jsonl:2: invalid JSON"), "{err}");
    }

    #[test]
    fn writer_rejects_spans_outside_text() {
        let mut doc = Document::new("w", "é");
        doc.tokens = vec![Span::new(0, 1)];
        let err = to_line(&doc).unwrap_err().to_string();
        assert!(err.contains("token span 0..1"), "{err}");
    }
}
