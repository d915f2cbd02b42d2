//! The rules a merged configuration must follow, apart from the types: SSID
//! and passphrase lengths, country codes, channel numbers, subnets and names.

use crate::config::Config;
use crate::error::ConfigError;
use crate::origin::Origin;
use crate::security::Security;

/// A value that breaks a rule: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub key: &'static str,
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> Violation {
    Violation {
        key,
        message: message.into(),
    }
}

fn valid_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!(
            "{name:?} must be 1 to 15 characters (a Linux interface name)"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "{name:?} may contain only letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

impl Config {
    /// Checks every value; `origin` names where a key was set.
    pub fn validate(&self, origin: &dyn Fn(&'static str) -> Origin) -> Result<(), ConfigError> {
        self.check().map_err(|v| ConfigError::Invalid {
            key: v.key,
            origin: origin(v.key),
            message: v.message,
        })
    }

    /// The first rule a value breaks, if any.
    pub fn check(&self) -> Result<(), Violation> {
        if let Some(ssid) = &self.ssid {
            if ssid.is_empty() || ssid.len() > 32 {
                return Err(bad(
                    "ssid",
                    format!("an SSID is 1 to 32 bytes; {ssid:?} is {} bytes", ssid.len()),
                ));
            }
        }
        if let Some(p) = &self.passphrase {
            let n = p.chars().count();
            if !(8..=63).contains(&n) {
                return Err(bad(
                    "passphrase",
                    format!("a WPA passphrase is 8 to 63 characters; this one is {n}"),
                ));
            }
            if !p.chars().all(|c| (' '..='~').contains(&c)) {
                return Err(bad(
                    "passphrase",
                    "a WPA passphrase may contain only printable ASCII characters",
                ));
            }
        }
        if self.security == Security::Open && self.passphrase.is_some() {
            return Err(bad(
                "security",
                "security = \"open\" but a passphrase is set: remove one of them",
            ));
        }
        if let Some(c) = &self.country {
            if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()) || c == "00" {
                return Err(bad(
                    "country",
                    format!(
                        "{c:?} is not an ISO 3166-1 alpha-2 country code such as \"DE\" or \"US\""
                    ),
                ));
            }
        }
        if let Some(ch) = self.channel {
            if ch == 0 || ch > 196 {
                return Err(bad(
                    "channel",
                    format!("{ch} is not a Wi-Fi channel number"),
                ));
            }
        }
        if self.subnet_pool.is_empty() {
            return Err(bad("subnet_pool", "the subnet pool is empty"));
        }
        for net in &self.subnet_pool {
            if net.prefix_len() > 29 || net.prefix_len() < 8 {
                return Err(bad(
                    "subnet_pool",
                    format!("{net}: a subnet needs a prefix length between /8 and /29"),
                ));
            }
            if net.network() != net.addr() {
                return Err(bad(
                    "subnet_pool",
                    format!("{net} has host bits set; did you mean {}?", net.trunc()),
                ));
            }
        }
        valid_ifname(&self.bridge).map_err(|m| bad("bridge", m))?;
        valid_ifname(&self.interface).map_err(|m| bad("interface", m))?;
        if self.network_name.is_empty()
            || !self
                .network_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad(
                "network_name",
                format!(
                    "{:?}: a libvirt network name here may contain only letters, digits, '-', '_' and '.'",
                    self.network_name
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{from_layer, parse_layer};

    fn cfg(text: &str) -> Result<Config, ConfigError> {
        let l = parse_layer(text, Path::new("test.toml"))?;
        let c = from_layer(l, vec![]);
        c.validate(&|_| "test.toml".into())?;
        Ok(c)
    }

    #[test]
    fn defaults_are_valid() {
        let c = cfg("").unwrap();
        assert_eq!(c.bridge, "virbr0");
        assert_eq!(c.subnet_pool[0].to_string(), "172.16.0.0/16");
        assert_eq!(c.security, Security::Auto);
        assert!(c
            .subnet_pool
            .iter()
            .any(|n| n.prefix_len() == 24 && n.addr().octets()[0] == 192));
    }

    #[test]
    fn unknown_key_reports_line_and_column() {
        let e = cfg("ssid = \"x\"\n  colour = 3\n").unwrap_err().to_string();
        assert!(e.starts_with("test.toml:2:3: "), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn bad_values_are_rejected() {
        let long = "a".repeat(33);
        assert!(cfg(&format!("ssid = \"{long}\""))
            .unwrap_err()
            .to_string()
            .contains("33 bytes"));
        // 11 characters but 33 bytes: the limit is in bytes.
        assert!(cfg("ssid = \"ääääääääääääääää\x7a\"").is_err());
        assert!(cfg("passphrase = \"short\"").is_err());
        assert!(cfg(&format!("passphrase = \"{}\"", "p".repeat(64))).is_err());
        assert!(cfg("country = \"Germany\"").is_err());
        assert!(cfg("country = \"D1\"").is_err());
        assert_eq!(
            cfg("country = \"de\"").unwrap().country.as_deref(),
            Some("DE")
        );
        assert!(cfg("security = \"wep\"").is_err());
        assert!(cfg("subnet_pool = [\"10.0.0.1/24\"]").is_err());
        assert!(cfg("bridge = \"a-very-long-bridge-name\"").is_err());
        assert!(cfg("security = \"open\"\npassphrase = \"12345678\"").is_err());
    }

    #[test]
    fn a_broken_rule_names_the_key_and_its_origin() {
        let e = cfg("channel = 300").unwrap_err();
        assert!(
            matches!(&e, ConfigError::Invalid { key: "channel", .. }),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "test.toml: `channel`: 300 is not a Wi-Fi channel number"
        );
    }
}
