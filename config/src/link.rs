//! The Wi-Fi link settings: which band the access point may use.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The band the access point runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum WifiBand {
    /// 2.4 or 5 GHz, whichever gives the faster link.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "2.4")]
    Ghz2_4,
    #[serde(rename = "5")]
    Ghz5,
    /// 6 GHz: WPA3-SAE only, so never with `security = "wpa2"`.
    #[serde(rename = "6")]
    Ghz6,
}

impl fmt::Display for WifiBand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WifiBand::Auto => "auto",
            WifiBand::Ghz2_4 => "2.4",
            WifiBand::Ghz5 => "5",
            WifiBand::Ghz6 => "6",
        })
    }
}

/// The channel widths a `width` may name, in MHz.
pub const WIDTHS: [u16; 4] = [20, 40, 80, 160];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_agrees_with_serde() {
        for b in [
            WifiBand::Auto,
            WifiBand::Ghz2_4,
            WifiBand::Ghz5,
            WifiBand::Ghz6,
        ] {
            assert_eq!(
                serde_json::to_value(b).unwrap(),
                serde_json::Value::String(b.to_string())
            );
        }
    }
}
