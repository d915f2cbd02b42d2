//! The real machine: commands run, links are looked up in this network
//! namespace, hostapd is asked over its control socket.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Host;
use crate::cmd::{self, CmdError};
use crate::fsutil::{self, WriteError};
use crate::hostapd::{self, CtrlError};

pub struct Linux {
    root: PathBuf,
    log: RefCell<Vec<String>>,
}

impl Linux {
    pub fn new() -> Linux {
        Linux::with_root(Path::new("/"))
    }

    /// The real machine with files under another root.
    pub fn with_root(root: &Path) -> Linux {
        Linux {
            root: root.to_path_buf(),
            log: RefCell::new(Vec::new()),
        }
    }
}

impl Default for Linux {
    fn default() -> Self {
        Linux::new()
    }
}

/// Whether a network link exists in this process's network namespace.
/// (Not sysfs: /sys shows the namespace it was mounted in, which in a
/// container or a test's namespace is not necessarily ours.)
pub(super) fn link_exists(name: &str) -> bool {
    use rustix::net::{netdevice, socket, AddressFamily, SocketType};
    // The index is asked through a socket, which belongs to the namespace
    // of the thread that makes it.
    socket(AddressFamily::INET, SocketType::DGRAM, None)
        .and_then(|sock| netdevice::name_to_index(&sock, name))
        .is_ok()
}

/// The ports of `bridge`, from sysfs (`/sys/class/net/BRIDGE/brif`).
pub(super) fn bridge_ports(bridge: &str) -> Vec<String> {
    if bridge.is_empty() || bridge.contains('/') || bridge.starts_with('.') {
        return Vec::new();
    }
    let dir = Path::new("/sys/class/net").join(bridge).join("brif");
    let mut ports: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    ports.sort();
    ports
}

impl Host for Linux {
    fn root(&self) -> &Path {
        &self.root
    }

    fn dry_run(&self) -> bool {
        false
    }

    fn change_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String, CmdError> {
        let shown = cmd::quote(args);
        tracing::info!("running {shown}");
        self.log.borrow_mut().push(shown);
        cmd::run_env(args, env)
    }

    fn query_env(&self, args: &[&str], env: &[(&str, &str)]) -> Option<Result<String, CmdError>> {
        Some(cmd::run_env(args, env))
    }

    fn query_bounded(&self, args: &[&str], timeout: Duration) -> Option<Result<String, CmdError>> {
        Some(cmd::run_bounded(args, timeout))
    }

    fn commands(&self) -> Vec<String> {
        self.log.borrow().clone()
    }

    fn write_if_changed(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<bool, WriteError> {
        fsutil::write_if_changed(path, bytes, mode)
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
        fsutil::write_atomic(path, bytes, mode)
    }

    fn remove(&self, path: &Path) -> Result<(), WriteError> {
        fsutil::remove(path)
    }

    fn set_sysctl(&self, key: &str, value: &str) -> Result<(), WriteError> {
        use std::io::Write;
        let path = super::sysctl_path(key)?;
        let shown = super::sysctl_shown(key, value);
        tracing::info!("running {shown}");
        self.log.borrow_mut().push(shown);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .map_err(|source| WriteError {
                path,
                action: "write",
                source,
            })
    }

    fn link_exists(&self, name: &str) -> bool {
        link_exists(name)
    }

    fn bridge_ports(&self, bridge: &str) -> Vec<String> {
        bridge_ports(bridge)
    }

    fn wait_link(&self, name: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if link_exists(name) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_ap_enabled(
        &self,
        iface: &str,
        timeout: Duration,
    ) -> Result<Vec<(String, String)>, CtrlError> {
        hostapd::wait_enabled(&PathBuf::from(hostapd::CTRL_DIR).join(iface), timeout)
    }

    fn show(&self, text: &str) -> usize {
        crate::console::to_consoles(text).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_looked_up_in_this_namespace() {
        let s = Linux::new();
        assert!(s.link_exists("lo"));
        assert!(!s.link_exists("no-such-link0"));
        assert!(!s.link_exists("bad\0name"));
    }

    #[test]
    fn failures_carry_command_and_stderr() {
        let s = Linux::new();
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
