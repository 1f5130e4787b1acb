//! Corpus statistics: the counts `byline stats` prints.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::document::Document;
use crate::quote;

/// Counts over a set of documents.
///
/// Entities are counted per label. `direct_quotes` and `content_with_quote_mark` use
/// [`quote::is_direct_double`] (the narrow rule of the README counts) and [`quote::has_quote_mark`] on each attribution's content text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CorpusStats {
    pub documents: usize,
    pub sentences: usize,
    pub tokens: usize,
    /// Whitespace-separated words of the texts (equal to `tokens` for CoNLL documents, whose
    /// text is their tokens joined by spaces).
    pub words: usize,
    pub entities: BTreeMap<String, usize>,
    pub attributions: usize,
    pub with_source: usize,
    pub without_source: usize,
    pub direct_quotes: usize,
    pub content_with_quote_mark: usize,
}

impl CorpusStats {
    pub fn of_documents<'a>(documents: impl IntoIterator<Item = &'a Document>) -> Self {
        let mut stats = CorpusStats::default();
        for doc in documents {
            stats.add(doc);
        }
        stats
    }

    pub fn add(&mut self, doc: &Document) {
        self.documents += 1;
        self.sentences += doc.sentences.len();
        self.tokens += doc.tokens.len();
        self.words += doc.text.split_whitespace().count();
        for entity in &doc.entities {
            *self.entities.entry(entity.label.clone()).or_default() += 1;
        }
        for attribution in &doc.attributions {
            self.attributions += 1;
            if attribution.source.is_some() {
                self.with_source += 1;
            } else {
                self.without_source += 1;
            }
            let content = attribution.content.text(&doc.text).unwrap_or_default();
            self.direct_quotes += usize::from(quote::is_direct_double(&content));
            self.content_with_quote_mark += usize::from(quote::has_quote_mark(&content));
        }
    }

    /// All entities, of every label.
    pub fn entity_total(&self) -> usize {
        self.entities.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Attribution, Entity, Mention};
    use crate::span::Span;

    #[test]
    fn counts_entities_and_attributions() {
        let text = "Ann said \u{201C}yes\u{201D}. Bob thinks no.";
        let mut doc = Document::new("d", text);
        doc.entities = vec![
            Entity {
                span: Span::new(0, 3),
                label: "PER".into(),
                score: None,
            },
            Entity {
                span: Span::new(17, 20),
                label: "PER".into(),
                score: None,
            },
        ];
        let find = |s: &str| {
            let start = text.find(s).unwrap();
            Mention::single(Span::new(start, start + s.len()))
        };
        doc.attributions = vec![
            Attribution {
                content: find("\u{201C}yes\u{201D}"),
                cue: Some(find("said")),
                source: Some(find("Ann")),
            },
            Attribution {
                content: find("no"),
                cue: Some(find("thinks")),
                source: None,
            },
        ];
        let stats = CorpusStats::of_documents([&doc]);
        assert_eq!(stats.documents, 1);
        assert_eq!(stats.words, 6);
        assert_eq!(stats.entities.get("PER"), Some(&2));
        assert_eq!(stats.entity_total(), 2);
        assert_eq!(
            (stats.attributions, stats.with_source, stats.without_source),
            (2, 1, 1)
        );
        assert_eq!((stats.direct_quotes, stats.content_with_quote_mark), (1, 1));
    }
}
