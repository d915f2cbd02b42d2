//! Errors of the harness. Each one names what failed and where to look, because
//! in CI the message is all a reader has.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "{what} not found (looked in: {looked}); install it with `apt-get install -y {package}`"
    )]
    MissingTool {
        what: String,
        looked: String,
        package: String,
    },
    #[error("{context} ({path}): {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status})\n--- output tail ---\n{output_tail}")]
    Command {
        command: String,
        status: String,
        output_tail: String,
    },
    #[error(
        "boot `{scenario}`: {reason}\n--- serial console tail ({console}) ---\n{console_tail}"
    )]
    Boot {
        scenario: String,
        reason: String,
        console: PathBuf,
        console_tail: String,
    },
    #[error("listener: {0}")]
    Listener(String),
}

impl HarnessError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        HarnessError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}
