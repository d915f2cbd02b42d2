//! Printing an error with its causes, each once.
//!
//! The builder's errors say what failed at their own level and expose the
//! cause through `source()` (thiserror's `#[source]`/`#[from]`), never in
//! their own message, so the printer walks the chain and prints each link.

use std::error::Error;

/// `e` and every cause below it, joined by ": ".
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading {path}")]
    struct Walks {
        path: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("build")]
    struct Top(#[source] Walks);

    fn enoent() -> std::io::Error {
        std::io::Error::from_raw_os_error(2)
    }

    #[test]
    fn each_cause_is_printed_once() {
        let t = Top(Walks {
            path: "/x",
            source: enoent(),
        });
        assert_eq!(
            chain(&t),
            "build: reading /x: No such file or directory (os error 2)"
        );
    }
}
