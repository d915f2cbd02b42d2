//! nl80211 attribute parsing from raw netlink bytes laid out as the kernel
//! sends them (nl80211.h numbering, split wiphy dump), since this host has no
//! wireless to ask. The live path runs for real in the end-to-end guest with
//! mac80211_hwsim.

use softap_agent::facts::nl80211::{interfaces_from_attrs, parse_message, phys_from_attrs};
use softap_agent::facts::{BandId, IfType};

// linux/nl80211.h
const NL80211_CMD_NEW_WIPHY: u8 = 3;
const NL80211_CMD_NEW_INTERFACE: u8 = 7;
const NL80211_CMD_AUTHENTICATE: u32 = 37;
const NL80211_CMD_CONNECT: u32 = 46;
const ATTR_WIPHY: u16 = 1;
const ATTR_WIPHY_NAME: u16 = 2;
const ATTR_IFINDEX: u16 = 3;
const ATTR_IFNAME: u16 = 4;
const ATTR_IFTYPE: u16 = 5;
const ATTR_WIPHY_BANDS: u16 = 22;
const ATTR_SUPPORTED_IFTYPES: u16 = 32;
const ATTR_WIPHY_FREQ: u16 = 38;
const ATTR_SUPPORTED_COMMANDS: u16 = 50;
const ATTR_SSID: u16 = 52;
const ATTR_INTERFACE_COMBINATIONS: u16 = 120;
const ATTR_FEATURE_FLAGS: u16 = 143;
const ATTR_EXT_FEATURES: u16 = 217;
const BAND_ATTR_FREQS: u16 = 1;
const BAND_ATTR_HT_CAPA: u16 = 4;
const FREQ_ATTR_FREQ: u16 = 1;
const FREQ_ATTR_DISABLED: u16 = 2;
const FREQ_ATTR_NO_IR: u16 = 3;
const FREQ_ATTR_NO_IBSS: u16 = 4;
const FREQ_ATTR_RADAR: u16 = 5;
const FREQ_ATTR_MAX_TX_POWER: u16 = 6;
const COMB_LIMITS: u16 = 1;
const COMB_MAXNUM: u16 = 2;
const COMB_STA_AP_BI_MATCH: u16 = 3;
const COMB_NUM_CHANNELS: u16 = 4;
const LIMIT_MAX: u16 = 1;
const LIMIT_TYPES: u16 = 2;
const IFTYPE_ADHOC: u16 = 1;
const IFTYPE_STATION: u16 = 2;
const IFTYPE_AP: u16 = 3;
const IFTYPE_MONITOR: u16 = 6;
const IFTYPE_P2P_DEVICE: u16 = 10;
const FEATURE_SAE: u32 = 1 << 5;
const EXT_FEATURE_SAE_OFFLOAD: usize = 38;
const EXT_FEATURE_SAE_OFFLOAD_AP: usize = 51;
const NLA_F_NESTED: u16 = 0x8000;

fn nla(kind: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut out = Vec::with_capacity((len + 3) & !3);
    out.extend_from_slice(&u16::try_from(len).unwrap().to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize((len + 3) & !3, 0);
    out
}
fn nested(kind: u16, children: &[Vec<u8>]) -> Vec<u8> {
    nla(kind | NLA_F_NESTED, &children.concat())
}
fn u32a(kind: u16, v: u32) -> Vec<u8> {
    nla(kind, &v.to_ne_bytes())
}
fn flag(kind: u16) -> Vec<u8> {
    nla(kind, &[])
}
fn string(kind: u16, s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    nla(kind, &b)
}

/// A whole netlink message: nlmsghdr, genlmsghdr, attributes.
fn message(cmd: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
    let body = attrs.concat();
    let len = 16 + 4 + body.len();
    let mut out = Vec::new();
    out.extend_from_slice(&u32::try_from(len).unwrap().to_ne_bytes());
    out.extend_from_slice(&0x1cu16.to_ne_bytes()); // the family id the controller gave
    out.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
    out.extend_from_slice(&7u32.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[cmd, 1, 0, 0]);
    out.extend_from_slice(&body);
    out
}

fn freq(mhz: u32, flags: &[u16], mbm: Option<u32>) -> Vec<u8> {
    let mut attrs = vec![u32a(FREQ_ATTR_FREQ, mhz)];
    attrs.extend(flags.iter().map(|f| flag(*f)));
    if let Some(p) = mbm {
        attrs.push(u32a(FREQ_ATTR_MAX_TX_POWER, p));
    }
    // Frequencies are a nested array indexed 0..n.
    nested(0, &attrs)
}

fn limit(index: u16, max: u32, types: &[u16]) -> Vec<u8> {
    let types: Vec<Vec<u8>> = types.iter().map(|t| flag(*t)).collect();
    nested(index, &[u32a(LIMIT_MAX, max), nested(LIMIT_TYPES, &types)])
}

fn ext_features(bits: &[usize]) -> Vec<u8> {
    let mut bytes = vec![0u8; 8];
    for b in bits {
        bytes[b / 8] |= 1 << (b % 8);
    }
    nla(ATTR_EXT_FEATURES, &bytes)
}

/// mac80211_hwsim-like wiphy 0, split as the kernel splits its dump: names
/// and modes, then each band in its own message, then the rest.
fn hwsim_like_dump(extra_comb_channels: u32) -> Vec<Vec<u8>> {
    let head = [u32a(ATTR_WIPHY, 0), string(ATTR_WIPHY_NAME, "phy0")];
    let modes = nested(
        ATTR_SUPPORTED_IFTYPES,
        &[
            flag(IFTYPE_ADHOC),
            flag(IFTYPE_STATION),
            flag(IFTYPE_AP),
            flag(IFTYPE_MONITOR),
            flag(IFTYPE_P2P_DEVICE),
        ],
    );
    let band_2g = nested(
        ATTR_WIPHY_BANDS,
        &[nested(
            0, // NL80211_BAND_2GHZ
            &[
                nla(BAND_ATTR_HT_CAPA, &0x11efu16.to_ne_bytes()),
                nested(
                    BAND_ATTR_FREQS,
                    &[
                        freq(2412, &[], Some(2000)),
                        freq(2437, &[], Some(2000)),
                        freq(2467, &[FREQ_ATTR_NO_IR, FREQ_ATTR_NO_IBSS], Some(2000)),
                        freq(2484, &[FREQ_ATTR_DISABLED], None),
                    ],
                ),
            ],
        )],
    );
    let band_5g = nested(
        ATTR_WIPHY_BANDS,
        &[nested(
            1, // NL80211_BAND_5GHZ
            &[nested(
                BAND_ATTR_FREQS,
                &[
                    freq(5180, &[FREQ_ATTR_NO_IR], Some(2300)),
                    freq(5260, &[FREQ_ATTR_NO_IR, FREQ_ATTR_RADAR], Some(2000)),
                ],
            )],
        )],
    );
    let combinations = nested(
        ATTR_INTERFACE_COMBINATIONS,
        &[
            nested(
                1,
                &[
                    nested(
                        COMB_LIMITS,
                        &[
                            limit(1, 1, &[IFTYPE_STATION]),
                            limit(2, 1, &[IFTYPE_AP]),
                            limit(3, 1, &[IFTYPE_P2P_DEVICE]),
                        ],
                    ),
                    u32a(COMB_MAXNUM, 3),
                    u32a(COMB_NUM_CHANNELS, 1),
                    flag(COMB_STA_AP_BI_MATCH),
                ],
            ),
            nested(
                2,
                &[
                    nested(COMB_LIMITS, &[limit(1, 2, &[IFTYPE_STATION])]),
                    u32a(COMB_MAXNUM, 2),
                    u32a(COMB_NUM_CHANNELS, extra_comb_channels),
                ],
            ),
        ],
    );
    let commands = nested(
        ATTR_SUPPORTED_COMMANDS,
        &[
            u32a(1, NL80211_CMD_AUTHENTICATE),
            u32a(2, NL80211_CMD_CONNECT),
        ],
    );
    vec![
        message(
            NL80211_CMD_NEW_WIPHY,
            &[head.to_vec(), vec![modes]].concat(),
        ),
        message(
            NL80211_CMD_NEW_WIPHY,
            &[head.to_vec(), vec![band_2g]].concat(),
        ),
        message(
            NL80211_CMD_NEW_WIPHY,
            &[head.to_vec(), vec![band_5g]].concat(),
        ),
        message(
            NL80211_CMD_NEW_WIPHY,
            &[
                head.to_vec(),
                vec![
                    combinations,
                    commands,
                    u32a(ATTR_FEATURE_FLAGS, FEATURE_SAE),
                    ext_features(&[EXT_FEATURE_SAE_OFFLOAD]),
                ],
            ]
            .concat(),
        ),
    ]
}

fn parse_all(messages: &[Vec<u8>]) -> Vec<Vec<wl_nl80211::Nl80211Attr>> {
    messages
        .iter()
        .map(|m| {
            let (cmd, attrs) = parse_message(m).expect("a generic netlink message");
            assert!(cmd == NL80211_CMD_NEW_WIPHY || cmd == NL80211_CMD_NEW_INTERFACE);
            attrs
        })
        .collect()
}

#[test]
fn split_wiphy_dump_merges_into_one_phy() {
    let phys = phys_from_attrs(&parse_all(&hwsim_like_dump(2)));
    assert_eq!(phys.len(), 1);
    let phy = &phys[0];
    assert_eq!((phy.name.as_str(), phy.index), ("phy0", 0));
    assert_eq!(
        phy.modes,
        [
            IfType::Ibss,
            IfType::Managed,
            IfType::Ap,
            IfType::Monitor,
            IfType::P2pDevice
        ]
    );

    // Combinations read whole: the one with AP has one channel, the other two.
    assert_eq!(phy.combinations.len(), 2);
    let with_ap = &phy.combinations[0];
    assert_eq!(with_ap.limits.len(), 3);
    assert_eq!(with_ap.limits[1].types, [IfType::Ap]);
    assert_eq!(
        (
            with_ap.total,
            with_ap.channels,
            with_ap.beacon_int_must_match
        ),
        (3, 1, true)
    );
    let other = &phy.combinations[1];
    assert_eq!(
        (other.limits[0].max, other.total, other.channels),
        (2, 2, 2)
    );
    assert!(!other.beacon_int_must_match);

    assert_eq!(phy.bands.len(), 2);
    let g = &phy.bands[0];
    assert_eq!(g.band, BandId::Band2G4);
    assert!(g.ht);
    let numbers: Vec<u16> = g.channels.iter().map(|c| c.number).collect();
    assert_eq!(numbers, [1, 6, 12, 14]);
    assert_eq!(g.channels[0].max_power_dbm, Some(20.0));
    assert!(g.channels[2].no_ir && !g.channels[2].disabled);
    assert!(g.channels[3].disabled);
    let a = &phy.bands[1];
    assert_eq!(a.band, BandId::Band5G);
    assert!(a.channels[0].no_ir && !a.channels[0].radar);
    assert!(a.channels[1].radar && a.channels[1].no_ir);
    assert_eq!(a.channels[1].number, 52);

    // FEATURE_SAE with the authenticate command: WPA3 in AP mode.
    assert!(phy.sae);
}

#[test]
fn sae_rules() {
    // Station-side SAE offload alone is not AP SAE.
    let only_sta_offload = message(
        NL80211_CMD_NEW_WIPHY,
        &[
            u32a(ATTR_WIPHY, 1),
            ext_features(&[EXT_FEATURE_SAE_OFFLOAD]),
        ],
    );
    let ap_offload = message(
        NL80211_CMD_NEW_WIPHY,
        &[
            u32a(ATTR_WIPHY, 2),
            ext_features(&[EXT_FEATURE_SAE_OFFLOAD_AP]),
        ],
    );
    let feature_without_authenticate = message(
        NL80211_CMD_NEW_WIPHY,
        &[
            u32a(ATTR_WIPHY, 3),
            u32a(ATTR_FEATURE_FLAGS, FEATURE_SAE),
            nested(ATTR_SUPPORTED_COMMANDS, &[u32a(1, NL80211_CMD_CONNECT)]),
        ],
    );
    let phys = phys_from_attrs(&parse_all(&[
        only_sta_offload,
        ap_offload,
        feature_without_authenticate,
    ]));
    let sae: Vec<(u32, bool)> = phys.iter().map(|p| (p.index, p.sae)).collect();
    assert_eq!(sae, [(1, false), (2, true), (3, false)]);
    // No WIPHY_NAME: the kernel's naming is assumed.
    assert_eq!(phys[0].name, "phy1");
}

#[test]
fn an_unreadable_attribute_costs_only_itself() {
    let mut dump = hwsim_like_dump(2);
    // A WIPHY_FREQ of two bytes cannot be a u32: that attribute is dropped,
    // the interface combinations after it survive.
    let broken = message(
        NL80211_CMD_NEW_WIPHY,
        &[
            u32a(ATTR_WIPHY, 0),
            nla(ATTR_WIPHY_FREQ, &[1, 2]),
            nested(
                ATTR_INTERFACE_COMBINATIONS,
                &[nested(
                    1,
                    &[
                        nested(COMB_LIMITS, &[limit(1, 4, &[IFTYPE_AP])]),
                        u32a(COMB_MAXNUM, 4),
                        u32a(COMB_NUM_CHANNELS, 1),
                    ],
                )],
            ),
        ],
    );
    dump.push(broken);
    let phys = phys_from_attrs(&parse_all(&dump));
    assert_eq!(phys[0].combinations.len(), 3);
    assert_eq!(phys[0].combinations[2].limits[0].max, 4);
    // Garbage is not a message.
    assert!(parse_message(&[1, 2, 3]).is_none());
}

#[test]
fn interface_dump_gives_type_ssid_and_channel() {
    let station = message(
        NL80211_CMD_NEW_INTERFACE,
        &[
            u32a(ATTR_IFINDEX, 5),
            string(ATTR_IFNAME, "wlan0"),
            u32a(ATTR_WIPHY, 0),
            u32a(ATTR_IFTYPE, u32::from(IFTYPE_STATION)),
            nla(ATTR_SSID, b"home net"),
            u32a(ATTR_WIPHY_FREQ, 2437),
        ],
    );
    // A P2P-device has a wdev but no netdev: not an interface to plan with.
    let p2p = message(
        NL80211_CMD_NEW_INTERFACE,
        &[
            u32a(ATTR_WIPHY, 0),
            u32a(ATTR_IFTYPE, u32::from(IFTYPE_P2P_DEVICE)),
        ],
    );
    let ifaces = interfaces_from_attrs(&parse_all(&[station, p2p]));
    assert_eq!(ifaces.len(), 1);
    let i = &ifaces[0];
    assert_eq!(
        (i.name.as_str(), i.ifindex, i.phy, i.iftype),
        ("wlan0", 5, 0, IfType::Managed)
    );
    assert_eq!(i.ssid.as_deref(), Some("home net"));
    assert_eq!((i.channel, i.freq_mhz), (Some(6), Some(2437)));
}

mod properties {
    use proptest::prelude::*;
    use softap_agent::facts::nl80211::{interfaces_from_attrs, parse_message, phys_from_attrs};

    proptest! {
        /// Whatever the kernel (or a corrupted buffer) sends, parsing
        /// returns; it never panics.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Some((_, attrs)) = parse_message(&bytes) {
                let _ = phys_from_attrs(std::slice::from_ref(&attrs));
                let _ = interfaces_from_attrs(&[attrs]);
            }
        }

        /// Real messages with bytes flipped or cut short.
        #[test]
        fn damaged_real_messages_never_panic(index in 0usize..4, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8), cut in any::<usize>()) {
            let mut message = super::hwsim_like_dump(2)[index].clone();
            for (at, value) in flips {
                let len = message.len();
                message[at % len] = value;
            }
            let len = message.len();
            message.truncate(cut % (len + 1));
            if let Some((_, attrs)) = parse_message(&message) {
                let _ = phys_from_attrs(&[attrs]);
            }
        }
    }
}

// The link's facts: capability words, MCS sets, HE per interface type,
// regulatory width limits, the interface's width and the country.
const BAND_ATTR_HT_MCS_SET: u16 = 3;
const BAND_ATTR_VHT_MCS_SET: u16 = 7;
const BAND_ATTR_VHT_CAPA: u16 = 8;
const BAND_ATTR_IFTYPE_DATA: u16 = 9;
const BAND_IFTYPE_ATTR_IFTYPES: u16 = 1;
const BAND_IFTYPE_ATTR_HE_CAP_PHY: u16 = 3;
const BAND_IFTYPE_ATTR_HE_CAP_MCS_SET: u16 = 4;
const FREQ_ATTR_NO_HT40_MINUS: u16 = 9;
const FREQ_ATTR_NO_80MHZ: u16 = 11;
const ATTR_REG_ALPHA2: u16 = 33;
const ATTR_CHANNEL_WIDTH: u16 = 159;
const ATTR_CENTER_FREQ1: u16 = 160;

/// One wiphy with a 5 GHz band as MT7921AU reports it: HT and VHT words,
/// two streams, HE for stations (40/80 MHz) and for AP (its own entry).
fn wifi6_dump() -> Vec<Vec<u8>> {
    let mut ht_mcs = vec![0u8; 16];
    ht_mcs[0] = 0xff;
    ht_mcs[1] = 0xff; // MCS 0-15: two streams
                      // VHT MCS maps: streams 1-2 MCS 0-9 (2), the rest not supported (3).
    let vht_map: u16 = 0xfffa;
    let mut vht_mcs = Vec::new();
    for v in [vht_map, 0, vht_map, 0] {
        vht_mcs.extend_from_slice(&v.to_le_bytes());
    }
    let he_mcs = |map: u16| {
        let mut b = Vec::new();
        for v in [map, map, 0xffff, 0xffff] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    };
    let entry = |index: u16, iftype: u16, phy0: u8, map: u16| {
        let mut phy = vec![0u8; 11];
        phy[0] = phy0;
        nested(
            index,
            &[
                nested(BAND_IFTYPE_ATTR_IFTYPES, &[flag(iftype)]),
                nla(BAND_IFTYPE_ATTR_HE_CAP_PHY, &phy),
                nla(BAND_IFTYPE_ATTR_HE_CAP_MCS_SET, &he_mcs(map)),
            ],
        )
    };
    let band_5g = nested(
        ATTR_WIPHY_BANDS,
        &[nested(
            1, // NL80211_BAND_5GHZ
            &[
                nla(BAND_ATTR_HT_CAPA, &0x09ffu16.to_ne_bytes()),
                nla(BAND_ATTR_HT_MCS_SET, &ht_mcs),
                u32a(BAND_ATTR_VHT_CAPA, 0x339071b2),
                nla(BAND_ATTR_VHT_MCS_SET, &vht_mcs),
                nested(
                    BAND_ATTR_IFTYPE_DATA,
                    &[
                        entry(1, IFTYPE_STATION, 0x44, 0xfffa),
                        // One stream for the AP here, to tell the entries apart.
                        entry(2, IFTYPE_AP, 0x04, 0xfffe),
                    ],
                ),
                nested(
                    BAND_ATTR_FREQS,
                    &[
                        freq(5180, &[FREQ_ATTR_NO_HT40_MINUS], Some(2300)),
                        freq(5260, &[FREQ_ATTR_RADAR, FREQ_ATTR_NO_80MHZ], Some(2300)),
                    ],
                ),
            ],
        )],
    );
    vec![message(
        NL80211_CMD_NEW_WIPHY,
        &[
            u32a(ATTR_WIPHY, 0),
            string(ATTR_WIPHY_NAME, "phy0"),
            band_5g,
        ],
    )]
}

#[test]
fn link_facts_of_a_wifi6_card() {
    use softap_agent::facts::nl80211::{add_he, he_ap_of_message};
    let dump = wifi6_dump();
    let mut phys = phys_from_attrs(&parse_all(&dump));
    let he: Vec<_> = dump.iter().flat_map(|m| he_ap_of_message(m)).collect();
    // Only the AP's entry counts.
    assert_eq!(he.len(), 1);
    add_he(&mut phys, he);
    let a = &phys[0].bands[0];
    assert_eq!(a.band, BandId::Band5G);
    assert_eq!(a.ht_capa, Some(0x09ff));
    assert_eq!(a.ht_streams, Some(2));
    assert_eq!(a.vht_capa, Some(0x339071b2));
    assert_eq!(a.vht_streams, Some(2));
    let ap = a.he_ap.as_ref().expect("HE for AP");
    assert_eq!((ap.phy_cap0, ap.streams), (0x04, 1));
    assert!(ap.he80() && !ap.he160());
    assert!(a.channels[0].no_ht40_minus && !a.channels[0].no_ht40_plus);
    assert!(a.channels[1].no_80mhz && a.channels[1].radar);
    assert!(!a.channels[0].no_80mhz);
}

#[test]
fn damaged_iftype_data_costs_only_the_he_facts() {
    use softap_agent::facts::nl80211::he_ap_of_message;
    for m in wifi6_dump() {
        for cut in (20..m.len()).step_by(7) {
            let _ = he_ap_of_message(&m[..cut]);
        }
    }
    assert!(he_ap_of_message(&[0u8; 3]).is_empty());
}

#[test]
fn the_country_the_kernel_applies() {
    use softap_agent::facts::nl80211::{add_countries, regulatory_of};
    let global = message(NL80211_CMD_NEW_WIPHY, &[string(ATTR_REG_ALPHA2, "DE")]);
    let own = message(
        NL80211_CMD_NEW_WIPHY,
        &[u32a(ATTR_WIPHY, 1), string(ATTR_REG_ALPHA2, "US")],
    );
    let reg = regulatory_of(&[global, own]);
    assert_eq!(reg, [(None, "DE".to_string()), (Some(1), "US".to_string())]);
    let mut phys = phys_from_attrs(&parse_all(&hwsim_like_dump(2)));
    let mut managed_itself = phys[0].clone();
    managed_itself.index = 1;
    managed_itself.self_managed_reg = true;
    let mut unknown = phys[0].clone();
    unknown.index = 2;
    unknown.self_managed_reg = true;
    phys.push(managed_itself);
    phys.push(unknown);
    add_countries(&mut phys, &reg);
    let countries: Vec<Option<&str>> = phys.iter().map(|p| p.country.as_deref()).collect();
    // The global domain, a self-managed phy's own, none for one that says nothing.
    assert_eq!(countries, [Some("DE"), Some("US"), None]);
    // The world and intersected domains are no country.
    let world = message(NL80211_CMD_NEW_WIPHY, &[string(ATTR_REG_ALPHA2, "00")]);
    add_countries(&mut phys, &regulatory_of(&[world]));
    assert_eq!(phys[0].country, None);
}

#[test]
fn interface_width_and_centre() {
    let m = message(
        NL80211_CMD_NEW_INTERFACE,
        &[
            u32a(ATTR_IFINDEX, 5),
            string(ATTR_IFNAME, "wlan0"),
            u32a(ATTR_WIPHY, 0),
            u32a(ATTR_IFTYPE, u32::from(IFTYPE_STATION)),
            u32a(ATTR_WIPHY_FREQ, 5180),
            u32a(ATTR_CHANNEL_WIDTH, 3), // NL80211_CHAN_WIDTH_80
            u32a(ATTR_CENTER_FREQ1, 5210),
        ],
    );
    let i = interfaces_from_attrs(&parse_all(&[m]));
    assert_eq!(
        (i[0].channel, i[0].width_mhz, i[0].center1_mhz),
        (Some(36), Some(80), Some(5210))
    );
}
