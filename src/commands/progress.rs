//! The progress bar of long commands (index build, `verify`, `export`, `relay --once`): drawn on
//! stderr when stderr is a terminal, and nothing at all otherwise, so pipes, files and tests see
//! the same output with or without it. The library reports through [`crate::progress::Progress`].

use crate::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// What a bar counts.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Bytes,
    Records,
}

/// A bar that appears only once there is something to show (a task that ends before its first
/// report leaves the terminal untouched), and is cleared when dropped.
pub struct Bar {
    bar: Option<ProgressBar>,
    unit: Unit,
}

impl Bar {
    /// A bar labelled `what` when stderr is a terminal; otherwise one that draws nothing.
    pub fn new(what: &str, unit: Unit) -> Bar {
        let bar = std::io::stderr().is_terminal().then(|| {
            // Hidden until the first report; drawn at most 10 times a second.
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            b.set_prefix(what.to_string());
            b
        });
        Bar { bar, unit }
    }

    fn style(&self, known_total: bool) -> ProgressStyle {
        // `wide_bar` takes what the terminal width leaves, so the line never wraps.
        let template = match (self.unit, known_total) {
            (Unit::Bytes, true) => "{prefix} [{wide_bar}] {percent:>3}% {bytes}/{total_bytes} ({eta} left) {msg}",
            (Unit::Records, true) => {
                "{prefix} [{wide_bar}] {percent:>3}% {human_pos}/{human_len} records ({eta} left) {msg}"
            }
            (Unit::Bytes, false) => "{prefix} {spinner} {bytes} ({elapsed}) {msg}",
            (Unit::Records, false) => "{prefix} {spinner} {human_pos} records ({elapsed}) {msg}",
        };
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
    }

    fn show(&self, b: &ProgressBar) {
        if b.is_hidden() {
            b.set_style(self.style(b.length().is_some()));
            b.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            b.enable_steady_tick(Duration::from_millis(200));
        }
    }
}

impl Progress for Bar {
    fn enabled(&self) -> bool {
        self.bar.is_some()
    }

    fn total(&self, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            if !b.is_hidden() {
                b.set_style(self.style(true));
            }
        }
    }

    fn done(&self, done: u64) {
        if let Some(b) = &self.bar {
            self.show(b);
            b.set_position(done);
        }
    }

    fn phase(&self, what: &str) {
        if let Some(b) = &self.bar {
            if !b.is_hidden() {
                b.set_message(what.to_string());
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}
