//! Which phy can host the AP, read from its interface combinations whole.
//!
//! The rules: a phy with no existing interface
//! needs only AP mode. Beside existing interfaces (an upstream station), one
//! single combination must hold all of them plus the AP, within its `total`;
//! the `#channels` and beacon-interval flag of *that* combination apply. A
//! phy whose combinations never put AP next to managed cannot share.

use serde::Serialize;

use crate::facts::{Combination, Facts, IfType, Phy, WirelessInterface};

/// How a phy can host the AP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhyFit {
    /// Interfaces already on the phy that the AP must live beside.
    pub beside: Vec<String>,
    /// The combination that allows it (none needed when the phy is free).
    pub combination: Option<Combination>,
    /// Channel of an existing interface the AP must share, when the
    /// combination allows only one channel: (interface, channel, MHz).
    pub follow: Option<(String, u16, Option<u32>)>,
}

impl PhyFit {
    pub fn beacon_int_must_match(&self) -> bool {
        self.combination
            .as_ref()
            .is_some_and(|c| c.beacon_int_must_match)
    }
}

/// Interface types that occupy a slot of a combination. Monitor interfaces
/// and P2P-device (no netdev) are left out, as the kernel does for
/// combination checks of monitor and as wpa_supplicant's p2p-dev is.
fn counts(t: IfType) -> bool {
    !matches!(t, IfType::Monitor | IfType::P2pDevice | IfType::ApVlan)
}

/// Existing interfaces on `phy`, our own AP interface excluded.
pub fn interfaces_on<'a>(
    facts: &'a Facts,
    phy: &Phy,
    own_interface: &str,
) -> Vec<&'a WirelessInterface> {
    facts
        .interfaces
        .iter()
        .filter(|i| i.phy == phy.index && i.name != own_interface && counts(i.iftype))
        .collect()
}

/// Whether `types` (one entry per interface) fit the combination's limits.
pub fn fits(c: &Combination, types: &[IfType]) -> bool {
    if types.len() as u64 > u64::from(c.total) {
        return false;
    }
    let mut room: Vec<u32> = c.limits.iter().map(|l| l.max).collect();
    fn place(c: &Combination, types: &[IfType], room: &mut [u32]) -> bool {
        let Some((first, rest)) = types.split_first() else {
            return true;
        };
        for (i, l) in c.limits.iter().enumerate() {
            if room[i] > 0 && l.types.contains(first) {
                room[i] -= 1;
                if place(c, rest, room) {
                    return true;
                }
                room[i] += 1;
            }
        }
        false
    }
    place(c, types, &mut room)
}

pub fn modes_text(phy: &Phy) -> String {
    if phy.modes.is_empty() {
        return "no interface modes reported".into();
    }
    let names: Vec<String> = phy.modes.iter().map(|m| iftype_name(*m).into()).collect();
    names.join(", ")
}

pub fn iftype_name(t: IfType) -> &'static str {
    match t {
        IfType::Ibss => "IBSS",
        IfType::Managed => "managed",
        IfType::Ap => "AP",
        IfType::ApVlan => "AP/VLAN",
        IfType::Wds => "WDS",
        IfType::Monitor => "monitor",
        IfType::MeshPoint => "mesh point",
        IfType::P2pClient => "P2P-client",
        IfType::P2pGo => "P2P-GO",
        IfType::P2pDevice => "P2P-device",
        IfType::Ocb => "outside context of a BSS",
        IfType::Nan => "NAN",
    }
}

pub fn combination_text(c: &Combination) -> String {
    let limits: Vec<String> = c
        .limits
        .iter()
        .map(|l| {
            let t: Vec<&str> = l.types.iter().map(|t| iftype_name(*t)).collect();
            format!("#{{ {} }} <= {}", t.join(", "), l.max)
        })
        .collect();
    let mut s = format!(
        "{}, total <= {}, #channels <= {}",
        limits.join(", "),
        c.total,
        c.channels
    );
    if c.beacon_int_must_match {
        s.push_str(", STA/AP BI must match");
    }
    s
}

/// Decides whether `phy` can host the AP next to what already runs on it.
/// The error is the human reason it cannot.
pub fn evaluate(facts: &Facts, phy: &Phy, own_interface: &str) -> Result<PhyFit, String> {
    if !phy.modes.contains(&IfType::Ap) {
        return Err(format!("no AP mode (supports: {})", modes_text(phy)));
    }
    let existing = interfaces_on(facts, phy, own_interface);
    if existing.is_empty() {
        return Ok(PhyFit {
            beside: vec![],
            combination: None,
            follow: None,
        });
    }
    let names: Vec<String> = existing
        .iter()
        .map(|i| format!("{} ({})", i.name, iftype_name(i.iftype)))
        .collect();
    if phy.combinations.is_empty() {
        return Err(format!(
            "in use by {} and declares no interface combinations, so it runs AP or station, never both",
            names.join(", ")
        ));
    }
    let mut types: Vec<IfType> = existing.iter().map(|i| i.iftype).collect();
    types.push(IfType::Ap);
    // Most channels first: that combination leaves the AP free to pick one;
    // then the one that does not force beacon intervals to match.
    let best = phy
        .combinations
        .iter()
        .filter(|c| fits(c, &types))
        .max_by_key(|c| (c.channels, !c.beacon_int_must_match));
    let Some(c) = best else {
        let all: Vec<String> = phy.combinations.iter().map(combination_text).collect();
        return Err(format!(
            "in use by {} and no single combination holds them and an AP (combinations: {})",
            names.join(", "),
            all.join("; ")
        ));
    };
    let follow = if c.channels <= 1 {
        existing
            .iter()
            .find_map(|i| i.channel.map(|ch| (i.name.clone(), ch, i.freq_mhz)))
    } else {
        None
    };
    Ok(PhyFit {
        beside: names,
        combination: Some(c.clone()),
        follow,
    })
}

/// Whether a configured `phy = "..."` names this phy.
pub fn matches_config(phy: &Phy, wanted: &str) -> bool {
    let w = wanted.trim();
    w == phy.name || w.parse::<u32>().is_ok_and(|i| i == phy.index)
}

/// A configured phy given as a MAC address (`aa:bb:cc:dd:ee:ff`).
pub fn looks_like_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.trim().split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Limit;

    fn comb(limits: &[(u32, &[IfType])], total: u32, channels: u32) -> Combination {
        Combination {
            limits: limits
                .iter()
                .map(|(max, t)| Limit {
                    max: *max,
                    types: t.to_vec(),
                })
                .collect(),
            total,
            channels,
            beacon_int_must_match: false,
        }
    }

    #[test]
    fn fits_respects_limits_and_total() {
        use IfType::*;
        let intel = comb(&[(1, &[Managed]), (1, &[Ap, P2pGo])], 2, 1);
        assert!(fits(&intel, &[Managed, Ap]));
        assert!(!fits(&intel, &[Managed, Managed, Ap]));
        let shared = comb(&[(2, &[Managed, Ap])], 2, 2);
        assert!(fits(&shared, &[Managed, Ap]));
        assert!(!fits(&shared, &[Managed, Ap, Ap]));
        let small_total = comb(&[(1, &[Managed]), (1, &[Ap])], 1, 1);
        assert!(!fits(&small_total, &[Managed, Ap]));
        let no_managed = comb(&[(8, &[Ap])], 8, 1);
        assert!(!fits(&no_managed, &[Managed, Ap]));
    }

    #[test]
    fn mac_detection() {
        assert!(looks_like_mac("02:00:00:00:01:00"));
        assert!(!looks_like_mac("phy0"));
    }
}
