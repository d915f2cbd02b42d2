//! Renders the plan into the files the services read. Pure: a plan and a
//! passphrase in, file contents out. The templates ship in the image under
//! `/usr/share/softap/templates` (so an image can adjust them) and are
//! embedded here as the fallback when that directory is absent. They end in
//! `.jinja`, not `.j2`: the builder renders `*.j2` overlay files at build time,
//! and these must reach the image unrendered.

use std::path::Path;

use minijinja::{context, Environment};
use serde::Serialize;

use crate::plan::{Plan, SecurityMode};

/// The largest template read: the shipped ones are under 2 KiB.
const TEMPLATE_CAP: u64 = 1 << 20;

/// Relative to the root: where an image ships the templates.
pub const TEMPLATE_DIR: &str = "usr/share/softap/templates";

/// (template name, embedded text)
const EMBEDDED: [(&str, &str); 4] = [
    (
        "network.xml.jinja",
        include_str!("../../overlays/softap/usr/share/softap/templates/network.xml.jinja"),
    ),
    (
        "softap.netdev.jinja",
        include_str!("../../overlays/softap/usr/share/softap/templates/softap.netdev.jinja"),
    ),
    (
        "softap.network.jinja",
        include_str!("../../overlays/softap/usr/share/softap/templates/softap.network.jinja"),
    ),
    (
        "hostapd.conf.jinja",
        include_str!("../../overlays/softap/usr/share/softap/templates/hostapd.conf.jinja"),
    ),
];

/// Where each rendered file goes on the target.
pub const NETWORK_XML: &str = "/run/softap/network.xml";
pub const NETDEV: &str = "/run/systemd/network/softap.netdev";
pub const NETWORK: &str = "/run/systemd/network/softap.network";
pub const HOSTAPD_CONF: &str = "/run/softap/hostapd.conf";

/// Which service consumes a file: decides what apply reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consumer {
    Libvirt,
    Networkd,
    Hostapd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedFile {
    /// Absolute path on the target system.
    pub path: &'static str,
    pub mode: u32,
    pub consumer: Consumer,
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    #[error(transparent)]
    Read(crate::input::ReadError),
    #[error("security needs a passphrase, but none was given")]
    MissingPassphrase,
    #[error("{field} {value:?} cannot be written into a configuration file: {why}")]
    Unsafe {
        field: &'static str,
        value: String,
        why: &'static str,
    },
}

/// Characters that would end an XML attribute or element early.
pub const MARKUP: [char; 5] = ['<', '>', '&', '\'', '"'];

/// The last line of defence for values the templates write into
/// line-oriented files (networkd's INI, hostapd's `key=value`): the planner
/// takes them from checked facts and configuration, and a newline or a
/// space here would still add a line or cut a value short.
fn check_tokens(plan: &Plan) -> Result<(), RenderError> {
    // (field, value, written into libvirt's XML)
    let tokens = [
        ("interface", plan.interface.as_str(), false),
        ("bridge", plan.bridge.as_str(), true),
        ("phy", plan.phy.name.as_str(), false),
        ("network name", plan.network_name.as_str(), true),
        ("AP address", plan.ap_address.as_str(), false),
        ("hw_mode", plan.channel.hw_mode.as_str(), false),
        ("country", plan.country.as_deref().unwrap_or("XX"), false),
        ("domain", plan.domain.as_str(), true),
    ];
    let hosts = plan
        .hosts
        .iter()
        .flat_map(|h| [("host mac", h.mac.as_str()), ("host name", h.name.as_str())]);
    let tokens = tokens
        .into_iter()
        .chain(hosts.map(|(field, value)| (field, value, true)));
    for (field, value, xml) in tokens {
        let why = if value.is_empty() {
            Some("empty")
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("it contains whitespace or a control character")
        } else if xml && value.contains(MARKUP) {
            Some("it contains XML markup")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(RenderError::Unsafe {
                field,
                value: value.to_string(),
                why,
            });
        }
    }
    if plan.channel.number == 0 {
        return Err(RenderError::Unsafe {
            field: "channel",
            value: "0".into(),
            why: "hostapd reads channel 0 as \"pick one yourself\"",
        });
    }
    Ok(())
}

/// The template set: from a directory where present, else the embedded one.
#[derive(Debug, Clone)]
pub struct Templates {
    sources: Vec<(String, String)>,
    /// Where they came from, for `plan` output.
    pub origin: String,
}

impl Templates {
    pub fn embedded() -> Templates {
        Templates {
            sources: EMBEDDED
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            origin: "built into softap-agent".into(),
        }
    }

    /// Templates from `<root>/usr/share/softap/templates`; each file missing
    /// there falls back to the embedded one.
    pub fn load(root: &Path) -> Result<Templates, RenderError> {
        let dir = root.join(TEMPLATE_DIR);
        if !dir.is_dir() {
            return Ok(Templates::embedded());
        }
        let mut sources = Vec::new();
        for (name, embedded) in EMBEDDED {
            let path = dir.join(name);
            let text = match crate::input::read_capped(&path, TEMPLATE_CAP, "template") {
                Ok(t) => t,
                Err(crate::input::ReadError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    embedded.to_string()
                }
                Err(e) => return Err(RenderError::Read(e)),
            };
            sources.push((name.to_string(), text));
        }
        Ok(Templates {
            sources,
            origin: dir.display().to_string(),
        })
    }

    fn env(&self) -> Result<Environment<'_>, RenderError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, text) in &self.sources {
            env.add_template(name, text)
                .map_err(|source| RenderError::Template {
                    name: name.clone(),
                    source,
                })?;
        }
        Ok(env)
    }
}

/// hostapd reads `ssid=` up to the end of the line; anything outside
/// printable ASCII goes through `ssid2=` as hex instead.
fn ssid_hex(ssid: &str) -> Option<String> {
    if ssid.bytes().all(|b| (0x20..0x7f).contains(&b)) && !ssid.starts_with(' ') {
        None
    } else {
        Some(hex::encode(ssid.as_bytes()))
    }
}

/// Renders every file. `passphrase` is required unless the plan is open.
pub fn render(
    plan: &Plan,
    passphrase: Option<&str>,
    templates: &Templates,
) -> Result<Vec<RenderedFile>, RenderError> {
    check_tokens(plan)?;
    let env = templates.env()?;
    let security = match plan.security {
        SecurityMode::Wpa2 => "wpa2",
        SecurityMode::Wpa3Transition => "wpa3-transition",
        SecurityMode::Wpa3 => "wpa3",
        SecurityMode::Open => "open",
    };
    let passphrase = match (plan.security, passphrase) {
        (SecurityMode::Open, _) => "",
        (_, Some(p)) => p,
        (_, None) => return Err(RenderError::MissingPassphrase),
    };
    let ctx = context! {
        interface => plan.interface,
        bridge => plan.bridge,
        network_name => plan.network_name,
        domain => plan.domain,
        isolate_clients => plan.isolate_clients,
        hosts => plan.hosts,
        ipv6 => plan.ipv6.as_ref().map(|v| context! {
            gateway => v.gateway.to_string(),
            dhcp_start => v.dhcp_start.to_string(),
            dhcp_end => v.dhcp_end.to_string(),
        }),
        phy => plan.phy.name,
        ap_address => plan.ap_address,
        gateway => plan.subnet.gateway.to_string(),
        prefix => plan.subnet.net.prefix_len(),
        dhcp_start => plan.subnet.dhcp_start.to_string(),
        dhcp_end => plan.subnet.dhcp_end.to_string(),
        ssid => plan.ssid,
        ssid_hex => ssid_hex(&plan.ssid),
        country => plan.country,
        hw_mode => plan.channel.hw_mode,
        channel => plan.channel.number,
        beacon_int => plan.channel.beacon_int,
        ht => plan.channel.ht,
        vht => plan.channel.vht,
        he => plan.channel.he,
        eht => plan.channel.eht,
        ht_capab => plan.channel.ht_capab,
        vht_capab => plan.channel.vht_capab,
        chwidth => plan.channel.oper_chwidth(),
        center => plan.channel.center_channel.unwrap_or(plan.channel.number),
        op_class => plan.channel.op_class,
        acs => plan.channel.acs.as_ref().map(|a| context! {
            chanlist => a.chanlist_text(),
            num_scans => a.num_scans,
            exclude_dfs => a.exclude_dfs,
            radar => a.radar,
        }),
        dfs => plan.channel.dfs,
        width => plan.channel.width_mhz,
        mode => plan.channel.mode_text(),
        rate => plan.channel.rate_mbps,
        security => security,
        passphrase => passphrase,
    };
    let one = |name: &str| -> Result<String, RenderError> {
        env.get_template(name)
            .and_then(|t| t.render(&ctx))
            .map_err(|source| RenderError::Template {
                name: name.to_string(),
                source,
            })
    };
    Ok(vec![
        RenderedFile {
            path: NETWORK_XML,
            mode: 0o644,
            consumer: Consumer::Libvirt,
            content: one("network.xml.jinja")?,
        },
        RenderedFile {
            path: NETDEV,
            mode: 0o644,
            consumer: Consumer::Networkd,
            content: one("softap.netdev.jinja")?,
        },
        RenderedFile {
            path: NETWORK,
            mode: 0o644,
            consumer: Consumer::Networkd,
            content: one("softap.network.jinja")?,
        },
        RenderedFile {
            path: HOSTAPD_CONF,
            // It holds the passphrase.
            mode: 0o600,
            consumer: Consumer::Hostapd,
            content: one("hostapd.conf.jinja")?,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssid_escaping() {
        assert_eq!(ssid_hex("plain ssid"), None);
        assert_eq!(ssid_hex("café").as_deref(), Some("636166c3a9"));
        assert_eq!(ssid_hex("a\nb").as_deref(), Some("610a62"));
    }

    /// The plan and the file with EHT on and off, from a card that lists
    /// EHT for AP and a hostapd asked through the fake host.
    mod eht {
        use super::super::*;
        use crate::facts::hostapd_probe;
        use crate::facts::{Facts, HeCaps, HostapdFacts};
        use crate::host::fake::Fake;

        const REFUSED: &str = "Line 10: unknown configuration item 'ieee80211be'\n\
            1 errors found in configuration file '/tmp/x/hostapd.conf'";
        const AT_THE_DRIVER: &str = "Failed to initialize driver 'nl80211'";

        fn eht_card() -> Facts {
            let text = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/guest.json"
            ))
            .unwrap();
            let mut facts: Facts = serde_json::from_str(&text).unwrap();
            for band in facts.phys.iter_mut().flat_map(|p| p.bands.iter_mut()) {
                band.he_ap = Some(HeCaps {
                    phy_cap0: 0x06,
                    streams: 2,
                    eht: true,
                });
            }
            facts
        }

        fn planned(hostapd_says: &str) -> (Plan, String) {
            let dir = tempfile::tempdir().unwrap();
            let host = Fake::new(dir.path()).answer_failing("hostapd ", hostapd_says);
            let mut facts = eht_card();
            facts.hostapd = HostapdFacts {
                ieee80211be: hostapd_probe::ieee80211be(&host, "hostapd").ok(),
            };
            let cfg = crate::config::Config {
                band: softap_config::WifiBand::Ghz5,
                country: Some("DE".into()),
                ..crate::config::Config::default()
            };
            let plan = crate::plan::plan(&facts, &cfg, &crate::state::State::default()).unwrap();
            let files = render(&plan, Some("a passphrase"), &Templates::embedded()).unwrap();
            let conf = files
                .into_iter()
                .find(|f| f.path == HOSTAPD_CONF)
                .unwrap()
                .content;
            (plan, conf)
        }

        fn line<'a>(conf: &'a str, key: &str) -> Option<&'a str> {
            conf.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        }

        #[test]
        fn rendered_when_the_hostapd_accepts_it() {
            let (plan, conf) = planned(AT_THE_DRIVER);
            assert!(plan.channel.eht, "{}", plan.explain());
            assert_eq!(plan.channel.mode, crate::plan::caps::Mode::He);
            assert_eq!(line(&conf, "ieee80211be"), Some("1"), "{conf}");
            assert_eq!(
                line(&conf, "eht_oper_chwidth"),
                line(&conf, "he_oper_chwidth"),
                "{conf}"
            );
            assert_eq!(
                line(&conf, "eht_oper_centr_freq_seg0_idx"),
                line(&conf, "he_oper_centr_freq_seg0_idx"),
                "{conf}"
            );
            assert!(
                line(&conf, "eht_oper_centr_freq_seg0_idx").is_some(),
                "{conf}"
            );
            let json = serde_json::to_value(&plan).unwrap();
            assert_eq!(json["channel"]["mode"], "he");
            assert_eq!(json["channel"]["eht"], true);
            assert!(
                conf.contains(&format!("EHT{}", plan.channel.width_mhz)),
                "{conf}"
            );
            assert!(plan
                .decisions
                .iter()
                .any(|n| n.text.starts_with("802.11be (EHT) on")));
        }

        #[test]
        fn left_out_when_the_hostapd_refuses_it() {
            let (plan, conf) = planned(REFUSED);
            assert!(!plan.channel.eht);
            assert!(
                !conf.contains("ieee80211be") && !conf.contains("eht_"),
                "{conf}"
            );
            assert!(conf.contains("ieee80211ax=1"), "{conf}");
            let json = serde_json::to_value(&plan).unwrap();
            assert_eq!(json["channel"]["mode"], "he");
            assert!(json["channel"].get("eht").is_none(), "{json}");
            let why: Vec<&str> = plan
                .decisions
                .iter()
                .filter(|n| n.topic == crate::plan::Topic::Eht)
                .map(|n| n.text.as_str())
                .collect();
            assert_eq!(
                why,
                ["802.11be not used: the image's hostapd does not accept ieee80211be"]
            );
        }
    }
}
