//! The live gatherer on this machine and its parts with the real programs:
//! virsh against libvirt's test driver, sysfs trees, a namespace with no
//! wireless.

use std::path::Path;

use softap_agent::facts::libvirt::Virsh;
use softap_agent::facts::live::{self, Sources};
use softap_agent::facts::sysfs;

fn virsh_test_driver() -> Virsh {
    Virsh {
        program: "virsh".to_string(),
        uri: "test:///default".to_string(),
    }
}

#[test]
fn virsh_reads_the_test_drivers_default_network() {
    let facts = virsh_test_driver().gather();
    assert!(
        facts.reachable,
        "virsh -c test:///default failed (install libvirt-clients): {:?}",
        facts.error
    );
    let default = facts
        .networks
        .iter()
        .find(|n| n.name == "default")
        .expect("the test driver defines `default`");
    assert_eq!(default.bridge.as_deref(), Some("virbr0"));
    assert!(default.active);
    let subnets: Vec<String> = default.subnets.iter().map(|s| s.to_string()).collect();
    assert_eq!(subnets, ["192.168.122.1/24"]);
}

#[test]
fn unreachable_libvirt_is_a_fact_with_the_reason() {
    let missing = Virsh {
        program: "/nonexistent/virsh".to_string(),
        uri: "qemu:///system".to_string(),
    }
    .gather();
    assert!(!missing.reachable && missing.networks.is_empty());
    assert!(
        missing
            .error
            .as_deref()
            .unwrap()
            .contains("libvirt-clients"),
        "{missing:?}"
    );

    let no_daemon = Virsh {
        program: "virsh".to_string(),
        uri: "qemu+unix:///system?socket=/nonexistent/libvirt-sock".to_string(),
    }
    .gather();
    assert!(!no_daemon.reachable);
    let error = no_daemon.error.unwrap();
    assert!(
        error.contains("net-list") && error.contains("/nonexistent/libvirt-sock"),
        "{error}"
    );
}

#[test]
fn sysfs_phys_with_index_and_driver() {
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("class/ieee80211");
    for (name, index, driver) in [
        ("phy3", "3\n", "mac80211_hwsim"),
        ("phy0", "0\n", "iwlwifi"),
    ] {
        let phy = class.join(name);
        std::fs::create_dir_all(phy.join("device")).unwrap();
        std::fs::write(phy.join("index"), index).unwrap();
        let target = dir.path().join("bus/drivers").join(driver);
        std::fs::create_dir_all(&target).unwrap();
        std::os::unix::fs::symlink(&target, phy.join("device/driver")).unwrap();
    }
    // A phy whose index cannot be read is skipped, not fatal.
    std::fs::create_dir_all(class.join("phy9")).unwrap();
    let phys = sysfs::read_phys(dir.path());
    let seen: Vec<(String, u32, Option<String>)> = phys
        .into_iter()
        .map(|p| (p.name, p.index, p.driver))
        .collect();
    assert_eq!(
        seen,
        [
            ("phy0".to_string(), 0, Some("iwlwifi".to_string())),
            ("phy3".to_string(), 3, Some("mac80211_hwsim".to_string())),
        ]
    );
    assert!(sysfs::read_phys(&dir.path().join("nothing")).is_empty());
}

#[test]
fn live_gather_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let machine_id = dir.path().join("machine-id");
    std::fs::write(&machine_id, "0123456789abcdef0123456789abcdef\n").unwrap();
    let sources = Sources {
        virsh: virsh_test_driver(),
        machine_id,
        ..Sources::default()
    };
    let facts = live::gather_from(&sources).expect("live facts");
    // Wireless here is whatever sysfs says: none on the CI hosts, which must
    // be empty phys, not an error.
    let in_sysfs = sysfs::read_phys(Path::new("/sys"));
    assert_eq!(
        facts.phys.iter().map(|p| p.index).collect::<Vec<_>>(),
        in_sysfs.iter().map(|p| p.index).collect::<Vec<_>>()
    );
    assert!(
        facts
            .addresses
            .iter()
            .any(|a| a.ifname == "lo" && a.addr.to_string() == "127.0.0.1/8"),
        "{:?}",
        facts.addresses
    );
    assert!(facts.routes.iter().any(|r| r.table == 255), "local table");
    assert!(facts.libvirt.reachable);
    assert_eq!(
        facts.machine_id.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );

    // The JSON that `detect --json` prints reads back identically.
    let json = serde_json::to_string_pretty(&facts).unwrap();
    let back: softap_agent::facts::Facts = serde_json::from_str(&json).unwrap();
    assert_eq!(back, facts);

    // An empty machine-id (as shipped in the image) is no machine-id.
    let empty = dir.path().join("empty-id");
    std::fs::write(&empty, "\n").unwrap();
    let facts = live::gather_from(&Sources {
        virsh: virsh_test_driver(),
        machine_id: empty,
        ..Sources::default()
    })
    .unwrap();
    assert_eq!(facts.machine_id, None);
}

/// The facts a real 6.1 kernel gave for mac80211_hwsim (see the .source
/// file) still read with today's model: the format `--facts` accepts.
#[test]
fn recorded_hwsim_facts_read_back() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/live/hwsim-6.1-radios2.facts.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let facts: softap_agent::facts::Facts = serde_json::from_str(&text).unwrap();
    assert_eq!(facts.phys.len(), 2);
    for phy in &facts.phys {
        assert_eq!(phy.driver.as_deref(), Some("mac80211_hwsim"));
        assert_eq!(phy.combinations.len(), 1);
        assert_eq!(phy.combinations[0].channels, 1);
        assert!(phy.sae);
    }
    let names: Vec<&str> = facts.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["wlan0", "wlan1"]);
}
