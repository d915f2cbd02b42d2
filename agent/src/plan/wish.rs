//! What the configuration and the kernel ask of the link: the band, width
//! and channel wanted, and the country the AP runs under.

use crate::config::{ChannelSetting, Config};
use crate::facts::scan::agreed_country;
use crate::facts::{Phy, ScannedBss};

use super::channel::LinkWish;

/// The country the AP runs under on `phy`: the configured one, else the one
/// the kernel already applies to the phy (learnt from an upstream access
/// point's Country element, or a self-managed phy's own), else the one the
/// access points around agree on (which the agent asks the kernel for
/// before it plans, as for a configured one).
pub fn country_for(cfg: &Config, phy: &Phy, scan: &[ScannedBss]) -> Option<String> {
    cfg.country
        .clone()
        .or_else(|| phy.country.clone())
        .or_else(|| agreed_country(scan).map(|(c, _)| c))
}

pub fn country_text(cfg: &Config, phy: &Phy, scan: &[ScannedBss], country: Option<&str>) -> String {
    let around = agreed_country(scan).filter(|(c, _)| Some(c.as_str()) == country);
    match (country, &cfg.country, around) {
        (Some(c), Some(_), _) => format!("{c}, as configured (ieee80211d on)"),
        (Some(c), None, Some((_, n))) if !phy.self_managed_reg => format!(
            "country {c} from {n} access point{} around (by their Country elements; none \
             configured; ieee80211d on)",
            if n == 1 { "" } else { "s" }
        ),
        (Some(c), None, _) => format!(
            "{c}, the regulatory domain the kernel applies to {}{} (none configured; ieee80211d on)",
            phy.name,
            if phy.self_managed_reg {
                ", which manages its own"
            } else {
                ", learnt from an access point's Country element or set on this machine"
            }
        ),
        (None, _, _) => "none configured and none applied by the kernel: world regulatory domain, \
             2.4 GHz channels 1-11 only (set `country` for 5 GHz)"
            .into(),
    }
}

/// What the configuration asks of the link.
pub fn link_wish(cfg: &Config) -> LinkWish {
    LinkWish {
        band: cfg.band,
        width: cfg.width.map(u32::from),
        dfs: cfg.dfs,
        channel: match cfg.channel {
            Some(ChannelSetting::Number(n)) => Some(n),
            _ => None,
        },
        acs: cfg.channel == Some(ChannelSetting::Auto),
    }
}
