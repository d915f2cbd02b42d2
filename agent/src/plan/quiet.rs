//! The default primary within the chosen block: the one on which the
//! kernel's last scan heard the fewest access points (their beacons and
//! management frames go out on the primary). Among equals the primary of
//! the last apply, kept in the state, so that the AP does not move for
//! nothing; then the order of preference.

use crate::facts::ScannedBss;

/// What the plan heard around it, and where the AP ran last.
#[derive(Debug, Clone, Copy, Default)]
pub struct Heard<'a> {
    pub scan: &'a [ScannedBss],
    /// The primary channel of the last apply (the state's).
    pub previous: Option<u16>,
}

/// How many access points the scan heard on `freq_mhz`.
pub fn networks_on(scan: &[ScannedBss], freq_mhz: u32) -> usize {
    scan.iter().filter(|b| b.freq_mhz == freq_mhz).count()
}

/// Among `candidates` (primary, frequency), in order of preference, the
/// quietest and the note that says why; `None` without a scan (nothing
/// heard is no reason to move) or with fewer than two candidates.
pub fn quietest(candidates: &[(u16, u32)], heard: &Heard<'_>) -> Option<(u16, String)> {
    if heard.scan.is_empty() || candidates.len() < 2 {
        return None;
    }
    let counted: Vec<(u16, usize)> = candidates
        .iter()
        .map(|(n, f)| (*n, networks_on(heard.scan, *f)))
        .collect();
    let (pick, count) = counted
        .iter()
        .enumerate()
        .min_by_key(|(i, (n, count))| (*count, Some(*n) != heard.previous, *i))
        .map(|(_, c)| *c)?;
    let kept =
        heard.previous == Some(pick) && counted.iter().filter(|(_, c)| *c == count).count() > 1;
    let others: Vec<String> = counted
        .iter()
        .filter(|(n, _)| *n != pick)
        .map(|(n, c)| format!("{c} on {n}"))
        .collect();
    Some((
        pick,
        format!(
            "the fewest networks heard in the last scan: {count} on {pick}, against {}{}",
            others.join(", "),
            if kept {
                "; kept from the last apply"
            } else {
                ""
            }
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
    fn ties_keep_the_last_primary_then_the_order_of_preference() {
        let scan = [ap(1, 5180), ap(2, 5220)];
        let mut heard = Heard {
            scan: &scan,
            previous: None,
        };
        assert_eq!(quietest(&BLOCK, &heard).map(|p| p.0), Some(40));
        heard.previous = Some(48);
        let (pick, why) = quietest(&BLOCK, &heard).unwrap();
        assert_eq!(pick, 48);
        assert!(why.ends_with("; kept from the last apply"), "{why}");
        // The last primary, now busier, is left.
        let busy = [ap(1, 5240)];
        heard.scan = &busy;
        assert_eq!(quietest(&BLOCK, &heard).map(|p| p.0), Some(36));
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
