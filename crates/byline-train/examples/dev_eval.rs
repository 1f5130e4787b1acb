//! Scores a saved model on the dev sets of a training config, exactly as training's evaluation
//! does (for a model trained before a change to decoding or metrics, or an exported copy).
//!
//! `cargo run --release -p byline-train --example dev_eval -- CONFIG.toml MODEL_DIR [TASK]`
use byline_model::{LoadOptions, Tagger};
use byline_train::config::TrainConfig;
use byline_train::tagging::{evaluate, load_tasks};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, model, rest @ ..] = &args[..] else {
        return Err("usage: dev_eval CONFIG.toml MODEL_DIR [TASK]".into());
    };
    let cfg = TrainConfig::load(config)?;
    let tagger = Tagger::load(model.as_ref(), &LoadOptions::default())?;
    let mut tasks = load_tasks(&cfg)?;
    if let Some(only) = rest.first() {
        tasks.retain(|t| &t.name == only);
    }
    for (figure, value) in evaluate(&tagger, &tasks)? {
        println!("{figure}\t{value:.6}");
    }
    Ok(())
}
