//! The learned source scorer of attribution assembly: which source span said which content.
//!
//! [`byline_core::assemble::link_problem`] lists each content's candidate sources (and "no
//! source") with [`LINK_FEATURES`] numbers about the pair. The [`Linker`] scores a candidate from
//! the encoder's vectors (last layer, each word's first subword; [`WordVectors`]) of the content's
//! first and last words, the candidate's first and last words and the cue's first word (zeros
//! where there is none), followed by those numbers, through a two-layer perceptron:
//! `Linear(5·hidden + features → width) → GELU → Linear(width → 1)`. Training (byline-train's
//! `linker`) is a softmax over each content's candidates, on gold role spans.
//!
//! A linker with `proposals` above 0 also chooses among spans nobody tagged as a source (runs of
//! up to that many words near the content; [`byline_core::assemble::Proposals`]), reading one
//! more feature (proposed or tagged). It needs the vectors of every word near a content or cue,
//! which the tagger then keeps.
//!
//! The first layer is linear in its five vector parts, so it is computed as a sum of
//! projections ([`Linker::forward_batch`]): each distinct word vector of a batch is projected
//! once, and a candidate's row is the sum of its parts' projections, rather than a
//! `5·hidden`-wide row per candidate ([`link_rows`], the reference it equals).
//!
//! The linker is stored beside the tagger as `linker.safetensors` (weights `l1.*`, `l2.*`) with
//! its [`LinkerConfig`] in `byline.json`; a tagger without one assembles by the rules.

use std::collections::HashMap;
use std::path::Path;

use byline_core::align::RoleSpans;
use byline_core::assemble::{LinkProblem, LINK_FEATURES, TAGGED_LINK_FEATURES};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernels::activation::{bias_gelu_erf, gelu_erf};

/// Candidates scored in one forward pass by [`Linker::score`].
pub const SCORE_CHUNK: usize = 8192;

/// File of the linker's weights in a model directory.
pub const LINKER_FILE: &str = "linker.safetensors";

/// Shape of a [`Linker`], stored in `byline.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkerConfig {
    /// The attribution head whose spans it links.
    pub head: String,
    /// Width of the hidden layer.
    pub width: usize,
    /// Longest span (in words) the linker proposes beyond the tagged sources; 0: it chooses
    /// among tagged sources only (as linkers stored before proposals did).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub proposals: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl LinkerConfig {
    /// How many of a candidate's [`features`](byline_core::assemble::SourceCandidate::features)
    /// the linker reads.
    pub fn features(&self) -> usize {
        features_read(self.proposals)
    }
}

/// How many candidate features a linker proposing spans of up to `proposals` words reads (all
/// of them, or without the last, "proposed", when it proposes none).
pub fn features_read(proposals: usize) -> usize {
    if proposals > 0 {
        LINK_FEATURES
    } else {
        TAGGED_LINK_FEATURES
    }
}

/// Encoder vectors of some of a document's words (each word's first subword, last layer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WordVectors {
    vectors: HashMap<usize, Vec<f32>>,
}

impl WordVectors {
    pub fn insert(&mut self, word: usize, vector: Vec<f32>) {
        self.vectors.insert(word, vector);
    }

    pub fn get(&self, word: usize) -> Option<&[f32]> {
        self.vectors.get(&word).map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Keeps only the words `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        self.vectors.retain(|w, _| keep(*w));
    }
}

/// The words whose vectors a link problem reads: every content's first and last word, every
/// candidate's first and last, every cue's first.
pub fn needed_words(problem: &LinkProblem, roles: &RoleSpans) -> Vec<usize> {
    let mut words = Vec::new();
    for g in &problem.groups {
        words.push(g.words.start);
        words.push(g.words.end.saturating_sub(1));
    }
    for c in problem.cue_of.iter().flatten() {
        words.push(roles.cues[*c].words.start);
    }
    for c in &problem.candidates {
        if let Some(s) = c.source {
            let words_of = &problem.source_span(roles, s).words;
            words.push(words_of.start);
            words.push(words_of.end.saturating_sub(1));
        }
    }
    words.sort_unstable();
    words.dedup();
    words
}

/// The input rows of a link problem, one per candidate (`candidates × input_size(hidden,
/// features)`, row-major, each candidate's first `features` features), or `None` when a vector
/// it needs is missing.
pub fn link_inputs(
    problem: &LinkProblem,
    roles: &RoleSpans,
    vectors: &WordVectors,
    hidden: usize,
    features: usize,
) -> Option<Vec<f32>> {
    link_rows(
        problem,
        roles,
        vectors,
        hidden,
        features,
        0..problem.candidates.len(),
    )
}

/// [`link_inputs`] of the candidates `range` only.
pub fn link_rows(
    problem: &LinkProblem,
    roles: &RoleSpans,
    vectors: &WordVectors,
    hidden: usize,
    features: usize,
    range: std::ops::Range<usize>,
) -> Option<Vec<f32>> {
    let width = input_size(hidden, features);
    let candidates = problem.candidates.get(range)?;
    let mut rows = Vec::with_capacity(candidates.len() * width);
    let zeros = vec![0.0f32; hidden];
    let vector = |w: usize| vectors.get(w).filter(|v| v.len() == hidden);
    for c in candidates {
        let g = &problem.groups[c.group];
        rows.extend_from_slice(vector(g.words.start)?);
        rows.extend_from_slice(vector(g.words.end.saturating_sub(1))?);
        match c.source {
            Some(s) => {
                let words = &problem.source_span(roles, s).words;
                rows.extend_from_slice(vector(words.start)?);
                rows.extend_from_slice(vector(words.end.saturating_sub(1))?);
            }
            None => {
                rows.extend_from_slice(&zeros);
                rows.extend_from_slice(&zeros);
            }
        }
        match problem.cue_of[c.group] {
            Some(q) => rows.extend_from_slice(vector(roles.cues[q].words.start)?),
            None => rows.extend_from_slice(&zeros),
        }
        rows.extend_from_slice(c.features.get(..features)?);
    }
    Some(rows)
}

/// Length of one input row for an encoder of width `hidden` and `features` features.
pub fn input_size(hidden: usize, features: usize) -> usize {
    5 * hidden + features
}

/// Candidates to score in the factored form [`Linker::forward_batch`] reads: distinct word
/// vectors for the candidates' first and last words (`words`, row 0 zeros: "no source"), each
/// content's own parts (`groups`: its first word, last word and cue's first word, `3·hidden`
/// each) and, per candidate, which rows it takes and its features.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkBatch {
    pub hidden: usize,
    pub features: usize,
    pub words: Vec<f32>,
    pub groups: Vec<f32>,
    pub group: Vec<u32>,
    pub start: Vec<u32>,
    pub end: Vec<u32>,
    pub feature_rows: Vec<f32>,
}

impl LinkBatch {
    pub fn new(hidden: usize, features: usize) -> Self {
        LinkBatch {
            hidden,
            features,
            words: vec![0.0; hidden],
            ..LinkBatch::default()
        }
    }

    /// Candidates in the batch.
    pub fn len(&self) -> usize {
        self.start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    /// Appends `other`'s candidates after this batch's (its rows renumbered).
    pub fn append(&mut self, other: &LinkBatch) {
        let words = (self.words.len() / self.hidden) as u32;
        let groups = (self.groups.len() / (3 * self.hidden).max(1)) as u32;
        self.words.extend_from_slice(&other.words);
        self.groups.extend_from_slice(&other.groups);
        self.group.extend(other.group.iter().map(|g| g + groups));
        self.start.extend(other.start.iter().map(|r| r + words));
        self.end.extend(other.end.iter().map(|r| r + words));
        self.feature_rows.extend_from_slice(&other.feature_rows);
    }

    /// Adds a word vector row, returning its index.
    pub fn push_word(&mut self, vector: &[f32]) -> u32 {
        self.words.extend_from_slice(vector);
        (self.words.len() / self.hidden - 1) as u32
    }

    /// Adds a content's parts (`3·hidden`), returning its index.
    pub fn push_group(&mut self, parts: &[f32]) -> u32 {
        self.groups.extend_from_slice(parts);
        (self.groups.len() / (3 * self.hidden) - 1) as u32
    }

    /// Adds a candidate of group `group` whose source's first and last words are rows `start`
    /// and `end` (0 for "no source").
    pub fn push_candidate(&mut self, group: u32, start: u32, end: u32, features: &[f32]) {
        self.group.push(group);
        self.start.push(start);
        self.end.push(end);
        self.feature_rows
            .extend_from_slice(&features[..self.features]);
    }
}

/// The [`LinkBatch`] of the candidates `range` of a problem (the groups they belong to, and the
/// vectors they read once each), or `None` when a vector it needs is missing.
pub fn link_batch(
    problem: &LinkProblem,
    roles: &RoleSpans,
    vectors: &WordVectors,
    hidden: usize,
    features: usize,
    range: std::ops::Range<usize>,
) -> Option<LinkBatch> {
    let candidates = problem.candidates.get(range)?;
    let mut batch = LinkBatch::new(hidden, features);
    let zeros = vec![0.0f32; hidden];
    let vector = |w: usize| vectors.get(w).filter(|v| v.len() == hidden);
    let mut rows: HashMap<usize, u32> = HashMap::new();
    let mut groups: HashMap<usize, u32> = HashMap::new();
    let mut parts = Vec::with_capacity(3 * hidden);
    for c in candidates {
        let group = match groups.get(&c.group) {
            Some(&g) => g,
            None => {
                let g = &problem.groups[c.group];
                parts.clear();
                parts.extend_from_slice(vector(g.words.start)?);
                parts.extend_from_slice(vector(g.words.end.saturating_sub(1))?);
                match problem.cue_of[c.group] {
                    Some(q) => parts.extend_from_slice(vector(roles.cues[q].words.start)?),
                    None => parts.extend_from_slice(&zeros),
                }
                let at = batch.push_group(&parts);
                groups.insert(c.group, at);
                at
            }
        };
        let (start, end) = match c.source {
            Some(s) => {
                let words = &problem.source_span(roles, s).words;
                let mut row = |w: usize| -> Option<u32> {
                    if let Some(&r) = rows.get(&w) {
                        return Some(r);
                    }
                    let r = batch.push_word(vector(w)?);
                    rows.insert(w, r);
                    Some(r)
                };
                (row(words.start)?, row(words.end.saturating_sub(1))?)
            }
            None => (0, 0),
        };
        batch.push_candidate(group, start, end, c.features.get(..features)?);
    }
    Some(batch)
}

/// The source scorer (see the [module docs](self)).
#[derive(Clone)]
pub struct Linker {
    config: LinkerConfig,
    hidden: usize,
    l1: Linear,
    l2: Linear,
    vars: VarMap,
}

impl std::fmt::Debug for Linker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linker")
            .field("config", &self.config)
            .field("hidden", &self.hidden)
            .finish_non_exhaustive()
    }
}

impl Linker {
    /// A freshly initialised linker for an encoder of width `hidden`, in f32.
    pub fn new(config: LinkerConfig, hidden: usize, device: &Device) -> Result<Self> {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
        let l1 = candle_nn::linear(
            input_size(hidden, config.features()),
            config.width,
            vb.pp("l1"),
        )?;
        let l2 = candle_nn::linear(config.width, 1, vb.pp("l2"))?;
        Ok(Linker {
            config,
            hidden,
            l1,
            l2,
            vars,
        })
    }

    /// Loads `dir/linker.safetensors` into a linker of shape `config`.
    pub fn load(dir: &Path, config: LinkerConfig, hidden: usize, device: &Device) -> Result<Self> {
        let path = dir.join(LINKER_FILE);
        let linker = Linker::new(config, hidden, device)?;
        let tensors = candle_core::safetensors::load(&path, device)?;
        let data = linker
            .vars
            .data()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, var) in data.iter() {
            let t = tensors.get(name).ok_or_else(|| Error::MissingWeight {
                path: path.clone(),
                name: name.clone(),
            })?;
            if t.dims() != var.dims() {
                return Err(Error::InvalidTagger {
                    message: format!(
                        "{}: `{name}` is {:?}, the linker expects {:?}",
                        path.display(),
                        t.dims(),
                        var.dims()
                    ),
                });
            }
            var.set(&t.to_dtype(DType::F32)?)?;
        }
        drop(data);
        Ok(linker)
    }

    /// Writes `dir/linker.safetensors` with every weight as `dtype`.
    pub fn save(&self, dir: &Path, dtype: DType) -> Result<()> {
        let data = self
            .vars
            .data()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tensors = data
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        crate::weights::save_safetensors(tensors, &dir.join(LINKER_FILE), dtype)
    }

    pub fn config(&self) -> &LinkerConfig {
        &self.config
    }

    /// The trainable weights, by name.
    pub fn vars(&self) -> &VarMap {
        &self.vars
    }

    /// Where the linker's weights live (and the rows it scores go).
    pub fn device(&self) -> &Device {
        self.l1.weight().device()
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Scores of input rows `(n, input_size)` → `(n,)`; dropout `p` on the hidden layer when
    /// training.
    pub fn forward(&self, rows: &Tensor, dropout: Option<f32>) -> Result<Tensor> {
        let h = gelu_erf(&self.l1.forward(rows)?)?;
        let h = match dropout {
            Some(p) if p > 0.0 => candle_nn::ops::dropout(&h, p)?,
            _ => h,
        };
        Ok(self.l2.forward(&h)?.squeeze(1)?)
    }

    /// Scores of a [`LinkBatch`] → `(n,)`: the same function as [`Linker::forward`] on the
    /// candidates' [`link_rows`], with each distinct vector projected once. Dropout `p` on the
    /// hidden layer when training.
    pub fn forward_batch(&self, batch: &LinkBatch, dropout: Option<f32>) -> Result<Tensor> {
        let (h, f, width) = (self.hidden, self.config.features(), self.config.width);
        if batch.hidden != h || batch.features != f {
            return Err(Error::InvalidTagger {
                message: format!(
                    "link batch of width {} with {} features; the linker reads {h} and {f}",
                    batch.hidden, batch.features
                ),
            });
        }
        let device = self.device();
        let n = batch.len();
        let w = self.l1.weight();
        // The first layer's column blocks: content first/last word, source first/last word,
        // cue first word, features.
        let group_w = Tensor::cat(&[w.narrow(1, 0, 2 * h)?, w.narrow(1, 4 * h, h)?], 1)?;
        let source_w = Tensor::cat(&[w.narrow(1, 2 * h, h)?, w.narrow(1, 3 * h, h)?], 0)?;
        let feature_w = w.narrow(1, 5 * h, f)?;
        let words = Tensor::from_slice(&batch.words, (batch.words.len() / h, h), device)?;
        let groups =
            Tensor::from_slice(&batch.groups, (batch.groups.len() / (3 * h), 3 * h), device)?;
        let index = |v: &[u32]| Tensor::from_slice(v, v.len(), device);
        let projected = words.matmul(&source_w.t()?)?; // (words, 2·width)
        let starts = projected.narrow(1, 0, width)?.contiguous()?;
        let ends = projected.narrow(1, width, width)?.contiguous()?;
        let group_part = groups.matmul(&group_w.t()?)?; // (groups, width)
        let features = Tensor::from_slice(&batch.feature_rows, (n, f), device)?;
        let mut x = features.matmul(&feature_w.t()?)?;
        x = (x + group_part.index_select(&index(&batch.group)?, 0)?)?;
        x = (x + starts.index_select(&index(&batch.start)?, 0)?)?;
        x = (x + ends.index_select(&index(&batch.end)?, 0)?)?;
        // GELU through byline's fused kernel: candle's scalar erf would cost more than the
        // products at hundreds of candidates per content.
        let x = match self.l1.bias() {
            Some(b) => bias_gelu_erf(&x, b)?,
            None => gelu_erf(&x)?,
        };
        let x = match dropout {
            Some(p) if p > 0.0 => candle_nn::ops::dropout(&x, p)?,
            _ => x,
        };
        Ok(self.l2.forward(&x)?.squeeze(1)?)
    }

    /// One score per candidate of `problem`, or `None` when a vector is missing (the caller
    /// falls back to the rules). Candidates are scored [`SCORE_CHUNK`] at a time, so a long
    /// document's tens of thousands of quotes do not build all their inputs at once.
    pub fn score(
        &self,
        problem: &LinkProblem,
        roles: &RoleSpans,
        vectors: &WordVectors,
    ) -> Option<Vec<f32>> {
        let total = problem.candidates.len();
        let mut scores = Vec::with_capacity(total);
        for start in (0..total).step_by(SCORE_CHUNK) {
            let range = start..(start + SCORE_CHUNK).min(total);
            let batch = link_batch(
                problem,
                roles,
                vectors,
                self.hidden,
                self.config.features(),
                range,
            )?;
            let chunk = self
                .forward_batch(&batch, None)
                .map_err(candle_error)
                .and_then(|s| s.to_vec1::<f32>());
            match chunk {
                Ok(s) => scores.extend(s),
                Err(e) => {
                    tracing::warn!(error = %e, "linker failed; assembling by the rules");
                    return None;
                }
            }
        }
        Some(scores)
    }
}

fn candle_error(e: Error) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use byline_core::align::{role_labels, role_tags, roles_from_tags};
    use byline_core::assemble::link_problem;
    use byline_core::tokenize::tokenize_document;
    use byline_core::{Attribution, Document, Mention, Scheme, Span, TagSet};

    const HIDDEN: usize = 8;

    /// `"A," Smith said. Jones added that B.`: two attributions, each with cue and source.
    fn problem() -> (Document, RoleSpans, LinkProblem) {
        let text = "\"We won,\" Smith said. Jones added that taxes rise.";
        let find = |s: &str| {
            let start = text.find(s).unwrap();
            Mention::single(Span::new(start, start + s.len()))
        };
        let mut doc = Document::new("d", text);
        tokenize_document(&mut doc);
        doc.attributions = vec![
            Attribution {
                content: find("\"We won,\""),
                cue: Some(find("said")),
                source: Some(find("Smith")),
            },
            Attribution {
                content: find("taxes rise"),
                cue: Some(find("added that")),
                source: Some(find("Jones")),
            },
        ];
        let set = TagSet::new(Scheme::Iob2, &role_labels());
        let tags = role_tags(&doc, &set);
        let roles = roles_from_tags(&doc, &tags.tags, None, &set).unwrap();
        let problem = link_problem(&doc, &roles);
        (doc, roles, problem)
    }

    fn vectors(doc: &Document) -> WordVectors {
        let mut v = WordVectors::default();
        for w in 0..doc.tokens.len() {
            v.insert(
                w,
                (0..HIDDEN)
                    .map(|i| (w * HIDDEN + i) as f32 / 100.0)
                    .collect(),
            );
        }
        v
    }

    #[test]
    fn inputs_have_one_row_per_candidate_and_need_every_span_end() {
        let (doc, roles, problem) = problem();
        let all = vectors(&doc);
        let f = TAGGED_LINK_FEATURES;
        let rows = link_inputs(&problem, &roles, &all, HIDDEN, f).unwrap();
        assert_eq!(rows.len(), problem.candidates.len() * input_size(HIDDEN, f));
        // The first row is the first content's "no source": source and cue parts... the cue is
        // there, the source is zeros, the features end the row.
        let row = &rows[..input_size(HIDDEN, f)];
        assert!(row[2 * HIDDEN..4 * HIDDEN].iter().all(|&x| x == 0.0));
        assert_eq!(row[5 * HIDDEN..], problem.candidates[0].features[..f]);
        // Only the needed words: still enough. One fewer: no rows.
        let needed = needed_words(&problem, &roles);
        let mut some = all.clone();
        some.retain(|w| needed.contains(&w));
        assert_eq!(
            link_inputs(&problem, &roles, &some, HIDDEN, f).unwrap(),
            rows
        );
        some.retain(|w| w != needed[0]);
        assert_eq!(link_inputs(&problem, &roles, &some, HIDDEN, f), None);
        // Rows of consecutive ranges of candidates put together are the rows of all of them.
        let n = problem.candidates.len();
        let mut pieces = link_rows(&problem, &roles, &all, HIDDEN, f, 0..n / 2).unwrap();
        pieces.extend(link_rows(&problem, &roles, &all, HIDDEN, f, n / 2..n).unwrap());
        assert_eq!(pieces, rows);
        assert_eq!(link_rows(&problem, &roles, &all, HIDDEN, f, n..n + 1), None);
        // Vectors of another width are not read.
        assert_eq!(link_inputs(&problem, &roles, &all, HIDDEN + 1, f), None);
    }

    /// The factored forward pass equals the first layer on whole rows, with and without
    /// proposed spans, and a batch of two joined problems scores as the two apart.
    #[test]
    fn the_factored_forward_equals_the_forward_on_rows() {
        let (doc, roles, _) = problem();
        let all = vectors(&doc);
        for proposals in [0, 3] {
            // With proposals the sources are untagged, so they can only be proposed.
            let mut roles = roles.clone();
            if proposals > 0 {
                roles.sources.clear();
            }
            let available = |_: usize| true;
            let spec = byline_core::assemble::Proposals {
                max_words: proposals,
                available: &available,
            };
            let problem = byline_core::assemble::link_problem_proposing(&doc, &roles, &spec);
            assert_eq!(problem.proposed.is_empty(), proposals == 0);
            let config = LinkerConfig {
                head: "attributions".into(),
                width: 16,
                proposals,
            };
            let f = config.features();
            let linker = Linker::new(config, HIDDEN, &Device::Cpu).unwrap();
            let n = problem.candidates.len();
            let rows = link_inputs(&problem, &roles, &all, HIDDEN, f).unwrap();
            let rows = Tensor::from_vec(rows, (n, input_size(HIDDEN, f)), &Device::Cpu).unwrap();
            let expect: Vec<f32> = linker.forward(&rows, None).unwrap().to_vec1().unwrap();
            let got = linker.score(&problem, &roles, &all).unwrap();
            assert_eq!(got.len(), n);
            for (a, b) in got.iter().zip(&expect) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
            let mut joined = link_batch(&problem, &roles, &all, HIDDEN, f, 0..n / 2).unwrap();
            joined.append(&link_batch(&problem, &roles, &all, HIDDEN, f, n / 2..n).unwrap());
            let two: Vec<f32> = linker
                .forward_batch(&joined, None)
                .unwrap()
                .to_vec1()
                .unwrap();
            for (a, b) in two.iter().zip(&expect) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
            // A batch of another shape is refused.
            let other = LinkBatch::new(HIDDEN + 1, f);
            assert!(linker.forward_batch(&other, None).is_err());
        }
    }

    #[test]
    fn a_saved_linker_loads_and_scores_the_same() {
        let (doc, roles, problem) = problem();
        let config = LinkerConfig {
            head: "attributions".into(),
            width: 16,
            proposals: 0,
        };
        let linker = Linker::new(config.clone(), HIDDEN, &Device::Cpu).unwrap();
        let scores = linker.score(&problem, &roles, &vectors(&doc)).unwrap();
        assert_eq!(scores.len(), problem.candidates.len());
        let dir = tempfile::tempdir().unwrap();
        linker.save(dir.path(), DType::F32).unwrap();
        let loaded = Linker::load(dir.path(), config.clone(), HIDDEN, &Device::Cpu).unwrap();
        assert_eq!(
            loaded.score(&problem, &roles, &vectors(&doc)).unwrap(),
            scores
        );
        // Another width: an error naming the file.
        let wider = LinkerConfig {
            width: 32,
            ..config
        };
        let err = Linker::load(dir.path(), wider, HIDDEN, &Device::Cpu).unwrap_err();
        assert!(err.to_string().contains(LINKER_FILE), "{err}");
        // A missing vector: no scores (the caller uses the rules).
        assert_eq!(
            linker.score(&problem, &roles, &WordVectors::default()),
            None
        );
    }
}
