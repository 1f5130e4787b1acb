//! Reader for PolNeAR (Newell, Margolin & Ruths, LREC 2018): news articles with attribution
//! relations (quote content, cue and source) in brat standoff format.
//!
//! A split directory holds `text/<name>.txt` (UTF-8) and `attributions/<name>_<annotator>.ann`.
//! An `.ann` file has one annotation per line:
//!
//! * `T<n>\t<Type> <start> <end>[;<start> <end>...]\t<covered text>`: a text-bound annotation.
//!   Offsets are Unicode code points. `Type` is `Source`, `Cue`, `Content`, `Attribution` or
//!   `Attribution-no-source` (the last two are anchors spanning the cue), or an annotator flag
//!   `Discuss` / `Discard`, which are checked, counted and otherwise ignored. The covered text
//!   of a discontinuous span is its pieces joined by one space (brat's convention). When the
//!   covered text contains a line break, brat writes it as is, so the rest of the covered text
//!   continues on the following lines: the reader takes as many lines as the offsets call for.
//! * `E<n>\tAttribution:T<a> Content:T<c> Cue:T<q> [Source:T<s>]`: one attribution, anchored by
//!   an `Attribution` or `Attribution-no-source` annotation. Roles may come in any order and may
//!   be numbered (`Content2` is a second piece of the content); all pieces of a role form one
//!   [`Mention`]. A role pointing at an annotation of another type (PolNeAR has one `Content`
//!   role on a `Source` span) is taken as the role says. An event with no content at all (PolNeAR
//!   has a few events with only an anchor) is counted in
//!   [`AnnCounts::events_without_content`] and left out of the document.
//! * `#<n>\tAnnotatorNotes ...` lines are counted and skipped, as are brat's attribute,
//!   relation, modification and normalisation lines (`A`, `R`, `M`, `N`), which PolNeAR does not
//!   use. Blank lines are skipped. A line of any other kind is an error.
//!
//! A few articles were annotated by several annotators. The reader uses annotator
//! [`REFERENCE_ANNOTATOR`] where it is present (it is for every such article in PolNeAR);
//! otherwise the lexicographically first annotator, with a warning.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::document::{Attribution, Document, Mention};
use crate::error::{BratErrorKind, Error, Result};
use crate::span::{OffsetMap, Span};
use crate::stats::CorpusStats;

/// The annotator whose `.ann` file is used for articles annotated by several annotators.
pub const REFERENCE_ANNOTATOR: &str = "4b22";

/// What an `.ann` file held besides the attributions kept in the document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnnCounts {
    /// `E` lines (attribution events), including those without content.
    pub events: usize,
    /// `E` lines with a `Source` role.
    pub events_with_source: usize,
    /// `E` lines with neither `Content` nor `Content2`: not in the document.
    pub events_without_content: usize,
    /// `Discuss` flags.
    pub discuss: usize,
    /// `Discard` flags.
    pub discard: usize,
    /// `#` (annotator note) lines.
    pub notes: usize,
    /// `A`, `R`, `M` and `N` lines.
    pub skipped_lines: usize,
}

impl std::ops::AddAssign for AnnCounts {
    fn add_assign(&mut self, o: Self) {
        self.events += o.events;
        self.events_with_source += o.events_with_source;
        self.events_without_content += o.events_without_content;
        self.discuss += o.discuss;
        self.discard += o.discard;
        self.notes += o.notes;
        self.skipped_lines += o.skipped_lines;
    }
}

/// One article with the annotation of one annotator.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// `id` is the article's name; tokens are left empty.
    pub document: Document,
    /// The annotator of the `.ann` used; `None` for an article without any `.ann` file or one
    /// parsed from memory.
    pub annotator: Option<String>,
    pub counts: AnnCounts,
}

/// A split directory: its articles in name order and the number of `.ann` files in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub articles: Vec<Article>,
    /// All `.ann` files, including those of annotators not used.
    pub ann_files: usize,
}

/// Parses an `.ann` file's contents against the article text. `ann_path` only names the file in
/// errors.
pub fn parse_ann(id: &str, text: String, ann: &str, ann_path: &Path) -> Result<Article> {
    let parsed = AnnParser::new(&text, ann_path).parse(ann)?;
    let mut document = Document::new(id, text);
    document.attributions = parsed.attributions;
    Ok(Article {
        document,
        annotator: None,
        counts: parsed.counts,
    })
}

/// Reads one article from its text file and one `.ann` file. The annotator is taken from the
/// `.ann` file name (`<name>_<annotator>.ann`) when it has that shape.
pub fn read_article(text_path: &Path, ann_path: &Path) -> Result<Article> {
    if !text_path.is_file() {
        return Err(Error::MissingText {
            ann: ann_path.to_owned(),
            text: text_path.to_owned(),
        });
    }
    let text = read_utf8(text_path)?;
    if text.is_empty() {
        return Err(Error::Empty {
            path: text_path.to_owned(),
        });
    }
    let ann = read_utf8(ann_path)?;
    let id = file_stem(text_path);
    let mut article = parse_ann(&id, text, &ann, ann_path)?;
    article.annotator = split_ann_name(&file_stem(ann_path)).map(|(_, a)| a.to_owned());
    Ok(article)
}

/// Reads a split directory (`text/` and `attributions/`). Every text file is an article; an
/// article with no `.ann` file has no attributions (and a warning is logged). An `.ann` file
/// whose text file is missing is an error; files in `attributions/` that are not named
/// `<name>_<annotator>.ann` are skipped with a warning.
pub fn read_split(dir: &Path) -> Result<Split> {
    let text_dir = dir.join("text");
    let ann_dir = dir.join("attributions");
    let mut anns: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    let mut ann_files = 0;
    for path in list_dir(&ann_dir)? {
        if path.extension().and_then(|e| e.to_str()) != Some("ann") {
            continue;
        }
        let stem = file_stem(&path);
        let Some((name, annotator)) = split_ann_name(&stem) else {
            tracing::warn!(path = %path.display(), "skipping .ann file not named <name>_<annotator>.ann");
            continue;
        };
        ann_files += 1;
        let text_path = text_dir.join(format!("{name}.txt"));
        if !text_path.is_file() {
            return Err(Error::MissingText {
                ann: path,
                text: text_path,
            });
        }
        anns.entry(name.to_owned())
            .or_default()
            .push((annotator.to_owned(), path));
    }

    let mut articles = Vec::new();
    for text_path in list_dir(&text_dir)? {
        if text_path.extension().and_then(|e| e.to_str()) != Some("txt") {
            continue;
        }
        let name = file_stem(&text_path);
        let Some(candidates) = anns.get_mut(&name) else {
            tracing::warn!(path = %text_path.display(), "article has no .ann file");
            let text = read_utf8(&text_path)?;
            if text.is_empty() {
                return Err(Error::Empty { path: text_path });
            }
            articles.push(Article {
                document: Document::new(name, text),
                annotator: None,
                counts: AnnCounts::default(),
            });
            continue;
        };
        candidates.sort();
        let chosen = match candidates.iter().find(|(a, _)| a == REFERENCE_ANNOTATOR) {
            Some(c) => c,
            None => {
                if candidates.len() > 1 {
                    tracing::warn!(
                        article = %name,
                        annotator = %candidates[0].0,
                        "several annotators and none is {REFERENCE_ANNOTATOR}; using the first"
                    );
                }
                &candidates[0]
            }
        };
        articles.push(read_article(&text_path, &chosen.1)?);
    }
    Ok(Split {
        articles,
        ann_files,
    })
}

/// The counts of `shared/data/README.md`'s PolNeAR table, for one split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolnearStats {
    pub articles: usize,
    pub ann_files: usize,
    /// Whitespace-separated words of the texts.
    pub words: usize,
    /// Attribution events (`E` lines) of the annotations used, including those without content.
    pub attributions: usize,
    pub with_source: usize,
    pub without_source: usize,
    /// Attributions whose content text is wholly inside quotation marks ([`crate::quote::is_direct_double`]).
    pub direct_quotes: usize,
    /// Attributions whose content text contains a quotation mark ([`crate::quote::has_quote_mark`]).
    pub content_with_quote_mark: usize,
}

impl PolnearStats {
    pub fn of_split(split: &Split) -> Self {
        let corpus = CorpusStats::of_documents(split.articles.iter().map(|a| &a.document));
        // Events without content are not kept as attributions but are counted here, as in the
        // README's table.
        let (attributions, with_source) = split.articles.iter().fold((0, 0), |(n, s), a| {
            (n + a.counts.events, s + a.counts.events_with_source)
        });
        PolnearStats {
            articles: split.articles.len(),
            ann_files: split.ann_files,
            words: corpus.words,
            attributions,
            with_source,
            without_source: attributions - with_source,
            direct_quotes: corpus.direct_quotes,
            content_with_quote_mark: corpus.content_with_quote_mark,
        }
    }
}

/// A text-bound annotation: its type, byte spans and line number.
#[derive(Debug)]
struct TextBound<'a> {
    ty: &'a str,
    pieces: Vec<Span>,
}

struct Parsed {
    attributions: Vec<Attribution>,
    counts: AnnCounts,
}

const TYPES: [&str; 7] = [
    "Source",
    "Cue",
    "Content",
    "Attribution",
    "Attribution-no-source",
    "Discuss",
    "Discard",
];

struct AnnParser<'t> {
    text: &'t str,
    map: OffsetMap,
    path: &'t Path,
}

impl<'t> AnnParser<'t> {
    fn new(text: &'t str, path: &'t Path) -> Self {
        AnnParser {
            text,
            map: OffsetMap::new(text),
            path,
        }
    }

    fn err(&self, line: usize, kind: BratErrorKind) -> Error {
        Error::Brat {
            path: self.path.to_owned(),
            line,
            kind,
        }
    }

    fn parse<'a>(&self, ann: &'a str) -> Result<Parsed> {
        let lines: Vec<&str> = ann.split('\n').collect();
        let mut counts = AnnCounts::default();
        let mut bounds: HashMap<&'a str, TextBound<'a>> = HashMap::new();
        let mut events: Vec<(usize, &'a str)> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let line_no = i + 1;
            let line = lines[i];
            i += 1;
            match line.chars().next() {
                None => {}
                Some('T') => {
                    let (id, bound, used) = self.text_bound(line, &lines[i..], line_no)?;
                    i += used;
                    match bound.ty {
                        "Discuss" => counts.discuss += 1,
                        "Discard" => counts.discard += 1,
                        _ => {}
                    }
                    if bounds.insert(id, bound).is_some() {
                        return Err(self.err(line_no, BratErrorKind::DuplicateId(id.to_owned())));
                    }
                }
                Some('E') => events.push((line_no, line)),
                Some('#') => counts.notes += 1,
                Some('A' | 'R' | 'M' | 'N') => counts.skipped_lines += 1,
                Some(_) => {
                    let prefix: String = line.chars().take(12).collect();
                    return Err(self.err(line_no, BratErrorKind::UnknownLineKind(prefix)));
                }
            }
        }
        let mut attributions = Vec::new();
        let mut event_ids = std::collections::HashSet::new();
        for (line_no, line) in events {
            let (id, attribution, has_source) = self.event(line, &bounds, line_no)?;
            if !event_ids.insert(id) {
                return Err(self.err(line_no, BratErrorKind::DuplicateId(id.to_owned())));
            }
            counts.events += 1;
            counts.events_with_source += usize::from(has_source);
            match attribution {
                Some(a) => attributions.push(a),
                None => counts.events_without_content += 1,
            }
        }
        attributions.sort_by(|a, b| a.content.pieces.cmp(&b.content.pieces));
        Ok(Parsed {
            attributions,
            counts,
        })
    }

    /// Parses a `T` line and the continuation lines its covered text needs. Returns the id, the
    /// annotation and how many continuation lines it used.
    fn text_bound<'a>(
        &self,
        line: &'a str,
        rest: &[&'a str],
        line_no: usize,
    ) -> Result<(&'a str, TextBound<'a>, usize)> {
        let malformed = |what: &str| {
            self.err(
                line_no,
                BratErrorKind::Malformed {
                    kind: "T",
                    what: what.to_owned(),
                },
            )
        };
        let mut fields = line.splitn(3, '\t');
        let id = fields.next().unwrap_or_default();
        let type_and_offsets = fields
            .next()
            .ok_or_else(|| malformed("no tab after the id"))?;
        let covered = fields
            .next()
            .ok_or_else(|| malformed("no covered text field"))?;
        let (ty, offsets) = type_and_offsets
            .split_once(' ')
            .ok_or_else(|| malformed("no offsets after the type"))?;
        let ty = TYPES
            .iter()
            .find(|t| **t == ty)
            .ok_or_else(|| self.err(line_no, BratErrorKind::UnknownType(ty.to_owned())))?;
        let mut pieces = Vec::new();
        for range in offsets.split(';') {
            let mut numbers = range.split(' ');
            let (Some(start), Some(end), None) = (numbers.next(), numbers.next(), numbers.next())
            else {
                return Err(malformed(&format!(
                    "range {range:?} is not `<start> <end>`"
                )));
            };
            let start = self.number(start, line_no)?;
            let end = self.number(end, line_no)?;
            if start > end {
                return Err(self.err(line_no, BratErrorKind::StartAfterEnd { start, end }));
            }
            let span = self.map.span_from_chars(start, end).ok_or_else(|| {
                self.err(
                    line_no,
                    BratErrorKind::OutsideText {
                        start,
                        end,
                        len: self.map.len_chars(),
                    },
                )
            })?;
            pieces.push(span);
        }
        let expected = pieces
            .iter()
            .map(|s| &self.text[s.start..s.end])
            .collect::<Vec<_>>()
            .join(" ");
        // A covered text with line breaks continues on the next lines.
        let mut found = covered.to_owned();
        let mut used = 0;
        while used < rest.len()
            && expected.starts_with(found.as_str())
            && expected.as_bytes().get(found.len()) == Some(&b'\n')
        {
            found.push('\n');
            found.push_str(rest[used]);
            used += 1;
        }
        if found != expected {
            return Err(self.err(
                line_no,
                BratErrorKind::CoveredTextMismatch { expected, found },
            ));
        }
        Ok((id, TextBound { ty, pieces }, used))
    }

    fn number(&self, s: &str, line_no: usize) -> Result<usize> {
        s.parse()
            .map_err(|_| self.err(line_no, BratErrorKind::BadOffset(s.to_owned())))
    }

    /// Parses an `E` line. Returns its id, the attribution (`None` without content) and whether
    /// it has a source role.
    fn event<'a>(
        &self,
        line: &'a str,
        bounds: &HashMap<&str, TextBound>,
        line_no: usize,
    ) -> Result<(&'a str, Option<Attribution>, bool)> {
        let (id, args) = line.split_once('\t').ok_or_else(|| {
            self.err(
                line_no,
                BratErrorKind::Malformed {
                    kind: "E",
                    what: "no tab after the id".to_owned(),
                },
            )
        })?;
        let (mut content, mut cue, mut source) = (Vec::new(), Vec::new(), Vec::new());
        let mut has_anchor = false;
        let mut has_source = false;
        let mut roles_seen = Vec::new();
        for arg in args.split_whitespace() {
            let (role, target) = arg.split_once(':').ok_or_else(|| {
                self.err(
                    line_no,
                    BratErrorKind::Malformed {
                        kind: "E",
                        what: format!("argument {arg:?} is not <Role>:<id>"),
                    },
                )
            })?;
            if roles_seen.contains(&role) {
                return Err(self.err(line_no, BratErrorKind::DuplicateRole(role.to_owned())));
            }
            roles_seen.push(role);
            let bound = bounds.get(target).ok_or_else(|| {
                self.err(line_no, BratErrorKind::UnknownReference(target.to_owned()))
            })?;
            let pieces = &bound.pieces;
            match role.trim_end_matches(|c: char| c.is_ascii_digit()) {
                "Attribution" | "Attribution-no-source" => has_anchor = true,
                "Content" => content.extend_from_slice(pieces),
                "Cue" => cue.extend_from_slice(pieces),
                "Source" => {
                    has_source = true;
                    source.extend_from_slice(pieces);
                }
                _ => return Err(self.err(line_no, BratErrorKind::UnknownRole(role.to_owned()))),
            }
        }
        if !has_anchor {
            return Err(self.err(line_no, BratErrorKind::MissingAnchor));
        }
        let mention = |mut pieces: Vec<Span>| {
            pieces.sort();
            pieces.dedup();
            (!pieces.is_empty()).then(|| Mention::new(pieces))
        };
        let attribution = mention(content).map(|content| Attribution {
            content,
            cue: mention(cue),
            source: mention(source),
        });
        Ok((id, attribution, has_source))
    }
}

/// Reads a file as UTF-8; invalid UTF-8 is an error naming the line and byte.
pub(crate) fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let byte = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..byte].iter().filter(|b| **b == b'\n').count();
        Error::InvalidUtf8 {
            path: path.to_owned(),
            line: Some(line),
            byte,
        }
    })
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry
            .file_type()
            .map_err(|e| Error::io(entry.path(), e))?
            .is_file()
        {
            paths.push(entry.path());
        }
    }
    paths.sort();
    Ok(paths)
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `<name>_<annotator>` -> (name, annotator); `None` when there is no `_` or either part is
/// empty.
fn split_ann_name(stem: &str) -> Option<(&str, &str)> {
    let (name, annotator) = stem.rsplit_once('_')?;
    (!name.is_empty() && !annotator.is_empty()).then_some((name, annotator))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Zoë said “we win” today.\n\nThey agreed, he added.";

    fn parse(ann: &str) -> Result<Article> {
        parse_ann("a", TEXT.to_owned(), ann, Path::new("a_x.ann"))
    }

    #[test]
    fn reads_attributions_with_code_point_offsets() {
        let ann = "T1\tSource 0 3\tZoë\nT2\tCue 4 8\tsaid\nT3\tContent 9 17\t“we win”\n\
                   T4\tAttribution 4 8\tsaid\nE1\tAttribution:T4 Content:T3 Cue:T2 Source:T1\n\
                   T5\tContent 26 30;31 38\tThey agreed,\nT6\tCue 42 47\tadded\n\
                   T7\tAttribution-no-source 42 47\tadded\nE2\tAttribution-no-source:T7 Cue:T6 Content:T5\n\
                   T8\tDiscuss 0 3\tZoë\n#1\tAnnotatorNotes T8\tcheck\nA1\tNegated E1\n";
        let article = parse(ann).unwrap();
        let doc = &article.document;
        let a = &doc.attributions;
        assert_eq!(a.len(), 2);
        assert_eq!(doc.slice(a[0].source.as_ref().unwrap().pieces[0]), "Zoë");
        assert_eq!(doc.slice(a[0].content.pieces[0]), "“we win”");
        assert_eq!(a[1].content.text(&doc.text).unwrap(), "They agreed,");
        assert_eq!(a[1].source, None);
        let c = article.counts;
        assert_eq!((c.events, c.events_with_source), (2, 1));
        assert_eq!((c.discuss, c.notes, c.skipped_lines), (1, 1, 1));
    }

    #[test]
    fn covered_text_may_continue_on_next_lines() {
        let ann = "T1\tContent 9 30\t“we win” today.\n\nThey\nT2\tCue 4 8\tsaid\nT3\tAttribution 4 8\tsaid\n\
                   E1\tAttribution:T3 Content:T1 Cue:T2";
        let article = parse(ann).unwrap();
        let doc = &article.document;
        assert_eq!(
            doc.slice(doc.attributions[0].content.pieces[0]),
            "“we win” today.\n\nThey"
        );
    }

    #[test]
    fn events_without_content_are_counted_not_kept() {
        let ann = "T1\tAttribution 4 8\tsaid\nT2\tSource 0 3\tZoë\nE1\tAttribution:T1 Source:T2\n";
        let article = parse(ann).unwrap();
        assert!(article.document.attributions.is_empty());
        let c = article.counts;
        assert_eq!(
            (c.events, c.events_with_source, c.events_without_content),
            (1, 1, 1)
        );
    }

    #[test]
    fn empty_ann_has_no_attributions() {
        assert!(parse("").unwrap().document.attributions.is_empty());
    }

    #[test]
    fn bad_lines() {
        let cases: &[(&str, usize, &str)] = &[
            ("X1\tfoo", 1, "unknown line kind"),
            ("T1\tCue 4 8", 1, "no covered text"),
            ("T1", 1, "no tab"),
            ("T1\tCue\tsaid", 1, "no offsets"),
            ("T1\tSpeaker 4 8\tsaid", 1, "unknown text-bound type"),
            ("T1\tCue 4 x\tsaid", 1, "not a number"),
            ("T1\tCue 4\tsaid", 1, "is not `<start> <end>`"),
            ("T1\tCue 8 4\tsaid", 1, "start 8 > end 4"),
            ("T1\tCue 40 99\tsaid", 1, "outside the text (48 characters)"),
            ("\nT1\tCue 4 8\tsays", 2, "does not match"),
            ("T1\tCue 4 8\tsaid\nT1\tCue 4 8\tsaid", 2, "defined twice"),
            (
                "T1\tCue 4 8\tsaid\nE1\tAttribution:T9 Cue:T1",
                2,
                "unknown annotation T9",
            ),
            (
                "T1\tCue 4 8\tsaid\nE1\tAttribution:T1 Speaker:T1",
                2,
                "unknown role",
            ),
            (
                "T1\tCue 4 8\tsaid\nE1\tAttribution:T1 Cue:T1 Cue:T1",
                2,
                "twice",
            ),
            ("T1\tCue 4 8\tsaid\nE1\tCue:T1", 2, "no Attribution"),
            (
                "T1\tCue 4 8\tsaid\nE1\tAttribution=T1",
                2,
                "not <Role>:<id>",
            ),
            ("E1", 1, "no tab"),
        ];
        for (ann, line, want) in cases {
            let err = parse(ann).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("a_x.ann:{line}: ")),
                "{ann:?}: {err}"
            );
            assert!(err.contains(want), "{ann:?}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn split_directory_rules() {
        let dir = tempfile::tempdir().unwrap();
        let (text, attr) = (dir.path().join("text"), dir.path().join("attributions"));
        std::fs::create_dir_all(&text).unwrap();
        std::fs::create_dir_all(&attr).unwrap();
        std::fs::write(text.join("a.txt"), "Al said yes.").unwrap();
        std::fs::write(text.join("b.txt"), "Bo said no.").unwrap();
        std::fs::write(attr.join("a_ff00.ann"), "T1\tCue 3 7\tsaid\n").unwrap();
        std::fs::write(attr.join("a_4b22.ann"), "").unwrap();
        std::fs::write(attr.join("b_zz.ann"), "").unwrap();
        std::fs::write(attr.join("b_aa.ann"), "T1\tCue 3 7\tsaid\n").unwrap();
        let split = read_split(dir.path()).unwrap();
        assert_eq!(split.ann_files, 4);
        let annotators: Vec<_> = split.articles.iter().map(|a| a.annotator.clone()).collect();
        assert_eq!(annotators, [Some("4b22".to_owned()), Some("aa".to_owned())]);
        let stats = PolnearStats::of_split(&split);
        assert_eq!((stats.articles, stats.words), (2, 6));

        std::fs::write(attr.join("c_aa.ann"), "").unwrap();
        let err = read_split(dir.path()).unwrap_err().to_string();
        assert!(err.contains("c.txt is missing"), "{err}");
        std::fs::remove_file(attr.join("c_aa.ann")).unwrap();

        std::fs::write(attr.join("b_aa.ann"), b"T1\tCue 3 7\tsa\xffd\n").unwrap();
        let err = read_split(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("b_aa.ann:1: invalid UTF-8 at byte 13"),
            "{err}"
        );

        std::fs::write(text.join("b.txt"), "").unwrap();
        let err = read_split(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("b.txt: file is empty"), "{err}");
    }
}
