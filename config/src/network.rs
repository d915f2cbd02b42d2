//! The shape of the network inside the subnet: how much of it stays out of
//! DHCP (`fixed_range`), and the `[[host]]` reservations. Both are given
//! relative to the subnet (a size, a host part), never as addresses, so they
//! follow the subnet when the agent moves to another one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The bottom of the subnet (after the gateway) that DHCP leaves alone, for
/// hosts that configure their own address and for reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FixedRange {
    /// A share of the subnet's addresses, in percent (0 to 90).
    Percent(u8),
    /// A number of addresses.
    Count(u32),
}

impl Default for FixedRange {
    fn default() -> Self {
        FixedRange::Percent(50)
    }
}

/// The largest share the fixed range may take: DHCP keeps the rest.
pub const MAX_FIXED_PERCENT: u8 = 90;

/// A `fixed_range` that is neither a share nor a count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a share (\"25%\", at most {MAX_FIXED_PERCENT}%) or a number of addresses (\"100\")")]
pub struct BadFixedRange(pub String);

impl FromStr for FixedRange {
    type Err = BadFixedRange;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadFixedRange(s.to_owned());
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let p: u8 = p.trim().parse().map_err(|_| bad())?;
            if p > MAX_FIXED_PERCENT {
                return Err(bad());
            }
            return Ok(FixedRange::Percent(p));
        }
        t.parse().map(FixedRange::Count).map_err(|_| bad())
    }
}

impl TryFrom<String> for FixedRange {
    type Error = BadFixedRange;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<FixedRange> for String {
    fn from(f: FixedRange) -> String {
        f.to_string()
    }
}

impl fmt::Display for FixedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixedRange::Percent(p) => write!(f, "{p}%"),
            FixedRange::Count(n) => write!(f, "{n}"),
        }
    }
}

/// How a subnet of `host_bits` host bits splits, as host parts (offsets
/// from the network address): the gateway is 1, the fixed range
/// `2..dhcp_start`, DHCP `dhcp_start..=dhcp_end` (the last address before
/// the broadcast). DHCP always keeps at least one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub dhcp_start: u32,
    pub dhcp_end: u32,
    /// The configured size did not fit and was cut to leave DHCP an address.
    pub clamped: bool,
}

impl FixedRange {
    /// The split of a subnet with `host_bits` host bits (2 to 24).
    pub fn split(self, host_bits: u8) -> Split {
        let size = 1u64 << host_bits.clamp(2, 31);
        let dhcp_end = size - 2;
        let wanted = match self {
            FixedRange::Percent(p) => (size * u64::from(p) / 100).max(2),
            FixedRange::Count(n) => 2 + u64::from(n),
        };
        let start = wanted.min(dhcp_end);
        Split {
            dhcp_start: u32::try_from(start).unwrap_or(u32::MAX),
            dhcp_end: u32::try_from(dhcp_end).unwrap_or(u32::MAX),
            clamped: start < wanted,
        }
    }
}

/// One `[[host]]` reservation: the machine with this MAC address gets this
/// name and the address at this host part of whichever subnet is in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    pub mac: String,
    pub name: String,
    pub offset: u32,
}

/// Whether `mac` is six colon-separated pairs of hex digits.
pub fn is_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Why `name` is not a DNS label (letters, digits and '-', 1 to 63
/// characters, no '-' at either end), which a host name in the network's
/// domain must be.
pub fn label_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 63 {
        Some("a host name is 1 to 63 characters")
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Some("a host name may contain only letters, digits and '-'")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("a host name may not begin or end with '-'")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shares_and_counts_parse_and_print_back() {
        assert_eq!("50%".parse(), Ok(FixedRange::Percent(50)));
        assert_eq!(" 25 % ".parse(), Ok(FixedRange::Percent(25)));
        assert_eq!("100".parse(), Ok(FixedRange::Count(100)));
        assert_eq!(FixedRange::Percent(0).to_string(), "0%");
        for bad in ["91%", "-1", "half", "", "1.5%", "10.0.0.10"] {
            assert!(bad.parse::<FixedRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_keeps_the_lower_half() {
        let s = FixedRange::default().split(8);
        assert_eq!((s.dhcp_start, s.dhcp_end, s.clamped), (128, 254, false));
        let s = FixedRange::default().split(16);
        assert_eq!((s.dhcp_start, s.dhcp_end), (32768, 65534));
    }

    #[test]
    fn counts_start_after_the_gateway_and_too_much_is_cut() {
        let s = FixedRange::Count(10).split(8);
        assert_eq!((s.dhcp_start, s.dhcp_end, s.clamped), (12, 254, false));
        let s = FixedRange::Count(0).split(8);
        assert_eq!(s.dhcp_start, 2);
        let s = FixedRange::Count(1000).split(8);
        assert_eq!((s.dhcp_start, s.dhcp_end, s.clamped), (254, 254, true));
        let s = FixedRange::Percent(0).split(3);
        assert_eq!((s.dhcp_start, s.dhcp_end), (2, 6));
    }

    #[test]
    fn macs_and_labels() {
        assert!(is_mac("52:54:00:ab:CD:ef"));
        for bad in [
            "52:54:00:ab:cd",
            "52-54-00-ab-cd-ef",
            "52:54:00:ab:cd:eg",
            "",
        ] {
            assert!(!is_mac(bad), "{bad}");
        }
        assert_eq!(label_problem("web-1"), None);
        assert!(label_problem("web.example").is_some());
        assert!(label_problem("-web").is_some());
        assert!(label_problem(&"a".repeat(64)).is_some());
    }

    proptest! {
        #[test]
        fn dhcp_always_keeps_an_address_inside_the_subnet(
            bits in 2u8..=24, pct in 0u8..=MAX_FIXED_PERCENT, n in any::<u32>(),
        ) {
            for f in [FixedRange::Percent(pct), FixedRange::Count(n)] {
                let s = f.split(bits);
                prop_assert!(s.dhcp_start >= 2);
                prop_assert!(s.dhcp_start <= s.dhcp_end);
                prop_assert_eq!(u64::from(s.dhcp_end), (1u64 << bits) - 2);
                prop_assert_eq!(f.to_string().parse::<FixedRange>(), Ok(f));
            }
        }
    }
}
