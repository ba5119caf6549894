//! Progress bars: drawn on stderr, and only when stderr is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use trailq::progress::{Progress, Unit};

/// A progress bar, hidden when stderr is not a terminal.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar that draws only on a terminal (and never with `--quiet`).
    pub fn new(quiet: bool) -> Self {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Self {
            bar: ProgressBar::with_draw_target(Some(0), target),
        }
    }
}

impl Progress for Bar {
    fn begin(&self, total: u64, unit: Unit, what: &str) {
        let template = match unit {
            Unit::Bytes => "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({binary_bytes_per_sec}, {eta}) {msg}".to_string(),
            Unit::Items(name) => format!("{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {name} ({{eta}}) {{msg}}"),
        };
        self.bar
            .set_style(ProgressStyle::with_template(&template).expect("the template is valid"));
        self.bar.set_length(total);
        self.bar.set_message(what.to_string());
    }

    fn add_work(&self, more: u64) {
        self.bar.inc_length(more);
    }

    fn advance(&self, done: u64) {
        self.bar.inc(done);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
