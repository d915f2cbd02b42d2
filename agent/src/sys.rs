//! Running the system's tools (virsh, networkctl, systemctl, journalctl),
//! or, in a `--root` dry run, only recording what would run.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("`{cmd}` could not be started: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Failed {
        cmd: String,
        status: String,
        stderr: String,
    },
}

pub struct Sys {
    /// `Some(root)`: a dry run writing under root and running nothing.
    pub root: PathBuf,
    pub dry_run: bool,
    log: RefCell<Vec<String>>,
}

fn quote(args: &[&str]) -> String {
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

impl Sys {
    pub fn new(root: &Path, dry_run: bool) -> Sys {
        Sys {
            root: root.to_path_buf(),
            dry_run,
            log: RefCell::new(Vec::new()),
        }
    }

    /// The commands run (or, in a dry run, that would have run).
    pub fn commands(&self) -> Vec<String> {
        self.log.borrow().clone()
    }

    /// Runs a command that changes something; in a dry run only records it.
    pub fn change(&self, args: &[&str]) -> Result<String, CmdError> {
        let cmd = quote(args);
        self.log.borrow_mut().push(cmd.clone());
        if self.dry_run {
            tracing::info!("dry run: would run {cmd}");
            return Ok(String::new());
        }
        tracing::info!("running {cmd}");
        self.run(args)
    }

    /// Runs a read-only query; in a dry run there is no system to ask, so
    /// `None`.
    pub fn query(&self, args: &[&str]) -> Option<Result<String, CmdError>> {
        if self.dry_run {
            return None;
        }
        Some(self.run(args))
    }

    fn run(&self, args: &[&str]) -> Result<String, CmdError> {
        let cmd = quote(args);
        let out = Command::new(args[0])
            .args(&args[1..])
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
                status: out.status.to_string(),
                stderr,
            })
        }
    }

    /// The last lines of a unit's journal, for error messages.
    pub fn journal_tail(&self, unit: &str, lines: u32) -> Option<String> {
        let n = lines.to_string();
        self.query(&[
            "journalctl",
            "--no-pager",
            "-o",
            "short-monotonic",
            "-n",
            &n,
            "-u",
            unit,
        ])
        .and_then(|r| r.ok())
        .map(|s| s.trim_end().to_string())
        .filter(|s| !s.is_empty())
    }

    /// Whether a network link exists in this process's network namespace.
    /// (Not sysfs: /sys shows the namespace it was mounted in, which in a
    /// container or a test's namespace is not necessarily ours.)
    pub fn link_exists(&self, name: &str) -> bool {
        let Ok(c) = std::ffi::CString::new(name) else {
            return false;
        };
        // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
        unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
    }

    /// Waits for a link to appear; in a dry run returns at once.
    pub fn wait_link(&self, name: &str, timeout: Duration) -> bool {
        if self.dry_run {
            return true;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if self.link_exists(name) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_records_and_runs_nothing() {
        let s = Sys::new(Path::new("/tmp"), true);
        assert_eq!(s.change(&["false"]).unwrap(), "");
        assert!(s.query(&["true"]).is_none());
        assert_eq!(s.commands(), vec!["false".to_string()]);
    }

    #[test]
    fn links_are_looked_up_in_this_namespace() {
        let s = Sys::new(Path::new("/"), false);
        assert!(s.link_exists("lo"));
        assert!(!s.link_exists("no-such-link0"));
        assert!(!s.link_exists("bad\0name"));
    }

    #[test]
    fn failures_carry_command_and_stderr() {
        let s = Sys::new(Path::new("/"), false);
        let e = s
            .change(&["sh", "-c", "echo broken >&2; exit 3"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sh -c 'echo broken >&2; exit 3'"), "{e}");
        assert!(e.contains("broken"), "{e}");
        let e = s.change(&["/nonexistent/tool"]).unwrap_err().to_string();
        assert!(e.contains("could not be started"), "{e}");
    }
}
