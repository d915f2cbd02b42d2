//! `status`: what the last apply set up, and what hostapd says now.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::cmd::CmdError;
use crate::config::FixedRange;
use crate::console;
use crate::fsutil;
use crate::host::Host;
use crate::hostapd::{self, Ctrl, Station};
use crate::libvirt::Libvirt;
use crate::members::{self, Member};
use crate::plan::{SecurityMode, SubnetChoice};
use crate::state::{
    content_hash, ConfigProblem, State, Waiting, WaitingFor, WatchAction, STATE_FILE,
};

#[derive(Debug, Clone, Serialize)]
pub struct HostapdStatus {
    pub socket: String,
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The channel, width and mode hostapd runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<crate::rates::LiveLink>,
}

/// Flat on purpose: scripts read `.ssid`, `.subnet`, `.passphrase`...
/// Everything a script decides on is a typed field with a stable
/// snake_case name; the sentences (`watch_note`, `config_problem.text`,
/// `waiting_reason`) are for people and may change.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub ssid: Option<String>,
    pub passphrase: Option<String>,
    pub security: Option<SecurityMode>,
    pub phy: Option<String>,
    /// The channel hostapd runs on now, else the one the last apply read
    /// from it, else the plan's.
    pub channel: Option<u16>,
    /// The channel was picked by hostapd's ACS (`channel = "auto"`).
    pub channel_auto: bool,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub dhcp_start: Option<String>,
    pub dhcp_end: Option<String>,
    /// The libvirt network's name and DNS domain.
    pub network: Option<String>,
    pub domain: Option<String>,
    /// The IPv6 unique local /64, when IPv6 is on.
    pub ipv6: Option<String>,
    pub bridge: Option<String>,
    pub interface: Option<String>,
    pub hostapd: HostapdStatus,
    /// `systemctl is-active` of the units involved.
    pub services: std::collections::BTreeMap<String, String>,
    pub clients: Vec<Station>,
    /// Everyone on the network: stations, VMs and containers, with their
    /// addresses and host names.
    pub members: Vec<Member>,
    /// Why libvirt's ports or leases could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members_errors: Vec<String>,
    /// The `WIFI:` text the QR code encodes.
    pub wifi: Option<String>,
    /// A configuration that could not be used: `file`, `line`, `column`,
    /// `key`, `message`, and `fallback` (what runs instead: `kind`
    /// `last_good` with `path` and `sha256`, `defaults` with `path`, or
    /// `last_applied` with `config_hash`), and `text`, the console's
    /// sentence. The configuration as it reads now wins over the problem
    /// recorded at the last apply; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_problem: Option<ConfigProblem>,
    /// What `watch` last did on its own: `restarted_hostapd`,
    /// `hostapd_backing_off`, `hostapd_restart_failed`, `radio_gone`,
    /// `radio_back`; null when nothing.
    pub watch_action: Option<WatchAction>,
    /// The console's sentence for `watch_action`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_note: Option<String>,
    /// When `watch_action` happened (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_at: Option<String>,
    /// The radio that went (`radio_gone`) or that the AP is back on
    /// (`radio_back`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_phy: Option<String>,
    /// For the hostapd actions: hostapd's crashes in the current series
    /// (crashes less than two minutes apart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_crashes: Option<u32>,
    /// What the running agent waits for before it can (again) bring the AP
    /// up: `radio`, `free_subnet`, `configuration`, `retry`; null when it
    /// waits for nothing.
    pub waiting_for: Option<WaitingFor>,
    /// Why it waits (the plan's or the bring-up's error), for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_reason: Option<String>,
    /// Since when (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<String>,
    /// The last kernel crash systemd-pstore archived (null: none on record).
    pub previous_crash: Option<crate::crash::Crash>,
    /// The agent's files (by absolute path on the target) whose content is
    /// no longer what the last completed apply wrote. The agent writes its
    /// files first and the state last, so while this is not empty an apply
    /// is under way, or someone edited the files by hand.
    pub changed_files: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("no state in {path}: `softap-agent apply` has not completed on this machine yet")]
pub struct NotApplied {
    pub path: PathBuf,
}

/// Builds the status from the state, the passphrase, `config_problem`
/// (the configuration's as it reads now, if any), what a running `watch`
/// waits for and, unless `host` is a dry run, hostapd's control socket,
/// systemd's units and libvirt. Before the first apply there is a status
/// only while `watch` waits (for a radio, say): it says what for.
pub fn gather(
    host: &dyn Host,
    state: &State,
    passphrase: Option<String>,
    state_path: PathBuf,
    config_problem: Option<ConfigProblem>,
) -> Result<Status, NotApplied> {
    let dry_run = host.dry_run();
    let waiting = root_of(&state_path).and_then(|root| match Waiting::load(root) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("what the agent waits for is unknown: {e}");
            None
        }
    });
    let Some(net) = state.subnet else {
        return match waiting {
            Some(w) => Ok(unset(state, Some(w), config_problem)),
            None => Err(NotApplied { path: state_path }),
        };
    };
    // States written before the network was recorded had the default
    // split.
    let sub = SubnetChoice::for_net(net, FixedRange::default());
    let (dhcp_start, dhcp_end) = state
        .network
        .as_ref()
        .map_or((sub.dhcp_start, sub.dhcp_end), |n| {
            (n.dhcp_start, n.dhcp_end)
        });
    let iface = state.interface.clone().unwrap_or_else(|| "softap".into());
    let socket = PathBuf::from(hostapd::CTRL_DIR).join(&iface);
    let mut h = HostapdStatus {
        socket: socket.display().to_string(),
        reachable: false,
        state: None,
        error: None,
        link: None,
    };
    let mut clients = Vec::new();
    let mut services = std::collections::BTreeMap::new();
    if !dry_run {
        for unit in [
            "softap-agent.service",
            crate::runtime::HOSTAPD_UNIT,
            crate::runtime::LIBVIRT_UNIT,
            crate::runtime::NETWORKD_UNIT,
        ] {
            services.insert(unit.to_string(), unit_state(host, unit));
        }
    }
    if dry_run {
        h.error = Some("dry run (--root): hostapd not asked".into());
    } else {
        let t = Duration::from_secs(2);
        let r = Ctrl::open(&socket).and_then(|c| {
            let st = c.status(t)?;
            let stations = c.stations(t)?;
            Ok((st, stations))
        });
        match r {
            Ok((st, stations)) => {
                h.reachable = true;
                h.state = hostapd::get(&st, "state").map(str::to_string);
                h.link = crate::rates::live_link(&st);
                clients = stations;
            }
            Err(e) => h.error = Some(e.to_string()),
        }
    }
    let mut members_errors = Vec::new();
    let members = match (&state.network, dry_run) {
        (Some(n), false) => {
            let view = members::gather(&Libvirt::new(host), &n.name);
            members_errors = view.errors;
            members::merge(&clients, &view.ports, &view.leases)
        }
        _ => members::merge(&clients, &[], &[]),
    };
    let security = state.security;
    let passphrase = if security == Some(SecurityMode::Open) {
        None
    } else {
        passphrase
    };
    let wifi = state.ssid.as_ref().map(|s| {
        console::wifi_uri(
            s,
            passphrase.as_deref(),
            security.unwrap_or(SecurityMode::Wpa2),
        )
    });
    let changed_files = root_of(&state_path)
        .map(|root| changed_files(state, root))
        .unwrap_or_default();
    Ok(Status {
        ssid: state.ssid.clone(),
        passphrase,
        security,
        phy: state.phy.as_ref().map(|p| p.name.clone()),
        channel: h
            .link
            .as_ref()
            .map(|l| l.channel)
            .filter(|c| *c != 0)
            .or(state.channel),
        channel_auto: state.running.as_ref().is_some_and(|r| r.acs),
        subnet: Some(net.to_string()),
        gateway: Some(sub.gateway.to_string()),
        dhcp_start: Some(dhcp_start.to_string()),
        dhcp_end: Some(dhcp_end.to_string()),
        network: state.network.as_ref().map(|n| n.name.clone()),
        domain: state.network.as_ref().map(|n| n.domain.clone()),
        ipv6: state
            .network
            .as_ref()
            .and_then(|n| n.ipv6)
            .map(|n| n.to_string()),
        bridge: state.bridge.clone(),
        interface: Some(iface),
        hostapd: h,
        services,
        clients,
        members,
        members_errors,
        wifi,
        previous_crash: root_of(&state_path).and_then(crate::crash::last_on),
        changed_files,
        ..unset(state, waiting, config_problem)
    })
}

/// A status with nothing set up: only what the agent did and waits for,
/// and the configuration's problem. Before the first apply, that is all
/// there is.
fn unset(state: &State, waiting: Option<Waiting>, config_problem: Option<ConfigProblem>) -> Status {
    let note = state.watch_note.as_ref();
    Status {
        ssid: None,
        passphrase: None,
        security: None,
        phy: None,
        channel: None,
        channel_auto: false,
        subnet: None,
        gateway: None,
        dhcp_start: None,
        dhcp_end: None,
        network: None,
        domain: None,
        ipv6: None,
        bridge: None,
        interface: None,
        hostapd: HostapdStatus {
            socket: String::new(),
            reachable: false,
            state: None,
            error: Some("no access point yet".into()),
            link: None,
        },
        services: std::collections::BTreeMap::new(),
        clients: Vec::new(),
        members: Vec::new(),
        members_errors: Vec::new(),
        wifi: None,
        config_problem: config_problem.or_else(|| state.config_problem.clone()),
        watch_action: note.map(|n| n.action),
        watch_note: note.map(|n| n.text.clone()),
        watch_at: note.and_then(|n| n.at.clone()),
        watch_phy: note.and_then(|n| n.phy.clone()),
        watch_crashes: note.and_then(|n| n.crashes),
        waiting_for: waiting.as_ref().map(|w| w.waiting_for),
        waiting_reason: waiting.as_ref().map(|w| w.reason.clone()),
        waiting_since: waiting.and_then(|w| w.since),
        previous_crash: None,
        changed_files: Vec::new(),
    }
}

/// The root a state file lies under (`<root>/var/lib/softap/state.json`).
fn root_of(state_path: &Path) -> Option<&Path> {
    if !state_path.ends_with(STATE_FILE) {
        return None;
    }
    state_path
        .ancestors()
        .nth(Path::new(STATE_FILE).components().count())
}

/// The files of `state` under `root` that are missing or differ from the
/// hash the last apply recorded.
fn changed_files(state: &State, root: &Path) -> Vec<String> {
    state
        .files
        .iter()
        .filter(|(path, want)| {
            std::fs::read(fsutil::under(root, path))
                .map(|bytes| content_hash(bytes) != **want)
                .unwrap_or(true)
        })
        .map(|(path, _)| path.clone())
        .collect()
}

/// `systemctl is-active UNIT`: active, inactive, failed... or why unknown.
fn unit_state(host: &dyn Host, unit: &str) -> String {
    // `is-active` exits non-zero for every state but active and prints the
    // state either way.
    let state = match host.query(&["systemctl", "is-active", unit]) {
        Some(Ok(out)) => out,
        Some(Err(CmdError::Failed { stderr, .. })) => stderr,
        Some(Err(e)) => return format!("unknown ({e})"),
        None => return "unknown (dry run)".into(),
    };
    let state = state.trim();
    if state.is_empty() {
        "unknown".into()
    } else {
        state.to_owned()
    }
}

/// The `Clients:` lines: one per member, what it is, its addresses.
fn members_text(members: &[Member], errors: &[String]) -> String {
    let p = console::printable;
    let mut s = format!("Clients:    {}\n", members.len());
    for m in members {
        let what = match m.kind {
            members::Kind::Station => {
                let mut w = String::from("Wi-Fi");
                if let Some(sig) = m.signal {
                    w.push_str(&format!(", {sig} dBm"));
                }
                if let Some(t) = m.connected_time {
                    w.push_str(&format!(", connected {t} s"));
                }
                if let Some(mode) = m.link.mode {
                    w.push_str(&format!(", {mode}"));
                }
                if let (Some(tx), Some(rx)) = (m.link.tx_rate_mbps, m.link.rx_rate_mbps) {
                    w.push_str(&format!(", {tx}/{rx} Mbit/s to/from it"));
                }
                w
            }
            members::Kind::Domain => format!("domain {}", p(m.domain.as_deref().unwrap_or("?"))),
            members::Kind::Lease => "lease only".into(),
        };
        let mut addrs: Vec<String> = m.ipv4.iter().chain(&m.ipv6).map(|a| p(a)).collect();
        if addrs.is_empty() {
            addrs.push("no lease".into());
        }
        s.push_str(&format!(
            "  {} {:<12} {} ({})\n",
            p(&m.mac),
            m.hostname.as_deref().map_or_else(|| "-".into(), p),
            addrs.join(" "),
            what
        ));
    }
    for e in errors {
        s.push_str(&format!("  (libvirt: {})\n", p(e)));
    }
    s
}

impl Status {
    pub fn human(&self) -> String {
        let mut s = String::new();
        // Every value may hold text from outside (the SSID, a state file
        // edited by hand, hostapd's answers): shown escaped, never obeyed.
        let p = console::printable;
        let v = |o: &Option<String>| o.as_deref().map_or_else(|| "?".into(), p);
        let state = match (&self.hostapd.state, &self.hostapd.error) {
            (Some(st), _) => p(st),
            (None, Some(e)) => format!("unknown ({})", p(e)),
            _ => "unknown".into(),
        };
        s.push_str(&format!("hostapd:    {state}\n"));
        if !self.services.is_empty() {
            let list: Vec<String> = self
                .services
                .iter()
                .map(|(u, st)| format!("{} {}", p(u), p(st)))
                .collect();
            s.push_str(&format!("Services:   {}\n", list.join(", ")));
        }
        if let (Some(what), Some(why)) = (self.waiting_for, &self.waiting_reason) {
            let what = match what {
                WaitingFor::Radio => "a radio",
                WaitingFor::FreeSubnet => "a free subnet",
                WaitingFor::Configuration => "a configuration it can read",
                WaitingFor::Retry => "the next try",
            };
            s.push_str(&format!("Waiting:    for {what}: {}\n", p(why)));
        }
        if let Some(problem) = &self.config_problem {
            s.push_str(&format!("Config:     {}\n", p(&problem.text)));
        }
        if let Some(note) = &self.watch_note {
            s.push_str(&format!("Watch:      {}\n", p(note)));
        }
        if let Some(crash) = &self.previous_crash {
            s.push_str(&format!("Restart:    {}", crash.text()));
        }
        s.push_str(&format!("SSID:       {}\n", v(&self.ssid)));
        match (&self.passphrase, self.security) {
            (_, Some(SecurityMode::Open)) => s.push_str("Passphrase: (open network)\n"),
            (Some(pass), _) => s.push_str(&format!("Passphrase: {}\n", p(pass))),
            (None, _) => s.push_str("Passphrase: (unknown)\n"),
        }
        if let Some(sec) = self.security {
            s.push_str(&format!(
                "Security:   {}\n",
                match sec {
                    SecurityMode::Wpa2 => "WPA2-PSK",
                    SecurityMode::Wpa3Transition => "WPA3-SAE transition (WPA2-PSK + SAE)",
                    SecurityMode::Wpa3 => "WPA3-SAE only",
                    SecurityMode::Open => "open",
                }
            ));
        }
        s.push_str(&format!(
            "Radio:      {} ({}), channel {}{}{}\n",
            v(&self.phy),
            v(&self.interface),
            self.channel.map_or("?".into(), |c| c.to_string()),
            if self.channel_auto {
                " (picked by hostapd's ACS)"
            } else {
                ""
            },
            self.hostapd
                .link
                .as_ref()
                .map_or(String::new(), |l| format!(
                    " ({} MHz, {} MHz wide, {})",
                    l.freq_mhz, l.width_mhz, l.mode
                ))
        ));
        s.push_str(&format!(
            "Subnet:     {} (gateway {}, DHCP {} - {}) on {}\n",
            v(&self.subnet),
            v(&self.gateway),
            v(&self.dhcp_start),
            v(&self.dhcp_end),
            v(&self.bridge)
        ));
        if let Some(name) = &self.network {
            s.push_str(&format!(
                "Network:    {} (domain {}{})\n",
                p(name),
                v(&self.domain),
                self.ipv6
                    .as_deref()
                    .map(|n| format!(", IPv6 {}", p(n)))
                    .unwrap_or_default()
            ));
        }
        if !self.changed_files.is_empty() {
            s.push_str(&format!(
                "Changed:    {} (not what the last apply wrote: an apply is under way, or they were edited)\n",
                self.changed_files.join(", ")
            ));
        }
        s.push_str(&members_text(&self.members, &self.members_errors));
        if let Some(w) = &self.wifi {
            s.push_str("Scan to join:\n");
            s.push_str(&console::qr_text(w));
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests;
