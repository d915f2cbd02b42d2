//! What the radio link runs at, read from hostapd's answers: the AP's
//! operating width and mode (`STATUS`) and each station's negotiated mode
//! and last rates (`STA`). Pure: text in, figures out.

use serde::Serialize;

use crate::hostapd::{get, Station};

/// The AP's channel as hostapd runs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveLink {
    pub freq_mhz: u32,
    pub channel: u16,
    pub width_mhz: u32,
    /// The whole channel's centre, for 80 and 160 MHz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub center_channel: Option<u16>,
    /// `EHT` (only where the rendered file turned 802.11be on), `HE`,
    /// `VHT`, `HT` or `legacy`.
    pub mode: &'static str,
}

/// The live link from hostapd's `STATUS` key=value pairs, when it names a
/// frequency.
pub fn live_link(status: &[(String, String)]) -> Option<LiveLink> {
    let num = |k: &str| get(status, k).and_then(|v| v.trim().parse::<u32>().ok());
    let on = |k: &str| num(k) == Some(1);
    let freq_mhz = num("freq")?;
    let channel = u16::try_from(num("channel")?).ok()?;
    let (mode, chwidth, seg0) = if on("ieee80211be") {
        (
            "EHT",
            num("eht_oper_chwidth"),
            num("eht_oper_centr_freq_seg0_idx"),
        )
    } else if on("ieee80211ax") {
        (
            "HE",
            num("he_oper_chwidth"),
            num("he_oper_centr_freq_seg0_idx"),
        )
    } else if on("ieee80211ac") {
        (
            "VHT",
            num("vht_oper_chwidth"),
            num("vht_oper_centr_freq_seg0_idx"),
        )
    } else if on("ieee80211n") {
        ("HT", None, None)
    } else {
        ("legacy", None, None)
    };
    let secondary = get(status, "secondary_channel")
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(0);
    let width_mhz = match chwidth.unwrap_or(0) {
        1 => 80,
        2 | 3 => 160,
        _ if secondary != 0 => 40,
        _ => 20,
    };
    Some(LiveLink {
        freq_mhz,
        channel,
        width_mhz,
        center_channel: seg0
            .filter(|_| width_mhz >= 80)
            .and_then(|c| u16::try_from(c).ok()),
        mode,
    })
}

/// A station's negotiated mode and last rates.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StationLink {
    /// The widest mode both sides have: `EHT`, `HE`, `VHT`, `HT` or
    /// `legacy`.
    pub mode: Option<&'static str>,
    /// The last transmit and receive rates in Mbit/s.
    pub tx_rate_mbps: Option<f64>,
    pub rx_rate_mbps: Option<f64>,
}

/// From `flags=[AUTH][ASSOC][AUTHORIZED][WMM][HT][VHT][HE]` and
/// `tx_rate_info=8667 vhtmcs 9 vhtnss 2 shortGI` (in units of 100 kbit/s).
pub fn station_link(s: &Station) -> StationLink {
    let flags = s.get("flags").unwrap_or("");
    let mode = ["EHT", "HE", "VHT", "HT"]
        .into_iter()
        .find(|m| flags.contains(&format!("[{m}]")))
        .or(Some("legacy").filter(|_| flags.contains("[ASSOC]")));
    let rate = |k: &str| {
        s.get(k)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n as f64 / 10.0)
    };
    StationLink {
        mode,
        tx_rate_mbps: rate("tx_rate_info"),
        rx_rate_mbps: rate("rx_rate_info"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostapd::parse_kv;

    #[test]
    fn he80_from_status() {
        let st = parse_kv(
            "state=ENABLED\nfreq=5180\nchannel=36\nsecondary_channel=1\nieee80211n=1\n\
             ieee80211ac=1\nieee80211ax=1\nvht_oper_chwidth=1\nvht_oper_centr_freq_seg0_idx=42\n\
             he_oper_chwidth=1\nhe_oper_centr_freq_seg0_idx=42\n",
        );
        assert_eq!(
            live_link(&st),
            Some(LiveLink {
                freq_mhz: 5180,
                channel: 36,
                width_mhz: 80,
                center_channel: Some(42),
                mode: "HE"
            })
        );
        let ht20 = parse_kv("freq=2437\nchannel=6\nsecondary_channel=0\nieee80211n=1\n");
        let l = live_link(&ht20).unwrap();
        assert_eq!((l.width_mhz, l.mode, l.center_channel), (20, "HT", None));
        let ht40 = parse_kv("freq=2437\nchannel=6\nsecondary_channel=1\nieee80211n=1\n");
        assert_eq!(live_link(&ht40).unwrap().width_mhz, 40);
        assert_eq!(live_link(&parse_kv("state=DISABLED\n")), None);
        // A hostapd that runs 802.11be reports it beside HE.
        let eht = parse_kv(
            "freq=5180\nchannel=36\nsecondary_channel=1\nieee80211n=1\nieee80211ac=1\n\
             ieee80211ax=1\nhe_oper_chwidth=1\nhe_oper_centr_freq_seg0_idx=42\n\
             ieee80211be=1\neht_oper_chwidth=1\neht_oper_centr_freq_seg0_idx=42\n",
        );
        let l = live_link(&eht).unwrap();
        assert_eq!(
            (l.width_mhz, l.mode, l.center_channel),
            (80, "EHT", Some(42))
        );
    }

    #[test]
    fn a_station_rates_and_mode() {
        let s = Station::parse(
            "02:00:00:00:01:00\nflags=[AUTH][ASSOC][AUTHORIZED][WMM][HT][VHT][HE]\n\
             rx_rate_info=6005 hemcs 11 hensss 1\ntx_rate_info=8667 vhtmcs 9 vhtnss 2 shortGI\n",
        )
        .unwrap();
        assert_eq!(
            station_link(&s),
            StationLink {
                mode: Some("HE"),
                tx_rate_mbps: Some(866.7),
                rx_rate_mbps: Some(600.5)
            }
        );
        let legacy =
            Station::parse("02:00:00:00:01:01\nflags=[AUTH][ASSOC][AUTHORIZED]\n").unwrap();
        assert_eq!(station_link(&legacy).mode, Some("legacy"));
        let eht =
            Station::parse("02:00:00:00:01:02\nflags=[AUTH][ASSOC][HT][VHT][HE][EHT]\n").unwrap();
        assert_eq!(station_link(&eht).mode, Some("EHT"));
    }
}
