//! What the agent decided last time, kept in `/var/lib/softap/state.json` so
//! the next boot keeps the same subnet while it stays free and remembers the
//! subnets that conflicted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::net::Ipv4Addr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::fsutil;

/// Relative to the root: the state file, and the generated passphrase (0600).
pub use crate::config::paths::{PASSPHRASE_FILE, STATE_FILE};
/// The largest state file read: a real one is a few KiB.
const STATE_CAP: u64 = 4 << 20;
/// How many remembered conflicts are kept; the oldest go first.
const MAX_CONFLICTS: usize = 64;

/// The phy chosen last time. Names and indexes are counters that change
/// after a driver reload, so they are hints, not identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhyRecord {
    pub name: String,
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Its permanent address: what finds it again after a driver reload
    /// or a replug, when its name has changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// The channel hostapd reported running on after the last apply: under
/// `channel = "auto"` the one its ACS picked, which the plan cannot know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningChannel {
    pub channel: u16,
    pub freq_mhz: u32,
    pub width_mhz: u32,
    /// Picked by hostapd's automatic channel selection.
    pub acs: bool,
}

/// The libvirt network as planned last time, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub name: String,
    pub domain: String,
    pub dhcp_start: Ipv4Addr,
    pub dhcp_end: Ipv4Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Net>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub phy: Option<PhyRecord>,
    pub subnet: Option<Ipv4Net>,
    /// Absent in states written before it was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkRecord>,
    pub bridge: Option<String>,
    /// The primary channel: hostapd's own report where there is one (see
    /// `running`), else the plan's.
    pub channel: Option<u16>,
    /// What hostapd reported running on; absent in a dry run and in states
    /// written before it was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<RunningChannel>,
    pub ssid: Option<String>,
    pub security: Option<crate::security::SecurityMode>,
    /// The AP interface hostapd serves.
    pub interface: Option<String>,
    /// Hash of the merged configuration (passphrase included).
    pub config_hash: Option<String>,
    /// sha256 of every file the agent wrote, by absolute path on the target.
    pub files: BTreeMap<String, String>,
    /// Subnets that overlapped something in use at some point.
    pub conflicts: Vec<Ipv4Net>,
    /// Why the last apply did not use the configuration file on the EFI
    /// system partition (file, line, column and problem), for `status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_problem: Option<String>,
    /// What `watch` last did on its own (hostapd restarted, radio gone),
    /// for `status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: cannot read the state: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid state file ({source}); remove it to start afresh")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: larger than {cap} bytes, the limit for the state; remove it to start afresh")]
    TooLarge { path: PathBuf, cap: u64 },
    #[error("{path}: cannot remove: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] fsutil::WriteError),
}

impl State {
    /// Loads the state under `root`; a missing file is an empty state.
    pub fn load(root: &Path) -> Result<State, StateError> {
        use std::io::Read;
        let path = root.join(STATE_FILE);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        // Read through a cap: under `--root` the path may lead anywhere.
        let mut bytes = Vec::new();
        if let Err(source) = file.take(STATE_CAP + 1).read_to_end(&mut bytes) {
            return Err(StateError::Read { path, source });
        }
        if bytes.len() as u64 > STATE_CAP {
            return Err(StateError::TooLarge {
                path,
                cap: STATE_CAP,
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| StateError::Parse { path, source })
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Writes the state atomically; returns whether the bytes changed.
    pub fn save(&self, root: &Path) -> Result<bool, StateError> {
        Ok(fsutil::write_if_changed(
            &root.join(STATE_FILE),
            self.to_json().as_bytes(),
            0o644,
        )?)
    }

    /// Adds newly seen conflicts, keeping the list short and ordered.
    pub fn remember_conflicts(&mut self, seen: &[Ipv4Net]) {
        for net in seen {
            if !self.conflicts.contains(net) {
                self.conflicts.push(*net);
            }
        }
        let excess = self.conflicts.len().saturating_sub(MAX_CONFLICTS);
        self.conflicts.drain(..excess);
    }
}

/// A rendered file's hash, as the state keeps it: what tells a definition
/// already applied from a new one.
pub fn content_hash(content: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(content.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let mut s = State {
            subnet: Some("172.16.0.0/16".parse().unwrap()),
            ..State::default()
        };
        s.remember_conflicts(&["10.0.0.0/16".parse().unwrap()]);
        assert!(s.save(dir.path()).unwrap());
        assert!(!s.save(dir.path()).unwrap(), "unchanged state rewritten");
        assert_eq!(State::load(dir.path()).unwrap(), s);
    }

    #[test]
    fn conflicts_are_capped() {
        let mut s = State::default();
        let nets: Vec<Ipv4Net> = (0..100u8)
            .map(|i| Ipv4Net::new(std::net::Ipv4Addr::new(10, i, 0, 0), 16).unwrap())
            .collect();
        s.remember_conflicts(&nets);
        s.remember_conflicts(&nets[..3]);
        assert_eq!(s.conflicts.len(), MAX_CONFLICTS);
        // The first three had been dropped as the oldest; seen again, they are the newest.
        assert_eq!(s.conflicts.last(), Some(&nets[2]));
        assert!(!s.conflicts.contains(&nets[3]));
    }

    #[test]
    fn an_endless_state_file_stops_at_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/softap")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join(STATE_FILE)).unwrap();
        let e = State::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("state.json: larger than"), "{e}");
    }

    #[test]
    fn corrupt_state_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/softap")).unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "{").unwrap();
        let e = State::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("state.json"), "{e}");
    }
}
