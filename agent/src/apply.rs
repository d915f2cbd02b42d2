//! The bring-up: write the rendered files atomically, define and start the
//! libvirt network, wait for its bridge, let networkd create the AP
//! interface, start hostapd, verify it beacons. Every step runs only when
//! something changed (a second apply touches nothing), and a failure rolls
//! back what this run changed.
//!
//! The order matters (seen on real hardware): a hostapd started before
//! libvirt made the bridge creates it itself, libvirt then fails with "File
//! exists" and no DHCP is served.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cmd::CmdError;
use crate::fsutil::{self, WriteError};
use crate::host::Host;
use crate::hostapd::{self, CtrlError};
use crate::plan::{Plan, SecurityMode};
use crate::render::{Consumer, RenderedFile};
use crate::state::{self, State};

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

/// Why a bring-up step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    #[error(transparent)]
    Command(#[from] CmdError),
    #[error(transparent)]
    Write(#[from] WriteError),
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
/// Written through `host` (fsynced, renamed into place, 0600 from its
/// creation) before anything can show it: a power cut after the banner
/// finds the same passphrase at the next boot.
pub fn ensure_passphrase(
    host: &dyn Host,
    configured: Option<&str>,
    security: SecurityMode,
) -> Result<(Option<String>, bool), ApplyError> {
    let root = host.root();
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
    host.write_atomic(&path, format!("{p}\n").as_bytes(), 0o600)?;
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

/// The AP interface this bring-up had NetworkManager leave alone, for
/// `softap-agent down` to give back (run time: gone with the container).
pub const NM_UNMANAGED_RECORD: &str = "/run/softap/nm-unmanaged";

/// The network XML with the existing network's UUID, for redefinition.
pub const NETWORK_DEFINE_XML: &str = "/run/softap/network.define.xml";

/// A guest's port of the network, given back to libvirt after a restart.
pub const NETWORK_PORT_XML: &str = "/run/softap/network.port.xml";

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
    /// NetworkManager's device for the AP interface was marked unmanaged.
    nm_unmanaged: Option<(crate::nm::Nm, String)>,
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
    plan: &'a Plan,
    timeouts: &'a Timeouts,
    undo: Undo,
    steps: Vec<StepReport>,
}

/// Rollback problems are collected, not returned: every undo is tried.
fn note(problems: &mut Vec<String>, r: Result<String, CmdError>) {
    if let Err(e) = r {
        problems.push(e.to_string());
    }
}

impl<'a> Run<'a> {
    fn new(host: &'a dyn Host, plan: &'a Plan, timeouts: &'a Timeouts) -> Run<'a> {
        Run {
            host,
            plan,
            timeouts,
            undo: Undo::default(),
            steps: Vec::new(),
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
        self.undo_networkmanager(&undo, &mut problems);
        self.undo_networkd(&undo, &mut problems);
        self.undo_hostapd_start(&undo, &mut problems);
        problems
    }

    // 1. Files.

    fn write_files(&mut self, files: &[RenderedFile]) -> Result<Changed, ApplyError> {
        let start = Instant::now();
        let mut consumers = Vec::new();
        let mut changed = Changed::default();
        for f in files {
            let path = fsutil::under(self.host.root(), f.path);
            let old = std::fs::read(&path).ok().map(|b| {
                let mode = std::fs::metadata(&path)
                    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
                    .unwrap_or(0o644);
                (b, mode)
            });
            match self
                .host
                .write_if_changed(&path, f.content.as_bytes(), f.mode)
            {
                Ok(true) => {
                    self.undo.files.push((path, old));
                    consumers.push(f.consumer);
                    changed.netdev |= f.path == crate::render::NETDEV;
                }
                Ok(false) => {}
                Err(e) => return Err(self.fail("files", e, None)),
            }
        }
        let n = consumers.len();
        self.record(
            "files",
            start,
            n > 0,
            format!("{n} of {} files changed", files.len()),
        );
        changed.libvirt = consumers.contains(&Consumer::Libvirt);
        changed.networkd = consumers.contains(&Consumer::Networkd);
        changed.hostapd = consumers.contains(&Consumer::Hostapd);
        Ok(changed)
    }

    fn undo_files(&self, undo: &Undo, problems: &mut Vec<String>) {
        for (path, old) in undo.files.iter().rev() {
            let r = match old {
                Some((bytes, mode)) => self
                    .host
                    .write_atomic(path, bytes, *mode)
                    .map_err(|e| e.to_string()),
                None => std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display())),
            };
            if let Err(e) = r {
                problems.push(e);
            }
        }
    }

    // 2. The libvirt network: defined, autostarted, started, its bridge up.

    /// Returns whether the network was (re)started.
    fn libvirt(
        &mut self,
        files: &[RenderedFile],
        previous: &State,
        changed: Changed,
    ) -> Result<bool, ApplyError> {
        let host = self.host;
        let plan = self.plan;
        let start = Instant::now();
        let name = plan.network_name.as_str();
        let xml_path = crate::render::NETWORK_XML;
        let info = match host.query(&["virsh", "-q", "net-info", name]) {
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
        let mut did = Vec::new();
        let subnet_moved = previous.subnet != Some(plan.subnet.net);
        let bridge_moved = info
            .as_ref()
            .is_some_and(|i| i.bridge.as_deref() != Some(plan.bridge.as_str()));
        let needs_define = info.is_none() || changed.libvirt;
        // A running network takes a new definition (reservations, the
        // domain, isolation, IPv6) only when restarted. Its rendered file is
        // under /run, so it is new at every boot: what the last completed
        // apply defined is the state's hash of it.
        let definition_moved = files
            .iter()
            .find(|f| f.consumer == Consumer::Libvirt)
            .is_some_and(|f| previous.files.get(f.path) != Some(&content_hash(&f.content)));
        let restart = info.as_ref().is_some_and(|i| i.active)
            && needs_define
            && (subnet_moved || bridge_moved || definition_moved);
        if needs_define {
            let old = info.as_ref().and_then(|i| {
                host.query(&["virsh", "net-dumpxml", "--inactive", name])
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
                    let path = fsutil::under(host.root(), NETWORK_DEFINE_XML);
                    if let Err(e) = host.write_atomic(&path, xml.as_bytes(), 0o644) {
                        return Err(self.fail("libvirt", e, None));
                    }
                    NETWORK_DEFINE_XML
                }
                None => xml_path,
            };
            if let Err(e) = host.change(&["virsh", "net-define", define_path]) {
                return Err(self.fail("libvirt", e, Some(LIBVIRT_UNIT)));
            }
            // Only what succeeded is undone.
            self.undo.libvirt_new = info.is_none();
            self.undo.libvirt_old = old;
            did.push(if info.is_some() {
                "redefined"
            } else {
                "defined"
            });
        }
        // Stopping the network deletes its bridge and forgets its ports, and
        // libvirt does not plug running VMs' and containers' interfaces into
        // the new one (only a restart of their hypervisor driver would):
        // remember both.
        let (ports, guests): (Vec<String>, Vec<String>) = if restart {
            let old_bridge = info.as_ref().and_then(|i| i.bridge.as_deref());
            (
                libvirt_ports(host, name),
                old_bridge
                    .map(|b| host.bridge_ports(b))
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|p| *p != plan.interface)
                    .collect(),
            )
        } else {
            Default::default()
        };
        if restart {
            if let Err(e) = host.change(&["virsh", "net-destroy", name]) {
                return Err(self.fail("libvirt", e, Some(LIBVIRT_UNIT)));
            }
            self.undo.libvirt_started = true;
            did.push(if subnet_moved || bridge_moved {
                "stopped for the new subnet"
            } else {
                "stopped for the new definition"
            });
        }
        if !info.as_ref().is_some_and(|i| i.autostart) {
            if let Err(e) = host.change(&["virsh", "net-autostart", name]) {
                return Err(self.fail("libvirt", e, Some(LIBVIRT_UNIT)));
            }
            did.push("autostart set");
        }
        let started = restart || !info.as_ref().is_some_and(|i| i.active);
        if started {
            if let Err(e) = host.change(&["virsh", "net-start", name]) {
                // libvirtd's own autostart may have started it meanwhile (it
                // reports ready before its networks are up).
                let now_active = host
                    .query(&["virsh", "-q", "net-info", name])
                    .and_then(|r| r.ok())
                    .is_some_and(|t| parse_net_info(&t).active);
                if !now_active {
                    return Err(self.fail("libvirt", e, Some(LIBVIRT_UNIT)));
                }
            }
            self.undo.libvirt_started = true;
            did.push("started");
        }
        if !host.wait_link(&plan.bridge, self.timeouts.bridge) {
            let m = format!(
                "the bridge {} did not appear within {:?} after starting the libvirt network {name}",
                plan.bridge, self.timeouts.bridge
            );
            return Err(self.fail("libvirt", StepFailure::Missing(m), Some(LIBVIRT_UNIT)));
        }
        self.reclaim(&ports);
        let plugged = self.replug(&guests);
        let replugged = format!(
            "guests' interfaces plugged into the new bridge ({})",
            plugged.join(" ")
        );
        if !plugged.is_empty() {
            did.push(&replugged);
        }
        let detail = if did.is_empty() {
            format!("network {name} on {} unchanged and active", plan.bridge)
        } else {
            format!("network {name} on {}: {}", plan.bridge, did.join(", "))
        };
        self.record("libvirt", start, !did.is_empty(), detail);
        Ok(started)
    }

    /// Gives the stopped network's ports (`net-port-dumpxml` documents)
    /// back to libvirt, the same port (UUID, owner, MAC) created anew, so
    /// that it knows the guests again (`net-port-list`, their interfaces'
    /// release at shutdown). A failure is logged, not fatal.
    fn reclaim(&self, ports: &[String]) {
        let host = self.host;
        let name = self.plan.network_name.as_str();
        let path = fsutil::under(host.root(), NETWORK_PORT_XML);
        for xml in ports {
            let done = host
                .write_atomic(&path, port_to_create(xml).as_bytes(), 0o600)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    host.change(&["virsh", "net-port-create", name, NETWORK_PORT_XML])
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = done {
                tracing::warn!("could not give libvirt back a port of {name}: {e}");
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    /// Plugs `ports` (guests' interfaces of the stopped network's bridge)
    /// into the new bridge, isolated as libvirt would when clients are
    /// isolated. Ones gone meanwhile (a guest shut down) are skipped; a
    /// port that cannot be plugged is logged, not fatal: the AP serves
    /// without it, and the guest's hypervisor driver reconnects it at its
    /// next restart. Returns the ports plugged in.
    fn replug(&self, ports: &[String]) -> Vec<String> {
        let host = self.host;
        let bridge = self.plan.bridge.as_str();
        let mut done = Vec::new();
        for port in ports {
            if !host.link_exists(port) {
                continue;
            }
            let mut result = host.change(&["ip", "link", "set", "dev", port, "master", bridge]);
            if result.is_ok() && self.plan.isolate_clients {
                result = host.change(&[
                    "ip",
                    "link",
                    "set",
                    "dev",
                    port,
                    "type",
                    "bridge_slave",
                    "isolated",
                    "on",
                ]);
            }
            match result {
                Ok(_) => done.push(port.clone()),
                Err(e) => tracing::warn!("could not plug {port} into {bridge}: {e}"),
            }
        }
        done
    }

    fn undo_libvirt(&self, undo: &Undo, problems: &mut Vec<String>) {
        let host = self.host;
        let name = self.plan.network_name.as_str();
        if undo.libvirt_new {
            if undo.libvirt_started {
                note(problems, host.change(&["virsh", "net-destroy", name]));
            }
            note(problems, host.change(&["virsh", "net-undefine", name]));
        } else if let Some((xml, was_active)) = &undo.libvirt_old {
            let tmp =
                std::env::temp_dir().join(format!("softap-rollback-{}.xml", std::process::id()));
            match std::fs::write(&tmp, xml) {
                Ok(()) => {
                    let t = tmp.to_string_lossy().into_owned();
                    note(problems, host.change(&["virsh", "net-define", &t]));
                    let _ = std::fs::remove_file(&tmp);
                }
                Err(e) => problems.push(format!("{}: {e}", tmp.display())),
            }
            if undo.libvirt_started {
                note(problems, host.change(&["virsh", "net-destroy", name]));
                if *was_active {
                    note(problems, host.change(&["virsh", "net-start", name]));
                }
            }
        }
    }

    // 3. networkd makes the AP interface on the phy found now.

    /// Returns whether networkd was reloaded (the interface may be new).
    fn networkd(&mut self, changed: Changed) -> Result<bool, ApplyError> {
        let host = self.host;
        let plan = self.plan;
        let start = Instant::now();
        let iface = plan.interface.as_str();
        let existed = host.dry_run() || host.link_exists(iface);
        let mut did = Vec::new();
        if changed.networkd || !existed {
            if changed.netdev && existed && !host.dry_run() {
                // A netdev is created once; on another phy it must be recreated.
                if let Err(e) = delete_wlan(host, iface) {
                    return Err(self.fail("networkd", e, Some(NETWORKD_UNIT)));
                }
                did.push("old interface deleted");
            }
            if let Err(e) = host.change(&["networkctl", "reload"]) {
                return Err(self.fail("networkd", e, Some(NETWORKD_UNIT)));
            }
            self.undo.networkd_reloaded = true;
            self.undo.link_created = !existed || changed.networkd;
            did.push("reloaded");
        }
        if !host.wait_link(iface, self.timeouts.link) {
            let m = format!(
                "the interface {iface} did not appear on {} within {:?} (check that the phy still exists: `iw dev`, `networkctl status {iface}`)",
                plan.phy.name, self.timeouts.link
            );
            return Err(self.fail("networkd", StepFailure::Missing(m), Some(NETWORKD_UNIT)));
        }
        let detail = if did.is_empty() {
            format!("{iface} on {} unchanged", plan.phy.name)
        } else {
            format!("{iface} on {}: {}", plan.phy.name, did.join(", "))
        };
        self.record("networkd", start, !did.is_empty(), detail);
        Ok(!did.is_empty())
    }

    fn undo_networkd(&self, undo: &Undo, problems: &mut Vec<String>) {
        if undo.networkd_reloaded {
            if undo.link_created {
                note(problems, delete_wlan(self.host, &self.plan.interface));
            }
            note(problems, self.host.change(&["networkctl", "reload"]));
        }
    }

    // 4. NetworkManager, when the machine runs it, keeps off the AP
    // interface while the AP runs (see `nm`). Absent, nothing happens.

    fn networkmanager(&mut self) -> Result<(), ApplyError> {
        let host = self.host;
        let start = Instant::now();
        let Some(nm) = crate::nm::Nm::find(host) else {
            return Ok(());
        };
        let iface = self.plan.interface.as_str();
        let Some(device) = nm.wait_device(host, iface, self.timeouts.link) else {
            let m = format!(
                "NetworkManager ({}) did not list the interface {iface} within {:?}; it would take it over once it does (`nmcli device`)",
                nm.address(),
                self.timeouts.link
            );
            return Err(self.fail("networkmanager", StepFailure::Missing(m), None));
        };
        // Set even when the property already reads false: NetworkManager
        // reports a device it has just seen as unmanaged until udev has set
        // it up, and then manages it. Set explicitly, it stays unmanaged for
        // as long as the device exists.
        let changed = nm.managed(host, &device) != Some(false);
        if let Err(e) = nm.set_managed(host, &device, false) {
            return Err(self.fail("networkmanager", e, None));
        }
        if changed {
            self.undo.nm_unmanaged = Some((nm.clone(), device.clone()));
            // For `softap-agent down`, after this process is gone.
            let record = fsutil::under(host.root(), NM_UNMANAGED_RECORD);
            if let Err(e) = host.write_atomic(&record, format!("{iface}\n").as_bytes(), 0o644) {
                return Err(self.fail("networkmanager", e, None));
            }
        }
        self.record(
            "networkmanager",
            start,
            changed,
            format!(
                "{iface} ({device}) {} by NetworkManager on {}",
                if changed {
                    "now unmanaged"
                } else {
                    "read unmanaged, set unmanaged for good"
                },
                nm.address()
            ),
        );
        Ok(())
    }

    fn undo_networkmanager(&self, undo: &Undo, problems: &mut Vec<String>) {
        if let Some((nm, device)) = &undo.nm_unmanaged {
            note(problems, nm.set_managed(self.host, device, true));
            let _ = std::fs::remove_file(fsutil::under(self.host.root(), NM_UNMANAGED_RECORD));
        }
    }

    // 5. hostapd: restarted when its configuration, the bridge or the
    // interface changed (a restarted bridge loses its ports).

    /// Returns whether hostapd was (re)started.
    fn hostapd(&mut self, changed: Changed, underneath_moved: bool) -> Result<bool, ApplyError> {
        let host = self.host;
        let start = Instant::now();
        let active = match host.query(&["systemctl", "is-active", "--quiet", HOSTAPD_UNIT]) {
            Some(r) => r.is_ok(),
            None => !changed.hostapd,
        };
        let restart = changed.hostapd || !active || underneath_moved;
        if restart {
            self.undo.hostapd = Some(active);
            if let Err(e) = host.change(&["systemctl", "restart", HOSTAPD_UNIT]) {
                return Err(self.fail("hostapd", e, Some(HOSTAPD_UNIT)));
            }
        }
        self.record(
            "hostapd",
            start,
            restart,
            if restart {
                format!("{HOSTAPD_UNIT} (re)started")
            } else {
                format!("{HOSTAPD_UNIT} unchanged and active")
            },
        );
        Ok(restart)
    }

    fn undo_hostapd_stop(&self, undo: &Undo, problems: &mut Vec<String>) {
        if undo.hostapd.is_some() {
            note(
                problems,
                self.host.change(&["systemctl", "stop", HOSTAPD_UNIT]),
            );
        }
    }

    fn undo_hostapd_start(&self, undo: &Undo, problems: &mut Vec<String>) {
        if undo.hostapd == Some(true) {
            note(
                problems,
                self.host.change(&["systemctl", "start", HOSTAPD_UNIT]),
            );
        }
    }

    // 6. Verify: hostapd's own word that the AP beacons. Nothing to undo of
    // its own; a failure rolls back the steps before it.

    fn verify(&mut self) -> Result<(), ApplyError> {
        let start = Instant::now();
        if self.host.dry_run() {
            self.record("verify", start, false, "dry run: not verified".into());
            return Ok(());
        }
        match self
            .host
            .wait_ap_enabled(&self.plan.interface, self.timeouts.ap)
        {
            Ok(status) => {
                let ch = hostapd::get(&status, "channel").unwrap_or("?").to_string();
                self.record(
                    "verify",
                    start,
                    false,
                    format!("hostapd state=ENABLED on channel {ch}"),
                );
                Ok(())
            }
            Err(e) => Err(self.fail("verify", e, Some(HOSTAPD_UNIT))),
        }
    }
}

/// The network's ports (guests' interfaces), as `net-port-dumpxml` gives
/// them; none where libvirt cannot say.
fn libvirt_ports(host: &dyn Host, name: &str) -> Vec<String> {
    let virsh = |args: &[&str]| {
        let mut full = vec!["virsh"];
        full.extend_from_slice(args);
        match host.query(&full) {
            Some(r) => r.map_err(|e| e.to_string()),
            None => Err("no libvirt to ask".to_string()),
        }
    };
    crate::members::port_documents(name, virsh).unwrap_or_default()
}

/// A port as `net-port-dumpxml` gives it, without its `<plug>` (where the
/// network put it): libvirt creates a port only from one it places itself.
fn port_to_create(xml: &str) -> String {
    xml.lines()
        .filter(|l| !l.trim_start().starts_with("<plug"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Deletes a wireless interface so that `networkctl reload` makes it again
/// from the current netdev file. systemd 252's `networkctl delete` answers
/// "Operation not supported" for a `Kind=wlan` netdev; nl80211 deletes it
/// (via `iw`, shipped in the image). An interface already gone is fine.
fn delete_wlan(host: &dyn Host, iface: &str) -> Result<String, CmdError> {
    if !host.dry_run() && !host.link_exists(iface) {
        return Ok(String::new());
    }
    host.change(&["iw", "dev", iface, "del"])
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
    })
}

/// The state after a successful apply.
pub fn new_state(
    plan: &Plan,
    previous: &State,
    config_hash: &str,
    files: &[RenderedFile],
) -> State {
    let mut s = plan.to_state(previous, config_hash);
    s.files = files
        .iter()
        .map(|f| (f.path.to_string(), content_hash(&f.content)))
        .collect();
    s
}

/// A rendered file's hash, as the state keeps it.
fn content_hash(content: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(content.as_bytes()))
}

#[cfg(test)]
mod step_tests {
    //! Every step's failure, injected through the fake host, and the
    //! rollback of the steps before it; no libvirt, no hostapd.

    use super::*;
    use crate::host::fake::{Fake, Fault};

    struct Case {
        root: tempfile::TempDir,
        plan: Plan,
        files: Vec<RenderedFile>,
    }

    fn case() -> Case {
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
        fn host(&self) -> Fake {
            Fake::new(self.root.path())
        }

        fn apply(&self, host: &Fake) -> Result<Outcome, ApplyError> {
            apply(
                host,
                &self.plan,
                &self.files,
                &State::default(),
                &Timeouts::default(),
            )
        }

        fn written(&self) -> Vec<&'static str> {
            self.files
                .iter()
                .map(|f| f.path)
                .filter(|p| fsutil::under(self.root.path(), p).exists())
                .collect()
        }

        /// The failed step's name, its rollback problems, and the commands
        /// run after the failing one (the rollback's).
        fn fail(&self, host: &Fake, failing: &str) -> (&'static str, Vec<String>, Vec<String>) {
            let e = self.apply(host).unwrap_err();
            let ApplyError::Step { step, rollback, .. } = e else {
                panic!("not a step failure: {e}");
            };
            let cmds = host.commands();
            let after = match cmds.iter().position(|c| c.starts_with(failing)) {
                Some(i) => cmds[i + 1..].to_vec(),
                None => cmds,
            };
            (step, rollback, after)
        }
    }

    /// The undos of a bring-up that failed at or after hostapd, in order.
    fn every_undo_after_hostapd(network: &str) -> [String; 4] {
        [
            format!("systemctl stop {HOSTAPD_UNIT}"),
            format!("virsh net-destroy {network}"),
            format!("virsh net-undefine {network}"),
            "networkctl reload".to_string(),
        ]
    }

    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

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
    fn a_new_subnet_plugs_the_guests_of_the_old_bridge_into_the_new_one() {
        let mut c = case();
        let n = c.plan.network_name.clone();
        let bridge = c.plan.bridge.clone();
        let ap = c.plan.interface.clone();
        let previous = State {
            subnet: Some("10.99.0.0/24".parse().unwrap()),
            ..State::default()
        };
        let host = |c: &Case| {
            c.host()
                .answer(
                    "virsh -q net-info",
                    &format!("Name: {n}\nUUID: u-1\nActive: yes\nPersistent: yes\nAutostart: yes\nBridge: {bridge}\n"),
                )
                .answer("virsh net-port-list --uuid", "5d3f0c1e-0000-4000-8000-000000000001\n")
                .answer(
                    "virsh net-port-dumpxml",
                    "<networkport>\n  <uuid>5d3f0c1e-0000-4000-8000-000000000001</uuid>\n  <owner>\n    <name>vm1</name>\n    <uuid>5d3f0c1e-0000-4000-8000-000000000002</uuid>\n  </owner>\n  <mac address='52:54:00:5f:e2:10'/>\n  <plug type='network' bridge='virbr0'/>\n</networkport>\n",
                )
                .port(&bridge, &ap)
                .port(&bridge, "vnet0")
        };
        let run = |c: &Case, h: &Fake| {
            apply(h, &c.plan, &c.files, &previous, &Timeouts::default()).unwrap();
            let cmds = h.commands();
            let start = cmds
                .iter()
                .position(|x| *x == format!("virsh net-start {n}"));
            let plugged = cmds
                .iter()
                .position(|x| *x == format!("ip link set dev vnet0 master {bridge}"));
            assert!(start.is_some() && plugged > start, "{cmds:?}");
            // libvirt gets its port back, after the start.
            let reclaimed = cmds
                .iter()
                .position(|x| *x == format!("virsh net-port-create {n} {NETWORK_PORT_XML}"));
            assert!(reclaimed > start, "{cmds:?}");
            // The AP interface is hostapd's to plug in.
            assert!(!cmds.iter().any(|x| x.contains(&format!("dev {ap} master"))));
            cmds
        };
        let cmds = run(&c, &host(&c));
        assert!(!cmds.iter().any(|x| x.contains("isolated")), "{cmds:?}");
        c.plan.isolate_clients = true;
        let templates = crate::render::Templates::embedded();
        c.files = crate::render::render(&c.plan, Some("a passphrase"), &templates).unwrap();
        let cmds = run(&c, &host(&c));
        assert!(
            cmds.contains(&"ip link set dev vnet0 type bridge_slave isolated on".to_string()),
            "{cmds:?}"
        );
    }

    #[test]
    fn a_running_network_restarts_only_for_a_definition_it_has_not_had() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = || {
            c.host().answer(
                "virsh -q net-info",
                &format!(
                    "Name: {n}\nUUID: u-1\nActive: yes\nPersistent: yes\nAutostart: yes\nBridge: {}\n",
                    c.plan.bridge
                ),
            )
        };
        let applied = new_state(&c.plan, &State::default(), "h", &c.files);
        let destroy = format!("virsh net-destroy {n}");
        // A reboot: the file under /run is new, the definition is not.
        let h = host();
        apply(&h, &c.plan, &c.files, &applied, &Timeouts::default()).unwrap();
        assert!(!h.commands().contains(&destroy), "{:?}", h.commands());
        // A reservation added, same subnet: the running network must take it.
        let mut before = applied.clone();
        before.files.clear();
        let h = host();
        let _ = std::fs::remove_file(fsutil::under(c.root.path(), crate::render::NETWORK_XML));
        apply(&h, &c.plan, &c.files, &before, &Timeouts::default()).unwrap();
        let cmds = h.commands();
        let destroy_at = cmds.iter().position(|x| *x == destroy);
        let start_at = cmds
            .iter()
            .position(|x| *x == format!("virsh net-start {n}"));
        assert!(destroy_at.is_some() && start_at > destroy_at, "{cmds:?}");
    }

    /// A machine whose system bus has NetworkManager, which lists the AP
    /// interface as a managed device.
    fn with_networkmanager(host: Fake) -> Fake {
        let bus = "busctl --address=unix:path=/run/host/dbus/system_bus_socket";
        host.answer(&format!("{bus} call org.freedesktop.DBus"), "b true")
            .answer(
                &format!("{bus} call org.freedesktop.NetworkManager"),
                "o \"/org/freedesktop/NetworkManager/Devices/9\"",
            )
            .answer(&format!("{bus} get-property"), "b true")
    }

    const NM_SET: &str =
        "busctl --address=unix:path=/run/host/dbus/system_bus_socket set-property \
        org.freedesktop.NetworkManager /org/freedesktop/NetworkManager/Devices/9 \
        org.freedesktop.NetworkManager.Device Managed b";

    #[test]
    fn networkmanager_leaves_the_ap_interface_before_hostapd_starts() {
        let c = case();
        let host = with_networkmanager(c.host());
        let out = c.apply(&host).unwrap();
        let steps: Vec<&str> = out.steps.iter().map(|s| s.step).collect();
        assert_eq!(
            steps,
            [
                "files",
                "libvirt",
                "networkd",
                "networkmanager",
                "hostapd",
                "verify"
            ]
        );
        let cmds = strs(&out.commands);
        let unmanaged = cmds.iter().position(|c| *c == format!("{NM_SET} false"));
        let hostapd = cmds.iter().position(|c| c.starts_with("systemctl restart"));
        assert!(unmanaged.is_some() && unmanaged < hostapd, "{cmds:?}");
        let record = fsutil::under(c.root.path(), NM_UNMANAGED_RECORD);
        assert_eq!(std::fs::read_to_string(record).unwrap(), "softap\n");
    }

    #[test]
    fn a_device_that_reads_unmanaged_is_set_unmanaged_all_the_same() {
        let c = case();
        let bus = "busctl --address=unix:path=/run/host/dbus/system_bus_socket";
        let host = c
            .host()
            .answer(&format!("{bus} get-property"), "b false")
            .answer(&format!("{bus} call org.freedesktop.DBus"), "b true")
            .answer(
                &format!("{bus} call org.freedesktop.NetworkManager"),
                "o \"/org/freedesktop/NetworkManager/Devices/9\"",
            );
        let out = c.apply(&host).unwrap();
        let sets: Vec<&String> = out
            .commands
            .iter()
            .filter(|c| c.contains("set-property"))
            .collect();
        assert_eq!(sets.len(), 1, "{sets:?}");
        assert!(sets[0].ends_with("Managed b false"), "{sets:?}");
        let nm = out
            .steps
            .iter()
            .find(|s| s.step == "networkmanager")
            .unwrap();
        assert!(!nm.changed, "{nm:?}");
    }

    #[test]
    fn a_failure_after_networkmanager_gives_the_device_back() {
        let c = case();
        let host = with_networkmanager(c.host()).fail(Fault::Ap);
        let (step, problems, _) = c.fail(&host, "none");
        assert_eq!(step, "verify");
        assert!(problems.is_empty(), "{problems:?}");
        let cmds = host.commands();
        let given_back = cmds.iter().position(|c| *c == format!("{NM_SET} true"));
        let deleted = cmds.iter().rposition(|c| c == "networkctl reload");
        assert!(given_back.is_some() && given_back < deleted, "{cmds:?}");
        assert!(!fsutil::under(c.root.path(), NM_UNMANAGED_RECORD).exists());
    }

    #[test]
    fn networkmanager_that_never_lists_the_interface_fails_the_step() {
        let c = case();
        let bus = "busctl --address=unix:path=/run/host/dbus/system_bus_socket";
        let host = c
            .host()
            .answer(&format!("{bus} call org.freedesktop.DBus"), "b true");
        let timeouts = Timeouts {
            link: Duration::from_millis(300),
            ..Timeouts::default()
        };
        let e = apply(&host, &c.plan, &c.files, &State::default(), &timeouts).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("networkmanager: NetworkManager"), "{text}");
        assert!(text.contains("rolled back"), "{text}");
        assert!(!host.commands().iter().any(|c| c.contains("set-property")));
    }

    #[test]
    fn a_failed_file_write_removes_the_files_written_before_it() {
        let c = case();
        let last = c.files.last().unwrap().path;
        let host = c.host().fail(Fault::Write(last.into()));
        let (step, problems, after) = c.fail(&host, "none");
        assert_eq!(step, "files");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(after.is_empty(), "{after:?}");
        assert!(c.written().is_empty(), "{:?}", c.written());
    }

    #[test]
    fn a_changed_file_is_restored_with_its_old_content_and_mode() {
        let c = case();
        let first = fsutil::under(c.root.path(), c.files[0].path);
        fsutil::write_atomic(&first, b"old\n", 0o600).unwrap();
        let host = c.host().fail(Fault::Command("virsh net-define".into()));
        let (step, problems, _) = c.fail(&host, "virsh net-define");
        assert_eq!(step, "libvirt");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(std::fs::read(&first).unwrap(), b"old\n");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&first).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(c.written(), [c.files[0].path]);
    }

    #[test]
    fn a_failed_network_start_undefines_the_new_network_and_removes_the_files() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Command("virsh net-start".into()));
        let (step, problems, after) = c.fail(&host, "virsh net-start");
        assert_eq!(step, "libvirt");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(strs(&after), [format!("virsh net-undefine {n}")]);
        assert!(c.written().is_empty());
    }

    #[test]
    fn a_bridge_that_never_appears_destroys_and_undefines_the_network() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Link(c.plan.bridge.clone()));
        let (step, _, after) = c.fail(&host, "virsh net-start");
        assert_eq!(step, "libvirt");
        assert_eq!(
            strs(&after),
            [
                format!("virsh net-destroy {n}"),
                format!("virsh net-undefine {n}")
            ]
        );
        assert!(c.written().is_empty());
    }

    #[test]
    fn a_failed_networkd_reload_rolls_back_libvirt_and_the_files() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Command("networkctl reload".into()));
        let (step, problems, after) = c.fail(&host, "networkctl reload");
        assert_eq!(step, "networkd");
        // The reload that failed is tried again by nobody: nothing to undo.
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(
            strs(&after),
            [
                format!("virsh net-destroy {n}"),
                format!("virsh net-undefine {n}")
            ]
        );
        assert!(c.written().is_empty());
    }

    #[test]
    fn an_interface_that_never_appears_reloads_networkd_again() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Link(c.plan.interface.clone()));
        let (step, _, after) = c.fail(&host, "networkctl reload");
        assert_eq!(step, "networkd");
        assert_eq!(
            strs(&after),
            [
                format!("virsh net-destroy {n}"),
                format!("virsh net-undefine {n}"),
                "networkctl reload".to_string(),
            ]
        );
    }

    #[test]
    fn a_failed_hostapd_restart_stops_it_and_rolls_back_everything_before() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Command("systemctl restart".into()));
        let (step, _, after) = c.fail(&host, "systemctl restart");
        assert_eq!(step, "hostapd");
        assert_eq!(strs(&after), every_undo_after_hostapd(&n));
        assert!(c.written().is_empty());
    }

    #[test]
    fn a_hostapd_that_ran_before_is_started_again_last() {
        let c = case();
        let host = c
            .host()
            .answer("systemctl is-active", "")
            .fail(Fault::Command("systemctl restart".into()));
        let (_, _, after) = c.fail(&host, "systemctl restart");
        assert_eq!(
            after.first().map(String::as_str),
            Some(&*format!("systemctl stop {HOSTAPD_UNIT}"))
        );
        assert_eq!(
            after.last().map(String::as_str),
            Some(&*format!("systemctl start {HOSTAPD_UNIT}"))
        );
    }

    #[test]
    fn an_ap_that_never_comes_up_rolls_back_every_step() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Ap);
        let (step, problems, after) = c.fail(&host, "systemctl restart");
        assert_eq!(step, "verify");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(strs(&after), every_undo_after_hostapd(&n));
        assert!(c.written().is_empty());
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
