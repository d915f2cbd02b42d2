//! The default primary within the chosen block: the one on which the
//! kernel's last scan heard the fewest access points (their beacons and
//! management frames go out on the primary), among equals the first in the
//! order of preference. Once applied it is kept in the state and stays
//! while the block is still the plan's: a later scan that hears other
//! networks does not move the AP, which would drop every station on it.

use crate::facts::ScannedBss;

/// What the plan heard around it, and where the AP ran last.
#[derive(Debug, Clone, Copy, Default)]
pub struct Heard<'a> {
    pub scan: &'a [ScannedBss],
    /// The primary channel of the last apply (the state's).
    pub previous: Option<u16>,
}

/// How many access points the scan heard on `freq_mhz`.
pub(super) fn networks_on(scan: &[ScannedBss], freq_mhz: u32) -> usize {
    scan.iter().filter(|b| b.freq_mhz == freq_mhz).count()
}

/// Among `candidates` (primary, frequency), in order of preference, the
/// quietest and the note that says why; `None` without a scan (nothing
/// heard is no reason to move) or with fewer than two candidates.
pub(super) fn quietest(candidates: &[(u16, u32)], heard: &Heard<'_>) -> Option<(u16, String)> {
    if heard.scan.is_empty() || candidates.len() < 2 {
        return None;
    }
    let counted: Vec<(u16, usize)> = candidates
        .iter()
        .map(|(n, f)| (*n, networks_on(heard.scan, *f)))
        .collect();
    if let Some((prev, on_prev)) = heard
        .previous
        .and_then(|p| counted.iter().find(|(n, _)| *n == p))
        .copied()
    {
        let quietest = counted.iter().map(|(_, c)| *c).min().unwrap_or(on_prev);
        return Some((
            prev,
            format!(
                "{prev}, kept from the last apply ({on_prev} networks heard on it in the last \
                 scan, {quietest} on the quietest): moving would drop the stations on it"
            ),
        ));
    }
    let (pick, count) = counted
        .iter()
        .enumerate()
        .min_by_key(|(i, (_, count))| (*count, *i))
        .map(|(_, c)| *c)?;
    let others: Vec<String> = counted
        .iter()
        .filter(|(n, _)| *n != pick)
        .map(|(n, c)| format!("{c} on {n}"))
        .collect();
    Some((
        pick,
        format!(
            "the fewest networks heard in the last scan: {count} on {pick}, against {}",
            others.join(", "),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(n: u8, freq_mhz: u32) -> ScannedBss {
        ScannedBss {
            bssid: format!("02:00:00:00:00:{n:02x}"),
            freq_mhz,
            country: None,
        }
    }

    const BLOCK: [(u16, u32); 4] = [(36, 5180), (40, 5200), (44, 5220), (48, 5240)];

    #[test]
    fn the_primary_with_the_fewest_networks_wins() {
        let scan = [ap(1, 5180), ap(2, 5180), ap(3, 5200), ap(4, 5240)];
        let heard = Heard {
            scan: &scan,
            previous: None,
        };
        let (pick, why) = quietest(&BLOCK, &heard).unwrap();
        assert_eq!(pick, 44);
        assert_eq!(
            why,
            "the fewest networks heard in the last scan: 0 on 44, against 2 on 36, 1 on 40, 1 on 48"
        );
    }

    #[test]
    fn ties_go_to_the_order_of_preference_and_the_applied_primary_stays() {
        let scan = [ap(1, 5180), ap(2, 5220)];
        let mut heard = Heard {
            scan: &scan,
            previous: None,
        };
        assert_eq!(quietest(&BLOCK, &heard).map(|p| p.0), Some(40));
        // Applied on 36, now the busiest: it stays, and the plan says why.
        heard.previous = Some(36);
        let (pick, why) = quietest(&BLOCK, &heard).unwrap();
        assert_eq!(pick, 36);
        assert!(
            why.starts_with("36, kept from the last apply (1 networks heard on it"),
            "{why}"
        );
        // A previous primary outside the block is no reason to stay.
        heard.previous = Some(149);
        assert_eq!(quietest(&BLOCK, &heard).map(|p| p.0), Some(40));
    }

    #[test]
    fn no_scan_moves_nothing() {
        assert_eq!(quietest(&BLOCK, &Heard::default()), None);
        let scan = [ap(1, 5180)];
        let heard = Heard {
            scan: &scan,
            previous: None,
        };
        assert_eq!(quietest(&BLOCK[..1], &heard), None);
    }
}
