//! The step tests' fixture: every step's failure, injected through the
//! fake host, and the rollback of the steps before it; no libvirt, no
//! hostapd.

pub(super) use super::*;
pub(super) use crate::fsutil;
pub(super) use crate::host::fake::{Fake, Fault};
pub(super) use crate::runtime::*;
pub(super) use std::time::Duration;

pub(super) struct Case {
    pub(super) root: tempfile::TempDir,
    pub(super) plan: Plan,
    pub(super) files: Vec<RenderedFile>,
}

pub(super) fn case() -> Case {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/guest.json"
    ))
    .unwrap();
    let facts: crate::facts::Facts = serde_json::from_str(&text).unwrap();
    let cfg = crate::config::Config::default();
    let plan = crate::plan::plan(&facts, &cfg, &State::default()).unwrap();
    let templates = crate::render::Templates::embedded();
    let files = crate::render::render(&plan, Some("a passphrase"), &templates).unwrap();
    Case {
        root: tempfile::tempdir().unwrap(),
        plan,
        files,
    }
}

impl Case {
    pub(super) fn host(&self) -> Fake {
        Fake::new(self.root.path())
    }

    pub(super) fn root(&self) -> &std::path::Path {
        self.root.path()
    }

    pub(super) fn apply(&self, host: &Fake) -> Result<Outcome, ApplyError> {
        apply(
            host,
            &self.plan,
            &self.files,
            &State::default(),
            &Timeouts::default(),
        )
    }

    pub(super) fn written(&self) -> Vec<&'static str> {
        self.files
            .iter()
            .map(|f| f.path)
            .filter(|p| fsutil::under(self.root.path(), p).exists())
            .collect()
    }

    /// The failed step's name, its rollback problems, and the commands
    /// run after the failing one (the rollback's).
    pub(super) fn fail(
        &self,
        host: &Fake,
        failing: &str,
    ) -> (&'static str, Vec<String>, Vec<String>) {
        let ApplyError::Step { step, rollback, .. } = self.apply(host).unwrap_err();
        let cmds = host.commands();
        let after = match cmds.iter().position(|c| c.starts_with(failing)) {
            Some(i) => cmds[i + 1..].to_vec(),
            None => cmds,
        };
        (step, rollback, after)
    }
}

/// The undos of a bring-up that failed at or after hostapd, in order.
pub(super) fn every_undo_after_hostapd(network: &str) -> [String; 4] {
    [
        format!("systemctl stop {HOSTAPD_UNIT}"),
        format!("virsh net-destroy {network}"),
        format!("virsh net-undefine {network}"),
        "networkctl reload".to_string(),
    ]
}

pub(super) fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
