//! `watch`: bring the AP up, then stay and follow the machine. On every
//! rtnetlink or nl80211 change it re-gathers facts and re-plans; it applies
//! again only when the plan moved (the upstream took our subnet, a phy
//! appeared or went, the upstream station changed channel on a one-channel
//! radio). Without a usable phy it says so on the console and waits for one.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bringup::{self, apply_plan, AgentError, Context};
use crate::facts::events::ChangeWatcher;
use crate::facts::Facts;
use crate::host::Host;
use crate::plan::{Plan, PlanError};
use crate::recovery::{Check, Supervisor, CHECK_EVERY};
use crate::state::{RunningChannel, State, Waiting, WaitingFor, WatchAction, WatchNote};

/// Changes arrive in bursts (a DHCP lease adds an address and routes): wait
/// this long after the first for the rest before re-planning.
const SETTLE: Duration = Duration::from_millis(200);
/// After a failed bring-up, try again this often even without a change
/// (a slow service, a firmware still loading).
const RETRY: Duration = Duration::from_secs(30);
/// After a failure, changes within this time are our own rollback's.
const QUIET_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Why the current plan differs from what was applied, or `None`.
pub fn reason_to_reapply(applied: &State, plan: &Plan) -> Option<String> {
    if applied.subnet != Some(plan.subnet.net) {
        let why = plan
            .decisions
            .iter()
            .find(|n| n.topic == crate::plan::Topic::Subnet)
            .map(|n| n.text.clone())
            .unwrap_or_default();
        return Some(format!(
            "subnet {} -> {}: {why}",
            applied.subnet.map_or("none".to_string(), |s| s.to_string()),
            plan.subnet.net
        ));
    }
    if applied.phy.as_ref().map(|p| p.name.as_str()) != Some(plan.phy.name.as_str()) {
        return Some(format!(
            "phy {} -> {}",
            applied.phy.as_ref().map_or("none", |p| p.name.as_str()),
            plan.phy.name
        ));
    }
    if !applied.channel.is_some_and(|c| plan.channel.runs_on(c)) {
        return Some(format!(
            "channel {} -> {}",
            applied
                .channel
                .map_or("none".to_string(), |c| c.to_string()),
            plan.channel.number
        ));
    }
    if applied.bridge.as_deref() != Some(plan.bridge.as_str()) {
        return Some(format!("bridge -> {}", plan.bridge));
    }
    // An upstream that came since, whose kernel handles router
    // advertisements: under the network's IPv6 forwarding it would ignore
    // them until its accept_ra is 2.
    if !plan.accept_ra.is_empty() {
        let links: Vec<&str> = plan.accept_ra.iter().map(|f| f.link.as_str()).collect();
        return Some(format!("accept_ra of {} -> 2", links.join(", ")));
    }
    None
}

/// Logs and shows on the consoles (a dry run shows nothing).
fn say(host: &dyn Host, text: &str) {
    tracing::warn!("{text}");
    host.show(&format!("softap: {text}\n"));
}

/// Runs until an unrecoverable error (facts cannot be read at all).
pub fn run(
    ctx: &Context,
    gather: &dyn Fn() -> Result<Facts, AgentError>,
) -> Result<(), AgentError> {
    // Subscribe before the first look, so nothing between them is missed.
    let mut watcher = ChangeWatcher::new()?;
    let host = ctx.host();
    let mut supervisor = Supervisor::default();
    let mut first = true;
    let mut last_problem: Option<String> = None;
    let mut waiting = WaitRecord::new(&ctx.root);
    // The AP interface hostapd serves, while the AP is up.
    let mut serving: Option<String> = None;
    // The radio went away: the next plan is applied even if it matches
    // the state, as hostapd was stopped.
    let mut radio_lost = false;
    loop {
        let mut failed = false;
        let facts = gather()?;
        // A bad configuration or state file is reported and re-read later:
        // exiting would only make systemd restart us into the same error.
        let inputs = ctx.config().and_then(|c| Ok((c, ctx.state()?)));
        let (cfg, applied) = match inputs {
            Ok(x) => x,
            Err(e) => {
                let text = format!(
                    "{e}\nFix it; the configuration is read again in {}s.",
                    RETRY.as_secs()
                );
                if last_problem.as_deref() != Some(text.as_str()) {
                    say(host.as_ref(), &text);
                    last_problem = Some(text);
                }
                waiting.set(WaitingFor::Configuration, &e.to_string());
                wait_for_change(&mut watcher, Some(RETRY))?;
                continue;
            }
        };
        // One plan per pass: it decides whether to apply, and is what is
        // applied.
        match bringup::plan(&facts, &cfg, &applied) {
            Ok(p) => {
                let reason = if first {
                    Some("start".to_string())
                } else if radio_lost {
                    Some(format!("a radio is back: {}", p.phy.name))
                } else {
                    reason_to_reapply(&applied, &p)
                };
                if let Some(reason) = reason {
                    tracing::info!("applying: {reason}");
                    match apply_plan(ctx, &cfg, &applied, p) {
                        Ok(a) => {
                            waiting.clear();
                            let channel = running_channel(&a.plan, a.outcome.running.as_ref());
                            if radio_lost {
                                let text = format!(
                                    "the access point is back on {} ({channel})",
                                    a.plan.phy.name
                                );
                                say(host.as_ref(), &text);
                                note(
                                    ctx,
                                    WatchNote {
                                        phy: Some(a.plan.phy.name.clone()),
                                        ..new_note(WatchAction::RadioBack, text)
                                    },
                                );
                            }
                            first = false;
                            radio_lost = false;
                            last_problem = None;
                            serving = Some(a.plan.interface.clone());
                            tracing::info!(
                                "AP {:?} up on {}, {channel}, subnet {}",
                                a.plan.ssid,
                                a.plan.phy.name,
                                a.plan.subnet.net
                            );
                        }
                        Err(e) => {
                            // Stay: the next change (a phy replugged, a
                            // service restarted) may fix it.
                            failed = true;
                            serving = None;
                            let text = format!(
                                "bring-up failed, will retry on the next change or in {}s: {e}",
                                RETRY.as_secs()
                            );
                            if last_problem.as_deref() != Some(text.as_str()) {
                                say(host.as_ref(), &text);
                                last_problem = Some(text);
                            }
                            waiting.set(WaitingFor::Retry, &e.to_string());
                        }
                    }
                } else {
                    tracing::debug!("plan unchanged");
                    waiting.clear();
                }
            }
            Err(e) => {
                let hint = match e {
                    PlanError::PoolExhausted(_) => "change the network or the subnet_pool",
                    PlanError::SaeUnsupported { .. } => {
                        "change `security`, or plug in a radio with SAE"
                    }
                    _ => "plug in a Wi-Fi adapter, or change the network",
                };
                if let Some(iface) = serving.take() {
                    if let Some(gone) = radio_gone(&applied, &facts, &e) {
                        let text = crate::recovery::radio_gone(host.as_ref(), &gone, &iface);
                        say(host.as_ref(), &text);
                        note(
                            ctx,
                            WatchNote {
                                phy: Some(gone),
                                ..new_note(WatchAction::RadioGone, text)
                            },
                        );
                        radio_lost = true;
                    }
                }
                let text = waiting_text(&e, hint);
                if last_problem.as_deref() != Some(text.as_str()) {
                    say(host.as_ref(), &text);
                    last_problem = Some(text);
                }
                waiting.set(waiting_for(&e), &e.to_string());
            }
        }
        match (&serving, failed) {
            (Some(iface), false) => {
                // Between changes, make sure hostapd still serves: at once,
                // since a hostapd that died takes its interface's state
                // with it and those very changes brought us here, then
                // every CHECK_EVERY until the next change.
                loop {
                    let check =
                        supervisor.check(host.as_ref(), iface, &ctx.timeouts, Instant::now());
                    if let Some(text) = check.message() {
                        say(host.as_ref(), text);
                    }
                    if let Some(n) = check_note(&check) {
                        note(ctx, n);
                    }
                    if changed_within(&mut watcher, CHECK_EVERY)? {
                        break;
                    }
                }
            }
            _ => wait_for_change(&mut watcher, failed.then_some(RETRY))?,
        }
    }
}

/// The channel as hostapd reported running on it after the apply (what
/// the state records), not the plan's: under `channel = "auto"` the plan's
/// number is only the first channel hostapd may pick.
pub(crate) fn running_channel(plan: &Plan, running: Option<&RunningChannel>) -> String {
    crate::console::channel_text(
        plan.channel.number,
        plan.channel.acs.is_some() || running.is_some_and(|r| r.acs),
        running.map(|r| r.channel),
    )
}

/// What the console says while no plan can be made: one line when the
/// reason fits on one (no radio at all, the usual case at a first boot with
/// the adapter not yet plugged in), else the reason's lines and then the wait.
fn waiting_text(e: &PlanError, hint: &str) -> String {
    let why = e.to_string();
    if why.contains('\n') {
        format!("{why}\nWaiting for a change ({hint})...")
    } else {
        format!("{why}; waiting for a change ({hint})...")
    }
}

/// The applied radio, when the plan failed because it is no longer there.
fn radio_gone(applied: &State, facts: &Facts, e: &PlanError) -> Option<String> {
    let phy = applied.phy.as_ref()?;
    let missing = !facts.phys.iter().any(|p| p.name == phy.name);
    let no_radio = matches!(e, PlanError::NoUsablePhy(_) | PlanError::PhyNotFound { .. });
    (missing && no_radio).then(|| phy.name.clone())
}

/// What the plan's error makes the agent wait for.
fn waiting_for(e: &PlanError) -> WaitingFor {
    match e {
        PlanError::PoolExhausted(_) => WaitingFor::FreeSubnet,
        // On the live system the phy named by its address is not there
        // (yet): a radio to plug in, as with a name.
        PlanError::NoUsablePhy(_)
        | PlanError::PhyByMacUnsupported(_)
        | PlanError::PhyNotFound { .. }
        | PlanError::ConfiguredPhyUnusable { .. }
        | PlanError::SaeUnsupported { .. } => WaitingFor::Radio,
    }
}

/// A note of `action`, now.
fn new_note(action: WatchAction, text: String) -> WatchNote {
    WatchNote {
        action,
        at: Some(crate::state::now_rfc3339()),
        phy: None,
        crashes: None,
        text,
    }
}

/// What a hostapd check did, when it did something.
fn check_note(check: &Check) -> Option<WatchNote> {
    let (action, crashes, text) = match check {
        Check::Serving | Check::Waiting { .. } | Check::Busy => return None,
        Check::Restarted { message, crashes } => (WatchAction::RestartedHostapd, *crashes, message),
        Check::Down {
            message,
            crashes,
            failed,
            ..
        } => {
            let action = if *failed {
                WatchAction::HostapdRestartFailed
            } else {
                WatchAction::HostapdBackingOff
            };
            (action, *crashes, message)
        }
    };
    Some(WatchNote {
        crashes: Some(crashes),
        ..new_note(action, text.clone())
    })
}

/// Keeps what `watch` did on its own in the state, for `status`.
fn note(ctx: &Context, note: WatchNote) {
    let text = note.text.clone();
    let saved = ctx.state().and_then(|mut st| {
        st.watch_note = Some(note);
        Ok(st.save(&ctx.root)?)
    });
    if let Err(e) = saved {
        tracing::warn!("cannot record \"{text}\" in the state: {e}");
    }
}

/// The waiting record under `/run/softap`: written when what the agent
/// waits for changes, removed when it waits no more. A record that cannot
/// be written is logged: the console has said it already.
struct WaitRecord {
    root: PathBuf,
    current: Option<(WaitingFor, String)>,
}

impl WaitRecord {
    /// Starts with no record: one left by an earlier agent of this boot
    /// says nothing about this one.
    fn new(root: &std::path::Path) -> Self {
        if let Err(e) = Waiting::clear(root) {
            tracing::warn!("cannot remove an earlier record of what the agent waited for: {e}");
        }
        WaitRecord {
            root: root.to_path_buf(),
            current: None,
        }
    }

    fn set(&mut self, what: WaitingFor, reason: &str) {
        if self
            .current
            .as_ref()
            .is_some_and(|(w, r)| *w == what && r == reason)
        {
            return;
        }
        if let Err(e) = Waiting::new(what, reason.to_string()).save(&self.root) {
            tracing::warn!("cannot record what the agent waits for: {e}");
        }
        self.current = Some((what, reason.to_string()));
    }

    fn clear(&mut self) {
        if self.current.take().is_none() {
            return;
        }
        if let Err(e) = Waiting::clear(&self.root) {
            tracing::warn!("cannot remove the record of what the agent waited for: {e}");
        }
    }
}

/// Whether a change came within `tick` (then also waits out its burst).
fn changed_within(w: &mut ChangeWatcher, tick: Duration) -> Result<bool, AgentError> {
    match w.wait(tick)? {
        Some(change) => {
            tracing::debug!(?change, "change");
            drain(w, Instant::now() + SETTLE)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Returns after a change (and the burst that follows it), or after `retry`.
fn wait_for_change(w: &mut ChangeWatcher, retry: Option<Duration>) -> Result<(), AgentError> {
    let started = Instant::now();
    if retry.is_some() {
        // A failed bring-up was just rolled back, which itself changed links
        // and addresses: let those events pass instead of retrying at once,
        // over and over.
        drain(w, started + QUIET_AFTER_FAILURE)?;
    }
    let deadline = retry.map(|r| started + r);
    loop {
        let left = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        if deadline.is_some() && left.is_zero() {
            return Ok(());
        }
        let change = w.wait(left)?;
        if let Some(change) = change {
            tracing::debug!(?change, "change");
            break;
        }
    }
    drain(w, Instant::now() + SETTLE)
}

/// Consumes changes until `until`.
fn drain(w: &mut ChangeWatcher, until: Instant) -> Result<(), AgentError> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        match w.wait(left)? {
            Some(change) => tracing::debug!(?change, "change (settling)"),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guest's facts, the default configuration, their plan, and the
    /// state that plan leaves once applied.
    fn guest_applied() -> (Facts, crate::config::Config, Plan, State) {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/guest.json"
        ))
        .unwrap();
        let facts: Facts = serde_json::from_str(&text).unwrap();
        let cfg = crate::config::Config::default();
        let p = crate::plan::plan(&facts, &cfg, &State::default()).unwrap();
        let applied = p.to_state(&State::default(), "h");
        (facts, cfg, p, applied)
    }

    #[test]
    fn under_acs_the_console_names_the_channel_hostapd_chose() {
        let (_, _, mut p, _) = guest_applied();
        let fixed = p.channel.number;
        assert_eq!(running_channel(&p, None), format!("channel {fixed}"));
        p.channel.acs = Some(crate::plan::acs::Acs::new(vec![1, 6, 11], false, false));
        p.channel.number = 1;
        let picked = RunningChannel {
            channel: 11,
            freq_mhz: 2462,
            width_mhz: 20,
            acs: true,
        };
        assert_eq!(
            running_channel(&p, Some(&picked)),
            "channel 11, chosen automatically (ACS)"
        );
        assert_eq!(running_channel(&p, None), "channel: choosing (ACS)");
    }

    #[test]
    fn a_radio_is_gone_only_when_the_applied_one_left_the_facts() {
        let (facts, cfg, p, applied) = guest_applied();
        let mut unplugged = facts.clone();
        unplugged.phys.retain(|x| x.name != p.phy.name);
        unplugged.phys.iter_mut().for_each(|x| x.modes.clear());
        let e = crate::plan::plan(&unplugged, &cfg, &applied).unwrap_err();
        assert_eq!(
            radio_gone(&applied, &unplugged, &e),
            Some(p.phy.name.clone())
        );
        // Still there, only unusable: not gone.
        let mut unusable = facts.clone();
        unusable.phys.iter_mut().for_each(|x| x.modes.clear());
        let e = crate::plan::plan(&unusable, &cfg, &applied).unwrap_err();
        assert_eq!(radio_gone(&applied, &unusable, &e), None);
        // Nothing applied yet: nothing to stop.
        assert_eq!(radio_gone(&State::default(), &unplugged, &e), None);
    }

    #[test]
    fn no_radio_at_all_is_one_line_naming_what_was_found_and_the_wait() {
        let text = waiting_text(&PlanError::NoUsablePhy(vec![]), "plug in a Wi-Fi adapter");
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.contains("no wireless phy was found") && text.contains("waiting for a change"),
            "{text}"
        );
        let (facts, cfg, _, applied) = guest_applied();
        let mut unusable = facts.clone();
        unusable.phys.iter_mut().for_each(|x| x.modes.clear());
        let e = crate::plan::plan(&unusable, &cfg, &applied).unwrap_err();
        let text = waiting_text(&e, "plug in a Wi-Fi adapter");
        assert!(
            text.ends_with("\nWaiting for a change (plug in a Wi-Fi adapter)..."),
            "{text}"
        );
    }

    #[test]
    fn a_reloaded_driver_brings_the_ap_back_on_the_radio_it_had() {
        let (facts, cfg, _, _) = guest_applied();
        let mac = |i: u32| format!("02:00:00:00:{i:02x}:00");
        let mut before = facts.clone();
        for p in &mut before.phys {
            p.mac = Some(mac(p.index));
        }
        // The AP ran on the second radio (say the first was busy then).
        let on_second = State {
            phy: Some(crate::state::PhyRecord {
                name: "phy1".into(),
                index: 1,
                driver: before.phys[1].driver.clone(),
                mac: Some(mac(1)),
            }),
            ..State::default()
        };
        // Unloaded and loaded again: new names and indexes, the same
        // addresses.
        let mut after = before.clone();
        for p in &mut after.phys {
            p.index += 2;
            p.name = format!("phy{}", p.index);
        }
        let p = crate::plan::plan(&after, &cfg, &on_second).unwrap();
        assert_eq!(p.phy.mac, Some(mac(1)), "{}", p.phy.name);
        assert_eq!(
            p.to_state(&on_second, "h").phy.and_then(|r| r.mac),
            Some(mac(1))
        );
        // Without addresses, only the index decides.
        for x in &mut after.phys {
            x.mac = None;
        }
        let p = crate::plan::plan(&after, &cfg, &on_second).unwrap();
        assert_eq!(p.phy.name, "phy2");
    }

    /// What the hostapd checks did, as the typed note `status` shows.
    #[test]
    fn hostapd_checks_become_typed_notes() {
        use crate::host::fake::{Fake, Fault};
        let dir = tempfile::tempdir().unwrap();
        let timeouts = crate::apply::Timeouts::default();
        let mut sup = Supervisor::default();
        let host = Fake::new(dir.path());
        let c = sup.check(&host, "softap", &timeouts, Instant::now());
        assert_eq!(check_note(&c), None);
        let host = Fake::new(dir.path()).ap_down_for(1);
        let c = sup.check(&host, "softap", &timeouts, Instant::now());
        let n = check_note(&c).unwrap();
        assert_eq!(n.action, WatchAction::RestartedHostapd);
        assert_eq!(n.crashes, Some(1));
        assert!(n.text.contains("restarted it"), "{}", n.text);
        assert!(n.at.is_some());
        let host = Fake::new(dir.path())
            .fail(Fault::Command("systemctl restart".into()))
            .ap_down_for(u32::MAX);
        let c = sup.check(&host, "softap", &timeouts, Instant::now());
        let n = check_note(&c).unwrap();
        assert_eq!(n.action, WatchAction::HostapdRestartFailed);
        assert_eq!(n.crashes, Some(2));
    }

    #[test]
    fn no_radio_is_waiting_for_a_radio() {
        assert_eq!(
            waiting_for(&PlanError::NoUsablePhy(vec![])),
            WaitingFor::Radio
        );
        assert_eq!(
            waiting_for(&PlanError::PhyNotFound {
                wanted: "phy3".into(),
                present: "none".into()
            }),
            WaitingFor::Radio
        );
        assert_eq!(
            waiting_for(&PlanError::PoolExhausted(vec![])),
            WaitingFor::FreeSubnet
        );
    }

    /// The record is written when what the agent waits for changes, and
    /// removed when it waits no more; one left from before is removed at
    /// the start.
    #[test]
    fn the_waiting_record_follows_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let file = crate::fsutil::under(root, crate::runtime::WAITING_FILE);
        Waiting::new(WaitingFor::Retry, "old".into())
            .save(root)
            .unwrap();
        let mut w = WaitRecord::new(root);
        assert!(!file.exists());
        w.set(WaitingFor::Radio, "no wireless phy was found");
        let got = Waiting::load(root).unwrap().unwrap();
        assert_eq!(got.waiting_for, WaitingFor::Radio);
        assert_eq!(got.reason, "no wireless phy was found");
        assert_eq!(got.pid, std::process::id());
        w.set(WaitingFor::Configuration, "softap.toml:1:1: bad");
        assert_eq!(
            Waiting::load(root).unwrap().unwrap().waiting_for,
            WaitingFor::Configuration
        );
        w.clear();
        assert!(!file.exists());
        w.clear();
    }

    #[test]
    fn reapply_only_when_the_plan_moved() {
        let (facts, cfg, p, applied) = guest_applied();
        assert_eq!(reason_to_reapply(&applied, &p), None);
        let mut moved = facts.clone();
        moved.addresses.push(crate::facts::Address {
            ifname: "eth1".into(),
            addr: "172.16.9.9/24".parse().unwrap(),
        });
        let p2 = crate::plan::plan(&moved, &cfg, &applied).unwrap();
        let why = reason_to_reapply(&applied, &p2).unwrap();
        let mut p3 = p.clone();
        p3.accept_ra = vec![crate::plan::ra::AcceptRa {
            link: "eth1".into(),
            from: 1,
            kernel_routes: false,
        }];
        assert_eq!(
            reason_to_reapply(&applied, &p3).as_deref(),
            Some("accept_ra of eth1 -> 2")
        );
        assert!(
            why.contains("172.16.0.0/16 ->") && why.contains("eth1"),
            "{why}"
        );
    }
}
