//! Encoder parameters: loading Hugging Face checkpoints, keeping trainable tensors in a
//! [`VarMap`], and saving back with Hugging Face names.
//!
//! A checkpoint may name its tensors with or without the base-model prefix (a `BertModel` versus
//! a `BertFor...` state dict), may use the old `gamma`/`beta` LayerNorm names, and may be of
//! another [`Family`](crate::family::Family) (DistilBERT); the pooler, `embeddings.position_ids` and task heads are
//! ignored. A checkpoint without byline's casing
//! table gets a zero one, so the encoder starts out exactly as pretrained.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::{bail, DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};

use crate::casing::Casing;
use crate::config::Config;
use crate::embeddings::{CASING_EMBEDDINGS, WORD_EMBEDDINGS};
use crate::encoder::Encoder;
use crate::error::{Error, Result};

/// File names inside a model directory.
pub const CONFIG_FILE: &str = "config.json";
pub const SAFETENSORS_FILE: &str = "model.safetensors";
pub const PYTORCH_FILE: &str = "pytorch_model.bin";

/// How to load (or create) encoder parameters.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Keep the word-embedding table out of the [`VarMap`]: no gradient, no optimiser state.
    pub freeze_word_embeddings: bool,
    /// Keep the casing table fixed (at zero when it is created, i.e. no casing feature).
    pub freeze_casing: bool,
    pub dtype: DType,
    pub device: Device,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            freeze_word_embeddings: false,
            freeze_casing: false,
            dtype: DType::F32,
            device: Device::Cpu,
        }
    }
}

/// What went wrong while the encoder asked the store for a tensor.
#[derive(Debug, Clone)]
enum Problem {
    Missing(String),
    Shape {
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
}

/// Encoder parameters: trainable ones in a [`VarMap`], frozen ones apart. It is the
/// [`VarBuilder`] backend the encoder is built from, so the encoder's tensors *are* these
/// variables and an optimiser over [`ParamStore::varmap`] trains it.
#[derive(Clone)]
pub struct ParamStore {
    varmap: VarMap,
    frozen: Arc<Mutex<HashMap<String, Tensor>>>,
    /// Names kept out of the varmap.
    freeze: Vec<String>,
    /// Create missing tensors from their init hints (random models) instead of failing.
    create_missing: bool,
    problem: Arc<Mutex<Option<Problem>>>,
}

impl std::fmt::Debug for ParamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamStore")
            .field("trainable", &self.varmap.all_vars().len())
            .field("frozen", &self.freeze)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ParamStore {
    fn empty(opts: &LoadOptions, create_missing: bool) -> Self {
        let mut freeze = Vec::new();
        if opts.freeze_word_embeddings {
            freeze.push(WORD_EMBEDDINGS.to_string());
        }
        if opts.freeze_casing {
            freeze.push(CASING_EMBEDDINGS.to_string());
        }
        Self {
            varmap: VarMap::new(),
            frozen: Arc::new(Mutex::new(HashMap::new())),
            freeze,
            create_missing,
            problem: Arc::new(Mutex::new(None)),
        }
    }

    /// The trainable variables (hand these to the optimiser).
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Number of trainable and frozen scalars.
    pub fn counts(&self) -> (usize, usize) {
        let trainable = self.varmap.all_vars().iter().map(|v| v.elem_count()).sum();
        let frozen = lock(&self.frozen).values().map(|t| t.elem_count()).sum();
        (trainable, frozen)
    }

    /// Every parameter under its Hugging Face name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let mut all: HashMap<String, Tensor> = lock(self.varmap.data())
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        all.extend(
            lock(&self.frozen)
                .iter()
                .map(|(k, t)| (k.clone(), t.clone())),
        );
        all
    }

    /// An encoder over these weights (no copy) as plain tensors instead of variables, for
    /// prediction only. candle records the inputs of every operation on a variable for a
    /// backward pass, so a forward pass over variables keeps every activation of every layer
    /// alive until its output is dropped (gigabytes for a batch of long windows); over plain
    /// tensors each intermediate is freed as soon as it is used.
    pub fn detached_encoder(
        &self,
        config: &Config,
        dtype: DType,
        device: &Device,
    ) -> Result<Encoder> {
        let tensors: HashMap<String, Tensor> = self
            .tensors()
            .into_iter()
            .map(|(name, t)| (name, t.detach()))
            .collect();
        Ok(Encoder::load(
            VarBuilder::from_tensors(tensors, dtype, device),
            config,
        )?)
    }

    /// A builder over this store, for [`Encoder::load`].
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    /// Writes every parameter (Hugging Face names, plus the casing table) to a safetensors file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        candle_core::safetensors::save(&self.tensors(), path).map_err(|e| match e {
            candle_core::Error::Io(source) => Error::io(path, source),
            e => Error::Candle(e),
        })
    }

    fn insert(&self, name: String, tensor: Tensor) -> candle_core::Result<()> {
        if self.freeze.contains(&name) {
            lock(&self.frozen).insert(name, tensor.detach());
        } else {
            lock(self.varmap.data()).insert(name, Var::from_tensor(&tensor)?);
        }
        Ok(())
    }

    fn fail(&self, problem: Problem) -> candle_core::Error {
        let message = match &problem {
            Problem::Missing(name) => format!("weight `{name}` is missing"),
            Problem::Shape {
                name,
                found,
                expected,
            } => format!("weight `{name}` has shape {found:?}, expected {expected:?}"),
        };
        *lock(&self.problem) = Some(problem);
        candle_core::Error::Msg(message)
    }

    fn lookup(&self, name: &str) -> Option<Tensor> {
        if let Some(t) = lock(&self.frozen).get(name) {
            return Some(t.clone());
        }
        lock(self.varmap.data())
            .get(name)
            .map(|v| v.as_tensor().clone())
    }
}

impl SimpleBackend for ParamStore {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        if let Some(t) = self.lookup(name) {
            if t.shape() != &s {
                return Err(self.fail(Problem::Shape {
                    name: name.to_string(),
                    found: t.dims().to_vec(),
                    expected: s.dims().to_vec(),
                }));
            }
            return Ok(t);
        }
        if !self.create_missing {
            return Err(self.fail(Problem::Missing(name.to_string())));
        }
        let created = h.var(s, dtype, dev)?.as_tensor().clone();
        self.insert(name.to_string(), created)?;
        self.lookup(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("weight `{name}` vanished")))
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        match self.lookup(name) {
            Some(t) => Ok(t),
            None => bail!("weight `{name}` is missing"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.lookup(name).is_some()
    }
}

/// What [`Pretrained::load_with`] read besides the encoder.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The file that names the checkpoint in errors (the index of a sharded one).
    pub path: PathBuf,
    /// The tensors the encoder does not read that the caller asked to keep.
    pub kept: HashMap<String, Tensor>,
}

/// An encoder together with its config and parameters.
#[derive(Debug, Clone)]
pub struct Pretrained {
    pub encoder: Encoder,
    pub config: Config,
    pub params: ParamStore,
}

impl Pretrained {
    /// A randomly initialised encoder (tests, experiments). The casing table starts at zero.
    pub fn random(config: &Config, opts: &LoadOptions) -> Result<Self> {
        let params = ParamStore::empty(opts, true);
        let encoder = Encoder::load(params.var_builder(opts.dtype, &opts.device), config)?;
        Ok(Self {
            encoder,
            config: config.clone(),
            params,
        })
    }

    /// Loads `dir/config.json` and the directory's checkpoint: `model.safetensors`, a sharded
    /// `model.safetensors.index.json`, or `pytorch_model.bin` (see [`read_checkpoint`]), in any
    /// [`Family`](crate::family::Family) byline knows.
    pub fn load(dir: impl AsRef<Path>, opts: &LoadOptions) -> Result<Self> {
        Ok(Self::load_with(dir, opts, |_| false)?.0)
    }

    /// Like [`Pretrained::load`], also returning the checkpoint's tensors that the encoder does
    /// not read and `keep` asks for (a task head's `classifier.*`, say), on the CPU in their
    /// stored dtype, and the file that names the checkpoint in errors.
    pub fn load_with(
        dir: impl AsRef<Path>,
        opts: &LoadOptions,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(Self, Checkpoint)> {
        let dir = dir.as_ref();
        let (config, family) = Config::from_file_with_family(dir.join(CONFIG_FILE))?;
        let (path, raw) = read_checkpoint(dir)?;
        let params = ParamStore::empty(opts, false);
        let mut kept = HashMap::new();
        for (name, tensor) in raw {
            let Some(encoder_name) = family.encoder_name(&name) else {
                if keep(&name) {
                    kept.insert(name, tensor);
                } else {
                    tracing::debug!(name, "ignoring checkpoint tensor");
                }
                continue;
            };
            let tensor = tensor.to_dtype(opts.dtype)?.to_device(&opts.device)?;
            params.insert(encoder_name, tensor)?;
        }
        let zero_tables = family
            .zero_tables()
            .iter()
            .chain(&[(CASING_EMBEDDINGS, Casing::COUNT)]);
        for &(name, rows) in zero_tables {
            if params.lookup(name).is_none() {
                let zeros =
                    Tensor::zeros((rows, config.embedding_size()), opts.dtype, &opts.device)?;
                params.insert(name.to_string(), zeros)?;
            }
        }
        let encoder = Encoder::load(params.var_builder(opts.dtype, &opts.device), &config)
            .map_err(|e| match lock(&params.problem).take() {
                Some(Problem::Missing(name)) => Error::MissingWeight {
                    path: path.clone(),
                    name,
                },
                Some(Problem::Shape {
                    name,
                    found,
                    expected,
                }) => Error::WeightShape {
                    path: path.clone(),
                    name,
                    found,
                    expected,
                },
                None => Error::Candle(e),
            })?;
        let (trainable, frozen) = params.counts();
        tracing::info!(path = %path.display(), trainable, frozen, family = family.model_type(), "loaded encoder");
        Ok((
            Self {
                encoder,
                config,
                params,
            },
            Checkpoint { path, kept },
        ))
    }

    /// The encoder over the same weights as plain tensors, for prediction only (see
    /// [`ParamStore::detached_encoder`]).
    pub fn detached_encoder(&self) -> Result<Encoder> {
        let (dtype, device) = (self.encoder.dtype(), self.encoder.device());
        self.params.detached_encoder(&self.config, dtype, &device)
    }

    /// Writes `dir/config.json` and `dir/model.safetensors` (creating `dir`), readable by
    /// [`Pretrained::load`] and by Hugging Face tooling (which ignores the casing table).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.config.save(dir.join(CONFIG_FILE))?;
        self.params.save(dir.join(SAFETENSORS_FILE))
    }
}

/// Writes `tensors` to the safetensors file `path`, each stored as `dtype`; an I/O failure names
/// the file.
pub fn save_safetensors(tensors: HashMap<String, Tensor>, path: &Path, dtype: DType) -> Result<()> {
    let tensors = tensors
        .into_iter()
        .map(|(name, t)| Ok((name, t.to_dtype(dtype)?)))
        .collect::<Result<HashMap<_, _>>>()?;
    candle_core::safetensors::save(&tensors, path).map_err(|e| match e {
        candle_core::Error::Io(source) => Error::io(path, source),
        e => Error::Candle(e),
    })
}

/// The sharded safetensors index of a model directory.
pub const SAFETENSORS_INDEX_FILE: &str = "model.safetensors.index.json";

/// The files of a directory's checkpoint, in the order byline prefers them: `model.safetensors`;
/// else the shards named by `model.safetensors.index.json`; else `pytorch_model.bin`. `None`
/// when there is none. An unreadable index is an error naming it.
pub fn checkpoint_files(dir: &Path) -> Result<Option<Vec<PathBuf>>> {
    let st = dir.join(SAFETENSORS_FILE);
    if st.is_file() {
        return Ok(Some(vec![st]));
    }
    let index = dir.join(SAFETENSORS_INDEX_FILE);
    if index.is_file() {
        let shards = byline_hub::files::shards(&index).map_err(|e| Error::BadModelDir {
            path: index.clone(),
            message: e.to_string(),
        })?;
        return Ok(Some(shards.into_iter().map(|s| dir.join(s)).collect()));
    }
    let pt = dir.join(PYTORCH_FILE);
    Ok(pt.is_file().then(|| vec![pt]))
}

/// Reads every tensor of the directory's checkpoint (on the CPU); the path returned names the
/// checkpoint in errors (the index for a sharded one).
fn read_checkpoint(dir: &Path) -> Result<(PathBuf, Vec<(String, Tensor)>)> {
    let map_io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| match e {
            candle_core::Error::Io(source) => Error::io(&path, source),
            e => Error::Candle(e),
        }
    };
    let files = checkpoint_files(dir)?.ok_or_else(|| Error::NoCheckpoint {
        path: dir.to_path_buf(),
    })?;
    let mut all = Vec::new();
    for file in &files {
        if file.extension().is_some_and(|e| e == "bin") {
            all.extend(candle_core::pickle::read_all(file).map_err(map_io(file))?);
        } else {
            let tensors =
                candle_core::safetensors::load(file, &Device::Cpu).map_err(map_io(file))?;
            all.extend(tensors);
        }
    }
    let named = match files.as_slice() {
        [one] => one.clone(),
        _ => dir.join(SAFETENSORS_INDEX_FILE),
    };
    Ok((named, all))
}
