//! [`LiveView`]: the CLI's progress display. On a terminal, one indicatif bar
//! per counter, redrawn in place; otherwise (logs, CI) one plain line per
//! update, so the output stays readable in a file.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One counter shown by the view: a label, its value and, if known, its goal.
#[derive(Debug, Clone, Copy)]
pub(super) struct Counter {
    /// What is counted ("discovered", "peers", …).
    pub label: &'static str,
    /// Current value.
    pub value: u64,
    /// Value at which the job is done, if there is one (a bar is drawn).
    pub goal: Option<u64>,
}

/// A live progress display for a fixed set of counters.
pub(super) enum LiveView {
    /// Terminal: one bar (or spinner, without a goal) per counter.
    Bars(Vec<ProgressBar>),
    /// Not a terminal: plain lines prefixed with `prefix`.
    Lines(&'static str),
}

impl LiveView {
    /// A view for counters labelled `labels` (in display order): bars when
    /// standard error is a terminal, plain lines prefixed with `prefix`
    /// otherwise.
    pub(super) fn new(prefix: &'static str, labels: &[&'static str]) -> Self {
        if !std::io::stderr().is_terminal() {
            return LiveView::Lines(prefix);
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let bars = labels
            .iter()
            .map(|label| {
                // Styled before it is added, so nothing is drawn unstyled.
                let bar = ProgressBar::new(0)
                    .with_style(count_style())
                    .with_prefix(format!("{label:>11}"));
                multi.add(bar)
            })
            .collect();
        LiveView::Bars(bars)
    }

    /// Shows the current values (`counters` in the order given to `new`).
    pub(super) fn update(&self, elapsed: Duration, counters: &[Counter]) {
        match self {
            LiveView::Bars(bars) => {
                for (bar, c) in bars.iter().zip(counters) {
                    match c.goal {
                        Some(goal) => {
                            bar.set_style(bar_style());
                            bar.set_length(goal);
                        }
                        None => bar.set_style(count_style()),
                    }
                    bar.set_position(c.value);
                }
            }
            LiveView::Lines(prefix) => {
                let mut line = format!("{prefix} [{:>6.1}s]", elapsed.as_secs_f64());
                for c in counters {
                    match c.goal {
                        Some(goal) => line.push_str(&format!("  {} {}/{goal}", c.label, c.value)),
                        None => line.push_str(&format!("  {} {}", c.label, c.value)),
                    }
                }
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
                let _ = err.flush();
            }
        }
    }

    /// Leaves the final values on screen.
    pub(super) fn finish(&self) {
        if let LiveView::Bars(bars) = self {
            for bar in bars {
                bar.abandon();
            }
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:40}] {pos:>6}/{len:<6} {elapsed:>4}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn count_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} {spinner} {pos:>6} {elapsed:>4}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}
