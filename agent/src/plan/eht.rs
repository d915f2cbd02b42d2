//! Whether the AP runs 802.11be (EHT) on top of 802.11ax: only where the
//! card lists EHT for an AP on the chosen band, HE is on, and the image's
//! hostapd accepts `ieee80211be` (asked of it, see
//! `facts::hostapd_probe`): a hostapd built without 802.11be refuses the
//! whole file over that one line, and the AP would not start.

use crate::facts::{Band, HostapdFacts};

use super::caps::{self, Mode};
use super::channel::ChannelChoice;

/// Turns EHT on in `choice` when everything allows it (the rate becomes
/// EHT's); what was decided, for the plan's notes.
pub(super) fn decide(
    band: Option<&Band>,
    hostapd: &HostapdFacts,
    choice: &mut ChannelChoice,
) -> String {
    let band_name = super::channel::band_name(choice.band);
    let listed = band.and_then(|b| b.he_ap.as_ref()).is_some_and(|h| h.eht);
    let why_not = if !listed {
        Some(format!("the card lists no EHT for AP on {band_name}"))
    } else if choice.mode != Mode::He {
        Some("802.11ax (HE) is not on here, and 802.11be builds on it".into())
    } else {
        match hostapd.ieee80211be {
            Some(true) => None,
            Some(false) => Some("the image's hostapd does not accept ieee80211be".into()),
            None => Some(
                "it is not known whether the image's hostapd accepts ieee80211be (it was not asked)"
                    .into(),
            ),
        }
    };
    if let Some(why) = why_not {
        return format!("802.11be not used: {why}");
    }
    choice.eht = true;
    if let Some(b) = band {
        choice.rate_mbps = client_rate(b, choice.width_mhz);
    }
    format!(
        "802.11be (EHT) on: the card lists EHT for AP on {band_name} and the image's hostapd accepts ieee80211be; {} at the HE width and centre, up to {} Mbit/s",
        choice.mode_text(),
        choice.rate_mbps
    )
}

/// The PHY rate in Mbit/s a two-stream client reaches with EHT at `width`:
/// MCS 13 (4096-QAM, rate 5/6) at 0.8 µs, over the streams both sides have.
pub(super) fn client_rate(band: &Band, width: u32) -> f64 {
    let nss = f64::from(caps::streams(band, Mode::He).min(2));
    let per_stream = match width {
        20 => 172.059,
        40 => 344.118,
        80 => 720.588,
        _ => 1441.176,
    };
    (per_stream * nss * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{BandId, HeCaps};

    fn band(eht: bool) -> Band {
        Band {
            band: BandId::Band5G,
            ht: true,
            vht: true,
            ht_streams: Some(2),
            he_ap: Some(HeCaps {
                phy_cap0: 0x04,
                streams: 2,
                eht,
            }),
            ..Band::default()
        }
    }

    fn he80() -> ChannelChoice {
        ChannelChoice {
            number: 36,
            freq_mhz: 5180,
            band: BandId::Band5G,
            hw_mode: "a".into(),
            beacon_int: 100,
            ht: true,
            vht: true,
            he: true,
            eht: false,
            width_mhz: 80,
            center_channel: Some(42),
            center_freq_mhz: 5210,
            secondary: None,
            ht_capab: String::new(),
            vht_capab: String::new(),
            op_class: None,
            dfs: false,
            mode: Mode::He,
            rate_mbps: 1201.0,
            acs: None,
        }
    }

    fn accepts(v: Option<bool>) -> HostapdFacts {
        HostapdFacts { ieee80211be: v }
    }

    #[test]
    fn on_only_with_the_card_and_the_hostapd() {
        let mut c = he80();
        let why = decide(Some(&band(true)), &accepts(Some(true)), &mut c);
        assert!(c.eht && c.mode == Mode::He, "{c:?}");
        assert_eq!(c.rate_mbps, 1441.2);
        assert_eq!(c.mode_text(), "EHT80");
        assert!(why.starts_with("802.11be (EHT) on"), "{why}");

        let mut c = he80();
        let why = decide(Some(&band(true)), &accepts(Some(false)), &mut c);
        assert!(!c.eht && c.rate_mbps == 1201.0, "{c:?}");
        assert_eq!(
            why,
            "802.11be not used: the image's hostapd does not accept ieee80211be"
        );

        let mut c = he80();
        let why = decide(Some(&band(false)), &accepts(Some(true)), &mut c);
        assert!(!c.eht);
        assert_eq!(
            why,
            "802.11be not used: the card lists no EHT for AP on 5 GHz"
        );

        let mut c = he80();
        let why = decide(Some(&band(true)), &accepts(None), &mut c);
        assert!(!c.eht && why.contains("not known"), "{why}");

        let mut c = he80();
        c.mode = Mode::Vht;
        let why = decide(Some(&band(true)), &accepts(Some(true)), &mut c);
        assert!(!c.eht && why.contains("(HE) is not on"), "{why}");
    }

    #[test]
    fn eht_rates_are_a_fifth_above_he() {
        let b = band(true);
        assert_eq!(client_rate(&b, 20), 344.1);
        assert_eq!(client_rate(&b, 80), 1441.2);
        assert_eq!(client_rate(&b, 160), 2882.4);
    }
}
