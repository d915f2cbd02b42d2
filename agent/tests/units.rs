//! The systemd units the image ships for the agent: systemd's own verifier
//! accepts them without a warning, the enablement link points at the agent's
//! unit, and their ExecStart commands exist.

mod common;

use std::path::{Path, PathBuf};

fn overlay() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../overlays/softap")
}

const UNITS: [&str; 4] = [
    "softap-agent.service",
    "softap-hostapd.service",
    "softap-teardown.service",
    "softap-inbound.service",
];

#[test]
fn systemd_analyze_verify_accepts_the_units_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A root with systemd's own units (targets to order against), the
    // overlay, and the two programs the units run.
    let sys = root.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&sys).unwrap();
    for e in std::fs::read_dir("/usr/lib/systemd/system").unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), sys.join(e.file_name())).unwrap();
        }
    }
    for unit in UNITS {
        std::fs::copy(
            overlay().join("usr/lib/systemd/system").join(unit),
            sys.join(unit),
        )
        .unwrap();
    }
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_softap-agent"),
        root.join("usr/bin/softap-agent"),
    )
    .unwrap();
    for program in ["usr/sbin/hostapd", "usr/bin/true", "usr/sbin/nft"] {
        std::fs::write(root.join(program), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            root.join(program),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let out = common::tool("systemd-analyze", "systemd")
        .args(["verify", "--man=no", "--generators=no"])
        .arg(format!("--root={}", root.display()))
        .args(UNITS.map(|u| format!("/usr/lib/systemd/system/{u}")))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn the_agent_is_enabled_and_its_command_exists() {
    let link = overlay().join("etc/systemd/system/multi-user.target.wants/softap-agent.service");
    let target = std::fs::read_link(&link).unwrap();
    assert_eq!(
        target,
        Path::new("/usr/lib/systemd/system/softap-agent.service")
    );
    let unit =
        std::fs::read_to_string(overlay().join("usr/lib/systemd/system/softap-agent.service"))
            .unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/bin/softap-agent"));
    common::run_ok(common::agent().args(words).arg("--help"));
    // hostapd's unit runs the file the agent renders.
    let hostapd =
        std::fs::read_to_string(overlay().join("usr/lib/systemd/system/softap-hostapd.service"))
            .unwrap();
    assert!(hostapd.contains(&format!(
        "ExecStart=/usr/sbin/hostapd {}",
        softap_agent::render::HOSTAPD_CONF
    )));
    // hostapd is started by the agent, never on its own at boot.
    assert!(!hostapd.contains("[Install]"));
    // ...and restarted by the agent alone (with its back-off): systemd
    // restarting it too would race the agent after every crash.
    let restart: Vec<&str> = hostapd
        .lines()
        .filter_map(|l| l.strip_prefix("Restart="))
        .collect();
    assert_eq!(
        restart,
        ["no"],
        "softap-hostapd.service: Restart= must be no"
    );
}

#[test]
fn a_container_leaves_the_host_clean_at_stop_and_checks_its_flags_first() {
    let link = overlay().join("etc/systemd/system/multi-user.target.wants/softap-teardown.service");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("/usr/lib/systemd/system/softap-teardown.service")
    );
    let unit =
        std::fs::read_to_string(overlay().join("usr/lib/systemd/system/softap-teardown.service"))
            .unwrap();
    // Stopped after hostapd and the agent, before libvirtd, in containers only.
    assert!(unit.contains("ConditionVirtualization=container\n"));
    assert!(unit.contains("After=libvirtd.service"));
    assert!(unit.contains("Before=softap-agent.service softap-hostapd.service"));
    let stop = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStop="))
        .unwrap();
    let mut words = stop.split_whitespace();
    assert_eq!(words.next(), Some("/usr/bin/softap-agent"));
    common::run_ok(common::agent().args(words).arg("--help"));
    let libvirtd = std::fs::read_to_string(
        overlay().join("usr/lib/systemd/system/libvirtd.service.d/softap.conf"),
    )
    .unwrap();
    let record = libvirtd
        .lines()
        .find_map(|l| l.strip_prefix("ExecStartPre=-"))
        .unwrap();
    let mut words = record.split_whitespace();
    assert_eq!(words.next(), Some("/usr/bin/softap-agent"));
    common::run_ok(common::agent().args(words).arg("--help"));
    // The entrypoint the image spec names checks, then becomes systemd.
    let init = overlay().join("usr/local/sbin/init");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&init).unwrap().permissions());
    assert_eq!(mode & 0o111, 0o111, "{} is not executable", init.display());
    let script = std::fs::read_to_string(&init).unwrap();
    assert!(script.contains("/usr/bin/softap-agent container-check || exit\n"));
    assert!(script.contains("exec /usr/lib/systemd/systemd \"$@\""));
    let spec = std::fs::read_to_string(overlay().join("../../images/softap.toml")).unwrap();
    assert!(spec.contains("entrypoint = [\"/usr/local/sbin/init\"]"));
}

/// On the stick the appliance's addresses answer only on their own links,
/// from before the network is up; never in a container.
#[test]
fn the_stick_keeps_its_addresses_to_their_links() {
    let link = overlay().join("etc/systemd/system/sysinit.target.wants/softap-inbound.service");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("/usr/lib/systemd/system/softap-inbound.service")
    );
    let unit =
        std::fs::read_to_string(overlay().join("usr/lib/systemd/system/softap-inbound.service"))
            .unwrap();
    assert!(unit.contains("[Unit]\n") && unit.contains("\nConditionVirtualization=!container\n"));
    assert!(unit.contains("Before=network-pre.target"));
    let start = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let file = start.strip_prefix("/usr/sbin/nft -f /").unwrap();
    let rules = std::fs::read_to_string(overlay().join(file)).unwrap();
    // Only local deliveries (not libvirt's forwarding), loopback first,
    // and a packet for an address of another link is dropped.
    assert!(rules.contains("type filter hook input priority filter; policy accept;"));
    let lo = rules.find("iif \"lo\" accept").unwrap();
    let fib = rules
        .find("fib daddr . iif type { local, broadcast, multicast, anycast } accept")
        .unwrap();
    let drop = rules.find("counter drop").unwrap();
    assert!(lo < fib && fib < drop);
    assert!(unit.contains(&format!(
        "ExecStop=/usr/sbin/nft delete table inet {}",
        "softap_inbound"
    )));
    assert!(rules.contains("table inet softap_inbound {"));
}

/// Every service that would take what the host owns is off in a container.
#[test]
fn nothing_in_a_container_takes_what_the_host_owns() {
    let sys = overlay().join("usr/lib/systemd/system");
    for unit in [
        "systemd-resolved.service",
        "systemd-timesyncd.service",
        "systemd-udevd.service",
        "systemd-udev-trigger.service",
        "systemd-udevd-kernel.socket",
        "systemd-udevd-control.socket",
        "systemd-sysctl.service",
        "systemd-binfmt.service",
        "systemd-pstore.service",
        "systemd-network-generator.service",
        "getty@.service",
        "serial-getty@.service",
        "console-getty.service",
        "container-getty@.service",
        "wpa_supplicant.service",
        "nftables.service",
    ] {
        let dir = sys.join(format!("{unit}.d"));
        let off = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .any(|t| t.contains("[Unit]\nConditionVirtualization=!container\n"));
        assert!(off, "{unit} is not off in a container");
    }
    // The upstream .network and systemd's own for veths, taps and tunnels.
    let net = overlay().join("usr/lib/systemd/network");
    let upstream = std::fs::read_to_string(net.join("80-softap-upstream.network")).unwrap();
    assert!(upstream.contains("Virtualization=!container"));
    for n in [
        "80-container-ve",
        "80-container-vz",
        "80-vm-vt",
        "80-namespace-ns",
    ] {
        let t = std::fs::read_to_string(net.join(format!("{n}.network.d/softap-container.conf")))
            .unwrap();
        assert!(t.contains("[Match]\nVirtualization=!container\n"), "{n}");
    }
}
