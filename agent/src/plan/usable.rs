//! Whether one channel may carry the AP at all, whatever the width: the
//! regulatory flags, `dfs`, and the country a band needs.

use crate::facts::{BandId, Channel};

/// Why a channel cannot carry the AP, or `None` when it can.
pub fn unusable(band: BandId, ch: &Channel, country: Option<&str>, dfs: bool) -> Option<String> {
    if ch.disabled {
        return Some("disabled".into());
    }
    if ch.no_ir {
        return Some("no-IR (passive scan only: no beaconing allowed)".into());
    }
    if ch.radar && !dfs {
        return Some("radar (DFS required; set dfs = true to use it)".into());
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
        BandId::Band5G | BandId::Band6G => {
            if country.is_none() {
                return Some(format!(
                    "{}, which needs a country code (set `country` in softap.toml)",
                    band_name(band)
                ));
            }
            None
        }
        BandId::Band60G => Some("60 GHz, not supported for the AP by this agent".into()),
    }
}

pub fn band_name(band: BandId) -> &'static str {
    match band {
        BandId::Band2G4 => "2.4 GHz",
        BandId::Band5G => "5 GHz",
        BandId::Band6G => "6 GHz",
        BandId::Band60G => "60 GHz",
    }
}
