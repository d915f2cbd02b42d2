//! The bring-up's one seam to the machine: every command it runs, every
//! file it writes, every link and hostapd it waits for goes through
//! [`Host`]. [`Linux`] is the real machine, [`DryRun`] (`--root DIR`)
//! writes under DIR and runs nothing, and the unit tests' double
//! (`host::fake`) records calls and fails the step it is told to.

mod dry;
#[cfg(test)]
pub mod fake;
mod linux;

use std::path::Path;
use std::time::Duration;

use crate::cmd::CmdError;
use crate::fsutil::WriteError;
use crate::hostapd::CtrlError;

pub use dry::DryRun;
pub use linux::Linux;

/// How [`Host::set_sysctl`] shows itself among the commands.
pub fn sysctl_shown(key: &str, value: &str) -> String {
    format!("sysctl -w {key}={value}")
}

/// The file of a kernel parameter, or why `key` names none: no empty,
/// `.` or `..` component, no leading `/`, nothing but the parameter's own
/// path under /proc/sys.
pub fn sysctl_path(key: &str) -> Result<std::path::PathBuf, WriteError> {
    let bad = key.is_empty()
        || key
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\0'));
    if bad {
        return Err(WriteError {
            path: Path::new("/proc/sys").join(key.trim_start_matches('/')),
            action: "write",
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not the name of a kernel parameter",
            ),
        });
    }
    Ok(Path::new("/proc/sys").join(key))
}

/// What the bring-up needs from the machine.
pub trait Host {
    /// Where the rendered files go: `/`, or the dry run's directory.
    fn root(&self) -> &Path;
    /// True when nothing runs and there is no system to ask (`--root`).
    fn dry_run(&self) -> bool;
    /// Runs a command that changes something (a dry run only records it).
    fn change(&self, args: &[&str]) -> Result<String, CmdError> {
        self.change_env(args, &[])
    }
    /// Runs a read-only query; `None` where there is no system to ask.
    fn query(&self, args: &[&str]) -> Option<Result<String, CmdError>> {
        self.query_env(args, &[])
    }
    /// [`Host::change`] with extra environment variables (a locale for
    /// output that is parsed, a connection); the command is shown and
    /// recorded without them.
    fn change_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String, CmdError>;
    /// [`Host::query`] with extra environment variables.
    fn query_env(&self, args: &[&str], env: &[(&str, &str)]) -> Option<Result<String, CmdError>>;
    /// [`Host::query`] for a program that might hang: killed after
    /// `timeout`. Doubles that run nothing ignore the bound.
    fn query_bounded(&self, args: &[&str], _timeout: Duration) -> Option<Result<String, CmdError>> {
        self.query(args)
    }
    /// The commands run (or, in a dry run, that would have run), in order.
    fn commands(&self) -> Vec<String>;
    /// Writes a file atomically unless it already has these bytes and
    /// mode; whether it changed.
    fn write_if_changed(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<bool, WriteError>;
    /// Writes a file atomically.
    fn write_atomic(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError>;
    /// Removes a file the agent wrote.
    fn remove(&self, path: &Path) -> Result<(), WriteError>;
    /// Sets a kernel parameter, named by its path under /proc/sys
    /// (`net/ipv6/conf/eth0/accept_ra`), in place: procfs takes a write,
    /// not a rename. Listed among the commands as `sysctl -w KEY=VALUE`.
    fn set_sysctl(&self, key: &str, value: &str) -> Result<(), WriteError>;
    /// Whether a network link exists in this process's network namespace.
    fn link_exists(&self, name: &str) -> bool;
    /// Waits for a link to appear; false when it did not within `timeout`.
    fn wait_link(&self, name: &str, timeout: Duration) -> bool;
    /// The interfaces plugged into a bridge (its ports), sorted; none when
    /// the bridge does not exist or there is no system to ask.
    fn bridge_ports(&self, bridge: &str) -> Vec<String>;
    /// Waits for hostapd serving `iface` to report the AP enabled; its
    /// STATUS answer.
    fn wait_ap_enabled(
        &self,
        iface: &str,
        timeout: Duration,
    ) -> Result<Vec<(String, String)>, CtrlError>;

    /// Shows a message to the people at the machine (every active
    /// console); how many consoles took it. A dry run shows nothing: the
    /// credentials banner must not end up in its output or log.
    fn show(&self, text: &str) -> usize;

    /// The last lines of a unit's journal, for error messages.
    fn journal_tail(&self, unit: &str, lines: u32) -> Option<String> {
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
}
