//! Where predicted sources go wrong on a PolNeAR split: each gold source is found exactly,
//! found with other boundaries (printed with the prediction), or missed; predicted sources that
//! overlap no gold source are spurious; a missed source the tagger found but linked to no content
//! is counted apart. Then the direct quotes with a gold source whose content was found (Dice ≥
//! 0.5): is the predicted speaker right, cut differently, another source, or none?
//!
//! `cargo run --release -p byline-train --example source_errors -- MODEL_DIR [SPLIT_DIR] [N]`
use std::collections::HashSet;

use byline_core::corpus;
use byline_core::metrics::attribution::{dice, mention_tokens};
use byline_core::tokenize::tokenize_document;
use byline_core::{Document, Mention};
use byline_model::{LoadOptions, Tagger};

fn text(d: &Document, m: &Mention) -> String {
    m.text(&d.text)
        .map(|t| t.replace('\n', " "))
        .unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let model = args
        .get(1)
        .ok_or("usage: source_errors MODEL_DIR [SPLIT_DIR] [N]")?;
    let split = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "../shared/data/polnear/dev".into());
    let show: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(40);
    let tagger = Tagger::load(model.as_ref(), &LoadOptions::default())?.detached()?;
    let mut gold = corpus::load_documents(split.as_ref())?;
    gold.iter_mut().for_each(tokenize_document);
    let head = tagger
        .spec()
        .heads
        .iter()
        .find(|h| h.kind == byline_model::HeadKind::Attributions)
        .ok_or("no attribution head")?
        .name
        .clone();
    let pred: Vec<_> = tagger
        .annotate(&gold, tagger.heads_for(&head)?)?
        .into_iter()
        .map(|a| a.document)
        .collect();
    // The source spans the tagger found, linked or not.
    let h = tagger.head_index(&head)?;
    let tag_set = tagger.heads()[h].tag_set().clone();
    let predicted = tagger.predict(&gold, &head)?;
    let tagged: Vec<Vec<Mention>> = gold
        .iter()
        .zip(&predicted)
        .map(|(g, w)| {
            let tags: Vec<_> = w.tags.iter().filter_map(|&t| tag_set.tag(t)).collect();
            byline_core::align::roles_from_tags(g, &tags, None, &tag_set)
                .map(|r| r.sources.iter().map(|s| Mention::single(s.span)).collect())
                .unwrap_or_default()
        })
        .collect();
    let mut unlinked = 0;
    // Missed sources whose content the tagger did find (Dice >= 0.5): what a scorer conditioned
    // on the found content could still reach.
    let mut missed_content_found = 0;
    let (mut exact, mut boundary, mut missed, mut spurious, mut total) = (0, 0, 0, 0, 0);
    let mut shown = 0;
    for ((g, p), tagged) in gold.iter().zip(&pred).zip(&tagged) {
        let ps: Vec<&Mention> = p
            .attributions
            .iter()
            .filter_map(|a| a.source.as_ref())
            .collect();
        let gs: Vec<&Mention> = g
            .attributions
            .iter()
            .filter_map(|a| a.source.as_ref())
            .collect();
        let overlaps = |a: &Mention, b: &Mention| {
            a.pieces
                .iter()
                .any(|x| b.pieces.iter().any(|y| x.start < y.end && y.start < x.end))
        };
        let pset: HashSet<&Mention> = ps.iter().copied().collect();
        let content_found = |gold_source: &Mention| {
            g.attributions
                .iter()
                .filter(|a| a.source.as_ref() == Some(gold_source))
                .any(|a| {
                    let gw = mention_tokens(&g.tokens, &a.content);
                    p.attributions
                        .iter()
                        .any(|b| dice(&gw, &mention_tokens(&g.tokens, &b.content)) >= 0.5)
                })
        };
        for s in &gs {
            total += 1;
            if pset.contains(s) {
                exact += 1;
            } else if let Some(o) = ps.iter().find(|o| overlaps(o, s)) {
                boundary += 1;
                if shown < show {
                    shown += 1;
                    println!("boundary  gold [{}]  pred [{}]", text(g, s), text(p, o));
                }
            } else {
                missed += 1;
                let with_content = content_found(s);
                missed_content_found += usize::from(with_content);
                if std::env::var_os("SOURCE_ERRORS_MISSED").is_some() {
                    println!(
                        "MISSED\t{}\t{}\t{}",
                        with_content,
                        mention_tokens(&g.tokens, s).len(),
                        text(g, s)
                    );
                }
                let found = tagged.iter().find(|o| overlaps(o, s));
                unlinked += usize::from(found.is_some());
                if shown < show {
                    shown += 1;
                    let found = found.map(|o| text(g, o)).unwrap_or_default();
                    println!(
                        "missed    gold [{}]  tagged, unlinked [{found}]",
                        text(g, s)
                    );
                }
            }
        }
        for o in &ps {
            if !gs.iter().any(|s| overlaps(o, s)) {
                spurious += 1;
                if shown < show {
                    shown += 1;
                    println!("spurious  pred [{}]", text(p, o));
                }
            }
        }
    }
    // Direct quotes with a gold source whose content was found: the predicted speaker.
    let (mut found, mut right) = (0, 0);
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    for (g, p) in gold.iter().zip(&pred) {
        for a in &g.attributions {
            let Some(gs) = &a.source else { continue };
            if !byline_core::quote::is_direct_mention(&g.text, &a.content) {
                continue;
            }
            let gw = mention_tokens(&g.tokens, &a.content);
            let best = p
                .attributions
                .iter()
                .map(|b| (dice(&gw, &mention_tokens(&g.tokens, &b.content)), b))
                .filter(|(d, _)| *d >= 0.5)
                .max_by(|x, y| x.0.total_cmp(&y.0));
            let Some((_, b)) = best else { continue };
            found += 1;
            let kind = match &b.source {
                Some(ps) if ps == gs => {
                    right += 1;
                    "right"
                }
                Some(ps)
                    if ps
                        .pieces
                        .iter()
                        .any(|x| gs.pieces.iter().any(|y| x.start < y.end && y.start < x.end)) =>
                {
                    "other boundaries"
                }
                Some(_) => "another source",
                None => "no source",
            };
            *kinds.entry(kind).or_default() += 1;
            if kind != "right" && shown < show {
                shown += 1;
                let ps = b.source.as_ref().map(|m| text(g, m)).unwrap_or_default();
                println!("direct    {kind}: gold [{}]  pred [{ps}]", text(g, gs));
            }
        }
    }
    println!(
        "direct quotes with a source, content found: {found}, speaker right {right}: {kinds:?}"
    );
    println!(
        "gold sources {total}: exact {exact}, other boundaries {boundary}, missed {missed} ({unlinked} of them tagged but linked to no content; {missed_content_found} with their content found); spurious predictions {spurious}"
    );
    Ok(())
}
