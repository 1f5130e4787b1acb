//! CoNLL column files: reading them into [`Document`]s and writing documents back out.
//!
//! # Reading
//!
//! One token per line, the token in the first column and its NER tag in the **last**; a blank
//! (or whitespace-only) line ends a sentence. This covers CoNLL-2003 (`token POS chunk NER`,
//! space-separated, IOB1) and the usual variants (two columns, IOB2 or BIOES tags,
//! tab-separated). The first token line fixes the file's layout: if it contains a tab, columns
//! are separated by single tabs (so tokens may contain spaces), otherwise by runs of ASCII
//! whitespace; and its number of columns is required of every later token line.
//!
//! A line whose first field is `-DOCSTART-` starts a new document (its other columns are
//! ignored). Without any, the whole file is one document. A document's text is its tokens joined
//! by one space within a sentence and its sentences joined by `"\n"`; [`Document::tokens`] and
//! [`Document::sentences`] record where they are. Documents without tokens are skipped, and the
//! rest are named `<file stem>-<n>`, `n` counting from 1 in file order (`train-1`, `train-2`, ...).
//!
//! Tags are decoded sentence by sentence with [`scheme::decode`], the conlleval / seqeval rules
//! that read IOB1 and IOB2 alike and also understand `E-` / `S-`. By default every prefix is
//! accepted; [`ConllReader::scheme`] restricts the tags to one scheme's prefixes (an error names
//! the first tag outside it). Entity types are collected from the file in first-seen order unless
//! [`ConllReader::labels`] gives the set, in which case any other type is an error.
//!
//! ```
//! use byline_core::conll::ConllReader;
//!
//! let data = "-DOCSTART- -X- O O\n\nJosé NNP I-NP I-PER\nvisits VBZ I-VP O\nZürich NNP I-NP I-LOC\n";
//! let corpus = ConllReader::new().read_bytes(data.as_bytes(), "dev.txt").unwrap();
//! let doc = &corpus.documents[0];
//! assert_eq!(doc.id, "dev-1");
//! assert_eq!(doc.text, "José visits Zürich");
//! assert_eq!(doc.slice(doc.entities[1].span), "Zürich");
//! ```
//!
//! # Writing
//!
//! [`ConllWriter`] writes `token TAG` lines (IOB2 unless told otherwise), a blank line after each
//! sentence, and optionally a `-DOCSTART- -X- O O` line (followed by a blank line) before each
//! document. What is tagged is any list of [`LabelledSpan`]s, so the same writer serves entities
//! and attribution roles (`CONTENT`, `CUE`, `SOURCE`). A token belongs to a span if it overlaps
//! it at all. Spans are taken in order of start (the longer first on a tie); a span that would
//! share a token with one already taken is dropped and counted in [`WriteStats::dropped`], since
//! one tag per token cannot show overlap. A span crossing a sentence boundary becomes one entity
//! in each sentence. ASCII whitespace inside a token (possible in tab-separated input) is written
//! as `_`, and an empty token as `_`.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::ops::{AddAssign, Range};
use std::path::{Path, PathBuf};

use crate::document::{Document, Entity};
use crate::error::{ConllErrorKind, Error, Result};
use crate::label::LabelSet;
use crate::scheme::{self, Scheme, Tag, TokenSpan};
use crate::span::Span;

/// The line that marks the start of a document.
pub const DOCSTART: &str = "-DOCSTART-";

/// Options for reading CoNLL files; see the module documentation for the format.
#[derive(Debug, Clone, Default)]
pub struct ConllReader {
    scheme: Option<Scheme>,
    labels: Option<LabelSet>,
}

/// Everything read from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConllCorpus {
    pub documents: Vec<Document>,
    /// The given label set, or the entity types found in the file in first-seen order.
    pub labels: LabelSet,
}

impl ConllReader {
    /// Accepts any tag prefix and collects the label set from the file.
    pub fn new() -> Self {
        ConllReader::default()
    }

    /// Accepts only the prefixes of `scheme` (decoding is the same for every scheme).
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = Some(scheme);
        self
    }

    /// Requires every entity type to be in `labels`.
    pub fn labels(mut self, labels: LabelSet) -> Self {
        self.labels = Some(labels);
        self
    }

    pub fn read_path(&self, path: impl AsRef<Path>) -> Result<ConllCorpus> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        self.read(BufReader::with_capacity(1 << 16, file), path)
    }

    /// Reads from memory; `name` is used in errors and document ids.
    pub fn read_bytes(&self, bytes: &[u8], name: impl AsRef<Path>) -> Result<ConllCorpus> {
        self.read(bytes, name)
    }

    /// Reads everything from `reader`; `name` is used in errors and document ids.
    pub fn read<R: BufRead>(&self, reader: R, name: impl AsRef<Path>) -> Result<ConllCorpus> {
        let mut docs = self.documents(reader, name);
        let documents = docs.by_ref().collect::<Result<Vec<_>>>()?;
        Ok(ConllCorpus {
            documents,
            labels: docs.labels,
        })
    }

    /// Reads document by document. The iterator stops after the first error.
    pub fn documents<R: BufRead>(&self, reader: R, name: impl AsRef<Path>) -> Documents<R> {
        let path = name.as_ref().to_path_buf();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "conll".to_owned());
        Documents {
            reader,
            path,
            stem,
            scheme: self.scheme,
            fixed_labels: self.labels.is_some(),
            labels: self.labels.clone().unwrap_or_default(),
            layout: None,
            buf: Vec::new(),
            line: 0,
            offset: 0,
            doc: Document::default(),
            tags: Vec::new(),
            sentence_start: 0,
            emitted: 0,
            total_tokens: 0,
            done: false,
        }
    }
}

/// The column layout, fixed by the first token line.
#[derive(Debug, Clone, Copy)]
struct Layout {
    tabs: bool,
    columns: usize,
}

/// A streaming CoNLL reader: yields one [`Document`] at a time.
#[derive(Debug)]
pub struct Documents<R> {
    reader: R,
    path: PathBuf,
    stem: String,
    scheme: Option<Scheme>,
    fixed_labels: bool,
    labels: LabelSet,
    layout: Option<Layout>,
    buf: Vec<u8>,
    /// 1-based number of the line in `buf`.
    line: usize,
    /// Byte offset of the start of the line in `buf`.
    offset: usize,
    doc: Document,
    /// Tags of the sentence being read.
    tags: Vec<Tag>,
    /// Index in `doc.tokens` of the sentence's first token.
    sentence_start: usize,
    emitted: usize,
    total_tokens: usize,
    done: bool,
}

impl<R: BufRead> Documents<R> {
    /// The label set so far: complete once the iterator is exhausted.
    pub fn labels(&self) -> &LabelSet {
        &self.labels
    }

    fn error(&self, kind: ConllErrorKind) -> Error {
        Error::Conll {
            path: self.path.clone(),
            line: self.line,
            kind,
        }
    }

    /// Reads lines until a document is complete; `Ok(None)` at the end of the input.
    fn next_document(&mut self) -> Result<Option<Document>> {
        loop {
            self.offset += self.buf.len();
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::io(&self.path, e))?;
            if n == 0 {
                return self.finish_file();
            }
            self.line += 1;
            // Taken out of `self` while `line` borrows it, so `self` can be borrowed mutably.
            let buf = std::mem::take(&mut self.buf);
            let done = self.line_of(&buf);
            self.buf = buf;
            if let Some(doc) = done? {
                return Ok(Some(doc));
            }
        }
    }

    /// Handles one line; returns a document when the line completes one.
    fn line_of(&mut self, buf: &[u8]) -> Result<Option<Document>> {
        let line = std::str::from_utf8(buf).map_err(|e| Error::InvalidUtf8 {
            path: self.path.clone(),
            line: Some(self.line),
            byte: self.offset + e.valid_up_to(),
        })?;
        let line = line.trim_end_matches(['\n', '\r']);
        match line.split_ascii_whitespace().next() {
            None => self.end_sentence(),
            Some(DOCSTART) => {
                self.end_sentence();
                return Ok(self.take_document());
            }
            Some(_) => self.token_line(line)?,
        }
        Ok(None)
    }

    fn finish_file(&mut self) -> Result<Option<Document>> {
        self.end_sentence();
        if let Some(doc) = self.take_document() {
            return Ok(Some(doc));
        }
        if self.total_tokens == 0 {
            return Err(Error::Empty {
                path: self.path.clone(),
            });
        }
        Ok(None)
    }

    fn token_line(&mut self, line: &str) -> Result<()> {
        let layout = match self.layout {
            Some(layout) => layout,
            None => {
                let tabs = line.contains('\t');
                let columns = fields(line, tabs).count();
                if columns < 2 {
                    return Err(self.error(ConllErrorKind::TooFewColumns { found: columns }));
                }
                let layout = Layout { tabs, columns };
                self.layout = Some(layout);
                layout
            }
        };
        let mut found = 0;
        let (mut token, mut tag) = ("", "");
        for (i, field) in fields(line, layout.tabs).enumerate() {
            if i == 0 {
                token = field;
            }
            tag = field;
            found += 1;
        }
        if found != layout.columns {
            return Err(self.error(ConllErrorKind::Columns {
                expected: layout.columns,
                found,
            }));
        }
        if token.is_empty() {
            return Err(self.error(ConllErrorKind::EmptyToken));
        }
        let tag = self.parse_tag(tag)?;

        let doc = &mut self.doc;
        if doc.tokens.len() > self.sentence_start {
            doc.text.push(' ');
        } else if !doc.tokens.is_empty() {
            doc.text.push('\n');
        }
        let start = doc.text.len();
        doc.text.push_str(token);
        doc.tokens.push(Span::new(start, doc.text.len()));
        self.tags.push(tag);
        self.total_tokens += 1;
        Ok(())
    }

    fn parse_tag(&mut self, tag: &str) -> Result<Tag> {
        let (prefix, name) = Tag::split(tag).map_err(|e| self.error(ConllErrorKind::Tag(e)))?;
        if let Some(scheme) = self.scheme {
            if !scheme.allows(prefix) {
                return Err(self.error(ConllErrorKind::NotInScheme {
                    tag: tag.to_owned(),
                    scheme,
                }));
            }
        }
        let Some(name) = name else {
            return Ok(Tag::O);
        };
        let id = match self.labels.id(name) {
            Some(id) => id,
            None if self.fixed_labels => {
                return Err(self.error(ConllErrorKind::LabelNotInSet {
                    tag: tag.to_owned(),
                    label: name.to_owned(),
                }))
            }
            None => self
                .labels
                .insert(name)
                .map_err(|e| self.error(ConllErrorKind::Label(e)))?,
        };
        Ok(Tag::entity(prefix, id))
    }

    /// Closes the sentence being read, if any, and decodes its entities.
    fn end_sentence(&mut self) {
        let doc = &mut self.doc;
        let range = self.sentence_start..doc.tokens.len();
        if range.is_empty() {
            return;
        }
        let scheme = self.scheme.unwrap_or_default();
        for s in scheme::decode(&self.tags, scheme) {
            let first = doc.tokens[range.start + s.start];
            let last = doc.tokens[range.start + s.end - 1];
            doc.entities.push(Entity {
                span: Span::new(first.start, last.end),
                label: self.labels.name(s.label).to_owned(),
                score: None,
            });
        }
        doc.sentences.push(range);
        self.tags.clear();
        self.sentence_start = doc.tokens.len();
    }

    /// Hands out the document read so far, unless it has no tokens.
    fn take_document(&mut self) -> Option<Document> {
        self.sentence_start = 0;
        if self.doc.tokens.is_empty() {
            return None;
        }
        self.emitted += 1;
        let mut doc = std::mem::take(&mut self.doc);
        doc.id = format!("{}-{}", self.stem, self.emitted);
        Some(doc)
    }
}

fn fields(line: &str, tabs: bool) -> Box<dyn Iterator<Item = &str> + '_> {
    if tabs {
        Box::new(line.trim_end_matches([' ', '\t']).split('\t'))
    } else {
        Box::new(line.split_ascii_whitespace())
    }
}

impl<R: BufRead> Iterator for Documents<R> {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Result<Document>> {
        if self.done {
            return None;
        }
        let next = self.next_document();
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next.transpose()
    }
}

/// A span of a document's text with the label to tag it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelledSpan<'a> {
    pub span: Span,
    pub label: &'a str,
}

/// A document's entities as labelled spans.
pub fn entity_spans(doc: &Document) -> Vec<LabelledSpan<'_>> {
    doc.entities
        .iter()
        .map(|e| LabelledSpan {
            span: e.span,
            label: &e.label,
        })
        .collect()
}

/// What a [`ConllWriter`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub documents: usize,
    pub sentences: usize,
    pub tokens: usize,
    /// Spans written as tags.
    pub spans: usize,
    /// Spans left out: overlapping a span already written, or covering no token.
    pub dropped: usize,
}

impl AddAssign for WriteStats {
    fn add_assign(&mut self, o: WriteStats) {
        self.documents += o.documents;
        self.sentences += o.sentences;
        self.tokens += o.tokens;
        self.spans += o.spans;
        self.dropped += o.dropped;
    }
}

/// Writes documents as CoNLL lines; see the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct ConllWriter {
    scheme: Scheme,
    docstart: bool,
    name: PathBuf,
}

impl Default for ConllWriter {
    fn default() -> Self {
        ConllWriter {
            scheme: Scheme::Iob2,
            docstart: false,
            name: PathBuf::from("<output>"),
        }
    }
}

impl ConllWriter {
    /// IOB2 tags, no `-DOCSTART-` lines.
    pub fn new() -> Self {
        ConllWriter::default()
    }

    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// Whether to start each document with `-DOCSTART- -X- O O` and a blank line.
    pub fn docstart(mut self, docstart: bool) -> Self {
        self.docstart = docstart;
        self
    }

    /// The output's name, for write errors.
    pub fn name(mut self, name: impl Into<PathBuf>) -> Self {
        self.name = name.into();
        self
    }

    /// Writes each document with its entities.
    pub fn write_entities<W: Write>(&self, mut out: W, docs: &[Document]) -> Result<WriteStats> {
        let mut stats = WriteStats::default();
        for doc in docs {
            stats += self.write_document(&mut out, doc, &entity_spans(doc))?;
        }
        Ok(stats)
    }

    /// Writes one document tagged with `spans`. The document needs tokens; without sentences
    /// its tokens are written as one sentence.
    pub fn write_document<W: Write>(
        &self,
        out: &mut W,
        doc: &Document,
        spans: &[LabelledSpan<'_>],
    ) -> Result<WriteStats> {
        let invalid = |reason: String| Error::InvalidDocument {
            document: doc.id.clone(),
            reason,
        };
        if doc.tokens.is_empty() {
            return Err(invalid(
                "has no tokens; tokenize it before writing CoNLL".into(),
            ));
        }
        let words: Vec<String> = doc
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.slice(&doc.text).map(token_word).ok_or_else(|| {
                    invalid(format!(
                        "token {i} ({}..{}) is not in the text",
                        t.start, t.end
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let whole = 0..doc.tokens.len();
        let sentences: &[Range<usize>] = if doc.sentences.is_empty() {
            std::slice::from_ref(&whole)
        } else {
            &doc.sentences
        };
        if let Some(s) = sentences.iter().find(|s| s.end > doc.tokens.len()) {
            return Err(invalid(format!(
                "sentence {}..{} goes past the {} tokens",
                s.start,
                s.end,
                doc.tokens.len()
            )));
        }

        let mut labels = LabelSet::new();
        let mut stats = WriteStats {
            documents: 1,
            ..WriteStats::default()
        };
        // Each span's token range, longest first among equal starts; greedy non-overlap.
        let mut ranges = Vec::with_capacity(spans.len());
        for s in spans {
            if s.label.contains(char::is_whitespace) {
                return Err(invalid(format!("label `{}` contains whitespace", s.label)));
            }
            let label = labels
                .insert(s.label)
                .map_err(|e| invalid(format!("label `{}`: {e}", s.label)))?;
            let tokens = doc.tokens_in(s.span);
            if s.span.is_empty() || tokens.is_empty() {
                stats.dropped += 1;
                continue;
            }
            ranges.push(TokenSpan::new(tokens.start, tokens.end, label));
        }
        ranges.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
        let mut owner: Vec<Option<usize>> = vec![None; doc.tokens.len()];
        for (k, r) in ranges.iter().enumerate() {
            if owner[r.start..r.end].iter().any(Option::is_some) {
                tracing::debug!(document = %doc.id, start = r.start, end = r.end, "dropping overlapping span");
                stats.dropped += 1;
                continue;
            }
            owner[r.start..r.end].fill(Some(k));
            stats.spans += 1;
        }

        let io = |e| Error::io(&self.name, e);
        if self.docstart {
            writeln!(out, "{DOCSTART} -X- O O\n").map_err(io)?;
        }
        for sentence in sentences.iter().filter(|s| !s.is_empty()) {
            let mut local: Vec<TokenSpan> = Vec::new();
            for (i, o) in owner[sentence.clone()].iter().enumerate() {
                let Some(k) = *o else { continue };
                match local.last_mut() {
                    Some(last)
                        if last.end == i && Some(k) == owner[sentence.start + last.start] =>
                    {
                        last.end = i + 1
                    }
                    _ => local.push(TokenSpan::new(i, i + 1, ranges[k].label)),
                }
            }
            let tags = scheme::encode(&local, sentence.len(), self.scheme)
                .map_err(|e| invalid(format!("cannot encode sentence {sentence:?}: {e}")))?;
            for (word, tag) in words[sentence.clone()].iter().zip(&tags) {
                writeln!(out, "{word} {}", tag.display(&labels)).map_err(io)?;
            }
            writeln!(out).map_err(io)?;
            stats.sentences += 1;
            stats.tokens += sentence.len();
        }
        Ok(stats)
    }
}

/// A token as one CoNLL field: ASCII whitespace (what the reader splits on) becomes `_`, and an
/// empty token is `_`.
fn token_word(token: &str) -> String {
    if token.is_empty() {
        return "_".to_owned();
    }
    token
        .chars()
        .map(|c| if c.is_ascii_whitespace() { '_' } else { c })
        .collect()
}
