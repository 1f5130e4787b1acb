//! `byline bench train`: training throughput of a model through the real training step
//! (collate, forward, backward, clipping, byline-train's AdamW) on synthetic batches.

use std::process::ExitCode;

use anyhow::{Context, Result};
use byline_core::Scheme;
use byline_model::{
    DecoderKind, HeadSpec, LoadOptions, TagExample, Tagger, TaggerConfig, WindowConfig,
};
use byline_train::{TaskConfig, Timings, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};

use super::table::TextTable;

/// Peak multiply-add throughput of one core of the reference machine (AMD EPYC, AVX-512,
/// 3.56 GHz × 32 FLOP/cycle ≈ 114; PERF-NOTES.md): 230 GFLOP/s for two cores.
const PEAK_GFLOPS_PER_THREAD: f64 = 115.0;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Training tokens/s and where a step's time goes.
    Train(TrainArgs),
    /// Load test of `byline serve`: throughput and latency at 1, 8, 64... concurrent clients.
    Serve(super::bench_serve::Args),
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// A Hugging Face model folder (config.json, model.safetensors, tokenizer.json) or hub id
    /// ORG/NAME[@REVISION].
    #[arg(long)]
    pub model: String,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed steps first (allocator and caches warm up).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Subwords per sequence, special tokens included.
    #[arg(long, default_value_t = 128)]
    pub seq: usize,
    /// Train the word embeddings too (frozen by default, as in training configs).
    #[arg(long)]
    pub train_word_embeddings: bool,
    /// The head's decoder.
    #[arg(long, default_value = "crf")]
    pub decoder: String,
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Train(args) => train(args),
        Command::Serve(args) => super::bench_serve::run(args),
    }
}

/// Synthetic windows of `seq` subwords: `[CLS]`, random ids, `[SEP]`; a word starts at three
/// subwords of four; gold tags follow a valid IOB2 pattern over the first label.
fn synthetic(tagger: &Tagger, n: usize, seq: usize, seed: u64) -> Result<Vec<TagExample>> {
    let probe = tagger
        .tokenizer()
        .encode_words("a", &[byline_core::Span::new(0, 1)])?;
    let (cls, sep) = (probe.ids[0], probe.ids[probe.len() - 1]);
    let vocab = tagger.config().vocab_size as u32;
    let low = (vocab / 10).min(1000);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let inner = seq.saturating_sub(2).max(1);
    Ok((0..n)
        .map(|_| {
            let mut ids = vec![cls];
            ids.extend((0..inner).map(|_| rng.random_range(low..vocab)));
            ids.push(sep);
            let first: Vec<Option<usize>> = (1..=inner).filter(|p| p % 4 != 0).map(Some).collect();
            let gold = (0..first.len())
                .map(|w| match w % 5 {
                    0 => 1,
                    1 => 2,
                    _ => 0,
                })
                .collect();
            TagExample {
                head: 0,
                casing: vec![0; ids.len()],
                ids,
                first,
                gold,
            }
        })
        .collect())
}

/// Training FLOP per token of a BERT encoder at sequence length `seq`: forward matrix products
/// (2 × weights of Q, K, V, O and the feed-forward block) plus attention scores and mixing
/// (4 × seq × hidden) per layer, times 3 for forward + backward. MiniLM-L6 at 40: ≈ 65 MFLOP.
fn train_flop_per_token(cfg: &byline_model::Config, seq: usize) -> f64 {
    let (h, i, l) = (
        cfg.hidden_size as f64,
        cfg.intermediate_size as f64,
        cfg.num_hidden_layers as f64,
    );
    let forward = l * (2.0 * (4.0 * h * h + 2.0 * h * i) + 4.0 * seq as f64 * h);
    3.0 * forward
}

fn train(args: TrainArgs) -> Result<ExitCode> {
    let decoder = match args.decoder.as_str() {
        "crf" => DecoderKind::Crf,
        "softmax" => DecoderKind::Softmax,
        other => anyhow::bail!("unknown decoder `{other}`: expected crf or softmax"),
    };
    let spec = TaggerConfig {
        heads: vec![HeadSpec::entities(
            "entities",
            Scheme::Iob2,
            &["LOC", "MISC", "ORG", "PER"],
            decoder,
        )],
        window: WindowConfig {
            max_subwords: args.seq.saturating_sub(2).max(1),
            overlap: 0,
        },
        casing: true,
        linker: None,
    };
    let opts = LoadOptions {
        freeze_word_embeddings: !args.train_word_embeddings,
        ..LoadOptions::default()
    };
    let model = super::tag::model_dir(Some(&args.model))?;
    let tagger = Tagger::from_pretrained(&model, &opts, spec)
        .with_context(|| format!("cannot load {}", model.display()))?;
    let steps = args.warmup + args.steps;
    let examples = synthetic(&tagger, args.batch * steps, args.seq, 7)?;
    let run_dir = tempfile::tempdir().context("cannot create a temporary run directory")?;
    let cfg = TrainConfig {
        model_dir: model.clone(),
        output_dir: run_dir.path().to_path_buf(),
        max_steps: Some(steps),
        batch_size: args.batch,
        bucket_batches: 1,
        learning_rate: 5e-5,
        head_learning_rate: Some(1e-3),
        warmup_steps: Some(0),
        eval_every: 0,
        checkpoint_every: 0,
        threads: args.threads,
        freeze_word_embeddings: !args.train_word_embeddings,
        tasks: vec![TaskConfig::new("entities", "synthetic")],
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(cfg, &tagger, vec![examples])?;
    for _ in 0..args.warmup {
        trainer.train_step()?;
    }
    let before = trainer.timings();
    let mut tokens = 0usize;
    for _ in 0..args.steps {
        tokens += trainer.train_step()?.tokens;
    }
    let t = delta(trainer.timings(), before);
    let steps = args.steps.max(1) as f64;
    let step_s = t.step_s();
    let tokens_per_s = tokens as f64 / step_s.max(1e-9);
    let gflops = tokens_per_s * train_flop_per_token(tagger.config(), args.seq) / 1e9;
    let peak = PEAK_GFLOPS_PER_THREAD * args.threads as f64;
    let (trainable, frozen) = tagger_counts(&tagger);

    let mut table = TextTable::new(["training step", "value"]);
    let mut row = |k: &str, v: String| table.row(vec![k.to_string(), v]);
    row("model", args.model.clone());
    row("threads", args.threads.to_string());
    row("batch x seq", format!("{} x {}", args.batch, args.seq));
    row(
        "parameters trainable / frozen",
        format!("{trainable} / {frozen}"),
    );
    row("timed steps", args.steps.to_string());
    row("tokens/s", format!("{tokens_per_s:.0}"));
    row("step s", format!("{:.3}", step_s / steps));
    row("  data s", format!("{:.3}", t.data_s / steps));
    row("  forward s", format!("{:.3}", t.forward_s / steps));
    row("  backward s", format!("{:.3}", t.backward_s / steps));
    row("  optimiser s", format!("{:.3}", t.optimizer_s / steps));
    row(
        "MFLOP/token",
        format!(
            "{:.1}",
            train_flop_per_token(tagger.config(), args.seq) / 1e6
        ),
    );
    row("GFLOP/s", format!("{gflops:.1}"));
    row(
        "share of peak",
        format!("{:.1} % of {peak:.0} GFLOP/s", 100.0 * gflops / peak),
    );
    crate::write_stdout(&table.render())?;
    Ok(ExitCode::SUCCESS)
}

fn delta(after: Timings, before: Timings) -> Timings {
    Timings {
        data_s: after.data_s - before.data_s,
        forward_s: after.forward_s - before.forward_s,
        backward_s: after.backward_s - before.backward_s,
        optimizer_s: after.optimizer_s - before.optimizer_s,
        eval_s: after.eval_s - before.eval_s,
        checkpoint_s: after.checkpoint_s - before.checkpoint_s,
        steps: after.steps - before.steps,
    }
}

/// Trainable and frozen scalars (frozen: everything saved but not trained).
fn tagger_counts(tagger: &Tagger) -> (usize, usize) {
    let trainable: usize = tagger
        .trainable()
        .iter()
        .map(|(_, v, _)| v.elem_count())
        .sum();
    let all: usize = tagger
        .encoder_tensors()
        .values()
        .map(|t| t.elem_count())
        .sum::<usize>()
        + tagger
            .trainable()
            .iter()
            .filter(|t| t.2)
            .map(|(_, v, _)| v.elem_count())
            .sum::<usize>();
    (trainable, all.saturating_sub(trainable))
}
