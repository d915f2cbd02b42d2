//! Leaving the host as it was when the appliance stops running in a
//! container on the host's network (`softap-agent down`, the stop of
//! `softap-teardown.service`): hostapd stopped, the AP interface deleted,
//! the libvirt network destroyed (its bridge, dnsmasq and firewall rules
//! with it), what libvirt left in the host's firewall removed, IP
//! forwarding as it was, and NetworkManager's device given back. Before
//! libvirtd first starts, `softap-agent host-record` notes the firewall
//! and forwarding as they were, on the state volume: a container killed
//! without a clean stop leaves its record there, the next run keeps it
//! instead of recording the killed run's leftovers as the host's, and its
//! clean stop then takes those away too. A clean stop removes the record.

use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::host::Host;
use crate::libvirt::Libvirt;
use crate::nm::Nm;
use crate::runtime::{accept_ra_key, ACCEPT_RA_BEFORE_DIR, HOSTAPD_UNIT, NM_UNMANAGED_RECORD};

/// `nft -j list ruleset` before libvirtd first started.
pub const NFT_BEFORE: &str = "/var/lib/softap/host/nft-before.json";
/// `/proc/sys/net/ipv4/ip_forward` before libvirtd first started.
pub const FORWARD_BEFORE: &str = "/var/lib/softap/host/ip_forward-before";
/// `/proc/sys/net/ipv6/conf/all/forwarding` before libvirtd first started
/// (a network with IPv6 turns it on).
pub const FORWARD6_BEFORE: &str = "/var/lib/softap/host/ipv6_forwarding-before";
/// Each kind of forwarding: its record, and its kernel parameter.
const FORWARDING: [(&str, &str); 2] = [
    (FORWARD_BEFORE, "net/ipv4/ip_forward"),
    (FORWARD6_BEFORE, "net/ipv6/conf/all/forwarding"),
];

#[derive(Debug, thiserror::Error)]
pub enum TeardownError {
    #[error("leaving the host as it was, these steps failed:\n  {}", .0.join("\n  "))]
    Steps(Vec<String>),
    #[error(transparent)]
    Write(#[from] fsutil::WriteError),
}

/// Notes the host's firewall and forwarding, unless a record is there: a
/// restarted libvirtd must not record its own chains as the host's, nor a
/// new run the chains of one that was killed.
pub fn record(host: &dyn Host) -> Result<bool, TeardownError> {
    let nft_path = fsutil::under(host.root(), NFT_BEFORE);
    if nft_path.exists() {
        return Ok(false);
    }
    // libvirtd may start before the agent's unit has made its state
    // directory: make it as that unit would, private.
    if let Some(dir) = nft_path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            tracing::warn!("{}: {e}", dir.display());
        }
    }
    for (record, key) in FORWARDING {
        let Ok(path) = crate::host::sysctl_path(key) else {
            continue;
        };
        if let Ok(f) = std::fs::read_to_string(path) {
            host.write_atomic(&fsutil::under(host.root(), record), f.as_bytes(), 0o644)?;
        }
    }
    match host.query(&["nft", "-j", "list", "ruleset"]) {
        Some(Ok(json)) => host.write_atomic(&nft_path, json.as_bytes(), 0o600)?,
        Some(Err(e)) => tracing::warn!("the host's firewall is not recorded: {e}"),
        None => {}
    }
    Ok(true)
}

/// What to take down: the AP interface and the libvirt network.
#[derive(Debug, Clone)]
pub struct Target {
    pub interface: String,
    pub network: String,
}

/// Takes everything down in order; every step is tried, the failures are
/// reported together.
pub fn down(host: &dyn Host, t: &Target) -> Result<Vec<String>, TeardownError> {
    let mut done = Vec::new();
    let mut problems = Vec::new();
    let mut step = |what: String, r: Result<(), String>| match r {
        Ok(()) => done.push(what),
        Err(e) => problems.push(e),
    };

    // 1. hostapd (already stopped when systemd stops the container: its
    // unit stops before this one).
    step(
        format!("{HOSTAPD_UNIT} stopped"),
        outcome(host.change(&["systemctl", "stop", HOSTAPD_UNIT])),
    );
    // 2. The AP interface.
    if host.link_exists(&t.interface) {
        step(
            format!("{} deleted", t.interface),
            outcome(host.change(&["iw", "dev", &t.interface, "del"])),
        );
    }
    // 3. The libvirt network: its bridge, dnsmasq, its firewall rules.
    let libvirt = Libvirt::new(host);
    if libvirt.net_info(&t.network).is_ok_and(|i| i.active) {
        step(
            format!("libvirt network {} destroyed", t.network),
            outcome(libvirt.destroy(&t.network)),
        );
    }
    // 4. What libvirt left in the firewall, forwarding, and the upstream
    // links' handling of router advertisements.
    firewall(host, &mut step);
    forwarding(host, &mut step);
    accept_ra(host, &mut step);
    // 5. NetworkManager's device, if it outlived the interface.
    let record = fsutil::under(host.root(), NM_UNMANAGED_RECORD);
    if record.exists() {
        if let Some(nm) = Nm::find(host) {
            if let Some(device) = nm.device(host, &t.interface) {
                step(
                    format!("{} managed by NetworkManager again", t.interface),
                    outcome(nm.set_managed(host, &device, true)),
                );
            }
        }
        let _ = host.remove(&record);
    }
    if problems.is_empty() {
        // The host is as recorded: the next run records it afresh.
        for path in std::iter::once(NFT_BEFORE).chain(FORWARDING.map(|(record, _)| record)) {
            let _ = host.remove(&fsutil::under(host.root(), path));
        }
        Ok(done)
    } else {
        Err(TeardownError::Steps(problems))
    }
}

/// A step's result as `down` reports it: done, or what went wrong.
fn outcome<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<(), String> {
    r.map(drop).map_err(|e| e.to_string())
}

fn firewall(host: &dyn Host, step: &mut impl FnMut(String, Result<(), String>)) {
    let before_path: PathBuf = fsutil::under(host.root(), NFT_BEFORE);
    let Ok(before) = std::fs::read_to_string(&before_path) else {
        return;
    };
    let Some(Ok(now)) = host.query(&["nft", "-j", "list", "ruleset"]) else {
        return;
    };
    let (Ok(before), Ok(now)) = (
        crate::firewall::parse(&before),
        crate::firewall::parse(&now),
    ) else {
        tracing::warn!("the host's firewall could not be read; libvirt's empty chains stay");
        return;
    };
    for cmd in crate::firewall::cleanup(&before, &now) {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        step(args.join(" "), outcome(host.change(&args)));
    }
}

fn forwarding(host: &dyn Host, step: &mut impl FnMut(String, Result<(), String>)) {
    let read = |p: &Path| std::fs::read_to_string(p).map(|s| s.trim().to_string());
    for (record, key) in FORWARDING {
        let Ok(before) = read(&fsutil::under(host.root(), record)) else {
            continue;
        };
        let Ok(path) = crate::host::sysctl_path(key) else {
            continue;
        };
        let now = read(&path);
        if before == "0" && now.is_ok_and(|now| now != "0") {
            let what = if key.contains("ipv6") { "IPv6" } else { "IP" };
            step(
                format!("{what} forwarding off again"),
                outcome(host.set_sysctl(key, "0")),
            );
        }
    }
}

/// Each recorded link's `accept_ra` as it was before the first bring-up;
/// a link gone since has nothing to put back. The records go once put back.
fn accept_ra(host: &dyn Host, step: &mut impl FnMut(String, Result<(), String>)) {
    let dir = fsutil::under(host.root(), ACCEPT_RA_BEFORE_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let Some(link) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let before = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        let valid = crate::facts::validate::ifname_problem(&link).is_none();
        if let (true, Some(before)) = (valid, before) {
            if host.link_exists(&link) {
                let r = host.set_sysctl(&accept_ra_key(&link), &before.to_string());
                let failed = r.is_err();
                step(format!("accept_ra of {link} back to {before}"), outcome(r));
                if failed {
                    continue;
                }
            }
        }
        let _ = host.remove(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::{Fake, Fault};

    fn target() -> Target {
        Target {
            interface: "softap".into(),
            network: "softap".into(),
        }
    }

    #[test]
    fn down_stops_hostapd_deletes_the_interface_and_destroys_the_network_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path()).link("softap").answer(
            "virsh -q net-info softap",
            "Name: softap\nActive:         yes\n",
        );
        let done = down(&host, &target()).unwrap();
        assert_eq!(
            host.commands(),
            [
                format!("systemctl stop {HOSTAPD_UNIT}"),
                "iw dev softap del".to_string(),
                "virsh net-destroy softap".to_string(),
            ]
        );
        assert_eq!(done.len(), 3);
    }

    #[test]
    fn down_with_nothing_up_only_stops_hostapd() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path());
        down(&host, &target()).unwrap();
        assert_eq!(host.commands(), [format!("systemctl stop {HOSTAPD_UNIT}")]);
    }

    #[test]
    fn every_step_is_tried_and_the_failures_are_reported_together() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path())
            .link("softap")
            .answer("virsh -q net-info softap", "Active: yes\n")
            .fail(Fault::Command("iw dev".into()))
            .fail(Fault::Command("systemctl stop".into()));
        let e = down(&host, &target()).unwrap_err().to_string();
        assert!(e.contains("iw dev softap del"), "{e}");
        assert!(e.contains("systemctl stop"), "{e}");
        assert!(host
            .commands()
            .contains(&"virsh net-destroy softap".to_string()));
    }

    #[test]
    fn libvirt_s_leftovers_are_removed_from_the_recorded_firewall() {
        let dir = tempfile::tempdir().unwrap();
        let before = r#"{"nftables":[{"table":{"family":"ip","name":"filter"}},
            {"chain":{"family":"ip","table":"filter","name":"FORWARD"}}]}"#;
        let now = r#"{"nftables":[{"table":{"family":"ip","name":"filter"}},
            {"chain":{"family":"ip","table":"filter","name":"FORWARD"}},
            {"chain":{"family":"ip","table":"filter","name":"LIBVIRT_FWX"}},
            {"rule":{"family":"ip","table":"filter","chain":"FORWARD","handle":7,
                     "expr":[{"jump":{"target":"LIBVIRT_FWX"}}]}}]}"#;
        let recorder = Fake::new(dir.path()).answer("nft -j list ruleset", before);
        assert!(record(&recorder).unwrap());
        // Recorded once: a restarted libvirtd, or the next run after a
        // container was killed without `down`, does not record libvirt's
        // chains as the host's.
        let again = Fake::new(dir.path()).answer("nft -j list ruleset", now);
        assert!(!record(&again).unwrap());
        let record_dir = fsutil::under(dir.path(), NFT_BEFORE);
        let record_dir = record_dir.parent().unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(record_dir).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o700);
        let host = Fake::new(dir.path()).answer("nft -j list ruleset", now);
        down(&host, &target()).unwrap();
        assert_eq!(
            host.commands()[1..],
            [
                "nft delete rule ip filter FORWARD handle 7".to_string(),
                "nft delete chain ip filter LIBVIRT_FWX".to_string(),
            ]
        );
        // A clean stop: the next run records the host afresh.
        assert!(!fsutil::under(dir.path(), NFT_BEFORE).exists());
        let next = Fake::new(dir.path()).answer("nft -j list ruleset", before);
        assert!(record(&next).unwrap());
    }

    #[test]
    fn networkmanager_gets_a_device_back_that_outlived_the_interface() {
        let dir = tempfile::tempdir().unwrap();
        let bus = "busctl --address=unix:path=/run/host/dbus/system_bus_socket";
        let record = fsutil::under(dir.path(), NM_UNMANAGED_RECORD);
        fsutil::write_atomic(&record, b"softap\n", 0o644).unwrap();
        let host = Fake::new(dir.path())
            .answer(&format!("{bus} call org.freedesktop.DBus"), "b true")
            .answer(
                &format!("{bus} call org.freedesktop.NetworkManager"),
                "o \"/org/freedesktop/NetworkManager/Devices/9\"",
            );
        down(&host, &target()).unwrap();
        assert!(host.commands().last().unwrap().ends_with("Managed b true"));
        assert!(!record.exists());
    }

    #[test]
    fn accept_ra_goes_back_on_links_still_there_and_the_records_go() {
        let dir = tempfile::tempdir().unwrap();
        let records = fsutil::under(dir.path(), ACCEPT_RA_BEFORE_DIR);
        std::fs::create_dir_all(&records).unwrap();
        std::fs::write(records.join("eth0"), "1\n").unwrap();
        std::fs::write(records.join("usb0"), "0\n").unwrap();
        let host = Fake::new(dir.path()).link("eth0");
        let done = down(&host, &target()).unwrap();
        assert!(
            done.contains(&"accept_ra of eth0 back to 1".to_string()),
            "{done:?}"
        );
        assert!(host
            .commands()
            .contains(&"sysctl -w net/ipv6/conf/eth0/accept_ra=1".to_string()));
        assert!(!host.commands().iter().any(|c| c.contains("usb0")));
        assert!(!records.join("eth0").exists() && !records.join("usb0").exists());
    }

    #[test]
    fn a_failed_put_back_keeps_its_record_for_the_next_stop() {
        let dir = tempfile::tempdir().unwrap();
        let records = fsutil::under(dir.path(), ACCEPT_RA_BEFORE_DIR);
        std::fs::create_dir_all(&records).unwrap();
        std::fs::write(records.join("eth0"), "1\n").unwrap();
        let host = Fake::new(dir.path())
            .link("eth0")
            .fail(Fault::Write("eth0/accept_ra".into()));
        let e = down(&host, &target()).unwrap_err().to_string();
        assert!(e.contains("/proc/sys/net/ipv6/conf/eth0/accept_ra"), "{e}");
        assert!(records.join("eth0").exists());
    }
}
