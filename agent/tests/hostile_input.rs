//! Hostile and odd input files, through the real binary: each is refused
//! with a message naming the file (and the field), and nothing from it
//! reaches a rendered file.

mod common;

use std::path::{Path, PathBuf};

use common::{agent, data, iw_fixture, text};

fn guest() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data("guest.json")).unwrap()).unwrap()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Runs the agent, which must fail with `code`; returns its stderr.
fn fails(args: &[&std::ffi::OsStr], code: i32) -> String {
    let out = agent().args(args).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(
        out.stdout.is_empty(),
        "{args:?} printed {}",
        text(&out.stdout)
    );
    err
}

#[test]
fn endless_input_files_stop_at_a_cap() {
    let zero = std::ffi::OsStr::new("/dev/zero");
    let list = iw_fixture("rtw88-rtl8821ce.iw-list.txt");
    for args in [
        vec!["detect".as_ref(), "--from-iw-list".as_ref(), zero],
        vec![
            "detect".as_ref(),
            "--from-iw-list".as_ref(),
            list.as_os_str(),
            "--iw-dev".as_ref(),
            zero,
        ],
        vec!["detect".as_ref(), "--facts".as_ref(), zero],
        vec!["plan".as_ref(), "--facts".as_ref(), zero],
    ] {
        let err = fails(&args, 1);
        assert!(
            err.contains("/dev/zero: larger than") && err.contains("bytes, the limit for"),
            "{err}"
        );
    }
}

#[test]
fn an_iw_text_without_a_phy_or_interface_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.txt", "\n");
    let err = fails(
        &[
            "detect".as_ref(),
            "--from-iw-list".as_ref(),
            empty.as_os_str(),
        ],
        1,
    );
    assert!(
        err.contains("empty.txt: iw list output: no phy in this text"),
        "{err}"
    );
    let list = iw_fixture("rtw88-rtl8821ce.iw-list.txt");
    let err = fails(
        &[
            "detect".as_ref(),
            "--from-iw-list".as_ref(),
            list.as_os_str(),
            "--iw-dev".as_ref(),
            empty.as_os_str(),
        ],
        1,
    );
    assert!(
        err.contains("empty.txt: iw dev output: no interface in this text"),
        "{err}"
    );
}

#[test]
fn a_bad_interface_name_in_iw_dev_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let dev = write(
        dir.path(),
        "dev.txt",
        "phy#0\n\tInterface wlan0/../x\n\t\tifindex 3\n\t\ttype managed\n",
    );
    let list = iw_fixture("rtw88-rtl8821ce.iw-list.txt");
    let err = fails(
        &[
            "detect".as_ref(),
            "--from-iw-list".as_ref(),
            list.as_os_str(),
            "--iw-dev".as_ref(),
            dev.as_os_str(),
        ],
        1,
    );
    assert!(err.contains("dev.txt: interfaces[0].name:"), "{err}");
}

/// Each mutation of the guest's facts must be refused naming the field, by
/// `plan` and by a dry-run `apply`, which must write no file.
#[test]
fn facts_are_checked_like_the_kernel_checks_live_ones() {
    type Mutation = (&'static str, fn(&mut serde_json::Value));
    let cases: &[Mutation] = &[
        ("phys[0].name", |f| {
            f["phys"][0]["name"] = "phy0\n[Match]\nName=eth0".into()
        }),
        ("phys[0].name", |f| f["phys"][0]["name"] = "phy7".into()),
        ("phys[1].name", |f| f["phys"][1]["name"] = "phy0".into()),
        ("phys[0].bands[0].channels[0].number", |f| {
            for p in f["phys"].as_array_mut().unwrap() {
                p["bands"][0]["channels"][0] = serde_json::json!({"number": 0, "freq_mhz": 2407});
            }
        }),
        ("phys[0].bands[0].channels[5].freq_mhz", |f| {
            f["phys"][0]["bands"][0]["channels"][5]["freq_mhz"] = 2412.into()
        }),
        ("phys[0].bands[1].channels[0].number", |f| {
            f["phys"][0]["bands"][1]["channels"][0]["number"] = 300.into()
        }),
        ("interfaces[0].name", |f| {
            f["interfaces"] = serde_json::json!([{
                "name": "wlan0-much-too-long", "ifindex": 5, "phy": 0, "iftype": "managed"
            }])
        }),
        ("interfaces[0].channel", |f| {
            f["interfaces"] = serde_json::json!([{
                "name": "wlan0", "ifindex": 5, "phy": 0, "iftype": "managed",
                "channel": 0, "freq_mhz": 2412
            }])
        }),
        ("libvirt.networks[0].bridge", |f| {
            f["libvirt"]["networks"] = serde_json::json!([{
                "name": "softap", "bridge": "virbr\n[Match]", "active": true
            }])
        }),
        ("routes[0].dev", |f| {
            f["routes"] = serde_json::json!([{
                "table": 254, "dst": "0.0.0.0/0", "dev": "eth 0"
            }])
        }),
    ];
    for (field, mutate) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut facts = guest();
        mutate(&mut facts);
        let path = write(dir.path(), "facts.json", &facts.to_string());
        let root = dir.path().join("root");
        for cmd in ["plan", "apply"] {
            let err = fails(
                &[
                    cmd.as_ref(),
                    "--facts".as_ref(),
                    path.as_os_str(),
                    "--root".as_ref(),
                    root.as_os_str(),
                ],
                1,
            );
            assert!(
                err.contains(&format!("facts.json: {field}: ")),
                "{cmd} {field}: {err}"
            );
        }
        assert!(!root.join("run").exists(), "{field}: apply wrote files");
    }
}

/// Every facts file the tests use, live recordings included, passes.
#[test]
fn real_facts_pass_the_checks() {
    let live = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/live");
    let mut files: Vec<PathBuf> = ["guest.json", "typical.json", "one-channel-station.json"]
        .iter()
        .map(|n| data(n))
        .collect();
    files.extend(
        std::fs::read_dir(live)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".facts.json")),
    );
    assert!(files.len() > 3);
    for f in files {
        softap_agent::bringup::read_facts(&f).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// An SSID may hold any bytes and the state file any text: `status` shows
/// terminal escape sequences escaped, never passes them to the terminal.
#[test]
fn status_escapes_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("var/lib/softap");
    std::fs::create_dir_all(&state).unwrap();
    let s = serde_json::json!({
        "ssid": "evil\u{1b}]0;owned\u{7}\u{1b}[2J",
        "subnet": "172.16.0.0/16",
        "security": "wpa2",
        "bridge": "br\u{1b}[31m",
        "watch_note": {"action": "restarted_hostapd", "text": "hostapd restarted\u{1b}[2J"},
    });
    std::fs::write(state.join("state.json"), s.to_string()).unwrap();
    std::fs::write(state.join("passphrase"), "pass\u{1b}[8mword\n").unwrap();
    let out = common::run_ok(agent().arg("status").arg("--root").arg(dir.path()));
    let got = text(&out.stdout);
    assert!(!got.contains('\u{1b}') && !got.contains('\u{7}'), "{got:?}");
    assert!(
        got.contains("SSID:       evil\\u{1b}]0;owned\\u{7}\\u{1b}[2J\n"),
        "{got}"
    );
    assert!(got.contains("Passphrase: pass\\u{1b}[8mword\n"), "{got}");
    assert!(got.contains("on br\\u{1b}[31m"), "{got}");
    assert!(
        got.contains("Watch:      hostapd restarted\\u{1b}[2J\n"),
        "{got}"
    );
}

/// Public, multicast, link-local and "this network" subnets and unassigned
/// country codes are refused naming file, line, column and key; nothing is
/// rendered.
#[test]
fn config_refuses_public_subnets_and_unassigned_countries() {
    let dir = tempfile::tempdir().unwrap();
    for (toml, key) in [
        ("subnet_pool = [\"8.8.8.0/24\"]", "subnet_pool"),
        ("subnet_pool = [\"224.0.0.0/24\"]", "subnet_pool"),
        ("subnet_pool = [\"169.254.0.0/16\"]", "subnet_pool"),
        ("subnet_pool = [\"0.0.0.0/8\"]", "subnet_pool"),
        ("country = \"ZZ\"", "country"),
    ] {
        let cfg = write(
            dir.path(),
            "softap.toml",
            &format!("ssid = \"x\"\n{toml}\n"),
        );
        let err = fails(
            &[
                "plan".as_ref(),
                "--facts".as_ref(),
                data("guest.json").as_os_str(),
                "--config".as_ref(),
                cfg.as_os_str(),
            ],
            2,
        );
        let column = key.len() + 4;
        assert!(
            err.contains(&format!("softap.toml:2:{column}: `{key}`: ")),
            "{toml}: {err}"
        );
    }
}

mod properties {
    use std::path::Path;

    use proptest::prelude::*;
    use softap_agent::bringup::{parse_facts, AgentError};
    use softap_agent::plan::plan;
    use softap_agent::render::{render, Templates, NETDEV};
    use softap_agent::state::State;

    const FILE: &str = "/tmp/facts.json";

    /// A JSON pointer into the guest's facts and a value to put there.
    fn mutation() -> impl Strategy<Value = (String, serde_json::Value)> {
        let name = prop_oneof![
            any::<String>(),
            "[a-z0-9]{1,20}",
            "phy[0-9]{1,2}",
            Just("phy0\n[Match]".to_owned()),
            Just(String::new()),
        ]
        .prop_map(serde_json::Value::from);
        let number = prop_oneof![
            any::<u32>().prop_map(serde_json::Value::from),
            (0u32..200).prop_map(serde_json::Value::from),
            (2400u32..6000).prop_map(serde_json::Value::from),
            Just(serde_json::Value::from(-1)),
            Just(serde_json::Value::from("6")),
        ];
        let place = prop_oneof![
            (0usize..3).prop_map(|p| format!("/phys/{p}/name")),
            (0usize..3).prop_map(|p| format!("/phys/{p}/index")),
            (0usize..3).prop_map(|p| format!("/phys/{p}/driver")),
            (0usize..3, 0usize..3, 0usize..20)
                .prop_map(|(p, b, c)| format!("/phys/{p}/bands/{b}/channels/{c}/number")),
            (0usize..3, 0usize..3, 0usize..20)
                .prop_map(|(p, b, c)| format!("/phys/{p}/bands/{b}/channels/{c}/freq_mhz")),
            Just("/machine_id".to_owned()),
            Just("/interfaces".to_owned()),
            Just("/libvirt/networks".to_owned()),
        ];
        (place, name, number).prop_map(|(place, name, number)| {
            let value = if place.ends_with("name")
                || place.ends_with("driver")
                || place.ends_with("machine_id")
            {
                name
            } else if place == "/interfaces" {
                serde_json::json!([{ "name": name, "ifindex": 9, "phy": 0,
                                     "iftype": "managed", "channel": number }])
            } else if place == "/libvirt/networks" {
                serde_json::json!([{ "name": "softap", "bridge": name, "active": true }])
            } else {
                number
            };
            (place, value)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Damaged facts are refused naming the file and the field, or pass
        /// and then plan and render without anything odd in the netdev.
        #[test]
        fn damaged_facts_are_refused_or_render_cleanly(
            mutations in proptest::collection::vec(mutation(), 1..4)
        ) {
            let mut facts: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(super::data("guest.json")).unwrap()).unwrap();
            for (place, value) in mutations {
                if let Some(slot) = facts.pointer_mut(&place) {
                    *slot = value;
                }
            }
            match parse_facts(&facts.to_string(), Path::new(FILE)) {
                Err(e) => {
                    let msg = e.to_string();
                    prop_assert!(msg.starts_with(&format!("{FILE}:")), "{msg}");
                    if let AgentError::FactsInvalid { source, .. } = &e {
                        let root = source.field.split(['.', '[']).next().unwrap_or("");
                        prop_assert!(
                            ["phys", "interfaces", "addresses", "routes", "libvirt", "machine_id"]
                                .contains(&root),
                            "{msg}"
                        );
                        prop_assert!(msg.contains(&format!(": {}: ", source.field)), "{msg}");
                    }
                }
                Ok(f) => {
                    let cfg = super::common::config("");
                    if let Ok(p) = plan(&f, &cfg, &State::default()) {
                        let files = render(&p, Some("correct-horse-battery"), &Templates::embedded());
                        let files = files.map_err(|e| TestCaseError::fail(e.to_string()))?;
                        let netdev = files.iter().find(|x| x.path == NETDEV).unwrap();
                        prop_assert_eq!(netdev.content.matches('[').count(), 2, "{}", netdev.content);
                        prop_assert!(p.channel.number > 0);
                    }
                }
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
            if let Err(e) = parse_facts(&text, Path::new(FILE)) {
                let msg = e.to_string();
                prop_assert!(msg.starts_with(&format!("{FILE}:")), "{msg}");
            }
        }
    }
}
