//! Running the host tools: their output is captured and shown on failure.

use std::io::Write;
use std::process::{Command, Stdio};

use super::DiskError;

/// Shows `cmd` as a person could paste it.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion, feeding it `stdin`; fails with its output.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<std::process::Output, DiskError> {
    let command = describe(cmd);
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| DiskError::Spawn {
            command: command.clone(),
            source,
        })?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data).map_err(|source| DiskError::Spawn {
            command: command.clone(),
            source,
        })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| DiskError::Spawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(DiskError::Failed {
            command,
            status: out.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}
