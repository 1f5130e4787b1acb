//! Training progress on stderr: a bar (loss, tokens/s, ETA) on a terminal, JSON lines otherwise.

use std::io::IsTerminal;

use byline_train::{Event, JsonLines, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar when stderr is a terminal, else one JSON object per event on stderr.
pub fn reporter() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::new())
    } else {
        Box::new(JsonLines::stderr())
    }
}

/// An indicatif bar over the steps.
#[derive(Debug)]
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new() -> Self {
        let color = std::env::var_os("NO_COLOR").is_none();
        let template = if color {
            "{spinner:.green} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {msg} (ETA {eta})"
        } else {
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (ETA {eta})"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(style);
        Bar { bar }
    }
}

impl Progress for Bar {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Start(e) => {
                self.bar.set_length(e.total_steps as u64);
                self.bar.set_position(e.step as u64);
                self.bar.reset_eta();
            }
            Event::Step(e) => {
                self.bar.set_position(e.step as u64);
                self.bar.set_message(format!(
                    "{} loss {:.4} {:.0} tok/s",
                    e.task, e.loss, e.tokens_per_s
                ));
            }
            Event::Eval(e) => {
                let figures: Vec<String> = e
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{k} {:.4}", v))
                    .collect();
                let best = if e.is_best { " (best)" } else { "" };
                self.bar
                    .println(format!("step {}: {}{best}", e.step, figures.join(", ")));
            }
            Event::Checkpoint(e) => {
                self.bar
                    .println(format!("step {}: checkpoint {}", e.step, e.path.display()));
            }
            Event::Done(_) => self.bar.finish(),
        }
    }
}
