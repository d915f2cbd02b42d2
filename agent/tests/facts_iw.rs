//! `iw list` / `iw dev` texts from real drivers, as published in bug reports,
//! wikis and mailing lists (see `fixtures/iw/*.source`), read into facts.

mod common;

use std::path::PathBuf;

use common::iw_fixture;
use softap_agent::facts::iw::{from_iw_text, interfaces_from_iw_dev, IwInput};
use softap_agent::facts::{BandId, Facts, IfType, Phy};

fn fixture(name: &str) -> String {
    let path = iw_fixture(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn list(name: &str) -> Facts {
    let text = fixture(&format!("{name}.iw-list.txt"));
    from_iw_text(&text, None).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn mode_name(t: &IfType) -> String {
    serde_json::to_value(t)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// One line per phy that names everything the planner decides on.
fn summary(phy: &Phy) -> String {
    let modes: Vec<String> = phy.modes.iter().map(mode_name).collect();
    let combos: Vec<String> = phy
        .combinations
        .iter()
        .map(|c| {
            let limits: Vec<String> = c
                .limits
                .iter()
                .map(|l| {
                    let types: Vec<String> = l.types.iter().map(mode_name).collect();
                    format!("{{{}}}<={}", types.join(","), l.max)
                })
                .collect();
            format!(
                "{} total={} ch={}{}",
                limits.join("+"),
                c.total,
                c.channels,
                if c.beacon_int_must_match { " bi" } else { "" }
            )
        })
        .collect();
    let bands: Vec<String> = phy
        .bands
        .iter()
        .map(|b| {
            let count = |f: fn(&softap_agent::facts::Channel) -> bool| {
                b.channels.iter().filter(|c| f(c)).count()
            };
            format!(
                "{}:{}ch/noir{}/radar{}/off{}{}{}",
                serde_json::to_value(b.band).unwrap().as_str().unwrap(),
                b.channels.len(),
                count(|c| c.no_ir),
                count(|c| c.radar),
                count(|c| c.disabled),
                if b.ht { "/ht" } else { "" },
                if b.vht { "/vht" } else { "" },
            )
        })
        .collect();
    format!(
        "{}#{} modes=[{}] comb=[{}] bands=[{}] sae={}",
        phy.name,
        phy.index,
        modes.join(","),
        combos.join(" | "),
        bands.join(" "),
        phy.sae
    )
}

fn summaries(facts: &Facts) -> Vec<String> {
    facts.phys.iter().map(summary).collect()
}

#[test]
fn iwlwifi_2016_allows_ap_beside_station_on_two_channels() {
    let facts = list("iwlwifi-8260-ubuntu-2016");
    assert_eq!(
        summaries(&facts),
        [
            "phy0#0 modes=[ibss,managed,ap,ap-vlan,monitor,p2p-client,p2p-go,p2p-device] \
          comb=[{managed}<=1+{ap,p2p-client,p2p-go}<=1+{p2p-device}<=1 total=3 ch=2] \
          bands=[2.4GHz:13ch/noir2/radar0/off0/ht 5GHz:25ch/noir25/radar16/off0/ht/vht] sae=true"
        ]
    );
    let ch12 = &facts.phys[0].bands[0].channels[11];
    assert_eq!((ch12.number, ch12.freq_mhz, ch12.no_ir), (12, 2467, true));
    assert_eq!(ch12.max_power_dbm, Some(22.0));
}

#[test]
fn iwlwifi_611_fragment_ap_only_in_the_one_channel_combination() {
    let facts = list("iwlwifi-ax211-6.11-fragment");
    assert_eq!(
        summaries(&facts),
        ["phy0#0 modes=[managed,ap,p2p-client,p2p-go,p2p-device] \
          comb=[{managed}<=1+{p2p-client,p2p-go}<=1+{p2p-device}<=1 total=3 ch=2 | \
          {managed}<=1+{ap,p2p-client,p2p-go}<=1+{p2p-device}<=1 total=3 ch=1] bands=[] sae=false"]
    );
}

#[test]
fn archer_c7_two_phys_sorted_by_index_with_dfs_sub_lines() {
    let facts = list("ath9k-ath10k-archer-c7-openwrt");
    assert_eq!(
        summaries(&facts),
        [
            "phy0#0 modes=[managed,ap,ap-vlan,monitor,mesh-point] \
             comb=[{ap,mesh-point}<=8+{managed}<=1 total=8 ch=1 bi] \
             bands=[5GHz:25ch/noir0/radar15/off6/ht/vht] sae=false",
            "phy1#1 modes=[ibss,managed,ap,ap-vlan,wds,monitor,mesh-point,p2p-client,p2p-go,ocb] \
             comb=[{managed}<=2048+{ap,mesh-point}<=8+{p2p-client,p2p-go}<=1+{ibss}<=1 total=2048 ch=1 bi | \
             {wds}<=2048 total=2048 ch=1 bi] \
             bands=[2.4GHz:14ch/noir0/radar0/off1/ht] sae=false",
        ]
    );
}

#[test]
fn rtw88_marks_all_of_5ghz_no_ir() {
    let facts = list("rtw88-rtl8821ce");
    assert_eq!(
        summaries(&facts),
        [
            "phy0#0 modes=[ibss,managed,ap,ap-vlan,monitor,p2p-client,p2p-go] \
          comb=[{managed}<=1+{ap,p2p-client,p2p-go}<=1 total=2 ch=1] \
          bands=[2.4GHz:14ch/noir3/radar0/off0/ht 5GHz:25ch/noir25/radar16/off0/ht/vht] sae=true"
        ]
    );
}

#[test]
fn rt2800usb_leaves_managed_out_of_its_only_combination() {
    let facts = list("rt2800usb-rt5370");
    assert_eq!(facts.phys.len(), 1);
    let s = summary(&facts.phys[0]);
    assert!(
        s.starts_with("phy2#2 ") && s.contains("comb=[{ap,mesh-point}<=8 total=8 ch=1]"),
        "{s}"
    );
}

#[test]
fn mt7601u_has_no_ap_mode_and_no_combinations() {
    let facts = list("mt7601u-dm-digital");
    let phy = &facts.phys[0];
    assert_eq!(phy.modes, [IfType::Managed, IfType::Monitor]);
    assert!(phy.combinations.is_empty());
}

#[test]
fn mt76_usb_adapters() {
    let s = summaries(&list("mt7921au-comfast-cf951ax"));
    assert!(
        s[0].contains("comb=[{managed}<=4+{ap}<=1 total=4 ch=1 bi]"),
        "{s:?}"
    );
    let s = summaries(&list("mt7921u-panda-pau0f"));
    assert!(
        s[0].contains("comb=[{managed,p2p-client}<=2+{ap,p2p-go}<=1 total=2 ch=2]"),
        "{s:?}"
    );
    let s = summaries(&list("mt7612u-alfa-awus036acm"));
    assert!(
        s[0].contains(
            "comb=[{ibss}<=1+{managed,ap,mesh-point,p2p-client,p2p-go}<=2 total=2 ch=1 bi]"
        ),
        "{s:?}"
    );
}

#[test]
fn hwsim_reads_the_wiphy_wide_combinations_only() {
    let facts = list("hwsim-multi-radio-fragment");
    assert_eq!(
        summaries(&facts),
        ["phy0#0 modes=[ibss,managed,ap,mesh-point,p2p-client,p2p-go,p2p-device] \
          comb=[{ibss}<=1+{managed,ap,mesh-point,p2p-client,p2p-go}<=2048+{p2p-device}<=1 total=2050 ch=1] \
          bands=[] sae=false"]
    );
}

#[test]
fn every_fixture_parses_and_names_its_source() {
    let dir = iw_fixture("");
    let mut lists = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(stem) = name
            .strip_suffix(".iw-list.txt")
            .or_else(|| name.strip_suffix(".iw-dev.txt"))
        else {
            continue;
        };
        let source = dir.join(format!("{stem}.source"));
        let source_text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{name} needs {}: {e}", source.display()));
        assert!(
            source_text.contains("Source:"),
            "{} names no source",
            source.display()
        );
        let text = std::fs::read_to_string(&path).unwrap();
        if name.ends_with(".iw-list.txt") {
            lists += 1;
            let facts = from_iw_text(&text, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!facts.phys.is_empty(), "{name}: no phy");
            // Real outputs pass the checks applied to pasted ones.
            softap_agent::facts::validate::validate(&facts)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            // The JSON round trip is what `detect --json` and `--facts` rely on.
            let json = serde_json::to_string(&facts).unwrap();
            let back: Facts = serde_json::from_str(&json).unwrap();
            assert_eq!(back, facts, "{name}");
        } else {
            let interfaces =
                interfaces_from_iw_dev(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            softap_agent::facts::validate::validate_interfaces(&interfaces)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    assert!(lists >= 6, "only {lists} iw list fixtures");
}

#[test]
fn iw_dev_interfaces_with_channel() {
    let facts = from_iw_text(
        &fixture("rtw88-rtl8821ce.iw-list.txt"),
        Some(&fixture("associated-ch7.iw-dev.txt")),
    )
    .unwrap();
    assert_eq!(facts.interfaces.len(), 1);
    let i = &facts.interfaces[0];
    assert_eq!(
        (i.name.as_str(), i.ifindex, i.phy, i.iftype),
        ("wlp6s0", 3, 0, IfType::Managed)
    );
    assert_eq!(i.ssid.as_deref(), Some("wifi-name"));
    assert_eq!((i.channel, i.freq_mhz), (Some(7), Some(2442)));
    assert_eq!((i.width_mhz, i.center1_mhz), (Some(20), Some(2442)));

    let interfaces = interfaces_from_iw_dev(&fixture("rpi-unassociated.iw-dev.txt")).unwrap();
    let i = &interfaces[0];
    assert_eq!(
        (i.name.as_str(), i.channel, i.ssid.as_deref()),
        ("wlan0", None, None)
    );
}

#[test]
fn several_phys_tabs_and_spaces_and_unnamed_interfaces() {
    let list = "Wiphy phy3\n\twiphy index: 3\n\tSupported interface modes:\n\t\t * managed\n\t\t * AP\n\
                \tBand 1:\n\t\tFrequencies:\n\t\t\t* 2412.0 MHz [1] (20.0 dBm)\n\
                \t\t\t* 2467.0 MHz [12] (20.0 dBm) (passive scanning, no IBSS)\n\
                \tinterface combinations are not supported\n\
                Wiphy phy1\n    Supported interface modes:\n         * managed\n\
                    Supported extended features:\n        * [ SAE_OFFLOAD ]: SAE offload support\n\
                Wiphy phy2\n    Supported extended features:\n        * [ SAE_OFFLOAD_AP ]: AP mode SAE authentication offload support\n";
    let dev = "phy#3\n\tUnnamed/non-netdev interface\n\t\twdev 0x2\n\t\ttype P2P-device\n\
               \tInterface wlan1\n\t\tifindex 7\n\t\ttype AP\n\t\tssid my net\n\
               \t\tchannel 1 (2412 MHz), width: 20 MHz (no HT), center1: 2412 MHz\n";
    let facts = from_iw_text(list, Some(dev)).unwrap();
    let names: Vec<&str> = facts.phys.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["phy1", "phy2", "phy3"]);
    // STA-side SAE offload does not make an AP WPA3-capable; AP offload does.
    assert!(!facts.phys[0].sae);
    assert!(facts.phys[1].sae);
    let phy3 = &facts.phys[2];
    assert_eq!(phy3.bands[0].band, BandId::Band2G4);
    assert!(phy3.bands[0].channels[1].no_ir);
    assert!(phy3.combinations.is_empty());
    assert_eq!(facts.interfaces.len(), 1);
    assert_eq!(facts.interfaces[0].phy, 3);
    assert_eq!(facts.interfaces[0].ssid.as_deref(), Some("my net"));
}

#[test]
fn sae_feature_needs_the_authenticate_command_when_commands_are_listed() {
    let with = "Wiphy phy0\n\tSupported commands:\n\t\t * authenticate\n\tDevice supports SAE with AUTHENTICATE command\n";
    let without = "Wiphy phy0\n\tSupported commands:\n\t\t * connect\n\tDevice supports SAE with AUTHENTICATE command\n";
    assert!(from_iw_text(with, None).unwrap().phys[0].sae);
    assert!(!from_iw_text(without, None).unwrap().phys[0].sae);
}

#[test]
fn errors_name_the_line_and_what_was_wrong() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "Wiphy phy0\n\tvalid interface combinations:\n\t\t * #{ managed } <= 1, #{ AP } <= 1,\n\t\t   total <= 2\n",
            3,
            "#channels",
        ),
        (
            "Wiphy phy0\n\tBand 1:\n\t\tFrequencies:\n\t\t\t* 2412 MHz [1] (20.0 dBm)\n\t\t\t* twenty MHz [2]\n",
            5,
            "not a number",
        ),
        (
            "Wiphy phy0\n\tSupported interface modes:\n\t\t * managed\n\t\t * teleporter\n",
            4,
            "unknown interface mode",
        ),
        (
            "Wiphy phy0\n\tvalid interface combinations:\n\t\t * #{ managed, warp drive } <= 1,\n\t\t   total <= 1, #channels <= 1\n",
            3,
            "unknown interface type",
        ),
        ("Wiphy phy0\n\twiphy index: 3x\n", 2, "wiphy index"),
        ("hello\nworld\n", 1, "Wiphy"),
    ];
    for (text, line, what) in cases {
        let e = from_iw_text(text, None).expect_err(text);
        assert_eq!(e.input, IwInput::List);
        assert_eq!(e.line, *line, "{e}");
        assert!(e.to_string().contains(what), "{e} lacks {what:?}");
        assert!(e.to_string().contains(&format!("line {line}")), "{e}");
    }
    let e = interfaces_from_iw_dev("phy#0\n\tInterface wlan0\n\t\tifindex three\n").unwrap_err();
    assert_eq!((e.input, e.line), (IwInput::Dev, 3));
    let e = interfaces_from_iw_dev("phy#0\n\tInterface wlan0\n\t\ttype managed\n").unwrap_err();
    assert!(e.to_string().contains("ifindex") && e.line == 2, "{e}");
    let e = interfaces_from_iw_dev(
        "phy#0\n\tInterface wlan0\n\t\tifindex 3\n\t\twiphy 1\n\t\ttype managed\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("phy#0") && e.line == 4, "{e}");
}

/// A text without a phy is the wrong file or a cut paste: saying so beats
/// an empty success that reads as "no radio".
#[test]
fn a_text_without_a_phy_or_an_interface_is_an_error() {
    for list in ["", "\n  \n", "> \n"] {
        let e = from_iw_text(list, None).unwrap_err();
        assert_eq!((e.input, e.line), (IwInput::List, 0));
        assert_eq!(
            e.to_string(),
            "iw list output: no phy in this text (no `Wiphy phyN` line)"
        );
    }
    let list = "Wiphy phy0\n\tSupported interface modes:\n\t\t * AP\n";
    for dev in [
        "",
        "phy#0\n",
        "phy#0\n\tUnnamed/non-netdev interface\n\t\ttype P2P-device\n",
    ] {
        let e = from_iw_text(list, Some(dev)).unwrap_err();
        assert_eq!((e.input, e.line), (IwInput::Dev, 0), "{dev:?}");
        assert!(e.to_string().contains("no interface in this text"), "{e}");
    }
}

/// `iw dev NAME info` has no `phy#N` header; the phy is on `wiphy N`.
#[test]
fn iw_dev_info_names_the_phy_on_its_wiphy_line() {
    let info = "Interface wlp3s0\n\tifindex 4\n\twdev 0x200000001\n\taddr 02:00:00:00:01:00\n\
                \tssid upstream\n\ttype managed\n\twiphy 2\n\
                \tchannel 36 (5180 MHz), width: 80 MHz, center1: 5210 MHz\n\ttxpower 20.00 dBm\n";
    let interfaces = interfaces_from_iw_dev(info).unwrap();
    assert_eq!(interfaces.len(), 1);
    let i = &interfaces[0];
    assert_eq!(
        (i.name.as_str(), i.ifindex, i.phy, i.iftype),
        ("wlp3s0", 4, 2, IfType::Managed)
    );
    assert_eq!((i.channel, i.freq_mhz), (Some(36), Some(5180)));
    let e = interfaces_from_iw_dev("Interface wlp3s0\n\tifindex 4\n\ttype managed\n").unwrap_err();
    assert!(e.to_string().contains("wiphy N") && e.line == 1, "{e}");
}

mod properties {
    use proptest::prelude::*;
    use softap_agent::facts::iw::from_iw_text;

    const PIECES: &[&str] = &[
        "Wiphy phy0",
        "\tSupported interface modes:",
        "\t\t * AP",
        "\t\t * managed",
        "\tBand 1:",
        "\tBand 2:",
        "\t\tFrequencies:",
        "\t\t\t* 2412 MHz [1] (20.0 dBm)",
        "\t\t\t* 5260 MHz [52] (no IR, radar detection)",
        "\t\t\t  DFS state: usable",
        "\tvalid interface combinations:",
        "\t\t * #{ managed } <= 1, #{ AP } <= 1,",
        "\t\t   total <= 2, #channels <= 1",
        "\tSupported commands:",
        "\t\t * authenticate",
        "\tDevice supports SAE with AUTHENTICATE command",
        "phy#0",
        "\tInterface wlan0",
        "\t\tifindex 3",
        "\t\tchannel 6 (2437 MHz)",
    ];

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(list in ".{0,400}", dev in ".{0,200}") {
            let _ = from_iw_text(&list, Some(&dev));
        }

        #[test]
        fn shuffled_real_lines_never_panic(
            picks in proptest::collection::vec((0..PIECES.len(), ".{0,12}"), 0..60)
        ) {
            let text: String = picks
                .iter()
                .map(|(i, noise)| format!("{}{}\n", PIECES[*i], noise))
                .collect();
            let _ = from_iw_text(&text, Some(&text));
        }
    }
}

/// The facts-level claims of every `*.expect.toml` (modes, SAE, usable
/// channels) hold for the parsed fixture; the combination claims are the
/// planner's to check.
#[test]
fn expect_files_agree_with_the_facts() {
    let dir = iw_fixture("");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".expect.toml") else {
            continue;
        };
        let expect: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let facts = list(stem);
        for want in expect["phy"].as_array().unwrap() {
            let phy_name = want["name"].as_str().unwrap();
            let phy = facts
                .phys
                .iter()
                .find(|p| p.name == phy_name)
                .unwrap_or_else(|| panic!("{name}: no {phy_name}"));
            assert_eq!(
                phy.modes.contains(&IfType::Ap),
                want["ap_mode"].as_bool().unwrap(),
                "{name} {phy_name} ap_mode"
            );
            assert_eq!(
                phy.sae,
                want["wpa3"].as_bool().unwrap(),
                "{name} {phy_name} wpa3"
            );
            for (key, band) in [
                ("ap_channels_2g", BandId::Band2G4),
                ("ap_channels_5g", BandId::Band5G),
            ] {
                let Some(list) = want.get(key) else { continue };
                let expected: Vec<i64> = list
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_integer().unwrap())
                    .collect();
                let usable: Vec<i64> = phy
                    .bands
                    .iter()
                    .filter(|b| b.band == band)
                    .flat_map(|b| &b.channels)
                    .filter(|c| !c.disabled && !c.no_ir && !c.radar)
                    .map(|c| i64::from(c.number))
                    .collect();
                assert_eq!(usable, expected, "{name} {phy_name} {key}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} phys checked");
}

/// The same kernel's answer, once as `iw list` text and once read over
/// nl80211 by the live gatherer (mac80211_hwsim, see the .source files),
/// gives the same phys: the two readers cannot drift apart.
#[test]
fn iw_text_and_nl80211_agree_on_hwsim() {
    let from_text = from_iw_text(
        &fixture("hwsim-6.1-radios2.iw-list.txt"),
        Some(&fixture("hwsim-6.1-radios2.iw-dev.txt")),
    )
    .unwrap();
    let live_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/live/hwsim-6.1-radios2.facts.json");
    let live: Facts = serde_json::from_str(&std::fs::read_to_string(live_path).unwrap()).unwrap();
    assert_eq!(from_text.phys.len(), live.phys.len());
    for (text, nl) in from_text.phys.iter().zip(&live.phys) {
        // iw does not print the driver; everything else must match. The
        // capture predates the capability words, stream counts and HE data
        // (their nl80211 reading is tested on messages in facts_nl80211.rs,
        // the text's below): compare what both carry.
        let mut nl = nl.clone();
        nl.driver = None;
        let mut text = text.clone();
        for b in &mut text.bands {
            b.ht_capa = None;
            b.ht_streams = None;
            b.vht_capa = None;
            b.vht_streams = None;
            b.he_ap = None;
        }
        let text = &text;
        assert_eq!(text.name, nl.name);
        assert_eq!(text.index, nl.index);
        assert_eq!(text.modes, nl.modes, "{}", text.name);
        assert_eq!(text.combinations, nl.combinations, "{}", text.name);
        assert_eq!(text.sae, nl.sae, "{}", text.name);
        assert_eq!(text.bands.len(), nl.bands.len(), "{}", text.name);
        for (a, b) in text.bands.iter().zip(&nl.bands) {
            assert_eq!(
                (a.band, a.ht, a.vht),
                (b.band, b.ht, b.vht),
                "{}",
                text.name
            );
            assert_eq!(a.channels, b.channels, "{} {:?}", text.name, a.band);
        }
        assert_eq!(text, &nl);
    }
    // The capability words and HE data as iw prints them for hwsim.
    let five = &from_text.phys[0].bands[1];
    assert_eq!(five.band, BandId::Band5G);
    assert_eq!(five.ht_capa, Some(0x107e));
    assert_eq!(five.vht_capa, Some(0x038004fa));
    assert_eq!(five.ht_streams, Some(2));
    let he = five.he_ap.as_ref().expect("HE for AP on 5 GHz");
    assert_eq!((he.phy_cap0, he.streams, he.eht), (0x1c, 2, true));
    assert!(he.he80() && he.he160());
    let two = &from_text.phys[0].bands[0];
    assert_eq!(two.he_ap.as_ref().map(|h| h.phy_cap0), Some(0));
    // iw dev after joining an IBSS on phy0.
    let wlan0 = from_text
        .interfaces
        .iter()
        .find(|i| i.name == "wlan0")
        .unwrap();
    assert_eq!((wlan0.phy, wlan0.iftype), (0, IfType::Ibss));
    assert_eq!(wlan0.ssid.as_deref(), Some("softap-test"));
}

#[test]
fn quoted_replies_and_crlf_read_like_the_original() {
    let original = fixture("rtw88-rtl8821ce.iw-list.txt");
    let quoted: String = original.lines().map(|l| format!("> {l}\r\n")).collect();
    let twice: String = original.lines().map(|l| format!("> > {l}\n")).collect();
    let expected = from_iw_text(&original, None).unwrap();
    assert_eq!(from_iw_text(&quoted, None).unwrap(), expected);
    assert_eq!(from_iw_text(&twice, None).unwrap(), expected);
}

#[test]
fn brcmfmac_and_rtl8xxxu_from_the_red_pitaya_docs() {
    assert_eq!(
        summaries(&list("brcmfmac-bcm43143")),
        [
            "phy3#3 modes=[ibss,managed,ap,p2p-client,p2p-go,p2p-device] \
          comb=[{managed}<=1+{p2p-device}<=1+{p2p-client,p2p-go}<=1 total=3 ch=1 | \
          {managed}<=1+{ap}<=1+{p2p-client}<=1+{p2p-device}<=1 total=4 ch=1] \
          bands=[2.4GHz:14ch/noir0/radar0/off3/ht] sae=false"
        ]
    );
    assert_eq!(
        summaries(&list("rtl8xxxu-rtl8188cus")),
        ["phy0#0 modes=[managed,monitor] comb=[] bands=[2.4GHz:14ch/noir3/radar0/off0/ht] sae=true"]
    );
}
