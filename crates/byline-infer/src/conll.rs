//! Pre-tokenised CoNLL input for tagging, and its output: the same lines with a predicted IOB2
//! tag as the last column.
//!
//! A token line's first field is the token (fields are tab-separated when the line holds a tab,
//! else separated by runs of ASCII whitespace); further columns are kept but not read, so a
//! file of bare tokens works as well as CoNLL-2003. A blank line ends a sentence and a line
//! whose first field is `-DOCSTART-` starts a new document (without any, the file is one
//! document). Documents are named `<file stem>-<n>` as [`byline_core::conll`] names them, and
//! their text is built the same way: tokens joined by a space, sentences by `"\n"`.
//!
//! A line that is not UTF-8 makes its document an error ([`DocError`]); its lines still come
//! back (with `O` tags), and the next document is read as usual.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use byline_core::align::entity_tags;
use byline_core::conll::DOCSTART;
use byline_core::{Document, LabelSet, Scheme, Span, TagSet};

use crate::error::DocError;

/// The lines of one document as read, without line ends (invalid UTF-8 replaced).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    pub lines: Vec<String>,
    /// `token_lines[w]`: the index in `lines` of word `w`.
    pub token_lines: Vec<usize>,
}

/// Reads a CoNLL stream document by document: each item is the document's lines and its
/// document (or why it cannot be read). An I/O error ends the stream with one error item.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    path: PathBuf,
    stem: String,
    line: usize,
    offset: usize,
    count: usize,
    /// A `-DOCSTART-` line read ahead: it starts the next document.
    pending: Option<String>,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    /// `path` names the stream in errors and document ids.
    pub fn new(input: R, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "conll".to_owned());
        Reader {
            input,
            path,
            stem,
            line: 0,
            offset: 0,
            count: 0,
            pending: None,
            buf: Vec::new(),
            done: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn next_document(&mut self) -> Option<(Lines, Result<Document, DocError>)> {
        let mut lines = Lines::default();
        let mut doc = Document::default();
        let mut sentence_start = 0;
        let mut error: Option<String> = None;
        if let Some(line) = self.pending.take() {
            lines.lines.push(line);
        }
        loop {
            self.buf.clear();
            let n = match self.input.read_until(b'\n', &mut self.buf) {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    error.get_or_insert(format!("{}: {e}", self.path.display()));
                    break;
                }
            };
            if n == 0 {
                self.done = true;
                break;
            }
            self.line += 1;
            let start = self.offset;
            self.offset += n;
            let raw = trim_line_end(&self.buf);
            let line = match std::str::from_utf8(raw) {
                Ok(line) => line.to_owned(),
                Err(e) => {
                    error.get_or_insert(format!(
                        "{}:{}: invalid UTF-8 at byte {}",
                        self.path.display(),
                        self.line,
                        start + e.valid_up_to()
                    ));
                    String::from_utf8_lossy(raw).into_owned()
                }
            };
            let token = first_field(&line).map(str::to_owned);
            match token.as_deref() {
                Some(DOCSTART) if !lines.lines.iter().all(|l| l.trim().is_empty()) => {
                    self.pending = Some(line);
                    break;
                }
                None => {
                    if doc.tokens.len() > sentence_start {
                        doc.sentences.push(sentence_start..doc.tokens.len());
                    }
                    sentence_start = doc.tokens.len();
                }
                Some(DOCSTART) => {}
                Some(token) => {
                    if doc.tokens.len() > sentence_start {
                        doc.text.push(' ');
                    } else if !doc.tokens.is_empty() {
                        doc.text.push('\n');
                    }
                    let begin = doc.text.len();
                    doc.text.push_str(token);
                    doc.tokens.push(Span::new(begin, doc.text.len()));
                    lines.token_lines.push(lines.lines.len());
                }
            }
            lines.lines.push(line);
        }
        if doc.tokens.len() > sentence_start {
            doc.sentences.push(sentence_start..doc.tokens.len());
        }
        if lines.lines.is_empty() && error.is_none() {
            return None;
        }
        self.count += 1;
        doc.id = format!("{}-{}", self.stem, self.count);
        let result = match error {
            Some(message) => Err(DocError::new(&doc.id, message)),
            None => Ok(doc),
        };
        Some((lines, result))
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = (Lines, Result<Document, DocError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done && self.pending.is_none() {
            return None;
        }
        self.next_document()
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The token of a line: its first field, `None` for a blank line.
fn first_field(line: &str) -> Option<&str> {
    if line.contains('\t') {
        line.split('\t')
            .next()
            .filter(|t| !t.trim().is_empty())
            .map(str::trim)
    } else {
        line.split_ascii_whitespace().next()
    }
}

/// IOB2 tags (as written: `B-PER`, `O`) of `doc`'s words from its entities, over `labels`.
pub fn iob2_tags(doc: &Document, labels: &LabelSet) -> Vec<String> {
    let tag_set = TagSet::new(Scheme::Iob2, labels);
    entity_tags(doc, &tag_set)
        .tags
        .iter()
        .map(|t| t.display(labels).to_string())
        .collect()
}

/// Writes `lines` with one more column: `tags[w]` on word `w`'s line, `O` on other non-blank
/// lines (`-DOCSTART-`) and on every line when `tags` is `None`; blank lines stay blank. The
/// column is tab-separated on lines that hold a tab, else space-separated.
pub fn write_lines<W: Write + ?Sized>(
    out: &mut W,
    lines: &Lines,
    tags: Option<&[String]>,
) -> std::io::Result<()> {
    let mut word = 0;
    for (i, line) in lines.lines.iter().enumerate() {
        if line.trim().is_empty() {
            writeln!(out, "{line}")?;
            continue;
        }
        let mut tag = "O";
        if lines.token_lines.get(word) == Some(&i) {
            if let Some(t) = tags.and_then(|t| t.get(word)) {
                tag = t;
            }
            word += 1;
        }
        let sep = if line.contains('\t') { '\t' } else { ' ' };
        writeln!(out, "{}{sep}{tag}", line.trim_end_matches([' ', '\t']))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &[u8]) -> Vec<(Lines, Result<Document, DocError>)> {
        Reader::new(data, "dir/dev.txt").collect()
    }

    #[test]
    fn documents_split_at_docstart_with_their_lines() {
        let data = b"-DOCSTART- -X- O O\n\nJos\xc3\xa9 NNP\nvisits VBZ\n\nZ\xc3\xbcrich NNP\n\n-DOCSTART- -X- O O\n\nBonn NNP\n";
        let docs = read(data);
        assert_eq!(docs.len(), 2);
        let (lines, doc) = &docs[0];
        let doc = doc.as_ref().unwrap();
        assert_eq!(doc.id, "dev-1");
        assert_eq!(doc.text, "José visits\nZürich");
        assert_eq!(doc.sentences, vec![0..2, 2..3]);
        assert_eq!(doc.slice(doc.tokens[2]), "Zürich");
        assert_eq!(lines.lines.len(), 7);
        assert_eq!(lines.token_lines, vec![2, 3, 5]);
        let (lines, doc) = &docs[1];
        assert_eq!(doc.as_ref().unwrap().id, "dev-2");
        assert_eq!(lines.lines, vec!["-DOCSTART- -X- O O", "", "Bonn NNP"]);
    }

    #[test]
    fn tab_separated_tokens_keep_spaces_and_no_docstart_is_one_document() {
        let docs = read(b"New York\tNNP\nis\tVBZ\n");
        assert_eq!(docs.len(), 1);
        let doc = docs[0].1.as_ref().unwrap();
        assert_eq!(doc.text, "New York is");
        assert_eq!(doc.tokens.len(), 2);
    }

    #[test]
    fn invalid_utf8_fails_its_document_only() {
        let data = b"-DOCSTART-\nbad\xff O\n-DOCSTART-\ngood O\n";
        let docs = read(data);
        assert_eq!(docs.len(), 2);
        let err = docs[0].1.as_ref().unwrap_err();
        assert_eq!(err.id, "dev-1");
        assert_eq!(err.message, "dir/dev.txt:2: invalid UTF-8 at byte 14");
        assert_eq!(docs[0].0.lines.len(), 2);
        assert_eq!(docs[1].1.as_ref().unwrap().text, "good");
    }

    #[test]
    fn written_lines_get_one_more_column() {
        let (lines, _) = read(b"-DOCSTART- -X- O O\n\nJan NNP\nsaid VBD\n\nHi\tUH\n")
            .pop()
            .unwrap();
        let mut out = Vec::new();
        let tags = ["B-PER", "O", "O"].map(String::from);
        write_lines(&mut out, &lines, Some(&tags)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-DOCSTART- -X- O O O\n\nJan NNP B-PER\nsaid VBD O\n\nHi\tUH\tO\n"
        );
    }

    #[test]
    fn iob2_tags_from_entities() {
        let mut doc = Document::new("d", "Jan de Vries met Bonn");
        doc.tokens = byline_core::tokenize::tokenize(&doc.text);
        doc.entities = vec![byline_core::Entity {
            span: Span::new(0, 12),
            label: "PER".into(),
            score: None,
        }];
        let labels = LabelSet::from_names(["LOC", "PER"]);
        assert_eq!(
            iob2_tags(&doc, &labels),
            vec!["B-PER", "I-PER", "I-PER", "O", "O"]
        );
    }
}
