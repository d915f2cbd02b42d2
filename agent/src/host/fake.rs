//! The unit tests' host: files go under a temporary root, commands are
//! recorded and succeed unless a [`Fault`] says otherwise, links appear
//! when waited for, and hostapd comes up. Queries fail ("not found")
//! unless given an answer, like a machine where nothing is defined yet.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Host;
use crate::cmd::{self, CmdError};
use crate::fsutil::{self, WriteError};
use crate::hostapd::CtrlError;

/// What the fake host is told to get wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Every command whose text starts with this fails with exit status 1.
    Command(String),
    /// Writing a file whose path ends with this fails.
    Write(String),
    /// Removing a file whose path ends with this fails.
    Remove(String),
    /// This link never appears.
    Link(String),
    /// hostapd never reports the AP enabled.
    Ap,
}

/// A message shown on the consoles, and what was on disk at that moment:
/// a power cut right after it must find the credentials it showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub text: String,
    /// The stored passphrase file's content and mode, if it existed.
    pub passphrase: Option<(String, u32)>,
    /// Whether the state file existed.
    pub state_saved: bool,
}

/// Environment variables given to a command, in order.
pub type Env = Vec<(String, String)>;

pub struct Fake {
    root: PathBuf,
    faults: Vec<Fault>,
    /// (prefix, output, whether the program exits with a failure)
    answers: Vec<(String, String, bool)>,
    links: Vec<String>,
    /// (bridge, port) pairs.
    ports: Vec<(String, String)>,
    log: RefCell<Vec<String>>,
    /// Every command run or asked, with the environment it was given.
    envs: RefCell<Vec<(String, Env)>>,
    shown: RefCell<Vec<Shown>>,
    /// How many more waits for the AP fail (a hostapd that is down).
    ap_down: std::cell::Cell<u32>,
    /// How many more waits for the AP go unanswered (a hostapd that runs
    /// but is busy).
    ap_silent: std::cell::Cell<u32>,
}

impl Fake {
    pub fn new(root: &Path) -> Fake {
        Fake {
            root: root.to_path_buf(),
            faults: Vec::new(),
            answers: Vec::new(),
            links: Vec::new(),
            ports: Vec::new(),
            log: RefCell::new(Vec::new()),
            envs: RefCell::new(Vec::new()),
            shown: RefCell::new(Vec::new()),
            ap_down: std::cell::Cell::new(0),
            ap_silent: std::cell::Cell::new(0),
        }
    }

    /// The next `n` waits for the AP fail, as with a killed hostapd: its
    /// socket refuses the connection.
    pub fn ap_down_for(self, n: u32) -> Fake {
        self.ap_down.set(n);
        self
    }

    /// The next `n` waits for the AP get no answer in time, as with a
    /// hostapd busy with many stations at once.
    pub fn ap_silent_for(self, n: u32) -> Fake {
        self.ap_silent.set(n);
        self
    }

    /// The messages shown, in order.
    pub fn shown(&self) -> Vec<Shown> {
        self.shown.borrow().clone()
    }

    pub fn fail(mut self, fault: Fault) -> Fake {
        self.faults.push(fault);
        self
    }

    /// Queries starting with `prefix` answer `text`.
    pub fn answer(mut self, prefix: &str, text: &str) -> Fake {
        self.answers.push((prefix.into(), text.into(), false));
        self
    }

    /// Queries starting with `prefix` fail (exit status 1) saying `text`,
    /// as a program that reports its trouble on its output.
    pub fn answer_failing(mut self, prefix: &str, text: &str) -> Fake {
        self.answers.push((prefix.into(), text.into(), true));
        self
    }

    /// The link exists before the run.
    pub fn link(mut self, name: &str) -> Fake {
        self.links.push(name.into());
        self
    }

    /// `port` exists and is plugged into `bridge` before the run.
    pub fn port(mut self, bridge: &str, port: &str) -> Fake {
        self.links.push(port.into());
        self.ports.push((bridge.into(), port.into()));
        self
    }

    /// The environment given to the first command or query starting
    /// with `prefix`.
    pub fn env_of(&self, prefix: &str) -> Option<Env> {
        self.envs
            .borrow()
            .iter()
            .find(|(c, _)| c.starts_with(prefix))
            .map(|(_, e)| e.clone())
    }

    /// Every command run or asked, in order.
    pub fn commands_asked(&self) -> Vec<String> {
        self.envs.borrow().iter().map(|(c, _)| c.clone()).collect()
    }

    fn note_env(&self, shown: &str, env: &[(&str, &str)]) {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        self.envs
            .borrow_mut()
            .push((shown.to_string(), env.collect()));
    }

    fn failure(shown: &str) -> CmdError {
        Fake::failure_saying(shown, "injected failure")
    }

    fn failure_saying(shown: &str, text: &str) -> CmdError {
        use std::os::unix::process::ExitStatusExt;
        CmdError::Failed {
            cmd: shown.to_string(),
            status: std::process::ExitStatus::from_raw(1 << 8),
            stderr: text.into(),
        }
    }
}

impl Host for Fake {
    fn root(&self) -> &Path {
        &self.root
    }

    fn dry_run(&self) -> bool {
        false
    }

    fn change_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String, CmdError> {
        let shown = cmd::quote(args);
        self.note_env(&shown, env);
        self.log.borrow_mut().push(shown.clone());
        let fails = self
            .faults
            .iter()
            .any(|f| matches!(f, Fault::Command(p) if shown.starts_with(p.as_str())));
        if fails {
            return Err(Fake::failure(&shown));
        }
        Ok(String::new())
    }

    fn query_env(&self, args: &[&str], env: &[(&str, &str)]) -> Option<Result<String, CmdError>> {
        let shown = cmd::quote(args);
        self.note_env(&shown, env);
        Some(
            match self
                .answers
                .iter()
                .find(|(p, _, _)| shown.starts_with(p.as_str()))
            {
                Some((_, text, false)) => Ok(text.clone()),
                Some((_, text, true)) => Err(Fake::failure_saying(&shown, text)),
                None => Err(Fake::failure(&shown)),
            },
        )
    }

    fn commands(&self) -> Vec<String> {
        self.log.borrow().clone()
    }

    fn write_if_changed(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<bool, WriteError> {
        self.check_file(path, "write")?;
        fsutil::write_if_changed(path, bytes, mode)
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
        self.check_file(path, "write")?;
        fsutil::write_atomic(path, bytes, mode)
    }

    fn remove(&self, path: &Path) -> Result<(), WriteError> {
        self.check_file(path, "remove")?;
        fsutil::remove(path)
    }

    fn set_sysctl(&self, key: &str, value: &str) -> Result<(), WriteError> {
        let path = super::sysctl_path(key)?;
        self.log.borrow_mut().push(super::sysctl_shown(key, value));
        self.check_file(&path, "write")
    }

    fn link_exists(&self, name: &str) -> bool {
        self.links.iter().any(|l| l == name)
    }

    fn bridge_ports(&self, bridge: &str) -> Vec<String> {
        self.ports
            .iter()
            .filter(|(b, _)| b == bridge)
            .map(|(_, p)| p.clone())
            .collect()
    }

    fn wait_link(&self, name: &str, _timeout: Duration) -> bool {
        !self.faults.contains(&Fault::Link(name.to_string()))
    }

    fn wait_ap_enabled(
        &self,
        iface: &str,
        timeout: Duration,
    ) -> Result<Vec<(String, String)>, CtrlError> {
        let path = PathBuf::from(crate::hostapd::CTRL_DIR).join(iface);
        let down = self.ap_down.get();
        if down > 0 {
            self.ap_down.set(down - 1);
            return Err(CtrlError::Io {
                path,
                action: "connect",
                source: std::io::ErrorKind::ConnectionRefused.into(),
            });
        }
        let silent = self.ap_silent.get();
        if silent > 0 {
            self.ap_silent.set(silent - 1);
        }
        if self.faults.contains(&Fault::Ap) || silent > 0 {
            return Err(CtrlError::Timeout {
                path,
                command: "STATUS".into(),
                timeout,
            });
        }
        Ok(vec![
            ("state".into(), "ENABLED".into()),
            ("freq".into(), "2437".into()),
            ("channel".into(), "6".into()),
        ])
    }

    fn show(&self, text: &str) -> usize {
        use std::os::unix::fs::PermissionsExt;
        let pass = self.root.join(crate::state::PASSPHRASE_FILE);
        let passphrase = std::fs::read_to_string(&pass).ok().and_then(|t| {
            let mode = std::fs::metadata(&pass).ok()?.permissions().mode() & 0o7777;
            Some((t, mode))
        });
        self.shown.borrow_mut().push(Shown {
            text: text.to_string(),
            passphrase,
            state_saved: self.root.join(crate::state::STATE_FILE).exists(),
        });
        1
    }
}

impl Fake {
    /// Fails a write or removal (`action`) of `path` the faults name.
    fn check_file(&self, path: &Path, action: &'static str) -> Result<(), WriteError> {
        let shown = path.to_string_lossy();
        let fails = self.faults.iter().any(|f| match f {
            Fault::Write(suffix) => action == "write" && shown.ends_with(suffix.as_str()),
            Fault::Remove(suffix) => action == "remove" && shown.ends_with(suffix.as_str()),
            _ => false,
        });
        if fails {
            return Err(WriteError {
                path: path.to_path_buf(),
                action,
                source: std::io::Error::other("injected failure"),
            });
        }
        Ok(())
    }
}
