//! Running the host's programs (virsh, networkctl, systemctl, iw,
//! journalctl): the one place the agent starts a process, so every command
//! is shown, quoted and reported the same way.

use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
    #[error("`{cmd}` did not finish within {after:?} and was killed")]
    TimedOut {
        cmd: String,
        after: std::time::Duration,
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
        Err(failed(cmd, out.status, &out.stdout, &out.stderr))
    }
}

/// A run that exited with a failure: what it said on standard error, else
/// on standard output (some programs report their trouble there).
fn failed(cmd: String, status: ExitStatus, stdout: &[u8], stderr: &[u8]) -> CmdError {
    let mut said = String::from_utf8_lossy(stderr).trim().to_string();
    if said.is_empty() {
        said = String::from_utf8_lossy(stdout).trim().to_string();
    }
    CmdError::Failed {
        cmd,
        status,
        stderr: said,
    }
}

/// [`run_env`] for a program that might hang: after `timeout` it is killed
/// and reported as [`CmdError::TimedOut`]. Its output is read while it runs,
/// so a chatty program cannot stall on a full pipe.
pub fn run_bounded(args: &[&str], timeout: Duration) -> Result<String, CmdError> {
    let cmd = quote(args);
    let spawn_error = |source| CmdError::Spawn {
        cmd: cmd.clone(),
        source,
    };
    let Some((program, rest)) = args.split_first() else {
        return Err(spawn_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        )));
    };
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(spawn_error)? {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let Some(status) = status else {
        // Killing a child that has just exited fails harmlessly; the wait
        // reaps it either way.
        let _ = child.kill();
        let _ = child.wait();
        return Err(CmdError::TimedOut {
            cmd,
            after: timeout,
        });
    };
    let collect = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    let (out, err) = (collect(stdout), collect(stderr));
    if status.success() {
        return Ok(String::from_utf8_lossy(&out).into_owned());
    }
    Err(failed(cmd, status, &out, &err))
}

/// Reads a pipe to its end on a thread of its own.
fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error ends the output early; what was read still counts.
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
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

    #[test]
    fn bounded_runs_report_output_status_and_timeouts() {
        let t = Duration::from_secs(5);
        assert_eq!(
            run_bounded(&["sh", "-c", "echo fine"], t).unwrap(),
            "fine\n"
        );
        let e = run_bounded(&["sh", "-c", "echo said; exit 1"], t).unwrap_err();
        assert!(
            matches!(&e, CmdError::Failed { stderr, .. } if stderr == "said"),
            "{e:?}"
        );
        let start = Instant::now();
        let e = run_bounded(&["sleep", "30"], Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, CmdError::TimedOut { .. }), "{e:?}");
        assert!(start.elapsed() < Duration::from_secs(10));
        let e = run_bounded(&["/nonexistent/tool"], t).unwrap_err();
        assert!(matches!(e, CmdError::Spawn { .. }), "{e:?}");
    }
}
