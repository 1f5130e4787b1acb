//! Quotes and their speakers on constructed texts, without a model: role spans and entities are
//! marked by hand, assembled by the rules of `byline_core::assemble`, classified by
//! `byline_core::quote::QuoteKind` and linked by `byline_core::speaker::source_entities`.

use byline_core::align::{role_labels, role_tags, roles_from_tags, RoleSpans};
use byline_core::assemble::assemble;
use byline_core::quote::QuoteKind;
use byline_core::speaker::source_entities;
use byline_core::tokenize::tokenize_document;
use byline_core::{Attribution, Document, Entity, Mention, Scheme, Span, TagSet};

/// Parses marks: `{C ...}` content, `{Q ...}` cue, `{S ...}` source, `[PER ...]` (any label)
/// entity. Returns the tokenized document with its entities, and the role spans decoded from
/// word tags as a tagger would give them.
fn parse(marked: &str) -> (Document, RoleSpans) {
    let mut text = String::new();
    let mut roles: Vec<(char, Span)> = Vec::new();
    let mut entities = Vec::new();
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut chars = marked.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '[' => {
                let mut name: String = c.into();
                for n in chars.by_ref() {
                    if n == ' ' {
                        break;
                    }
                    name.push(n);
                }
                open.push((name, text.len()));
            }
            '}' | ']' => {
                let (name, start) = open.pop().expect("balanced marks");
                let span = Span::new(start, text.len());
                match name.strip_prefix('[') {
                    Some(label) => entities.push(Entity {
                        span,
                        label: label.into(),
                        score: Some(0.9),
                    }),
                    None => roles.push((name.chars().nth(1).expect("role letter"), span)),
                }
            }
            _ => text.push(c),
        }
    }
    let mut doc = Document::new("t", text);
    tokenize_document(&mut doc);
    entities.sort_by_key(|e| e.span.start);
    doc.entities = entities;
    let mut marked_doc = doc.clone();
    for (role, span) in roles {
        let m = Some(Mention::single(span));
        let empty = Mention::new(vec![]);
        marked_doc.attributions.push(match role {
            'C' => Attribution {
                content: Mention::single(span),
                cue: None,
                source: None,
            },
            'Q' => Attribution {
                content: empty,
                cue: m,
                source: None,
            },
            'S' => Attribution {
                content: empty,
                cue: None,
                source: m,
            },
            _ => panic!("unknown role {role}"),
        });
    }
    let set = TagSet::new(Scheme::Bioes, &role_labels());
    let tags = role_tags(&marked_doc, &set);
    let spans = roles_from_tags(&doc, &tags.tags, None, &set).expect("valid tags");
    (doc, spans)
}

/// Each attribution as `kind | content | source | linked entity`.
fn speakers(marked: &str) -> Vec<String> {
    let (mut doc, roles) = parse(marked);
    doc.attributions = assemble(&doc, &roles);
    let links = source_entities(&doc);
    doc.attributions
        .iter()
        .zip(links)
        .map(|(a, link)| {
            let content = a.content.text(&doc.text).unwrap_or_default();
            let source = a
                .source
                .as_ref()
                .and_then(|m| m.text(&doc.text))
                .unwrap_or_else(|| "-".into());
            let entity = link.map_or_else(
                || "-".to_owned(),
                |e| {
                    let e = &doc.entities[e];
                    format!("{} {}", e.label, doc.slice(e.span))
                },
            );
            format!(
                "{} | {content} | {source} | {entity}",
                QuoteKind::of(&content).as_str()
            )
        })
        .collect()
}

#[test]
fn constructed_texts() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "speaker after the quote",
            "{C \u{201C}We will win,\u{201D}} {S [PER Smith]} {Q said}.",
            &["direct | \u{201C}We will win,\u{201D} | Smith | PER Smith"],
        ),
        (
            "speaker before the quote, a description around the name",
            "{S foreign ministry spokesman [PER Bahram Qasemi]} {Q said}: {C \"Talks are over.\"}",
            &["direct | \"Talks are over.\" | foreign ministry spokesman Bahram Qasemi | PER Bahram Qasemi"],
        ),
        (
            "two quotes, two speakers, one paragraph",
            "{C \"Taxes will rise,\"} {Q said} {S [PER Jones]}. {C \"They will not,\"} {S [PER Smith]} {Q replied}.",
            &[
                "direct | \"Taxes will rise,\" | Jones | PER Jones",
                "direct | \"They will not,\" | Smith | PER Smith",
            ],
        ),
        (
            "a pronoun speaker resolved to the earlier PER",
            "[PER Smith] arrived late. {C \u{201C}We will win,\u{201D}} {S he} {Q said}.",
            &["direct | \u{201C}We will win,\u{201D} | he | PER Smith"],
        ),
        (
            "a pronoun prefers the earlier speaker to a nearer PER",
            "{S [PER Smith]} {Q said} {C the talks failed}. [PER Jones] met him. \
             {C \u{201C}It is over,\u{201D}} {S he} {Q added}.",
            &[
                "indirect | the talks failed | Smith | PER Smith",
                "direct | \u{201C}It is over,\u{201D} | he | PER Smith",
            ],
        ),
        (
            "a chain of pronoun speakers keeps its speaker",
            "{S [PER Smith]} {Q said} {C the talks failed}. {S He} {Q added} {C they would resume}. \
             [PER Jones] met him. {S He} {Q said} {C nothing changed}.",
            &[
                "indirect | the talks failed | Smith | PER Smith",
                "indirect | they would resume | He | PER Smith",
                "indirect | nothing changed | He | PER Smith",
            ],
        ),
        (
            "\u{201C}it\u{201D} to an ORG rather than a nearer LOC",
            "[ORG Acme Corp] lost money in [LOC Ohio]. {S It} {Q said} {C profits would return}.",
            &["indirect | profits would return | It | ORG Acme Corp"],
        ),
        (
            "\u{201C}they\u{201D} links an ORG, never one person",
            "[PER Smith] met [ORG Acme Corp]. {S They} {Q said} {C talks went well}. \
             [PER Jones] arrived. {S They} {Q added} {C nothing}.",
            &[
                "indirect | talks went well | They | ORG Acme Corp",
                "indirect | nothing | They | ORG Acme Corp",
            ],
        ),
        (
            "\u{201C}they\u{201D} with only people before it stays unresolved",
            "[PER Smith] met [PER Jones]. {S They} {Q said} {C talks went well}.",
            &["indirect | talks went well | They | -"],
        ),
        (
            "a pronoun with no entity in the window stays unresolved",
            "[PER Smith] left. It rained. It rained. It rained. It rained. {S He} {Q said} {C so}.",
            &["indirect | so | He | -"],
        ),
        (
            "... but does within it",
            "[PER Smith] left. It rained. It rained. {S He} {Q said} {C so}.",
            &["indirect | so | He | PER Smith"],
        ),
        (
            "... also when tagged as one content per paragraph",
            "{C \u{201C}We won.}\n\n{C \u{201C}We won big,\u{201D}} {S [PER Smith]} {Q said}.",
            &["direct | \u{201C}We won. \u{201C}We won big,\u{201D} | Smith | PER Smith"],
        ),
        (
            "a description stays unresolved",
            "{C The plan is bold}, {Q wrote} {S the influential [LOC US] daily}.",
            &["indirect | The plan is bold | the influential US daily | -"],
        ),
        (
            // One content of two pieces, one per paragraph (a content never runs across a line
            // break; the assembly joins the pieces of a quote that opens again).
            "a quote over two paragraphs is one attribution",
            "{C \u{201C}We won.\n\n\u{201C}We won big,\u{201D}} {S [PER Smith]} {Q said}.",
            &["direct | \u{201C}We won. \u{201C}We won big,\u{201D} | Smith | PER Smith"],
        ),
        (
            "a quote with no speaker",
            "The sign read: {C \"Closed.\"}",
            &["direct | \"Closed.\" | - | -"],
        ),
        (
            "nested quotation marks",
            "{C \u{201C}She called it \u{2018}fake news,\u{2019} and left,\u{201D}} {S [PER Smith]} {Q said}.",
            &["direct | \u{201C}She called it \u{2018}fake news,\u{2019} and left,\u{201D} | Smith | PER Smith"],
        ),
        (
            "a mixed quote",
            "{S [PER Smith]} {Q called} {C the plan \u{201C}a disaster for workers\u{201D}}.",
            &["mixed | the plan \u{201C}a disaster for workers\u{201D} | Smith | PER Smith"],
        ),
    ];
    for (what, marked, want) in cases {
        assert_eq!(speakers(marked), *want, "{what}: {marked}");
    }
}
