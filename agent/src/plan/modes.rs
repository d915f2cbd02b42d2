//! The mode a primary allows and the widest width a band defaults to:
//! what the channel plan asks of the card before it looks at blocks.

use crate::facts::{Band, BandId, Channel};

use super::caps::Mode;

/// The mode the primary allows: HE where the card offers it to an AP and
/// the channel permits it, VHT on 5 GHz, HT, else legacy.
pub(super) fn mode_for(band: &Band, primary: &Channel) -> Mode {
    if band.he_ap.is_some() && !primary.no_he {
        Mode::He
    } else if band.band == BandId::Band5G && band.vht {
        Mode::Vht
    } else if band.ht {
        Mode::Ht
    } else {
        Mode::Legacy
    }
}

/// The widest mode that runs `width` MHz: HE only where the card lists HE
/// at that width (hwsim's HE, say, is 20 MHz only on 2.4 GHz), else VHT or
/// HT, whose widths `width_possible` has checked.
pub(super) fn mode_at(band: &Band, widest: Mode, width: u32) -> Mode {
    let he_width = band
        .he_ap
        .as_ref()
        .is_some_and(|h| match (band.band, width) {
            (_, 20) => true,
            (BandId::Band2G4, _) => h.he40_2g() && width == 40,
            (_, 40 | 80) => h.he80(),
            _ => h.he160(),
        });
    match widest {
        Mode::He if !he_width && band.band == BandId::Band5G && band.vht => Mode::Vht,
        Mode::He if !he_width => Mode::Ht,
        m => m,
    }
}

/// The default widest width of a band, and the widest the configured
/// `width` (`wanted`) and a followed station (`follow`) allow.
pub(super) fn width_cap(band: &Band, wanted: Option<u32>, follow: Option<u32>) -> u32 {
    let default = match band.band {
        BandId::Band2G4 => 20,
        BandId::Band5G => 80,
        _ => 160,
    };
    let cap = wanted.unwrap_or(default);
    follow.map_or(cap, |f| cap.min(f))
}
