//! `byline train`: fine-tune the encoder and one head per task from a TOML config.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use byline_train::{tagging, TrainConfig, Trainer};

use crate::progress;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The training config (TOML); see configs/news-small.toml. Relative paths in it are taken
    /// from the current directory.
    #[arg(long)]
    pub config: PathBuf,
    /// Override a config value, e.g. `--set learning_rate=1e-4 --set tasks.0.weight=2`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Continue the latest checkpoint in the output directory.
    #[arg(long)]
    pub resume: bool,
    /// The run directory (overrides `output_dir`).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Worker threads (overrides `threads`; default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The resolved config: the file, then `--set` overrides, then `--output` and `--threads`.
pub fn resolve(args: &Args) -> Result<TrainConfig> {
    let mut cfg = TrainConfig::load(&args.config)?;
    cfg.apply_overrides(&args.set)?;
    if let Some(out) = &args.output {
        cfg.output_dir = out.clone();
    }
    if let Some(threads) = args.threads {
        cfg.threads = threads;
    }
    cfg.validate()?;
    Ok(cfg)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let cfg = resolve(&args)?;
    // Before any tensor work: the thread pool is sized once.
    crate::set_threads(cfg.threads);
    let prepared = tagging::prepare(&cfg).with_context(|| {
        format!(
            "cannot prepare training from {} (model {})",
            args.config.display(),
            cfg.model_dir.display()
        )
    })?;
    let tagging::Prepared {
        tasks,
        tagger,
        examples,
    } = prepared;
    let mut trainer = if args.resume {
        Trainer::resume(cfg, &tagger, examples)?
    } else {
        Trainer::new(cfg, &tagger, examples)?
    };
    let mut reporter = progress::reporter();
    let summary = trainer.run(|model| tagging::evaluate(model, &tasks), reporter.as_mut())?;
    drop(reporter);
    let mut summary = serde_json::to_value(&summary)?;
    let best = trainer.run_dir().join("best");
    if let Some(linker) = train_linker(trainer.config(), &tasks, &best)? {
        summary["linker"] = linker;
    }
    let text = serde_json::to_string(&summary)? + "\n";
    crate::write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Trains the learned source scorer of the first attribution task on the best model and stores
/// it there (`linker_epochs` > 0); returns what it found and the task's dev figures by rules and
/// with the linker ([`byline_train::linker::fit_and_save`]).
fn train_linker(
    cfg: &byline_train::TrainConfig,
    tasks: &[byline_train::TaskData],
    best: &std::path::Path,
) -> Result<Option<serde_json::Value>> {
    let Some(task) = tasks
        .iter()
        .find(|t| t.kind == byline_model::HeadKind::Attributions)
    else {
        return Ok(None);
    };
    if cfg.linker_epochs == 0 || !best.join("byline.json").is_file() {
        return Ok(None);
    }
    let mut tagger = byline_model::Tagger::load(best, &byline_model::LoadOptions::default())
        .with_context(|| format!("cannot load the best model in {}", best.display()))?;
    let training = byline_train::linker::LinkerTraining {
        epochs: cfg.linker_epochs,
        seed: cfg.seed,
        proposals: cfg.linker_proposals,
        drop_sources: cfg.linker_drop_sources,
        spans: cfg.linker_spans.into(),
        ..Default::default()
    };
    let dtype = tagger.dtype();
    let report = byline_train::linker::fit_and_save(
        &mut tagger,
        &task.name,
        byline_train::linker::Gold {
            train: &task.train,
            dev: &task.dev,
        },
        &training,
        best,
        dtype,
        |e| {
            tracing::info!(
                epoch = e.epoch,
                loss = e.loss,
                dev_accuracy = e.dev.linker,
                rules = e.dev.rules,
                "linker epoch"
            );
        },
    )
    .with_context(|| format!("cannot train the source scorer on {}", best.display()))?;
    Ok(Some(serde_json::to_value(report)?))
}
