//! The `softap.toml` the NixOS module writes, read by the agent's own loader.
//!
//! `nix/module-check.nix` evaluates `nix/module.nix` with nixpkgs' real
//! `lib.evalModules`; its `settings.NAME` is the value the module hands to
//! nixpkgs' TOML format for a case. Written as TOML (as that format's
//! generator does) to `/etc/softap/softap.toml` under a temporary root, it
//! must load and validate. Needs `nix-instantiate` and nixpkgs' `lib/` in
//! the cache `scripts/check-nix` uses; without them the test says SKIPPED.

use std::path::{Path, PathBuf};
use std::process::Command;

use softap_config::{load, Config, FixedRange, Security, Sources, ETC_CONFIG};

const LIB_COMMIT: &str = "3509f318de9513069ee262cb30869453e98c303f";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// nixpkgs' `lib/`, where `scripts/check-nix` looks for it.
fn nixpkgs_lib() -> Option<PathBuf> {
    let cache = match std::env::var_os("SOFTAP_NIXPKGS_LIB") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?)
            .join(".cache/softap")
            .join(format!("nixpkgs-lib-{}", &LIB_COMMIT[..8])),
    };
    let lib = cache.join("lib");
    lib.join("default.nix").is_file().then_some(lib)
}

/// The module's settings for every case of nix/module-check.nix, or why not.
fn module_settings() -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let lib = nixpkgs_lib().ok_or_else(|| {
        format!(
            "nixpkgs' lib/ at {LIB_COMMIT} is not cached (scripts/check-nix says how to get it)"
        )
    })?;
    let out = Command::new("nix-instantiate")
        .args([
            "--eval",
            "--strict",
            "--json",
            "nix/module-check.nix",
            "-A",
            "settings",
        ])
        .arg("--arg")
        .arg("lib")
        .arg(format!("import {}", lib.display()))
        .env("NIX_CONFIG", "build-users-group =\nstore = dummy://")
        .current_dir(repo())
        .output()
        .map_err(|e| format!("nix-instantiate cannot run: {e}"))?;
    assert!(
        out.status.success(),
        "evaluating nix/module-check.nix failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).expect("nix-instantiate --json prints JSON") {
        serde_json::Value::Object(cases) => Ok(cases),
        other => panic!("settings is not an attribute set: {other}"),
    }
}

/// Loads the agent's configuration with `toml` as /etc/softap/softap.toml
/// (none when `None`), under a root of its own.
fn load_etc(toml: Option<&str>) -> Config {
    let root = tempfile::tempdir().unwrap();
    if let Some(text) = toml {
        let path = root.path().join(ETC_CONFIG);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let sources = Sources {
        root: root.path().to_path_buf(),
        ..Sources::default()
    };
    load(&sources)
        .unwrap_or_else(|e| panic!("the agent refuses the module's softap.toml: {e}\n{toml:?}"))
}

#[test]
fn the_agent_loads_the_softap_toml_the_nixos_module_writes() {
    let cases = match module_settings() {
        Ok(cases) => cases,
        Err(why) => {
            eprintln!("SKIPPED: the NixOS module's softap.toml was not checked: {why}");
            return;
        }
    };
    let toml_of = |name: &str| {
        let value = cases.get(name).unwrap_or_else(|| panic!("no case {name}"));
        toml::to_string(value).expect("the settings are a TOML table")
    };

    // Nothing set: the file leaves every one of the agent's defaults alone,
    // the per-machine SSID among them.
    let defaults = load_etc(Some(&toml_of("defaults")));
    assert_eq!(defaults.ssid, None);
    assert_eq!(
        serde_json::to_value(&defaults).unwrap(),
        serde_json::to_value(load_etc(None)).unwrap(),
        "the module's default softap.toml changes the agent's defaults"
    );

    // Every option set: each reaches the agent as the key it stands for
    // (`settings` winning over the typed channel).
    let full = load_etc(Some(&toml_of("full")));
    assert_eq!(full.ssid.as_deref(), Some("lab"));
    assert_eq!(
        full.passphrase, None,
        "the passphrase is a credential, not in the file"
    );
    assert_eq!(full.security, Security::Wpa3Transition);
    assert_eq!(full.country.as_deref(), Some("DE"));
    assert_eq!(full.channel, Some(softap_config::ChannelSetting::Number(1)));
    assert_eq!(full.phy.as_deref(), Some("phy1"));
    assert_eq!(
        full.subnet_pool,
        vec![
            "172.16.0.0/16".parse().unwrap(),
            "10.213.0.0/16".parse().unwrap()
        ]
    );
    assert_eq!(full.bridge, "virbr7");
    assert_eq!(full.network_name, "lab");
    assert_eq!(full.interface, "ap0");
    assert_eq!(full.domain, "lab.internal");
    assert_eq!(
        load_etc(Some(&toml_of("auto"))).channel,
        Some(softap_config::ChannelSetting::Auto)
    );
    assert_eq!(full.fixed_range, FixedRange::Percent(25));
    assert!(full.isolate_clients);
    assert!(!full.ipv6);
    assert_eq!(full.hosts.len(), 1);
    assert_eq!(
        (
            full.hosts[0].mac.as_str(),
            full.hosts[0].name.as_str(),
            full.hosts[0].offset
        ),
        ("52:54:00:12:34:56", "web", 10)
    );
}
