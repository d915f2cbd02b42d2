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
use crate::state::{content_hash, State, STATE_FILE};

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
    /// Why the configuration file on the EFI system partition was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_problem: Option<String>,
    /// What `watch` last did on its own (hostapd restarted, radio gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_note: Option<String>,
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

/// Builds the status from the state, the passphrase and, unless `host` is
/// a dry run, hostapd's control socket, systemd's units and libvirt.
pub fn gather(
    host: &dyn Host,
    state: &State,
    passphrase: Option<String>,
    state_path: PathBuf,
) -> Result<Status, NotApplied> {
    let dry_run = host.dry_run();
    let Some(net) = state.subnet else {
        return Err(NotApplied { path: state_path });
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
        config_problem: state.config_problem.clone(),
        watch_note: state.watch_note.clone(),
        previous_crash: root_of(&state_path).and_then(crate::crash::last_on),
        changed_files,
    })
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
        if let Some(problem) = &self.config_problem {
            s.push_str(&format!("Config:     {}\n", p(problem)));
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
mod tests {
    use super::*;
    use crate::host::fake::Fake;
    use crate::host::DryRun;
    use sha2::{Digest, Sha256};

    fn sha(text: &str) -> String {
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// A state as apply leaves it, with its files written under `root`.
    fn applied(root: &Path) -> State {
        let mut state = State {
            subnet: Some("10.42.0.0/24".parse().unwrap()),
            bridge: Some("virbr7".into()),
            ssid: Some("cafe".into()),
            security: Some(SecurityMode::Wpa3Transition),
            interface: Some("softap".into()),
            ..State::default()
        };
        for (path, text) in [
            ("/run/softap/hostapd.conf", "ssid=cafe\n"),
            ("/run/softap/network.xml", "<network/>\n"),
        ] {
            let file = fsutil::under(root, path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, text).unwrap();
            state.files.insert(path.into(), sha(text));
        }
        state
    }

    fn json(state: &State, root: &Path) -> serde_json::Value {
        let host = DryRun::new(root);
        let status = gather(&host, state, Some("pass".into()), root.join(STATE_FILE)).unwrap();
        serde_json::to_value(status).unwrap()
    }

    /// What the end-to-end scripts (`overlays/e2e/usr/lib/softap-e2e`) read
    /// with jq: flat keys with plain values.
    #[test]
    fn json_carries_the_network_the_clients_see() {
        let dir = tempfile::tempdir().unwrap();
        let v = json(&applied(dir.path()), dir.path());
        assert_eq!(v["subnet"], "10.42.0.0/24");
        assert_eq!(v["gateway"], "10.42.0.1");
        assert_eq!(v["dhcp_start"], "10.42.0.128");
        assert_eq!(v["dhcp_end"], "10.42.0.254");
        assert_eq!(v["bridge"], "virbr7");
        assert_eq!(v["interface"], "softap");
        assert_eq!(v["ssid"], "cafe");
        assert_eq!(v["passphrase"], "pass");
        assert_eq!(v["security"], "wpa3-transition");
        assert_eq!(v["changed_files"], serde_json::json!([]));
    }

    #[test]
    fn files_rewritten_or_gone_since_the_apply_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut state = applied(root);
        // The next apply's first step: a new network definition.
        std::fs::write(
            root.join("run/softap/network.xml"),
            "<network>moved</network>\n",
        )
        .unwrap();
        state
            .files
            .insert("/run/systemd/network/softap.network".into(), sha("gone"));
        let v = json(&state, root);
        assert_eq!(
            v["changed_files"],
            serde_json::json!([
                "/run/softap/network.xml",
                "/run/systemd/network/softap.network"
            ])
        );
        let human = gather(&DryRun::new(root), &state, None, root.join(STATE_FILE))
            .unwrap()
            .human();
        assert!(
            human.contains(
                "Changed:    /run/softap/network.xml, /run/systemd/network/softap.network"
            ),
            "{human}"
        );
    }

    #[test]
    fn the_root_is_found_above_the_state_file() {
        assert_eq!(
            root_of(&Path::new("/").join(STATE_FILE)),
            Some(Path::new("/"))
        );
        assert_eq!(
            root_of(&Path::new("/tmp/r").join(STATE_FILE)),
            Some(Path::new("/tmp/r"))
        );
        assert_eq!(root_of(Path::new("/tmp/r/state.json")), None);
    }

    #[test]
    fn the_network_and_its_members_are_shown() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = applied(dir.path());
        state.network = Some(crate::state::NetworkRecord {
            name: "lab".into(),
            domain: "lab.internal".into(),
            dhcp_start: "10.42.0.22".parse().unwrap(),
            dhcp_end: "10.42.0.254".parse().unwrap(),
            ipv6: Some("fd00:1:2:2a00::/64".parse().unwrap()),
        });
        let v = json(&state, dir.path());
        assert_eq!(v["dhcp_start"], "10.42.0.22");
        assert_eq!(v["network"], "lab");
        assert_eq!(v["domain"], "lab.internal");
        assert_eq!(v["ipv6"], "fd00:1:2:2a00::/64");
        assert_eq!(v["members"], serde_json::json!([]));
        let sta = Station::parse("02:00:00:00:01:00\nsignal=-40\nconnected_time=7\n").unwrap();
        let lease = members::Lease {
            mac: Some("02:00:00:00:01:00".into()),
            ipv6: false,
            address: "10.42.0.130".into(),
            hostname: Some("phone".into()),
        };
        let port = members::Port {
            owner: "web".into(),
            mac: "52:54:00:00:00:01".into(),
        };
        let text = members_text(&members::merge(&[sta], &[port], &[lease]), &[]);
        assert!(text.starts_with("Clients:    2\n"), "{text}");
        assert!(
            text.contains(
                "02:00:00:00:01:00 phone        10.42.0.130 (Wi-Fi, -40 dBm, connected 7 s)"
            ),
            "{text}"
        );
        assert!(
            text.contains("52:54:00:00:00:01 -            no lease (domain web)"),
            "{text}"
        );
        let host = DryRun::new(dir.path());
        let human = gather(&host, &state, None, dir.path().join(STATE_FILE))
            .unwrap()
            .human();
        assert!(
            human.contains("Network:    lab (domain lab.internal, IPv6 fd00:1:2:2a00::/64)"),
            "{human}"
        );
    }

    /// A panic systemd-pstore archived: a typed field in the JSON, a line
    /// with its first lines in the text; none when the archive is empty.
    #[test]
    fn the_channel_hostapd_picked_is_shown() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = applied(dir.path());
        state.channel = Some(149);
        state.running = Some(crate::state::RunningChannel {
            channel: 149,
            freq_mhz: 5745,
            width_mhz: 80,
            acs: true,
        });
        let v = json(&state, dir.path());
        assert_eq!(v["channel"], 149);
        assert_eq!(v["channel_auto"], true);
        let human = gather(
            &DryRun::new(dir.path()),
            &state,
            None,
            dir.path().join(STATE_FILE),
        )
        .unwrap()
        .human();
        assert!(
            human.contains("channel 149 (picked by hostapd's ACS)"),
            "{human}"
        );
        state.running = None;
        assert_eq!(json(&state, dir.path())["channel_auto"], false);
    }

    #[test]
    fn the_last_kernel_crash_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let state = applied(root);
        assert_eq!(
            json(&state, root)["previous_crash"],
            serde_json::Value::Null
        );
        let record = root.join(crate::crash::ARCHIVE_DIR).join("170000000");
        std::fs::create_dir_all(&record).unwrap();
        std::fs::write(
            record.join("dmesg-efi-170000000001001"),
            "Panic#1 Part1\n<0>[   52.1] Kernel panic - not syncing: sysrq triggered crash\n",
        )
        .unwrap();
        let v = json(&state, root);
        assert_eq!(v["previous_crash"]["kind"], "panic");
        assert_eq!(v["previous_crash"]["at"], "2023-11-14T22:13:20Z");
        assert_eq!(v["previous_crash"]["at_unix"], 1_700_000_000);
        // --root: no /proc/stat there, so no claim about which boot.
        assert_eq!(v["previous_crash"]["previous_boot"], false);
        assert_eq!(
            v["previous_crash"]["first_lines"],
            serde_json::json!(["[   52.1] Kernel panic - not syncing: sysrq triggered crash"])
        );
        let human = gather(&DryRun::new(root), &state, None, root.join(STATE_FILE))
            .unwrap()
            .human();
        assert!(
            human.contains("Restart:    the last kernel crash on record: a kernel panic at 2023-11-14T22:13:20Z"),
            "{human}"
        );
        assert!(
            human.contains("    [   52.1] Kernel panic - not syncing: sysrq triggered crash\n"),
            "{human}"
        );
    }

    #[test]
    fn units_and_libvirt_are_asked_through_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = applied(dir.path());
        state.network = Some(crate::state::NetworkRecord {
            name: "lab".into(),
            domain: "lab.internal".into(),
            dhcp_start: "10.42.0.128".parse().unwrap(),
            dhcp_end: "10.42.0.254".parse().unwrap(),
            ipv6: None,
        });
        let host = Fake::new(dir.path())
            .answer("systemctl is-active softap-hostapd.service", "active\n")
            .answer("virsh net-dhcp-leases lab", crate::libvirt::tests::LEASES);
        let s = gather(&host, &state, None, dir.path().join(STATE_FILE)).unwrap();
        assert_eq!(s.services[crate::runtime::HOSTAPD_UNIT], "active");
        // The fake's failure of a query it was not told to answer.
        assert_eq!(s.services[crate::runtime::LIBVIRT_UNIT], "injected failure");
        assert_eq!(s.members.len(), 3, "{:?}", s.members);
        // The port list was not answered: said, not fatal.
        assert!(
            s.members_errors
                .iter()
                .any(|e| e.contains("virsh net-port-list --uuid lab")),
            "{:?}",
            s.members_errors
        );
        let dry = gather(
            &DryRun::new(dir.path()),
            &state,
            None,
            dir.path().join(STATE_FILE),
        );
        assert!(dry.unwrap().services.is_empty());
    }

    #[test]
    fn no_subnet_means_not_applied() {
        let host = DryRun::new(Path::new("/"));
        let e = gather(&host, &State::default(), None, PathBuf::from("/s")).unwrap_err();
        assert_eq!(e.path, PathBuf::from("/s"));
    }
}
