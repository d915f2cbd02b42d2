//! The Wi-Fi security modes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Wi-Fi security mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Security {
    /// WPA2-PSK only.
    Wpa2,
    /// WPA2-PSK and WPA3-SAE on the same BSS; requires SAE support.
    Wpa3Transition,
    /// WPA3-SAE transition where the phy supports SAE, WPA2-PSK otherwise.
    #[default]
    Auto,
    /// No encryption at all; only when asked for explicitly.
    Open,
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Security::Wpa2 => "wpa2",
            Security::Wpa3Transition => "wpa3-transition",
            Security::Auto => "auto",
            Security::Open => "open",
        })
    }
}

/// A security mode that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown security mode {0:?}: expected \"wpa2\", \"wpa3-transition\", \"auto\" or \"open\""
)]
pub struct UnknownSecurity(pub String);

impl std::str::FromStr for Security {
    type Err = UnknownSecurity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "wpa2" => Ok(Security::Wpa2),
            "wpa3-transition" => Ok(Security::Wpa3Transition),
            "auto" => Ok(Security::Auto),
            "open" => Ok(Security::Open),
            other => Err(UnknownSecurity(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_agree_with_serde() {
        for s in [
            Security::Wpa2,
            Security::Wpa3Transition,
            Security::Auto,
            Security::Open,
        ] {
            assert_eq!(s.to_string().parse::<Security>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.to_string())
            );
        }
        assert!("wep".parse::<Security>().is_err());
    }
}
