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

/// The configured `channel`: a primary channel number, or `"auto"`, which
/// leaves the primary within the planned band and width to hostapd's
/// automatic channel selection (a survey of how busy each channel is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelSetting {
    Number(u16),
    Auto,
}

impl fmt::Display for ChannelSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelSetting::Number(n) => write!(f, "{n}"),
            ChannelSetting::Auto => f.write_str("auto"),
        }
    }
}

impl Serialize for ChannelSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ChannelSetting::Number(n) => s.serialize_u16(*n),
            ChannelSetting::Auto => s.serialize_str("auto"),
        }
    }
}

/// Written by hand rather than `untagged`: the error then says what a
/// channel may be instead of "did not match any variant".
impl<'de> Deserialize<'de> for ChannelSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ChannelSetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a channel number or \"auto\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u16::try_from(v)
                    .map(ChannelSetting::Number)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                u16::try_from(v)
                    .map(ChannelSetting::Number)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "auto" => Ok(ChannelSetting::Auto),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The channel widths a `width` may name, in MHz.
pub const WIDTHS: [u16; 4] = [20, 40, 80, 160];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_a_number_or_auto() {
        #[derive(Deserialize)]
        struct T {
            channel: ChannelSetting,
        }
        let t = |s: &str| toml::from_str::<T>(s).map(|t| t.channel);
        assert_eq!(t("channel = 36").unwrap(), ChannelSetting::Number(36));
        assert_eq!(t("channel = \"auto\"").unwrap(), ChannelSetting::Auto);
        for bad in [
            "channel = \"six\"",
            "channel = -1",
            "channel = 70000",
            "channel = 1.5",
        ] {
            let e = t(bad).unwrap_err().to_string();
            assert!(e.contains("a channel number or \"auto\""), "{bad}: {e}");
        }
        for c in [ChannelSetting::Number(6), ChannelSetting::Auto] {
            let json = serde_json::to_value(c).unwrap();
            assert_eq!(json.to_string().trim_matches('"'), c.to_string());
            assert_eq!(serde_json::from_value::<ChannelSetting>(json).unwrap(), c);
        }
    }

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
