//! Training the learned source scorer ([`byline_model::Linker`]) of a trained tagger.
//!
//! Examples come from gold attributions: each document's gold role spans (through word tags,
//! as a perfect tagger would give them) go through [`link_problem`]; every content that
//! matches a gold content (Dice ≥ 0.5 over words) is one example whose answer is the candidate
//! with exactly the gold source's words, or "no source" when the gold attribution has none.
//! Contents whose gold source is not among the candidates (farther than
//! [`SOURCE_SENTENCES`](byline_core::assemble::SOURCE_SENTENCES), or cut differently) are
//! counted and left out. The inputs are the tagger's encoder vectors, computed once (the
//! encoder stays frozen), so training is a small perceptron on fixed rows: a softmax over each
//! content's candidates, AdamW, a few seconds an epoch on two cores. The epoch with the best
//! dev accuracy (on gold spans) is kept.
//!
//! With `proposals` above 0 the linker also chooses among untagged spans near each content
//! ([`Proposals`]). On gold spans every gold source is tagged, which would teach it that a
//! proposed span is never the answer; `drop_sources` hides each gold source from the tagged
//! spans with that probability (it can then only be found as a proposal), as the tagger misses
//! sources at prediction time.

use std::path::Path;

use byline_core::align::{role_tags, roles_from_tags, RoleSpans};
use byline_core::assemble::{link_problem_proposing, Proposals};
use byline_core::metrics::attribution::{
    dice, evaluate_attributions, mention_tokens, AttributionScores,
};
use byline_core::Document;
use byline_model::linker::{features_read, link_batch, LinkBatch};
use byline_model::{HeadKind, Linker, LinkerConfig, Tagger};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::Rng;
use rand::SeedableRng;
use serde::Serialize;

use crate::error::{Error, Result};

/// How the linker is trained.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkerTraining {
    pub width: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Contents per optimiser step.
    pub batch_size: usize,
    pub dropout: f32,
    pub seed: u64,
    /// Documents whose vectors are computed together.
    pub chunk_documents: usize,
    /// The role spans the examples are built on (training and dev alike).
    pub spans: LinkSpans,
    /// Longest untagged span the linker may propose as a source (0: tagged sources only).
    pub proposals: usize,
    /// Share of gold sources hidden from gold-span examples' tagged spans (see the module docs).
    pub drop_sources: f64,
}

impl Default for LinkerTraining {
    fn default() -> Self {
        LinkerTraining {
            width: 256,
            epochs: 12,
            learning_rate: 1e-3,
            weight_decay: 0.01,
            batch_size: 64,
            dropout: 0.1,
            seed: 42,
            chunk_documents: 16,
            spans: LinkSpans::Gold,
            proposals: 0,
            drop_sources: 0.0,
        }
    }
}

/// One content with its candidates (as the linker reads them) and the index of the right one.
#[derive(Debug, Clone)]
pub struct LinkExample {
    pub batch: LinkBatch,
    pub candidates: usize,
    pub answer: usize,
    /// Index of the candidate rule 4 chooses (for comparing with the rules).
    pub rule: usize,
}

/// What building examples found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LinkExampleStats {
    pub contents: usize,
    pub examples: usize,
    /// Contents matching no gold content.
    pub unmatched: usize,
    /// Contents whose gold source is not among the candidates.
    pub unreachable: usize,
    /// Examples whose answer is "no source".
    pub no_source: usize,
}

/// Which role spans link examples are built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkSpans {
    /// The gold spans (what a perfect tagger would give).
    #[default]
    Gold,
    /// The tagger's own spans of the documents, as at prediction time. A content whose gold
    /// source is not among its candidates learns "no source" (any source would be wrong).
    Predicted,
    /// Both: each document gives its gold-span and its predicted-span examples.
    Both,
}

/// How link examples are built: on which role spans, with which proposed spans.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ExampleOptions {
    pub spans: LinkSpans,
    pub proposals: usize,
    pub drop_sources: f64,
    pub seed: u64,
}

impl ExampleOptions {
    pub fn of(cfg: &LinkerTraining) -> Self {
        ExampleOptions {
            spans: cfg.spans,
            proposals: cfg.proposals,
            drop_sources: cfg.drop_sources,
            seed: cfg.seed,
        }
    }
}

/// The link examples of `docs` (gold documents) for the attribution head `head`.
pub fn link_examples(
    tagger: &Tagger,
    head: &str,
    docs: &[Document],
    chunk_documents: usize,
) -> Result<(Vec<LinkExample>, LinkExampleStats)> {
    link_examples_on(tagger, head, docs, chunk_documents, LinkSpans::Gold)
}

/// [`link_examples`] on the role spans `spans` says.
pub fn link_examples_on(
    tagger: &Tagger,
    head: &str,
    docs: &[Document],
    chunk_documents: usize,
    spans: LinkSpans,
) -> Result<(Vec<LinkExample>, LinkExampleStats)> {
    let options = ExampleOptions {
        spans,
        ..ExampleOptions::default()
    };
    link_examples_with(tagger, head, docs, chunk_documents, &options)
}

/// [`link_examples`] built as `options` says.
pub fn link_examples_with(
    tagger: &Tagger,
    head: &str,
    docs: &[Document],
    chunk_documents: usize,
    options: &ExampleOptions,
) -> Result<(Vec<LinkExample>, LinkExampleStats)> {
    let spans = options.spans;
    let mut rng = rand::rngs::StdRng::seed_from_u64(options.seed);
    let shape = Shape {
        hidden: tagger.config().hidden_size,
        features: features_read(options.proposals),
        proposals: options.proposals,
    };
    let h = tagger.head_index(head).map_err(Error::model)?;
    let spec = &tagger.spec().heads[h];
    if spec.kind != HeadKind::Attributions {
        return Err(Error::Invalid(format!(
            "head `{head}` is not an attribution head"
        )));
    }
    let tag_set = spec.tag_set();
    let mut stats = LinkExampleStats::default();
    let mut out = Vec::new();
    let bad =
        |doc: &Document, e: byline_core::Error| Error::Invalid(format!("document {}: {e}", doc.id));
    for chunk in docs.chunks(chunk_documents.max(1)) {
        let docs: Vec<Document> = chunk
            .iter()
            .map(|d| byline_model::tagger::tokenized(d).into_owned())
            .collect();
        let inputs = docs
            .iter()
            .map(|d| tagger.prepare(d))
            .collect::<byline_model::Result<Vec<_>>>()
            .map_err(Error::model)?;
        let refs: Vec<_> = inputs.iter().collect();
        // One encoder pass: every word's vector, and the tagger's spans when asked for.
        let heads: &[usize] = if spans == LinkSpans::Gold { &[] } else { &[h] };
        let (mut predicted, vectors) = tagger
            .predict_with_word_vectors(&refs, heads)
            .map_err(Error::model)?;
        let predicted = predicted.pop().unwrap_or_default();
        for (i, (doc, vectors)) in docs.iter().zip(&vectors).enumerate() {
            if spans != LinkSpans::Predicted {
                let tags = role_tags(doc, &tag_set);
                let mut roles =
                    roles_from_tags(doc, &tags.tags, None, &tag_set).map_err(|e| bad(doc, e))?;
                if options.drop_sources > 0.0 {
                    roles
                        .sources
                        .retain(|_| !rng.random_bool(options.drop_sources.min(1.0)));
                }
                doc_examples(doc, &roles, vectors, shape, false, &mut stats, &mut out)?;
            }
            if let Some(pred) = predicted.get(i) {
                let tags: Vec<_> = pred.tags.iter().filter_map(|&t| tag_set.tag(t)).collect();
                let roles = roles_from_tags(doc, &tags, None, &tag_set).map_err(|e| bad(doc, e))?;
                doc_examples(doc, &roles, vectors, shape, true, &mut stats, &mut out)?;
            }
        }
    }
    Ok((out, stats))
}

/// The linker's input shape: encoder width, features read, longest proposed span.
#[derive(Debug, Clone, Copy)]
struct Shape {
    hidden: usize,
    features: usize,
    proposals: usize,
}

/// The examples of one document's role spans: each content matching a gold content, answered
/// by the candidate with exactly the gold source's words (or "no source"). When nothing answers,
/// the content is left out, or, with `unreachable_is_none`, answered "no source".
fn doc_examples(
    doc: &Document,
    roles: &RoleSpans,
    vectors: &byline_model::WordVectors,
    shape: Shape,
    unreachable_is_none: bool,
    stats: &mut LinkExampleStats,
    out: &mut Vec<LinkExample>,
) -> Result<()> {
    let available = |w: usize| vectors.get(w).is_some();
    let proposals = Proposals {
        max_words: shape.proposals,
        available: &available,
    };
    let problem = link_problem_proposing(doc, roles, &proposals);
    let gold: Vec<(Vec<usize>, Option<Vec<usize>>)> = doc
        .attributions
        .iter()
        .map(|a| {
            (
                mention_tokens(&doc.tokens, &a.content),
                a.source.as_ref().map(|s| mention_tokens(&doc.tokens, s)),
            )
        })
        .collect();
    let mut first = 0;
    for (g, group) in problem.groups.iter().enumerate() {
        let n = problem.candidates[first..]
            .iter()
            .take_while(|c| c.group == g)
            .count();
        let candidates = &problem.candidates[first..first + n];
        let range = first..first + n;
        first += n;
        stats.contents += 1;
        let words: Vec<usize> = group
            .pieces
            .iter()
            .flat_map(|&p| roles.contents[p].words.clone())
            .collect();
        let best = gold
            .iter()
            .map(|(c, s)| (dice(&words, c), s))
            .filter(|(d, _)| *d >= 0.5)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let Some((_, source)) = best else {
            stats.unmatched += 1;
            continue;
        };
        let answer = candidates.iter().position(|c| match (c.source, source) {
            (None, None) => true,
            (Some(s), Some(gold)) => problem
                .source_span(roles, s)
                .words
                .clone()
                .eq(gold.iter().copied()),
            _ => false,
        });
        let answer = match answer {
            Some(a) => a,
            None if unreachable_is_none => 0,
            None => {
                stats.unreachable += 1;
                continue;
            }
        };
        let rule = candidates
            .iter()
            .position(|c| c.source == problem.rule_source_of[g])
            .unwrap_or(0);
        let batch = link_batch(
            &problem,
            roles,
            vectors,
            shape.hidden,
            shape.features,
            range,
        )
        .ok_or_else(|| Error::Invalid(format!("document {}: a span word has no vector", doc.id)))?;
        stats.examples += 1;
        stats.no_source += usize::from(answer == 0);
        out.push(LinkExample {
            batch,
            candidates: n,
            answer,
            rule,
        });
    }
    Ok(())
}

/// Accuracy figures of a linker on examples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LinkAccuracy {
    pub examples: usize,
    /// Share answered right by the linker.
    pub linker: f64,
    /// Share answered right by rule 4.
    pub rules: f64,
}

/// How often `linker` (and the rules) pick the right candidate of `examples`.
pub fn link_accuracy(linker: &Linker, examples: &[LinkExample]) -> Result<LinkAccuracy> {
    let mut right = 0;
    for batch in examples.chunks(256) {
        let scores = scores(linker, batch, None)?;
        let mut at = 0;
        for e in batch {
            let s = &scores[at..at + e.candidates];
            at += e.candidates;
            let best = (0..s.len())
                .max_by(|&a, &b| s[a].total_cmp(&s[b]))
                .unwrap_or(0);
            right += usize::from(best == e.answer);
        }
    }
    let rules = examples.iter().filter(|e| e.rule == e.answer).count();
    let n = examples.len().max(1) as f64;
    Ok(LinkAccuracy {
        examples: examples.len(),
        linker: right as f64 / n,
        rules: rules as f64 / n,
    })
}

/// The examples' candidates as one batch, in order.
fn joined(linker: &Linker, batch: &[LinkExample]) -> LinkBatch {
    let mut all = LinkBatch::new(linker.hidden(), linker.config().features());
    for e in batch {
        all.append(&e.batch);
    }
    all
}

fn scores(linker: &Linker, batch: &[LinkExample], dropout: Option<f32>) -> Result<Vec<f32>> {
    Ok(linker
        .forward_batch(&joined(linker, batch), dropout)
        .map_err(Error::model)?
        .to_vec1::<f32>()?)
}

/// Mean negative log-likelihood of the answers: a softmax over each example's candidates.
fn loss(linker: &Linker, batch: &[LinkExample], dropout: f32) -> Result<Tensor> {
    let s = linker
        .forward_batch(&joined(linker, batch), Some(dropout))
        .map_err(Error::model)?;
    let total = s.dim(0)?;
    // Pad every example to the longest with a score of -1e9 (index `total`).
    let device = linker.device();
    let s = Tensor::cat(&[&s, &Tensor::new(&[-1e9f32], device)?], 0)?;
    let longest = batch.iter().map(|e| e.candidates).max().unwrap_or(1);
    let mut index = Vec::with_capacity(batch.len() * longest);
    let mut answers = Vec::with_capacity(batch.len());
    let mut at = 0u32;
    for e in batch {
        for i in 0..longest {
            index.push(if i < e.candidates {
                at + i as u32
            } else {
                total as u32
            });
        }
        at += e.candidates as u32;
        answers.push(e.answer as u32);
    }
    let index = Tensor::from_vec(index, batch.len() * longest, device)?;
    let padded = s.index_select(&index, 0)?.reshape((batch.len(), longest))?;
    let logp = candle_nn::ops::log_softmax(&padded, 1)?;
    let answers = Tensor::from_vec(answers, (batch.len(), 1), device)?;
    Ok(logp.gather(&answers, 1)?.mean_all()?.neg()?)
}

/// One epoch's figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LinkEpoch {
    pub epoch: usize,
    pub loss: f64,
    pub dev: LinkAccuracy,
}

/// Trains a linker for `head` on `train` on `device`, keeping the epoch with the best accuracy
/// on `dev`. `report` gets every epoch's figures.
pub fn train_linker(
    head: &str,
    hidden: usize,
    train: &[LinkExample],
    dev: &[LinkExample],
    cfg: &LinkerTraining,
    device: &Device,
    mut report: impl FnMut(&LinkEpoch),
) -> Result<Linker> {
    if train.is_empty() {
        return Err(Error::Invalid("no link examples to train on".into()));
    }
    let config = LinkerConfig {
        head: head.to_string(),
        width: cfg.width,
        proposals: cfg.proposals,
    };
    let linker = Linker::new(config.clone(), hidden, device).map_err(Error::model)?;
    let mut opt = AdamW::new(
        linker.vars().all_vars(),
        ParamsAdamW {
            lr: cfg.learning_rate,
            weight_decay: cfg.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut best: Option<(f64, Vec<(String, Tensor)>)> = None;
    let total_steps = cfg.epochs * train.len().div_ceil(cfg.batch_size.max(1));
    let mut step = 0;
    for epoch in 1..=cfg.epochs {
        order.shuffle(&mut rng);
        let mut sum = 0.0;
        let mut batches = 0;
        for idx in order.chunks(cfg.batch_size.max(1)) {
            // Linear decay to a tenth of the rate.
            let done = step as f64 / total_steps.max(1) as f64;
            opt.set_learning_rate(cfg.learning_rate * (1.0 - 0.9 * done));
            step += 1;
            let batch: Vec<LinkExample> = idx.iter().map(|&i| train[i].clone()).collect();
            let l = loss(&linker, &batch, cfg.dropout)?;
            opt.backward_step(&l)?;
            sum += f64::from(l.to_scalar::<f32>()?);
            batches += 1;
        }
        let dev_acc = link_accuracy(&linker, if dev.is_empty() { train } else { dev })?;
        let e = LinkEpoch {
            epoch,
            loss: sum / batches.max(1) as f64,
            dev: dev_acc,
        };
        report(&e);
        if best.as_ref().is_none_or(|(b, _)| dev_acc.linker > *b) {
            best = Some((dev_acc.linker, snapshot(&linker)?));
        }
    }
    if let Some((_, weights)) = best {
        let data = linker
            .vars()
            .data()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, t) in weights {
            if let Some(v) = data.get(&name) {
                v.set(&t)?;
            }
        }
    }
    Ok(linker)
}

fn snapshot(linker: &Linker) -> Result<Vec<(String, Tensor)>> {
    let data = linker
        .vars()
        .data()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    data.iter()
        .map(|(n, v)| Ok((n.clone(), v.as_tensor().to_dtype(DType::F32)?.copy()?)))
        .collect()
}

/// What [`fit_linker`] found and did.
#[derive(Debug, Clone, Serialize)]
pub struct LinkerFit {
    pub head: String,
    pub train: LinkExampleStats,
    pub dev: LinkExampleStats,
    pub epochs: Vec<LinkEpoch>,
}

/// Builds link examples of `train` and `dev` (gold documents) with `tagger`'s encoder and trains
/// a linker for its attribution head `head` on the tagger's device; `report` gets every epoch.
pub fn fit_linker(
    tagger: &Tagger,
    head: &str,
    train: &[Document],
    dev: &[Document],
    cfg: &LinkerTraining,
    mut report: impl FnMut(&LinkEpoch),
) -> Result<(Linker, LinkerFit)> {
    let encoder = tagger.detached().map_err(Error::model)?;
    let mut options = ExampleOptions::of(cfg);
    let examples = |docs, options: &ExampleOptions| {
        link_examples_with(&encoder, head, docs, cfg.chunk_documents, options)
    };
    let (mut train_examples, mut train_stats) = examples(train, &options)?;
    // A model whose own spans match no gold content (an early or weak one) gives no examples
    // on them: learn from the gold spans rather than fail at the end of a training run.
    if train_examples.is_empty() && options.spans != LinkSpans::Gold {
        tracing::warn!(
            "the model's own spans match no gold content of the training documents; \
             the source scorer learns from the gold spans"
        );
        options.spans = LinkSpans::Gold;
        (train_examples, train_stats) = examples(train, &options)?;
    }
    let (dev_examples, dev_stats) = examples(dev, &options)?;
    tracing::info!(?train_stats, ?dev_stats, "built link examples");
    let mut epochs = Vec::new();
    let hidden = tagger.config().hidden_size;
    let device = tagger.device();
    let linker = train_linker(
        head,
        hidden,
        &train_examples,
        &dev_examples,
        cfg,
        device,
        |e| {
            report(e);
            epochs.push(*e);
        },
    )?;
    Ok((
        linker,
        LinkerFit {
            head: head.to_string(),
            train: train_stats,
            dev: dev_stats,
            epochs,
        },
    ))
}

/// End-to-end dev figures of an attribution head: `byline tag`'s output on the dev documents
/// scored against their gold attributions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AttributionFigures {
    pub content_overlap_f1: f64,
    pub content_exact_f1: f64,
    pub source_exact_f1: f64,
    pub cue_exact_f1: f64,
    pub attribution_f1: f64,
    pub direct_attribution_f1: f64,
    pub direct_speaker_correct: f64,
    pub direct_speaker_correct_when_found: f64,
}

impl AttributionFigures {
    pub fn of(s: &AttributionScores) -> Self {
        AttributionFigures {
            content_overlap_f1: s.all.content.overlap.f1(),
            content_exact_f1: s.all.content.exact.f1(),
            source_exact_f1: s.all.source.exact.f1(),
            cue_exact_f1: s.all.cue.exact.f1(),
            attribution_f1: s.all.attribution.f1(),
            direct_attribution_f1: s.direct.attribution.f1(),
            direct_speaker_correct: s.direct_speaker.accuracy(),
            direct_speaker_correct_when_found: s.direct_speaker.accuracy_when_found(),
        }
    }
}

/// The gold documents a linker learns from (`train`) and is chosen and scored on (`dev`).
#[derive(Debug, Clone, Copy)]
pub struct Gold<'a> {
    pub train: &'a [Document],
    pub dev: &'a [Document],
}

/// What [`fit_and_save`] did: the fit, and the dev figures with sources chosen by the rules
/// and by the fitted linker (absent without dev documents).
#[derive(Debug, Clone, Serialize)]
pub struct LinkerReport {
    pub fit: LinkerFit,
    pub dev: Option<LinkerDev>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct LinkerDev {
    pub rules: AttributionFigures,
    pub linker: AttributionFigures,
}

/// The source scorer's whole sequence, once for `byline train` (on the best model) and
/// `byline train-linker`: fit a linker for attribution head `head` on gold `train` (the epoch
/// chosen on `dev`), score `dev` end to end through [`Tagger::annotate`] (the path `byline tag`
/// takes) with the rules and with the linker, attach the linker to `tagger` and save the model
/// into `out` in `dtype`.
pub fn fit_and_save(
    tagger: &mut Tagger,
    head: &str,
    Gold { train, dev }: Gold<'_>,
    cfg: &LinkerTraining,
    out: &Path,
    dtype: DType,
    report: impl FnMut(&LinkEpoch),
) -> Result<LinkerReport> {
    let (linker, fit) = fit_linker(tagger, head, train, dev, cfg, report)?;
    let dev = if dev.is_empty() {
        None
    } else {
        let mut plain = tagger.detached().map_err(Error::model)?;
        plain.set_linker(None).map_err(Error::model)?;
        let heads = plain.heads_for(head).map_err(Error::model)?;
        let score = |t: &Tagger| -> Result<AttributionFigures> {
            let pred: Vec<Document> = t
                .annotate(dev, heads)
                .map_err(Error::model)?
                .into_iter()
                .map(|a| a.document)
                .collect();
            let scores = evaluate_attributions(dev, &pred)
                .map_err(|e| Error::Eval(format!("head `{head}`: {e}")))?;
            Ok(AttributionFigures::of(&scores))
        };
        let rules = score(&plain)?;
        plain
            .set_linker(Some(linker.clone()))
            .map_err(Error::model)?;
        let linked = score(&plain)?;
        Some(LinkerDev {
            rules,
            linker: linked,
        })
    };
    tagger.set_linker(Some(linker)).map_err(Error::model)?;
    tagger.save_as(out, dtype).map_err(Error::model)?;
    Ok(LinkerReport { fit, dev })
}
