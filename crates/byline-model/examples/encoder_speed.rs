//! Times the encoder on a synthetic batch: eval forward, training forward + backward, and a full
//! step with AdamW, with all parameters trainable and with the word embeddings frozen.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release -p byline-model --example encoder_speed -- \
//!     [MODEL_DIR] [BATCH] [SEQ] [ROUNDS]
//! ```
//! MODEL_DIR defaults to `$BYLINE_SHARED/models/all-minilm-l6-v2` or `../shared/...`.
//!
//! Environment that matters on a small, shared CPU box:
//! * `CANDLE_BARRIER_POOL_SPIN_LIMIT=64` (or `CANDLE_NUM_THREADS=1`): candle 0.11's elementwise
//!   thread pool spins 25,000 times before parking; on a busy 2-core host that spinning took
//!   37 % of all samples and made the backward pass 2.5x slower.
//! * `MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
//!   MALLOC_TOP_PAD_=268435456`: glibc keeps freed buffers instead of returning and re-faulting them.
//!
//! Prints one table per variant: seconds (median over rounds), tokens/s, achieved GFLOP/s and
//! its share of the machine's peak (`BYLINE_PEAK_GFLOPS`, default 230: 2 AVX-512 cores). FLOPs
//! per token are counted from the config: 2 per weight of every dense layer plus the two
//! attention products (about 21.7 M for MiniLM-L6 at 40 tokens); backward is twice the
//! forward, so a training step is three forwards (about 65 M).

use std::path::PathBuf;
use std::time::Instant;

use byline_model::{Casing, LoadOptions, Pretrained};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

fn arg<T: std::str::FromStr>(n: usize, default: T) -> T {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Wall-clock and CPU time (all threads of the process) between laps. On a shared host the CPU
/// time moves less than the wall clock when other processes take turns on the cores.
struct Lap {
    wall: Instant,
    cpu: f64,
}

impl Lap {
    fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: process_cpu_seconds(),
        }
    }

    /// (wall, CPU) seconds since the previous lap.
    fn next(&mut self) -> (f64, f64) {
        let (wall, cpu) = (Instant::now(), process_cpu_seconds());
        let lap = ((wall - self.wall).as_secs_f64(), cpu - self.cpu);
        (self.wall, self.cpu) = (wall, cpu);
        lap
    }
}

/// Sum of the run time of every thread (`/proc/self/task/*/schedstat`, nanoseconds); 0 where
/// that is unavailable.
fn process_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}

/// Forward FLOPs per token: 2 per weight of each dense layer, plus `Q K^T` and `P V`
/// (2 * 2 * seq * hidden per layer).
fn forward_flops_per_token(cfg: &byline_model::Config, seq: usize) -> f64 {
    let (h, i) = (cfg.hidden_size as f64, cfg.intermediate_size as f64);
    let dense = 4.0 * h * h + 2.0 * h * i;
    let attention = 2.0 * seq as f64 * h;
    cfg.num_hidden_layers as f64 * 2.0 * (dense + attention)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let default_dir = std::env::var_os("BYLINE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared"))
        .join("models/all-minilm-l6-v2");
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or(default_dir);
    let (batch, seq, rounds) = (arg(2, 16usize), arg(3, 40usize), arg(4, 5usize));
    let tokens = (batch * seq) as f64;
    let dev = Device::Cpu;
    eprintln!(
        "model {} | batch {batch} x {seq} | {rounds} rounds | rayon threads {}",
        dir.display(),
        rayon::current_num_threads()
    );
    let ids = Tensor::rand(1000f32, 29000.0, (batch, seq), &dev)?.to_dtype(DType::U32)?;
    let casing =
        Tensor::rand(0f32, (Casing::COUNT - 1) as f32, (batch, seq), &dev)?.to_dtype(DType::U32)?;
    let mask = ids.ones_like()?;

    let peak_gflops: f64 = std::env::var("BYLINE_PEAK_GFLOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(230.0);
    for freeze in [false, true] {
        let opts = LoadOptions {
            freeze_word_embeddings: freeze,
            ..LoadOptions::default()
        };
        let model = Pretrained::load(&dir, &opts)?;
        let enc = &model.encoder;
        let probe = Tensor::randn(0f32, 1.0, (batch, seq, model.config.hidden_size), &dev)?;
        let tag = if freeze {
            "frozen word emb"
        } else {
            "all trainable"
        };
        let mut opt = AdamW::new(model.params.varmap().all_vars(), ParamsAdamW::default())?;
        // Per phase: (wall, CPU) seconds of each timed round.
        let mut times: [Vec<(f64, f64)>; 4] = Default::default();
        for round in 0..=rounds {
            let mut lap = Lap::start();
            let h = enc.forward(&ids, &casing, &mask, false)?;
            drop(h);
            let t_fwd = lap.next();
            let loss = enc
                .forward(&ids, &casing, &mask, true)?
                .mul(&probe)?
                .mean_all()?;
            let t_train_fwd = lap.next();
            let grads = loss.backward()?;
            let t_bwd = lap.next();
            opt.step(&grads)?;
            let t_step = lap.next();
            if round > 0 {
                // Round 0 warms caches and the allocator.
                for (phase, t) in times.iter_mut().zip([t_fwd, t_train_fwd, t_bwd, t_step]) {
                    phase.push(t);
                }
            }
        }
        let [f, tf, b, s] = times.map(|t| {
            let (wall, cpu): (Vec<f64>, Vec<f64>) = t.into_iter().unzip();
            (median(wall), median(cpu))
        });
        let fwd_flops = forward_flops_per_token(&model.config, seq);
        println!("\n{tag}, batch {batch} x {seq}, medians of {rounds} rounds");
        println!(
            "{:<28} {:>8} {:>10} {:>8} {:>7} {:>7} {:>8}",
            "phase", "s", "tokens/s", "GFLOP/s", "% peak", "% step", "CPU s"
        );
        let total = (tf.0 + b.0 + s.0, tf.1 + b.1 + s.1);
        for (name, (secs, cpu), flops) in [
            ("eval forward", f, fwd_flops),
            ("train forward", tf, fwd_flops),
            ("backward", b, 2.0 * fwd_flops),
            ("optimiser (candle AdamW)", s, 0.0),
            ("train step (fwd+bwd+AdamW)", total, 3.0 * fwd_flops),
        ] {
            let gflops = flops * tokens / secs / 1e9;
            let share = if name == "eval forward" {
                "".to_string()
            } else {
                format!("{:.0}", 100.0 * secs / total.0)
            };
            println!(
                "{name:<28} {secs:>8.3} {:>10.0} {gflops:>8.1} {:>7.1} {share:>7} {cpu:>8.3}",
                tokens / secs,
                100.0 * gflops / peak_gflops,
            );
        }
    }
    Ok(())
}
