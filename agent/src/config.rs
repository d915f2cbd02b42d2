//! Layered configuration: built-in defaults < `/etc/softap/softap.toml` <
//! `softap.toml` on the ESP < systemd credentials < command-line flags.
//!
//! Every layer is parsed into [`Layer`] (all keys optional, unknown keys
//! rejected) and merged key by key; [`Config::validate`] then checks the
//! result so that a bad SSID, passphrase or country never reaches a renderer.

use std::fmt;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The image's defaults, written by the builder from `[appliance]`.
pub const ETC_CONFIG: &str = "etc/softap/softap.toml";
/// The user-editable file on the EFI system partition, first one found wins.
pub const ESP_CONFIGS: [&str; 3] = [
    "efi/softap.toml",
    "boot/efi/softap.toml",
    "boot/softap.toml",
];
/// systemd credentials read from `$CREDENTIALS_DIRECTORY`, one key per file.
pub const CREDENTIAL_KEYS: [&str; 9] = [
    "ssid",
    "passphrase",
    "security",
    "country",
    "channel",
    "phy",
    "bridge",
    "network_name",
    "interface",
];

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

impl std::str::FromStr for Security {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "wpa2" => Ok(Security::Wpa2),
            "wpa3-transition" => Ok(Security::Wpa3Transition),
            "auto" => Ok(Security::Auto),
            "open" => Ok(Security::Open),
            other => Err(format!(
                "unknown security mode {other:?}: expected \"wpa2\", \"wpa3-transition\", \"auto\" or \"open\""
            )),
        }
    }
}

/// One layer of configuration as written in a file: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub ssid: Option<String>,
    pub passphrase: Option<String>,
    pub security: Option<Security>,
    pub country: Option<String>,
    pub channel: Option<u16>,
    pub phy: Option<String>,
    pub subnet_pool: Option<Vec<Ipv4Net>>,
    pub bridge: Option<String>,
    pub network_name: Option<String>,
    pub interface: Option<String>,
}

impl Layer {
    /// Keys set in `over` replace the ones here.
    pub fn merge(&mut self, over: Layer) {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(
            ssid,
            passphrase,
            security,
            country,
            channel,
            phy,
            subnet_pool,
            bridge,
            network_name,
            interface
        );
    }
}

/// The merged, validated configuration the planner works from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// `None`: `softap-XXXX` derived from the machine id by the planner.
    pub ssid: Option<String>,
    /// `None`: generated at first apply and stored under `/var/lib/softap`.
    #[serde(skip_serializing)]
    pub passphrase: Option<String>,
    pub security: Security,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// `None`: channel 6, or the first usable 2.4 GHz channel if 6 is not.
    pub channel: Option<u16>,
    /// A phy name (`phy1`), wiphy index, or the phy's MAC address.
    pub phy: Option<String>,
    /// Candidate subnets in order of preference; the first is tried first,
    /// the rest in an order seeded by the machine id.
    pub subnet_pool: Vec<Ipv4Net>,
    pub bridge: String,
    pub network_name: String,
    pub interface: String,
    /// Where each value came from, for `plan` explanations.
    #[serde(skip)]
    pub sources: Vec<String>,
}

/// The built-in subnet pool: 172.16.0.0/16 as in the original design, then
/// further RFC 1918 /16s and /24s.
pub fn default_subnet_pool() -> Vec<Ipv4Net> {
    let mut pool = Vec::new();
    for b in 16..=31u8 {
        pool.push(Ipv4Net::new_assert(
            std::net::Ipv4Addr::new(172, b, 0, 0),
            16,
        ));
    }
    for b in [77u8, 88, 99, 123, 147, 201] {
        pool.push(Ipv4Net::new_assert(
            std::net::Ipv4Addr::new(10, b, 0, 0),
            16,
        ));
    }
    for c in (100..=250u8).step_by(10) {
        pool.push(Ipv4Net::new_assert(
            std::net::Ipv4Addr::new(192, 168, c, 0),
            24,
        ));
    }
    pool
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ssid: None,
            passphrase: None,
            security: Security::Auto,
            country: None,
            channel: None,
            phy: None,
            subnet_pool: default_subnet_pool(),
            bridge: "virbr0".into(),
            network_name: "softap".into(),
            interface: "softap".into(),
            sources: vec!["built-in defaults".into()],
        }
    }
}

/// A configuration error: where it is and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("credential {path}: {message}")]
    Credential { path: PathBuf, message: String },
    #[error("{key} (from {source_name}): {message}")]
    Invalid {
        key: &'static str,
        source_name: String,
        message: String,
    },
}

/// Parses one TOML layer, reporting errors as `file:line:col: message`.
pub fn parse_layer(text: &str, path: &Path) -> Result<Layer, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn read_layer(path: &Path) -> Result<Option<Layer>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_layer(&text, path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Reads systemd credentials (`softap.<key>` files) into a layer.
pub fn credentials_layer(dir: &Path) -> Result<Layer, ConfigError> {
    let mut text = String::new();
    for key in CREDENTIAL_KEYS {
        let path = dir.join(format!("softap.{key}"));
        let value = match std::fs::read_to_string(&path) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ConfigError::Read { path, source: e }),
        };
        // Credentials are usually written with a trailing newline.
        let value = value.strip_suffix('\n').unwrap_or(&value);
        let value = value.strip_suffix('\r').unwrap_or(value);
        if key == "channel" {
            let n: u16 = value.trim().parse().map_err(|_| ConfigError::Credential {
                path: path.clone(),
                message: format!("not a channel number: {value:?}"),
            })?;
            text.push_str(&format!("channel = {n}\n"));
        } else {
            let quoted = toml::Value::String(value.to_string()).to_string();
            text.push_str(&format!("{key} = {quoted}\n"));
        }
    }
    parse_layer(&text, dir)
}

/// Where the layers come from; `root` prefixes every system path.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub root: PathBuf,
    /// `--config FILE`: replaces the `/etc` and ESP files when given.
    pub explicit: Option<PathBuf>,
    pub credentials_dir: Option<PathBuf>,
    /// System credentials (`systemd.set_credential=` on the kernel command
    /// line, SMBIOS/fw_cfg in VMs): read below the service's own.
    pub system_credentials_dir: Option<PathBuf>,
    pub flags: Layer,
}

impl Sources {
    /// The live system's sources: `$CREDENTIALS_DIRECTORY` from the environment.
    pub fn system(root: &Path, explicit: Option<PathBuf>, flags: Layer) -> Self {
        Sources {
            root: root.to_path_buf(),
            explicit,
            credentials_dir: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            system_credentials_dir: Some(root.join("run/credentials/@system")),
            flags,
        }
    }
}

/// Loads, merges and validates every layer.
pub fn load(src: &Sources) -> Result<Config, ConfigError> {
    let mut merged = Layer::default();
    let mut sources = vec!["built-in defaults".to_string()];
    let mut origin: std::collections::BTreeMap<&'static str, String> = Default::default();
    let mut apply = |layer: Layer, name: String, merged: &mut Layer| {
        for (key, set) in layer_keys(&layer) {
            if set {
                origin.insert(key, name.clone());
            }
        }
        merged.merge(layer);
        sources.push(name);
    };
    if let Some(path) = &src.explicit {
        match read_layer(path)? {
            Some(l) => apply(l, path.display().to_string(), &mut merged),
            None => {
                return Err(ConfigError::Read {
                    path: path.clone(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                })
            }
        }
    } else {
        let etc = src.root.join(ETC_CONFIG);
        if let Some(l) = read_layer(&etc)? {
            apply(l, etc.display().to_string(), &mut merged);
        }
        for esp in ESP_CONFIGS {
            let path = src.root.join(esp);
            if let Some(l) = read_layer(&path)? {
                apply(l, path.display().to_string(), &mut merged);
                break;
            }
        }
    }
    let dirs = [&src.system_credentials_dir, &src.credentials_dir];
    for dir in dirs.into_iter().flatten().filter(|d| d.is_dir()) {
        let l = credentials_layer(dir)?;
        if l != Layer::default() {
            apply(l, format!("credentials in {}", dir.display()), &mut merged);
        }
    }
    if src.flags != Layer::default() {
        apply(src.flags.clone(), "command-line flags".into(), &mut merged);
    }
    let cfg = from_layer(merged, sources);
    cfg.validate(&|key| {
        origin
            .get(key)
            .cloned()
            .unwrap_or_else(|| "built-in defaults".into())
    })?;
    Ok(cfg)
}

fn layer_keys(l: &Layer) -> [(&'static str, bool); 10] {
    [
        ("ssid", l.ssid.is_some()),
        ("passphrase", l.passphrase.is_some()),
        ("security", l.security.is_some()),
        ("country", l.country.is_some()),
        ("channel", l.channel.is_some()),
        ("phy", l.phy.is_some()),
        ("subnet_pool", l.subnet_pool.is_some()),
        ("bridge", l.bridge.is_some()),
        ("network_name", l.network_name.is_some()),
        ("interface", l.interface.is_some()),
    ]
}

/// Builds a configuration from one merged layer over the defaults.
pub fn from_layer(l: Layer, sources: Vec<String>) -> Config {
    let d = Config::default();
    Config {
        ssid: l.ssid,
        passphrase: l.passphrase,
        security: l.security.unwrap_or(d.security),
        country: l
            .country
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty()),
        channel: l.channel,
        phy: l.phy.filter(|p| !p.trim().is_empty()),
        subnet_pool: l.subnet_pool.unwrap_or(d.subnet_pool),
        bridge: l.bridge.unwrap_or(d.bridge),
        network_name: l.network_name.unwrap_or(d.network_name),
        interface: l.interface.unwrap_or(d.interface),
        sources,
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
    /// Checks every value; `origin` names the layer a key came from.
    pub fn validate(&self, origin: &dyn Fn(&'static str) -> String) -> Result<(), ConfigError> {
        let bad = |key: &'static str, message: String| ConfigError::Invalid {
            key,
            source_name: origin(key),
            message,
        };
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
                    "a WPA passphrase may contain only printable ASCII characters".into(),
                ));
            }
        }
        if self.security == Security::Open && self.passphrase.is_some() {
            return Err(bad(
                "security",
                "security = \"open\" but a passphrase is set: remove one of them".into(),
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
            return Err(bad("subnet_pool", "the subnet pool is empty".into()));
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

    /// A stable hash of everything that changes the rendered files.
    pub fn hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(self).unwrap_or_default());
        if let Some(p) = &self.passphrase {
            h.update(b"\0passphrase\0");
            h.update(p.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn layers_merge_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/softap")).unwrap();
        std::fs::create_dir_all(root.join("boot/efi")).unwrap();
        std::fs::create_dir_all(root.join("creds")).unwrap();
        std::fs::write(
            root.join(ETC_CONFIG),
            "ssid = \"image\"\ncountry = \"US\"\nchannel = 1\n",
        )
        .unwrap();
        std::fs::write(
            root.join("boot/efi/softap.toml"),
            "ssid = \"esp\"\nchannel = 11\n",
        )
        .unwrap();
        std::fs::write(root.join("creds/softap.ssid"), "cred\n").unwrap();
        std::fs::create_dir_all(root.join("syscreds")).unwrap();
        std::fs::write(root.join("syscreds/softap.ssid"), "system\n").unwrap();
        std::fs::write(root.join("syscreds/softap.country"), "FR").unwrap();
        std::fs::write(root.join("creds/softap.passphrase"), "correct horse\n").unwrap();
        let src = Sources {
            root: root.to_path_buf(),
            explicit: None,
            credentials_dir: Some(root.join("creds")),
            system_credentials_dir: Some(root.join("syscreds")),
            flags: Layer {
                channel: Some(6),
                ..Layer::default()
            },
        };
        let c = load(&src).unwrap();
        assert_eq!(c.ssid.as_deref(), Some("cred"));
        assert_eq!(c.passphrase.as_deref(), Some("correct horse"));
        assert_eq!(c.country.as_deref(), Some("FR"));
        assert_eq!(c.channel, Some(6));
        assert_eq!(c.sources.len(), 6, "{:?}", c.sources);
    }

    #[test]
    fn invalid_value_names_its_layer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("boot")).unwrap();
        std::fs::write(
            dir.path().join("boot/softap.toml"),
            "passphrase = \"1234\"\n",
        )
        .unwrap();
        let src = Sources {
            root: dir.path().to_path_buf(),
            ..Sources::default()
        };
        let e = load(&src).unwrap_err().to_string();
        assert!(e.contains("boot/softap.toml"), "{e}");
        assert!(e.contains("8 to 63"), "{e}");
    }
}
