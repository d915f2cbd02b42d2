//! The systemd units the image ships for the agent: systemd's own verifier
//! accepts them without a warning, the enablement link points at the agent's
//! unit, and their ExecStart commands exist.

mod common;

use std::path::{Path, PathBuf};

fn overlay() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../overlays/softap")
}

const UNITS: [&str; 2] = ["softap-agent.service", "softap-hostapd.service"];

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
    std::fs::write(root.join("usr/sbin/hostapd"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        root.join("usr/sbin/hostapd"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
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
