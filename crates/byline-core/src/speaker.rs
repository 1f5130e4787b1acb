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
