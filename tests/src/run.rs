//! Running host commands with errors that carry their output.

use std::process::{Command, Output};

use crate::error::HarnessError;

/// Runs `cmd` to completion; a non-zero exit becomes an error with the tail
/// of its output.
pub fn run(cmd: &mut Command) -> Result<Output, HarnessError> {
    let shown = format!("{cmd:?}");
    let output = cmd.output().map_err(|e| HarnessError::Command {
        command: shown.clone(),
        status: format!("could not start: {e}"),
        output_tail: String::new(),
    })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(HarnessError::Command {
            command: shown,
            status: output.status.to_string(),
            output_tail: tail_of(&output, 60),
        })
    }
}

pub fn tail_of(output: &Output, lines: usize) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
