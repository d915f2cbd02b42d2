//! Where a configuration value came from, for error messages and plan
//! explanations ("/efi/softap.toml:3:8", "credential .../softap.ssid").

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// The layer, and within a file the place, a value was set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    /// Nobody set it: the built-in default applies.
    #[default]
    Default,
    /// A TOML file; line and column of the value, counted from 1.
    File {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    /// A systemd credential file.
    Credential { path: PathBuf },
    /// The agent's command line.
    Flag { flag: &'static str },
    /// Any other source, by name (a test, another program's input).
    Named(String),
}

/// What the agent calls the built-in defaults in its list of sources.
pub const DEFAULTS: &str = "built-in defaults";

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str(DEFAULTS),
            Origin::File { path, line, column } => {
                write!(f, "{}:{line}:{column}", path.display())
            }
            Origin::Credential { path } => write!(f, "credential {}", path.display()),
            Origin::Flag { flag } => write!(f, "command-line flag --{flag}"),
            Origin::Named(name) => f.write_str(name),
        }
    }
}

impl From<&str> for Origin {
    fn from(name: &str) -> Self {
        Origin::Named(name.to_owned())
    }
}

impl From<String> for Origin {
    fn from(name: String) -> Self {
        Origin::Named(name)
    }
}

/// The origin of each key that some layer set; the others are defaults.
/// For an array of tables (`[[host]]`), also the place of each field of
/// each table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origins {
    keys: BTreeMap<&'static str, Origin>,
    entries: BTreeMap<(&'static str, usize, String), Origin>,
}

impl Origins {
    pub fn get(&self, key: &str) -> Origin {
        self.keys.get(key).cloned().unwrap_or_default()
    }

    pub fn set(&mut self, key: &'static str, origin: Origin) {
        self.keys.insert(key, origin);
    }

    /// Where field `field` of table `index` of `key` was set.
    pub fn entry(&self, key: &'static str, index: usize, field: &str) -> Option<Origin> {
        self.entries.get(&(key, index, field.to_owned())).cloned()
    }

    pub fn set_entry(&mut self, key: &'static str, index: usize, field: String, origin: Origin) {
        self.entries.insert((key, index, field), origin);
    }

    /// Takes over every origin of `higher`, a layer combined over this one.
    /// A key's tables are replaced whole, as its value is.
    pub fn overlay(&mut self, higher: Origins) {
        for key in higher.keys.keys() {
            self.entries.retain(|(k, _, _), _| k != key);
        }
        self.keys.extend(higher.keys);
        self.entries.extend(higher.entries);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Origin)> {
        self.keys.iter().map(|(k, o)| (*k, o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_read_as_places() {
        let file = Origin::File {
            path: "/efi/softap.toml".into(),
            line: 3,
            column: 8,
        };
        assert_eq!(file.to_string(), "/efi/softap.toml:3:8");
        assert_eq!(
            Origin::Flag { flag: "ssid" }.to_string(),
            "command-line flag --ssid"
        );
        let mut o = Origins::default();
        o.set("ssid", file.clone());
        let mut higher = Origins::default();
        higher.set("ssid", Origin::Flag { flag: "ssid" });
        o.overlay(higher);
        assert_eq!(o.get("ssid"), Origin::Flag { flag: "ssid" });
        assert_eq!(o.get("country"), Origin::Default);
    }
}
