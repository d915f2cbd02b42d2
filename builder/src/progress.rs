//! How the builder shows sizes and progress to people, the same in every
//! command: sizes in binary units, one progress-bar style.

use std::borrow::Cow;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Sizes for people: `1.5 GiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

/// A bar of `total` bytes on stderr labelled `msg`; hidden unless `show`
/// (`--json`, no terminal).
pub fn bar(show: bool, total: u64, msg: impl Into<Cow<'static, str>>) -> ProgressBar {
    let pb = if show {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    // The template is fixed and known good; a bar without it still counts.
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg);
    pb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_binary_units() {
        assert_eq!(human(0), "0.0 B");
        assert_eq!(human(1023), "1023.0 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(16_000_000_000), "14.9 GiB");
        assert_eq!(human(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn bars_count_bytes_and_hide_when_asked() {
        let pb = bar(true, 10, "layer");
        pb.inc(4);
        assert_eq!((pb.position(), pb.length()), (4, Some(10)));
        assert_eq!(pb.message(), "layer");
        pb.finish_and_clear();
        assert!(bar(false, 10, "layer").is_hidden());
    }
}
