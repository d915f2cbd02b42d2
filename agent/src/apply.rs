//! The bring-up: write the rendered files atomically, define and start the
//! libvirt network, wait for its bridge, let networkd create the AP
//! interface, start hostapd, verify it beacons. Every step runs only when
//! something changed (a second apply touches nothing), and a failure rolls
//! back what this run changed.
//!
//! The order matters (DESIGN.md, "Seen working"): a hostapd started before
//! libvirt made the bridge creates it itself, libvirt then fails with "File
//! exists" and no DHCP is served.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::fsutil::{self, WriteError};
use crate::hostapd;
use crate::plan::{Plan, SecurityMode};
use crate::render::{Consumer, RenderedFile};
use crate::state::{self, State};
use crate::sys::{CmdError, Sys};

/// The unit the image ships to run hostapd on our configuration (Debian
/// masks `hostapd.service` on install).
pub const HOSTAPD_UNIT: &str = "softap-hostapd.service";
pub const NETWORKD_UNIT: &str = "systemd-networkd.service";
pub const LIBVIRT_UNIT: &str = "libvirtd.service";

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
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{step}: {message}{}{}", journal_text(.unit, .journal), rollback_text(.rollback))]
    Step {
        step: &'static str,
        message: String,
        unit: Option<&'static str>,
        journal: Option<String>,
        rollback: Vec<String>,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{path}: cannot read the passphrase: {source}")]
    Passphrase {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] state::StateError),
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

/// The passphrase: configured, else the stored one, else a new one stored
/// 0600 (never in the image). Returns (passphrase, generated now).
pub fn ensure_passphrase(
    root: &std::path::Path,
    configured: Option<&str>,
    security: SecurityMode,
) -> Result<(Option<String>, bool), ApplyError> {
    if security == SecurityMode::Open {
        return Ok((None, false));
    }
    if let Some(p) = configured {
        return Ok((Some(p.to_string()), false));
    }
    let path = root.join(state::PASSPHRASE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(p) => {
            let p = p.trim_end_matches('\n').to_string();
            if (8..=63).contains(&p.len()) {
                return Ok((Some(p), false));
            }
            tracing::warn!(
                "{}: stored passphrase is not 8-63 characters; generating a new one",
                path.display()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(ApplyError::Passphrase { path, source }),
    }
    let p = generate_passphrase().map_err(|source| ApplyError::Passphrase {
        path: PathBuf::from("/dev/urandom"),
        source,
    })?;
    fsutil::write_atomic(&path, format!("{p}\n").as_bytes(), 0o600)?;
    Ok((Some(p), true))
}

/// 24 characters from an alphabet without look-alikes (l/1, O/0), so it can
/// be typed from a screen: about 139 bits.
pub fn generate_passphrase() -> std::io::Result<String> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let limit = 256 - (256 % ALPHABET.len());
    let mut out = String::new();
    let mut f = std::fs::File::open("/dev/urandom")?;
    let mut buf = [0u8; 64];
    while out.len() < 24 {
        f.read_exact(&mut buf)?;
        for b in buf {
            // Rejection sampling keeps every character equally likely.
            if (b as usize) < limit && out.len() < 24 {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// The network XML with the existing network's UUID, for redefinition.
pub const NETWORK_DEFINE_XML: &str = "/run/softap/network.define.xml";

/// Inserts `<uuid>` right after `<name>...</name>`.
fn with_uuid(xml: &str, uuid: &str) -> String {
    match xml.find("</name>") {
        Some(i) => {
            let at = i + "</name>".len();
            format!("{}\n  <uuid>{uuid}</uuid>{}", &xml[..at], &xml[at..])
        }
        None => xml.to_string(),
    }
}

#[derive(Debug, Default)]
struct NetInfo {
    uuid: Option<String>,
    active: bool,
    autostart: bool,
    bridge: Option<String>,
}

fn parse_net_info(text: &str) -> NetInfo {
    let mut n = NetInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "UUID" => n.uuid = Some(v.to_string()).filter(|u| !u.is_empty()),
            "Active" => n.active = v == "yes",
            "Autostart" => n.autostart = v == "yes",
            "Bridge" => n.bridge = Some(v.to_string()).filter(|b| !b.is_empty()),
            _ => {}
        }
    }
    n
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
}

struct Run<'a> {
    sys: &'a Sys,
    plan: &'a Plan,
    undo: Undo,
    steps: Vec<StepReport>,
}

impl Run<'_> {
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

    fn fail(
        &mut self,
        step: &'static str,
        message: String,
        unit: Option<&'static str>,
    ) -> ApplyError {
        let journal = unit.and_then(|u| self.sys.journal_tail(u, 25));
        let rollback = self.rollback();
        ApplyError::Step {
            step,
            message,
            unit,
            journal,
            rollback,
        }
    }

    fn rollback(&mut self) -> Vec<String> {
        let sys = self.sys;
        let mut problems = Vec::new();
        fn note(problems: &mut Vec<String>, r: Result<String, CmdError>) {
            if let Err(e) = r {
                problems.push(e.to_string());
            }
        }
        let undo = std::mem::take(&mut self.undo);
        if undo.hostapd.is_some() {
            note(
                &mut problems,
                sys.change(&["systemctl", "stop", HOSTAPD_UNIT]),
            );
        }
        for (path, old) in undo.files.iter().rev() {
            let r = match old {
                Some((bytes, mode)) => {
                    fsutil::write_atomic(path, bytes, *mode).map_err(|e| e.to_string())
                }
                None => std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display())),
            };
            if let Err(e) = r {
                problems.push(e);
            }
        }
        let name = self.plan.network_name.as_str();
        if undo.libvirt_new {
            if undo.libvirt_started {
                note(&mut problems, sys.change(&["virsh", "net-destroy", name]));
            }
            note(&mut problems, sys.change(&["virsh", "net-undefine", name]));
        } else if let Some((xml, was_active)) = &undo.libvirt_old {
            let tmp =
                std::env::temp_dir().join(format!("softap-rollback-{}.xml", std::process::id()));
            match std::fs::write(&tmp, xml) {
                Ok(()) => {
                    let t = tmp.to_string_lossy().into_owned();
                    note(&mut problems, sys.change(&["virsh", "net-define", &t]));
                    let _ = std::fs::remove_file(&tmp);
                }
                Err(e) => problems.push(format!("{}: {e}", tmp.display())),
            }
            if undo.libvirt_started {
                note(&mut problems, sys.change(&["virsh", "net-destroy", name]));
                if *was_active {
                    note(&mut problems, sys.change(&["virsh", "net-start", name]));
                }
            }
        }
        if undo.networkd_reloaded {
            if undo.link_created {
                note(&mut problems, delete_wlan(sys, &self.plan.interface));
            }
            note(&mut problems, sys.change(&["networkctl", "reload"]));
        }
        if undo.hostapd == Some(true) {
            note(
                &mut problems,
                sys.change(&["systemctl", "start", HOSTAPD_UNIT]),
            );
        }
        problems
    }
}

/// Deletes a wireless interface so that `networkctl reload` makes it again
/// from the current netdev file. systemd 252's `networkctl delete` answers
/// "Operation not supported" for a `Kind=wlan` netdev; nl80211 deletes it
/// (via `iw`, shipped in the image). An interface already gone is fine.
fn delete_wlan(sys: &Sys, iface: &str) -> Result<String, CmdError> {
    if !sys.dry_run && !sys.link_exists(iface) {
        return Ok(String::new());
    }
    sys.change(&["iw", "dev", iface, "del"])
}

/// Applies a rendered plan. `previous` is the state before this run.
pub fn apply(
    sys: &Sys,
    plan: &Plan,
    files: &[RenderedFile],
    previous: &State,
    timeouts: &Timeouts,
) -> Result<Outcome, ApplyError> {
    let mut run = Run {
        sys,
        plan,
        undo: Undo::default(),
        steps: Vec::new(),
    };

    // 1. Files.
    let start = Instant::now();
    let mut changed = Vec::new();
    let mut netdev_changed = false;
    for f in files {
        let path = fsutil::under(&sys.root, f.path);
        let old = std::fs::read(&path).ok().map(|b| {
            let mode = std::fs::metadata(&path)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
                .unwrap_or(0o644);
            (b, mode)
        });
        match fsutil::write_if_changed(&path, f.content.as_bytes(), f.mode) {
            Ok(true) => {
                run.undo.files.push((path, old));
                changed.push(f.consumer);
                netdev_changed |= f.path == crate::render::NETDEV;
            }
            Ok(false) => {}
            Err(e) => {
                let message = e.to_string();
                return Err(run.fail("files", message, None));
            }
        }
    }
    let n = changed.len();
    run.record(
        "files",
        start,
        n > 0,
        format!("{n} of {} files changed", files.len()),
    );
    let libvirt_changed = changed.contains(&Consumer::Libvirt);
    let networkd_changed = changed.contains(&Consumer::Networkd);
    let hostapd_changed = changed.contains(&Consumer::Hostapd);

    // 2. libvirt network.
    let start = Instant::now();
    let name = plan.network_name.as_str();
    let xml_path = crate::render::NETWORK_XML;
    let info = match sys.query(&["virsh", "-q", "net-info", name]) {
        // Dry run: no libvirt to ask; the previous state says whether this
        // root has seen our network defined and started.
        None => previous.subnet.map(|_| NetInfo {
            uuid: None,
            active: true,
            autostart: true,
            bridge: previous.bridge.clone(),
        }),
        Some(Ok(text)) => Some(parse_net_info(&text)),
        // "Network not found": not defined yet.
        Some(Err(_)) => None,
    };
    let mut libvirt_did = Vec::new();
    let subnet_moved = previous.subnet != Some(plan.subnet.net);
    let bridge_moved = info
        .as_ref()
        .is_some_and(|i| i.bridge.as_deref() != Some(plan.bridge.as_str()));
    let needs_define = info.is_none() || libvirt_changed;
    let restart =
        info.as_ref().is_some_and(|i| i.active) && needs_define && (subnet_moved || bridge_moved);
    if needs_define {
        let old = info.as_ref().and_then(|i| {
            sys.query(&["virsh", "net-dumpxml", "--inactive", name])
                .and_then(|r| r.ok())
                .map(|xml| (xml, i.active))
        });
        // libvirt refuses a definition of an existing name without its
        // UUID ("already exists with uuid"): redefine with the UUID it has.
        let define_path = match info.as_ref().and_then(|i| i.uuid.as_deref()) {
            Some(uuid) => {
                let xml = files
                    .iter()
                    .find(|f| f.consumer == Consumer::Libvirt)
                    .map(|f| with_uuid(&f.content, uuid))
                    .unwrap_or_default();
                let path = fsutil::under(&sys.root, NETWORK_DEFINE_XML);
                if let Err(e) = fsutil::write_atomic(&path, xml.as_bytes(), 0o644) {
                    return Err(run.fail("libvirt", e.to_string(), None));
                }
                NETWORK_DEFINE_XML
            }
            None => xml_path,
        };
        if let Err(e) = sys.change(&["virsh", "net-define", define_path]) {
            return Err(run.fail("libvirt", e.to_string(), Some(LIBVIRT_UNIT)));
        }
        // Only what succeeded is undone.
        run.undo.libvirt_new = info.is_none();
        run.undo.libvirt_old = old;
        libvirt_did.push(if info.is_some() {
            "redefined"
        } else {
            "defined"
        });
    }
    if restart {
        if let Err(e) = sys.change(&["virsh", "net-destroy", name]) {
            return Err(run.fail("libvirt", e.to_string(), Some(LIBVIRT_UNIT)));
        }
        run.undo.libvirt_started = true;
        libvirt_did.push("stopped for the new subnet");
    }
    if !info.as_ref().is_some_and(|i| i.autostart) {
        if let Err(e) = sys.change(&["virsh", "net-autostart", name]) {
            return Err(run.fail("libvirt", e.to_string(), Some(LIBVIRT_UNIT)));
        }
        libvirt_did.push("autostart set");
    }
    let started = restart || !info.as_ref().is_some_and(|i| i.active);
    if started {
        if let Err(e) = sys.change(&["virsh", "net-start", name]) {
            // libvirtd's own autostart may have started it meanwhile (it
            // reports ready before its networks are up).
            let now_active = sys
                .query(&["virsh", "-q", "net-info", name])
                .and_then(|r| r.ok())
                .is_some_and(|t| parse_net_info(&t).active);
            if !now_active {
                return Err(run.fail("libvirt", e.to_string(), Some(LIBVIRT_UNIT)));
            }
        }
        run.undo.libvirt_started = true;
        libvirt_did.push("started");
    }
    if !sys.wait_link(&plan.bridge, timeouts.bridge) {
        let m = format!(
            "the bridge {} did not appear within {:?} after starting the libvirt network {name}",
            plan.bridge, timeouts.bridge
        );
        return Err(run.fail("libvirt", m, Some(LIBVIRT_UNIT)));
    }
    let detail = if libvirt_did.is_empty() {
        format!("network {name} on {} unchanged and active", plan.bridge)
    } else {
        format!(
            "network {name} on {}: {}",
            plan.bridge,
            libvirt_did.join(", ")
        )
    };
    run.record("libvirt", start, !libvirt_did.is_empty(), detail);

    // 3. networkd makes the AP interface on the phy found now.
    let start = Instant::now();
    let iface = plan.interface.as_str();
    let existed = sys.dry_run || sys.link_exists(iface);
    let mut networkd_did = Vec::new();
    if networkd_changed || !existed {
        if netdev_changed && existed && !sys.dry_run {
            // A netdev is created once; on another phy it must be recreated.
            if let Err(e) = delete_wlan(sys, iface) {
                return Err(run.fail("networkd", e.to_string(), Some(NETWORKD_UNIT)));
            }
            networkd_did.push("old interface deleted");
        }
        if let Err(e) = sys.change(&["networkctl", "reload"]) {
            return Err(run.fail("networkd", e.to_string(), Some(NETWORKD_UNIT)));
        }
        run.undo.networkd_reloaded = true;
        run.undo.link_created = !existed || networkd_changed;
        networkd_did.push("reloaded");
    }
    if !sys.wait_link(iface, timeouts.link) {
        let m = format!(
            "the interface {iface} did not appear on {} within {:?} (check that the phy still exists: `iw dev`, `networkctl status {iface}`)",
            plan.phy.name, timeouts.link
        );
        return Err(run.fail("networkd", m, Some(NETWORKD_UNIT)));
    }
    let detail = if networkd_did.is_empty() {
        format!("{iface} on {} unchanged", plan.phy.name)
    } else {
        format!("{iface} on {}: {}", plan.phy.name, networkd_did.join(", "))
    };
    run.record("networkd", start, !networkd_did.is_empty(), detail);

    // 4. hostapd: restarted when its configuration, the bridge or the
    // interface changed (a restarted bridge loses its ports).
    let start = Instant::now();
    let active = match sys.query(&["systemctl", "is-active", "--quiet", HOSTAPD_UNIT]) {
        Some(r) => r.is_ok(),
        None => !hostapd_changed,
    };
    let restart_hostapd = hostapd_changed || !active || started || !networkd_did.is_empty();
    if restart_hostapd {
        run.undo.hostapd = Some(active);
        if let Err(e) = sys.change(&["systemctl", "restart", HOSTAPD_UNIT]) {
            return Err(run.fail("hostapd", e.to_string(), Some(HOSTAPD_UNIT)));
        }
    }
    run.record(
        "hostapd",
        start,
        restart_hostapd,
        if restart_hostapd {
            format!("{HOSTAPD_UNIT} (re)started")
        } else {
            format!("{HOSTAPD_UNIT} unchanged and active")
        },
    );

    // 5. Verify: hostapd's own word that the AP beacons.
    let start = Instant::now();
    if sys.dry_run {
        run.record("verify", start, false, "dry run: not verified".into());
    } else {
        let socket = PathBuf::from(hostapd::CTRL_DIR).join(iface);
        match hostapd::wait_enabled(&socket, timeouts.ap) {
            Ok(status) => {
                let ch = hostapd::get(&status, "channel").unwrap_or("?").to_string();
                run.record(
                    "verify",
                    start,
                    false,
                    format!("hostapd state=ENABLED on channel {ch}"),
                );
            }
            Err(e) => {
                let m = format!("hostapd did not reach state=ENABLED: {e}");
                return Err(run.fail("verify", m, Some(HOSTAPD_UNIT)));
            }
        }
    }

    let any = run.steps.iter().any(|s| s.changed);
    Ok(Outcome {
        steps: run.steps,
        commands: sys.commands(),
        changed: any,
        hostapd_started: restart_hostapd,
        dry_run: sys.dry_run,
    })
}

/// The state after a successful apply.
pub fn new_state(
    plan: &Plan,
    previous: &State,
    config_hash: &str,
    files: &[RenderedFile],
) -> State {
    use sha2::{Digest, Sha256};
    let mut s = plan.to_state(previous, config_hash);
    s.files = files
        .iter()
        .map(|f| {
            (
                f.path.to_string(),
                hex::encode(Sha256::digest(f.content.as_bytes())),
            )
        })
        .collect();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrases_are_long_and_random() {
        let a = generate_passphrase().unwrap();
        let b = generate_passphrase().unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() && c != 'l' && c != '0'));
    }

    #[test]
    fn net_info_parsing() {
        let i = parse_net_info(
            "Name:           softap\nUUID:           x\nActive:         yes\nPersistent:     yes\nAutostart:      no\nBridge:         virbr0\n",
        );
        assert!(i.active);
        assert!(!i.autostart);
        assert_eq!(i.uuid.as_deref(), Some("x"));
        assert_eq!(
            with_uuid("<network>\n  <name>n</name>\n</network>\n", "u-1"),
            "<network>\n  <name>n</name>\n  <uuid>u-1</uuid>\n</network>\n"
        );
        assert_eq!(i.bridge.as_deref(), Some("virbr0"));
    }
}
