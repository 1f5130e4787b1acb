//! What the trainer asks of a model: named parameters, batching of its own examples, and a
//! training loss per task. byline's encoder-plus-heads model implements it; tests implement it
//! with toy models.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Tensor, Var};
use rand::RngCore;

use crate::error::{Error, Result};

/// Which learning rate a parameter trains with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamGroup {
    /// The shared encoder (`learning_rate`).
    Encoder,
    /// A task head (`head_learning_rate`).
    Head,
}

/// A trainable parameter: its stable name (the checkpoint key, Hugging Face style such as
/// `encoder.layer.0.attention.self.query.weight`), the variable, and its group. Whether weight
/// decay applies is decided from the name ([`crate::optim::decays`]).
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub var: Var,
    pub group: ParamGroup,
}

impl Param {
    pub fn new(name: impl Into<String>, var: Var, group: ParamGroup) -> Self {
        Param {
            name: name.into(),
            var,
            group,
        }
    }
}

/// A multi-task model the [`crate::Trainer`] can train.
///
/// Tasks are numbered by their position in the trainer's task list. Each batch belongs to one
/// task; its loss reaches the shared encoder and that task's head only, so only those
/// parameters get gradients and the optimiser leaves the others (and their moments) untouched.
pub trait Trainable {
    /// One training example, already tokenised (a sentence with its word pieces and gold tags).
    type Example;
    /// Examples of one task padded and stacked for the forward pass.
    type Batch;

    /// The parameters to train and checkpoint, with unique names. Frozen parameters (such as
    /// word embeddings under `freeze_word_embeddings`) are left out, and should be held as plain
    /// tensors rather than `Var`s so that backward does not compute their gradients.
    fn params(&self) -> Vec<Param>;

    /// Tokens in an example: what length bucketing sorts by and tokens/s counts.
    fn example_len(&self, example: &Self::Example) -> usize;

    /// Pads and stacks examples of task `task` into a batch.
    fn collate(&self, task: usize, examples: &[&Self::Example]) -> Result<Self::Batch>;

    /// The scalar training loss of a batch of task `task`, in training mode: dropout masks are
    /// drawn from `rng`, which the trainer owns and checkpoints so that a resumed run draws
    /// the same masks as an uninterrupted one. (candle's CPU `Tensor::rand` cannot be seeded.)
    fn loss(&self, task: usize, batch: &Self::Batch, rng: &mut dyn RngCore) -> Result<Tensor>;

    /// Writes the model for use into `dir` (an existing, empty directory); the trainer calls it
    /// for the best model. The default writes `model.safetensors` with the [`Trainable::params`];
    /// a real model writes its whole Hugging Face-style directory instead.
    fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join("model.safetensors");
        save_params(&self.params(), &path)
    }
}

/// Writes parameters as safetensors keyed by name.
pub fn save_params(params: &[Param], path: &Path) -> Result<()> {
    let tensors: HashMap<&str, Tensor> = params
        .iter()
        .map(|p| (p.name.as_str(), p.var.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&tensors, path)
        .map_err(|e| Error::checkpoint(path, e.to_string()))
}

/// Loads parameters saved by [`save_params`] into `params`, by name. Every parameter must be
/// present with its shape and dtype; extra tensors in the file are an error too (a different
/// model).
pub fn load_params(params: &[Param], path: &Path) -> Result<()> {
    let device = params
        .first()
        .map(|p| p.var.device().clone())
        .unwrap_or(candle_core::Device::Cpu);
    let mut tensors = candle_core::safetensors::load(path, &device)
        .map_err(|e| Error::checkpoint(path, e.to_string()))?;
    for p in params {
        let t = tensors
            .remove(&p.name)
            .ok_or_else(|| Error::checkpoint(path, format!("no tensor `{}`", p.name)))?;
        if t.shape() != p.var.shape() || t.dtype() != p.var.dtype() {
            return Err(Error::checkpoint(
                path,
                format!(
                    "`{}` is {:?} {:?}, the model has {:?} {:?}",
                    p.name,
                    t.dtype(),
                    t.dims(),
                    p.var.dtype(),
                    p.var.dims()
                ),
            ));
        }
        p.var.set(&t)?;
    }
    if let Some(extra) = tensors.keys().min() {
        return Err(Error::checkpoint(
            path,
            format!("tensor `{extra}` is not a parameter of this model"),
        ));
    }
    Ok(())
}
