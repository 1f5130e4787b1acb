//! The training loop: data order, task sampling, forward / backward / clip / AdamW step,
//! evaluation and the best model, checkpoints, events.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::DType;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::batching::BatchPlan;
use crate::checkpoint::{save_best, Checkpoints};
use crate::config::{TaskSampling, TrainConfig};
use crate::error::{Error, OutOfMemory, Result};
use crate::optim::{clip_factor, grad_norm, AdamW, AdamWConfig, LinearSchedule};
use crate::progress::{
    CheckpointEvent, EvalEvent, Event, Progress, StartEvent, StepEvent, Summary,
};
use crate::state::{Best, Metrics, RngState, TaskCursor, TrainState};
use crate::timing::{timed, Timings};
use crate::trainable::{Param, ParamGroup, Trainable};

const SAMPLER_STREAM: u64 = 0;
const DROPOUT_STREAM: u64 = 1;

/// Trains a [`Trainable`] model on the tasks of a [`TrainConfig`]; `data[i]` holds the training
/// examples of `config.tasks[i]`.
pub struct Trainer<'m, M: Trainable> {
    cfg: TrainConfig,
    model: &'m M,
    data: Vec<Vec<M::Example>>,
    lens: Vec<Vec<usize>>,
    plan: BatchPlan,
    /// The batches of each task's current epoch: `(epoch, batches)`.
    epochs: Vec<Option<(usize, Vec<Vec<usize>>)>>,
    params: Vec<Param>,
    optimizer: AdamW,
    schedule: LinearSchedule,
    steps_per_epoch: usize,
    state: TrainState,
    sampler: ChaCha8Rng,
    dropout: ChaCha8Rng,
    checkpoints: Checkpoints,
    metrics: File,
    timings: Timings,
    /// Most device memory in use after a step of this process (CUDA only).
    peak_device_bytes: Option<u64>,
    resumed: bool,
    started: Instant,
}

impl<M: Trainable> std::fmt::Debug for Trainer<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("output_dir", &self.cfg.output_dir)
            .field("step", &self.state.step)
            .field("total_steps", &self.schedule.total)
            .field("params", &self.params.len())
            .finish_non_exhaustive()
    }
}

impl<'m, M: Trainable> Trainer<'m, M> {
    /// A fresh run in `config.output_dir`, which must not hold checkpoints already (resume
    /// those with [`Trainer::resume`]). Saves the resolved config as `config.toml` there.
    pub fn new(cfg: TrainConfig, model: &'m M, data: Vec<Vec<M::Example>>) -> Result<Self> {
        let checkpoints = Checkpoints::new(&cfg.output_dir);
        if let Some(latest) = checkpoints.latest()? {
            return Err(Error::checkpoint(
                latest,
                "the run directory already has checkpoints: resume it or choose another output_dir",
            ));
        }
        let mut trainer = Self::build(cfg, model, data, checkpoints)?;
        let path = trainer.cfg.output_dir.join("metrics.jsonl");
        trainer.metrics = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(trainer)
    }

    /// Continues the run in `config.output_dir` from its latest checkpoint: weights, optimiser
    /// moments, data position and random generators, so that the rest of the run equals an
    /// uninterrupted one. Events after the checkpoint are dropped from `metrics.jsonl`.
    pub fn resume(cfg: TrainConfig, model: &'m M, data: Vec<Vec<M::Example>>) -> Result<Self> {
        let checkpoints = Checkpoints::new(&cfg.output_dir);
        let Some(latest) = checkpoints.latest()? else {
            return Err(Error::checkpoint(
                checkpoints.dir(),
                "no checkpoint to resume from",
            ));
        };
        let mut trainer = Self::build(cfg, model, data, checkpoints)?;
        let state = trainer
            .checkpoints
            .load(&latest, &trainer.params, &mut trainer.optimizer)?;
        let names: Vec<&str> = state.tasks.iter().map(|t| t.name.as_str()).collect();
        let want: Vec<&str> = trainer.cfg.tasks.iter().map(|t| t.name.as_str()).collect();
        if names != want {
            return Err(Error::checkpoint(
                &latest,
                format!("checkpoint trained tasks {names:?}, the config has {want:?}"),
            ));
        }
        let restore = |r: &RngState| {
            r.restore()
                .ok_or_else(|| Error::checkpoint(&latest, "bad random generator state"))
        };
        trainer.sampler = restore(&state.sampler_rng)?;
        trainer.dropout = restore(&state.dropout_rng)?;
        trainer.state = state;
        trainer.resumed = true;
        trainer.metrics = truncate_events(
            &trainer.cfg.output_dir.join("metrics.jsonl"),
            trainer.state.step,
        )?;
        tracing::info!(step = trainer.state.step, path = %latest.display(), "resumed");
        Ok(trainer)
    }

    fn build(
        cfg: TrainConfig,
        model: &'m M,
        data: Vec<Vec<M::Example>>,
        checkpoints: Checkpoints,
    ) -> Result<Self> {
        cfg.validate()?;
        if data.len() != cfg.tasks.len() {
            return Err(Error::Invalid(format!(
                "{} tasks configured but data for {} given",
                cfg.tasks.len(),
                data.len()
            )));
        }
        if let Some(t) = cfg.tasks.iter().zip(&data).find(|(_, d)| d.is_empty()) {
            return Err(Error::Invalid(format!(
                "task `{}` has no training examples",
                t.0.name
            )));
        }
        let params = model.params();
        if params.is_empty() {
            return Err(Error::Invalid(
                "the model has no trainable parameters".into(),
            ));
        }
        let optimizer = AdamW::new(
            params.clone(),
            AdamWConfig {
                beta1: cfg.adam_beta1,
                beta2: cfg.adam_beta2,
                eps: cfg.adam_epsilon,
                weight_decay: cfg.weight_decay,
            },
        )?;
        let lens: Vec<Vec<usize>> = data
            .iter()
            .map(|d| d.iter().map(|e| model.example_len(e)).collect())
            .collect();
        let plan = BatchPlan {
            batch_size: cfg.batch_size,
            max_tokens: cfg.max_batch_tokens,
            bucket_batches: cfg.bucket_batches,
        };
        let steps_per_epoch = lens
            .iter()
            .enumerate()
            .map(|(t, l)| plan.epoch(l, cfg.seed, t, 0).len())
            .sum();
        let total = cfg.max_steps.unwrap_or(cfg.epochs * steps_per_epoch);
        let schedule = LinearSchedule::new(cfg.warmup_for(total), total);
        let rng = |stream| {
            let mut r = ChaCha8Rng::seed_from_u64(cfg.seed);
            r.set_stream(stream);
            r
        };
        let (sampler, dropout) = (rng(SAMPLER_STREAM), rng(DROPOUT_STREAM));
        let state = TrainState {
            step: 0,
            tokens: 0,
            tasks: cfg
                .tasks
                .iter()
                .map(|t| TaskCursor {
                    name: t.name.clone(),
                    epoch: 0,
                    position: 0,
                })
                .collect(),
            sampler_rng: RngState::capture(&sampler),
            dropout_rng: RngState::capture(&dropout),
            next_task: 0,
            best: None,
        };
        let out = &cfg.output_dir;
        fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        cfg.save(out.join("config.toml"))?;
        let metrics_path = out.join("metrics.jsonl");
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .map_err(|e| Error::io(&metrics_path, e))?;
        Ok(Trainer {
            epochs: vec![None; data.len()],
            cfg,
            model,
            data,
            lens,
            plan,
            params,
            optimizer,
            schedule,
            steps_per_epoch,
            state,
            sampler,
            dropout,
            checkpoints,
            metrics,
            timings: Timings::default(),
            peak_device_bytes: None,
            resumed: false,
            started: Instant::now(),
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    pub fn run_dir(&self) -> &Path {
        &self.cfg.output_dir
    }

    /// Steps done.
    pub fn step(&self) -> usize {
        self.state.step
    }

    pub fn total_steps(&self) -> usize {
        self.schedule.total
    }

    /// Batches in one pass over every task's data.
    pub fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    pub fn state(&self) -> &TrainState {
        &self.state
    }

    pub fn optimizer(&self) -> &AdamW {
        &self.optimizer
    }

    /// Time spent per phase by this process so far.
    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// Trains to the last step: evaluates every `eval_every` steps and at the end, keeps the best
    /// model in `<run>/best`, checkpoints every `checkpoint_every` steps and at the end.
    pub fn run<E>(&mut self, evaluate: E, progress: &mut dyn Progress) -> Result<Summary>
    where
        E: FnMut(&M) -> Result<Metrics>,
    {
        self.run_until(self.total_steps(), evaluate, progress)
    }

    /// Like [`Trainer::run`] but stops once `stop` steps are done (or at the end), as a run that
    /// is killed there would (what it wrote survives, what it did not is redone on resume).
    pub fn run_until<E>(
        &mut self,
        stop: usize,
        mut evaluate: E,
        progress: &mut dyn Progress,
    ) -> Result<Summary>
    where
        E: FnMut(&M) -> Result<Metrics>,
    {
        let total = self.total_steps();
        let stop = stop.min(total);
        self.emit(
            progress,
            Event::Start(StartEvent {
                step: self.state.step,
                total_steps: total,
                steps_per_epoch: self.steps_per_epoch,
                resumed: self.resumed,
            }),
        )?;
        let mut last_loss = None;
        while self.state.step < stop {
            let event = self.train_step()?;
            last_loss = Some(event.loss);
            let step = event.step;
            self.emit(progress, Event::Step(event))?;
            let due = |every: usize| step == total || (every > 0 && step % every == 0);
            if due(self.cfg.eval_every) {
                self.evaluate_now(&mut evaluate, progress)?;
            }
            if due(self.cfg.checkpoint_every) {
                self.checkpoint_now(progress)?;
            }
        }
        let summary = Summary {
            step: self.state.step,
            total_steps: total,
            tokens: self.state.tokens,
            last_loss,
            best: self.state.best.clone(),
            timings: self.timings,
            peak_device_memory_mib: self.peak_device_bytes.map(|b| b as f64 / (1024.0 * 1024.0)),
        };
        if self.state.step == total {
            self.emit(progress, Event::Done(summary.clone()))?;
        }
        Ok(summary)
    }

    /// One optimiser step on the next batch: no evaluation, no checkpoint, no event.
    /// A batch that does not fit in the device's memory is [`Error::OutOfMemory`].
    pub fn train_step(&mut self) -> Result<StepEvent> {
        let started = Instant::now();
        let task = self.next_task();
        let indices = self.next_batch(task);
        let tokens: usize = indices.iter().map(|&i| self.lens[task][i]).sum();
        self.step_on(started, task, &indices, tokens)
            .map_err(|err| {
                if !err.is_out_of_memory() {
                    return err;
                }
                Error::OutOfMemory(Box::new(OutOfMemory {
                    step: self.state.step + 1,
                    task: self.cfg.tasks[task].name.clone(),
                    examples: indices.len(),
                    tokens,
                    device: self.cfg.device.to_string(),
                    batch_size: self.cfg.batch_size,
                    max_batch_tokens: self.cfg.max_batch_tokens,
                    detail: err.to_string(),
                }))
            })
    }

    /// [`Trainer::train_step`] on the batch `indices` of `task`.
    fn step_on(
        &mut self,
        started: Instant,
        task: usize,
        indices: &[usize],
        tokens: usize,
    ) -> Result<StepEvent> {
        let examples: Vec<&M::Example> = indices.iter().map(|&i| &self.data[task][i]).collect();
        let model = self.model;

        let batch = timed(&mut self.timings.data_s, || model.collate(task, &examples))?;
        let loss = timed(
            &mut self.timings.forward_s,
            || -> Result<(candle_core::Tensor, f64)> {
                let loss = model.loss(task, &batch, &mut self.dropout)?;
                if loss.elem_count() != 1 {
                    return Err(Error::Invalid(format!(
                        "loss has shape {:?}, expected a scalar",
                        loss.dims()
                    )));
                }
                let value = loss.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?[0];
                Ok((loss, value))
            },
        );
        let (loss, loss_value) = loss?;
        let step = self.state.step + 1;
        if !loss_value.is_finite() {
            return Err(Error::Diverged {
                step,
                task: self.cfg.tasks[task].name.clone(),
                loss: loss_value as f32,
            });
        }
        let grads = timed(&mut self.timings.backward_s, || loss.backward())?;
        let device = loss.device().clone();
        drop(loss);

        let factor = self.schedule.factor(step);
        let (encoder_lr, head_lr) = self.cfg.learning_rates();
        let (encoder_lr, head_lr) = (encoder_lr * factor, head_lr * factor);
        let max_norm = self.cfg.max_grad_norm;
        let (params, optimizer) = (&self.params, &mut self.optimizer);
        let norm = timed(&mut self.timings.optimizer_s, || -> Result<f64> {
            let norm = grad_norm(&grads, params)?;
            let lr = |g| match g {
                ParamGroup::Encoder => encoder_lr,
                ParamGroup::Head => head_lr,
            };
            optimizer.step(&grads, lr, clip_factor(norm, max_norm))?;
            Ok(norm)
        })?;

        if let Some(used) = device_memory_in_use(&device) {
            self.peak_device_bytes = Some(self.peak_device_bytes.unwrap_or(0).max(used));
        }
        self.state.step = step;
        self.state.tokens += tokens as u64;
        self.timings.steps += 1;
        let seconds = started.elapsed().as_secs_f64();
        let elapsed = self.started.elapsed().as_secs_f64();
        let mean = self.timings.step_s() / self.timings.steps as f64;
        Ok(StepEvent {
            step,
            total_steps: self.total_steps(),
            epoch: step as f64 / self.steps_per_epoch.max(1) as f64,
            task: self.cfg.tasks[task].name.clone(),
            loss: loss_value,
            lr: encoder_lr,
            grad_norm: norm,
            tokens,
            examples: indices.len(),
            tokens_per_s: tokens as f64 / seconds.max(1e-9),
            elapsed_s: elapsed,
            eta_s: mean * self.total_steps().saturating_sub(step) as f64,
        })
    }

    /// Runs the evaluation callback now, records its figures, and saves the model to
    /// `<run>/best` when `best_metric` improved.
    pub fn evaluate_now<E>(
        &mut self,
        evaluate: &mut E,
        progress: &mut dyn Progress,
    ) -> Result<EvalEvent>
    where
        E: FnMut(&M) -> Result<Metrics>,
    {
        let start = Instant::now();
        let metrics = evaluate(self.model)?;
        let mut is_best = false;
        if !metrics.is_empty() {
            let name = &self.cfg.best_metric;
            let value = *metrics.get(name).ok_or_else(|| {
                let have: Vec<&String> = metrics.keys().collect();
                Error::Eval(format!(
                    "no figure named `{name}` (best_metric); figures: {have:?}"
                ))
            })?;
            let incumbent = self.state.best.as_ref().map(|b| b.value);
            if self.cfg.best_mode.better(value, incumbent) {
                let best = Best {
                    step: self.state.step,
                    metric: name.clone(),
                    value,
                    metrics: metrics.clone(),
                };
                let run_dir = self.cfg.output_dir.clone();
                timed(&mut self.timings.checkpoint_s, || {
                    save_best(&run_dir, self.model, &best)
                })?;
                tracing::info!(step = best.step, metric = %best.metric, value, "new best");
                self.state.best = Some(best);
                is_best = true;
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        self.timings.eval_s += seconds;
        let event = EvalEvent {
            step: self.state.step,
            metrics,
            is_best,
            seconds,
        };
        self.emit(progress, Event::Eval(event.clone()))?;
        Ok(event)
    }

    /// Writes a checkpoint of the current state now.
    pub fn checkpoint_now(&mut self, progress: &mut dyn Progress) -> Result<PathBuf> {
        self.state.sampler_rng = RngState::capture(&self.sampler);
        self.state.dropout_rng = RngState::capture(&self.dropout);
        let (checkpoints, params, optimizer, state) = (
            &self.checkpoints,
            &self.params,
            &self.optimizer,
            &self.state,
        );
        let keep = self.cfg.keep_checkpoints;
        let path = timed(&mut self.timings.checkpoint_s, || {
            checkpoints.save(params, optimizer, state, keep)
        })?;
        self.emit(
            progress,
            Event::Checkpoint(CheckpointEvent {
                step: self.state.step,
                path: path.clone(),
            }),
        )?;
        Ok(path)
    }

    fn next_task(&mut self) -> usize {
        let n = self.cfg.tasks.len();
        match self.cfg.task_sampling {
            TaskSampling::RoundRobin => {
                let task = self.state.next_task % n;
                self.state.next_task = (task + 1) % n;
                task
            }
            TaskSampling::Proportional => {
                let total: f64 = self.cfg.tasks.iter().map(|t| t.weight).sum();
                let mut draw = self.sampler.random::<f64>() * total;
                for (i, t) in self.cfg.tasks.iter().enumerate() {
                    if draw < t.weight {
                        return i;
                    }
                    draw -= t.weight;
                }
                n - 1
            }
        }
    }

    /// The next batch of `task`, moving to its next epoch when this one is used up.
    fn next_batch(&mut self, task: usize) -> Vec<usize> {
        let cursor = &mut self.state.tasks[task];
        let cached = &mut self.epochs[task];
        let stale = |c: &Option<(usize, Vec<Vec<usize>>)>, epoch: usize| !matches!(c, Some((e, _)) if *e == epoch);
        if stale(cached, cursor.epoch) {
            *cached = Some((
                cursor.epoch,
                self.plan
                    .epoch(&self.lens[task], self.cfg.seed, task, cursor.epoch),
            ));
        }
        if cached
            .as_ref()
            .is_some_and(|(_, b)| cursor.position >= b.len())
        {
            cursor.epoch += 1;
            cursor.position = 0;
            *cached = Some((
                cursor.epoch,
                self.plan
                    .epoch(&self.lens[task], self.cfg.seed, task, cursor.epoch),
            ));
        }
        let batches = &cached.as_ref().expect("filled above").1;
        let batch = batches[cursor.position].clone();
        cursor.position += 1;
        batch
    }

    fn emit(&mut self, progress: &mut dyn Progress, event: Event) -> Result<()> {
        let line = serde_json::to_string(&event).map_err(|source| Error::Json {
            path: self.cfg.output_dir.join("metrics.jsonl"),
            source,
        })?;
        writeln!(self.metrics, "{line}")
            .and_then(|()| self.metrics.flush())
            .map_err(|e| Error::io(self.cfg.output_dir.join("metrics.jsonl"), e))?;
        progress.event(&event);
        Ok(())
    }
}

/// Keeps the events of `metrics.jsonl` up to `step` (what a resumed run will redo goes) and
/// opens it for appending.
fn truncate_events(path: &Path, step: usize) -> Result<File> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            let value: Option<serde_json::Value> = serde_json::from_str(line).ok();
            let event_step = value
                .as_ref()
                .and_then(|v| v.get("step"))
                .and_then(|s| s.as_u64());
            let is_done = value
                .as_ref()
                .and_then(|v| v.get("event"))
                .and_then(|e| e.as_str())
                == Some("done");
            event_step.is_some_and(|s| s as usize <= step) && !is_done
        })
        .map(|line| format!("{line}\n"))
        .collect();
    crate::atomic::write_atomic(path, |f| f.write_all(kept.as_bytes()))?;
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// Device memory in use on `device` as the driver reports it for the whole device (total minus
/// free), in bytes; `None` on the CPU or when the query fails.
fn device_memory_in_use(device: &candle_core::Device) -> Option<u64> {
    match device {
        #[cfg(feature = "cuda")]
        candle_core::Device::Cuda(cuda) => {
            let (free, total) = cuda.cuda_stream().context().mem_get_info().ok()?;
            Some(total.saturating_sub(free) as u64)
        }
        _ => None,
    }
}
