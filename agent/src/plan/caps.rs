//! hostapd's capability flags, derived from the driver's capability words
//! bit by bit (hostapd refuses a flag the driver lacks, so none is ever a
//! fixed string), and the PHY rate a two-stream client reaches.

use crate::facts::{Band, BandId};

/// The operating mode, the widest first: what the AP turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// 802.11a/g rates only.
    Legacy,
    /// 802.11n (HT).
    Ht,
    /// 802.11ac (VHT), 5 GHz only.
    Vht,
    /// 802.11ax (HE).
    He,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Legacy => "legacy",
            Mode::Ht => "HT",
            Mode::Vht => "VHT",
            Mode::He => "HE",
        }
    }
}

/// Where a 40 MHz channel's secondary 20 MHz lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Secondary {
    Above,
    Below,
}

// The HT capability word (IEEE 802.11-2020 9.4.2.55.2).
const HT_LDPC: u16 = 1 << 0;
const HT_SUP_WIDTH_20_40: u16 = 1 << 1;
const HT_SGI_20: u16 = 1 << 5;
const HT_SGI_40: u16 = 1 << 6;
const HT_TX_STBC: u16 = 1 << 7;
const HT_RX_STBC_SHIFT: u16 = 8;
const HT_MAX_AMSDU_7935: u16 = 1 << 11;
const HT_DSSSCCK40: u16 = 1 << 12;

// The VHT capability word (9.4.2.157.2).
const VHT_MAX_MPDU_MASK: u32 = 0b11;
const VHT_WIDTH_MASK: u32 = 0b11 << 2;
const VHT_RXLDPC: u32 = 1 << 4;
const VHT_SGI_80: u32 = 1 << 5;
const VHT_SGI_160: u32 = 1 << 6;
const VHT_TX_STBC: u32 = 1 << 7;
const VHT_RX_STBC_SHIFT: u32 = 8;
const VHT_SU_BEAMFORMER: u32 = 1 << 11;
const VHT_SU_BEAMFORMEE: u32 = 1 << 12;
const VHT_BF_ANTENNA_SHIFT: u32 = 13;
const VHT_SOUNDING_SHIFT: u32 = 16;
const VHT_MU_BEAMFORMER: u32 = 1 << 19;
const VHT_HTC: u32 = 1 << 22;
const VHT_AMPDU_EXP_SHIFT: u32 = 23;
const VHT_RX_ANTENNA_PATTERN: u32 = 1 << 28;
const VHT_TX_ANTENNA_PATTERN: u32 = 1 << 29;

/// The band supports 40 MHz HT channels.
pub fn ht40(band: &Band) -> bool {
    band.ht_capa.is_some_and(|c| c & HT_SUP_WIDTH_20_40 != 0)
}

/// The band's VHT supports 160 MHz.
pub fn vht160(band: &Band) -> bool {
    band.vht_capa.is_some_and(|c| c & VHT_WIDTH_MASK != 0)
}

/// hostapd's `ht_capab` for `width` MHz on this band.
pub fn ht_capab(band: &Band, width: u32, secondary: Option<Secondary>) -> String {
    let Some(c) = band.ht_capa else {
        return String::new();
    };
    let mut flags: Vec<&str> = Vec::new();
    if width >= 40 {
        match secondary {
            Some(Secondary::Above) => flags.push("[HT40+]"),
            Some(Secondary::Below) => flags.push("[HT40-]"),
            None => {}
        }
    }
    if c & HT_LDPC != 0 {
        flags.push("[LDPC]");
    }
    if c & HT_SGI_20 != 0 {
        flags.push("[SHORT-GI-20]");
    }
    if c & HT_SGI_40 != 0 && width >= 40 {
        flags.push("[SHORT-GI-40]");
    }
    if c & HT_TX_STBC != 0 {
        flags.push("[TX-STBC]");
    }
    match (c >> HT_RX_STBC_SHIFT) & 0b11 {
        1 => flags.push("[RX-STBC1]"),
        2 => flags.push("[RX-STBC12]"),
        3 => flags.push("[RX-STBC123]"),
        _ => {}
    }
    if c & HT_MAX_AMSDU_7935 != 0 {
        flags.push("[MAX-AMSDU-7935]");
    }
    if c & HT_DSSSCCK40 != 0 && width >= 40 && band.band == BandId::Band2G4 {
        flags.push("[DSSS_CCK-40]");
    }
    flags.concat()
}

/// hostapd's `vht_capab` for `width` MHz.
pub fn vht_capab(band: &Band, width: u32) -> String {
    let Some(c) = band.vht_capa else {
        return String::new();
    };
    let mut flags: Vec<String> = Vec::new();
    match c & VHT_MAX_MPDU_MASK {
        1 => flags.push("[MAX-MPDU-7991]".into()),
        2 => flags.push("[MAX-MPDU-11454]".into()),
        _ => {}
    }
    if width >= 160 {
        match (c & VHT_WIDTH_MASK) >> 2 {
            1 => flags.push("[VHT160]".into()),
            2 => flags.push("[VHT160-80PLUS80]".into()),
            _ => {}
        }
    }
    if c & VHT_RXLDPC != 0 {
        flags.push("[RXLDPC]".into());
    }
    if c & VHT_SGI_80 != 0 {
        flags.push("[SHORT-GI-80]".into());
    }
    if c & VHT_SGI_160 != 0 && width >= 160 {
        flags.push("[SHORT-GI-160]".into());
    }
    if c & VHT_TX_STBC != 0 {
        flags.push("[TX-STBC-2BY1]".into());
    }
    let rx_stbc = (c >> VHT_RX_STBC_SHIFT) & 0b111;
    if (1..=4).contains(&rx_stbc) {
        flags.push(format!(
            "[RX-STBC-{}]",
            "1234".get(..rx_stbc as usize).unwrap_or("1")
        ));
    }
    if c & VHT_SU_BEAMFORMER != 0 {
        flags.push("[SU-BEAMFORMER]".into());
        let sounding = (c >> VHT_SOUNDING_SHIFT) & 0b111;
        if sounding > 0 {
            flags.push(format!("[SOUNDING-DIMENSION-{}]", sounding + 1));
        }
    }
    if c & VHT_SU_BEAMFORMEE != 0 {
        flags.push("[SU-BEAMFORMEE]".into());
        let sts = (c >> VHT_BF_ANTENNA_SHIFT) & 0b111;
        if sts > 0 {
            flags.push(format!("[BF-ANTENNA-{}]", sts + 1));
        }
    }
    if c & VHT_MU_BEAMFORMER != 0 {
        flags.push("[MU-BEAMFORMER]".into());
    }
    if c & VHT_HTC != 0 {
        flags.push("[HTC-VHT]".into());
    }
    flags.push(format!(
        "[MAX-A-MPDU-LEN-EXP{}]",
        (c >> VHT_AMPDU_EXP_SHIFT) & 0b111
    ));
    if c & VHT_RX_ANTENNA_PATTERN != 0 {
        flags.push("[RX-ANTENNA-PATTERN]".into());
    }
    if c & VHT_TX_ANTENNA_PATTERN != 0 {
        flags.push("[TX-ANTENNA-PATTERN]".into());
    }
    flags.concat()
}

/// The streams the AP offers in `mode` on this band (1 where unknown).
pub fn streams(band: &Band, mode: Mode) -> u8 {
    let n = match mode {
        Mode::He => band.he_ap.as_ref().map(|h| h.streams).filter(|n| *n > 0),
        Mode::Vht => band.vht_streams,
        Mode::Ht | Mode::Legacy => band.ht_streams,
    };
    n.or(band.ht_streams).unwrap_or(1).max(1)
}

/// Whether the band's short guard interval applies at `width` MHz.
fn short_gi(band: &Band, mode: Mode, width: u32) -> bool {
    match mode {
        Mode::Vht if width >= 160 => band.vht_capa.is_some_and(|c| c & VHT_SGI_160 != 0),
        Mode::Vht if width >= 80 => band.vht_capa.is_some_and(|c| c & VHT_SGI_80 != 0),
        Mode::Ht | Mode::Vht if width >= 40 => band.ht_capa.is_some_and(|c| c & HT_SGI_40 != 0),
        Mode::Ht | Mode::Vht => band.ht_capa.is_some_and(|c| c & HT_SGI_20 != 0),
        Mode::He | Mode::Legacy => false,
    }
}

/// The PHY rate in Mbit/s a client with two spatial streams reaches at the
/// best MCS of `mode` and `width` (HE MCS 11 at 0.8 µs; VHT MCS 9, MCS 8 at
/// 20 MHz; HT MCS 7), over the streams both sides have.
pub fn client_rate(band: &Band, mode: Mode, width: u32) -> f64 {
    let nss = f64::from(streams(band, mode).min(2));
    let sgi = short_gi(band, mode, width);
    let per_stream = match (mode, width) {
        (Mode::Legacy, _) => return 54.0,
        (Mode::He, 20) => 143.382,
        (Mode::He, 40) => 286.765,
        (Mode::He, 80) => 600.490,
        (Mode::He, _) => 1200.980,
        (Mode::Vht, 20) => pick(sgi, 86.667, 78.0),
        (Mode::Vht, 40) => pick(sgi, 200.0, 180.0),
        (Mode::Vht, 80) => pick(sgi, 433.333, 390.0),
        (Mode::Vht, _) => pick(sgi, 866.667, 780.0),
        (Mode::Ht, 20) => pick(sgi, 72.222, 65.0),
        (Mode::Ht, _) => pick(sgi, 150.0, 135.0),
    };
    (per_stream * nss * 10.0).round() / 10.0
}

fn pick(sgi: bool, short: f64, long: f64) -> f64 {
    if sgi {
        short
    } else {
        long
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::HeCaps;

    fn band(id: BandId, ht: u16, vht: Option<u32>) -> Band {
        Band {
            band: id,
            ht: true,
            vht: vht.is_some(),
            ht_capa: Some(ht),
            ht_streams: Some(2),
            vht_capa: vht,
            vht_streams: vht.map(|_| 2),
            ..Band::default()
        }
    }

    #[test]
    fn mt7612u_flags_from_its_words() {
        // MT7612U's 5 GHz words, as its `iw list` prints them.
        let b = band(BandId::Band5G, 0x1ff, Some(0x318001b0));
        assert_eq!(
            ht_capab(&b, 80, Some(Secondary::Above)),
            "[HT40+][LDPC][SHORT-GI-20][SHORT-GI-40][TX-STBC][RX-STBC1]"
        );
        assert_eq!(
            vht_capab(&b, 80),
            "[RXLDPC][SHORT-GI-80][TX-STBC-2BY1][RX-STBC-1][MAX-A-MPDU-LEN-EXP3][RX-ANTENNA-PATTERN][TX-ANTENNA-PATTERN]"
        );
        assert_eq!(client_rate(&b, Mode::Vht, 80), 866.7);
        assert_eq!(client_rate(&b, Mode::Ht, 40), 300.0);
    }

    #[test]
    fn hwsim_vht160_only_when_used() {
        let b = band(BandId::Band5G, 0x107e, Some(0x038004fa));
        let at80 = vht_capab(&b, 80);
        assert!(!at80.contains("VHT160"), "{at80}");
        assert!(!at80.contains("SHORT-GI-160"), "{at80}");
        assert!(
            at80.starts_with("[MAX-MPDU-11454][RXLDPC][SHORT-GI-80]"),
            "{at80}"
        );
        assert!(at80.contains("[RX-STBC-1234]"), "{at80}");
        let at160 = vht_capab(&b, 160);
        assert!(at160.contains("[VHT160-80PLUS80]"), "{at160}");
        assert!(at160.contains("[SHORT-GI-160]"), "{at160}");
    }

    #[test]
    fn twenty_mhz_has_no_ht40_flags() {
        let b = band(BandId::Band2G4, 0x19ef, None);
        let s = ht_capab(&b, 20, None);
        assert!(
            !s.contains("HT40") && !s.contains("SHORT-GI-40") && !s.contains("DSSS"),
            "{s}"
        );
        assert!(ht_capab(&b, 40, Some(Secondary::Below)).contains("[HT40-]"));
        assert!(ht_capab(&b, 40, Some(Secondary::Below)).contains("[DSSS_CCK-40]"));
        assert_eq!(client_rate(&b, Mode::Ht, 20), 144.4);
    }

    #[test]
    fn he_rates_for_a_two_stream_client() {
        let mut b = band(BandId::Band5G, 0x9ff, Some(0x339071b2));
        b.he_ap = Some(HeCaps {
            phy_cap0: 0x04,
            streams: 2,
            eht: false,
        });
        assert_eq!(client_rate(&b, Mode::He, 80), 1201.0);
        assert_eq!(client_rate(&b, Mode::He, 20), 286.8);
        // A one-stream AP: the client's second stream is idle.
        b.he_ap = Some(HeCaps {
            phy_cap0: 0x04,
            streams: 1,
            eht: false,
        });
        assert_eq!(client_rate(&b, Mode::He, 80), 600.5);
    }
}
