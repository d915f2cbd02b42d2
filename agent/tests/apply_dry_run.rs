//! `apply --root DIR`: every file under DIR, no command run, idempotent,
//! rolled back on failure; `status --root DIR` reads it back.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{agent, data, run_json, run_ok, text};

fn apply_cmd(root: &Path, facts: &str) -> Command {
    let mut cmd = agent();
    cmd.env_remove("CREDENTIALS_DIRECTORY")
        .args(["apply", "--root"])
        .arg(root)
        .arg("--facts")
        .arg(data(facts));
    cmd
}

fn apply(root: &Path, facts: &str) -> Output {
    apply_cmd(root, facts).output().unwrap()
}

/// An apply that must succeed.
fn apply_ok(root: &Path, facts: &str) -> Output {
    run_ok(&mut apply_cmd(root, facts))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_apply_writes_everything_and_a_second_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = apply_ok(root, "guest.json");
    let stdout = text(&out.stdout);
    // The order that avoids hostapd creating the bridge before libvirt.
    let order = [
        "virsh net-define /run/softap/network.xml",
        "virsh net-autostart softap",
        "virsh net-start softap",
        "networkctl reload",
        "systemctl restart softap-hostapd.service",
    ];
    let mut at = 0;
    for cmd in order {
        let pos = stdout[at..]
            .find(cmd)
            .unwrap_or_else(|| panic!("{cmd:?} missing or out of order in\n{stdout}"));
        at += pos + cmd.len();
    }

    let conf = root.join("run/softap/hostapd.conf");
    let pass_file = root.join("var/lib/softap/passphrase");
    assert_eq!(mode(&conf), 0o600);
    assert_eq!(mode(&pass_file), 0o600);
    assert_eq!(mode(&root.join("run/softap/network.xml")), 0o644);
    let pass = std::fs::read_to_string(&pass_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(pass.len() >= 20, "{pass:?}");
    assert!(std::fs::read_to_string(&conf)
        .unwrap()
        .contains(&format!("wpa_passphrase={pass}\n")));
    let netdev = std::fs::read_to_string(root.join("run/systemd/network/softap.netdev")).unwrap();
    assert!(netdev.contains("PhysicalDevice=phy0") && netdev.contains("Type=ap"));
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("var/lib/softap/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["subnet"], "172.16.0.0/16");
    assert_eq!(state["phy"]["name"], "phy0");

    let mtimes = |root: &Path| -> Vec<_> {
        [
            "run/softap/hostapd.conf",
            "run/softap/network.xml",
            "var/lib/softap/state.json",
            "var/lib/softap/passphrase",
        ]
        .iter()
        .map(|p| std::fs::metadata(root.join(p)).unwrap().modified().unwrap())
        .collect()
    };
    let before = mtimes(root);
    let out = apply_ok(root, "guest.json");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("nothing changed") && stdout.contains("no command would run"),
        "{stdout}"
    );
    assert_eq!(mtimes(root), before, "a second apply rewrote files");
    // The passphrase is generated once and kept.
    assert_eq!(std::fs::read_to_string(&pass_file).unwrap().trim(), pass);
}

#[test]
fn a_subnet_conflict_redefines_and_restarts_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    apply_ok(root, "guest.json");
    // Now the upstream sits in 172.16.4.0/22.
    let out = apply_ok(root, "one-channel-station.json");
    let stdout = text(&out.stdout);
    for cmd in [
        "virsh net-define",
        "virsh net-destroy softap",
        "virsh net-start softap",
        "systemctl restart softap-hostapd.service",
    ] {
        assert!(stdout.contains(cmd), "{cmd:?} missing in\n{stdout}");
    }
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("var/lib/softap/state.json")).unwrap(),
    )
    .unwrap();
    assert_ne!(state["subnet"], "172.16.0.0/16");
    assert!(state["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "172.16.0.0/16"));
    let xml = std::fs::read_to_string(root.join("run/softap/network.xml")).unwrap();
    assert!(!xml.contains("172.16.0.1"), "{xml}");
}

#[test]
fn a_failed_write_rolls_back_and_names_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A file where the networkd directory should be: the second write fails.
    std::fs::create_dir_all(root.join("run/systemd")).unwrap();
    std::fs::write(root.join("run/systemd/network"), "in the way").unwrap();
    let out = apply(root, "guest.json");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("files:") && err.contains("run/systemd/network"),
        "{err}"
    );
    assert!(err.contains("rolled back"), "{err}");
    assert!(
        !root.join("run/softap/network.xml").exists(),
        "the first file was not rolled back"
    );
    assert!(!root.join("var/lib/softap/state.json").exists());
}

#[test]
fn credentials_supply_the_passphrase_and_nothing_is_generated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let creds = dir.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("softap.passphrase"), "from a credential\n").unwrap();
    std::fs::write(creds.join("softap.ssid"), "Credential AP\n").unwrap();
    run_ok(
        agent()
            .env("CREDENTIALS_DIRECTORY", &creds)
            .args(["apply", "--root"])
            .arg(&root)
            .arg("--facts")
            .arg(data("guest.json")),
    );
    assert!(!root.join("var/lib/softap/passphrase").exists());
    let conf = std::fs::read_to_string(root.join("run/softap/hostapd.conf")).unwrap();
    assert!(
        conf.contains("wpa_passphrase=from a credential\n")
            && conf.contains("ssid=Credential AP\n"),
        "{conf}"
    );
}

#[test]
fn status_reads_back_what_apply_did() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = agent()
        .args(["status", "--json", "--root"])
        .arg(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("has not completed"),
        "{}",
        text(&out.stderr)
    );

    apply_ok(root, "guest.json");
    let v: serde_json::Value = run_json(agent().args(["status", "--json", "--root"]).arg(root));
    let pass = std::fs::read_to_string(root.join("var/lib/softap/passphrase")).unwrap();
    assert_eq!(v["subnet"], "172.16.0.0/16");
    assert_eq!(v["gateway"], "172.16.0.1");
    assert_eq!(v["phy"], "phy0");
    assert_eq!(v["channel"], 6);
    assert_eq!(v["interface"], "softap");
    assert_eq!(v["passphrase"], pass.trim());
    let ssid = v["ssid"].as_str().unwrap();
    assert_eq!(
        v["wifi"],
        format!("WIFI:T:WPA;S:{ssid};P:{};;", pass.trim())
    );

    let out = agent()
        .args(["status", "--root"])
        .arg(root)
        .output()
        .unwrap();
    let human = text(&out.stdout);
    assert!(
        human.contains("Scan to join") && human.contains('█'),
        "{human}"
    );
}
