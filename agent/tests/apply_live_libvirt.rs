//! A live `apply` against a real libvirtd (network driver only) in private
//! network and mount namespaces: the network is defined, autostarted and
//! started, its bridge appears, hostapd (driver=none: no radio here) is
//! verified over its control socket; a second apply touches nothing; a
//! subnet conflict redefines and restarts the network. systemd and networkd
//! do not run on this host, so small stand-ins play `systemctl` (runs
//! hostapd), `networkctl` (makes the `softap` link) and `iw` (there is no
//! wireless link to delete); everything else is the real thing.

mod common;

use std::path::Path;

const SHIM_SYSTEMCTL: &str = r#"#!/bin/sh
# Test stand-in for systemctl: runs the rendered hostapd.conf with driver=none.
pid=/run/shim-hostapd.pid
stop() { [ -f $pid ] && kill "$(cat $pid)" 2>/dev/null; rm -f $pid; sleep 0.2; }
start() {
	sed 's/^driver=nl80211$/driver=none/' /run/softap/hostapd.conf >/run/shim-hostapd.conf
	hostapd -B -P $pid /run/shim-hostapd.conf >/run/shim-hostapd.log 2>&1
}
case "$1" in
restart)
	stop
	# SHIM_FAIL_RESTART: a hostapd that will not start, to test the rollback.
	[ -n "${SHIM_FAIL_RESTART:-}" ] && { echo "hostapd failed to start" >&2; exit 1; }
	start ;;
stop) stop ;;
start) start ;;
is-active) [ -f $pid ] && kill -0 "$(cat $pid)" 2>/dev/null ;;
*) echo "shim systemctl: $*" >&2; exit 1 ;;
esac
"#;

const SHIM_NETWORKCTL: &str = r#"#!/bin/sh
# Test stand-in for networkctl: networkd would create the wlan netdev.
case "$1" in
reload) ip link show softap >/dev/null 2>&1 || ip link add softap type veth peer name softap-peer ;;
*) echo "shim networkctl: $*" >&2; exit 1 ;;
esac
"#;

const SHIM_IW: &str = r#"#!/bin/sh
# Test stand-in for iw: `iw dev NAME del` deletes the link the shim
# networkctl made (systemd 252's `networkctl delete` cannot delete a wlan).
case "$1 $3" in
"dev del") ip link del "$2" ;;
*) echo "shim iw: $*" >&2; exit 1 ;;
esac
"#;

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn apply_against_real_libvirt_and_hostapd() {
    for (tool, pkg) in [
        ("libvirtd", "libvirt-daemon"),
        ("dnsmasq", "dnsmasq-base"),
        ("hostapd", "hostapd"),
        ("virsh", "libvirt-clients"),
        ("iptables", "iptables"),
    ] {
        common::tool(tool, pkg);
    }
    let drivers = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver";
    assert!(
        Path::new(drivers)
            .join("libvirt_driver_network.so")
            .exists(),
        "libvirt's network driver is missing: install libvirt-daemon"
    );
    let dir = tempfile::tempdir().unwrap();
    let shims = dir.path().join("shims");
    std::fs::create_dir_all(&shims).unwrap();
    write_exec(&shims.join("systemctl"), SHIM_SYSTEMCTL);
    write_exec(&shims.join("networkctl"), SHIM_NETWORKCTL);
    write_exec(&shims.join("iw"), SHIM_IW);
    let only_network = dir.path().join("drivers");
    std::fs::create_dir_all(&only_network).unwrap();
    std::fs::copy(
        Path::new(drivers).join("libvirt_driver_network.so"),
        only_network.join("libvirt_driver_network.so"),
    )
    .unwrap();
    let no_console = dir.path().join("no-console");
    std::fs::write(&no_console, "").unwrap();
    let agent = env!("CARGO_BIN_EXE_softap-agent");
    let guest = common::data("guest.json").display().to_string();
    let moved = common::data("one-channel-station.json")
        .display()
        .to_string();
    let script = format!(
        r#"set -u
# Only libvirt's network driver: the QEMU driver wants users this host lacks.
mount --bind '{only_network}' {drivers}
mount -t tmpfs none /run
mount -t tmpfs none /var/lib && mkdir -p /var/lib/libvirt
mount -t tmpfs none /etc/libvirt
mkdir -p /var/cache/libvirt && mount -t tmpfs none /var/cache/libvirt
# The banner must not reach this machine's real consoles.
mount --bind '{no_console}' /sys/class/tty/console/active
ip link set lo up
libvirtd >/run/libvirtd.log 2>&1 &
for i in $(seq 100); do [ -S /run/libvirt/libvirt-sock ] && break; sleep 0.1; done
export LIBVIRT_DEFAULT_URI=network:///system PATH='{shims}':$PATH
echo '=== first'
'{agent}' apply --facts '{guest}'; echo "rc=$?"
virsh -q net-info softap | grep -E 'Active|Autostart|Bridge'
ip -4 -br addr show virbr0
echo '=== second'
'{agent}' apply --facts '{guest}'; echo "rc=$?"
echo '=== moved'
'{agent}' apply --facts '{moved}'; echo "rc=$?"
ip -4 -br addr show virbr0
echo '=== rollback'
SHIM_FAIL_RESTART=1 '{agent}' apply --facts '{guest}'; echo "rc=$?"
ip -4 -br addr show virbr0
virsh -q net-info softap | grep -E 'Active'
# A domain's interface as libvirt's network driver sees it: a port with
# its owner and MAC address (what a VM or container gets when it starts).
printf '%s\n' "<networkport><uuid>2f7a9e1c-0b0e-4f4e-9c3e-6f1f3a1d2b4c</uuid><owner><name>web</name><uuid>a1b2c3d4-0000-4000-8000-000000000001</uuid></owner><mac address='52:54:00:5a:00:01'/></networkport>" >/run/port.xml
virsh -q net-port-create softap /run/port.xml >/dev/null || echo 'net-port-create failed'
echo '=== status'
'{agent}' status --json; echo "rc=$?"
echo '=== phy'
'{agent}' apply --facts '{guest}' --phy phy1; echo "rc=$?"
echo '=== end'
# Everything started here dies with this shell (PID namespace); stop it
# cleanly anyway.
systemctl stop; virsh -q net-destroy softap >/dev/null 2>&1
"#,
        only_network = only_network.display(),
        shims = shims.display(),
        no_console = no_console.display(),
    );
    let out = common::tool("unshare", "util-linux")
        .args([
            "-n",
            "-m",
            "--propagation",
            "private",
            // A PID namespace: libvirtd, dnsmasq and hostapd end with the test.
            "-p",
            "-f",
            "--mount-proc",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    let section = |name: &str| -> String {
        let start = stdout
            .find(&format!("=== {name}\n"))
            .unwrap_or_else(|| panic!("no {name}: {ctx}"));
        let rest = &stdout[start + name.len() + 5..];
        rest[..rest.find("=== ").unwrap_or(rest.len())].to_string()
    };

    let first = section("first");
    assert!(first.contains("rc=0"), "{ctx}");
    for want in [
        "libvirt:  network softap on virbr0: defined, autostart set, started",
        "networkd: softap on phy0: reloaded",
        "verify:   hostapd state=ENABLED on channel 6",
        "Active:         yes",
        "Autostart:      yes",
        "Bridge:         virbr0",
        "172.16.0.1/16",
    ] {
        assert!(first.contains(want), "{want:?} missing; {ctx}");
    }

    let second = section("second");
    assert!(
        second.contains("rc=0") && second.contains("nothing changed"),
        "{ctx}"
    );
    assert!(
        second.contains("libvirt:  network softap on virbr0 unchanged and active"),
        "{ctx}"
    );
    assert!(
        second.contains("hostapd:  softap-hostapd.service unchanged and active"),
        "{ctx}"
    );

    let moved = section("moved");
    assert!(moved.contains("rc=0"), "{ctx}");
    assert!(
        moved.contains("redefined, stopped for the new subnet, started"),
        "{ctx}"
    );
    assert!(!moved.contains("172.16.0.1/16"), "{ctx}");
    assert!(
        moved.contains("verify:   hostapd state=ENABLED on channel 11"),
        "{ctx}"
    );

    // A failed hostapd start puts back the previous subnet, network and AP.
    let rollback = section("rollback");
    assert!(rollback.contains("rc=5"), "{ctx}");
    assert!(
        stderr.contains("hostapd: `systemctl restart softap-hostapd.service` failed"),
        "{ctx}"
    );
    assert!(
        stderr.contains("This run's changes were rolled back."),
        "{ctx}"
    );
    let bridge_line = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("virbr0"))
            .map(str::to_string)
    };
    let moved_bridge =
        bridge_line(&moved).unwrap_or_else(|| panic!("no virbr0 after moving: {ctx}"));
    assert_eq!(bridge_line(&rollback), Some(moved_bridge), "{ctx}");
    assert!(rollback.contains("Active:         yes"), "{ctx}");

    let status = section("status");
    assert!(
        status.contains("rc=0") && status.contains("\"state\": \"ENABLED\""),
        "{ctx}"
    );
    assert!(status.contains("\"channel\": 11"), "{ctx}");
    assert!(!status.contains("172.16.0.0/16"), "{ctx}");
    // libvirt's ports and leases were read: the port made above is listed
    // as a domain on the network.
    assert!(status.contains("\"kind\": \"domain\""), "{ctx}");
    assert!(status.contains("\"mac\": \"52:54:00:5a:00:01\""), "{ctx}");
    assert!(status.contains("\"domain\": \"web\""), "{ctx}");
    assert!(!status.contains("members_errors"), "{ctx}");
    assert!(status.contains("\"domain\": \"softap\""), "{ctx}");

    // Another phy: the AP link is recreated on it, the subnet kept.
    let phy = section("phy");
    assert!(phy.contains("rc=0"), "{ctx}");
    assert!(
        phy.contains("networkd: softap on phy1: old interface deleted, reloaded"),
        "{ctx}"
    );
    assert!(
        phy.contains("libvirt:  network softap on virbr0 unchanged and active"),
        "{ctx}"
    );
    assert!(
        phy.contains("verify:   hostapd state=ENABLED on channel 6"),
        "{ctx}"
    );
}
