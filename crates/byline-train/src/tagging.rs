//! Training byline's [`Tagger`]: its [`Trainable`] implementation (task `i` is head `i`), the
//! corpora and heads of a [`TrainConfig`], and the evaluation that scores dev predictions with
//! byline-core's metrics.
//!
//! Evaluation figures, per task named `<t>`:
//! * entity tasks: `<t>.f1` (micro), `<t>.precision`, `<t>.recall`;
//! * attribution tasks: `<t>.f1` (whole attributions), `<t>.content_overlap_f1`,
//!   `<t>.content_exact_f1`, `<t>.source_exact_f1`, `<t>.cue_exact_f1`,
//!   `<t>.direct_speaker_correct` (share of gold direct quotes with a source whose predicted
//!   source is exactly right); with `cofenet_rows`, `<t>.cofenet_source_f1`,
//!   `<t>.cofenet_cue_f1`, `<t>.cofenet_content_f1` (exact span F1 per role over CofeNet's
//!   rows, [`byline_core::metrics::cofenet`]);
//! * `f1`: the mean of the tasks' `<t>.f1` (the default best-model figure).

use std::path::{Path, PathBuf};

use byline_core::align::AlignStats;
use byline_core::metrics::attribution::evaluate_attributions;
use byline_core::metrics::cofenet::{self, evaluate_cofenet};
use byline_core::metrics::entity::evaluate_entities;
use byline_core::tokenize::tokenize_document;
use byline_core::{corpus, Document};
use byline_model::{
    HeadKind, HeadSpec, LoadOptions, TagExample, TagTrainBatch, Tagger, TaggerConfig, WindowConfig,
};
use candle_core::Tensor;
use rand::RngCore;

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::state::Metrics;
use crate::trainable::{Param, ParamGroup, Trainable};

impl Trainable for Tagger {
    type Example = TagExample;
    type Batch = TagTrainBatch;

    fn params(&self) -> Vec<Param> {
        self.trainable()
            .into_iter()
            .map(|(name, var, is_head)| {
                let group = if is_head {
                    ParamGroup::Head
                } else {
                    ParamGroup::Encoder
                };
                Param::new(name, var, group)
            })
            .collect()
    }

    fn example_len(&self, example: &TagExample) -> usize {
        example.len()
    }

    fn collate(&self, task: usize, examples: &[&TagExample]) -> Result<TagTrainBatch> {
        Tagger::collate(self, task, examples).map_err(Error::model)
    }

    /// The encoder's dropout masks follow a seed drawn from `rng`
    /// ([`byline_model::kernels::dropout::reseed`]), so a resumed run draws the same masks.
    fn loss(&self, _task: usize, batch: &TagTrainBatch, rng: &mut dyn RngCore) -> Result<Tensor> {
        byline_model::kernels::dropout::reseed(rng.next_u64());
        Tagger::loss(self, batch, true).map_err(Error::model)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        Tagger::save(self, dir).map_err(Error::model)
    }
}

/// The corpora of one task, tokenised.
#[derive(Debug, Clone)]
pub struct TaskData {
    pub name: String,
    pub kind: HeadKind,
    pub train: Vec<Document>,
    pub dev: Vec<Document>,
    /// The dev documents as CofeNet's rows (`cofenet_rows`), for CofeNet-style figures.
    pub cofenet: Vec<cofenet::Row>,
}

/// Reads and tokenises every task's training and dev corpora (CoNLL file, PolNeAR split
/// directory or JSONL, detected from the path) and settles each task's kind.
pub fn load_tasks(cfg: &TrainConfig) -> Result<Vec<TaskData>> {
    cfg.tasks
        .iter()
        .map(|task| {
            let read = |path: &Path| -> Result<Vec<Document>> {
                let mut docs = corpus::load_documents(path).map_err(Error::model)?;
                docs.iter_mut().for_each(tokenize_document);
                Ok(docs)
            };
            let train = read(&task.train)?;
            let dev = task
                .dev
                .as_deref()
                .map(read)
                .transpose()?
                .unwrap_or_default();
            let kind = task.kind.unwrap_or_else(|| {
                if train.iter().any(|d| !d.attributions.is_empty()) {
                    HeadKind::Attributions
                } else {
                    HeadKind::Entities
                }
            });
            tracing::info!(
                task = task.name,
                ?kind,
                train = train.len(),
                dev = dev.len(),
                "read task corpora"
            );
            let cofenet = match &task.cofenet_rows {
                Some(path) => cofenet::read_rows(path).map_err(Error::model)?,
                None => Vec::new(),
            };
            Ok(TaskData {
                name: task.name.clone(),
                kind,
                train,
                dev,
                cofenet,
            })
        })
        .collect()
}

/// The heads of a config's tasks, in task order.
pub fn head_specs(cfg: &TrainConfig, tasks: &[TaskData]) -> Vec<HeadSpec> {
    cfg.tasks
        .iter()
        .zip(tasks)
        .map(|(task, data)| {
            let mut spec = match data.kind {
                HeadKind::Entities => {
                    let labels: Vec<String> = task.labels.clone().unwrap_or_else(|| {
                        let mut found: Vec<String> = data
                            .train
                            .iter()
                            .flat_map(|d| d.entities.iter().map(|e| e.label.clone()))
                            .collect();
                        found.sort();
                        found.dedup();
                        found
                    });
                    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
                    HeadSpec::entities(&task.name, task.scheme, &labels, task.decoder)
                }
                HeadKind::Attributions => {
                    HeadSpec::attributions(&task.name, task.scheme, task.decoder)
                }
            };
            spec.dropout = cfg.head_dropout as f32;
            spec
        })
        .collect()
}

/// The tagger a config trains: the encoder of `model_dir` (word embeddings frozen as
/// configured, dropout set) with a fresh head per task.
pub fn build_tagger(cfg: &TrainConfig, tasks: &[TaskData]) -> Result<Tagger> {
    let model_dir = resolve_model(&cfg.model_dir)?;
    let spec = TaggerConfig {
        heads: head_specs(cfg, tasks),
        window: WindowConfig {
            max_subwords: cfg.window_subwords,
            overlap: cfg.window_overlap,
        },
        casing: match cfg.casing {
            Some(c) => c,
            None => byline_model::Tokenizer::from_dir(&model_dir)
                .and_then(|t| t.is_uncased())
                .map_err(Error::model)?,
        },
        linker: None,
    };
    let opts = LoadOptions {
        freeze_word_embeddings: cfg.freeze_word_embeddings,
        device: cfg.device.device()?,
        ..LoadOptions::default()
    };
    let mut tagger = Tagger::from_pretrained(&model_dir, &opts, spec).map_err(Error::model)?;
    tagger
        .set_dropout(cfg.dropout as f32)
        .map_err(Error::model)?;
    tagger.set_compute_dtype(cfg.precision.compute_dtype());
    if let Some(dir) = &cfg.init_from {
        init_from(&tagger, &resolve_model(dir)?)?;
    }
    Ok(tagger)
}

/// The folder of a model reference: a local folder, or a hub id `ORG/NAME[@REVISION]` fetched
/// into (or found in) the Hugging Face cache ([`byline_hub`]).
pub fn resolve_model(reference: &Path) -> Result<PathBuf> {
    Ok(byline_hub::resolve_from_env(&reference.to_string_lossy())?)
}

/// Sets every trainable weight of `tagger` (encoder and heads) from `dir/model.safetensors`, a
/// byline model directory or a checkpoint of a tagger with the same heads. Weights are looked up
/// by name and converted to the tagger's dtype (an f16 export continues as f32); a missing weight
/// or a different shape is an error naming the file and the weight.
pub fn init_from(tagger: &Tagger, dir: &Path) -> Result<()> {
    let path = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, tagger.device())
        .map_err(|e| Error::checkpoint(&path, e.to_string()))?;
    for (name, var, _) in tagger.trainable() {
        let t = tensors.remove(&name).ok_or_else(|| {
            Error::checkpoint(
                &path,
                format!("no tensor `{name}`: not a model with this config's tasks"),
            )
        })?;
        if t.dims() != var.dims() {
            return Err(Error::checkpoint(
                &path,
                format!(
                    "`{name}` is {:?}, this config's tagger has {:?} (different labels or model?)",
                    t.dims(),
                    var.dims()
                ),
            ));
        }
        t.to_dtype(var.dtype())
            .and_then(|t| var.set(&t))
            .map_err(|e| Error::checkpoint(&path, e.to_string()))?;
    }
    tracing::info!(path = %path.display(), "initialised from a trained model");
    Ok(())
}

/// The training examples of every task (task `i` for head `i`), one per window.
pub fn training_examples(tagger: &Tagger, tasks: &[TaskData]) -> Result<Vec<Vec<TagExample>>> {
    tasks
        .iter()
        .enumerate()
        .map(|(head, task)| {
            let (examples, stats): (_, AlignStats) =
                tagger.examples(head, &task.train).map_err(Error::model)?;
            tracing::info!(
                task = task.name,
                windows = examples.len(),
                spans = stats.spans,
                approximated = stats.approximated,
                clipped = stats.clipped,
                dropped = stats.dropped,
                unknown_label = stats.unknown_label,
                "built training windows"
            );
            Ok(examples)
        })
        .collect()
}

/// Everything a training run needs besides the config: tasks, tagger and examples.
#[derive(Debug)]
pub struct Prepared {
    pub tasks: Vec<TaskData>,
    pub tagger: Tagger,
    pub examples: Vec<Vec<TagExample>>,
}

/// Reads the corpora, builds the tagger and its training examples.
pub fn prepare(cfg: &TrainConfig) -> Result<Prepared> {
    cfg.validate()?;
    let tasks = load_tasks(cfg)?;
    let tagger = build_tagger(cfg, &tasks)?;
    let examples = training_examples(&tagger, &tasks)?;
    Ok(Prepared {
        tasks,
        tagger,
        examples,
    })
}

/// Predicts every task's dev documents with its head and scores them (see the
/// [module docs](self) for the figures). Tasks without dev documents are left out.
pub fn evaluate(tagger: &Tagger, tasks: &[TaskData]) -> Result<Metrics> {
    // Plain tensors, not variables: a forward pass then frees its activations as it goes.
    let tagger = &tagger
        .detached()
        .map_err(|e| Error::Eval(format!("cannot prepare the model: {e}")))?;
    let mut metrics = Metrics::new();
    let mut mains = Vec::new();
    for task in tasks.iter().filter(|t| !t.dev.is_empty()) {
        let eval = |e: byline_core::Error| Error::Eval(format!("task `{}`: {e}", task.name));
        // Exactly what `byline tag` would output for these documents (the same path).
        let pred: Vec<Document> = tagger
            .heads_for(&task.name)
            .and_then(|heads| tagger.annotate(&task.dev, heads))
            .map_err(|e| Error::Eval(format!("task `{}`: {e}", task.name)))?
            .into_iter()
            .map(|a| a.document)
            .collect();
        let mut put = |figure: &str, value: f64| {
            metrics.insert(format!("{}.{figure}", task.name), value);
        };
        let main = match task.kind {
            HeadKind::Entities => {
                let micro = evaluate_entities(&task.dev, &pred).map_err(eval)?.micro();
                put("precision", micro.precision());
                put("recall", micro.recall());
                micro.f1()
            }
            HeadKind::Attributions => {
                let scores = evaluate_attributions(&task.dev, &pred).map_err(eval)?;
                let all = scores.all;
                put("direct_speaker_correct", scores.direct_speaker.accuracy());
                put("content_overlap_f1", all.content.overlap.f1());
                put("content_exact_f1", all.content.exact.f1());
                put("source_exact_f1", all.source.exact.f1());
                put("cue_exact_f1", all.cue.exact.f1());
                if !task.cofenet.is_empty() {
                    let c = evaluate_cofenet(&task.cofenet, &pred).map_err(eval)?;
                    put("cofenet_source_f1", c.source.f1());
                    put("cofenet_cue_f1", c.cue.f1());
                    put("cofenet_content_f1", c.content.f1());
                }
                all.attribution.f1()
            }
        };
        put("f1", main);
        mains.push(main);
    }
    if !mains.is_empty() {
        metrics.insert("f1".into(), mains.iter().sum::<f64>() / mains.len() as f64);
    }
    Ok(metrics)
}
