//! What the harness tells the guest: a `key=value` text passed as QEMU fw_cfg
//! entry `opt/softap-e2e`, read by the overlay (`overlays/e2e`) from
//! `/sys/firmware/qemu_fw_cfg/by_name/opt/softap-e2e/raw`. This keeps the
//! disk untouched between boots: the same written stick is rebooted with a
//! different scenario.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestConfig {
    entries: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("guest config `{key}`=`{value}`: keys are [a-z0-9_]+, values one line")]
pub struct BadEntry {
    pub key: String,
    pub value: String,
}

impl GuestConfig {
    pub fn set(&mut self, key: &str, value: impl ToString) -> Result<&mut Self, BadEntry> {
        let value = value.to_string();
        let key_ok = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok || value.contains(['\n', '\r', '\0']) {
            return Err(BadEntry {
                key: key.to_owned(),
                value,
            });
        }
        self.entries.insert(key.to_owned(), value);
        Ok(self)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// The file's text, sorted by key.
    /// Writes the entries as `guest.cfg` in `dir` (made if missing), the
    /// file QEMU hands the guest; returns its path.
    pub fn write_in(&self, dir: &std::path::Path) -> Result<std::path::PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let file = dir.join("guest.cfg");
        std::fs::write(&file, self.render())
            .map_err(|e| format!("writing {}: {e}", file.display()))?;
        Ok(file)
    }

    pub fn render(&self) -> String {
        self.entries
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sorted_lines() -> Result<(), BadEntry> {
        let mut cfg = GuestConfig::default();
        cfg.set("scenario", "a")?
            .set("radios", 3)?
            .set("token", "t=1")?;
        assert_eq!(cfg.render(), "radios=3\nscenario=a\ntoken=t=1\n");
        assert_eq!(cfg.get("radios"), Some("3"));
        Ok(())
    }

    #[test]
    fn rejects_what_the_guest_could_not_read_back() {
        let mut cfg = GuestConfig::default();
        assert!(cfg.set("Bad-Key", "x").is_err());
        assert!(cfg.set("", "x").is_err());
        assert!(cfg.set("ok", "two\nlines").is_err());
        assert_eq!(cfg.render(), "");
    }
}
