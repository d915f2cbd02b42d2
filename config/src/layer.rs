//! One layer of configuration as written in a file, a credential or on the
//! command line, and how layers combine.

use std::collections::BTreeMap;
use std::path::Path;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::{ConfigError, ValueError};
use crate::keys::{self, KeySpec, ValueKind};
use crate::link::{ChannelSetting, WifiBand};
use crate::network::{FixedRange, HostEntry};
use crate::origin::{Origin, Origins};
use crate::security::Security;

/// Combines two values of a setting, the one in `self` winning (as in
/// uv's settings crate).
pub trait Combine {
    fn combine(self, lower: Self) -> Self;
}

impl<T> Combine for Option<T> {
    fn combine(self, lower: Self) -> Self {
        self.or(lower)
    }
}

/// One layer: every key optional, unknown keys rejected. The fields are the
/// keys of [`keys::KEYS`], in its order (a test in `keys` checks that).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<ChannelSetting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<WifiBand>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dfs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_pool: Option<Vec<Ipv4Net>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_range: Option<FixedRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolate_clients: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<bool>,
    /// `[[host]]` tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Vec<HostEntry>>,
}

impl Combine for Layer {
    fn combine(self, lower: Layer) -> Layer {
        // Destructured, not `..`: a new key does not compile until it is
        // combined here.
        let Layer {
            ssid,
            passphrase,
            security,
            country,
            channel,
            band,
            width,
            dfs,
            phy,
            subnet_pool,
            bridge,
            network_name,
            interface,
            domain,
            fixed_range,
            isolate_clients,
            ipv6,
            host,
        } = self;
        Layer {
            ssid: ssid.combine(lower.ssid),
            passphrase: passphrase.combine(lower.passphrase),
            security: security.combine(lower.security),
            country: country.combine(lower.country),
            channel: channel.combine(lower.channel),
            band: band.combine(lower.band),
            width: width.combine(lower.width),
            dfs: dfs.combine(lower.dfs),
            phy: phy.combine(lower.phy),
            subnet_pool: subnet_pool.combine(lower.subnet_pool),
            bridge: bridge.combine(lower.bridge),
            network_name: network_name.combine(lower.network_name),
            interface: interface.combine(lower.interface),
            domain: domain.combine(lower.domain),
            fixed_range: fixed_range.combine(lower.fixed_range),
            isolate_clients: isolate_clients.combine(lower.isolate_clients),
            ipv6: ipv6.combine(lower.ipv6),
            host: host.combine(lower.host),
        }
    }
}

impl Layer {
    /// The keys this layer sets, in table order. Read through serde, so it
    /// follows the struct without a list of its own.
    pub fn set_keys(&self) -> Vec<&'static KeySpec> {
        let set = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Vec::new(),
        };
        keys::KEYS
            .iter()
            .filter(|k| set.contains_key(k.name))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        *self == Layer::default()
    }

    /// A layer setting only `key`, from its text form (a credential file's
    /// content, a flag's argument): [`ValueKind::Integer`] is parsed,
    /// [`ValueKind::List`] split at commas, and the value then checked
    /// against the key's type exactly as in a TOML file.
    pub fn from_text(key: &'static KeySpec, text: &str) -> Result<Layer, ValueError> {
        let value = match key.kind {
            ValueKind::Text => toml::Value::String(text.to_owned()),
            ValueKind::Integer => {
                let n: i64 = text
                    .trim()
                    .parse()
                    .map_err(|source| ValueError::NotANumber {
                        key: key.name,
                        value: text.to_owned(),
                        source,
                    })?;
                toml::Value::Integer(n)
            }
            // A number when it reads as one; otherwise the word, which the
            // key's type accepts or refuses as in a TOML file.
            ValueKind::IntegerOrWord => match text.trim().parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => toml::Value::String(text.trim().to_owned()),
            },
            ValueKind::List => toml::Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
            ValueKind::Boolean => match text.trim() {
                "true" => toml::Value::Boolean(true),
                "false" => toml::Value::Boolean(false),
                _ => {
                    return Err(ValueError::NotABoolean {
                        key: key.name,
                        value: text.to_owned(),
                    })
                }
            },
            ValueKind::Tables => return Err(ValueError::NoTextForm { key: key.name }),
        };
        let mut table = toml::Table::new();
        table.insert(key.name.to_owned(), value);
        toml::Value::Table(table)
            .try_into()
            .map_err(|source| ValueError::Invalid {
                key: key.name,
                source: Box::new(source),
            })
    }
}

/// A layer and where each of its keys was set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Located {
    pub layer: Layer,
    pub origins: Origins,
}

impl Located {
    /// Every key the layer sets comes from `origin(key)`.
    pub fn new(layer: Layer, origin: impl Fn(&'static KeySpec) -> Origin) -> Located {
        let mut origins = Origins::default();
        for k in layer.set_keys() {
            origins.set(k.name, origin(k));
        }
        Located { layer, origins }
    }

    /// `higher` combined over this one.
    pub fn overlay(&mut self, higher: Located) {
        self.layer = higher.layer.combine(std::mem::take(&mut self.layer));
        self.origins.overlay(higher.origins);
    }
}

/// Line and column (from 1, in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn parse_error(text: &str, path: &Path, source: toml::de::Error) -> ConfigError {
    let (line, column) = source
        .span()
        .map(|s| line_col(text, s.start))
        .unwrap_or((1, 1));
    ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        key: source.span().and_then(|s| key_at(text, s.start)),
        source: Box::new(source),
    }
}

/// The known key whose value holds byte `offset`: a type error's message
/// ("invalid type: integer `3`, expected a string") does not name it.
fn key_at(text: &str, offset: usize) -> Option<&'static str> {
    let values: BTreeMap<String, Spanned<toml::Value>> = toml::from_str(text).ok()?;
    values
        .iter()
        .find(|(_, v)| v.span().contains(&offset))
        .and_then(|(name, _)| keys::key(name))
        .map(|k| k.name)
}

/// The places of the fields of the arrays of tables; other keys ignored.
#[derive(Debug, Default, Deserialize)]
struct TableSpans {
    #[serde(default)]
    host: Vec<BTreeMap<String, Spanned<toml::Value>>>,
}

/// Parses one TOML layer, reporting errors as `file:line:col: message`.
pub fn parse_layer(text: &str, path: &Path) -> Result<Layer, ConfigError> {
    toml::from_str(text).map_err(|e| parse_error(text, path, e))
}

/// Parses one TOML layer and records the line and column of every value.
pub fn parse_located(text: &str, path: &Path) -> Result<Located, ConfigError> {
    let layer = parse_layer(text, path)?;
    let spans: BTreeMap<String, Spanned<toml::Value>> =
        toml::from_str(text).map_err(|e| parse_error(text, path, e))?;
    let at = |offset: usize| {
        let (line, column) = line_col(text, offset);
        Origin::File {
            path: path.to_path_buf(),
            line,
            column,
        }
    };
    let mut origins = Origins::default();
    for (name, value) in &spans {
        // Every name is a known key: the layer parsed.
        if let Some(k) = keys::key(name) {
            origins.set(k.name, at(value.span().start));
        }
    }
    // Each `[[host]]` table, field by field, so that an error in one names
    // its own line.
    let tables: TableSpans = toml::from_str(text).unwrap_or_default();
    for (i, entry) in tables.host.into_iter().enumerate() {
        for (field, value) in entry {
            origins.set_entry(keys::HOST.name, i, field, at(value.span().start));
        }
    }
    Ok(Located { layer, origins })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_higher_layer_wins_key_by_key() {
        let lower = Layer {
            ssid: Some("low".into()),
            channel: Some(ChannelSetting::Number(1)),
            ..Layer::default()
        };
        let higher = Layer {
            ssid: Some("high".into()),
            country: Some("DE".into()),
            ..Layer::default()
        };
        let c = higher.combine(lower);
        assert_eq!(c.ssid.as_deref(), Some("high"));
        assert_eq!(c.channel, Some(ChannelSetting::Number(1)));
        assert_eq!(c.country.as_deref(), Some("DE"));
        let names: Vec<&str> = c.set_keys().iter().map(|k| k.name).collect();
        assert_eq!(names, ["ssid", "country", "channel"]);
    }

    #[test]
    fn values_from_text_follow_the_keys_types() {
        let l = Layer::from_text(&keys::CHANNEL, " 11\n").unwrap();
        assert_eq!(l.channel, Some(ChannelSetting::Number(11)));
        let l = Layer::from_text(&keys::CHANNEL, "auto\n").unwrap();
        assert_eq!(l.channel, Some(ChannelSetting::Auto));
        let e = Layer::from_text(&keys::CHANNEL, "eleven").unwrap_err();
        assert!(
            e.to_string().contains("a channel number or \"auto\""),
            "{e}"
        );
        let e = Layer::from_text(&keys::WIDTH, "eighty").unwrap_err();
        assert!(matches!(e, ValueError::NotANumber { .. }), "{e}");
        let e = Layer::from_text(&keys::CHANNEL, "70000").unwrap_err();
        assert!(e.to_string().starts_with("`channel`: "), "{e}");
        let e = Layer::from_text(&keys::SECURITY, "wep").unwrap_err();
        assert!(e.to_string().contains("wep"), "{e}");
        // Text is kept as it is: an SSID may end in a space.
        let l = Layer::from_text(&keys::SSID, "cafe ").unwrap();
        assert_eq!(l.ssid.as_deref(), Some("cafe "));
        let l = Layer::from_text(&keys::SUBNET_POOL, "10.1.0.0/16, 10.2.0.0/16").unwrap();
        assert_eq!(l.subnet_pool.unwrap().len(), 2);
        assert_eq!(
            Layer::from_text(&keys::IPV6, "false\n").unwrap().ipv6,
            Some(false)
        );
        let e = Layer::from_text(&keys::IPV6, "no").unwrap_err();
        assert!(matches!(e, ValueError::NotABoolean { .. }), "{e}");
        let l = Layer::from_text(&keys::FIXED_RANGE, "25%").unwrap();
        assert_eq!(l.fixed_range, Some(FixedRange::Percent(25)));
        let e = Layer::from_text(&keys::FIXED_RANGE, "half").unwrap_err();
        assert!(e.to_string().starts_with("`fixed_range`: "), "{e}");
        let e = Layer::from_text(&keys::HOST, "web").unwrap_err();
        assert!(matches!(e, ValueError::NoTextForm { .. }), "{e}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let path = Path::new("softap.toml");
        let e = parse_layer("ssid = \"x\"\nchannel = \"six\"\n", path).unwrap_err();
        assert!(
            e.to_string().starts_with("softap.toml:2:11: `channel`: "),
            "{e}"
        );
        let e = parse_layer("colour = 3\n", path).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("softap.toml:1:1: unknown field `colour`"),
            "{e}"
        );
    }

    #[test]
    fn file_values_remember_line_and_column() {
        let path = Path::new("/efi/softap.toml");
        let l = parse_located("# comment\nssid = \"x\"\n  channel = 6\n", path).unwrap();
        assert_eq!(l.origins.get("ssid").to_string(), "/efi/softap.toml:2:8");
        assert_eq!(
            l.origins.get("channel").to_string(),
            "/efi/softap.toml:3:13"
        );
        assert_eq!(l.origins.get("country"), Origin::Default);
    }
}
