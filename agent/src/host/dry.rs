//! The `--root DIR` dry run: files are written under DIR, commands are
//! only recorded, there is no system to ask, and every link "exists".

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Host;
use crate::cmd::{self, CmdError};
use crate::fsutil::{self, WriteError};
use crate::hostapd::CtrlError;

pub struct DryRun {
    root: PathBuf,
    log: RefCell<Vec<String>>,
}

impl DryRun {
    pub fn new(root: &Path) -> DryRun {
        DryRun {
            root: root.to_path_buf(),
            log: RefCell::new(Vec::new()),
        }
    }
}

impl Host for DryRun {
    fn root(&self) -> &Path {
        &self.root
    }

    fn dry_run(&self) -> bool {
        true
    }

    fn change_env(&self, args: &[&str], _env: &[(&str, &str)]) -> Result<String, CmdError> {
        let shown = cmd::quote(args);
        tracing::info!("dry run: would run {shown}");
        self.log.borrow_mut().push(shown);
        Ok(String::new())
    }

    fn query_env(&self, _args: &[&str], _env: &[(&str, &str)]) -> Option<Result<String, CmdError>> {
        None
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
        super::sysctl_path(key)?;
        let shown = super::sysctl_shown(key, value);
        tracing::info!("dry run: would run {shown}");
        self.log.borrow_mut().push(shown);
        Ok(())
    }

    fn link_exists(&self, name: &str) -> bool {
        super::linux::link_exists(name)
    }

    fn bridge_ports(&self, _bridge: &str) -> Vec<String> {
        Vec::new()
    }

    fn wait_link(&self, _name: &str, _timeout: Duration) -> bool {
        true
    }

    fn wait_ap_enabled(
        &self,
        _iface: &str,
        _timeout: Duration,
    ) -> Result<Vec<(String, String)>, CtrlError> {
        Ok(Vec::new())
    }

    fn show(&self, _text: &str) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_records_and_runs_nothing() {
        let s = DryRun::new(Path::new("/tmp"));
        assert_eq!(s.change(&["false"]).unwrap(), "");
        assert!(s.query(&["true"]).is_none());
        assert_eq!(s.commands(), vec!["false".to_string()]);
    }
}
