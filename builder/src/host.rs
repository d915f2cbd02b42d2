//! The one seam to the build host's programs (mmdebstrap, sfdisk, mkfs.fat,
//! mtools, mkfs.ext4, debugfs, dumpe2fs): finding them, running them, showing
//! their command lines and reporting their failures, the same way for all.
//!
//! A missing program is reported naming the Debian package that ships it; a
//! failed one with its command line (quoted so a person can paste it), its
//! exit status and what it printed on stderr. Every child is registered
//! with [`crate::scratch`] while it runs, so SIGINT or SIGTERM stops it
//! with the build.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

use crate::scratch;

/// A program and the Debian/Ubuntu package that ships it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

impl Tool {
    pub const fn new(program: &'static str, package: &'static str) -> Self {
        Self { program, package }
    }

    /// A command running this tool, found by [`find`].
    pub fn command(&self) -> Result<Command, HostError> {
        find(self.program)
            .map(Command::new)
            .ok_or_else(|| HostError::Missing(vec![self.clone()]))
    }
}

/// Directories searched besides `$PATH`: the mkfs tools live in sbin, which
/// an unprivileged user's `$PATH` often lacks.
const SBIN: &[&str] = &["/usr/sbin", "/sbin"];

/// The full path of `program`, from `$PATH` or the sbin directories.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The tools of `wanted` that are not installed.
pub fn missing(wanted: &[Tool]) -> Vec<Tool> {
    wanted
        .iter()
        .filter(|t| find(t.program).is_none())
        .cloned()
        .collect()
}

/// Fails naming every tool of `wanted` that is not installed.
pub fn require(wanted: &[Tool]) -> Result<(), HostError> {
    let missing = missing(wanted);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(HostError::Missing(missing))
    }
}

/// One sentence naming the missing programs and the exact install command.
pub fn missing_message(missing: &[Tool]) -> String {
    let programs: Vec<&str> = missing.iter().map(|t| t.program).collect();
    let mut packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    packages.sort_unstable();
    packages.dedup();
    format!(
        "missing host tools: {} (install them with: apt-get install --no-install-recommends {})",
        programs.join(", "),
        packages.join(" ")
    )
}

/// A program and its arguments as they were run; shown quoted for a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub program: OsString,
    pub args: Vec<OsString>,
}

impl CommandLine {
    pub fn of(cmd: &Command) -> Self {
        Self {
            program: cmd.get_program().to_owned(),
            args: cmd.get_args().map(OsStr::to_owned).collect(),
        }
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quote(&self.program))?;
        for a in &self.args {
            write!(f, " {}", quote(a))?;
        }
        Ok(())
    }
}

/// Quotes one word for a POSIX shell, leaving plain words as they are.
pub fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=/.,:+@%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{}", missing_message(.0))]
    Missing(Vec<Tool>),
    #[error("cannot run `{command}`")]
    Spawn {
        command: CommandLine,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Failed {
        command: CommandLine,
        status: ExitStatus,
        /// What it printed on stderr (for tools that report on stdout, that
        /// too, first), or the last lines of it for long-running ones.
        stderr: String,
    },
    /// The program exited 0 but reported a failure (debugfs does that).
    #[error("`{command}` reported a failure:\n{stderr}")]
    Reported {
        command: CommandLine,
        stderr: String,
    },
}

/// Runs `cmd` to completion, feeding it `stdin`; fails with its output.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<Output, HostError> {
    let command = CommandLine::of(cmd);
    let spawn_err = |source| HostError::Spawn {
        command: command.clone(),
        source,
    };
    let (mut child, _running) = scratch::spawn(
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped()),
    )
    .map_err(spawn_err)?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(data).map_err(spawn_err)?;
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(HostError::Failed {
            command,
            status: out.status,
            stderr: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

/// Runs a long `cmd` (its stdout discarded), passing each stderr line to
/// `on_line` as it comes and keeping the last `keep` lines for the error.
pub fn run_streaming(
    cmd: &mut Command,
    keep: usize,
    mut on_line: impl FnMut(&str),
) -> Result<(), HostError> {
    let command = CommandLine::of(cmd);
    let spawn_err = |source| HostError::Spawn {
        command: command.clone(),
        source,
    };
    let (mut child, _running) = scratch::spawn(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )
    .map_err(spawn_err)?;
    let mut tail = VecDeque::with_capacity(keep);
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            on_line(&line);
            if tail.len() == keep {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    let status = child.wait().map_err(spawn_err)?;
    if status.success() {
        Ok(())
    } else {
        Err(HostError::Failed {
            command,
            status,
            stderr: Vec::from(tail).join("\n"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The role [`a_signal_stops_the_children`] gives this test binary when
    /// it runs it again: the environment variable names the file that gets
    /// the child's process id.
    const CHILD_ROLE: &str = "SOFTAP_HOST_TEST_PID_FILE";

    #[test]
    fn a_signal_stops_the_children() {
        use std::fs;
        use std::time::{Duration, Instant};

        use rustix::process::{kill_process, Pid, Signal};

        if let Some(pid_file) = std::env::var_os(CHILD_ROLE) {
            // The re-run: a builder with its handler, running a long child
            // that writes its process id first, until the signal comes.
            crate::scratch::remove_on_signals().unwrap();
            let mut cmd = Command::new("sh");
            cmd.args([
                "-c",
                r#"echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec sleep 60"#,
            ])
            .arg(&pid_file);
            let _ = run(&mut cmd, None);
            unreachable!("the signal ends this process");
        }
        let d = tempfile::tempdir().unwrap();
        let pid_file = d.path().join("pid");
        let mut builder = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "host::tests::a_signal_stops_the_children"])
            .env(CHILD_ROLE, &pid_file)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let child: i32 = loop {
            if let Ok(text) = fs::read_to_string(&pid_file) {
                break text.trim().parse().unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no child started"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        kill_process(Pid::from_child(&builder), Signal::TERM).unwrap();
        let status = builder.wait().unwrap();
        assert_eq!(status.code(), Some(143));
        // Gone: no process, or a zombie waiting for init to reap it.
        let stat = Path::new("/proc").join(child.to_string()).join("stat");
        let start = Instant::now();
        while fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z ")) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sleep {child} still runs"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn message_names_programs_and_unique_packages() {
        let m = missing_message(&[
            Tool::new("mkfs.vfat", "dosfstools"),
            Tool::new("mcopy", "mtools"),
            Tool::new("fsck.vfat", "dosfstools"),
        ]);
        assert_eq!(
            m,
            "missing host tools: mkfs.vfat, mcopy, fsck.vfat (install them with: apt-get install --no-install-recommends dosfstools mtools)"
        );
    }

    #[test]
    fn finds_sh_and_not_nonsense() {
        assert!(find("sh").is_some());
        assert!(find("no-such-program-softap").is_none());
        assert_eq!(missing(&[Tool::new("sh", "dash")]), vec![]);
    }

    #[test]
    fn command_lines_are_quoted_for_pasting() {
        let mut c = Command::new("mmdebstrap");
        c.args(["--mode=root", "--customize-hook=rm -f \"$1/x\"", "it's", ""]);
        assert_eq!(
            CommandLine::of(&c).to_string(),
            r#"mmdebstrap --mode=root '--customize-hook=rm -f "$1/x"' 'it'\''s' ''"#
        );
    }

    #[test]
    fn failures_keep_status_and_stderr() {
        let e = run(
            Command::new("sh").args(["-c", "echo oops >&2; exit 3"]),
            None,
        )
        .expect_err("exit 3 is a failure");
        match e {
            HostError::Failed {
                command,
                status,
                stderr,
            } => {
                assert_eq!(command.args.len(), 2);
                assert_eq!(status.code(), Some(3));
                assert_eq!(stderr, "oops\n");
            }
            other => panic!("{other:?}"),
        }
        let e = run_streaming(
            Command::new("sh").args(["-c", "echo a >&2; echo b >&2; false"]),
            1,
            |_| {},
        )
        .expect_err("false fails");
        assert!(matches!(e, HostError::Failed { stderr, .. } if stderr == "b"));
    }
}
