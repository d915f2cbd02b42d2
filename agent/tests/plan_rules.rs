//! The planning rules (the module docs of agent/src/plan/phy.rs, channel.rs
//! and subnet.rs), each on plain facts.

mod common;

use common::{config, facts};
use softap_agent::facts::{Combination, Facts, IfType, Limit, WirelessInterface};
use softap_agent::plan::{plan, PlanError, SecurityMode};
use softap_agent::state::State;

fn station(phy: u32, channel: u16, freq: u32) -> WirelessInterface {
    WirelessInterface {
        name: format!("wlan{phy}"),
        ifindex: 10 + phy,
        phy,
        iftype: IfType::Managed,
        ssid: Some("upstream".into()),
        channel: Some(channel),
        freq_mhz: Some(freq),
        width_mhz: None,
        center1_mhz: None,
    }
}

fn one_phy() -> Facts {
    let mut f = facts("guest.json");
    f.phys.truncate(1);
    f
}

#[test]
fn no_ap_mode_anywhere_names_every_phy_and_its_modes() {
    let mut f = facts("guest.json");
    for p in &mut f.phys {
        p.modes = vec![IfType::Managed, IfType::Monitor];
    }
    let e = plan(&f, &config(""), &State::default()).unwrap_err();
    assert_eq!(e.exit_code(), 3);
    let msg = e.to_string();
    for want in ["phy0", "phy1", "no AP mode", "managed, monitor"] {
        assert!(msg.contains(want), "{want:?} missing in {msg}");
    }
}

#[test]
fn no_phy_at_all_says_so() {
    let f = Facts::default();
    let msg = plan(&f, &config(""), &State::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no wireless phy was found"), "{msg}");
}

#[test]
fn no_combinations_means_a_phy_of_its_own() {
    let mut f = one_phy();
    f.phys[0].combinations.clear();
    f.interfaces.push(station(0, 6, 2437));
    let msg = plan(&f, &config(""), &State::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("declares no interface combinations"), "{msg}");
    // With a second, free radio the AP goes there.
    let mut f = facts("guest.json");
    f.phys[0].combinations.clear();
    f.interfaces.push(station(0, 6, 2437));
    let p = plan(&f, &config(""), &State::default()).unwrap();
    assert_eq!(p.phy.name, "phy1");
    assert!(p.rejected.iter().any(|n| n.text.contains("phy0")));
}

#[test]
fn managed_left_out_of_the_ap_combination_cannot_share() {
    let mut f = one_phy();
    f.phys[0].combinations = vec![
        Combination {
            limits: vec![Limit {
                max: 1,
                types: vec![IfType::Managed],
            }],
            total: 1,
            channels: 2,
            beacon_int_must_match: false,
        },
        Combination {
            limits: vec![Limit {
                max: 8,
                types: vec![IfType::Ap],
            }],
            total: 8,
            channels: 1,
            beacon_int_must_match: false,
        },
    ];
    f.interfaces.push(station(0, 6, 2437));
    let msg = plan(&f, &config(""), &State::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no single combination"), "{msg}");
}

#[test]
fn intel_611_one_channel_combination_applies_not_the_other_twos() {
    // typical.json: iwlwifi with a 2-channel combination without AP and a
    // 1-channel one with AP; the station is on channel 6.
    let p = plan(
        &facts("typical.json"),
        &config("channel = 1"),
        &State::default(),
    )
    .unwrap();
    assert_eq!(p.channel.number, 6, "must follow the station");
    assert_eq!(p.phy.fit.combination.as_ref().unwrap().channels, 1);
    assert!(p
        .decisions
        .iter()
        .any(|n| n.text.contains("configured channel 1 is ignored")));
}

#[test]
fn two_channels_allowed_keeps_the_configured_channel() {
    let mut f = one_phy();
    f.phys[0].combinations[0].channels = 2;
    f.interfaces.push(station(0, 11, 2462));
    let p = plan(&f, &config("channel = 1"), &State::default()).unwrap();
    assert_eq!(p.channel.number, 1);
    assert!(p.phy.fit.follow.is_none());
}

#[test]
fn station_on_a_no_ir_channel_cannot_be_followed() {
    let mut f = one_phy();
    f.phys[0].combinations[0].channels = 1;
    for b in &mut f.phys[0].bands {
        for c in &mut b.channels {
            if c.number == 36 {
                c.no_ir = true;
            }
        }
    }
    f.interfaces.push(station(0, 36, 5180));
    let e = plan(&f, &config("country = \"DE\""), &State::default()).unwrap_err();
    let msg = e.to_string();
    for want in ["channel 36", "no-IR", "Remedy", "second radio"] {
        assert!(msg.contains(want), "{want:?} missing in {msg}");
    }
    // A second free radio solves it.
    let mut f2 = facts("guest.json");
    f2.phys[0] = f.phys[0].clone();
    f2.interfaces = f.interfaces.clone();
    let p = plan(&f2, &config("country = \"DE\""), &State::default()).unwrap();
    assert_eq!(p.phy.name, "phy1");
}

#[test]
fn all_of_5ghz_no_ir_leaves_2g4() {
    let mut f = one_phy();
    for b in &mut f.phys[0].bands {
        if b.channels[0].number == 36 {
            for c in &mut b.channels {
                c.no_ir = true;
            }
        }
    }
    let e = plan(
        &f,
        &config("country = \"US\"\nchannel = 44"),
        &State::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no-IR"), "{e}");
    let p = plan(&f, &config("country = \"US\""), &State::default()).unwrap();
    assert_eq!(p.channel.number, 6);
    assert_eq!(p.channel.hw_mode, "g");
}

#[test]
fn radar_and_disabled_channels_are_never_used() {
    let f = one_phy();
    let e = plan(
        &f,
        &config("country = \"DE\"\nchannel = 52"),
        &State::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("radar"), "{e}");
    let mut f = one_phy();
    f.phys[0].bands[0].channels[5].disabled = true; // channel 6
    let p = plan(&f, &config(""), &State::default()).unwrap();
    assert_eq!(p.channel.number, 1);
    assert!(p
        .decisions
        .iter()
        .any(|n| n.text.contains("channel 6 is disabled")));
}

#[test]
fn five_ghz_needs_a_country() {
    let e = plan(&one_phy(), &config("channel = 36"), &State::default()).unwrap_err();
    assert!(e.to_string().contains("country"), "{e}");
    let p = plan(
        &one_phy(),
        &config("channel = 36\ncountry = \"FR\""),
        &State::default(),
    )
    .unwrap();
    assert_eq!(p.channel.hw_mode, "a");
    assert!(p.channel.vht);
}

#[test]
fn channels_12_to_14_need_a_country() {
    let e = plan(&one_phy(), &config("channel = 13"), &State::default()).unwrap_err();
    assert!(e.to_string().contains("country"), "{e}");
}

#[test]
fn security_follows_sae_support() {
    let mut f = one_phy();
    let p = plan(&f, &config(""), &State::default()).unwrap();
    assert_eq!(p.security, SecurityMode::Wpa3Transition);
    f.phys[0].sae = false;
    let p = plan(&f, &config(""), &State::default()).unwrap();
    assert_eq!(p.security, SecurityMode::Wpa2);
    assert!(p
        .decisions
        .iter()
        .any(|n| n.text.contains("does not report SAE")));
    let e = plan(
        &f,
        &config("security = \"wpa3-transition\""),
        &State::default(),
    )
    .unwrap_err();
    assert!(matches!(e, PlanError::SaeUnsupported { .. }));
    let p = plan(&f, &config("security = \"open\""), &State::default()).unwrap();
    assert_eq!(p.security, SecurityMode::Open);
}

#[test]
fn configured_phy_is_used_or_explained() {
    let p = plan(
        &facts("guest.json"),
        &config("phy = \"phy1\""),
        &State::default(),
    )
    .unwrap();
    assert_eq!(p.phy.name, "phy1");
    let e = plan(
        &facts("guest.json"),
        &config("phy = \"phy7\""),
        &State::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("phy0, phy1"), "{e}");
    let mut f = facts("guest.json");
    f.phys[1].modes.retain(|m| *m != IfType::Ap);
    let e = plan(&f, &config("phy = \"phy1\""), &State::default()).unwrap_err();
    assert!(e.to_string().contains("no AP mode"), "{e}");
}

#[test]
fn free_radio_is_preferred_over_sharing() {
    let mut f = facts("guest.json");
    f.interfaces.push(station(0, 11, 2462));
    let p = plan(&f, &config(""), &State::default()).unwrap();
    assert_eq!(p.phy.name, "phy1");
    assert!(p.phy.fit.beside.is_empty());
}

#[test]
fn own_interface_does_not_count_as_a_competitor() {
    let mut f = one_phy();
    f.phys[0].combinations.clear();
    f.interfaces.push(WirelessInterface {
        name: "softap".into(),
        ifindex: 9,
        phy: 0,
        iftype: IfType::Ap,
        ssid: Some("softap-1234".into()),
        channel: Some(6),
        freq_mhz: Some(2437),
        width_mhz: None,
        center1_mhz: None,
    });
    assert_eq!(
        plan(&f, &config(""), &State::default()).unwrap().phy.name,
        "phy0"
    );
}

#[test]
fn our_own_libvirt_network_is_not_a_conflict_but_others_are() {
    let mut f = facts("guest.json");
    f.libvirt
        .networks
        .push(softap_agent::facts::LibvirtNetwork {
            name: "softap".into(),
            bridge: Some("virbr0".into()),
            active: true,
            subnets: vec!["172.16.0.1/16".parse().unwrap()],
        });
    f.addresses.push(softap_agent::facts::Address {
        ifname: "virbr0".into(),
        addr: "172.16.0.1/16".parse().unwrap(),
    });
    let prev = State {
        subnet: Some("172.16.0.0/16".parse().unwrap()),
        bridge: Some("virbr0".into()),
        ..State::default()
    };
    let p = plan(&f, &config(""), &prev).unwrap();
    assert_eq!(p.subnet.net.to_string(), "172.16.0.0/16");
    assert_eq!(p.bridge, "virbr0");
    f.libvirt.networks[0].name = "other".into();
    let p = plan(&f, &config(""), &prev).unwrap();
    assert_ne!(p.subnet.net.to_string(), "172.16.0.0/16");
    assert_ne!(p.bridge, "virbr0");
    assert!(p.conflicts.contains(&"172.16.0.0/16".parse().unwrap()));
}

#[test]
fn policy_table_routes_count() {
    // typical.json has a WireGuard 172.16.0.0/12 in table 51820: no 172.16-31.
    let p = plan(&facts("typical.json"), &config(""), &State::default()).unwrap();
    let first = p.subnet.net.addr().octets();
    assert!(
        !(first[0] == 172 && (16..32).contains(&first[1])),
        "{}",
        p.subnet.net
    );
    assert!(p.decisions.iter().any(|n| n.text.contains("table 51820")));
}

#[test]
fn exhausted_pool_is_a_clear_error() {
    let e = plan(
        &facts("typical.json"),
        &config("subnet_pool = [\"172.17.0.0/16\", \"192.168.1.0/24\"]"),
        &State::default(),
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 4);
    let msg = e.to_string();
    assert!(
        msg.contains("172.17.0.0/16 overlaps address 172.17.0.1/16 on docker0"),
        "{msg}"
    );
    assert!(msg.contains("192.168.1.0/24"), "{msg}");
}

#[test]
fn plan_is_deterministic_and_stable_across_runs() {
    let f = facts("typical.json");
    let c = config("");
    let a = plan(&f, &c, &State::default()).unwrap();
    let b = plan(&f, &c, &State::default()).unwrap();
    assert_eq!(a, b);
    let again = plan(&f, &c, &a.to_state(&State::default(), "h")).unwrap();
    assert_eq!(again.subnet, a.subnet);
    assert_eq!(again.phy.name, a.phy.name);
    assert_eq!(again.bridge, a.bridge);
}
