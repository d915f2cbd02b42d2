//! The live gatherer on this machine and its parts with the real programs:
//! virsh against libvirt's test driver, sysfs trees, a namespace with no
//! wireless.

use std::path::Path;

use softap_agent::facts::libvirt;
use softap_agent::facts::live::{self, Sources};
use softap_agent::facts::sysfs;
use softap_agent::libvirt::Connection;

fn virsh_test_driver() -> Connection {
    Connection {
        program: "virsh".to_string(),
        uri: "test:///default".to_string(),
    }
}

#[test]
fn virsh_reads_the_test_drivers_default_network() {
    let facts = libvirt::gather(&virsh_test_driver());
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
    let missing = libvirt::gather(&Connection {
        program: "/nonexistent/virsh".to_string(),
        uri: "qemu:///system".to_string(),
    });
    assert!(!missing.reachable && missing.networks.is_empty());
    assert!(
        missing
            .error
            .as_deref()
            .unwrap()
            .contains("libvirt-clients"),
        "{missing:?}"
    );

    let no_daemon = libvirt::gather(&Connection {
        program: "virsh".to_string(),
        uri: "qemu+unix:///system?socket=/nonexistent/libvirt-sock".to_string(),
    });
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

/// A sysfs tree shaped like the kernel's: class entries are links to the
/// device's directory, `device` and `driver` are links, the driver links
/// to its module; loaded modules have `initstate`, built-in code does not.
fn fake_sys(root: &Path) {
    let link = |target: &str, at: &str| {
        let at = root.join(at);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, at).unwrap();
    };
    let dir = |p: &str| std::fs::create_dir_all(root.join(p)).unwrap();
    let write = |p: &str, text: &str| std::fs::write(root.join(p), text).unwrap();
    for (phy, index, device, bus, driver, module) in [
        (
            "phy0",
            "0",
            "devices/pci0000:00/0000:00:14.3",
            "pci",
            "iwlwifi",
            "iwlwifi",
        ),
        (
            "phy1",
            "1",
            "devices/virtual/mac80211_hwsim/hwsim0",
            "platform",
            "mac80211_hwsim",
            "mac80211_hwsim",
        ),
        (
            "phy2",
            "2",
            "devices/pci0000:00/0000:02:00.0",
            "pci",
            "rtw_8822be",
            "rtw88_8822be",
        ),
    ] {
        dir(&format!("{device}/ieee80211/{phy}"));
        write(
            &format!("{device}/ieee80211/{phy}/index"),
            &format!("{index}\n"),
        );
        link("../..", &format!("{device}/ieee80211/{phy}/device"));
        link(
            &format!("../../{device}/ieee80211/{phy}"),
            &format!("class/ieee80211/{phy}"),
        );
        dir(&format!("bus/{bus}/drivers/{driver}"));
        let up = "../".repeat(device.split('/').count());
        link(
            &format!("{up}bus/{bus}/drivers/{driver}"),
            &format!("{device}/driver"),
        );
        link(
            &format!("../../../../module/{module}"),
            &format!("bus/{bus}/drivers/{driver}/module"),
        );
    }
    for (module, initstate) in [
        ("iwlwifi", Some("live\n")),
        ("mac80211_hwsim", Some("live\n")),
        ("rtw88_8822be", Some("live\n")),
        ("rtw88_8822b", Some("live\n")),
        ("mt7925e", Some("live\n")),
        ("ath9k_htc", Some("live\n")),
        ("cfg80211", None),
        ("brcmfmac", Some("going\n")),
    ] {
        dir(&format!("module/{module}"));
        if let Some(s) = initstate {
            write(&format!("module/{module}/initstate"), s);
        }
    }
}

#[test]
fn sysfs_names_each_phys_driver_and_module_and_the_drivers_without_phy() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    fake_sys(&sys);
    let phys = sysfs::read_phys(&sys);
    let seen: Vec<(&str, Option<&str>, Option<&str>)> = phys
        .iter()
        .map(|p| (p.name.as_str(), p.driver.as_deref(), p.module.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("phy0", Some("iwlwifi"), Some("iwlwifi")),
            ("phy1", Some("mac80211_hwsim"), Some("mac80211_hwsim")),
            ("phy2", Some("rtw_8822be"), Some("rtw88_8822be")),
        ]
    );
    assert_eq!(
        sysfs::loaded_modules(&sys),
        [
            "ath9k_htc",
            "iwlwifi",
            "mac80211_hwsim",
            "mt7925e",
            "rtw88_8822b",
            "rtw88_8822be"
        ]
    );

    let report = dir.path().join("wifi-coverage.txt");
    std::fs::write(
        &report,
        "kernel 6.12.0-amd64\n\
         module ath9k_htc kernel/drivers/net/wireless/ath/ath9k/ath9k_htc.ko.xz groups=2 present=2 missing=0\n\
         module iwlwifi kernel/drivers/net/wireless/intel/iwlwifi/iwlwifi.ko.xz groups=2 present=1 missing=1\n\
         \x20 missing iwlwifi-bz-b0-fm-c0-{N<=92}.ucode\n\
         module mt7925e kernel/drivers/net/wireless/mediatek/mt76/mt7925/mt7925e.ko.xz groups=2 present=1 missing=1\n\
         \x20 present mediatek/mt7925/WIFI_MT7925_PATCH_MCU_1_1_hdr.bin mediatek/mt7925/WIFI_MT7925_PATCH_MCU_1_1_hdr.bin\n\
         \x20 missing mediatek/mt7925/WIFI_RAM_CODE_MT7925_1_1.bin\n\
         module rtw88_8822b kernel/drivers/net/wireless/realtek/rtw88/rtw88_8822b.ko.xz groups=1 present=1 missing=0\n",
    )
    .unwrap();
    let sources = Sources {
        sys: sys.clone(),
        coverage: report,
        ..Sources::default()
    };
    let without = live::without_phy(&sources, &phys);
    // iwlwifi lacks firmware too, but for other cards: it has its phy.
    // ath9k_htc and rtw88_8822b lack nothing.
    assert_eq!(
        without,
        [softap_agent::facts::DriverWithoutPhy {
            module: "mt7925e".into(),
            firmware_groups: 2,
            missing_firmware: vec!["mediatek/mt7925/WIFI_RAM_CODE_MT7925_1_1.bin".into()],
        }]
    );
    // A machine without the report (a container) claims nothing.
    let none = Sources {
        sys,
        coverage: dir.path().join("absent.txt"),
        ..Sources::default()
    };
    assert!(live::without_phy(&none, &phys).is_empty());
}

#[test]
fn live_gather_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let machine_id = dir.path().join("machine-id");
    std::fs::write(&machine_id, "0123456789abcdef0123456789abcdef\n").unwrap();
    let sources = Sources {
        libvirt: virsh_test_driver(),
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
        libvirt: virsh_test_driver(),
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
