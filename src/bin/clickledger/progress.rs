//! Progress bars on standard error. indicatif draws nothing when standard error is not a
//! terminal, so scripts and tests see only the summary.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `total` events.
pub(crate) fn events(total: u64) -> ProgressBar {
    styled(
        total,
        "{msg:>9} [{bar:40}] {human_pos}/{human_len} events, {eta} left",
    )
}

/// A bar counting `total` bytes of input read.
pub(crate) fn bytes(total: u64) -> ProgressBar {
    styled(
        total,
        "{msg:>9} [{bar:40}] {bytes}/{total_bytes}, {eta} left",
    )
}

fn styled(total: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    // The templates above are constants; a mistake in one shows as the default style.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
