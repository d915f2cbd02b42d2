//! The rules a merged configuration must follow, apart from the types: SSID
//! and passphrase lengths, country codes, channel numbers, subnets and names.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

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

/// The private address space a subnet of the pool may come from: RFC 1918,
/// and RFC 6598's shared space (carrier-grade NAT, also used by VPNs such as
/// Tailscale), which the built-in pool leaves out and a configuration may
/// list.
const PRIVATE: [(Ipv4Addr, u8); 4] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
];

/// Why `net` is not private space: what it is instead.
fn not_private(net: &Ipv4Net) -> Option<&'static str> {
    let inside = PRIVATE
        .iter()
        .any(|(a, len)| Ipv4Net::new_assert(*a, *len).contains(net));
    if inside {
        return None;
    }
    let a = net.network();
    Some(if a.octets()[0] == 0 {
        "\"this network\" (0.0.0.0/8), which is never routed"
    } else if a.is_loopback() {
        "loopback space"
    } else if a.is_link_local() {
        "link-local space (169.254.0.0/16)"
    } else if a.is_multicast() {
        "multicast space (224.0.0.0/4)"
    } else if a.octets()[0] >= 240 {
        "reserved space (240.0.0.0/4)"
    } else {
        "public address space, or spans private and public space"
    })
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
            if !crate::country::is_country(c) {
                return Err(bad(
                    "country",
                    format!(
                        "{c:?} is not an assigned ISO 3166-1 alpha-2 country code such as \"DE\" or \"US\""
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
            if let Some(what) = not_private(net) {
                return Err(bad(
                    "subnet_pool",
                    format!(
                        "{net} is {what}: the pool takes only private subnets, inside 10.0.0.0/8, \
                         172.16.0.0/12, 192.168.0.0/16 (RFC 1918) or 100.64.0.0/10 (RFC 6598)"
                    ),
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
    fn the_subnet_pool_takes_only_private_space() {
        for (net, what) in [
            ("8.8.8.0/24", "public"),
            ("224.0.0.0/24", "multicast"),
            ("169.254.0.0/16", "link-local"),
            ("0.0.0.0/8", "this network"),
            ("127.0.0.0/8", "loopback"),
            ("240.0.0.0/24", "reserved"),
            ("172.0.0.0/8", "spans"),
            ("100.0.0.0/16", "public"),
        ] {
            let e = cfg(&format!("subnet_pool = [\"10.1.0.0/16\", \"{net}\"]"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("test.toml: `subnet_pool`: {net} is ")) && e.contains(what),
                "{net}: {e}"
            );
        }
        for net in [
            "10.0.0.0/8",
            "172.31.255.0/24",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "100.127.1.0/24",
        ] {
            assert!(cfg(&format!("subnet_pool = [\"{net}\"]")).is_ok(), "{net}");
        }
        // The built-in pool stays out of the shared space VPNs use.
        let shared: Ipv4Net = "100.64.0.0/10".parse().unwrap();
        assert!(cfg("")
            .unwrap()
            .subnet_pool
            .iter()
            .all(|n| !shared.contains(n)));
    }

    #[test]
    fn unassigned_country_codes_are_refused() {
        for c in ["ZZ", "XX", "AA", "UK", "EU"] {
            let e = cfg(&format!("country = \"{c}\"")).unwrap_err().to_string();
            assert!(
                e.contains("`country`") && e.contains("assigned"),
                "{c}: {e}"
            );
        }
        assert!(cfg("country = \"GB\"").is_ok());
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
