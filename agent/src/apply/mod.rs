//! The bring-up: write the rendered files atomically, let the upstream
//! links whose kernel handles router advertisements keep taking them under
//! IPv6 forwarding, define and start the libvirt network, wait for its bridge, let networkd create the AP
//! interface, start hostapd, verify it beacons. Every step runs only when
//! something changed (a second apply touches nothing), and a failure rolls
//! back what this run changed.
//!
//! The order matters (seen on real hardware): a hostapd started before
//! libvirt made the bridge creates it itself, libvirt then fails with "File
//! exists" and no DHCP is served.
//!
//! This file is the engine (what a run records, how a failure rolls back);
//! each step and its undo live in their own file, in the order they run.

mod files;
mod hostapd;
mod libvirt;
mod link;
mod ra;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cmd::CmdError;
use crate::fsutil::WriteError;
use crate::host::Host;
use crate::hostapd::CtrlError;
use crate::libvirt::{Libvirt, LibvirtError};
use crate::plan::Plan;
use crate::render::RenderedFile;
use crate::state::{content_hash, RunningChannel, State};

/// How long each wait may take; TCG guests are slow.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub bridge: Duration,
    pub link: Duration,
    pub ap: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            bridge: Duration::from_secs(20),
            link: Duration::from_secs(20),
            ap: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub changed: bool,
    pub detail: String,
    pub ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub steps: Vec<StepReport>,
    /// Commands run, or in a dry run those that would have run.
    pub commands: Vec<String>,
    pub changed: bool,
    /// hostapd was (re)started: the credentials are worth announcing.
    pub hostapd_started: bool,
    pub dry_run: bool,
    /// The channel hostapd reported once the AP was up.
    pub running: Option<RunningChannel>,
}

/// Why a bring-up step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    #[error(transparent)]
    Command(#[from] CmdError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Libvirt(#[from] LibvirtError),
    /// A link that did not appear in time, described.
    #[error("{0}")]
    Missing(String),
    #[error("hostapd did not reach state=ENABLED: {0}")]
    NotEnabled(#[from] CtrlError),
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{step}: {cause}{}{}", journal_text(.unit, .journal), rollback_text(.rollback))]
    Step {
        step: &'static str,
        #[source]
        cause: Box<StepFailure>,
        unit: Option<&'static str>,
        journal: Option<String>,
        rollback: Vec<String>,
    },
}

fn journal_text(unit: &Option<&'static str>, j: &Option<String>) -> String {
    match (unit, j) {
        (Some(u), Some(j)) => format!("\nLast lines of {u}'s journal:\n{j}"),
        (Some(u), None) => format!("\nSee `journalctl -u {u}`."),
        _ => String::new(),
    }
}

fn rollback_text(r: &[String]) -> String {
    if r.is_empty() {
        "\nThis run's changes were rolled back.".into()
    } else {
        format!("\nRollback was incomplete:\n  {}", r.join("\n  "))
    }
}

/// A file's previous content and mode; `None` when it did not exist.
type Backup = Option<(Vec<u8>, u32)>;

/// What this run changed, so a failure can put it back.
#[derive(Default)]
struct Undo {
    files: Vec<(PathBuf, Backup)>,
    /// The network did not exist: undefine (and destroy) it.
    libvirt_new: bool,
    /// The network existed with this XML and activity.
    libvirt_old: Option<(String, bool)>,
    libvirt_started: bool,
    networkd_reloaded: bool,
    link_created: bool,
    /// hostapd was (re)started; the bool says whether it ran before.
    hostapd: Option<bool>,
    /// NetworkManager's device for the AP interface was marked unmanaged.
    nm_unmanaged: Option<(crate::nm::Nm, String)>,
    /// Links whose `accept_ra` was set, with the value before.
    accept_ra: Vec<(String, i32)>,
    /// The records of those values this run made.
    accept_ra_records: Vec<PathBuf>,
}

/// Which consumers' files the files step changed: it decides what the
/// later steps must do.
#[derive(Debug, Clone, Copy, Default)]
struct Changed {
    libvirt: bool,
    networkd: bool,
    hostapd: bool,
    netdev: bool,
}

/// One bring-up in progress: the steps run in order, each records what it
/// did in `undo`, and a failing step rolls back everything before it.
struct Run<'a> {
    host: &'a dyn Host,
    /// The one libvirt connection of this run, on `host`.
    libvirt: Libvirt<'a>,
    plan: &'a Plan,
    timeouts: &'a Timeouts,
    undo: Undo,
    steps: Vec<StepReport>,
    /// What `verify` read from hostapd's `STATUS`.
    running: Option<RunningChannel>,
}

/// Rollback problems are collected, not returned: every undo is tried.
fn note<T, E: std::fmt::Display>(problems: &mut Vec<String>, r: Result<T, E>) {
    if let Err(e) = r {
        problems.push(e.to_string());
    }
}

impl<'a> Run<'a> {
    fn new(host: &'a dyn Host, plan: &'a Plan, timeouts: &'a Timeouts) -> Run<'a> {
        Run {
            host,
            libvirt: Libvirt::new(host),
            plan,
            timeouts,
            undo: Undo::default(),
            steps: Vec::new(),
            running: None,
        }
    }

    fn record(&mut self, step: &'static str, start: Instant, changed: bool, detail: String) {
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(step, ms = format!("{ms:.1}"), changed, "{detail}");
        self.steps.push(StepReport {
            step,
            changed,
            detail,
            ms,
        });
    }

    /// Rolls back and describes a failed step.
    fn fail(
        &mut self,
        step: &'static str,
        cause: impl Into<StepFailure>,
        unit: Option<&'static str>,
    ) -> ApplyError {
        let journal = unit.and_then(|u| self.host.journal_tail(u, 25));
        let rollback = self.rollback();
        ApplyError::Step {
            step,
            cause: Box::new(cause.into()),
            unit,
            journal,
            rollback,
        }
    }

    /// Undoes this run's changes, latest step first, except that hostapd
    /// is stopped before and started again after everything else, so it
    /// never runs on half-restored files. Returns what could not be undone.
    fn rollback(&mut self) -> Vec<String> {
        let undo = std::mem::take(&mut self.undo);
        let mut problems = Vec::new();
        self.undo_hostapd_stop(&undo, &mut problems);
        self.undo_files(&undo, &mut problems);
        self.undo_libvirt(&undo, &mut problems);
        self.undo_accept_ra(&undo, &mut problems);
        self.undo_networkmanager(&undo, &mut problems);
        self.undo_networkd(&undo, &mut problems);
        self.undo_hostapd_start(&undo, &mut problems);
        problems
    }
}

/// Applies a rendered plan. `previous` is the state before this run.
pub fn apply(
    host: &dyn Host,
    plan: &Plan,
    files: &[RenderedFile],
    previous: &State,
    timeouts: &Timeouts,
) -> Result<Outcome, ApplyError> {
    let mut run = Run::new(host, plan, timeouts);
    let changed = run.write_files(files)?;
    run.accept_ra()?;
    let network_started = run.libvirt(files, previous, changed)?;
    let networkd_did = run.networkd(changed)?;
    run.networkmanager()?;
    let hostapd_started = run.hostapd(changed, network_started || networkd_did)?;
    run.verify()?;
    let any = run.steps.iter().any(|s| s.changed);
    Ok(Outcome {
        steps: run.steps,
        commands: host.commands(),
        changed: any,
        hostapd_started,
        dry_run: host.dry_run(),
        running: run.running,
    })
}

/// The state after a successful apply: the plan's, with the channel
/// hostapd reported running on.
pub fn new_state(
    plan: &Plan,
    running: Option<&RunningChannel>,
    previous: &State,
    config_hash: &str,
    files: &[RenderedFile],
) -> State {
    let mut s = plan.to_state(previous, config_hash);
    if let Some(r) = running {
        s.channel = Some(r.channel);
        s.running = Some(r.clone());
    }
    s.files = files
        .iter()
        .map(|f| (f.path.to_string(), content_hash(&f.content)))
        .collect();
    s
}

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    use super::testing::*;

    #[test]
    fn a_fresh_machine_runs_every_step_in_order() {
        let c = case();
        let host = c.host();
        let out = c.apply(&host).unwrap();
        let steps: Vec<&str> = out.steps.iter().map(|s| s.step).collect();
        assert_eq!(steps, ["files", "libvirt", "networkd", "hostapd", "verify"]);
        let n = c.plan.network_name.as_str();
        assert_eq!(
            strs(&out.commands),
            [
                "virsh net-define /run/softap/network.xml".to_string(),
                format!("virsh net-autostart {n}"),
                format!("virsh net-start {n}"),
                "networkctl reload".to_string(),
                format!("systemctl restart {HOSTAPD_UNIT}"),
            ]
        );
        assert!(out.hostapd_started && out.changed);
        assert_eq!(c.written().len(), c.files.len());
    }

    #[test]
    fn failed_undos_are_reported() {
        let c = case();
        let host = c
            .host()
            .fail(Fault::Ap)
            .fail(Fault::Command("virsh net-undefine".into()));
        let e = c.apply(&host).unwrap_err().to_string();
        assert!(e.contains("Rollback was incomplete"), "{e}");
        assert!(e.contains("virsh net-undefine"), "{e}");
        assert!(
            e.starts_with("verify: hostapd did not reach state=ENABLED"),
            "{e}"
        );
    }
}
