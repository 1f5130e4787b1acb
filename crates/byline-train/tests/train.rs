//! The training loop end to end on a toy two-task tagger built here: a shared embedding and
//! dense layer (the "encoder", with dropout) and one linear head per task.

use std::path::Path;

use byline_train::{
    Error, Event, Metrics, Param, ParamGroup, Progress, Result, Silent, TaskConfig, TaskSampling,
    TrainConfig, Trainable, Trainer,
};
use candle_core::{DType, Device, Tensor, Var, D};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VOCAB: usize = 24;
const DIM: usize = 16;
const TAGS: [usize; 2] = [5, 3];

/// A sentence of token ids with one gold tag per token.
#[derive(Debug, Clone)]
struct Example {
    ids: Vec<u32>,
    tags: Vec<u32>,
}

#[derive(Debug)]
struct Batch {
    /// (batch, longest) token ids, padded with 0.
    ids: Tensor,
    /// (real,) positions of real tokens in the flattened (batch × longest) grid.
    real: Tensor,
    /// (real,) gold tags.
    tags: Tensor,
}

#[derive(Debug)]
struct Toy {
    embeddings: Var,
    dense_w: Var,
    dense_b: Var,
    heads: Vec<(Var, Var)>,
    dropout: f64,
    /// When set, every loss fails with this message (a device error, as candle reports it).
    fail_loss: Option<&'static str>,
}

fn random_var(rng: &mut ChaCha8Rng, shape: (usize, usize), scale: f32) -> Var {
    let values: Vec<f32> = (0..shape.0 * shape.1)
        .map(|_| (rng.random::<f32>() - 0.5) * scale)
        .collect();
    Var::from_vec(values, shape, &Device::Cpu).unwrap()
}

impl Toy {
    fn new(seed: u64, dropout: f64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let heads = TAGS
            .iter()
            .map(|&n| {
                let w = random_var(&mut rng, (n, DIM), 0.5);
                let b = Var::zeros(n, DType::F32, &Device::Cpu).unwrap();
                (w, b)
            })
            .collect();
        Toy {
            embeddings: random_var(&mut rng, (VOCAB, DIM), 1.0),
            dense_w: random_var(&mut rng, (DIM, DIM), 0.5),
            dense_b: Var::zeros(DIM, DType::F32, &Device::Cpu).unwrap(),
            heads,
            dropout,
            fail_loss: None,
        }
    }

    /// (real, tags) logits of a batch.
    fn logits(&self, task: usize, batch: &Batch, rng: Option<&mut dyn RngCore>) -> Result<Tensor> {
        let ids = batch.ids.flatten_all()?;
        let x = self
            .embeddings
            .as_tensor()
            .embedding(&ids)?
            .index_select(&batch.real, 0)?; // (real, dim)
        let x = x
            .matmul(&self.dense_w.t()?)?
            .broadcast_add(&self.dense_b)?
            .tanh()?;
        let x = match rng {
            Some(rng) if self.dropout > 0.0 => {
                let keep = 1.0 - self.dropout;
                let mask: Vec<f32> = (0..x.elem_count())
                    .map(|_| {
                        if rng.random::<f64>() < keep {
                            (1.0 / keep) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                (x.clone() * Tensor::from_vec(mask, x.shape(), &Device::Cpu)?)?
            }
            _ => x,
        };
        let (w, b) = &self.heads[task];
        Ok(x.matmul(&w.t()?)?.broadcast_add(b)?)
    }

    fn accuracy(&self, task: usize, examples: &[Example]) -> Result<f64> {
        let refs: Vec<&Example> = examples.iter().collect();
        let batch = self.collate(task, &refs)?;
        let predicted = self.logits(task, &batch, None)?.argmax(D::Minus1)?;
        let right = predicted
            .eq(&batch.tags)?
            .to_dtype(DType::F32)?
            .sum_all()?
            .to_scalar::<f32>()?;
        Ok(right as f64 / batch.tags.elem_count() as f64)
    }

    fn values(&self) -> Vec<(String, Vec<f32>)> {
        self.params()
            .into_iter()
            .map(|p| {
                (
                    p.name,
                    p.var.as_tensor().flatten_all().unwrap().to_vec1().unwrap(),
                )
            })
            .collect()
    }
}

impl Trainable for Toy {
    type Example = Example;
    type Batch = Batch;

    fn params(&self) -> Vec<Param> {
        let mut params = vec![
            Param::new(
                "embeddings.weight",
                self.embeddings.clone(),
                ParamGroup::Encoder,
            ),
            Param::new("dense.weight", self.dense_w.clone(), ParamGroup::Encoder),
            Param::new("dense.bias", self.dense_b.clone(), ParamGroup::Encoder),
        ];
        for (i, (w, b)) in self.heads.iter().enumerate() {
            params.push(Param::new(
                format!("heads.{i}.weight"),
                w.clone(),
                ParamGroup::Head,
            ));
            params.push(Param::new(
                format!("heads.{i}.bias"),
                b.clone(),
                ParamGroup::Head,
            ));
        }
        params
    }

    fn example_len(&self, example: &Example) -> usize {
        example.ids.len()
    }

    fn collate(&self, _task: usize, examples: &[&Example]) -> Result<Batch> {
        let longest = examples.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; examples.len() * longest];
        let (mut real, mut tags) = (Vec::new(), Vec::new());
        for (row, e) in examples.iter().enumerate() {
            for (col, (&id, &tag)) in e.ids.iter().zip(&e.tags).enumerate() {
                ids[row * longest + col] = id;
                real.push((row * longest + col) as u32);
                tags.push(tag);
            }
        }
        let n = real.len();
        Ok(Batch {
            ids: Tensor::from_vec(ids, (examples.len(), longest), &Device::Cpu)?,
            real: Tensor::from_vec(real, n, &Device::Cpu)?,
            tags: Tensor::from_vec(tags, n, &Device::Cpu)?,
        })
    }

    fn loss(&self, task: usize, batch: &Batch, rng: &mut dyn RngCore) -> Result<Tensor> {
        if let Some(message) = self.fail_loss {
            return Err(candle_core::Error::Msg(message.to_string()).into());
        }
        let logits = self.logits(task, batch, Some(rng))?;
        Ok(candle_nn::loss::cross_entropy(&logits, &batch.tags)?)
    }
}

/// `n` sentences of task `task`, whose tags are a function of the token.
fn corpus(task: usize, n: usize, seed: u64) -> Vec<Example> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let len = rng.random_range(2..9);
            let ids: Vec<u32> = (0..len)
                .map(|_| rng.random_range(1..VOCAB as u32))
                .collect();
            let tags = ids
                .iter()
                .map(|&i| (i * 7 + task as u32) % TAGS[task] as u32)
                .collect();
            Example { ids, tags }
        })
        .collect()
}

fn config(dir: &Path, steps: usize) -> TrainConfig {
    let task = |name: &str, weight| TaskConfig {
        weight,
        ..TaskConfig::new(name, format!("{name}.txt"))
    };
    TrainConfig {
        output_dir: dir.to_path_buf(),
        max_steps: Some(steps),
        batch_size: 4,
        learning_rate: 0.02,
        head_learning_rate: Some(0.05),
        warmup_steps: Some(3),
        dropout: 0.1,
        eval_every: 5,
        checkpoint_every: 10,
        best_metric: "entities/accuracy".into(),
        tasks: vec![task("entities", 2.0), task("attribution", 1.0)],
        ..TrainConfig::default()
    }
}

fn data() -> Vec<Vec<Example>> {
    vec![corpus(0, 12, 1), corpus(1, 10, 2)]
}

fn evaluator(dev: Vec<Vec<Example>>) -> impl FnMut(&Toy) -> Result<Metrics> {
    move |model: &Toy| {
        let mut m = Metrics::new();
        m.insert("entities/accuracy".into(), model.accuracy(0, &dev[0])?);
        m.insert("attribution/accuracy".into(), model.accuracy(1, &dev[1])?);
        Ok(m)
    }
}

#[derive(Default)]
struct Recorder(Vec<Event>);

impl Progress for Recorder {
    fn event(&mut self, event: &Event) {
        self.0.push(event.clone());
    }
}

#[test]
fn toy_tagger_overfits_eight_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let model = Toy::new(3, 0.0);
    let train = vec![corpus(0, 8, 5)];
    let mut cfg = config(dir.path(), 150);
    cfg.tasks.truncate(1);
    (cfg.batch_size, cfg.eval_every, cfg.checkpoint_every) = (8, 50, 0);
    let before = model.accuracy(0, &train[0]).unwrap();
    let mut eval = {
        let train = train.clone();
        move |m: &Toy| -> Result<Metrics> {
            Ok(Metrics::from([(
                "entities/accuracy".to_string(),
                m.accuracy(0, &train[0])?,
            )]))
        }
    };
    let mut recorder = Recorder::default();
    let summary = Trainer::new(cfg, &model, train.clone())
        .unwrap()
        .run(&mut eval, &mut recorder)
        .unwrap();
    let losses: Vec<f64> = recorder
        .0
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some(s.loss),
            _ => None,
        })
        .collect();
    assert_eq!(losses.len(), 150);
    assert!(
        losses[149] < losses[0] * 0.05,
        "loss {} -> {}",
        losses[0],
        losses[149]
    );
    assert!(
        before < 0.6 && model.accuracy(0, &train[0]).unwrap() == 1.0,
        "accuracy {before}"
    );
    let best = summary.best.unwrap();
    assert_eq!(
        (best.value, best.metric.as_str()),
        (1.0, "entities/accuracy")
    );
    assert!(dir.path().join("best/model.safetensors").is_file());
    let t = summary.timings;
    assert_eq!(t.steps, 150);
    assert!(t.forward_s > 0.0 && t.backward_s > 0.0 && t.optimizer_s > 0.0 && t.eval_s > 0.0);
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    // Uninterrupted: 20 steps.
    let straight_dir = tempfile::tempdir().unwrap();
    let straight = Toy::new(11, 0.1);
    let mut trainer = Trainer::new(config(straight_dir.path(), 20), &straight, data()).unwrap();
    let full = trainer.run(evaluator(data()), &mut Silent).unwrap();
    let straight_moments: Vec<_> = straight
        .params()
        .iter()
        .map(|p| {
            trainer
                .optimizer()
                .moments(&p.name)
                .map(|(m, v, s)| (m.to_vec(), v.to_vec(), s))
        })
        .collect();
    let straight_state = trainer.state().clone();
    drop(trainer);

    // Interrupted: 10 steps (the checkpoint at 10 is written), then everything dropped.
    let dir = tempfile::tempdir().unwrap();
    {
        let first = Toy::new(11, 0.1);
        let mut trainer = Trainer::new(config(dir.path(), 20), &first, data()).unwrap();
        trainer
            .run_until(10, evaluator(data()), &mut Silent)
            .unwrap();
        // It ran on a little past the checkpoint before the "kill"; those steps are redone.
        for _ in 0..3 {
            trainer.train_step().unwrap();
        }
    }
    // A model initialised differently: resuming must restore every weight.
    let resumed_model = Toy::new(999, 0.1);
    let mut trainer = Trainer::resume(config(dir.path(), 20), &resumed_model, data()).unwrap();
    assert_eq!(trainer.step(), 10);
    let rest = trainer.run(evaluator(data()), &mut Silent).unwrap();
    assert_eq!(rest.step, 20);

    for ((name, a), (_, b)) in straight.values().iter().zip(resumed_model.values()) {
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff <= 1e-6, "{name}: differs by {diff}");
    }
    for (p, want) in resumed_model.params().iter().zip(&straight_moments) {
        let got = trainer
            .optimizer()
            .moments(&p.name)
            .map(|(m, v, s)| (m.to_vec(), v.to_vec(), s));
        assert_eq!(&got, want, "{}", p.name);
    }
    assert_eq!(trainer.state(), &straight_state);
    assert_eq!(rest.best, full.best);
    assert_eq!(rest.tokens, full.tokens);

    // metrics.jsonl holds each step once, in order.
    let text = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "step")
        .map(|v| v["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=20).collect::<Vec<_>>());
}

#[test]
fn both_tasks_train_and_round_robin_alternates() {
    let dir = tempfile::tempdir().unwrap();
    let model = Toy::new(4, 0.0);
    let mut cfg = config(dir.path(), 8);
    cfg.task_sampling = TaskSampling::RoundRobin;
    let mut recorder = Recorder::default();
    Trainer::new(cfg, &model, data())
        .unwrap()
        .run(evaluator(data()), &mut recorder)
        .unwrap();
    let tasks: Vec<&str> = recorder
        .0
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some(s.task.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(tasks, ["entities", "attribution"].repeat(4));
    let kinds: Vec<&str> = recorder
        .0
        .iter()
        .map(|e| match e {
            Event::Start(_) => "start",
            Event::Step(_) => "step",
            Event::Eval(_) => "eval",
            Event::Checkpoint(_) => "checkpoint",
            Event::Done(_) => "done",
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(&kinds[kinds.len() - 3..], ["eval", "checkpoint", "done"]);
    // The resolved config was saved and reads back.
    let saved = TrainConfig::load(dir.path().join("config.toml")).unwrap();
    assert_eq!(saved.task_sampling, TaskSampling::RoundRobin);
}

#[test]
fn refuses_to_overwrite_a_run_and_to_resume_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = Toy::new(1, 0.0);
    let err = Trainer::resume(config(dir.path(), 10), &model, data()).unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");
    Trainer::new(config(dir.path(), 10), &model, data())
        .unwrap()
        .run(evaluator(data()), &mut Silent)
        .unwrap();
    let err = Trainer::new(config(dir.path(), 10), &model, data()).unwrap_err();
    assert!(err.to_string().contains("resume"), "{err}");
    // Missing best_metric among the figures is an error, not a silent no-best.
    let other = tempfile::tempdir().unwrap();
    let mut cfg = config(other.path(), 5);
    cfg.best_metric = "f1".into();
    let err = Trainer::new(cfg, &model, data())
        .unwrap()
        .run(evaluator(data()), &mut Silent)
        .unwrap_err();
    assert!(err.to_string().contains("`f1`"), "{err}");
}

#[test]
fn a_batch_the_device_cannot_hold_names_the_batch_and_the_keys_that_size_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Toy::new(6, 0.0);
    // What candle's CUDA backend reports when an allocation fails.
    model.fail_loss = Some("DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")");
    let mut cfg = config(dir.path(), 4);
    cfg.max_batch_tokens = Some(512);
    let mut trainer = Trainer::new(cfg, &model, data()).unwrap();
    let err = trainer.train_step().unwrap_err();
    let Error::OutOfMemory(oom) = &err else {
        panic!("expected OutOfMemory, got {err:?}");
    };
    assert_eq!((oom.step, oom.batch_size), (1, 4));
    assert!(oom.examples > 0 && oom.tokens > 0);
    let text = err.to_string();
    for part in [
        "step 1:",
        "does not fit in cpu memory",
        "lower `batch_size` (now 4)",
        "`max_batch_tokens` (now 512)",
        "CUDA_ERROR_OUT_OF_MEMORY",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text:?}");
    }
    assert_eq!(trainer.step(), 0, "a failed step does not count");

    // Any other error passes through as it was.
    model.fail_loss = Some("shape mismatch in matmul");
    let other = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(config(other.path(), 4), &model, data()).unwrap();
    let err = trainer.train_step().unwrap_err();
    assert!(
        matches!(err, Error::Candle(_)) && !err.is_out_of_memory(),
        "{err:?}"
    );
}
