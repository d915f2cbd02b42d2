//! The command line, run as the real binary.

mod common;

use common::{agent, data, run_json, run_ok, text};

#[test]
fn help_names_every_subcommand_and_the_global_flags() {
    let out = run_ok(agent().arg("--help"));
    let text = text(&out.stdout);
    for want in [
        "detect",
        "plan",
        "apply",
        "status",
        "watch",
        "--config",
        "--facts",
        "--root",
        "--ap-timeout",
        "Exit status",
        // From the configuration's key table.
        "subnet_pool",
        "softap.network_name",
    ] {
        assert!(text.contains(want), "{want:?} missing in --help:\n{text}");
    }
}

#[test]
fn plan_json_from_facts_file() {
    let v: serde_json::Value = run_json(
        agent()
            .args(["plan", "--json", "--facts"])
            .arg(data("guest.json"))
            .args(["--root", "/nonexistent-softap-root"]),
    );
    assert_eq!(v["plan"]["subnet"]["net"], "172.16.0.0/16");
    assert_eq!(v["plan"]["phy"]["name"], "phy0");
    assert_eq!(v["files"].as_array().unwrap().len(), 4);
}

#[test]
fn no_usable_phy_has_its_own_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let mut facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("guest.json")).unwrap()).unwrap();
    for p in facts["phys"].as_array_mut().unwrap() {
        p["modes"] = serde_json::json!(["managed"]);
    }
    let path = dir.path().join("facts.json");
    std::fs::write(&path, facts.to_string()).unwrap();
    let out = agent()
        .args(["plan", "--facts"])
        .arg(&path)
        .args(["--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("phy0 (modes: managed): no AP mode"), "{err}");
    assert!(out.stdout.is_empty(), "nothing is rendered on failure");
}

#[test]
fn config_errors_name_file_line_and_column_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("softap.toml");
    std::fs::write(&cfg, "ssid = \"ok\"\nchanel = 6\n").unwrap();
    let out = agent()
        .args(["plan", "--facts"])
        .arg(data("guest.json"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("softap.toml:2:1:") && err.contains("chanel"),
        "{err}"
    );
}

#[test]
fn flags_override_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/softap")).unwrap();
    std::fs::write(
        dir.path().join("etc/softap/softap.toml"),
        "ssid = \"from-file\"\n",
    )
    .unwrap();
    let v: serde_json::Value = run_json(
        agent()
            .args(["plan", "--json", "--ssid", "from-flag", "--facts"])
            .arg(data("guest.json"))
            .arg("--root")
            .arg(dir.path()),
    );
    assert_eq!(v["plan"]["ssid"], "from-flag");
}

#[test]
fn bad_facts_json_points_at_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("facts.json");
    std::fs::write(&path, "{\n  \"phys\": [],\n  \"bogus\": 1\n}\n").unwrap();
    let out = agent()
        .args(["plan", "--facts"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("facts.json:3:"), "{err}");
}

#[test]
fn detect_prints_facts_back_in_the_same_format() {
    let back: softap_agent::facts::Facts = run_json(
        agent()
            .args(["detect", "--json", "--facts"])
            .arg(data("typical.json")),
    );
    assert_eq!(back, common::facts("typical.json"));
    let out = agent()
        .args(["detect", "--facts"])
        .arg(data("typical.json"))
        .output()
        .unwrap();
    let text = text(&out.stdout);
    assert!(
        text.contains("#channels <= 1") && text.contains("12(no-IR)"),
        "{text}"
    );
}

#[test]
fn a_phy_given_by_mac_is_found_through_sysfs() {
    let dir = tempfile::tempdir().unwrap();
    for (phy, mac, extra) in [
        ("phy3", "02:00:00:00:00:00", ""),
        ("phy4", "02:00:00:00:01:00", "42:00:00:00:01:00\n"),
    ] {
        let phy_dir = dir.path().join("class/ieee80211").join(phy);
        std::fs::create_dir_all(&phy_dir).unwrap();
        std::fs::write(phy_dir.join("index"), format!("{}\n", &phy[3..])).unwrap();
        std::fs::write(phy_dir.join("macaddress"), format!("{mac}\n")).unwrap();
        std::fs::write(phy_dir.join("addresses"), format!("{mac}\n{extra}")).unwrap();
    }
    let find = |m: &str| softap_agent::bringup::phy_by_mac(dir.path(), m);
    assert_eq!(find("02:00:00:00:01:00").as_deref(), Some("phy4"));
    assert_eq!(find("02:00:00:00:0A:00"), None);
    let upper = "42:00:00:00:01:00".to_uppercase();
    assert_eq!(find(&upper).as_deref(), Some("phy4"));
    assert_eq!(find("42:00:00:00:01:00").as_deref(), Some("phy4"));
    assert_eq!(find("02:00:00:00:00:00").as_deref(), Some("phy3"));
    assert_eq!(find("02:00:00:00:09:00"), None);
    assert_eq!(find("phy3"), None);
}

#[test]
fn an_ap_timeout_of_zero_is_refused_naming_the_flag() {
    let out = agent()
        .args([
            "apply",
            "--ap-timeout",
            "0",
            "--root",
            "/nonexistent-softap-root",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--ap-timeout"), "{err}");
}

#[test]
fn plan_names_where_each_configured_key_came_from() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("efi")).unwrap();
    std::fs::write(
        root.path().join("efi/softap.toml"),
        "ssid = \"lab\"\n\ncountry = \"DE\"\n",
    )
    .unwrap();
    let esp = root.path().join("efi/softap.toml").display().to_string();
    let plan = |json: bool| {
        let mut c = agent();
        c.arg("plan");
        if json {
            c.arg("--json");
        }
        c.arg("--facts")
            .arg(data("typical.json"))
            .arg("--root")
            .arg(root.path())
            .args(["--channel", "6"]);
        c
    };
    let out = text(&run_ok(&mut plan(false)).stdout);
    assert!(out.contains(&format!("ssid          {esp}:1:8")), "{out}");
    assert!(out.contains(&format!("country       {esp}:3:11")), "{out}");
    assert!(
        out.contains("channel       command-line flag --channel"),
        "{out}"
    );
    let v: serde_json::Value = run_json(&mut plan(true));
    assert_eq!(v["config_origins"]["country"], format!("{esp}:3:11"));
    assert!(v["config_origins"].get("security").is_none(), "{v}");
}
