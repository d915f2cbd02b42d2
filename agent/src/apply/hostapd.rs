//! Steps 5 and 6: hostapd (re)started when its configuration or what it
//! sits on changed, then its own word that the AP beacons.

use std::time::Instant;

use super::{note, ApplyError, Changed, Run, Undo};
use crate::hostapd;
use crate::rates;
use crate::runtime::HOSTAPD_UNIT;
use crate::state::RunningChannel;

impl Run<'_> {
    // 5. hostapd: restarted when its configuration, the bridge or the
    // interface changed (a restarted bridge loses its ports).

    /// Returns whether hostapd was (re)started.
    pub(super) fn hostapd(
        &mut self,
        changed: Changed,
        underneath_moved: bool,
    ) -> Result<bool, ApplyError> {
        let host = self.host;
        let start = Instant::now();
        let active = match host.query(&["systemctl", "is-active", "--quiet", HOSTAPD_UNIT]) {
            Some(r) => r.is_ok(),
            None => !changed.hostapd,
        };
        let restart = changed.hostapd || !active || underneath_moved;
        if restart {
            self.undo.hostapd = Some(active);
            if let Err(e) = host.change(&["systemctl", "restart", HOSTAPD_UNIT]) {
                return Err(self.fail("hostapd", e, Some(HOSTAPD_UNIT)));
            }
        }
        self.record(
            "hostapd",
            start,
            restart,
            if restart {
                format!("{HOSTAPD_UNIT} (re)started")
            } else {
                format!("{HOSTAPD_UNIT} unchanged and active")
            },
        );
        Ok(restart)
    }

    pub(super) fn undo_hostapd_stop(&self, undo: &Undo, problems: &mut Vec<String>) {
        if undo.hostapd.is_some() {
            note(
                problems,
                self.host.change(&["systemctl", "stop", HOSTAPD_UNIT]),
            );
        }
    }

    pub(super) fn undo_hostapd_start(&self, undo: &Undo, problems: &mut Vec<String>) {
        if undo.hostapd == Some(true) {
            note(
                problems,
                self.host.change(&["systemctl", "start", HOSTAPD_UNIT]),
            );
        }
    }

    // 6. Verify: hostapd's own word that the AP beacons. Nothing to undo of
    // its own; a failure rolls back the steps before it.

    pub(super) fn verify(&mut self) -> Result<(), ApplyError> {
        let start = Instant::now();
        if self.host.dry_run() {
            self.record("verify", start, false, "dry run: not verified".into());
            return Ok(());
        }
        match self
            .host
            .wait_ap_enabled(&self.plan.interface, self.timeouts.ap)
        {
            Ok(status) => {
                self.running = running(&status, self.plan.channel.acs.is_some());
                let detail = match &self.running {
                    Some(r) => format!(
                        "hostapd state=ENABLED on channel {} ({} MHz, {} MHz wide){}",
                        r.channel,
                        r.freq_mhz,
                        r.width_mhz,
                        if r.acs { ", picked by ACS" } else { "" }
                    ),
                    None => format!(
                        "hostapd state=ENABLED on channel {}",
                        hostapd::get(&status, "channel").unwrap_or("?")
                    ),
                };
                self.record("verify", start, false, detail);
                Ok(())
            }
            Err(e) => Err(self.fail("verify", e, Some(HOSTAPD_UNIT))),
        }
    }
}

/// The channel hostapd runs on, from its `STATUS`; `acs`: hostapd picked
/// it.
fn running(status: &[(String, String)], acs: bool) -> Option<RunningChannel> {
    // hostapd reports channel 0 while ACS still surveys.
    let live = rates::live_link(status).filter(|l| l.channel != 0 && l.freq_mhz != 0)?;
    Some(RunningChannel {
        channel: live.channel,
        freq_mhz: live.freq_mhz,
        width_mhz: live.width_mhz,
        acs,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn the_channel_acs_picked_is_read_from_hostapd_status() {
        let st = crate::hostapd::parse_kv(
            "state=ENABLED\nfreq=5745\nchannel=149\nsecondary_channel=1\nieee80211n=1\n\
             ieee80211ac=1\nieee80211ax=1\nhe_oper_chwidth=1\nhe_oper_centr_freq_seg0_idx=155\n",
        );
        assert_eq!(
            super::running(&st, true),
            Some(crate::state::RunningChannel {
                channel: 149,
                freq_mhz: 5745,
                width_mhz: 80,
                acs: true
            })
        );
        // Still scanning (state=ACS): no frequency yet, nothing to record.
        let scanning = crate::hostapd::parse_kv("state=ACS\nfreq=0\nchannel=0\n");
        assert_eq!(super::running(&scanning, true), None);
    }

    #[test]
    fn a_failed_hostapd_restart_stops_it_and_rolls_back_everything_before() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Command("systemctl restart".into()));
        let (step, _, after) = c.fail(&host, "systemctl restart");
        assert_eq!(step, "hostapd");
        assert_eq!(strs(&after), every_undo_after_hostapd(&n));
        assert!(c.written().is_empty());
    }

    #[test]
    fn a_hostapd_that_ran_before_is_started_again_last() {
        let c = case();
        let host = c
            .host()
            .answer("systemctl is-active", "")
            .fail(Fault::Command("systemctl restart".into()));
        let (_, _, after) = c.fail(&host, "systemctl restart");
        assert_eq!(
            after.first().map(String::as_str),
            Some(&*format!("systemctl stop {HOSTAPD_UNIT}"))
        );
        assert_eq!(
            after.last().map(String::as_str),
            Some(&*format!("systemctl start {HOSTAPD_UNIT}"))
        );
    }

    #[test]
    fn an_ap_that_never_comes_up_rolls_back_every_step() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Ap);
        let (step, problems, after) = c.fail(&host, "systemctl restart");
        assert_eq!(step, "verify");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(strs(&after), every_undo_after_hostapd(&n));
        assert!(c.written().is_empty());
    }
}
