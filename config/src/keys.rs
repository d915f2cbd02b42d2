//! The one table of configuration keys.
//!
//! Everything that lists keys works from [`KEYS`]: reading credentials, the
//! command-line overrides (the agent builds its flags from it), origin
//! tracking, the reference in `docs/configuration.md` and the NixOS module's
//! typed options (`nix/module.nix`, checked by a test below). The [`Layer`]
//! struct is the other half: its fields are the keys' types, and a test
//! checks that its serde field names are exactly the table's names.
//!
//! [`Layer`]: crate::Layer

/// How a key's value is written where only text is available (a credential
/// file, a command-line flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A string, taken as it is.
    Text,
    /// A whole number.
    Integer,
    /// A whole number, or a word (`channel = "auto"`).
    IntegerOrWord,
    /// A list of strings, comma-separated in text form.
    List,
    /// `true` or `false`.
    Boolean,
    /// An array of tables (`[[name]]` in TOML); never given as text.
    Tables,
}

/// One configuration key: what it is and where it may be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// The key in `softap.toml`; also the credential `softap.<name>`.
    pub name: &'static str,
    pub kind: ValueKind,
    /// The placeholder shown in `--help` and the reference.
    pub value_name: &'static str,
    /// What applies when no layer sets the key.
    pub default: &'static str,
    pub help: &'static str,
    /// Read from the systemd credential `softap.<name>`.
    pub credential: bool,
    /// The agent's command-line flag (`--<flag>`), if there is one. Secrets
    /// have none: command lines are visible to every user.
    pub flag: Option<&'static str>,
    /// The NixOS module's typed option (`services.softap.<option>`).
    pub nix_option: Option<&'static str>,
    /// Whether an image spec's `[appliance]` may set it. A secret may not:
    /// the table ends up in an image layer, readable by anyone who pulls it.
    pub in_image: bool,
}

pub const SSID: KeySpec = KeySpec {
    name: "ssid",
    kind: ValueKind::Text,
    value_name: "NAME",
    default: "softap-XXXX, derived from the machine id",
    help: "Network name the access point announces (1 to 32 bytes).",
    credential: true,
    flag: Some("ssid"),
    nix_option: Some("ssid"),
    in_image: true,
};

pub const PASSPHRASE: KeySpec = KeySpec {
    name: "passphrase",
    kind: ValueKind::Text,
    value_name: "PASSPHRASE",
    default: "generated at first apply and kept in /var/lib/softap",
    help: "WPA passphrase (8 to 63 printable ASCII characters). Set it with the \
           credential softap.passphrase or in softap.toml on the EFI partition.",
    credential: true,
    flag: None,
    // The module takes `passphraseFile` and passes it as the credential.
    nix_option: None,
    in_image: false,
};

pub const SECURITY: KeySpec = KeySpec {
    name: "security",
    kind: ValueKind::Text,
    value_name: "MODE",
    default: "auto",
    help: "Security: wpa2, wpa3-transition, auto (WPA3-SAE transition where the \
           radio supports SAE, WPA2-PSK otherwise) or open.",
    credential: true,
    flag: Some("security"),
    nix_option: Some("security"),
    in_image: true,
};

pub const COUNTRY: KeySpec = KeySpec {
    name: "country",
    kind: ValueKind::Text,
    value_name: "CC",
    default: "none: the kernel's regulatory domain",
    help:
        "Regulatory country code (an assigned ISO 3166-1 alpha-2 code), e.g. DE (needed for 5 GHz).",
    credential: true,
    flag: Some("country"),
    nix_option: Some("country"),
    in_image: true,
};

pub const CHANNEL: KeySpec = KeySpec {
    name: "channel",
    kind: ValueKind::IntegerOrWord,
    value_name: "N|auto",
    default: "the planner's choice: the first usable primary of the fastest band and width",
    help: "Channel: a number, or auto (hostapd's automatic channel selection surveys the \
           usable primaries of the planned band and width and takes the least busy; radar \
           channels only with dfs). Ignored where the AP must follow an upstream station.",
    credential: true,
    flag: Some("channel"),
    nix_option: Some("channel"),
    in_image: true,
};

pub const BAND: KeySpec = KeySpec {
    name: "band",
    kind: ValueKind::Text,
    value_name: "BAND",
    default: "auto",
    help: "Band: auto (2.4 or 5 GHz, whichever gives the faster link the card and the \
           country allow), 2.4, 5 or 6 (6 GHz is WPA3-SAE only).",
    credential: true,
    flag: Some("band"),
    nix_option: Some("band"),
    in_image: true,
};

pub const WIDTH: KeySpec = KeySpec {
    name: "width",
    kind: ValueKind::Integer,
    value_name: "MHZ",
    default: "20 MHz on 2.4 GHz, the widest up to 80 on 5 GHz, up to 160 on 6 GHz",
    help: "The widest channel in MHz (20, 40, 80 or 160): 40 on 2.4 GHz and 160 on 5 GHz \
           are used only when asked for.",
    credential: true,
    flag: Some("width"),
    nix_option: Some("width"),
    in_image: true,
};

pub const DFS: KeySpec = KeySpec {
    name: "dfs",
    kind: ValueKind::Boolean,
    value_name: "BOOL",
    default: "false",
    help: "Allow radar (DFS) channels; the AP then listens for radar for a minute or more \
           before it starts.",
    credential: true,
    flag: Some("dfs"),
    nix_option: Some("dfs"),
    in_image: true,
};

pub const PHY: KeySpec = KeySpec {
    name: "phy",
    kind: ValueKind::Text,
    value_name: "PHY",
    default: "the first radio that can host the access point",
    help: "The radio to use: its name (phy1), index, or MAC address.",
    credential: true,
    flag: Some("phy"),
    nix_option: Some("phy"),
    in_image: true,
};

pub const SUBNET_POOL: KeySpec = KeySpec {
    name: "subnet_pool",
    kind: ValueKind::List,
    value_name: "CIDR,...",
    default: "172.16.0.0/16 to 172.31.0.0/16, then further RFC 1918 /16s and /24s",
    help: "Candidate subnets, the first tried first and the rest in an order seeded \
           by the machine id; any that clash with addresses, routes or libvirt \
           networks are skipped. Private space only: RFC 1918, or RFC 6598's \
           100.64.0.0/10 (which the default leaves to VPNs) when listed here.",
    credential: false,
    flag: None,
    nix_option: Some("subnetPool"),
    in_image: true,
};

pub const BRIDGE: KeySpec = KeySpec {
    name: "bridge",
    kind: ValueKind::Text,
    value_name: "IFNAME",
    default: "virbr0",
    help: "Bridge of the libvirt network that the access point joins.",
    credential: true,
    flag: None,
    nix_option: Some("bridge"),
    in_image: true,
};

pub const NETWORK_NAME: KeySpec = KeySpec {
    name: "network_name",
    kind: ValueKind::Text,
    value_name: "NAME",
    default: "softap",
    help: "Name of the libvirt network the agent defines.",
    credential: true,
    flag: None,
    nix_option: Some("networkName"),
    in_image: true,
};

pub const INTERFACE: KeySpec = KeySpec {
    name: "interface",
    kind: ValueKind::Text,
    value_name: "IFNAME",
    default: "softap",
    help: "Name of the access point's wireless interface.",
    credential: true,
    flag: None,
    nix_option: Some("interfaceName"),
    in_image: true,
};

pub const DOMAIN: KeySpec = KeySpec {
    name: "domain",
    kind: ValueKind::Text,
    value_name: "DOMAIN",
    default: "the network name (network_name)",
    help: "DNS domain of the network: the gateway answers NAME.DOMAIN for every DHCP \
           client that sends a host name (VMs, containers and Wi-Fi stations alike) and for \
           each [[host]], keeps the domain to itself, and forwards other names upstream.",
    credential: true,
    flag: Some("domain"),
    nix_option: Some("domain"),
    in_image: true,
};

pub const FIXED_RANGE: KeySpec = KeySpec {
    name: "fixed_range",
    kind: ValueKind::Text,
    value_name: "P%|N",
    default: "50%: the lower half of the subnet",
    help: "How much of the subnet, from its bottom after the gateway, DHCP leaves to hosts \
           that configure their own address: a share (\"25%\", at most 90%) or a number of \
           addresses (\"100\"). DHCP leases the rest. A size, not addresses, so that it \
           follows the subnet when the agent moves to another one.",
    credential: true,
    flag: Some("fixed-range"),
    nix_option: Some("fixedRange"),
    in_image: true,
};

pub const ISOLATE_CLIENTS: KeySpec = KeySpec {
    name: "isolate_clients",
    kind: ValueKind::Boolean,
    value_name: "BOOL",
    default: "false",
    help: "Keep clients of one kind from reaching each other: Wi-Fi stations (hostapd's \
           ap_isolate) and VMs (libvirt's isolated ports) reach only the gateway, the upstream \
           and the other kind; a station still reaches a VM's service.",
    credential: true,
    flag: Some("isolate-clients"),
    nix_option: Some("isolateClients"),
    in_image: true,
};

pub const IPV6: KeySpec = KeySpec {
    name: "ipv6",
    kind: ValueKind::Boolean,
    value_name: "BOOL",
    default: "true",
    help: "Give the network an IPv6 unique local /64 (RFC 4193, derived from the machine id) \
           with router advertisements, DHCPv6 and NAT to the upstream; false: IPv4 only. Also on an \
           upstream that has IPv6: where the kernel handles the upstream's router \
           advertisements, its accept_ra goes to 2 while the AP runs, so it keeps its IPv6 \
           routes under the network's IPv6 forwarding.",
    credential: true,
    flag: Some("ipv6"),
    nix_option: Some("ipv6"),
    in_image: true,
};

pub const HOST: KeySpec = KeySpec {
    name: "host",
    kind: ValueKind::Tables,
    value_name: "[[host]]",
    default: "none",
    help: "Address reservations, one [[host]] table each: mac = \"52:54:00:12:34:56\", \
           name = \"web\" (its name in the network's domain) and offset = 10 (its host part: \
           .10 of whichever subnet is in use, kept when the subnet moves; at least 2, the \
           gateway being 1, and inside every subnet of the pool). Names, MAC addresses and \
           offsets are unique. A layer that sets [[host]] replaces the lower layers' list.",
    credential: false,
    flag: None,
    nix_option: Some("hosts"),
    in_image: true,
};

/// Every key, in the order of [`crate::Layer`]'s fields.
pub const KEYS: &[KeySpec] = &[
    SSID,
    PASSPHRASE,
    SECURITY,
    COUNTRY,
    CHANNEL,
    BAND,
    WIDTH,
    DFS,
    PHY,
    SUBNET_POOL,
    BRIDGE,
    NETWORK_NAME,
    INTERFACE,
    DOMAIN,
    FIXED_RANGE,
    ISOLATE_CLIENTS,
    IPV6,
    HOST,
];

/// The key called `name`.
pub fn key(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layer, Security};

    /// A layer with every key set, so that serialising it names every field.
    fn full_layer() -> Layer {
        Layer {
            ssid: Some("s".into()),
            passphrase: Some("p".into()),
            security: Some(Security::Wpa2),
            country: Some("DE".into()),
            channel: Some(crate::ChannelSetting::Number(6)),
            band: Some(crate::WifiBand::Ghz5),
            width: Some(80),
            dfs: Some(true),
            phy: Some("phy0".into()),
            subnet_pool: Some(vec!["10.0.0.0/24".parse().unwrap()]),
            bridge: Some("br0".into()),
            network_name: Some("n".into()),
            interface: Some("i".into()),
            domain: Some("lan".into()),
            fixed_range: Some(crate::FixedRange::Count(10)),
            isolate_clients: Some(true),
            ipv6: Some(false),
            host: Some(vec![crate::HostEntry {
                mac: "52:54:00:00:00:01".into(),
                name: "web".into(),
                offset: 10,
            }]),
        }
    }

    #[test]
    fn the_table_names_every_layer_field_with_its_kind() {
        let serde_json::Value::Object(fields) = serde_json::to_value(full_layer()).unwrap() else {
            panic!("a layer serialises as a map");
        };
        // serde_json's map is sorted: compare the sets.
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        let mut table: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        table.sort();
        assert_eq!(names, table, "Layer's fields and KEYS differ");
        for k in KEYS {
            let kind = match &fields[k.name] {
                serde_json::Value::String(_) => ValueKind::Text,
                serde_json::Value::Number(_) if k.kind == ValueKind::IntegerOrWord => {
                    ValueKind::IntegerOrWord
                }
                serde_json::Value::Number(_) => ValueKind::Integer,
                serde_json::Value::Array(a) if a.iter().all(|v| v.is_object()) => ValueKind::Tables,
                serde_json::Value::Array(_) => ValueKind::List,
                serde_json::Value::Bool(_) => ValueKind::Boolean,
                other => panic!("{}: unexpected {other}", k.name),
            };
            assert_eq!(kind, k.kind, "{}", k.name);
        }
    }

    #[test]
    fn flags_are_the_keys_in_kebab_case_and_secrets_stay_off_the_command_line() {
        for k in KEYS {
            if let Some(flag) = k.flag {
                assert_eq!(flag, k.name.replace('_', "-"), "{}", k.name);
            }
            if !k.in_image {
                assert_eq!(k.flag, None, "{} is a secret", k.name);
            }
            if k.kind == ValueKind::Tables {
                assert_eq!(
                    (k.flag, k.credential),
                    (None, false),
                    "{} has no text form",
                    k.name
                );
            }
            assert!(k.help.ends_with('.'), "{}: help is a sentence", k.name);
        }
        assert_eq!(key("channel"), Some(&CHANNEL));
        assert_eq!(key("chanel"), None);
    }

    /// The NixOS module declares every option of the table with `keyOption`,
    /// which defaults to null (left out of softap.toml, so the agent's own
    /// default applies) and takes its description from nix/keys.json;
    /// `scripts/check-nix` evaluates both.
    #[test]
    fn the_nixos_module_declares_the_tables_options_defaulting_to_the_agents() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../nix/module.nix");
        let module = std::fs::read_to_string(&path).unwrap();
        let options = module
            .find("options.services.softap = {")
            .map(|at| &module[at..])
            .expect("nix/module.nix declares options.services.softap");
        for k in KEYS {
            let Some(option) = k.nix_option else { continue };
            assert!(
                options.contains(&format!("\n    {option} = keyOption \"{option}\"")),
                "services.softap.{option} (key {}) is not declared with keyOption in {}: \
                 its default must leave the agent's ({}) alone",
                k.name,
                path.display(),
                k.default
            );
        }
        assert!(
            module.contains("lib.importJSON ./keys.json"),
            "{} does not read nix/keys.json",
            path.display()
        );
    }
}
