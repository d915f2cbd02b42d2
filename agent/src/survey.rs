//! One scan before the AP starts. With no country configured and none
//! applied by the kernel, the country the access points around agree on
//! (their Country elements) is the best guess; but `facts::scan` reads only
//! the kernel's cached scan results, and on a machine where nothing scans
//! (a stick whose radio serves only the AP) that cache is empty. Then one
//! scan on a station interface of each such radio fills it; an interface
//! that was down is brought up for the scan and put down again after the
//! facts are read (the kernel's cache belongs to the radio, but it is read
//! through a running interface).

use std::collections::BTreeSet;

use crate::facts::{Facts, IfType};
use crate::host::Host;

/// How long one scan may take before `iw` is killed: a passive scan of
/// every 2.4 and 5 GHz channel takes a few seconds on real cards and 9 s
/// on hwsim under emulation here, where a slower machine may take three
/// times that; the bound only ends a scan that hangs.
const SCAN_SECONDS: &str = "60";

/// The station interfaces to scan on, one per radio: radios whose domain
/// the kernel sets, with no country applied, that serve no AP yet (a scan
/// on a radio that serves one would take its stations off channel), and
/// none scanned before by this process (`done` names the phys). None when
/// the kernel already holds scan results: a new scan would learn nothing
/// that the cached one does not say.
pub(crate) fn interfaces_to_scan(facts: &Facts, done: &BTreeSet<String>) -> Vec<String> {
    if !facts.scan.is_empty() {
        return Vec::new();
    }
    facts
        .phys
        .iter()
        .filter(|p| !p.self_managed_reg && p.country.is_none() && !done.contains(&p.name))
        .filter(|p| {
            !facts
                .interfaces
                .iter()
                .any(|i| i.phy == p.index && i.iftype == IfType::Ap)
        })
        .filter_map(|p| {
            facts
                .interfaces
                .iter()
                .find(|i| i.phy == p.index && i.iftype == IfType::Managed)
                .map(|i| i.name.clone())
        })
        .collect()
}

/// The phys [`interfaces_to_scan`] chose interfaces on, to remember.
pub(crate) fn phys_of(facts: &Facts, interfaces: &[String]) -> Vec<String> {
    interfaces
        .iter()
        .filter_map(|name| facts.interfaces.iter().find(|i| &i.name == name))
        .filter_map(|i| facts.phys.iter().find(|p| p.index == i.phy))
        .map(|p| p.name.clone())
        .collect()
}

/// Interfaces brought up for the scan, to be put down again.
#[must_use = "the interfaces brought up for the scan are put down by `restore`"]
pub(crate) struct Scanned {
    brought_up: Vec<String>,
}

/// Scans once on each interface; a failure is a warning (the scan is a
/// hint), and an interface that could not be brought up is skipped.
pub(crate) fn scan(host: &dyn Host, interfaces: &[String]) -> Scanned {
    let mut brought_up = Vec::new();
    for iface in interfaces {
        if !is_up(host, iface) {
            if let Err(e) = host.change(&["ip", "link", "set", "dev", iface, "up"]) {
                tracing::warn!("scanning for the country around: {e}");
                continue;
            }
            brought_up.push(iface.clone());
        }
        tracing::info!("no country configured or applied: scanning once on {iface}");
        if let Err(e) = host.change(&["timeout", SCAN_SECONDS, "iw", "dev", iface, "scan"]) {
            tracing::warn!("scanning for the country around: {e}");
        }
    }
    Scanned { brought_up }
}

impl Scanned {
    /// Puts the interfaces brought up for the scan down again.
    pub(crate) fn restore(self, host: &dyn Host) {
        for iface in &self.brought_up {
            if let Err(e) = host.change(&["ip", "link", "set", "dev", iface, "down"]) {
                tracing::warn!("putting {iface} down again after the scan: {e}");
            }
        }
    }
}

/// Whether the link is administratively up (`UP` among `ip link`'s flags).
fn is_up(host: &dyn Host, iface: &str) -> bool {
    match host.query(&["ip", "-o", "link", "show", "dev", iface]) {
        Some(Ok(text)) => link_is_up(&text),
        _ => false,
    }
}

/// Pure part of [`is_up`]: `2: wlan0: <BROADCAST,MULTICAST,UP> mtu ...`.
fn link_is_up(ip_link: &str) -> bool {
    ip_link
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .is_some_and(|(flags, _)| flags.split(',').any(|f| f == "UP"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Phy, ScannedBss, WirelessInterface};
    use crate::host::fake::Fake;

    fn phy(name: &str, index: u32) -> Phy {
        Phy {
            name: name.into(),
            index,
            ..Phy::default()
        }
    }

    fn iface(name: &str, phy: u32, iftype: IfType) -> WirelessInterface {
        WirelessInterface {
            name: name.into(),
            ifindex: 3,
            phy,
            iftype,
            ssid: None,
            channel: None,
            freq_mhz: None,
            width_mhz: None,
            center1_mhz: None,
        }
    }

    fn facts() -> Facts {
        Facts {
            phys: vec![phy("phy0", 0)],
            interfaces: vec![iface("wlan0", 0, IfType::Managed)],
            ..Facts::default()
        }
    }

    #[test]
    fn a_radio_with_no_country_and_no_scan_is_scanned_once() {
        let f = facts();
        assert_eq!(interfaces_to_scan(&f, &BTreeSet::new()), ["wlan0"]);
        assert_eq!(phys_of(&f, &["wlan0".into()]), ["phy0"]);
        let done: BTreeSet<String> = ["phy0".to_string()].into();
        assert!(interfaces_to_scan(&f, &done).is_empty());
    }

    #[test]
    fn nothing_is_scanned_where_the_answer_is_known_or_an_ap_serves() {
        let none = BTreeSet::new();
        let mut cached = facts();
        cached.scan.push(ScannedBss {
            bssid: "02:00:00:00:01:00".into(),
            freq_mhz: 2412,
            country: None,
        });
        assert!(interfaces_to_scan(&cached, &none).is_empty());

        let mut applied = facts();
        applied.phys[0].country = Some("DE".into());
        assert!(interfaces_to_scan(&applied, &none).is_empty());

        let mut own = facts();
        own.phys[0].self_managed_reg = true;
        assert!(interfaces_to_scan(&own, &none).is_empty());

        let mut serving = facts();
        serving.interfaces.push(iface("softap", 0, IfType::Ap));
        assert!(interfaces_to_scan(&serving, &none).is_empty());

        let mut ap_only = facts();
        ap_only.interfaces[0].iftype = IfType::Monitor;
        assert!(interfaces_to_scan(&ap_only, &none).is_empty());
    }

    /// A link that was down: up for the scan, down again after.
    const UP_SCAN_DOWN: [&str; 3] = [
        "ip link set dev wlan0 up",
        "timeout 60 iw dev wlan0 scan",
        "ip link set dev wlan0 down",
    ];

    #[test]
    fn a_down_interface_is_brought_up_for_the_scan_and_put_down_after() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path()).answer(
            "ip -o link show dev wlan0",
            "4: wlan0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN\n",
        );
        scan(&host, &["wlan0".into()]).restore(&host);
        assert_eq!(host.commands(), UP_SCAN_DOWN);
    }

    #[test]
    fn an_up_interface_is_only_scanned_and_a_failed_scan_still_restores() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path()).answer(
            "ip -o link show dev wlan0",
            "4: wlan0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 state DOWN\n",
        );
        scan(&host, &["wlan0".into()]).restore(&host);
        assert_eq!(host.commands(), ["timeout 60 iw dev wlan0 scan"]);

        let host =
            Fake::new(dir.path()).fail(crate::host::fake::Fault::Command("timeout 60 iw".into()));
        scan(&host, &["wlan0".into()]).restore(&host);
        assert_eq!(host.commands(), UP_SCAN_DOWN);
    }

    #[test]
    fn up_is_read_from_the_flags_not_the_state() {
        assert!(link_is_up(
            "2: wlan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500"
        ));
        assert!(!link_is_up(
            "2: wlan0: <BROADCAST,MULTICAST> mtu 1500 state UP"
        ));
        assert!(!link_is_up("2: wlan0: <LOWER_UP> mtu 1500"));
        assert!(!link_is_up(""));
    }
}
