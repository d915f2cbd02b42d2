//! The planner against real `iw list` outputs of many drivers (the fixtures
//! and their `*.expect.toml` live in tests/fixtures/iw): each phy's
//! properties, and each scenario's decision.

mod common;

use std::path::PathBuf;

use common::{agent, iw_fixture, run_json, run_ok};

use serde::Deserialize;
use softap_agent::facts::iw::from_iw_text;
use softap_agent::facts::{Band, BandId, Channel, Facts, IfType, WirelessInterface};
use softap_agent::plan::channel::unusable;
use softap_agent::plan::phy::evaluate;
use softap_agent::plan::{plan, SecurityMode};
use softap_agent::state::State;

#[derive(Debug, Deserialize)]
struct Expect {
    #[serde(default)]
    phy: Vec<PhyExpect>,
    #[serde(default)]
    scenario: Vec<Scenario>,
}

#[derive(Debug, Deserialize)]
struct PhyExpect {
    name: String,
    ap_mode: bool,
    ap_beside_station: bool,
    channels_beside_station: Option<u32>,
    beacon_int_must_match: Option<bool>,
    wpa3: bool,
    ap_channels_2g: Option<Vec<u16>>,
    ap_channels_5g: Option<Vec<u16>>,
}

#[derive(Debug, Deserialize)]
struct Scenario {
    station: Option<StationAt>,
    country: Option<String>,
    expect: String,
}

#[derive(Debug, Deserialize)]
struct StationAt {
    phy: String,
    channel: u16,
}

/// What the planner must decide, per fixture and scenario index: the phy
/// and channel of the AP, or the words an error must contain.
enum Want {
    Ap(&'static str, u16),
    Fails(&'static [&'static str]),
}

fn wanted(fixture: &str, index: usize) -> Want {
    use Want::*;
    match (fixture, index) {
        // Without a country the 5 GHz-only phy0 has no channel: phy1 follows.
        ("ath9k-ath10k-archer-c7-openwrt", 0) => Ap("phy1", 6),
        ("ath9k-ath10k-archer-c7-openwrt", 1) => Ap("phy1", 6),
        ("hwsim-multi-radio-fragment", 0) => Ap("phy0", 1),
        ("hwsim-6.1-radios2", 0) => Ap("phy0", 6),
        // The free radio is preferred over sharing one.
        ("hwsim-6.1-radios2", 1) => Ap("phy1", 6),
        ("iwlwifi-8260-ubuntu-2016", 0) => Ap("phy0", 6),
        ("iwlwifi-8260-ubuntu-2016", 1) => Ap("phy0", 6),
        ("iwlwifi-ax211-6.11-fragment", 0) => Ap("phy0", 1),
        ("mt7601u-dm-digital", 0) => Fails(&["phyX (modes: managed, monitor): no AP mode"]),
        ("mt7612u-alfa-awus036acm", 0) => Ap("phyX", 1),
        ("mt7921au-comfast-cf951ax", 0) => Ap("phyX", 11),
        ("mt7921u-panda-pau0f", 0) => Ap("phy1", 6),
        ("rt2800usb-rt5370", 0) => Fails(&["phy2", "no single combination"]),
        ("rt2800usb-rt5370", 1) => Ap("phy2", 6),
        ("rtw88-rtl8821ce", 0) => Ap("phy0", 6),
        ("rtw88-rtl8821ce", 1) => Fails(&["channel 36", "no-IR", "Remedy", "second radio"]),
        _ => {
            panic!("{fixture} scenario {index} has no wanted outcome in plan_fixtures.rs: add one")
        }
    }
}

fn fixtures() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(iw_fixture(""))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p
                .file_name()?
                .to_str()?
                .strip_suffix(".expect.toml")?
                .to_string();
            Some((name, p))
        })
        .collect();
    out.sort();
    out
}

fn load(name: &str) -> Facts {
    let text = std::fs::read_to_string(iw_fixture(&format!("{name}.iw-list.txt"))).unwrap();
    let mut f = from_iw_text(&text, None).unwrap();
    // Fragments carry combinations only; give them a plain 2.4 GHz band so
    // the combination rule, which is what they are for, can be exercised.
    for p in &mut f.phys {
        if p.bands.is_empty() {
            p.bands.push(Band {
                band: BandId::Band2G4,
                ht: true,
                channels: (1..=11)
                    .map(|n| Channel {
                        number: n,
                        freq_mhz: 2407 + 5 * u32::from(n),
                        ..Channel::default()
                    })
                    .collect(),
                ..Band::default()
            });
        }
    }
    f
}

fn add_station(f: &mut Facts, phy: &str, channel: u16) {
    let p = f.phys.iter().find(|p| p.name == phy).unwrap();
    let freq = p
        .bands
        .iter()
        .flat_map(|b| b.channels.iter())
        .find(|c| c.number == channel && c.freq_mhz < 5900)
        .map(|c| c.freq_mhz);
    f.interfaces.push(WirelessInterface {
        name: "wlan0".into(),
        ifindex: 3,
        phy: p.index,
        iftype: IfType::Managed,
        ssid: Some("upstream".into()),
        channel: Some(channel),
        freq_mhz: freq,
        width_mhz: None,
        center1_mhz: None,
    });
}

#[test]
fn there_are_at_least_six_drivers() {
    assert!(fixtures().len() >= 6, "{:?}", fixtures());
}

#[test]
fn every_phy_property_holds() {
    for (name, path) in fixtures() {
        let expect: Expect = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let facts = load(&name);
        for e in &expect.phy {
            let ctx = format!("{name}: {}", e.name);
            let p = facts
                .phys
                .iter()
                .find(|p| p.name == e.name)
                .unwrap_or_else(|| panic!("{ctx}: phy missing"));
            assert_eq!(p.modes.contains(&IfType::Ap), e.ap_mode, "{ctx}: ap_mode");
            let mut with_station = facts.clone();
            with_station.interfaces.push(WirelessInterface {
                name: "wlan0".into(),
                ifindex: 3,
                phy: p.index,
                iftype: IfType::Managed,
                ssid: None,
                channel: None,
                freq_mhz: None,
                width_mhz: None,
                center1_mhz: None,
            });
            let fit = evaluate(&with_station, p, "softap");
            assert_eq!(
                fit.is_ok(),
                e.ap_beside_station,
                "{ctx}: ap_beside_station {fit:?}"
            );
            if let Ok(fit) = &fit {
                let c = fit.combination.as_ref().unwrap();
                if let Some(n) = e.channels_beside_station {
                    assert_eq!(c.channels, n, "{ctx}: channels_beside_station");
                }
                if let Some(b) = e.beacon_int_must_match {
                    assert_eq!(
                        fit.beacon_int_must_match(),
                        b,
                        "{ctx}: beacon_int_must_match"
                    );
                }
            }
            assert_eq!(p.sae, e.wpa3, "{ctx}: wpa3");
            if e.ap_mode {
                let only = common::config(&format!("phy = \"{}\"", e.name));
                let pl = plan(&facts, &only, &State::default());
                if let Ok(pl) = pl {
                    let want = if e.wpa3 {
                        SecurityMode::Wpa3Transition
                    } else {
                        SecurityMode::Wpa2
                    };
                    assert_eq!(pl.security, want, "{ctx}: security");
                }
            }
            for (band, want) in [
                (BandId::Band2G4, &e.ap_channels_2g),
                (BandId::Band5G, &e.ap_channels_5g),
            ] {
                let Some(want) = want else { continue };
                let got: Vec<u16> = p
                    .bands
                    .iter()
                    .filter(|b| b.band == band)
                    .flat_map(|b| b.channels.iter())
                    // With a country configured: the phy's own flags decide.
                    .filter(|c| unusable(band, c, Some("US"), false).is_none())
                    .map(|c| c.number)
                    .collect();
                assert_eq!(&got, want, "{ctx}: AP channels in {band:?}");
            }
        }
    }
}

#[test]
fn every_scenario_gets_the_right_decision() {
    for (name, path) in fixtures() {
        let expect: Expect = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (i, s) in expect.scenario.iter().enumerate() {
            let mut facts = load(&name);
            if let Some(st) = &s.station {
                add_station(&mut facts, &st.phy, st.channel);
            }
            let cfg = match s.country.as_deref() {
                None | Some("none") => common::config(""),
                Some(c) => common::config(&format!("country = \"{c}\"")),
            };
            let ctx = format!("{name} scenario {i} ({})", s.expect);
            let got = plan(&facts, &cfg, &State::default());
            match (wanted(&name, i), got) {
                (Want::Ap(phy, ch), Ok(p)) => {
                    assert_eq!(
                        (p.phy.name.as_str(), p.channel.number),
                        (phy, ch),
                        "{ctx}\n{}",
                        p.explain()
                    );
                }
                (Want::Ap(..), Err(e)) => panic!("{ctx}: failed: {e}"),
                (Want::Fails(words), Ok(p)) => {
                    panic!("{ctx}: must fail ({words:?}) but planned:\n{}", p.explain())
                }
                (Want::Fails(words), Err(e)) => {
                    let msg = e.to_string();
                    assert_eq!(e.exit_code(), 3, "{ctx}: {msg}");
                    for w in words {
                        assert!(msg.contains(w), "{ctx}: {w:?} missing in {msg}");
                    }
                }
            }
        }
    }
}

#[test]
fn detect_from_iw_list_then_plan_through_the_cli() {
    // The path a user takes: iw text -> facts JSON -> plan.
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        agent()
            .args(["detect", "--json", "--from-iw-list"])
            .arg(iw_fixture("rtw88-rtl8821ce.iw-list.txt")),
    );
    let facts = dir.path().join("facts.json");
    std::fs::write(&facts, &out.stdout).unwrap();
    let v: serde_json::Value = run_json(
        agent()
            .args(["plan", "--json", "--root"])
            .arg(dir.path())
            .arg("--facts")
            .arg(&facts),
    );
    assert_eq!(v["plan"]["phy"]["name"], "phy0");
    assert_eq!(v["plan"]["security"], "wpa3-transition");
}

#[test]
fn iw_dev_interfaces_count_as_neighbours() {
    let facts: Facts = run_json(
        agent()
            .args(["detect", "--json", "--from-iw-list"])
            .arg(iw_fixture("hwsim-6.1-radios2.iw-list.txt"))
            .arg("--iw-dev")
            .arg(iw_fixture("hwsim-6.1-radios2.iw-dev.txt")),
    );
    let p = plan(&facts, &common::config(""), &State::default()).unwrap();
    assert_eq!(p.phy.name, "phy0");
    assert_eq!(p.phy.fit.beside, vec!["wlan0 (IBSS)".to_string()]);
    assert_eq!(p.channel.number, 6);
}
