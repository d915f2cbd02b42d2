//! A broken `softap.toml` on the EFI system partition does not stop the
//! appliance: `apply` names file, line, column and problem, and runs on the
//! last configuration that worked or, on a first boot, the image's defaults;
//! never open, never weaker. Fixing the file and applying picks it up. All
//! through the real binary in a `--root` dry run.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{agent, data, run_ok, text};

fn apply(root: &Path) -> (String, String) {
    let out = run_ok(
        agent()
            .args(["apply", "--facts"])
            .arg(data("guest.json"))
            .arg("--root")
            .arg(root),
    );
    (text(&out.stdout), text(&out.stderr))
}

fn hostapd_conf(root: &Path) -> String {
    std::fs::read_to_string(root.join("run/softap/hostapd.conf")).unwrap()
}

fn status(root: &Path) -> (String, serde_json::Value) {
    let human = text(&run_ok(agent().arg("status").arg("--root").arg(root)).stdout);
    let json = common::run_json(agent().args(["status", "--json", "--root"]).arg(root));
    (human, json)
}

fn image(root: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(root.join("etc/softap")).unwrap();
    std::fs::write(
        root.join("etc/softap/softap.toml"),
        "ssid = \"image-default\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("boot/efi")).unwrap();
    root.join("boot/efi/softap.toml")
}

#[test]
fn a_broken_esp_file_falls_back_to_the_last_good_one_and_a_fix_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let esp = image(root);
    std::fs::write(
        &esp,
        "ssid = \"from-stick\"\npassphrase = \"stick-passphrase\"\nsecurity = \"wpa2\"\n",
    )
    .unwrap();
    apply(root);
    let kept = root.join("var/lib/softap/softap.toml.last-good");
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600,
        "the kept text may hold the passphrase"
    );

    // A typo: a syntax error, and an attempt to open the network with it.
    std::fs::write(&esp, "ssid = \"typo\nsecurity = \"open\"\n").unwrap();
    let (out, err) = apply(root);
    let place = format!("{}:1:", esp.display());
    for shown in [&out, &err] {
        assert!(shown.contains(&place), "{shown}");
        assert!(
            shown.contains("the last configuration that worked"),
            "{shown}"
        );
        // The parser's multi-line message is one console line, not escaped.
        assert!(!shown.contains("\\u{a}"), "{shown}");
    }
    let conf = hostapd_conf(root);
    assert!(conf.contains("ssid=from-stick\n"), "{conf}");
    assert!(
        conf.contains("wpa=2\n") && conf.contains("wpa_passphrase=stick-passphrase\n"),
        "{conf}"
    );
    let (human, json) = status(root);
    assert!(human.contains(&format!("Config:     {place}")), "{human}");
    let problem = &json["config_problem"];
    assert!(problem["text"].as_str().unwrap().contains(&place), "{json}");
    // The same as fields, for scripts: no sentence to parse.
    assert_eq!(problem["file"], esp.display().to_string(), "{json}");
    assert_eq!(problem["line"], 1, "{json}");
    assert!(problem["column"].as_u64().is_some(), "{json}");
    assert_eq!(problem["fallback"]["kind"], "last_good", "{json}");
    assert_eq!(
        problem["fallback"]["path"],
        kept.display().to_string(),
        "{json}"
    );
    assert!(problem["fallback"]["sha256"].is_string(), "{json}");
    assert_eq!(json["ssid"], "from-stick");

    // An unknown key and a bad value: named with line and column.
    for (broken, want) in [
        (
            "ssid = \"x\"\ncolour = \"blue\"\n",
            ":2:1: unknown field `colour`",
        ),
        ("ssid = \"x\"\nchannel = 999\n", ":2:11: `channel`: 999"),
    ] {
        std::fs::write(&esp, broken).unwrap();
        let (out, _) = apply(root);
        assert!(out.contains(&format!("{}{want}", esp.display())), "{out}");
        assert!(hostapd_conf(root).contains("ssid=from-stick\n"));
    }

    // Fixed: read again, and the problem is gone from status.
    std::fs::write(
        &esp,
        "ssid = \"fixed\"\npassphrase = \"stick-passphrase\"\n",
    )
    .unwrap();
    let (out, _) = apply(root);
    assert!(!out.contains("warning"), "{out}");
    assert!(hostapd_conf(root).contains("ssid=fixed\n"));
    let (human, json) = status(root);
    assert!(!human.contains("Config:"), "{human}");
    assert!(json.get("config_problem").is_none(), "{json}");
    assert_eq!(
        std::fs::read_to_string(&kept).unwrap(),
        "ssid = \"fixed\"\npassphrase = \"stick-passphrase\"\n"
    );
}

#[test]
fn a_broken_esp_file_on_the_first_boot_gives_the_image_defaults_never_open() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let esp = image(root);
    std::fs::write(&esp, "security = \"open\"\nssid = 5\n").unwrap();
    let (out, _) = apply(root);
    assert!(
        out.contains(&format!("{}:2:8: `ssid`: ", esp.display())),
        "{out}"
    );
    assert!(out.contains("the image's defaults"), "{out}");
    let conf = hostapd_conf(root);
    assert!(conf.contains("ssid=image-default\n"), "{conf}");
    assert!(
        conf.contains("wpa=2\n"),
        "an open AP from a broken file:\n{conf}"
    );
    assert!(!root.join("var/lib/softap/softap.toml.last-good").exists());
}

/// Errors outside the ESP file (the image's own file, `--config`) still
/// stop the command: nothing sensible stands in for them. `status` says so
/// with the same fields, and that what runs is what was applied last.
#[test]
fn other_configuration_errors_still_fail() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    image(root);
    apply(root);
    std::fs::write(root.join("etc/softap/softap.toml"), "ssid = \n").unwrap();
    let (human, json) = status(root);
    let problem = &json["config_problem"];
    assert_eq!(
        problem["file"],
        root.join("etc/softap/softap.toml").display().to_string(),
        "{json}"
    );
    assert_eq!(
        (problem["line"].as_u64(), problem["column"].as_u64()),
        (Some(1), Some(8)),
        "{json}"
    );
    assert_eq!(problem["fallback"]["kind"], "last_applied", "{json}");
    assert!(problem["fallback"]["config_hash"].is_string(), "{json}");
    assert!(human.contains("Config:     "), "{human}");
    let out = agent()
        .args(["apply", "--facts"])
        .arg(data("guest.json"))
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
