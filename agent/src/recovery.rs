//! What `watch` does between re-plans to keep the AP serving: a hostapd
//! that stopped serving (killed, crashed) is restarted and checked enabled,
//! and repeated crashes back off instead of looping; a hostapd that runs but
//! answers late (busy with many stations at once) is left alone until its
//! silence is too long to be busy; a radio that went away
//! has its hostapd stopped cleanly, and the next plan that finds a radio
//! brings the AP back. Every action goes through the [`Host`] and time is
//! passed in, so the fake host and a made-up clock test it.

use std::time::{Duration, Instant};

use crate::apply::Timeouts;
use crate::host::Host;
use crate::hostapd::CtrlError;
use crate::runtime::HOSTAPD_UNIT;

/// How often `watch` asks hostapd whether it still serves: with the restart
/// and the wait for the AP, a killed hostapd serves again within 10 s.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long one probe waits for hostapd's answer.
const PROBE: Duration = Duration::from_secs(1);
/// How long hostapd may leave the probes unanswered before it counts as
/// hung and is restarted. Seen under TCG with 16 stations leaving at once:
/// hostapd answered no probe for over a second, and the restart that
/// followed dropped every station. A hostapd that was killed or crashed is
/// not silent: its socket refuses the connection (or is gone), and that is
/// a crash at once.
const SILENT_LIMIT: Duration = Duration::from_secs(30);
/// Crashes this close together count as a series.
const SERIES: Duration = Duration::from_secs(120);
/// Restarts in a series before the back-off starts.
const FREE_RESTARTS: u32 = 2;
/// The first wait of the back-off; it doubles with each further crash.
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
/// The longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What one check found and did; `message` is for the console, the log
/// and `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// hostapd serves the AP.
    Serving,
    /// hostapd had stopped serving; it was restarted and serves again.
    /// `crashes`: in the current series.
    Restarted { message: String, crashes: u32 },
    /// hostapd does not serve, and the restart failed (`failed`) or must
    /// wait (the back-off).
    Down {
        message: String,
        retry_at: Instant,
        crashes: u32,
        failed: bool,
    },
    /// Still down, still waiting (already reported).
    Waiting { retry_at: Instant },
    /// hostapd runs but did not answer in time: busy, asked again at the
    /// next check.
    Busy,
}

impl Check {
    pub fn message(&self) -> Option<&str> {
        match self {
            Check::Serving | Check::Waiting { .. } | Check::Busy => None,
            Check::Restarted { message, .. } | Check::Down { message, .. } => Some(message),
        }
    }
}

/// Keeps hostapd serving, with a back-off for a series of crashes.
#[derive(Debug, Default)]
pub struct Supervisor {
    /// Crashes in the current series.
    crashes: u32,
    /// When the last crash was seen.
    last_crash: Option<Instant>,
    /// No restart before this (the back-off).
    not_before: Option<Instant>,
    /// Since when hostapd has left the probes unanswered.
    silent_since: Option<Instant>,
}

/// The wait before the restart after the `n`th crash of a series.
fn backoff(n: u32) -> Duration {
    if n <= FREE_RESTARTS {
        return Duration::ZERO;
    }
    let doublings = (n - FREE_RESTARTS - 1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

impl Supervisor {
    /// Asks hostapd whether it serves `iface`; if not, restarts it unless
    /// the back-off says to wait.
    pub fn check(
        &mut self,
        host: &dyn Host,
        iface: &str,
        timeouts: &Timeouts,
        now: Instant,
    ) -> Check {
        let e = match host.wait_ap_enabled(iface, PROBE) {
            Ok(_) => {
                self.not_before = None;
                self.silent_since = None;
                return Check::Serving;
            }
            Err(e) => e,
        };
        let why = match (&e, self.silent_since) {
            (CtrlError::Timeout { .. }, None) => {
                self.silent_since = Some(now);
                tracing::debug!("hostapd is busy: {e}");
                return Check::Busy;
            }
            (CtrlError::Timeout { .. }, Some(since))
                if now.saturating_duration_since(since) < SILENT_LIMIT =>
            {
                tracing::debug!("hostapd is busy: {e}");
                return Check::Busy;
            }
            (CtrlError::Timeout { .. }, Some(since)) => format!(
                "{e}; no answer for {} s",
                now.saturating_duration_since(since).as_secs()
            ),
            _ => e.to_string(),
        };
        self.silent_since = None;
        if let Some(at) = self.not_before.filter(|t| now < *t) {
            tracing::debug!("hostapd still does not serve {iface} ({why})");
            return Check::Waiting { retry_at: at };
        }
        // A crash whose back-off just ended is restarted now, not counted
        // again.
        let waited = self.not_before.take().is_some();
        if !waited {
            let in_series = self
                .last_crash
                .is_some_and(|t| now.saturating_duration_since(t) < SERIES);
            self.crashes = if in_series { self.crashes + 1 } else { 1 };
            self.last_crash = Some(now);
            let wait = backoff(self.crashes);
            if !wait.is_zero() {
                let at = now + wait;
                self.not_before = Some(at);
                return Check::Down {
                    message: format!(
                        "hostapd stopped serving {iface} ({why}), crash {} within {} s: \
                         waiting {} s before restarting it (see `journalctl -u {HOSTAPD_UNIT}`)",
                        self.crashes,
                        SERIES.as_secs(),
                        wait.as_secs()
                    ),
                    retry_at: at,
                    crashes: self.crashes,
                    failed: false,
                };
            }
        }
        let restarted = host
            .change(&["systemctl", "restart", HOSTAPD_UNIT])
            .map_err(|e| e.to_string())
            .and_then(|_| {
                host.wait_ap_enabled(iface, timeouts.ap)
                    .map_err(|e| e.to_string())
            });
        match restarted {
            Ok(_) => Check::Restarted {
                crashes: self.crashes,
                message: format!(
                    "hostapd stopped serving {iface} ({why}); restarted it, the AP is enabled \
                     again (crash {} within {} s)",
                    self.crashes,
                    SERIES.as_secs()
                ),
            },
            Err(e) => {
                let at = now + backoff(self.crashes + 1).max(FIRST_BACKOFF);
                self.not_before = Some(at);
                Check::Down {
                    message: format!(
                        "hostapd stopped serving {iface} ({why}), and restarting it failed: {e}; \
                         trying again in {} s",
                        at.saturating_duration_since(now).as_secs()
                    ),
                    retry_at: at,
                    crashes: self.crashes,
                    failed: true,
                }
            }
        }
    }
}

/// The radio the AP ran on is gone (unplugged, driver unloaded): stops
/// hostapd, so nothing keeps retrying on an interface that cannot come
/// back by itself; its AP interface went with the radio. Returns the
/// report.
pub fn radio_gone(host: &dyn Host, phy: &str, iface: &str) -> String {
    let stopped = match host.change(&["systemctl", "stop", HOSTAPD_UNIT]) {
        Ok(_) => format!("{HOSTAPD_UNIT} stopped"),
        Err(e) => format!("stopping {HOSTAPD_UNIT} failed: {e}"),
    };
    let iface_note = if host.link_exists(iface) {
        match host.change(&["ip", "link", "delete", iface]) {
            Ok(_) => format!("; {iface} deleted"),
            Err(e) => format!("; deleting {iface} failed: {e}"),
        }
    } else {
        String::new()
    };
    format!(
        "the radio {phy} of the access point is gone: {stopped}{iface_note}. The AP comes back \
         when it, or another radio that can host it, appears"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::{Fake, Fault};

    fn timeouts() -> Timeouts {
        Timeouts::default()
    }

    #[test]
    fn a_serving_hostapd_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path());
        let mut s = Supervisor::default();
        assert_eq!(
            s.check(&host, "softap", &timeouts(), Instant::now()),
            Check::Serving
        );
        assert!(host.commands().is_empty());
    }

    #[test]
    fn a_killed_hostapd_is_restarted_and_checked_enabled() {
        let dir = tempfile::tempdir().unwrap();
        // Down at the probe, enabled after the restart.
        let host = Fake::new(dir.path()).ap_down_for(1);
        let mut s = Supervisor::default();
        let c = s.check(&host, "softap", &timeouts(), Instant::now());
        let Check::Restarted { message, crashes } = &c else {
            panic!("{c:?}");
        };
        assert!(
            message.contains("restarted it, the AP is enabled again"),
            "{message}"
        );
        assert_eq!(*crashes, 1);
        assert_eq!(
            host.commands(),
            vec![format!("systemctl restart {HOSTAPD_UNIT}")]
        );
    }

    #[test]
    fn a_busy_hostapd_is_not_restarted_until_its_silence_is_too_long() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Instant::now();
        let mut s = Supervisor::default();
        // Unanswered probes within the limit: left alone.
        let host = Fake::new(dir.path()).ap_silent_for(2);
        for t in [t0, t0 + SILENT_LIMIT - Duration::from_secs(1)] {
            assert_eq!(s.check(&host, "softap", &timeouts(), t), Check::Busy);
        }
        assert!(host.commands().is_empty(), "{:?}", host.commands());
        // An answer ends the silence: the next one starts a new count.
        let t1 = t0 + SILENT_LIMIT;
        assert_eq!(s.check(&host, "softap", &timeouts(), t1), Check::Serving);
        let host = Fake::new(dir.path()).ap_silent_for(2);
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(s.check(&host, "softap", &timeouts(), t2), Check::Busy);
        // Silent for the whole limit: hung, restarted.
        let c = s.check(&host, "softap", &timeouts(), t2 + SILENT_LIMIT);
        let Check::Restarted { message, .. } = &c else {
            panic!("{c:?}");
        };
        assert!(message.contains("no answer for 30 s"), "{message}");
        assert_eq!(
            host.commands(),
            vec![format!("systemctl restart {HOSTAPD_UNIT}")]
        );
        assert_eq!(c.message(), Some(message.as_str()));
    }

    #[test]
    fn repeated_crashes_back_off_instead_of_looping() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Supervisor::default();
        let t0 = Instant::now();
        let restarts = |host: &Fake| {
            host.commands()
                .iter()
                .filter(|c| c.starts_with("systemctl restart"))
                .count()
        };
        // Two crashes in a row: restarted at once.
        for i in 0..2u64 {
            let host = Fake::new(dir.path()).ap_down_for(1);
            let c = s.check(
                &host,
                "softap",
                &timeouts(),
                t0 + Duration::from_secs(5 * i),
            );
            assert!(matches!(c, Check::Restarted { .. }), "{c:?}");
        }
        // The third within the series: wait first.
        let host = Fake::new(dir.path()).ap_down_for(10);
        let t3 = t0 + Duration::from_secs(15);
        let c = s.check(&host, "softap", &timeouts(), t3);
        let Check::Down {
            message,
            retry_at,
            crashes: 3,
            failed: false,
        } = &c
        else {
            panic!("{c:?}");
        };
        assert_eq!(*retry_at, t3 + FIRST_BACKOFF);
        assert!(
            message.contains("crash 3") && message.contains("waiting 10 s"),
            "{message}"
        );
        assert_eq!(restarts(&host), 0);
        // Still waiting: no restart, and nothing new to say.
        let c = s.check(&host, "softap", &timeouts(), t3 + Duration::from_secs(5));
        assert_eq!(
            c,
            Check::Waiting {
                retry_at: *retry_at
            }
        );
        assert_eq!(c.message(), None);
        assert_eq!(restarts(&host), 0);
        // The wait is over: one restart.
        let host = Fake::new(dir.path()).ap_down_for(1);
        let c = s.check(&host, "softap", &timeouts(), t3 + FIRST_BACKOFF);
        assert!(matches!(c, Check::Restarted { .. }), "{c:?}");
        assert_eq!(restarts(&host), 1);
        // Another crash soon after: a longer wait.
        let host = Fake::new(dir.path()).ap_down_for(1);
        let t5 = t3 + FIRST_BACKOFF + Duration::from_secs(1);
        let c = s.check(&host, "softap", &timeouts(), t5);
        assert!(
            matches!(c, Check::Down { retry_at, .. } if retry_at == t5 + 2 * FIRST_BACKOFF),
            "{c:?}"
        );
        // Long after the series: restarted at once again.
        let host = Fake::new(dir.path()).ap_down_for(1);
        let c = s.check(
            &host,
            "softap",
            &timeouts(),
            t5 + SERIES + Duration::from_secs(60),
        );
        assert!(matches!(c, Check::Restarted { .. }), "{c:?}");
    }

    #[test]
    fn a_failed_restart_waits_before_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path()).fail(Fault::Command("systemctl restart".into()));
        let host = host.ap_down_for(u32::MAX);
        let mut s = Supervisor::default();
        let t0 = Instant::now();
        let c = s.check(&host, "softap", &timeouts(), t0);
        let Check::Down {
            message,
            retry_at,
            failed: true,
            ..
        } = &c
        else {
            panic!("{c:?}");
        };
        assert!(message.contains("restarting it failed"), "{message}");
        assert!(*retry_at >= t0 + FIRST_BACKOFF);
        let c = s.check(&host, "softap", &timeouts(), t0 + Duration::from_secs(1));
        assert!(matches!(c, Check::Waiting { .. }), "{c:?}");
        assert_eq!(host.commands().len(), 1, "{:?}", host.commands());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::ZERO);
        assert_eq!(backoff(3), FIRST_BACKOFF);
        assert_eq!(backoff(4), 2 * FIRST_BACKOFF);
        assert_eq!(backoff(40), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_gone_radio_stops_hostapd_and_deletes_a_leftover_interface() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path());
        let text = radio_gone(&host, "phy0", "softap");
        assert_eq!(
            host.commands(),
            vec![format!("systemctl stop {HOSTAPD_UNIT}")]
        );
        assert!(
            text.contains("phy0") && text.contains("comes back"),
            "{text}"
        );
        let host = Fake::new(dir.path()).link("softap");
        let text = radio_gone(&host, "phy0", "softap");
        assert_eq!(
            host.commands(),
            vec![
                format!("systemctl stop {HOSTAPD_UNIT}"),
                "ip link delete softap".to_string()
            ]
        );
        assert!(text.contains("softap deleted"), "{text}");
    }
}
