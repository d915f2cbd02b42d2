//! The merged configuration the agent plans from, and its defaults.

use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::layer::Layer;
use crate::link::{ChannelSetting, WifiBand};
use crate::network::{FixedRange, HostEntry};
use crate::origin::{Origins, DEFAULTS};
use crate::security::Security;

/// The merged configuration the planner works from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// `None`: `softap-XXXX` derived from the machine id by the planner.
    pub ssid: Option<String>,
    /// `None`: generated at first apply and stored under `/var/lib/softap`.
    #[serde(skip_serializing)]
    pub passphrase: Option<String>,
    pub security: Security,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// `None`: the planner's best channel; `Auto`: hostapd's automatic
    /// channel selection within the planned band and width.
    pub channel: Option<ChannelSetting>,
    /// The band: 2.4 or 5 GHz, whichever is faster, unless one is named.
    pub band: WifiBand,
    /// The widest channel in MHz; `None`: 20 MHz on 2.4 GHz, 80 on 5 GHz,
    /// 160 on 6 GHz where the card has it.
    pub width: Option<u16>,
    /// Radar (DFS) channels allowed.
    pub dfs: bool,
    /// A phy name (`phy1`), wiphy index, or the phy's MAC address.
    pub phy: Option<String>,
    /// Candidate subnets in order of preference; the first is tried first,
    /// the rest in an order seeded by the machine id.
    pub subnet_pool: Vec<Ipv4Net>,
    pub bridge: String,
    pub network_name: String,
    pub interface: String,
    /// The network's DNS domain.
    pub domain: String,
    pub fixed_range: FixedRange,
    pub isolate_clients: bool,
    pub ipv6: bool,
    /// The `[[host]]` reservations.
    pub hosts: Vec<HostEntry>,
    /// The layers read, lowest first, for `plan` explanations.
    #[serde(skip)]
    pub sources: Vec<String>,
    /// Where each key's value came from.
    #[serde(skip)]
    pub origins: Origins,
    /// How the EFI system partition's file was used.
    #[serde(skip)]
    pub esp: EspLayer,
}

/// How the layer of the EFI system partition's `softap.toml` was read. A
/// user edits that file by hand, so a broken one must not stop the
/// appliance: the text that last worked, or nothing (the image's defaults),
/// takes its place, and the problem is reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EspLayer {
    /// No such file, or `--config` replaced the system's files.
    #[default]
    Absent,
    /// Read from `path`; `text` is what it said, to be kept as the text
    /// that last worked once it has been applied.
    Read { path: PathBuf, text: String },
    /// The file at `path` is broken (`problem` names the line, column and
    /// key); the text kept at `fallback`, or with `None` nothing, was used
    /// in its place.
    Replaced {
        path: PathBuf,
        problem: String,
        /// The same problem as fields.
        place: crate::error::ErrorPlace,
        fallback: Option<PathBuf>,
    },
}

/// The built-in subnet pool: 172.16.0.0/16 as in the original design, then
/// further RFC 1918 /16s and /24s.
pub fn default_subnet_pool() -> Vec<Ipv4Net> {
    let mut pool = Vec::new();
    for b in 16..=31u8 {
        pool.push(Ipv4Net::new_assert(
            std::net::Ipv4Addr::new(172, b, 0, 0),
            16,
        ));
    }
    for b in [77u8, 88, 99, 123, 147, 201] {
        pool.push(Ipv4Net::new_assert(
            std::net::Ipv4Addr::new(10, b, 0, 0),
            16,
        ));
    }
    for c in (100..=250u8).step_by(10) {
        pool.push(Ipv4Net::new_assert(
            std::net::Ipv4Addr::new(192, 168, c, 0),
            24,
        ));
    }
    pool
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ssid: None,
            passphrase: None,
            security: Security::Auto,
            country: None,
            channel: None,
            band: WifiBand::Auto,
            width: None,
            dfs: false,
            phy: None,
            subnet_pool: default_subnet_pool(),
            bridge: "virbr0".into(),
            network_name: "softap".into(),
            interface: "softap".into(),
            domain: default_domain("softap"),
            fixed_range: FixedRange::default(),
            isolate_clients: false,
            ipv6: true,
            hosts: Vec::new(),
            sources: vec![DEFAULTS.into()],
            origins: Origins::default(),
            esp: EspLayer::Absent,
        }
    }
}

/// The DNS domain when none is configured: the network's name, lower case,
/// with every character a domain label may not hold made a '-'.
pub fn default_domain(network_name: &str) -> String {
    let d: String = network_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let d = d.trim_matches(|c| c == '-' || c == '.');
    if d.is_empty() {
        "softap".into()
    } else {
        d.to_owned()
    }
}

/// Builds a configuration from one merged layer over the defaults.
pub fn from_layer(l: Layer, sources: Vec<String>) -> Config {
    let d = Config::default();
    // Destructured, not `..`: a new key does not compile until it is placed.
    let Layer {
        ssid,
        passphrase,
        security,
        country,
        channel,
        band,
        width,
        dfs,
        phy,
        subnet_pool,
        bridge,
        network_name,
        interface,
        domain,
        fixed_range,
        isolate_clients,
        ipv6,
        host,
    } = l;
    let network_name = network_name.unwrap_or(d.network_name);
    Config {
        ssid,
        passphrase,
        security: security.unwrap_or(d.security),
        country: country
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty()),
        channel,
        band: band.unwrap_or(d.band),
        width,
        dfs: dfs.unwrap_or(d.dfs),
        phy: phy.filter(|p| !p.trim().is_empty()),
        subnet_pool: subnet_pool.unwrap_or(d.subnet_pool),
        bridge: bridge.unwrap_or(d.bridge),
        domain: domain.unwrap_or_else(|| default_domain(&network_name)),
        network_name,
        interface: interface.unwrap_or(d.interface),
        fixed_range: fixed_range.unwrap_or(d.fixed_range),
        isolate_clients: isolate_clients.unwrap_or(d.isolate_clients),
        ipv6: ipv6.unwrap_or(d.ipv6),
        hosts: host.unwrap_or(d.hosts),
        sources,
        origins: Origins::default(),
        esp: EspLayer::Absent,
    }
}

impl Config {
    /// A stable hash of everything that changes the rendered files.
    pub fn hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(self).unwrap_or_default());
        if let Some(p) = &self.passphrase {
            h.update(b"\0passphrase\0");
            h.update(p.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }
}
