//! The predicted entity an attribution's source names: speaker resolution by rules.
//!
//! # Rules
//!
//! 1. **Names.** A source whose head is an entity links to it
//!    ([`crate::source::head_entity`]): "foreign ministry spokesman Bahram Qasemi" to
//!    Bahram Qasemi, "Smith of the Treasury" to Smith. An entity that only modifies the head
//!    ("the influential US daily", "the Clinton campaign") is not linked: a description with no
//!    name stays unresolved rather than guessed.
//! 2. **Pronouns.** A source that is a third-person pronoun links to an earlier entity of a
//!    compatible label ([`pronoun_labels`]): `he`, `him`, `she`, `her` to a `PER`; `it` to an
//!    `ORG`, else a `LOC` (a country or city speaking for its government: "Iran said it
//!    ..."); `they`, `them` to an `ORG` only: a plural pronoun stands for a group, which one
//!    person's entity is not (a hand check of 50 resolutions on PolNeAR dev found `they`
//!    linked to a person 3 times, each time wrongly). No gender is known, so
//!    `he` and `she` are alike.
//!    `I`, `we`, `you` are left unresolved (they point at the writer or the reader).
//!    * Candidates end before the pronoun starts and lie at most [`MAX_SENTENCES`] sentences
//!      before the pronoun's sentence (its own sentence included).
//!    * **Speakers first.** If an earlier attribution (by position of its source) within that
//!      window was resolved to a compatible entity, the pronoun links to the most recent such
//!      speaker: "Smith said A. Jones met him. He said B." gives B to Smith, and a chain of
//!      pronoun sources keeps its speaker ("He added C.").
//!    * Otherwise the nearest entity mention before the pronoun with the first label of the
//!      pronoun's list that has one ("Acme lost money in Ohio. It said ..." gives Acme).
//! 3. Everything else (no source, a description, a pronoun without a candidate): `None`.
//!
//! Sentences are `doc.sentences` over `doc.tokens`; a document without them is one sentence.
//! Attributions are resolved in the text order of their sources, so a pronoun can lean on
//! the speakers resolved before it.

use std::collections::HashMap;

use crate::source::{head_entity_among, pronoun};
use crate::{Document, Mention, Span};

/// How many sentences back a pronoun may look for its entity.
pub const MAX_SENTENCES: usize = 3;

/// The entity labels a pronoun can stand for (rule 2 of the [module docs](self)), preferred first;
/// `None` for text that is not a resolvable pronoun.
pub fn pronoun_labels(text: &str) -> Option<&'static [&'static str]> {
    match pronoun(text)? {
        "he" | "him" | "she" | "her" => Some(&["PER"]),
        "it" => Some(&["ORG", "LOC"]),
        "they" | "them" => Some(&["ORG"]),
        _ => None,
    }
}

/// For each of `doc`'s attributions, the index in `doc.entities` of the entity its source
/// names, by the rules of the [module docs](self). `None` for attributions without a source or
/// whose source is not resolved.
pub fn source_entities(doc: &Document) -> Vec<Option<usize>> {
    let mut links = vec![None; doc.attributions.len()];
    let mut order: Vec<(Span, usize)> = doc
        .attributions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| Some((a.source.as_ref()?.extent()?, i)))
        .collect();
    order.sort_by_key(|(s, i)| (s.start, *i));
    let sentences = Sentences::new(doc);
    // Entity indices by start: each lookup below touches only the entities near its source, so
    // a long document's thousands of entities and attributions cost linear time, not quadratic.
    let mut by_start: Vec<usize> = (0..doc.entities.len()).collect();
    by_start.sort_by_key(|&e| (doc.entities[e].span.start, e));
    // Resolved speakers so far, in the order of their sources: (source extent, entity).
    let mut speakers: Vec<(Span, usize)> = Vec::new();
    for (extent, i) in order {
        let Some(source) = doc.attributions[i].source.as_ref() else {
            continue;
        };
        let text = source.text(&doc.text).unwrap_or_default();
        let link = match pronoun_labels(&text) {
            Some(labels) => resolve_pronoun(doc, &sentences, &by_start, extent, labels, &speakers),
            None if pronoun(&text).is_some() => None,
            None => head_entity_among(doc, source, inside(doc, &by_start, source)),
        };
        if let Some(e) = link {
            speakers.push((extent, e));
        }
        links[i] = link;
    }
    links
}

/// The name each of `doc`'s entities goes by in the document: the person or organisation as
/// its fullest mention names it, so that every attribution of one speaker carries one name.
///
/// * A `PER` mention whose words end another, longer `PER` mention takes that mention's name
///   ("Kowalski" and "Ms. Kowalski" are "Elena Kowalski"); of several, the longest, then the
///   first.
/// * An all-capitals mention (other than `PER`) whose letters are the initials of the
///   capitalised words of a longer mention of the same label is that mention ("EPA" is
///   "Environmental Protection Agency", written out anywhere in the document).
/// * Anything else is its own text. Whitespace inside a name (a line break) becomes one space.
pub fn canonical_names(doc: &Document) -> Vec<String> {
    let all: Vec<usize> = (0..doc.entities.len()).collect();
    names_of(doc, &all)
}

/// [`canonical_names`] of the entities `wanted` only, in that order. Linear in the number of
/// entities (indexed by last word and by initials), so a document with a million entities
/// costs no more than reading them.
fn names_of(doc: &Document, wanted: &[usize]) -> Vec<String> {
    let text_of = |e: usize| -> String {
        doc.entities[e]
            .span
            .slice(&doc.text)
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Longer mentions by (label, last word) for names, and by (label, initials) for acronyms.
    let mut by_last: HashMap<(&str, String), Vec<usize>> = HashMap::new();
    let mut by_initials: HashMap<(&str, String), Vec<usize>> = HashMap::new();
    let texts: Vec<String> = (0..doc.entities.len()).map(text_of).collect();
    for (j, t) in texts.iter().enumerate() {
        let words: Vec<&str> = t.split(' ').collect();
        if words.len() < 2 {
            continue;
        }
        let label = doc.entities[j].label.as_str();
        if label == "PER" {
            let last = words[words.len() - 1].to_string();
            by_last.entry((label, last)).or_default().push(j);
        } else {
            by_initials
                .entry((label, initials(&words)))
                .or_default()
                .push(j);
        }
    }
    wanted
        .iter()
        .map(|&i| {
            let label = doc.entities[i].label.as_str();
            let words: Vec<&str> = texts[i].split(' ').collect();
            let candidates = if label == "PER" {
                by_last.get(&(label, words[words.len() - 1].to_string()))
            } else if is_acronym(&texts[i]) {
                by_initials.get(&(label, texts[i].replace('.', "")))
            } else {
                None
            };
            let fuller = candidates
                .into_iter()
                .flatten()
                .copied()
                .filter(|&j| {
                    let long: Vec<&str> = texts[j].split(' ').collect();
                    long.len() > words.len() && (label != "PER" || long.ends_with(&words))
                })
                .max_by_key(|&j| (texts[j].split(' ').count(), std::cmp::Reverse(j)));
            texts[fuller.unwrap_or(i)].clone()
        })
        .collect()
}

/// The initials of the capitalised words of `words` ("EPA" of "Environmental Protection
/// Agency").
fn initials(words: &[&str]) -> String {
    words
        .iter()
        .filter_map(|w| w.chars().next())
        .filter(|c| c.is_uppercase())
        .collect()
}

/// Whether `text` reads as an acronym: two capital letters or more, dots allowed ("EPA",
/// "U.N.").
fn is_acronym(text: &str) -> bool {
    let letters: Vec<char> = text.chars().filter(|c| *c != '.').collect();
    letters.len() >= 2 && letters.iter().all(|c| c.is_uppercase())
}

/// The speaker of each of `doc`'s attributions by name ([`canonical_names`] of the entity its
/// source is linked to, `links` as [`source_entities`] gives them); `None` where the source
/// is not linked.
pub fn speaker_names(doc: &Document, links: &[Option<usize>]) -> Vec<Option<String>> {
    let linked: Vec<usize> = links
        .iter()
        .flatten()
        .copied()
        .filter(|&i| i < doc.entities.len())
        .collect();
    let mut names = names_of(doc, &linked).into_iter();
    links
        .iter()
        .map(|l| match l {
            Some(i) if *i < doc.entities.len() => names.next(),
            _ => None,
        })
        .collect()
}

/// Indices (from `by_start`) of the entities that start inside one of `source`'s pieces.
fn inside<'a>(
    doc: &'a Document,
    by_start: &'a [usize],
    source: &'a Mention,
) -> impl Iterator<Item = usize> + 'a {
    source.pieces.iter().flat_map(move |p| {
        let first = by_start.partition_point(|&e| doc.entities[e].span.start < p.start);
        by_start[first..]
            .iter()
            .copied()
            .take_while(move |&e| doc.entities[e].span.start <= p.end)
    })
}

fn resolve_pronoun(
    doc: &Document,
    sentences: &Sentences,
    by_start: &[usize],
    at: Span,
    labels: &[&str],
    speakers: &[(Span, usize)],
) -> Option<usize> {
    let here = sentences.of(at.start);
    let recent = |span: Span| sentences.of(span.start) + MAX_SENTENCES >= here;
    let compatible = |e: usize| {
        doc.entities
            .get(e)
            .is_some_and(|e| labels.contains(&e.label.as_str()))
    };
    // Speakers are in source order: walk back from the latest while they are recent enough.
    let speaker = speakers
        .iter()
        .rev()
        .filter(|(s, _)| s.end <= at.start)
        .take_while(|(s, _)| recent(*s))
        .find(|(_, e)| compatible(*e))
        .map(|(_, e)| *e);
    speaker.or_else(|| {
        // The entities starting before the pronoun, nearest first, back to the window's start.
        let before = by_start.partition_point(|&e| doc.entities[e].span.start < at.start);
        let window: Vec<usize> = by_start[..before]
            .iter()
            .rev()
            .copied()
            .take_while(|&e| recent(doc.entities[e].span))
            .filter(|&e| doc.entities[e].span.end <= at.start)
            .collect();
        labels.iter().find_map(|label| {
            window
                .iter()
                .copied()
                .filter(|&e| doc.entities[e].label == *label)
                .max_by_key(|&e| (doc.entities[e].span.end, std::cmp::Reverse(e)))
        })
    })
}

/// Sentence index of byte offsets.
struct Sentences<'a> {
    doc: &'a Document,
}

impl<'a> Sentences<'a> {
    fn new(doc: &'a Document) -> Self {
        Sentences { doc }
    }

    /// The sentence holding the token at or after byte `offset` (the last one past the end).
    fn of(&self, offset: usize) -> usize {
        let token = self.doc.tokens.partition_point(|t| t.end <= offset);
        let sentences = &self.doc.sentences;
        sentences
            .partition_point(|r| r.end <= token)
            .min(sentences.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Attribution, Entity, Mention, Span};

    use super::*;

    #[test]
    fn one_name_per_person_or_organisation() {
        let text = "Elena Kowalski of the Environmental Protection Agency spoke. The EPA said \
                    Kowalski and Jan Kowalski left; UN and Kowalski\nTeam agreed.";
        let mut doc = Document::new("d", text);
        for (needle, label) in [
            ("Elena Kowalski", "PER"),
            ("Environmental Protection Agency", "ORG"),
            ("EPA", "ORG"),
            ("Kowalski and", "PER"),
            ("Jan Kowalski", "PER"),
            ("UN", "ORG"),
            ("Kowalski\nTeam", "ORG"),
        ] {
            let mut e = entity(text, needle, label);
            if needle == "Kowalski and" {
                e.span.end -= 4;
            }
            doc.entities.push(e);
        }
        let names = canonical_names(&doc);
        assert_eq!(
            names,
            [
                "Elena Kowalski",
                "Environmental Protection Agency",
                "Environmental Protection Agency",
                "Elena Kowalski", // the first of the two fullest
                "Jan Kowalski",
                "UN", // no United Nations in the text
                "Kowalski Team",
            ]
        );
        let links = [Some(3), None, Some(2)];
        assert_eq!(
            speaker_names(&doc, &links),
            [
                Some("Elena Kowalski".to_string()),
                None,
                Some("Environmental Protection Agency".to_string())
            ]
        );
    }

    fn entity(text: &str, needle: &str, label: &str) -> Entity {
        let start = text.find(needle).unwrap();
        Entity {
            span: Span::new(start, start + needle.len()),
            label: label.into(),
            score: Some(0.9),
        }
    }

    #[test]
    fn sources_link_the_longest_entity_inside_them() {
        let text = "The Dutch minister Jan de Vries said it. Officials said no. Jan said yes.";
        let find = |s: &str| {
            let start = text.find(s).unwrap();
            Span::new(start, start + s.len())
        };
        let mut doc = Document::new("d", text);
        doc.entities = vec![
            entity(text, "Dutch", "MISC"),
            entity(text, "Jan de Vries", "PER"),
            entity(text, "Jan said", "PER"),
        ];
        let attribution = |source: Option<&str>| Attribution {
            content: Mention::single(find("it")),
            cue: None,
            source: source.map(|s| Mention::single(find(s))),
        };
        doc.attributions = vec![
            // (source, expected entity)
            attribution(Some("The Dutch minister Jan de Vries")),
            attribution(Some("Jan de Vries")),
            attribution(Some("Officials")),
            attribution(None),
            // Overlapping but not inside: no link.
            attribution(Some("Jan")),
        ];
        assert_eq!(
            source_entities(&doc),
            vec![Some(1), Some(1), None, None, None]
        );
    }
}
