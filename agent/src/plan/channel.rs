//! Which channel the AP beacons on: never disabled, no-IR or radar; the
//! upstream station's when the combination allows one channel; otherwise the
//! configured one (default 6).

use serde::Serialize;

use crate::facts::{BandId, Channel, Phy};

use super::phy::PhyFit;

/// The beacon interval rendered into hostapd.conf, in TUs. 100 is what nearly
/// every access point uses, so it matches an upstream AP where the
/// combination demands equal intervals.
pub const BEACON_INT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelChoice {
    pub number: u16,
    pub freq_mhz: u32,
    pub band: BandId,
    /// hostapd's `hw_mode`: `g` for 2.4 GHz, `a` for 5 GHz.
    pub hw_mode: String,
    pub beacon_int: u32,
    /// 802.11n (HT) capabilities reported for the band.
    pub ht: bool,
    /// 802.11ac (VHT) on 5 GHz.
    pub vht: bool,
}

/// Why a channel cannot carry the AP, or `None` when it can.
pub fn unusable(band: BandId, ch: &Channel, country: Option<&str>) -> Option<String> {
    if ch.disabled {
        return Some("disabled".into());
    }
    if ch.no_ir {
        return Some("no-IR (passive scan only: no beaconing allowed)".into());
    }
    if ch.radar {
        return Some("radar (DFS required)".into());
    }
    match band {
        BandId::Band2G4 => {
            if country.is_none() && ch.number > 11 {
                return Some(
                    "outside 1-11, allowed only with a country code that permits it".into(),
                );
            }
            None
        }
        BandId::Band5G => {
            if country.is_none() {
                return Some(
                    "5 GHz, which needs a country code (set `country` in softap.toml)".into(),
                );
            }
            None
        }
        BandId::Band6G => Some("6 GHz, not supported for the AP by this agent".into()),
        BandId::Band60G => Some("60 GHz, not supported for the AP by this agent".into()),
    }
}

fn lookup(phy: &Phy, number: u16, freq: Option<u32>) -> Option<(BandId, bool, bool, &Channel)> {
    for band in &phy.bands {
        for ch in &band.channels {
            let hit = match freq {
                Some(f) => ch.freq_mhz == f,
                // Channel numbers repeat in 6 GHz; config numbers mean 2.4/5 GHz.
                None => {
                    ch.number == number && matches!(band.band, BandId::Band2G4 | BandId::Band5G)
                }
            };
            if hit {
                return Some((band.band, band.ht, band.vht, ch));
            }
        }
    }
    None
}

fn choice(band: BandId, ht: bool, vht: bool, ch: &Channel) -> ChannelChoice {
    ChannelChoice {
        number: ch.number,
        freq_mhz: ch.freq_mhz,
        band,
        hw_mode: if band == BandId::Band2G4 { "g" } else { "a" }.into(),
        beacon_int: BEACON_INT,
        ht,
        vht: vht && band == BandId::Band5G,
    }
}

/// Picks the channel on `phy`. Ok carries the choice and the reason; Err the
/// reason the phy cannot host the AP (it becomes the phy's rejection).
pub fn choose(
    phy: &Phy,
    fit: &PhyFit,
    configured: Option<u16>,
    country: Option<&str>,
) -> Result<(ChannelChoice, String), String> {
    if let Some((iface, number, freq)) = &fit.follow {
        let Some((band, ht, vht, ch)) = lookup(phy, *number, *freq) else {
            return Err(format!(
                "the upstream interface {iface} is on channel {number}, which {} does not list",
                phy.name
            ));
        };
        if let Some(why) = unusable(band, ch, country) {
            return Err(format!(
                "allows only one channel beside {iface}, which is on channel {} ({} MHz), marked {why} here: \
                 the AP cannot follow it there. Remedy: add a second radio, or move the upstream network to \
                 a channel without that flag",
                ch.number, ch.freq_mhz
            ));
        }
        let mut why = format!(
            "channel {} ({} MHz): the combination allows one channel, so the AP follows {iface}",
            ch.number, ch.freq_mhz
        );
        if configured.is_some_and(|c| c != ch.number) {
            why.push_str(&format!(
                " (the configured channel {} is ignored)",
                configured.unwrap_or_default()
            ));
        }
        return Ok((choice(band, ht, vht, ch), why));
    }
    if let Some(number) = configured {
        let Some((band, ht, vht, ch)) = lookup(phy, number, None) else {
            return Err(format!(
                "the configured channel {number} is not one {} supports",
                phy.name
            ));
        };
        if let Some(why) = unusable(band, ch, country) {
            return Err(format!(
                "the configured channel {number} ({} MHz) is {why} here; choose another `channel`",
                ch.freq_mhz
            ));
        }
        return Ok((
            choice(band, ht, vht, ch),
            format!("channel {number} ({} MHz), as configured", ch.freq_mhz),
        ));
    }
    // Default 6, then the other non-overlapping 2.4 GHz channels, then any.
    let mut rejected = Vec::new();
    for number in [6u16, 1, 11] {
        if let Some((band, ht, vht, ch)) = lookup(phy, number, None) {
            match unusable(band, ch, country) {
                None => {
                    let why = if rejected.is_empty() {
                        format!("channel {number} ({} MHz), the default", ch.freq_mhz)
                    } else {
                        format!(
                            "channel {number} ({} MHz): {}",
                            ch.freq_mhz,
                            rejected.join("; ")
                        )
                    };
                    return Ok((choice(band, ht, vht, ch), why));
                }
                Some(w) => rejected.push(format!("channel {number} is {w}")),
            }
        }
    }
    for band in &phy.bands {
        for ch in &band.channels {
            if unusable(band.band, ch, country).is_none() {
                return Ok((
                    choice(band.band, band.ht, band.vht, ch),
                    format!(
                        "channel {} ({} MHz), the first usable one ({})",
                        ch.number,
                        ch.freq_mhz,
                        rejected.join("; ")
                    ),
                ));
            }
        }
    }
    Err(format!(
        "no channel allows an AP (every channel is disabled, no-IR or radar{})",
        if country.is_none() {
            ", or needs a country code"
        } else {
            ""
        }
    ))
}
