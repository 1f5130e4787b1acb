//! Checkpoints and the best model in a run directory:
//!
//! ```text
//! <run>/checkpoints/step-00000500/{model.safetensors, optimizer.safetensors, state.json}
//! <run>/checkpoints/latest        the name of the newest complete checkpoint
//! <run>/best/                     the best model so far (Trainable::save) and best.json
//! ```
//!
//! A checkpoint is written into a hidden temporary directory, every file fsynced, then renamed
//! into place, and only then does `latest` (itself replaced atomically) point at it. A run
//! killed at any moment therefore resumes from a complete checkpoint.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::atomic::{commit, sync_dir, write_atomic};
use crate::error::{Error, Result};
use crate::optim::AdamW;
use crate::state::{Best, TrainState};
use crate::trainable::{load_params, save_params, Param, Trainable};

const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";
const LATEST: &str = "latest";
const BEST: &str = "best";
const BEST_JSON: &str = "best.json";

/// The `checkpoints/` directory of a run.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    pub fn new(run_dir: &Path) -> Self {
        Checkpoints {
            dir: run_dir.join("checkpoints"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest complete checkpoint, if any.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        let pointer = self.dir.join(LATEST);
        let name = match fs::read_to_string(&pointer) {
            Ok(name) => name.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&pointer, e)),
        };
        let dir = self.dir.join(&name);
        if name.is_empty() || name.contains('/') || !dir.join(STATE).is_file() {
            return Err(Error::checkpoint(
                &pointer,
                format!("points to `{name}`, which is not a complete checkpoint"),
            ));
        }
        Ok(Some(dir))
    }

    /// Writes a checkpoint of step `state.step`, points `latest` at it, and removes all but the
    /// newest `keep` (at least one) step checkpoints.
    pub fn save(
        &self,
        params: &[Param],
        optimizer: &AdamW,
        state: &TrainState,
        keep: usize,
    ) -> Result<PathBuf> {
        self.save_with(params, optimizer, state, keep, |_| Ok(()))
    }

    /// [`Checkpoints::save`] with a hook run after the files are written and before they are
    /// renamed into place: an error from it stands for a crash at that moment.
    pub(crate) fn save_with(
        &self,
        params: &[Param],
        optimizer: &AdamW,
        state: &TrainState,
        keep: usize,
        before_commit: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let name = format!("step-{:08}", state.step);
        let target = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        save_params(params, &tmp.join(MODEL))?;
        optimizer.save(&tmp.join(OPTIMIZER))?;
        let json = serde_json::to_vec_pretty(state).map_err(|source| Error::Json {
            path: tmp.join(STATE),
            source,
        })?;
        fs::write(tmp.join(STATE), json).map_err(|e| Error::io(tmp.join(STATE), e))?;
        sync_tree(&tmp)?;
        before_commit(&tmp)?;
        if target.exists() {
            // The same step saved again (a resumed run that had already finished): the content
            // is the same, keep the one `latest` may point at.
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        } else {
            commit(&tmp, &target)?;
        }
        write_atomic(&self.dir.join(LATEST), |f| {
            std::io::Write::write_all(f, name.as_bytes())
        })?;
        self.prune(keep.max(1), &name)?;
        tracing::debug!(path = %target.display(), "checkpoint written");
        Ok(target)
    }

    /// Restores the model's parameters and the optimiser from checkpoint `dir`, returning the
    /// training state saved with them.
    pub fn load(&self, dir: &Path, params: &[Param], optimizer: &mut AdamW) -> Result<TrainState> {
        let state_path = dir.join(STATE);
        let text = fs::read(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let state: TrainState = serde_json::from_slice(&text).map_err(|source| Error::Json {
            path: state_path.clone(),
            source,
        })?;
        load_params(params, &dir.join(MODEL))?;
        optimizer.load(&dir.join(OPTIMIZER))?;
        Ok(state)
    }

    /// Step checkpoints present, oldest first.
    pub fn list(&self) -> Result<Vec<(usize, PathBuf)>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(step) = name.strip_prefix("step-").and_then(|s| s.parse().ok()) {
                found.push((step, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }

    fn prune(&self, keep: usize, latest: &str) -> Result<()> {
        let all = self.list()?;
        let excess = all.len().saturating_sub(keep);
        for (_, path) in all.into_iter().take(excess) {
            if path.file_name().is_some_and(|n| n != latest) {
                fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        // Leftovers of interrupted writes.
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let path = entry.map_err(|e| Error::io(&self.dir, e))?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with(".step-") && name.ends_with(".tmp") && path.is_dir() {
                fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(())
    }
}

/// Replaces `<run>/best/` with the model's current weights ([`Trainable::save`]) and
/// `best.json`. The new directory is complete before it takes the old one's place.
pub fn save_best<M: Trainable + ?Sized>(run_dir: &Path, model: &M, best: &Best) -> Result<PathBuf> {
    let target = run_dir.join(BEST);
    let tmp = run_dir.join(".best.tmp");
    let old = run_dir.join(".best.old");
    for leftover in [&tmp, &old] {
        if leftover.exists() {
            fs::remove_dir_all(leftover).map_err(|e| Error::io(leftover, e))?;
        }
    }
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    model.save(&tmp)?;
    let json = serde_json::to_vec_pretty(best).map_err(|source| Error::Json {
        path: tmp.join(BEST_JSON),
        source,
    })?;
    fs::write(tmp.join(BEST_JSON), json).map_err(|e| Error::io(tmp.join(BEST_JSON), e))?;
    sync_tree(&tmp)?;
    if target.exists() {
        fs::rename(&target, &old).map_err(|e| Error::io(&target, e))?;
    }
    commit(&tmp, &target)?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(target)
}

/// The best result recorded in `<run>/best/best.json`, if any. Repairs a swap that a crash
/// interrupted (old best moved aside, new one not yet in place).
pub fn read_best(run_dir: &Path) -> Result<Option<Best>> {
    let target = run_dir.join(BEST);
    let old = run_dir.join(".best.old");
    if !target.exists() && old.exists() {
        fs::rename(&old, &target).map_err(|e| Error::io(&old, e))?;
    }
    let path = target.join(BEST_JSON);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::Json { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Fsyncs every file directly inside `dir`, then `dir` itself.
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_file() {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(&path, e))?;
        }
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::AdamWConfig;
    use crate::state::RngState;
    use crate::trainable::ParamGroup;
    use candle_core::{Device, Var};
    use rand::SeedableRng;

    fn state(step: usize) -> TrainState {
        let rng = RngState::capture(&rand_chacha::ChaCha8Rng::seed_from_u64(1));
        TrainState {
            step,
            tokens: 0,
            tasks: Vec::new(),
            sampler_rng: rng.clone(),
            dropout_rng: rng,
            next_task: 0,
            best: None,
        }
    }

    fn setup() -> (Vec<Param>, AdamW) {
        let var = Var::from_slice(&[1.0f32, 2.0], 2, &Device::Cpu).unwrap();
        let params = vec![Param::new("w", var, ParamGroup::Encoder)];
        let opt = AdamW::new(params.clone(), AdamWConfig::default()).unwrap();
        (params, opt)
    }

    fn set(params: &[Param], values: &[f32]) {
        let t = candle_core::Tensor::from_slice(values, 2, &Device::Cpu).unwrap();
        params[0].var.set(&t).unwrap();
    }

    #[test]
    fn interrupted_write_leaves_previous_checkpoint_intact() {
        let run = tempfile::tempdir().unwrap();
        let ckpt = Checkpoints::new(run.path());
        assert_eq!(ckpt.latest().unwrap(), None);
        let (params, mut opt) = setup();
        let first = ckpt.save(&params, &opt, &state(10), 2).unwrap();

        set(&params, &[7.0, 8.0]);
        let crash = || Err(Error::Invalid("killed".into()));
        assert!(ckpt
            .save_with(&params, &opt, &state(20), 2, |_| crash())
            .is_err());
        assert_eq!(ckpt.latest().unwrap(), Some(first.clone()));
        let restored = ckpt.load(&first, &params, &mut opt).unwrap();
        assert_eq!(restored.step, 10);
        assert_eq!(
            params[0].var.as_tensor().to_vec1::<f32>().unwrap(),
            [1.0, 2.0]
        );

        // The next save succeeds and clears the leftover.
        ckpt.save(&params, &opt, &state(30), 2).unwrap();
        let names: Vec<_> = fs::read_dir(ckpt.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
        assert_eq!(
            ckpt.latest().unwrap(),
            Some(ckpt.dir().join("step-00000030"))
        );
    }

    #[test]
    fn keeps_only_the_newest_checkpoints() {
        let run = tempfile::tempdir().unwrap();
        let ckpt = Checkpoints::new(run.path());
        let (params, opt) = setup();
        for step in [5, 10, 15, 20] {
            ckpt.save(&params, &opt, &state(step), 2).unwrap();
        }
        let steps: Vec<usize> = ckpt.list().unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, [15, 20]);
    }

    #[test]
    fn broken_pointer_and_foreign_model_are_errors() {
        let run = tempfile::tempdir().unwrap();
        let ckpt = Checkpoints::new(run.path());
        let (params, opt) = setup();
        let dir = ckpt.save(&params, &opt, &state(1), 1).unwrap();
        let var = Var::from_slice(&[1.0f32, 2.0, 3.0], 3, &Device::Cpu).unwrap();
        let other = vec![Param::new("w", var, ParamGroup::Encoder)];
        let mut other_opt = AdamW::new(other.clone(), AdamWConfig::default()).unwrap();
        let err = ckpt
            .load(&dir, &other, &mut other_opt)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("`w`"),
            "{err}"
        );

        fs::write(ckpt.dir().join(LATEST), "step-00000099").unwrap();
        let err = ckpt.latest().unwrap_err().to_string();
        assert!(
            err.contains("latest") && err.contains("step-00000099"),
            "{err}"
        );
    }
}
