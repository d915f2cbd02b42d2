//! Which configuration lines the hostapd that will run accepts. A hostapd
//! is built with or without 802.11be (`CONFIG_IEEE80211BE`), and its
//! version does not say which: Debian's 2.10 has no 802.11be, and a 2.11
//! may still be built without it. So hostapd itself is asked: it reads its
//! whole configuration file before it touches a driver, and names every
//! line it does not know ("Line 4: unknown configuration item
//! 'ieee80211be'"). A probe file whose interface cannot exist makes it
//! stop at the driver right after, having started nothing.

use std::path::PathBuf;
use std::time::Duration;

use crate::cmd::CmdError;
use crate::fsutil::WriteError;
use crate::host::Host;

/// The hostapd `softap-hostapd.service` runs. A build that ships its own
/// (the Nix package) names it at compile time.
pub const PROGRAM: &str = match option_env!("SOFTAP_HOSTAPD") {
    Some(p) => p,
    None => "/usr/sbin/hostapd",
};

/// hostapd parses and gives up at the missing interface within
/// milliseconds; this only bounds a hostapd that hangs for another reason.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// No network interface can have this name ('/' is refused by the kernel),
/// so nothing is ever started on a real one.
const NO_INTERFACE: &str = "softap/probe";

/// The line whose acceptance the plan needs.
const IEEE80211BE: &str = "ieee80211be=1";

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("there is no system to ask (dry run)")]
    NoSystem,
    #[error("making a directory for hostapd's probe configuration {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing hostapd's probe configuration: {0}")]
    Write(#[source] WriteError),
    #[error("running hostapd on its probe configuration: {0}")]
    Run(#[source] CmdError),
    #[error("hostapd refused its probe configuration for another reason: {0}")]
    Refused(String),
    #[error("hostapd's answer names neither a configuration line nor its driver: {0:?}")]
    Unexpected(String),
}

/// Whether `program` accepts `ieee80211be=1`.
pub fn ieee80211be(host: &dyn Host, program: &str) -> Result<bool, ProbeError> {
    accepts(host, program, IEEE80211BE)
}

/// Whether `program` accepts `line` (`key=value`) after a whole HE AP
/// configuration. The probe file is written through the host into a
/// directory of its own and removed again.
pub fn accepts(host: &dyn Host, program: &str, line: &str) -> Result<bool, ProbeError> {
    if host.dry_run() {
        return Err(ProbeError::NoSystem);
    }
    let dir = private_dir()?;
    let path = dir.path().join("hostapd.conf");
    let answer = host
        .write_atomic(&path, probe_config(line).as_bytes(), 0o600)
        .map_err(ProbeError::Write)
        .map(|()| {
            let shown = path.to_string_lossy().into_owned();
            host.query_bounded(&[program, &shown], TIMEOUT)
        });
    if path.exists() {
        if let Err(e) = host.remove(&path) {
            tracing::warn!("removing hostapd's probe configuration: {e}");
        }
    }
    if let Err(e) = dir.close() {
        tracing::warn!("removing hostapd's probe directory: {e}");
    }
    match answer? {
        None => Err(ProbeError::NoSystem),
        // The interface does not exist, so an exit without failure is not
        // expected; what it said is judged all the same.
        Some(Ok(out)) => judge(&out, line),
        Some(Err(CmdError::Failed { stderr, .. })) => judge(&stderr, line),
        Some(Err(e)) => Err(ProbeError::Run(e)),
    }
}

/// What hostapd's output says about the probe line: an unknown item is
/// no; reaching the driver (hostapd reads the whole file first) is yes;
/// anything else is no answer.
fn judge(output: &str, line: &str) -> Result<bool, ProbeError> {
    let key = line.split('=').next().unwrap_or(line);
    let unknown = format!("unknown configuration item '{key}'");
    if output.contains(&unknown) {
        return Ok(false);
    }
    // Parse errors are each printed as "Line N: ...", then counted.
    if let Some(line) = output.lines().find(|l| l.starts_with("Line ")) {
        return Err(ProbeError::Refused(line.trim().to_string()));
    }
    if output.contains("errors found in configuration file") {
        return Err(ProbeError::Refused(output.trim().to_string()));
    }
    // "Failed to initialize driver 'nl80211'" (no nl80211 here) or
    // "nl80211 driver initialization failed." (no such interface).
    if output.contains("driver") {
        return Ok(true);
    }
    Err(ProbeError::Unexpected(output.trim().to_string()))
}

/// A 5 GHz HE configuration with the probe line: hostapd wants 802.11ax on
/// before it takes 802.11be, and any other complaint is about the probe.
fn probe_config(line: &str) -> String {
    format!(
        "# softap-agent: does this hostapd accept 802.11be? Removed right after.\n\
         interface={NO_INTERFACE}\n\
         driver=nl80211\n\
         ssid=softap-probe\n\
         hw_mode=a\n\
         channel=36\n\
         ieee80211n=1\n\
         ieee80211ac=1\n\
         ieee80211ax=1\n\
         {line}\n"
    )
}

/// A new directory only this user can enter (mode 0700, a name nobody
/// chose before): the agent runs as root, and a shared temporary directory
/// may hold anyone's links under a guessable name.
fn private_dir() -> Result<tempfile::TempDir, ProbeError> {
    let parent = std::env::temp_dir();
    tempfile::Builder::new()
        .prefix("softap-hostapd-probe-")
        .tempdir_in(&parent)
        .map_err(|source| ProbeError::Dir {
            path: parent,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::Fake;

    const DEBIAN_2_10: &str = "Line 10: unknown configuration item 'ieee80211be'\n\
        1 errors found in configuration file '/tmp/p.conf'\n\
        Failed to set up interface with /tmp/p.conf\n\
        Failed to initialize interface";
    const AT_THE_DRIVER: &str = "nl80211: 'nl80211' generic netlink not found\n\
        Failed to initialize driver 'nl80211'\n\
        softap/probe: interface state UNINITIALIZED->DISABLED";

    fn fake() -> (tempfile::TempDir, Fake) {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new(dir.path());
        (dir, fake)
    }

    #[test]
    fn an_unknown_item_is_no_and_a_driver_failure_is_yes() {
        let (_d, host) = fake();
        let host = host.answer_failing("/usr/sbin/hostapd", DEBIAN_2_10);
        assert!(!ieee80211be(&host, "/usr/sbin/hostapd").unwrap());
        let (_d, host) = fake();
        let host = host.answer_failing("/usr/sbin/hostapd", AT_THE_DRIVER);
        assert!(ieee80211be(&host, "/usr/sbin/hostapd").unwrap());
        let env = host.env_of("/usr/sbin/hostapd /").unwrap();
        assert!(env.is_empty(), "{env:?}");
        let shown = host.commands_asked();
        let file = shown[0].split(' ').nth(1).unwrap();
        assert!(file.ends_with("/hostapd.conf"), "{file}");
        let file = std::path::Path::new(file);
        assert!(!file.exists() && !file.parent().unwrap().exists());
    }

    #[test]
    fn other_complaints_and_no_answer_are_unknown() {
        let (_d, host) = fake();
        let host = host.answer_failing("hostapd", "Line 3: invalid SSID '...'\n1 errors found");
        let e = ieee80211be(&host, "hostapd").unwrap_err();
        assert!(
            matches!(&e, ProbeError::Refused(l) if l.starts_with("Line 3")),
            "{e}"
        );
        let (_d, host) = fake();
        let e = ieee80211be(&host, "hostapd").unwrap_err();
        assert!(
            matches!(&e, ProbeError::Unexpected(t) if t == "injected failure"),
            "{e}"
        );
        let dry = crate::host::DryRun::new(std::path::Path::new("/nonexistent"));
        assert!(matches!(
            ieee80211be(&dry, "hostapd"),
            Err(ProbeError::NoSystem)
        ));
    }

    #[test]
    fn the_probe_is_a_whole_ap_configuration_on_no_interface() {
        let c = probe_config(IEEE80211BE);
        assert!(c.contains("interface=softap/probe\n"), "{c}");
        assert!(c.contains("ieee80211ax=1\nieee80211be=1\n"), "{c}");
        assert!(!c.contains("ctrl_interface"), "{c}");
        assert_eq!(judge(DEBIAN_2_10, "ieee80211ax=1").ok(), None);
    }
}
