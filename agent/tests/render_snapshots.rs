//! Snapshots of every rendered file for several plans, and every rendered
//! libvirt network XML checked by libvirt's own schema and parser.

mod common;

use common::{config, facts, tool};
use softap_agent::plan::plan;
use softap_agent::render::{render, RenderedFile, Templates};
use softap_agent::state::State;

/// (case name, facts file, config TOML, passphrase)
const CASES: &[(&str, &str, &str, Option<&str>)] = &[
    ("guest_default", "guest.json", "", Some("correct-horse-battery")),
    (
        // agent-facts' recording of the end-to-end guest's radios (6.1 kernel).
        "hwsim_live_6_1",
        "../fixtures/live/hwsim-6.1-radios2.facts.json",
        "",
        Some("correct-horse-battery"),
    ),
    (
        "typical_laptop",
        "typical.json",
        "ssid = \"Laptop AP\"",
        Some("correct-horse-battery"),
    ),
    (
        "one_channel_station_wpa2",
        "one-channel-station.json",
        "",
        Some("12345678"),
    ),
    (
        "guest_5ghz_country",
        "guest.json",
        "country = \"DE\"\nchannel = 36\nsecurity = \"wpa2\"\nssid = \"Café ☕\"",
        Some("p@ss w0rd with spaces"),
    ),
    (
        "guest_open_custom_names",
        "guest.json",
        "security = \"open\"\nssid = \"lobby\"\nbridge = \"br-ap\"\nnetwork_name = \"lobby-net\"\ninterface = \"wlap0\"\nsubnet_pool = [\"192.168.77.0/24\"]\nipv6 = false",
        None,
    ),
    (
        // The network the appliance exists for: a domain, a fixed range
        // given as a count, reservations in and out of it, isolation.
        "guest_lab_network",
        "guest.json",
        "domain = \"lab.internal\"\nfixed_range = \"20\"\nisolate_clients = true\nsubnet_pool = [\"192.168.77.0/24\"]\n\
         [[host]]\nmac = \"52:54:00:AB:00:01\"\nname = \"web\"\noffset = 10\n\
         [[host]]\nmac = \"52:54:00:ab:00:02\"\nname = \"db\"\noffset = 200\n",
        Some("correct-horse-battery"),
    ),
];

fn rendered(case: &(&str, &str, &str, Option<&str>)) -> (String, Vec<RenderedFile>) {
    let (_, facts_file, cfg, pass) = case;
    let p = plan(&facts(facts_file), &config(cfg), &State::default()).unwrap();
    let files = render(&p, *pass, &Templates::embedded()).unwrap();
    (p.explain(), files)
}

#[test]
fn snapshots_of_every_file() {
    for case in CASES {
        let (explain, files) = rendered(case);
        let mut all = format!("# plan\n{explain}");
        for f in &files {
            all.push_str(&format!(
                "\n# {} (mode {:04o})\n{}",
                f.path, f.mode, f.content
            ));
        }
        insta::assert_snapshot!(case.0, all);
    }
}

#[test]
fn hostapd_conf_has_what_stations_need() {
    let (_, files) = rendered(&CASES[0]);
    let conf = &files
        .iter()
        .find(|f| f.path.ends_with("hostapd.conf"))
        .unwrap();
    assert_eq!(conf.mode, 0o600);
    for line in [
        "interface=softap",
        "bridge=virbr0",
        "driver=nl80211",
        "ctrl_interface=/run/hostapd",
        "ieee80211n=1",
        "wmm_enabled=1",
        "wpa=2",
        "wpa_key_mgmt=WPA-PSK SAE",
        "rsn_pairwise=CCMP",
        "ieee80211w=1",
        "sae_require_mfp=1",
        "wpa_passphrase=correct-horse-battery",
        "channel=6",
        "hw_mode=g",
    ] {
        assert!(
            conf.content.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            conf.content
        );
    }
    // Every non-comment line is key=value, as hostapd's parser wants.
    for l in conf.content.lines() {
        assert!(
            l.is_empty()
                || l.starts_with('#')
                || l.split_once('=')
                    .is_some_and(|(k, _)| !k.is_empty() && !k.contains(' ')),
            "bad hostapd line {l:?}"
        );
    }
}

#[test]
fn the_network_xml_carries_names_reservations_and_ipv6() {
    let case = CASES.iter().find(|c| c.0 == "guest_lab_network").unwrap();
    let (_, files) = rendered(case);
    let xml = &files
        .iter()
        .find(|f| f.path.ends_with(".xml"))
        .unwrap()
        .content;
    for want in [
        "<domain name='lab.internal' localOnly='yes'/>",
        "<range start='192.168.77.22' end='192.168.77.254'/>",
        "<host mac='52:54:00:ab:00:01' name='web' ip='192.168.77.10'/>",
        "<host mac='52:54:00:ab:00:02' name='db' ip='192.168.77.200'/>",
        "<port isolated='yes'/>",
        "<nat ipv6='yes'>",
        "<ip family='ipv6' address='fd",
    ] {
        assert!(xml.contains(want), "missing {want:?} in\n{xml}");
    }
    let conf = &files
        .iter()
        .find(|f| f.path.ends_with("hostapd.conf"))
        .unwrap()
        .content;
    assert!(conf.lines().any(|l| l == "ap_isolate=1"), "{conf}");
    // IPv4 only, not isolated: none of it.
    let (_, files) = rendered(
        CASES
            .iter()
            .find(|c| c.0 == "guest_open_custom_names")
            .unwrap(),
    );
    let xml = &files
        .iter()
        .find(|f| f.path.ends_with(".xml"))
        .unwrap()
        .content;
    assert!(!xml.contains("ipv6") && !xml.contains("isolated"), "{xml}");
    assert!(
        xml.contains("<domain name='lobby-net' localOnly='yes'/>"),
        "{xml}"
    );
}

#[test]
fn every_network_xml_passes_libvirts_schema_and_parser() {
    let dir = tempfile::tempdir().unwrap();
    for case in CASES {
        let (_, files) = rendered(case);
        let xml = files.iter().find(|f| f.path.ends_with(".xml")).unwrap();
        let path = dir.path().join(format!("{}.xml", case.0));
        std::fs::write(&path, &xml.content).unwrap();
        let out = tool("virt-xml-validate", "libvirt-clients")
            .arg(&path)
            .arg("network")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: virt-xml-validate rejected it: {}{}\n{}",
            case.0,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            xml.content
        );
        let out = tool("virsh", "libvirt-clients")
            .args(["-c", "test:///default", "net-define"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: virsh net-define rejected it: {}{}",
            case.0,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_bad_template_is_checked_by_the_schema_too() {
    // The validation must be able to fail: a range outside the subnet is
    // rejected by libvirt's parser.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.xml");
    std::fs::write(
        &path,
        "<network><name>x</name><bridge name='virbr9'/><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.9.0.10' end='10.9.0.20'/></dhcp></ip></network>",
    )
    .unwrap();
    let out = tool("virsh", "libvirt-clients")
        .args(["-c", "test:///default", "net-define"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let path = dir.path().join("bad-schema.xml");
    std::fs::write(&path, "<network><name>x</name><bogus/></network>").unwrap();
    let out = tool("virt-xml-validate", "libvirt-clients")
        .arg(&path)
        .arg("network")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn shipped_templates_are_the_embedded_ones() {
    // The overlay directory is what an image ships; loading it must give the
    // same bytes as the built-in fallback.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../overlays/softap");
    let shipped = Templates::load(&root).unwrap();
    assert!(
        shipped.origin.ends_with("usr/share/softap/templates"),
        "{}",
        shipped.origin
    );
    let p = plan(&facts("guest.json"), &config(""), &State::default()).unwrap();
    assert_eq!(
        render(&p, Some("12345678"), &shipped).unwrap(),
        render(&p, Some("12345678"), &Templates::embedded()).unwrap()
    );
}

/// Whatever a plan carries, a newline or a space in a name never reaches a
/// line-oriented file, and channel 0 never reaches hostapd.
#[test]
fn unsafe_plan_values_are_refused_not_rendered() {
    let base = plan(&facts("guest.json"), &config(""), &State::default()).unwrap();
    let mut p = base.clone();
    p.phy.name = "phy0\n[Match]\nName=eth0".into();
    let e = render(&p, Some("correct-horse-battery"), &Templates::embedded()).unwrap_err();
    assert!(e.to_string().starts_with("phy \"phy0\\n[Match]"), "{e}");
    let mut p = base.clone();
    p.bridge = "br0 extra".into();
    assert!(render(&p, Some("correct-horse-battery"), &Templates::embedded()).is_err());
    let mut p = base;
    p.channel.number = 0;
    let e = render(&p, Some("correct-horse-battery"), &Templates::embedded()).unwrap_err();
    assert!(e.to_string().contains("channel"), "{e}");
}
