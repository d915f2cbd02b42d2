//! `channel = "auto"`: the plan keeps band, width and mode, and hands the
//! primary to hostapd's automatic channel selection (ACS), restricted to
//! the primaries the plan allows.
//!
//! What hostapd's ACS (2.10, `src/ap/acs.c`) does with such a
//! configuration, and why the list and the rendered lines look as they do:
//! - at 40 MHz it handles only a secondary channel above the primary
//!   (`[HT40+]`; "HT40- is not supported yet"), and on 5 GHz it takes only
//!   the lower channel of each 40 MHz pair as a primary;
//! - at 80 and 160 MHz it takes only the first channel of each block as a
//!   primary and then sets the centre itself (primary + 6 for 80, + 14 for
//!   160) for VHT and HE alike, so the centre indexes are left out;
//! - `chanlist` limits the primaries it scans and may pick.

use serde::Serialize;

use crate::facts::{Band, BandId, Channel};

use super::blocks::{block_5, block_6, ORDER_2G};

/// How many times ACS surveys the listed channels: hostapd's default (5)
/// costs seconds of start-up for little gain on a few channels.
pub const NUM_SCANS: u8 = 2;

/// What hostapd's ACS is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acs {
    /// The primaries it may pick, in ascending order: hostapd's `chanlist`.
    pub chanlist: Vec<u16>,
    /// hostapd's `acs_num_scans`.
    pub num_scans: u8,
    /// hostapd's `acs_exclude_dfs`: radar channels left out (no `dfs`).
    pub exclude_dfs: bool,
    /// A listed channel needs radar detection (`dfs` on): hostapd then
    /// needs `ieee80211h`.
    pub radar: bool,
}

impl Acs {
    pub fn new(chanlist: Vec<u16>, dfs: bool, radar: bool) -> Acs {
        Acs {
            chanlist,
            num_scans: NUM_SCANS,
            exclude_dfs: !dfs,
            radar: dfs && radar,
        }
    }

    /// `chanlist=` as hostapd reads it: numbers separated by spaces.
    pub fn chanlist_text(&self) -> String {
        self.chanlist
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether hostapd's ACS may take `primary` as the primary at `width` MHz
/// in `band`: the lower end of its block (see the module's comment).
fn acs_may_start(band: BandId, primary: u16, width: u32) -> bool {
    let first = match (band, width) {
        (BandId::Band2G4, 20) => return ORDER_2G.contains(&primary),
        // HT40+ only: the secondary four channels above.
        (BandId::Band2G4, _) => return primary <= 7,
        (_, 20) => return true,
        (BandId::Band5G, w) => block_5(primary, w),
        (BandId::Band6G, w) => block_6(primary, w),
        _ => None,
    };
    first.and_then(|(channels, _)| channels.first().copied()) == Some(primary)
}

/// The primaries ACS may pick in `band` at `width` MHz: those it takes as
/// a primary at that width and that `carries` (the plan's own test: the
/// channel and its whole block usable at this width and mode). On 2.4 GHz
/// at 20 MHz only 1, 6 and 11, the channels that do not overlap.
pub fn primaries(band: &Band, width: u32, carries: impl Fn(&Channel) -> bool) -> Vec<u16> {
    let mut list: Vec<u16> = band
        .channels
        .iter()
        .filter(|c| acs_may_start(band.band, c.number, width) && carries(c))
        .map(|c| c.number)
        .collect();
    list.sort_unstable();
    list.dedup();
    list
}

/// The plan's note: what ACS chooses among, and what was left out.
pub fn note(band: BandId, width: u32, acs: &Acs) -> String {
    let what = if width > 20 {
        let blocks: Vec<String> = acs
            .chanlist
            .iter()
            .map(|p| {
                let last = match band {
                    BandId::Band2G4 => p + 4,
                    _ => p + (width / 5) as u16 - 4,
                };
                format!("{p}-{last}")
            })
            .collect();
        format!(
            "the {width} MHz block{} {}",
            if blocks.len() == 1 { "" } else { "s" },
            blocks.join(", ")
        )
    } else {
        format!(
            "channel{} {}",
            if acs.chanlist.len() == 1 { "" } else { "s" },
            acs.chanlist
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "channel = \"auto\": hostapd's automatic channel selection (ACS) picks the least busy of {what} \
         on {} after {} survey scans{}",
        super::usable::band_name(band),
        acs.num_scans,
        if acs.exclude_dfs {
            "; radar channels left out (set dfs = true to include them)"
        } else {
            "; radar channels included (dfs = true): the AP listens for radar there first"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(id: BandId, numbers: &[u16]) -> Band {
        Band {
            band: id,
            channels: numbers
                .iter()
                .map(|n| Channel {
                    number: *n,
                    ..Channel::default()
                })
                .collect(),
            ..Band::default()
        }
    }

    #[test]
    fn acs_takes_the_first_primary_of_each_block() {
        let five = band(
            BandId::Band5G,
            &[36, 40, 44, 48, 52, 56, 60, 64, 100, 104, 149, 153, 157, 161],
        );
        assert_eq!(primaries(&five, 80, |_| true), [36, 52, 100, 149]);
        assert_eq!(
            primaries(&five, 80, |c| c.number < 52 || c.number > 144),
            [36, 149]
        );
        assert_eq!(
            primaries(&five, 40, |_| true),
            [36, 44, 52, 60, 100, 149, 157]
        );
        assert_eq!(primaries(&five, 20, |c| c.number == 40).len(), 1);
        let two = band(BandId::Band2G4, &(1..=13).collect::<Vec<_>>());
        assert_eq!(primaries(&two, 20, |_| true), [1, 6, 11]);
        assert_eq!(primaries(&two, 40, |_| true), [1, 2, 3, 4, 5, 6, 7]);
        let six = band(BandId::Band6G, &[1, 5, 9, 13, 17, 21]);
        assert_eq!(primaries(&six, 80, |_| true), [1, 17]);
    }

    #[test]
    fn the_note_names_the_blocks_and_the_radar_rule() {
        let acs = Acs::new(vec![36, 149], false, false);
        assert_eq!(acs.chanlist_text(), "36 149");
        let n = note(BandId::Band5G, 80, &acs);
        assert!(
            n.contains("the 80 MHz blocks 36-48, 149-161 on 5 GHz"),
            "{n}"
        );
        assert!(n.contains("radar channels left out"), "{n}");
        let n = note(BandId::Band2G4, 20, &Acs::new(vec![1, 6, 11], true, false));
        assert!(n.contains("channels 1, 6, 11 on 2.4 GHz"), "{n}");
        assert!(n.contains("radar channels included"), "{n}");
    }
}
