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

    println!("{:<34} {:>9} {:>11}", "variant", "median s", "tokens/s");
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
        let (mut fwd, mut train_fwd, mut bwd, mut step) = (vec![], vec![], vec![], vec![]);
        for round in 0..=rounds {
            let t = Instant::now();
            let h = enc.forward(&ids, &casing, &mask, false)?;
            drop(h);
            let t_fwd = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let loss = enc
                .forward(&ids, &casing, &mask, true)?
                .mul(&probe)?
                .mean_all()?;
            let t_train_fwd = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let grads = loss.backward()?;
            let t_bwd = t.elapsed().as_secs_f64();
            let t = Instant::now();
            opt.step(&grads)?;
            let t_step = t.elapsed().as_secs_f64();
            if round > 0 {
                // Round 0 warms caches and the allocator.
                fwd.push(t_fwd);
                train_fwd.push(t_train_fwd);
                bwd.push(t_bwd);
                step.push(t_step);
            }
        }
        let (f, tf, b, s) = (median(fwd), median(train_fwd), median(bwd), median(step));
        for (name, secs) in [
            ("eval forward", f),
            ("train forward", tf),
            ("backward", b),
            ("AdamW", s),
            ("train fwd + bwd", tf + b),
            ("train step (fwd + bwd + AdamW)", tf + b + s),
        ] {
            println!(
                "{:<34} {secs:>9.3} {:>11.0}",
                format!("{name} [{tag}]"),
                tokens / secs
            );
        }
    }
    Ok(())
}
