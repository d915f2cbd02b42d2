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
    /// system partition, and what it used instead, for `status`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "dropped_if_untyped"
    )]
    pub config_problem: Option<ConfigProblem>,
    /// What `watch` last did on its own (hostapd restarted, radio gone),
    /// for `status`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "dropped_if_untyped"
    )]
    pub watch_note: Option<WatchNote>,
}

/// States written by older agents kept these records as sentences: such a
/// record is dropped instead of making the whole state unreadable (which
/// would stop every command). The next apply or `watch` event writes it
/// again.
fn dropped_if_untyped<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// A configuration that could not be used as it stands, as `status --json`
/// shows it (`config_problem`): where the problem is, what it is, and what
/// the agent uses instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigProblem {
    /// The file (or credential) at fault, as the agent read it.
    pub file: Option<String>,
    /// Line and column in `file`, counted from 1, where the problem is in
    /// a TOML file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key whose value is wrong, where the problem is in a value.
    pub key: Option<String>,
    /// What is wrong (the text after file, line and column).
    pub message: String,
    /// The configuration the agent uses instead.
    pub fallback: ConfigFallback,
    /// The whole report as one sentence, as the console shows it.
    pub text: String,
}

/// What the agent uses in place of a configuration it cannot use
/// (`config_problem.fallback`, told apart by `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConfigFallback {
    /// `kind: "last_good"`: the text of the file that last worked, kept at
    /// `path`; `sha256` is that text's hash (none when it could not be
    /// read back).
    LastGood {
        path: String,
        sha256: Option<String>,
    },
    /// `kind: "defaults"`: no earlier version of the file worked, so the
    /// image's own configuration (`path`) over the built-in defaults.
    Defaults { path: String },
    /// `kind: "last_applied"`: nothing could be loaded at all, so nothing
    /// new is applied; the access point keeps what was applied last, whose
    /// merged configuration has the hash `config_hash` (none: nothing was
    /// applied yet).
    LastApplied { config_hash: Option<String> },
}

impl ConfigProblem {
    /// The problem of `e`, with its fallback.
    pub fn new(place: &crate::config::ErrorPlace, fallback: ConfigFallback, text: String) -> Self {
        ConfigProblem {
            file: place.file.as_ref().map(|f| f.display().to_string()),
            line: place.line,
            column: place.column,
            key: place.key.clone(),
            message: place.message.clone(),
            fallback,
            text,
        }
    }
}

/// What `watch` did on its own, in `status --json` as `watch_action`
/// (snake_case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchAction {
    /// `restarted_hostapd`: hostapd had stopped serving (killed, crashed);
    /// the agent restarted it and it serves again.
    RestartedHostapd,
    /// `hostapd_backing_off`: hostapd stopped serving again soon after
    /// earlier crashes; the agent waits before restarting it.
    HostapdBackingOff,
    /// `hostapd_restart_failed`: restarting hostapd failed; the agent
    /// tries again later.
    HostapdRestartFailed,
    /// `radio_gone`: the AP's radio went away; hostapd was stopped and the
    /// AP interface removed.
    RadioGone,
    /// `radio_back`: after a `radio_gone`, a radio appeared and the AP
    /// serves on it again.
    RadioBack,
}

/// The record of what `watch` last did on its own (`watch_*` in `status
/// --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchNote {
    pub action: WatchAction,
    /// When (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The radio that went or came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phy: Option<String>,
    /// hostapd's crashes in the current series (crashes less than two
    /// minutes apart), for the hostapd actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crashes: Option<u32>,
    /// The sentence the console showed.
    pub text: String,
}

/// What a waiting `watch` waits for (`waiting_for` in `status --json`,
/// snake_case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitingFor {
    /// `radio`: no radio can host the access point (none found, the
    /// configured one absent or unfit).
    Radio,
    /// `free_subnet`: every subnet of the pool overlaps one in use.
    FreeSubnet,
    /// `configuration`: the configuration or the state cannot be read;
    /// they are read again after a change or a while.
    Configuration,
    /// `retry`: a bring-up failed and was rolled back; it is tried again
    /// after the next change or a while.
    Retry,
}

/// What a running `watch` waits for, kept under `/run/softap` (gone with a
/// reboot) while it waits, so `status` can say so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub waiting_for: WaitingFor,
    /// Why: the plan's or the bring-up's error.
    pub reason: String,
    /// Since when (RFC 3339, UTC).
    pub since: Option<String>,
    /// The waiting agent's process: a record left by an agent that is gone
    /// is not believed.
    pub pid: u32,
}

/// The largest waiting record read: a real one is a few hundred bytes.
const WAITING_CAP: u64 = 1 << 20;

impl Waiting {
    pub fn new(waiting_for: WaitingFor, reason: String) -> Self {
        Waiting {
            waiting_for,
            reason,
            since: Some(now_rfc3339()),
            pid: std::process::id(),
        }
    }

    fn path(root: &Path) -> PathBuf {
        fsutil::under(root, crate::runtime::WAITING_FILE)
    }

    /// Writes the record under `root`.
    pub fn save(&self, root: &Path) -> Result<(), StateError> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        fsutil::write_if_changed(&Self::path(root), text.as_bytes(), 0o644)?;
        Ok(())
    }

    /// Removes the record under `root`: the agent waits no more.
    pub fn clear(root: &Path) -> Result<(), StateError> {
        let path = Self::path(root);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Remove { path, source }),
        }
    }

    /// The record under `root` while the agent that wrote it still runs;
    /// none without one.
    pub fn load(root: &Path) -> Result<Option<Waiting>, StateError> {
        use std::io::Read;
        let path = Self::path(root);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let mut bytes = Vec::new();
        if let Err(source) = file.take(WAITING_CAP + 1).read_to_end(&mut bytes) {
            return Err(StateError::Read { path, source });
        }
        if bytes.len() as u64 > WAITING_CAP {
            return Err(StateError::TooLarge {
                path,
                cap: WAITING_CAP,
            });
        }
        let w: Waiting =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Parse { path, source })?;
        // The agent may have been stopped while it waited.
        let alive = Path::new("/proc").join(w.pid.to_string()).exists();
        Ok(alive.then_some(w))
    }
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    softap_config::time::rfc3339(secs)
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

    /// Older agents kept these records as sentences: such a state stays
    /// readable, without them.
    #[test]
    fn sentences_of_older_agents_are_dropped_not_fatal() {
        let s: State = serde_json::from_str(
            r#"{"subnet": "10.0.0.0/24", "config_problem": "softap.toml:1:2: bad",
                "watch_note": "hostapd restarted"}"#,
        )
        .unwrap();
        assert_eq!(s.subnet, Some("10.0.0.0/24".parse().unwrap()));
        assert_eq!((s.config_problem, s.watch_note), (None, None));
        let note = WatchNote {
            action: WatchAction::RadioGone,
            at: None,
            phy: Some("phy0".into()),
            crashes: None,
            text: "gone".into(),
        };
        let s = State {
            watch_note: Some(note.clone()),
            ..State::default()
        };
        let back: State = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(back.watch_note, Some(note));
        assert!(
            s.to_json().contains("\"action\": \"radio_gone\""),
            "{}",
            s.to_json()
        );
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
