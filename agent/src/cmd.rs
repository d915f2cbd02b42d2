//! Running the host's programs (virsh, networkctl, systemctl, iw,
//! journalctl): the one place the agent starts a process, so every command
//! is shown, quoted and reported the same way.

use std::process::{Command, ExitStatus};

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("`{cmd}` could not be started: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Failed {
        cmd: String,
        status: ExitStatus,
        /// Its standard error, else its standard output, trimmed.
        stderr: String,
    },
}

/// A command line as a shell would read it back.
pub fn quote(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `args[0]` with the rest as arguments; its standard output.
pub fn run(args: &[&str]) -> Result<String, CmdError> {
    run_env(args, &[])
}

/// [`run`] with extra environment variables (e.g. `LC_ALL=C` for output
/// that is parsed).
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Result<String, CmdError> {
    let cmd = quote(args);
    let Some((program, rest)) = args.split_first() else {
        return Err(CmdError::Spawn {
            cmd,
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        });
    };
    let out = Command::new(program)
        .args(rest)
        .envs(env.iter().copied())
        .output()
        .map_err(|source| CmdError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if stderr.is_empty() {
            stderr = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        Err(CmdError::Failed {
            cmd,
            status: out.status,
            stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_command_status_and_stderr() {
        let e = run(&["sh", "-c", "echo broken >&2; exit 3"]).unwrap_err();
        assert!(
            matches!(&e, CmdError::Failed { status, .. } if status.code() == Some(3)),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(e.contains("sh -c 'echo broken >&2; exit 3'"), "{e}");
        assert!(e.contains("broken"), "{e}");
        let e = run(&["/nonexistent/tool"]).unwrap_err().to_string();
        assert!(e.contains("could not be started"), "{e}");
    }

    #[test]
    fn environment_is_passed() {
        assert_eq!(
            run_env(&["sh", "-c", "echo $X"], &[("X", "y")]).unwrap(),
            "y\n"
        );
    }
}
