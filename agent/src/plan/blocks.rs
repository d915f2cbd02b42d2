//! The channel plan's geometry: which 20 MHz channels make up each 40,
//! 80 and 160 MHz block on 2.4, 5 and 6 GHz, each block's centre, where a
//! primary's secondary channel lies, and the order in which primaries are
//! preferred. Pure data and arithmetic.

use crate::facts::BandId;

use super::caps::Secondary;

/// The 5 GHz primaries in order of preference: the blocks without radar
/// first (36-48, then 149-161), then the rest; radar channels only count
/// where `dfs` allows them.
pub const ORDER_5: [u16; 28] = [
    36, 40, 44, 48, 149, 153, 157, 161, 165, 169, 173, 177, 100, 104, 108, 112, 116, 120, 124, 128,
    132, 136, 140, 144, 52, 56, 60, 64,
];
/// 2.4 GHz: the three channels that do not overlap, 6 first.
pub const ORDER_2G: [u16; 3] = [6, 1, 11];

/// The 5 GHz block of `width` MHz holding `primary`: its channels and centre.
pub fn block_5(primary: u16, width: u32) -> Option<(Vec<u16>, u16)> {
    let blocks: &[(u16, u16)] = match width {
        40 => &[
            (36, 40),
            (44, 48),
            (52, 56),
            (60, 64),
            (100, 104),
            (108, 112),
            (116, 120),
            (124, 128),
            (132, 136),
            (140, 144),
            (149, 153),
            (157, 161),
            (165, 169),
            (173, 177),
        ],
        80 => &[
            (36, 48),
            (52, 64),
            (100, 112),
            (116, 128),
            (132, 144),
            (149, 161),
            (165, 177),
        ],
        160 => &[(36, 64), (100, 128), (149, 177)],
        _ => return Some((vec![primary], primary)),
    };
    let (first, last) = blocks.iter().find(|(a, b)| (*a..=*b).contains(&primary))?;
    let channels: Vec<u16> = (*first..=*last).step_by(4).collect();
    Some((channels, (first + last) / 2))
}

/// The 6 GHz block of `width` MHz holding `primary` (channels 1, 5, 9, …).
pub fn block_6(primary: u16, width: u32) -> Option<(Vec<u16>, u16)> {
    if primary == 0 || primary % 4 != 1 {
        return None;
    }
    let span = match width {
        40 => 8,
        80 => 16,
        160 => 32,
        _ => return Some((vec![primary], primary)),
    };
    let first = 1 + (primary - 1) / span * span;
    let last = first + span - 4;
    let channels: Vec<u16> = (first..=last).step_by(4).collect();
    Some((channels, (first + last) / 2))
}

/// A 2.4 GHz 40 MHz pair: the secondary four channels above (primary up to
/// 7) or below.
pub fn pair_2g(primary: u16) -> (Vec<u16>, u16, Secondary) {
    if primary <= 7 {
        (vec![primary, primary + 4], primary + 2, Secondary::Above)
    } else {
        (vec![primary - 4, primary], primary - 2, Secondary::Below)
    }
}

/// HT40+ when the primary is the lower half of its 40 MHz pair (the pair
/// inside every wider block).
pub fn secondary_of(band: BandId, primary: u16, width: u32) -> Option<Secondary> {
    if width < 40 {
        return None;
    }
    let pair = match band {
        BandId::Band6G => block_6(primary, 40),
        _ => block_5(primary, 40),
    };
    let (_, center) = pair?;
    Some(if primary < center {
        Secondary::Above
    } else {
        Secondary::Below
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_centres() {
        assert_eq!(block_5(44, 80), Some((vec![36, 40, 44, 48], 42)));
        assert_eq!(block_5(157, 80), Some((vec![149, 153, 157, 161], 155)));
        assert_eq!(block_5(40, 40), Some((vec![36, 40], 38)));
        assert_eq!(block_5(36, 160).map(|b| b.1), Some(50));
        assert_eq!(block_6(5, 80), Some((vec![1, 5, 9, 13], 7)));
        assert_eq!(block_6(37, 160).map(|b| b.1), Some(47));
        assert_eq!(block_6(3, 80), None);
        let five = BandId::Band5G;
        assert_eq!(secondary_of(five, 36, 80), Some(Secondary::Above));
        assert_eq!(secondary_of(five, 40, 80), Some(Secondary::Below));
        assert_eq!(secondary_of(five, 149, 80), Some(Secondary::Above));
        assert_eq!(secondary_of(five, 153, 160), Some(Secondary::Below));
        assert_eq!(secondary_of(five, 44, 40), Some(Secondary::Above));
        assert_eq!(secondary_of(BandId::Band6G, 1, 80), Some(Secondary::Above));
        assert_eq!(secondary_of(BandId::Band6G, 5, 80), Some(Secondary::Below));
        assert_eq!(pair_2g(6).2, Secondary::Above);
        assert_eq!(pair_2g(11).2, Secondary::Below);
    }
}
