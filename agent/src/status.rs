//! `status`: what the last apply set up, and what hostapd says now.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::console;
use crate::hostapd::{self, Ctrl, Station};
use crate::plan::{SecurityMode, SubnetChoice};
use crate::state::State;

#[derive(Debug, Clone, Serialize)]
pub struct HostapdStatus {
    pub socket: String,
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Flat on purpose: scripts read `.ssid`, `.subnet`, `.passphrase`...
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub ssid: Option<String>,
    pub passphrase: Option<String>,
    pub security: Option<SecurityMode>,
    pub phy: Option<String>,
    pub channel: Option<u16>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub dhcp_start: Option<String>,
    pub dhcp_end: Option<String>,
    pub bridge: Option<String>,
    pub interface: Option<String>,
    pub hostapd: HostapdStatus,
    /// `systemctl is-active` of the units involved.
    pub services: std::collections::BTreeMap<String, String>,
    pub clients: Vec<Station>,
    /// The `WIFI:` text the QR code encodes.
    pub wifi: Option<String>,
    /// Why the configuration file on the EFI system partition was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_problem: Option<String>,
    /// What `watch` last did on its own (hostapd restarted, radio gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("no state in {path}: `softap-agent apply` has not completed on this machine yet")]
pub struct NotApplied {
    pub path: PathBuf,
}

/// Builds the status from the state, the passphrase and, unless `dry_run`,
/// hostapd's control socket.
pub fn gather(
    state: &State,
    passphrase: Option<String>,
    dry_run: bool,
    state_path: PathBuf,
) -> Result<Status, NotApplied> {
    let Some(net) = state.subnet else {
        return Err(NotApplied { path: state_path });
    };
    let sub = SubnetChoice::for_net(net);
    let iface = state.interface.clone().unwrap_or_else(|| "softap".into());
    let socket = PathBuf::from(hostapd::CTRL_DIR).join(&iface);
    let mut h = HostapdStatus {
        socket: socket.display().to_string(),
        reachable: false,
        state: None,
        error: None,
    };
    let mut clients = Vec::new();
    let mut services = std::collections::BTreeMap::new();
    if !dry_run {
        for unit in [
            "softap-agent.service",
            crate::apply::HOSTAPD_UNIT,
            crate::apply::LIBVIRT_UNIT,
            crate::apply::NETWORKD_UNIT,
        ] {
            services.insert(unit.to_string(), unit_state(unit));
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
                clients = stations;
            }
            Err(e) => h.error = Some(e.to_string()),
        }
    }
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
    Ok(Status {
        ssid: state.ssid.clone(),
        passphrase,
        security,
        phy: state.phy.as_ref().map(|p| p.name.clone()),
        channel: state.channel,
        subnet: Some(net.to_string()),
        gateway: Some(sub.gateway.to_string()),
        dhcp_start: Some(sub.dhcp_start.to_string()),
        dhcp_end: Some(sub.dhcp_end.to_string()),
        bridge: state.bridge.clone(),
        interface: Some(iface),
        hostapd: h,
        services,
        clients,
        wifi,
        config_problem: state.config_problem.clone(),
        watch_note: state.watch_note.clone(),
    })
}

/// `systemctl is-active UNIT`: active, inactive, failed... or why unknown.
fn unit_state(unit: &str) -> String {
    match std::process::Command::new("systemctl")
        .args(["is-active", unit])
        .output()
    {
        Ok(o) => {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if s.is_empty() {
                "unknown".into()
            } else {
                s
            }
        }
        Err(e) => format!("unknown ({e})"),
    }
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
                    SecurityMode::Open => "open",
                }
            ));
        }
        s.push_str(&format!(
            "Radio:      {} ({}), channel {}\n",
            v(&self.phy),
            v(&self.interface),
            self.channel.map_or("?".into(), |c| c.to_string())
        ));
        s.push_str(&format!(
            "Subnet:     {} (gateway {}, DHCP {} - {}) on {}\n",
            v(&self.subnet),
            v(&self.gateway),
            v(&self.dhcp_start),
            v(&self.dhcp_end),
            v(&self.bridge)
        ));
        s.push_str(&format!("Clients:    {}\n", self.clients.len()));
        for c in &self.clients {
            let secs = c.get("connected_time").unwrap_or("?");
            s.push_str(&format!("  {} connected {} s\n", p(&c.addr), p(secs)));
        }
        if let Some(w) = &self.wifi {
            s.push_str("Scan to join:\n");
            s.push_str(&console::qr_text(w));
            s.push('\n');
        }
        s
    }
}
