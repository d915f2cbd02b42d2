//! The plan: a pure function of facts, configuration and previous state that
//! decides phy, channel, subnet, bridge and security, explaining every choice
//! and every rejection.

pub mod acs;
pub mod blocks;
pub mod caps;
pub mod channel;
mod eht;
pub mod lan;
mod modes;
mod note;
pub mod phy;
mod quiet;
pub mod ra;
pub mod subnet;
mod usable;
pub mod wish;
pub mod wpa;

use std::collections::BTreeSet;

use ipnet::Ipv4Net;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::facts::{Facts, Phy};
use crate::state::{NetworkRecord, PhyRecord, State};

pub use crate::security::SecurityMode;
pub use channel::{ChannelChoice, LinkWish};
pub use lan::{Ipv6Choice, Reservation};
use note::note;
pub use note::{Note, Topic};
pub use subnet::SubnetChoice;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhyChoice {
    pub name: String,
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Its permanent address, when known (kept in the state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    pub sae: bool,
    pub fit: phy::PhyFit,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub ssid: String,
    pub security: SecurityMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub phy: PhyChoice,
    pub channel: ChannelChoice,
    pub subnet: SubnetChoice,
    pub bridge: String,
    pub network_name: String,
    /// The DNS domain dnsmasq answers for the network's hosts.
    pub domain: String,
    /// Stations and VMs may not reach each other.
    pub isolate_clients: bool,
    /// The `[[host]]` reservations in the chosen subnet.
    pub hosts: Vec<Reservation>,
    /// The IPv6 prefix, unless IPv6 is off or no prefix is free.
    pub ipv6: Option<Ipv6Choice>,
    /// Upstream links whose `accept_ra` goes to 2 while the network runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accept_ra: Vec<ra::AcceptRa>,
    pub interface: String,
    /// The AP interface's own MAC address (`MACAddress=` in the netdev).
    pub ap_address: String,
    /// Why each choice was made.
    pub decisions: Vec<Note>,
    /// What was rejected and why.
    pub rejected: Vec<Note>,
    /// Every subnet known to have conflicted (remembered + seen now).
    pub conflicts: Vec<Ipv4Net>,
}

impl Plan {
    /// The state this plan leaves behind (files are added by apply).
    pub fn to_state(&self, previous: &State, config_hash: &str) -> State {
        State {
            phy: Some(PhyRecord {
                name: self.phy.name.clone(),
                index: self.phy.index,
                driver: self.phy.driver.clone(),
                mac: self.phy.mac.clone(),
            }),
            subnet: Some(self.subnet.net),
            network: Some(NetworkRecord {
                name: self.network_name.clone(),
                domain: self.domain.clone(),
                dhcp_start: self.subnet.dhcp_start,
                dhcp_end: self.subnet.dhcp_end,
                ipv6: self.ipv6.as_ref().map(|v| v.net),
            }),
            bridge: Some(self.bridge.clone()),
            channel: Some(self.channel.number),
            running: None,
            ssid: Some(self.ssid.clone()),
            security: Some(self.security),
            interface: Some(self.interface.clone()),
            config_hash: Some(config_hash.to_string()),
            files: previous.files.clone(),
            conflicts: self.conflicts.clone(),
            config_problem: None,
            watch_note: previous.watch_note.clone(),
        }
    }

    /// The human report `plan` prints.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "AP {:?} on {} ({}), channel {} ({}, {}, up to {} Mbit/s), subnet {} via bridge {}\n",
            self.ssid,
            self.phy.name,
            self.interface,
            match &self.channel.acs {
                Some(a) => format!("picked by ACS among {}", a.chanlist_text()),
                None => self.channel.number.to_string(),
            },
            channel::band_name(self.channel.band),
            self.channel.mode_text(),
            self.channel.rate_mbps,
            self.subnet.net,
            self.bridge
        ));
        s.push_str(&format!(
            "Network {:?}, domain {}{}\n\nDecisions:\n",
            self.network_name,
            self.domain,
            self.ipv6
                .as_ref()
                .map(|v| format!(", IPv6 {}", v.net))
                .unwrap_or_default()
        ));
        for n in &self.decisions {
            s.push_str(&format!("  {:<9} {}\n", format!("{}:", n.topic), n.text));
        }
        if !self.rejected.is_empty() {
            s.push_str("\nRejected:\n");
            for n in &self.rejected {
                s.push_str(&format!("  {:<9} {}\n", format!("{}:", n.topic), n.text));
            }
        }
        s
    }
}

/// A phy and why it could not host the AP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhyRejection {
    pub name: String,
    pub modes: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no phy can host the access point{}", rejections_text(.0))]
    NoUsablePhy(Vec<PhyRejection>),
    #[error("the configured phy {wanted:?} was not found; phys present: {present}")]
    PhyNotFound { wanted: String, present: String },
    #[error("the configured phy {name} cannot host the access point: {reason}")]
    ConfiguredPhyUnusable { name: String, reason: String },
    #[error("phy = {0:?}: no phy has that address now (matched through /sys/class/ieee80211/*/macaddress on the live system; facts files carry no phy addresses, so with --facts name the phy, e.g. \"phy0\")")]
    PhyByMacUnsupported(String),
    #[error("security = \"wpa3-transition\" is configured, but {phy} does not support SAE (WPA3); use \"auto\" or \"wpa2\"")]
    SaeUnsupported { phy: String },
    #[error("the subnet pool is exhausted: every candidate overlaps something in use:{}", exhausted_text(.0))]
    PoolExhausted(Vec<(Ipv4Net, String)>),
}

fn rejections_text(r: &[PhyRejection]) -> String {
    if r.is_empty() {
        return ": no wireless phy was found (no adapter, or its driver or firmware is missing)"
            .into();
    }
    let mut s = String::from(":");
    for x in r {
        s.push_str(&format!(
            "\n  {} (modes: {}): {}",
            x.name, x.modes, x.reason
        ));
    }
    s
}

fn exhausted_text(r: &[(Ipv4Net, String)]) -> String {
    r.iter()
        .map(|(n, w)| format!("\n  {n} overlaps {w}"))
        .collect()
}

impl PlanError {
    /// Distinct exit statuses so scripts and the unit can tell them apart.
    pub fn exit_code(&self) -> u8 {
        match self {
            PlanError::NoUsablePhy(_) => 3,
            PlanError::PhyNotFound { .. } | PlanError::ConfiguredPhyUnusable { .. } => 3,
            PlanError::PhyByMacUnsupported(_) => 3,
            PlanError::SaeUnsupported { .. } => 2,
            PlanError::PoolExhausted(_) => 4,
        }
    }
}

/// The SSID used when none is configured: `softap-XXXX` from the machine id.
pub fn default_ssid(machine_id: Option<&str>) -> String {
    match machine_id.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => {
            let h = Sha256::digest(m.as_bytes());
            format!("softap-{}", hex::encode_upper(&h[..2]))
        }
        None => "softap".into(),
    }
}

/// The AP interface's MAC address: locally administered unicast, stable for
/// one machine and interface name. Without it networkd gives the AP the phy's
/// address, which the upstream station on the same phy already uses, and
/// hostapd fails with "Could not set interface ... flags (UP): Name not
/// unique on network". Derived from the machine id, not the phy's address:
/// facts files carry no phy addresses, and phy names are counters.
pub fn ap_address(machine_id: Option<&str>, interface: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"softap-ap-address\0");
    h.update(machine_id.unwrap_or("").trim().as_bytes());
    h.update(b"\0");
    h.update(interface.as_bytes());
    let d = h.finalize();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&d[..6]);
    mac[0] = (mac[0] | 0x02) & !0x01;
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Decides everything. Pure: same inputs, same plan.
pub fn plan(facts: &Facts, cfg: &Config, previous: &State) -> Result<Plan, PlanError> {
    let mut decisions = Vec::new();
    let mut rejected = Vec::new();
    // Phy and channel together: a phy whose only possible channel is
    // unusable is rejected like one without AP mode.
    let (phy, fit, (mut channel, link_notes), country) =
        choose_phy(facts, cfg, previous, &mut rejected)?;
    let mut phy_why = if fit.beside.is_empty() {
        format!("{}: AP mode, and nothing else runs on it", phy.name)
    } else {
        format!(
            "{}: shares the radio with {} through the combination [{}]",
            phy.name,
            fit.beside.join(", "),
            fit.combination
                .as_ref()
                .map(phy::combination_text)
                .unwrap_or_default()
        )
    };
    if let Some(d) = &phy.driver {
        phy_why.push_str(&format!(" (driver {d})"));
    }
    if cfg.phy.is_some() {
        phy_why.push_str(", as configured");
    }
    decisions.push(note(Topic::Phy, phy_why));
    decisions.extend(
        link_notes
            .into_iter()
            .map(|(topic, text)| note(topic, text)),
    );
    let band = phy.bands.iter().find(|b| b.band == channel.band);
    decisions.push(note(
        Topic::Eht,
        eht::decide(band, &facts.hostapd, &mut channel),
    ));
    if fit.beacon_int_must_match() {
        decisions.push(note(Topic::Beacon,
            format!(
                "the combination requires STA/AP beacon intervals to match: beacon_int={} (the usual value)",
                channel.beacon_int
            ),
        ));
    }
    if !channel.ht {
        decisions.push(note(
            Topic::Rates,
            "the band reports no HT capabilities: 802.11n stays off",
        ));
    }
    decisions.push(note(
        Topic::Country,
        wish::country_text(cfg, phy, &facts.scan, country.as_deref()),
    ));

    let security = wpa::choose(cfg.security, phy, channel.band, &mut decisions)?;

    // Bridge, then subnet (addresses on our own bridge are ours).
    let own_net = facts
        .libvirt
        .networks
        .iter()
        .find(|n| n.name == cfg.network_name);
    let own_bridge = own_net.and_then(|n| n.bridge.clone());
    let bridge = choose_bridge(facts, cfg, previous, own_bridge.as_deref(), &mut decisions);
    let mut own_links: BTreeSet<String> = BTreeSet::new();
    own_links.insert(cfg.interface.clone());
    own_links.insert(bridge.clone());
    own_links.extend(own_bridge);
    let (subnet, conflicts) = choose_subnet(facts, cfg, previous, &own_links, &mut decisions)?;
    let hosts = lan::reservations(&cfg.hosts, subnet.net, subnet.dhcp_start_offset());
    for h in &hosts {
        decisions.push(note(
            Topic::Host,
            format!(
                "{} ({}) at {}, host part {} of the subnet, in the {} range",
                h.name,
                h.mac,
                h.address,
                h.offset,
                if h.fixed { "fixed" } else { "DHCP" }
            ),
        ));
    }
    decisions.push(note(Topic::Domain,
        format!(
            "{}: DHCP clients' host names answer as NAME.{} (local only), other names go upstream{}",
            cfg.domain,
            cfg.domain,
            if cfg.domain == crate::config::default_domain(&cfg.network_name) {
                " (derived from the network name)"
            } else {
                ""
            }
        ),
    ));
    let ipv6 = if cfg.ipv6 {
        // The previous prefix belongs to the previous IPv4 subnet.
        let prev = previous
            .network
            .as_ref()
            .and_then(|n| n.ipv6)
            .filter(|_| previous.subnet == Some(subnet.net));
        let (choice, why) =
            lan::choose_ipv6(facts, &cfg.network_name, &own_links, subnet.net, prev);
        decisions.push(note(Topic::Ipv6, why));
        choice
    } else {
        decisions.push(note(Topic::Ipv6, "off, as configured (ipv6 = false)"));
        None
    };
    // Only a network with IPv6 turns IPv6 forwarding on.
    let accept_ra = if ipv6.is_some() {
        let fixes = ra::accept_ra_fixes(facts, &own_links);
        if let Some(why) = ra::explain(facts, &own_links, &fixes) {
            decisions.push(note(Topic::Ipv6, why));
        }
        fixes
    } else {
        Vec::new()
    };
    if cfg.isolate_clients {
        decisions.push(note(Topic::Isolate,
            "clients isolated: stations from stations (hostapd ap_isolate), VMs from VMs (libvirt isolated ports); both reach the gateway, the upstream and each other's kind",
        ));
    }

    let ssid = choose_ssid(cfg.ssid.as_deref(), facts, &mut decisions);

    Ok(Plan {
        ssid,
        security,
        country,
        phy: PhyChoice {
            name: phy.name.clone(),
            index: phy.index,
            driver: phy.driver.clone(),
            mac: phy.mac.clone(),
            sae: phy.sae,
            fit,
        },
        channel,
        subnet,
        bridge,
        network_name: cfg.network_name.clone(),
        domain: cfg.domain.clone(),
        isolate_clients: cfg.isolate_clients,
        hosts,
        ipv6,
        accept_ra,
        interface: cfg.interface.clone(),
        ap_address: ap_address(facts.machine_id.as_deref(), &cfg.interface),
        decisions,
        rejected,
        conflicts,
    })
}

/// A free subnet from the pool, and every subnet known to have conflicted.
fn choose_subnet(
    facts: &Facts,
    cfg: &Config,
    previous: &State,
    own_links: &BTreeSet<String>,
    decisions: &mut Vec<Note>,
) -> Result<(SubnetChoice, Vec<Ipv4Net>), PlanError> {
    let used = subnet::in_use(facts, &cfg.network_name, own_links);
    let outcome = subnet::choose(
        cfg.fixed_range,
        &cfg.subnet_pool,
        &used,
        facts.machine_id.as_deref(),
        previous.subnet,
        &previous.conflicts,
    )
    .map_err(PlanError::PoolExhausted)?;
    decisions.push(note(Topic::Subnet, outcome.why.clone()));
    let c = &outcome.choice;
    let fixed = match c.fixed {
        Some((a, b)) => format!("fixed addresses {a} - {b}"),
        None => "no fixed range".into(),
    };
    let clamped = if c.fixed_clamped {
        format!(
            " (fixed_range = {} does not fit {}: cut to leave DHCP one address)",
            cfg.fixed_range, c.net
        )
    } else {
        String::new()
    };
    decisions.push(note(
        Topic::Dhcp,
        format!(
            "gateway {}, {fixed}, leases {} - {} (fixed_range = {}){clamped}",
            c.gateway, c.dhcp_start, c.dhcp_end, cfg.fixed_range
        ),
    ));
    let mut conflicts = previous.conflicts.clone();
    for (n, _) in &outcome.conflicts {
        if !conflicts.contains(n) {
            conflicts.push(*n);
        }
    }
    Ok((outcome.choice, conflicts))
}

/// The SSID: as configured, else derived from the machine id.
fn choose_ssid(configured: Option<&str>, facts: &Facts, decisions: &mut Vec<Note>) -> String {
    match configured {
        Some(s) => {
            decisions.push(note(Topic::Ssid, format!("{s:?}, as configured")));
            s.to_string()
        }
        None => {
            let s = default_ssid(facts.machine_id.as_deref());
            decisions.push(note(
                Topic::Ssid,
                format!("{s:?}, derived from the machine id (none configured)"),
            ));
            s
        }
    }
}

type PhyPick<'a> = (
    &'a Phy,
    phy::PhyFit,
    (ChannelChoice, Vec<channel::LinkNote>),
    Option<String>,
);

fn choose_phy<'a>(
    facts: &'a Facts,
    cfg: &Config,
    previous: &State,
    rejected: &mut Vec<Note>,
) -> Result<PhyPick<'a>, PlanError> {
    let wish = wish::link_wish(cfg);
    let try_phy = |p: &'a Phy| -> Result<PhyPick<'a>, String> {
        let fit = phy::evaluate(facts, p, &cfg.interface)?;
        let country = wish::country_for(cfg, p, &facts.scan);
        let upstream_width = fit.follow.as_ref().and_then(|(iface, _, _)| {
            facts
                .interfaces
                .iter()
                .find(|i| &i.name == iface)
                .and_then(|i| i.width_mhz)
        });
        let heard = quiet::Heard {
            scan: &facts.scan,
            previous: previous.channel,
        };
        let ch = channel::choose(p, &fit, &wish, country.as_deref(), upstream_width, &heard)?;
        Ok((p, fit, ch, country))
    };
    if let Some(wanted) = &cfg.phy {
        if phy::looks_like_mac(wanted) {
            return Err(PlanError::PhyByMacUnsupported(wanted.clone()));
        }
        let Some(p) = facts.phys.iter().find(|p| phy::matches_config(p, wanted)) else {
            let present: Vec<&str> = facts.phys.iter().map(|p| p.name.as_str()).collect();
            return Err(PlanError::PhyNotFound {
                wanted: wanted.clone(),
                present: if present.is_empty() {
                    "none".into()
                } else {
                    present.join(", ")
                },
            });
        };
        return try_phy(p).map_err(|reason| PlanError::ConfiguredPhyUnusable {
            name: p.name.clone(),
            reason,
        });
    }
    // The previous choice first (the AP stays where its users knew it, and
    // a radio coming back gets it again even while its driver still has a
    // station interface up), then free phys before shared ones (no channel
    // constraint), then by index.
    let mut order: Vec<&Phy> = facts.phys.iter().collect();
    // By permanent address where both are known: names are counters that
    // change when the driver is reloaded or the adapter replugged.
    let was_previous = |p: &Phy| {
        previous
            .phy
            .as_ref()
            .is_some_and(|r| match (&r.mac, &p.mac) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => r.name == p.name && r.driver == p.driver,
            })
    };
    order.sort_by_key(|p| {
        (
            !was_previous(p),
            !phy::interfaces_on(facts, p, &cfg.interface).is_empty(),
            p.index,
        )
    });
    let mut failures = Vec::new();
    let mut chosen = None;
    for p in order {
        match try_phy(p) {
            Ok(pick) if chosen.is_none() => chosen = Some(pick),
            Ok(_) => rejected.push(note(Topic::Phy,
                format!(
                    "{}: could host the AP too, but {} is preferred (the previous choice first, then free radios, then by index)",
                    p.name,
                    chosen.as_ref().map(|c: &PhyPick<'_>| c.0.name.as_str()).unwrap_or("")
                ),
            )),
            Err(reason) => failures.push(PhyRejection {
                name: p.name.clone(),
                modes: phy::modes_text(p),
                reason,
            }),
        }
    }
    match chosen {
        Some(pick) => {
            for f in failures {
                rejected.push(note(
                    Topic::Phy,
                    format!("{} (modes: {}): {}", f.name, f.modes, f.reason),
                ));
            }
            Ok(pick)
        }
        None => {
            let mut failures = failures;
            failures.sort_by(|a, b| a.name.cmp(&b.name));
            Err(PlanError::NoUsablePhy(failures))
        }
    }
}

fn choose_bridge(
    facts: &Facts,
    cfg: &Config,
    previous: &State,
    own_bridge: Option<&str>,
    decisions: &mut Vec<Note>,
) -> String {
    // Links we know of: every interface that has an address or a route.
    let mut links: BTreeSet<&str> = BTreeSet::new();
    links.extend(facts.addresses.iter().map(|a| a.ifname.as_str()));
    links.extend(facts.routes.iter().filter_map(|r| r.dev.as_deref()));
    links.extend(facts.interfaces.iter().map(|i| i.name.as_str()));
    let taken = |name: &str| -> Option<String> {
        if let Some(n) = facts
            .libvirt
            .networks
            .iter()
            .find(|n| n.name != cfg.network_name && n.bridge.as_deref() == Some(name))
        {
            return Some(format!("libvirt network {:?} owns it", n.name));
        }
        let ours = own_bridge == Some(name) || previous.bridge.as_deref() == Some(name);
        if !ours && links.contains(name) {
            return Some("a link of that name exists".into());
        }
        None
    };
    match taken(&cfg.bridge) {
        None => {
            decisions.push(note(
                Topic::Bridge,
                format!("{}, as configured", cfg.bridge),
            ));
            cfg.bridge.clone()
        }
        Some(why) => {
            let free = (1..1000)
                .map(|i| format!("virbr{i}"))
                .find(|n| n != &cfg.bridge && taken(n).is_none())
                .unwrap_or_else(|| "softapbr0".into());
            decisions.push(note(
                Topic::Bridge,
                format!("{free}: {} is taken ({why})", cfg.bridge),
            ));
            free
        }
    }
}

#[cfg(test)]
mod ap_address_tests {
    use super::ap_address;

    #[test]
    fn locally_administered_unicast_and_stable() {
        let a = ap_address(Some("0123456789abcdef0123456789abcdef\n"), "softap");
        assert_eq!(
            a,
            ap_address(Some("0123456789abcdef0123456789abcdef"), "softap")
        );
        let first = u8::from_str_radix(&a[..2], 16).unwrap();
        assert_eq!(first & 0x02, 0x02, "{a}");
        assert_eq!(first & 0x01, 0, "{a}");
        assert_eq!(a.len(), 17);
        assert_ne!(
            a,
            ap_address(Some("fedcba9876543210fedcba9876543210"), "softap")
        );
        assert_ne!(
            a,
            ap_address(Some("0123456789abcdef0123456789abcdef"), "wlap0")
        );
    }
}
