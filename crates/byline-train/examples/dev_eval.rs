//! Scores a saved model on the dev sets of a training config, exactly as training's evaluation
//! does (for a model trained before a change to decoding or metrics, or an exported copy).
//!
//! `cargo run --release -p byline-train --example dev_eval -- CONFIG.toml MODEL_DIR [TASK]
//! [--bias HEAD.LABEL=VALUE]...`: `--bias` sets a head's decode bias for this evaluation (to
//! choose one for `byline export --decode-bias`).
use std::collections::BTreeMap;

use byline_model::{LoadOptions, Tagger};
use byline_train::config::TrainConfig;
use byline_train::tagging::{evaluate, load_tasks};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut biases: BTreeMap<String, BTreeMap<String, f32>> = BTreeMap::new();
    while let Some(i) = args.iter().position(|a| a == "--bias") {
        let spec = args
            .get(i + 1)
            .ok_or("--bias needs HEAD.LABEL=VALUE")?
            .clone();
        args.drain(i..i + 2);
        let (key, value) = spec
            .split_once('=')
            .ok_or("--bias needs HEAD.LABEL=VALUE")?;
        let (head, label) = key.split_once('.').ok_or("--bias needs HEAD.LABEL=VALUE")?;
        biases
            .entry(head.to_string())
            .or_default()
            .insert(label.to_string(), value.parse()?);
    }
    let [config, model, rest @ ..] = &args[..] else {
        return Err(
            "usage: dev_eval CONFIG.toml MODEL_DIR [TASK] [--bias HEAD.LABEL=VALUE]...".into(),
        );
    };
    let cfg = TrainConfig::load(config)?;
    let mut tagger = Tagger::load(model.as_ref(), &LoadOptions::default())?;
    for (head, bias) in biases {
        tagger.set_decode_bias(&head, bias)?;
    }
    let mut tasks = load_tasks(&cfg)?;
    if let Some(only) = rest.first() {
        tasks.retain(|t| &t.name == only);
    }
    for (figure, value) in evaluate(&tagger, &tasks)? {
        println!("{figure}\t{value:.6}");
    }
    Ok(())
}
