//! The training configuration: a TOML file with defaults for every field, `key=value` overrides
//! (what the command line applies on top), and the resolved copy saved into the run directory.
//!
//! ```toml
//! model_dir = "models/bert-base-cased"
//! output_dir = "runs/ner"
//! epochs = 3
//! learning_rate = 5e-5
//! head_learning_rate = 1e-3
//!
//! [[tasks]]
//! name = "entities"
//! train = "data/conll2003/train.txt"
//! dev = "data/conll2003/valid.txt"
//! ```

use std::path::{Path, PathBuf};

use byline_core::Scheme;
use byline_model::{DecoderKind, HeadKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Everything a training run is told. Every field has a default, so a file only names what it
/// changes; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The pretrained encoder to start from (a Hugging Face model directory).
    pub model_dir: PathBuf,
    /// Continue from a trained byline model instead of fresh heads: a model directory (such as
    /// `models/byline-news-small` or a run's `best/`) or a checkpoint directory whose
    /// `model.safetensors` holds every trainable weight of this config's tagger (same tasks,
    /// labels, schemes and decoders). Frozen word embeddings still come from `model_dir`.
    pub init_from: Option<PathBuf>,
    /// The run directory: resolved config, `metrics.jsonl`, `checkpoints/`, `best/`.
    pub output_dir: PathBuf,
    /// Seeds data order, task sampling and dropout. Same seed, same run.
    pub seed: u64,
    /// Passes over the training data; ignored when `max_steps` is set.
    pub epochs: usize,
    /// Total optimiser steps; overrides `epochs`.
    pub max_steps: Option<usize>,
    /// Sentences (examples) per batch at most.
    pub batch_size: usize,
    /// Padded tokens per batch at most (`examples × longest example`); an example longer than
    /// this travels alone.
    pub max_batch_tokens: Option<usize>,
    /// Length bucketing: examples are shuffled, cut into chunks of `bucket_batches × batch_size`,
    /// sorted by length within each chunk and then batched, so batches carry little padding.
    pub bucket_batches: usize,
    /// Peak learning rate of the shared encoder.
    pub learning_rate: f64,
    /// Peak learning rate of the task heads; `learning_rate` when absent.
    pub head_learning_rate: Option<f64>,
    /// Decoupled (AdamW) weight decay; never applied to biases and LayerNorm weights.
    pub weight_decay: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_epsilon: f64,
    /// Linear warm-up over this fraction of all steps (when `warmup_steps` is absent).
    pub warmup_ratio: f64,
    /// Linear warm-up over this many steps; overrides `warmup_ratio`.
    pub warmup_steps: Option<usize>,
    /// Clip gradients to this global L2 norm; `0` turns clipping off.
    pub max_grad_norm: f64,
    /// Dropout probability inside the encoder during training.
    pub dropout: f64,
    /// Evaluate on the dev sets every this many steps (and always after the last); `0`: only at
    /// the end.
    pub eval_every: usize,
    /// Write a checkpoint every this many steps (and always after the last); `0`: only at the end.
    pub checkpoint_every: usize,
    /// How many step checkpoints to keep (the best model is kept apart, always).
    pub keep_checkpoints: usize,
    /// The evaluation figure that decides the best model, e.g. `"entities/f1"`.
    pub best_metric: String,
    /// Whether a larger or a smaller `best_metric` is better.
    pub best_mode: BestMode,
    /// Worker threads for tensor code; `0`: all cores. Applied by the program before any tensor
    /// work starts (the thread pool cannot change afterwards).
    pub threads: usize,
    /// Keep the encoder's word embeddings fixed (most of the parameters of a small encoder, and
    /// most of AdamW's cost).
    pub freeze_word_embeddings: bool,
    /// Train byline's casing embedding (case shape of each subword, which an uncased encoder
    /// cannot see). `false` keeps it at zero: the ablation baseline. When absent: on for an
    /// uncased tokenizer (one that gives `Paris` and `paris` the same subwords), off for a cased
    /// one, which sees case already.
    pub casing: Option<bool>,
    /// How each step picks the task whose batch it trains on.
    pub task_sampling: TaskSampling,
    /// Subwords per model window, not counting `[CLS]`/`[SEP]`. A document's sentences are
    /// packed into windows of this size.
    pub window_subwords: usize,
    /// Subwords shared by consecutive windows of a document.
    pub window_overlap: usize,
    /// Dropout on the word vectors before each head's linear layer.
    pub head_dropout: f64,
    /// After training, train the learned source scorer of the first attribution task for this
    /// many epochs on its gold attributions (`byline_train::linker`) and store it with the best
    /// model; `0`: assemble attributions by the rules only.
    pub linker_epochs: usize,
    /// The linker may also choose untagged spans of up to this many words near a content as
    /// its source (`byline train-linker --proposals`); `0`: tagged sources only. The defaults
    /// (8 epochs, proposals of 6 words, the model's own spans) are the default model's recipe.
    pub linker_proposals: usize,
    /// With proposals: the share of gold sources hidden from the linker's gold-span examples
    /// (`byline train-linker --drop-sources`), 0 to 1.
    pub linker_drop_sources: f64,
    /// The role spans the linker learns from: `"gold"`, `"predicted"` (the model's own on the
    /// training documents) or `"both"` (`byline train-linker --spans`).
    pub linker_spans: LinkerSpans,
    /// Where the encoder and heads train: `"cpu"` (default) or `"cuda"` (the first GPU; a
    /// binary built with `--features cuda`). Off the CPU every op runs as candle's composed ops
    /// and AdamW as tensor ops on the device; checkpoints are written as CPU tensors, so a run
    /// resumes on either.
    pub device: TrainDevice,
    /// What the encoder computes in: `"f32"` (default) or `"bf16"` (mixed precision: bf16
    /// matrix products over f32 master weights, with f32 LayerNorm, softmax, heads, loss and
    /// AdamW state; meant for GPUs with bf16 units, it runs on the CPU too, slowly).
    pub precision: Precision,
    pub tasks: Vec<TaskConfig>,
}

/// The compute precision of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

impl Precision {
    /// The encoder's compute dtype (`None`: the weights' own, f32).
    pub fn compute_dtype(self) -> Option<candle_core::DType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(candle_core::DType::BF16),
        }
    }
}

/// Where a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainDevice {
    #[default]
    Cpu,
    Cuda,
}

impl std::fmt::Display for TrainDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrainDevice::Cpu => "cpu",
            TrainDevice::Cuda => "cuda",
        })
    }
}

impl TrainDevice {
    /// The candle device; `cuda` fails with what to do when this binary has no CUDA or the
    /// machine no GPU.
    pub fn device(self) -> Result<candle_core::Device> {
        match self {
            TrainDevice::Cpu => Ok(candle_core::Device::Cpu),
            TrainDevice::Cuda => candle_core::Device::new_cuda(0).map_err(|e| {
                Error::Invalid(format!(
                    "device = \"cuda\": no CUDA device ({e}); train on the CPU with device = \"cpu\""
                ))
            }),
        }
    }
}

/// One training task: a corpus and its share of the steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    /// The task's name: `"entities"` or `"attribution"`; prefixes its evaluation figures.
    pub name: String,
    /// Training corpus.
    pub train: PathBuf,
    /// Development corpus for evaluation.
    #[serde(default)]
    pub dev: Option<PathBuf>,
    /// Relative share of steps under `task_sampling = "proportional"`; ignored by round-robin.
    #[serde(default = "one")]
    pub weight: f64,
    /// What the task tags: `"entities"` or `"attributions"`. When absent: attributions if the
    /// training documents have any, else entities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<HeadKind>,
    /// Tagging scheme of the task's head: `"iob2"` (default) or `"bioes"` (also `io`, `iob1`).
    #[serde(default)]
    pub scheme: Scheme,
    /// `"crf"` (default) or `"softmax"`.
    #[serde(default)]
    pub decoder: DecoderKind,
    /// Entity types of an entity task; when absent, those of the training data (sorted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// An attribution task's dev documents as CofeNet's rows (such as
    /// `../shared/eval/polnear-cofenet-dev.jsonl`): evaluation adds CofeNet-style exact span
    /// F1 per role over them (`<t>.cofenet_source_f1`, `_cue_f1`, `_content_f1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cofenet_rows: Option<PathBuf>,
}

impl TaskConfig {
    /// A task with default weight, scheme and decoder, and no dev set.
    pub fn new(name: impl Into<String>, train: impl Into<PathBuf>) -> Self {
        TaskConfig {
            name: name.into(),
            train: train.into(),
            dev: None,
            weight: 1.0,
            kind: None,
            scheme: Scheme::default(),
            decoder: DecoderKind::default(),
            labels: None,
            cofenet_rows: None,
        }
    }
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BestMode {
    Max,
    Min,
}

impl BestMode {
    /// Whether `candidate` beats `incumbent` (anything beats nothing; NaN never wins).
    pub fn better(self, candidate: f64, incumbent: Option<f64>) -> bool {
        if candidate.is_nan() {
            return false;
        }
        match (self, incumbent) {
            (_, None) => true,
            (BestMode::Max, Some(best)) => candidate > best,
            (BestMode::Min, Some(best)) => candidate < best,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskSampling {
    /// Each step draws a task with probability proportional to its `weight`.
    Proportional,
    /// Tasks take turns, one batch each.
    RoundRobin,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model_dir: PathBuf::from("models/bert-base-cased"),
            init_from: None,
            output_dir: PathBuf::from("runs/byline"),
            seed: 42,
            epochs: 3,
            max_steps: None,
            batch_size: 16,
            max_batch_tokens: None,
            bucket_batches: 50,
            learning_rate: 5e-5,
            head_learning_rate: None,
            weight_decay: 0.01,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            warmup_ratio: 0.1,
            warmup_steps: None,
            max_grad_norm: 1.0,
            dropout: 0.1,
            eval_every: 500,
            checkpoint_every: 500,
            keep_checkpoints: 2,
            best_metric: "f1".to_string(),
            best_mode: BestMode::Max,
            threads: 0,
            freeze_word_embeddings: true,
            casing: None,
            task_sampling: TaskSampling::Proportional,
            window_subwords: 254,
            window_overlap: 64,
            head_dropout: 0.1,
            linker_epochs: 8,
            linker_proposals: 6,
            linker_drop_sources: 0.0,
            linker_spans: LinkerSpans::Predicted,
            device: TrainDevice::Cpu,
            precision: Precision::F32,
            tasks: Vec::new(),
        }
    }
}

/// Which role spans the linker learns from (see [`crate::linker::LinkSpans`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkerSpans {
    #[default]
    Gold,
    Predicted,
    Both,
}

impl From<LinkerSpans> for crate::linker::LinkSpans {
    fn from(s: LinkerSpans) -> Self {
        match s {
            LinkerSpans::Gold => crate::linker::LinkSpans::Gold,
            LinkerSpans::Predicted => crate::linker::LinkSpans::Predicted,
            LinkerSpans::Both => crate::linker::LinkSpans::Both,
        }
    }
}

impl TrainConfig {
    /// Reads a config file. Errors name the file, the line and the key.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml_str(&text, path)
    }

    /// Parses config text; `path` is only used to name the source in errors.
    pub fn from_toml_str(text: &str, path: impl AsRef<Path>) -> Result<Self> {
        toml::from_str(text).map_err(|e| config_error(text, path.as_ref(), &e))
    }

    /// The config as TOML text (what [`TrainConfig::save`] writes).
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Invalid(format!("cannot serialise: {e}")))
    }

    /// Writes the (resolved) config atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let text = self.to_toml_string()?;
        crate::atomic::write_atomic(path.as_ref(), |f| {
            std::io::Write::write_all(f, text.as_bytes())
        })
    }

    /// Applies one `key=value` override, e.g. `learning_rate=3e-5`, `tasks.0.weight=2`,
    /// `output_dir=runs/x`. The value is read as a TOML value, and as a bare string when it is
    /// not one. Dotted keys reach into tables; numbers index arrays.
    pub fn apply_override(&mut self, assignment: &str) -> Result<()> {
        let Some((key, raw)) = assignment.split_once('=') else {
            return Err(Error::Override {
                key: assignment.to_string(),
                message: "expected key=value".to_string(),
            });
        };
        let key = key.trim();
        let fail = |message: String| Error::Override {
            key: key.to_string(),
            message,
        };
        let value = parse_value(raw.trim());
        let mut root = toml::Value::try_from(&*self).map_err(|e| fail(e.to_string()))?;
        let segments: Vec<&str> = key.split('.').collect();
        let (last, parents) = segments
            .split_last()
            .expect("split yields at least one piece");
        let mut node = &mut root;
        for segment in parents {
            node = match node {
                toml::Value::Table(table) => table.get_mut(*segment),
                toml::Value::Array(items) => {
                    segment.parse::<usize>().ok().and_then(|i| items.get_mut(i))
                }
                _ => None,
            }
            .ok_or_else(|| fail(format!("no field `{segment}`")))?;
        }
        match node {
            toml::Value::Table(table) => {
                table.insert(last.to_string(), value);
            }
            toml::Value::Array(items) => {
                let slot = last
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get_mut(i))
                    .ok_or_else(|| fail(format!("no element `{last}`")))?;
                *slot = value;
            }
            _ => return Err(fail(format!("`{last}` is inside a plain value"))),
        }
        *self = root
            .try_into()
            .map_err(|e: toml::de::Error| fail(e.message().to_string()))?;
        Ok(())
    }

    /// Applies `key=value` overrides in order.
    pub fn apply_overrides<S: AsRef<str>>(&mut self, assignments: &[S]) -> Result<()> {
        assignments
            .iter()
            .try_for_each(|a| self.apply_override(a.as_ref()))
    }

    /// Checks what serde cannot: positive sizes, rates in range, at least one task, unique task
    /// names.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Invalid(m.to_string()));
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1");
        }
        if self.bucket_batches == 0 {
            return bad("bucket_batches must be at least 1");
        }
        if self.max_batch_tokens == Some(0) {
            return bad("max_batch_tokens must be at least 1");
        }
        if self.max_steps.is_none() && self.epochs == 0 {
            return bad("epochs must be at least 1 (or set max_steps)");
        }
        if self.max_steps == Some(0) {
            return bad("max_steps must be at least 1");
        }
        let rates = [Some(self.learning_rate), self.head_learning_rate];
        if rates
            .into_iter()
            .flatten()
            .any(|lr| !(lr.is_finite() && lr >= 0.0))
        {
            return bad("learning rates must be finite and non-negative");
        }
        if !(0.0..1.0).contains(&self.adam_beta1) || !(0.0..1.0).contains(&self.adam_beta2) {
            return bad("adam_beta1 and adam_beta2 must lie in [0, 1)");
        }
        let positive = |x: f64| x > 0.0;
        let non_negative = |x: f64| x >= 0.0;
        if !positive(self.adam_epsilon)
            || !non_negative(self.weight_decay)
            || !non_negative(self.max_grad_norm)
        {
            return bad(
                "adam_epsilon must be positive; weight_decay and max_grad_norm non-negative",
            );
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio)
            || !(0.0..1.0).contains(&self.dropout)
            || !(0.0..1.0).contains(&self.head_dropout)
        {
            return bad("warmup_ratio must lie in [0, 1], dropout and head_dropout in [0, 1)");
        }
        if self.window_subwords == 0 {
            return bad("window_subwords must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.linker_drop_sources) {
            return bad("linker_drop_sources must lie in [0, 1]");
        }
        if self.tasks.is_empty() {
            return bad("no tasks: add at least one [[tasks]] table");
        }
        if self.device == TrainDevice::Cuda && !cfg!(feature = "cuda") {
            return bad(
                "device = \"cuda\": this byline was built without CUDA; build it with \
                 `cargo build --release --features cuda` (scripts/cuda/README.md), or train with \
                 device = \"cpu\"",
            );
        }
        for (i, task) in self.tasks.iter().enumerate() {
            if !(task.weight.is_finite() && task.weight > 0.0) {
                return bad(&format!("task `{}`: weight must be positive", task.name));
            }
            if self.tasks[..i].iter().any(|t| t.name == task.name) {
                return bad(&format!("task `{}` is named twice", task.name));
            }
        }
        Ok(())
    }

    /// The encoder's and the heads' peak learning rates.
    pub fn learning_rates(&self) -> (f64, f64) {
        (
            self.learning_rate,
            self.head_learning_rate.unwrap_or(self.learning_rate),
        )
    }

    /// Warm-up steps for a run of `total_steps`.
    pub fn warmup_for(&self, total_steps: usize) -> usize {
        self.warmup_steps
            .unwrap_or_else(|| (self.warmup_ratio * total_steps as f64).round() as usize)
    }
}

fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Turns a TOML error into one that names the file, the 1-based line and the key on that line.
fn config_error(text: &str, path: &Path, err: &toml::de::Error) -> Error {
    let (line, key) = match err.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let line_no = text[..start].matches('\n').count() + 1;
            let line_text = text.lines().nth(line_no - 1).unwrap_or("");
            let key = line_text
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
                .filter(|k| !k.is_empty());
            (Some(line_no), key)
        }
        None => (None, None),
    };
    Error::Config {
        path: path.to_path_buf(),
        line,
        key,
        message: err.message().trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
seed = 7
learning_rate = 3e-5
head_learning_rate = 1e-3

[[tasks]]
name = "entities"
train = "train.txt"
dev = "dev.txt"

[[tasks]]
name = "attribution"
train = "polnear.jsonl"
weight = 0.5
"#;

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        let cfg = TrainConfig::from_toml_str(GOOD, "good.toml").unwrap();
        assert_eq!(cfg.seed, 7);
        assert_eq!(cfg.learning_rates(), (3e-5, 1e-3));
        assert_eq!(cfg.batch_size, 16);
        assert!(cfg.freeze_word_embeddings);
        assert_eq!(cfg.tasks[0].weight, 1.0);
        assert_eq!(cfg.tasks[1].weight, 0.5);
        assert_eq!(cfg.tasks[1].dev, None);
        cfg.validate().unwrap();
    }

    #[test]
    fn saved_config_reads_back_equal() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = TrainConfig::from_toml_str(GOOD, "good.toml").unwrap();
        cfg.max_steps = Some(100);
        let path = dir.path().join("config.toml");
        cfg.save(&path).unwrap();
        assert_eq!(TrainConfig::load(&path).unwrap(), cfg);
    }

    #[test]
    fn bad_files_name_file_line_and_key() {
        // (text, line, key, words the message must contain)
        let cases: &[(&str, usize, &str, &str)] = &[
            (
                "seed = 1\nlerning_rate = 0.1\n",
                2,
                "lerning_rate",
                "unknown field",
            ),
            (
                "seed = 1\nbatch_size = \"big\"\n",
                2,
                "batch_size",
                "invalid type",
            ),
            ("epochs = -3\n", 1, "epochs", "invalid value"),
            (
                "best_mode = \"highest\"\n",
                1,
                "best_mode",
                "unknown variant",
            ),
            (
                "[[tasks]]\nname = \"x\"\ntrain = \"t\"\ncolour = 1\n",
                4,
                "colour",
                "unknown field",
            ),
        ];
        for &(text, line, key, words) in cases {
            let err = TrainConfig::from_toml_str(text, "dir/run.toml").unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(&err, Error::Config { line: Some(l), key: Some(k), .. } if *l == line && k == key),
                "{text:?}: {err:?}"
            );
            assert!(msg.starts_with(&format!("dir/run.toml:{line}: ")), "{msg}");
            assert!(msg.contains(key) && msg.contains(words), "{msg}");
        }
    }

    #[test]
    fn missing_file_names_the_file() {
        let err = TrainConfig::load("/nonexistent/byline.toml").unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent/byline.toml: "),
            "{err}"
        );
    }

    #[test]
    fn overrides_reach_fields_and_nested_tasks() {
        let mut cfg = TrainConfig::from_toml_str(GOOD, "good.toml").unwrap();
        cfg.apply_overrides(&[
            "learning_rate=1e-4",
            "max_steps = 250",
            "output_dir=runs/a b",
            "tasks.1.weight=2",
            "freeze_word_embeddings=false",
            "task_sampling=round-robin",
        ])
        .unwrap();
        assert_eq!(cfg.learning_rate, 1e-4);
        assert_eq!(cfg.max_steps, Some(250));
        assert_eq!(cfg.output_dir, PathBuf::from("runs/a b"));
        assert_eq!(cfg.tasks[1].weight, 2.0);
        assert!(!cfg.freeze_word_embeddings);
        assert_eq!(cfg.task_sampling, TaskSampling::RoundRobin);
    }

    #[test]
    fn bad_overrides_name_the_key_and_leave_config_unchanged() {
        let cases = [
            "lerning_rate=1",
            "batch_size=many",
            "tasks.5.weight=1",
            "seed",
            "seed.x=1",
        ];
        for case in cases {
            let mut cfg = TrainConfig::from_toml_str(GOOD, "good.toml").unwrap();
            let before = cfg.clone();
            let err = cfg.apply_override(case).unwrap_err();
            let key = case.split('=').next().unwrap();
            assert!(
                matches!(&err, Error::Override { key: k, .. } if k == key),
                "{case}: {err:?}"
            );
            assert_eq!(cfg, before, "{case}");
        }
    }

    #[test]
    fn validate_rejects_unusable_values() {
        let base = TrainConfig::from_toml_str(GOOD, "good.toml").unwrap();
        let cases = [
            "batch_size=0",
            "max_steps=0",
            "learning_rate=-1.0",
            "adam_beta2=1.0",
            "dropout=1.0",
            "linker_drop_sources=1.5",
            "tasks.0.weight=0",
            "tasks.1.name=\"entities\"",
        ];
        for case in cases {
            let mut cfg = base.clone();
            cfg.apply_override(case).unwrap();
            assert!(matches!(cfg.validate(), Err(Error::Invalid(_))), "{case}");
        }
        let mut empty = base.clone();
        empty.tasks.clear();
        assert!(empty.validate().is_err());
    }

    #[test]
    fn linker_settings_are_read_and_saved() {
        let base = TrainConfig::from_toml_str(GOOD, "good.toml").unwrap();
        assert_eq!(base.linker_proposals, 6);
        assert_eq!(base.linker_spans, LinkerSpans::Predicted);
        let text = format!(
            "linker_proposals = 4\nlinker_drop_sources = 0.2\nlinker_spans = \"both\"\n{GOOD}"
        );
        let cfg = TrainConfig::from_toml_str(&text, "l.toml").unwrap();
        assert_eq!(cfg.linker_proposals, 4);
        assert_eq!(cfg.linker_drop_sources, 0.2);
        assert_eq!(cfg.linker_spans, LinkerSpans::Both);
        cfg.validate().unwrap();
        let again = TrainConfig::from_toml_str(&cfg.to_toml_string().unwrap(), "again").unwrap();
        assert_eq!(again, cfg);
        let err = TrainConfig::from_toml_str(&format!("linker_spans = \"all\"\n{GOOD}"), "x.toml")
            .unwrap_err();
        assert!(err.to_string().contains("linker_spans"), "{err}");
    }

    #[test]
    fn the_device_is_read_checked_and_saved() {
        let base = TrainConfig::from_toml_str(GOOD, "good.toml").unwrap();
        assert_eq!(base.device, TrainDevice::Cpu);
        let mut cfg = base.clone();
        cfg.apply_override("device=\"cuda\"").unwrap();
        assert_eq!(cfg.device, TrainDevice::Cuda);
        if cfg!(feature = "cuda") {
            cfg.validate().unwrap();
        } else {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains("--features cuda") && e.contains("device"), "{e}");
        }
        let mut bad = base.clone();
        let e = bad
            .apply_override("device=\"tpu\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("device") && e.contains("tpu"), "{e}");
        let text = cfg.to_toml_string().unwrap();
        assert!(text.contains("device = \"cuda\""), "{text}");
    }

    #[test]
    fn the_precision_is_read_checked_and_saved() {
        let base = TrainConfig::from_toml_str(GOOD, "good.toml").unwrap();
        assert_eq!(base.precision, Precision::F32);
        assert_eq!(base.precision.compute_dtype(), None);
        let mut cfg = base.clone();
        cfg.apply_override("precision=\"bf16\"").unwrap();
        assert_eq!(cfg.precision, Precision::Bf16);
        assert_eq!(
            cfg.precision.compute_dtype(),
            Some(candle_core::DType::BF16)
        );
        cfg.validate().unwrap();
        let text = cfg.to_toml_string().unwrap();
        assert!(text.contains("precision = \"bf16\""), "{text}");
        for bad in ["fp16", "f16", "int8"] {
            let e = base
                .clone()
                .apply_override(&format!("precision=\"{bad}\""))
                .unwrap_err()
                .to_string();
            assert!(e.contains("precision") && e.contains(bad), "{e}");
        }
    }
}
