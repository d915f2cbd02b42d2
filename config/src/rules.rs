//! The rules a merged configuration must follow, apart from the types: SSID
//! and passphrase lengths, country codes, channel numbers, subnets and names.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::config::Config;
use crate::error::ConfigError;
use crate::network::{is_mac, label_problem};
use crate::origin::Origin;
use crate::security::Security;

/// A value that breaks a rule: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub key: &'static str,
    /// In an array of tables: which table (from 0) and which field.
    pub entry: Option<(usize, &'static str)>,
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> Violation {
    Violation {
        key,
        entry: None,
        message: message.into(),
    }
}

fn bad_host(index: usize, field: &'static str, message: impl Into<String>) -> Violation {
    Violation {
        key: "host",
        entry: Some((index, field)),
        message: message.into(),
    }
}

/// Why `domain` is not a DNS domain of one or more labels.
fn domain_problem(domain: &str) -> Option<String> {
    if domain.len() > 253 {
        return Some("a domain is at most 253 characters".into());
    }
    domain
        .split('.')
        .find_map(|label| label_problem(label).map(|why| format!("{label:?}: {why}")))
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
        self.check().map_err(|v| {
            let (item, at) = match v.entry {
                Some((i, field)) => (
                    format!("[{i}].{field}"),
                    self.origins.entry(v.key, i, field),
                ),
                None => (String::new(), None),
            };
            ConfigError::Invalid {
                key: v.key,
                item,
                origin: at.unwrap_or_else(|| origin(v.key)),
                message: v.message,
            }
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
        if let Some(crate::link::ChannelSetting::Number(ch)) = self.channel {
            if ch == 0 || ch > 196 {
                return Err(bad(
                    "channel",
                    format!("{ch} is not a Wi-Fi channel number"),
                ));
            }
        }
        if self.band == crate::link::WifiBand::Ghz6
            && self.security != crate::security::Security::Auto
        {
            return Err(bad(
                "band",
                format!(
                    "6 GHz allows only WPA3-SAE (with protected management frames and SAE \
                     hash-to-element), so security = \"{}\" cannot run there: set security = \"auto\" \
                     or choose another band",
                    self.security
                ),
            ));
        }
        if let Some(w) = self.width {
            if !crate::link::WIDTHS.contains(&w) {
                return Err(bad(
                    "width",
                    format!("{w} MHz is not a channel width: use 20, 40, 80 or 160"),
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
        if let Some(why) = domain_problem(&self.domain) {
            return Err(bad(
                "domain",
                format!("{:?} is not a DNS domain: {why}", self.domain),
            ));
        }
        self.check_hosts()
    }

    /// Every `[[host]]`: a MAC address, a host name and a host part that
    /// fits every subnet of the pool, none of them used twice.
    fn check_hosts(&self) -> Result<(), Violation> {
        // The largest host part every candidate subnet holds (its last
        // address before the broadcast).
        let max_offset = self
            .subnet_pool
            .iter()
            .map(|n| (1u64 << (32 - u32::from(n.prefix_len()))) - 2)
            .min()
            .unwrap_or(0);
        for (i, h) in self.hosts.iter().enumerate() {
            if !is_mac(&h.mac) {
                return Err(bad_host(
                    i,
                    "mac",
                    format!(
                        "{:?} is not a MAC address such as \"52:54:00:12:34:56\"",
                        h.mac
                    ),
                ));
            }
            if let Some(why) = label_problem(&h.name) {
                return Err(bad_host(i, "name", format!("{:?}: {why}", h.name)));
            }
            if h.offset < 2 || u64::from(h.offset) > max_offset {
                return Err(bad_host(
                    i,
                    "offset",
                    format!(
                        "{} is outside 2 to {max_offset}: the host part of an address in every \
                         subnet of the pool (1 is the gateway)",
                        h.offset
                    ),
                ));
            }
            let earlier = &self.hosts[..i];
            if let Some(j) = earlier
                .iter()
                .position(|e| e.mac.eq_ignore_ascii_case(&h.mac))
            {
                return Err(bad_host(
                    i,
                    "mac",
                    format!("{} is reserved twice (host {j} too)", h.mac),
                ));
            }
            if let Some(j) = earlier
                .iter()
                .position(|e| e.name.eq_ignore_ascii_case(&h.name))
            {
                return Err(bad_host(
                    i,
                    "name",
                    format!("{:?} is used twice (host {j} too)", h.name),
                ));
            }
            if let Some(j) = earlier.iter().position(|e| e.offset == h.offset) {
                return Err(bad_host(
                    i,
                    "offset",
                    format!("{} is reserved twice (host {j} too)", h.offset),
                ));
            }
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
    fn domains_are_dns_names_and_default_to_the_network_name() {
        assert_eq!(cfg("").unwrap().domain, "softap");
        assert_eq!(cfg("network_name = \"Lab_Net\"").unwrap().domain, "lab-net");
        assert_eq!(
            cfg("domain = \"lab.internal\"").unwrap().domain,
            "lab.internal"
        );
        for bad in ["", "a..b", "-x", "under_score", "sp ace"] {
            let e = cfg(&format!("domain = \"{bad}\"")).unwrap_err().to_string();
            assert!(e.contains("`domain`: "), "{bad}: {e}");
        }
    }

    #[test]
    fn network_shape_keys_parse() {
        let c = cfg("fixed_range = \"25%\"\nipv6 = false\nisolate_clients = true").unwrap();
        assert_eq!(c.fixed_range, crate::FixedRange::Percent(25));
        assert!(!c.ipv6 && c.isolate_clients);
        let d = cfg("").unwrap();
        assert!(d.ipv6 && !d.isolate_clients);
        assert_eq!(d.fixed_range, crate::FixedRange::Percent(50));
        let e = cfg("\nfixed_range = \"95%\"").unwrap_err().to_string();
        assert!(e.starts_with("test.toml:2:15: `fixed_range`: "), "{e}");
        let e = cfg("ipv6 = \"no\"").unwrap_err().to_string();
        assert!(e.contains("`ipv6`"), "{e}");
    }

    /// Errors in a `[[host]]` name the file, the line of the field and the
    /// field.
    fn host_error(hosts: &str) -> String {
        let path = Path::new("test.toml");
        let l = crate::parse_located(hosts, path).unwrap();
        let mut c = from_layer(l.layer, vec![]);
        c.origins = l.origins;
        c.validate(&|k| c.origins.get(k)).unwrap_err().to_string()
    }

    #[test]
    fn host_reservations_are_checked_field_by_field() {
        let ok = "[[host]]\nmac = \"52:54:00:00:00:01\"\nname = \"web\"\noffset = 10\n";
        let c = cfg(ok).unwrap();
        assert_eq!(c.hosts.len(), 1);
        assert_eq!(c.hosts[0].offset, 10);
        let two = |m: &str, n: &str, o: u32| {
            format!("{ok}\n[[host]]\nmac = \"{m}\"\nname = \"{n}\"\noffset = {o}\n")
        };
        let e = host_error(&two("52:54:00:00:00:02", "db", 10));
        assert_eq!(
            e,
            "test.toml:9:10: `host[1].offset`: 10 is reserved twice (host 0 too)"
        );
        let e = host_error(&two("52:54:00:00:00:01", "db", 11));
        assert!(e.starts_with("test.toml:7:7: `host[1].mac`: "), "{e}");
        let e = host_error(&two("52:54:00:00:00:02", "WEB", 11));
        assert!(e.starts_with("test.toml:8:8: `host[1].name`: "), "{e}");
        let e = host_error(&two("52:54:00:00:00:0g", "db", 11));
        assert!(e.starts_with("test.toml:7:7: `host[1].mac`: "), "{e}");
        let e = host_error(&two("52:54:00:00:00:02", "d_b", 11));
        assert!(e.contains("`host[1].name`"), "{e}");
        let e = host_error(&two("52:54:00:00:00:02", "db", 1));
        assert!(e.contains("`host[1].offset`: 1 is outside 2 to "), "{e}");
        // The pool's smallest subnet bounds the host part.
        let e = host_error(
            &format!("subnet_pool = [\"10.1.0.0/16\", \"192.168.5.0/24\"]\n{ok}")
                .replace("offset = 10", "offset = 300"),
        );
        assert!(e.contains("300 is outside 2 to 254"), "{e}");
        // A type error in a table names its line too.
        let e = cfg("[[host]]\nmac = \"52:54:00:00:00:01\"\nname = \"web\"\noffset = \"ten\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("test.toml:4:"), "{e}");
        let e =
            cfg("[[host]]\nmac = \"52:54:00:00:00:01\"\nname = \"web\"\noffset = 3\ncolour = 1\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn the_link_settings() {
        let c = cfg("band = \"5\"\nwidth = 160\ndfs = true").unwrap();
        assert_eq!(
            (c.band, c.width, c.dfs),
            (crate::WifiBand::Ghz5, Some(160), true)
        );
        let e = cfg("width = 30").unwrap_err().to_string();
        assert!(e.contains("`width`: 30 MHz is not a channel width"), "{e}");
        // 6 GHz is WPA3-SAE only: any explicit other security is refused.
        for sec in ["wpa2", "open", "wpa3-transition"] {
            let e = cfg(&format!("band = \"6\"\nsecurity = \"{sec}\""))
                .unwrap_err()
                .to_string();
            assert!(e.contains("`band`: 6 GHz allows only WPA3-SAE"), "{e}");
        }
        assert!(cfg("band = \"6\"").is_ok());
        // An unknown band names the file, line and key.
        let e = cfg("ssid = \"x\"\nband = \"7\"").unwrap_err().to_string();
        assert!(e.starts_with("test.toml:2:8: `band`: "), "{e}");
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
