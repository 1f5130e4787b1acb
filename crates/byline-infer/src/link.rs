//! The predicted entity an attribution's source names.

use byline_core::{Attribution, Document, Entity};

/// For each of `doc`'s attributions, the index in `doc.entities` of the entity its source names:
/// the longest entity that lies inside one piece of the source (an entity equal to the source
/// included), the first on a tie. `None` for attributions without a source or without such an
/// entity.
pub fn source_entities(doc: &Document) -> Vec<Option<usize>> {
    // Entity indices by start, so each source piece looks only at the entities starting inside
    // it: linear in a long document's thousands of entities and attributions, not quadratic.
    let mut by_start: Vec<usize> = (0..doc.entities.len()).collect();
    by_start.sort_by_key(|&i| doc.entities[i].span.start);
    doc.attributions
        .iter()
        .map(|a| source_entity(a, &doc.entities, &by_start))
        .collect()
}

fn source_entity(
    attribution: &Attribution,
    entities: &[Entity],
    by_start: &[usize],
) -> Option<usize> {
    let source = attribution.source.as_ref()?;
    source
        .pieces
        .iter()
        .flat_map(|p| {
            let first = by_start.partition_point(|&i| entities[i].span.start < p.start);
            by_start[first..]
                .iter()
                .take_while(move |&&i| entities[i].span.start <= p.end)
                .filter(move |&&i| p.contains(&entities[i].span))
        })
        // `max_by_key` keeps the last of equals: reverse the index so the first wins.
        .max_by_key(|&&i| (entities[i].span.len(), std::cmp::Reverse(i)))
        .copied()
}

#[cfg(test)]
mod tests {
    use byline_core::{Mention, Span};

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
