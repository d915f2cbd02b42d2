//! `status`'s tests: the JSON scripts read and the text people read, from
//! states written under a temporary root.

use super::*;
use crate::host::fake::Fake;
use crate::host::DryRun;
use sha2::{Digest, Sha256};

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A state as apply leaves it, with its files written under `root`.
fn applied(root: &Path) -> State {
    let mut state = State {
        subnet: Some("10.42.0.0/24".parse().unwrap()),
        bridge: Some("virbr7".into()),
        ssid: Some("cafe".into()),
        security: Some(SecurityMode::Wpa3Transition),
        interface: Some("softap".into()),
        ..State::default()
    };
    for (path, text) in [
        ("/run/softap/hostapd.conf", "ssid=cafe\n"),
        ("/run/softap/network.xml", "<network/>\n"),
    ] {
        let file = fsutil::under(root, path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        state.files.insert(path.into(), sha(text));
    }
    state
}

fn json(state: &State, root: &Path) -> serde_json::Value {
    let host = DryRun::new(root);
    let status = gather(
        &host,
        state,
        Some("pass".into()),
        root.join(STATE_FILE),
        None,
    )
    .unwrap();
    serde_json::to_value(status).unwrap()
}

/// What the end-to-end scripts (`overlays/e2e/usr/lib/softap-e2e`) read
/// with jq: flat keys with plain values.
#[test]
fn json_carries_the_network_the_clients_see() {
    let dir = tempfile::tempdir().unwrap();
    let v = json(&applied(dir.path()), dir.path());
    assert_eq!(v["subnet"], "10.42.0.0/24");
    assert_eq!(v["gateway"], "10.42.0.1");
    assert_eq!(v["dhcp_start"], "10.42.0.128");
    assert_eq!(v["dhcp_end"], "10.42.0.254");
    assert_eq!(v["bridge"], "virbr7");
    assert_eq!(v["interface"], "softap");
    assert_eq!(v["ssid"], "cafe");
    assert_eq!(v["passphrase"], "pass");
    assert_eq!(v["security"], "wpa3-transition");
    assert_eq!(v["changed_files"], serde_json::json!([]));
}

#[test]
fn files_rewritten_or_gone_since_the_apply_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut state = applied(root);
    // The next apply's first step: a new network definition.
    std::fs::write(
        root.join("run/softap/network.xml"),
        "<network>moved</network>\n",
    )
    .unwrap();
    state
        .files
        .insert("/run/systemd/network/softap.network".into(), sha("gone"));
    let v = json(&state, root);
    assert_eq!(
        v["changed_files"],
        serde_json::json!([
            "/run/softap/network.xml",
            "/run/systemd/network/softap.network"
        ])
    );
    let human = gather(
        &DryRun::new(root),
        &state,
        None,
        root.join(STATE_FILE),
        None,
    )
    .unwrap()
    .human();
    assert!(
        human.contains("Changed:    /run/softap/network.xml, /run/systemd/network/softap.network"),
        "{human}"
    );
}

#[test]
fn the_root_is_found_above_the_state_file() {
    assert_eq!(
        root_of(&Path::new("/").join(STATE_FILE)),
        Some(Path::new("/"))
    );
    assert_eq!(
        root_of(&Path::new("/tmp/r").join(STATE_FILE)),
        Some(Path::new("/tmp/r"))
    );
    assert_eq!(root_of(Path::new("/tmp/r/state.json")), None);
}

#[test]
fn the_network_and_its_members_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = applied(dir.path());
    state.network = Some(crate::state::NetworkRecord {
        name: "lab".into(),
        domain: "lab.internal".into(),
        dhcp_start: "10.42.0.22".parse().unwrap(),
        dhcp_end: "10.42.0.254".parse().unwrap(),
        ipv6: Some("fd00:1:2:2a00::/64".parse().unwrap()),
    });
    let v = json(&state, dir.path());
    assert_eq!(v["dhcp_start"], "10.42.0.22");
    assert_eq!(v["network"], "lab");
    assert_eq!(v["domain"], "lab.internal");
    assert_eq!(v["ipv6"], "fd00:1:2:2a00::/64");
    assert_eq!(v["members"], serde_json::json!([]));
    let sta = Station::parse("02:00:00:00:01:00\nsignal=-40\nconnected_time=7\n").unwrap();
    let lease = members::Lease {
        mac: Some("02:00:00:00:01:00".into()),
        ipv6: false,
        address: "10.42.0.130".into(),
        hostname: Some("phone".into()),
    };
    let port = members::Port {
        owner: "web".into(),
        mac: "52:54:00:00:00:01".into(),
    };
    let text = members_text(&members::merge(&[sta], &[port], &[lease]), &[]);
    assert!(text.starts_with("Clients:    2\n"), "{text}");
    assert!(
        text.contains("02:00:00:00:01:00 phone        10.42.0.130 (Wi-Fi, -40 dBm, connected 7 s)"),
        "{text}"
    );
    assert!(
        text.contains("52:54:00:00:00:01 -            no lease (domain web)"),
        "{text}"
    );
    let host = DryRun::new(dir.path());
    let human = gather(&host, &state, None, dir.path().join(STATE_FILE), None)
        .unwrap()
        .human();
    assert!(
        human.contains("Network:    lab (domain lab.internal, IPv6 fd00:1:2:2a00::/64)"),
        "{human}"
    );
}

/// The channel hostapd picked under `channel = "auto"`, and that it did.
#[test]
fn the_channel_hostapd_picked_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = applied(dir.path());
    state.channel = Some(149);
    state.running = Some(crate::state::RunningChannel {
        channel: 149,
        freq_mhz: 5745,
        width_mhz: 80,
        acs: true,
    });
    let v = json(&state, dir.path());
    assert_eq!(v["channel"], 149);
    assert_eq!(v["channel_auto"], true);
    let human = gather(
        &DryRun::new(dir.path()),
        &state,
        None,
        dir.path().join(STATE_FILE),
        None,
    )
    .unwrap()
    .human();
    assert!(
        human.contains("channel 149 (picked by hostapd's ACS)"),
        "{human}"
    );
    state.running = None;
    assert_eq!(json(&state, dir.path())["channel_auto"], false);
}

/// A panic systemd-pstore archived: a typed field in the JSON, a line
/// with its first lines in the text; none when the archive is empty.
#[test]
fn the_last_kernel_crash_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let state = applied(root);
    assert_eq!(
        json(&state, root)["previous_crash"],
        serde_json::Value::Null
    );
    let record = root.join(crate::crash::ARCHIVE_DIR).join("170000000");
    std::fs::create_dir_all(&record).unwrap();
    std::fs::write(
        record.join("dmesg-efi-170000000001001"),
        "Panic#1 Part1\n<0>[   52.1] Kernel panic - not syncing: sysrq triggered crash\n",
    )
    .unwrap();
    let v = json(&state, root);
    assert_eq!(v["previous_crash"]["kind"], "panic");
    assert_eq!(v["previous_crash"]["at"], "2023-11-14T22:13:20Z");
    assert_eq!(v["previous_crash"]["at_unix"], 1_700_000_000);
    // --root: no /proc/stat there, so no claim about which boot.
    assert_eq!(v["previous_crash"]["previous_boot"], false);
    assert_eq!(
        v["previous_crash"]["first_lines"],
        serde_json::json!(["[   52.1] Kernel panic - not syncing: sysrq triggered crash"])
    );
    let human = gather(
        &DryRun::new(root),
        &state,
        None,
        root.join(STATE_FILE),
        None,
    )
    .unwrap()
    .human();
    assert!(
        human.contains(
            "Restart:    the last kernel crash on record: a kernel panic at 2023-11-14T22:13:20Z"
        ),
        "{human}"
    );
    assert!(
        human.contains("    [   52.1] Kernel panic - not syncing: sysrq triggered crash\n"),
        "{human}"
    );
}

#[test]
fn units_and_libvirt_are_asked_through_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = applied(dir.path());
    state.network = Some(crate::state::NetworkRecord {
        name: "lab".into(),
        domain: "lab.internal".into(),
        dhcp_start: "10.42.0.128".parse().unwrap(),
        dhcp_end: "10.42.0.254".parse().unwrap(),
        ipv6: None,
    });
    let host = Fake::new(dir.path())
        .answer("systemctl is-active softap-hostapd.service", "active\n")
        .answer("virsh net-dhcp-leases lab", crate::libvirt::tests::LEASES);
    let s = gather(&host, &state, None, dir.path().join(STATE_FILE), None).unwrap();
    assert_eq!(s.services[crate::runtime::HOSTAPD_UNIT], "active");
    // The fake's failure of a query it was not told to answer.
    assert_eq!(s.services[crate::runtime::LIBVIRT_UNIT], "injected failure");
    assert_eq!(s.members.len(), 3, "{:?}", s.members);
    // The port list was not answered: said, not fatal.
    assert!(
        s.members_errors
            .iter()
            .any(|e| e.contains("virsh net-port-list --uuid lab")),
        "{:?}",
        s.members_errors
    );
    let dry = gather(
        &DryRun::new(dir.path()),
        &state,
        None,
        dir.path().join(STATE_FILE),
        None,
    );
    assert!(dry.unwrap().services.is_empty());
}

/// The typed fields scripts read instead of sentences: what `watch`
/// did, what the configuration's problem is and what runs instead.
#[test]
fn watch_and_config_problems_are_typed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut state = applied(root);
    let v = json(&state, root);
    assert_eq!(v["watch_action"], serde_json::Value::Null);
    assert_eq!(v["waiting_for"], serde_json::Value::Null);
    assert!(v.get("config_problem").is_none(), "{v}");
    state.watch_note = Some(crate::state::WatchNote {
        action: WatchAction::RestartedHostapd,
        at: Some("2026-01-01T00:00:00Z".into()),
        phy: None,
        crashes: Some(2),
        text: "hostapd stopped serving softap; restarted it".into(),
    });
    let place = crate::config::ErrorPlace {
        file: Some("/boot/efi/softap.toml".into()),
        line: Some(4),
        column: Some(10),
        key: None,
        message: "invalid string".into(),
    };
    state.config_problem = Some(ConfigProblem::new(
        &place,
        crate::state::ConfigFallback::LastGood {
            path: "/var/lib/softap/softap.toml.last-good".into(),
            sha256: Some(sha("ssid = \"a\"\n")),
        },
        "/boot/efi/softap.toml:4:10: invalid string. Until ...".into(),
    ));
    let v = json(&state, root);
    assert_eq!(v["watch_action"], "restarted_hostapd");
    assert_eq!(v["watch_crashes"], 2);
    assert_eq!(v["watch_at"], "2026-01-01T00:00:00Z");
    assert_eq!(
        v["watch_note"],
        "hostapd stopped serving softap; restarted it"
    );
    let p = &v["config_problem"];
    assert_eq!(p["file"], "/boot/efi/softap.toml");
    assert_eq!(
        (p["line"].as_u64(), p["column"].as_u64()),
        (Some(4), Some(10))
    );
    assert_eq!(p["message"], "invalid string");
    assert_eq!(p["fallback"]["kind"], "last_good");
    assert_eq!(
        p["fallback"]["path"],
        "/var/lib/softap/softap.toml.last-good"
    );
    assert_eq!(p["fallback"]["sha256"], sha("ssid = \"a\"\n"));
    // The configuration as it reads now wins over the recorded one.
    let now = ConfigProblem::new(
        &place,
        crate::state::ConfigFallback::LastApplied {
            config_hash: Some("h".into()),
        },
        "broken now".into(),
    );
    let host = DryRun::new(root);
    let s = gather(&host, &state, None, root.join(STATE_FILE), Some(now)).unwrap();
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["config_problem"]["fallback"]["kind"], "last_applied");
    assert_eq!(v["config_problem"]["fallback"]["config_hash"], "h");
    let human = s.human();
    assert!(human.contains("Config:     broken now\n"), "{human}");
    assert!(
        human.contains("Watch:      hostapd stopped serving softap; restarted it\n"),
        "{human}"
    );
}

/// While `watch` waits, status says what for, also before anything was
/// applied; a record whose agent is gone is not believed.
#[test]
fn what_the_agent_waits_for_is_read_while_it_waits() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let waiting = Waiting::new(
        WaitingFor::Radio,
        "no phy can host the access point: no wireless phy was found".into(),
    );
    waiting.save(root).unwrap();
    let v = json(&applied(root), root);
    assert_eq!(v["waiting_for"], "radio");
    assert_eq!(
        v["waiting_reason"],
        "no phy can host the access point: no wireless phy was found"
    );
    assert!(v["waiting_since"].is_string(), "{v}");
    // Nothing applied yet: a status all the same, with nothing set up.
    let host = DryRun::new(root);
    let s = gather(&host, &State::default(), None, root.join(STATE_FILE), None).unwrap();
    assert_eq!(s.waiting_for, Some(WaitingFor::Radio));
    assert_eq!(s.subnet, None);
    assert!(
        s.human()
            .contains("Waiting:    for a radio: no phy can host"),
        "{}",
        s.human()
    );
    // The agent that wrote it is gone (no such process).
    Waiting {
        pid: u32::MAX,
        ..waiting
    }
    .save(root)
    .unwrap();
    assert!(gather(&host, &State::default(), None, root.join(STATE_FILE), None).is_err());
    assert_eq!(
        json(&applied(root), root)["waiting_for"],
        serde_json::Value::Null
    );
    Waiting::clear(root).unwrap();
    Waiting::clear(root).unwrap();
    assert_eq!(Waiting::load(root).unwrap(), None);
}

#[test]
fn no_subnet_means_not_applied() {
    let host = DryRun::new(Path::new("/"));
    let e = gather(&host, &State::default(), None, PathBuf::from("/s"), None).unwrap_err();
    assert_eq!(e.path, PathBuf::from("/s"));
}
