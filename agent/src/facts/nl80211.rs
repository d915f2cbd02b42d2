//! Phys and wireless interfaces over nl80211 (generic netlink). The
//! attribute types come from `wl-nl80211`; the request loop is synchronous
//! (`netlink.rs`) so the agent needs no async runtime. Attributes are parsed
//! one at a time so that one the crate cannot read (a newer kernel) costs
//! that attribute, not the phy.

use std::collections::BTreeMap;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NlasIterator, Parseable, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::{GenlCtrlAttrs, McastGrpAttrs};
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlHeader, GenlMessage};
use netlink_sys::protocols::NETLINK_GENERIC;
use netlink_sys::Socket;
use wl_nl80211::{
    Nl80211Attr, Nl80211BandInfo, Nl80211BandType, Nl80211ChannelWidth, Nl80211Command,
    Nl80211ExtFeature, Nl80211Features, Nl80211FrequencyInfo, Nl80211IfMode,
    Nl80211IfaceCombAttribute, Nl80211IfaceCombLimitAttribute, Nl80211InterfaceType,
    Nl80211Message,
};

use super::error::FactsError;
use super::iw::channel_from_freq;
use super::model::{
    Band, BandId, Channel, Combination, HeCaps, IfType, Limit, Phy, WirelessInterface,
};
use super::netlink;

/// nl80211 command numbers the event watcher classifies.
pub(crate) const NL80211_CMD_NEW_WIPHY: u8 = 3;
pub(crate) const NL80211_CMD_DEL_WIPHY: u8 = 4;

/// A generic netlink family as the controller describes it.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub id: u16,
    pub groups: Vec<(String, u32)>,
}

impl Family {
    pub(crate) fn group(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }
}

/// Asks the generic netlink controller for `name`; `None` when the family is
/// not registered (no cfg80211 loaded: a machine without wireless).
pub(crate) fn resolve_family(socket: &Socket, name: &str) -> Result<Option<Family>, FactsError> {
    const REQUEST: &str = "CTRL_CMD_GETFAMILY";
    let sequence = netlink::next_sequence();
    let mut genl = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(name.to_string())],
    });
    genl.finalize();
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST;
    header.sequence_number = sequence;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(genl));
    packet.finalize();
    let mut bytes = vec![0; packet.buffer_len()];
    packet.serialize(&mut bytes);
    let Some(answer) = netlink::request_one(socket, REQUEST, &bytes, sequence)? else {
        return Ok(None);
    };
    let message = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&answer).map_err(|e| {
        FactsError::Decode {
            request: REQUEST,
            detail: e.to_string(),
        }
    })?;
    let NetlinkPayload::InnerMessage(genl) = message.payload else {
        return Ok(None);
    };
    let mut family = Family {
        id: 0,
        groups: Vec::new(),
    };
    for attr in genl.payload.nlas {
        match attr {
            GenlCtrlAttrs::FamilyId(id) => family.id = id,
            GenlCtrlAttrs::McastGroups(groups) => {
                for group in groups {
                    let mut name = None;
                    let mut id = None;
                    for a in group {
                        match a {
                            McastGrpAttrs::Name(n) => name = Some(n),
                            McastGrpAttrs::Id(i) => id = Some(i),
                        }
                    }
                    if let (Some(n), Some(i)) = (name, id) {
                        family.groups.push((n, i));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Some(family))
}

pub(super) fn request(
    family: u16,
    cmd: Nl80211Command,
    attributes: Vec<Nl80211Attr>,
    sequence: u32,
) -> Vec<u8> {
    let mut genl = GenlMessage::from_payload(Nl80211Message { cmd, attributes });
    genl.set_resolved_family_id(family);
    genl.finalize();
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = sequence;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(genl));
    packet.finalize();
    let mut bytes = vec![0; packet.buffer_len()];
    packet.serialize(&mut bytes);
    bytes
}

/// Phys and interfaces of this network namespace. No nl80211 family means
/// no wireless: empty lists, not an error.
pub fn gather() -> Result<(Vec<Phy>, Vec<WirelessInterface>), FactsError> {
    let socket = netlink::open(NETLINK_GENERIC, "generic")?;
    let Some(family) = resolve_family(&socket, "nl80211")? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let wiphys = netlink::dump(&socket, "NL80211_CMD_GET_WIPHY dump", |seq| {
        request(
            family.id,
            Nl80211Command::GetWiphy,
            vec![Nl80211Attr::SplitWiphyDump],
            seq,
        )
    })?;
    let interfaces = netlink::dump(&socket, "NL80211_CMD_GET_INTERFACE dump", |seq| {
        request(family.id, Nl80211Command::GetInterface, Vec::new(), seq)
    })?;
    let he: Vec<(u32, BandId, HeCaps)> = wiphys.iter().flat_map(|m| he_ap_of_message(m)).collect();
    let wiphys: Vec<Vec<Nl80211Attr>> = wiphys.iter().map(|m| attributes_of(m)).collect();
    let interfaces: Vec<Vec<Nl80211Attr>> = interfaces.iter().map(|m| attributes_of(m)).collect();
    let mut phys = phys_from_attrs(&wiphys);
    add_he(&mut phys, he);
    // Kernels before 4.x cannot dump the regulatory domains: no country
    // then, as with the world domain.
    match netlink::dump(&socket, "NL80211_CMD_GET_REG dump", |seq| {
        request(family.id, Nl80211Command::GetReg, Vec::new(), seq)
    }) {
        Ok(reg) => add_countries(&mut phys, &regulatory_of(&reg)),
        Err(e) => tracing::debug!("nl80211: no regulatory country: {e}"),
    }
    Ok((phys, interfaces_from_attrs(&interfaces)))
}

/// The nl80211 command and attributes of one netlink message (header
/// included). Unreadable attributes are skipped.
pub fn parse_message(bytes: &[u8]) -> Option<(u8, Vec<Nl80211Attr>)> {
    let payload = bytes.get(16..)?;
    let header = GenlHeader::parse(payload.get(..4)?).ok()?;
    Some((header.cmd, parse_attributes(payload.get(4..)?)))
}

fn attributes_of(bytes: &[u8]) -> Vec<Nl80211Attr> {
    parse_message(bytes).map(|(_, a)| a).unwrap_or_default()
}

fn parse_attributes(buffer: &[u8]) -> Vec<Nl80211Attr> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(buffer) {
        let Ok(nla) = nla else {
            tracing::debug!("nl80211: malformed attribute, rest of the message skipped");
            break;
        };
        match Nl80211Attr::parse(&nla) {
            Ok(attr) => out.push(attr),
            Err(e) => tracing::debug!("nl80211: attribute {} skipped: {e}", nla.kind()),
        }
    }
    out
}

fn iftype_of_mode(mode: &Nl80211IfMode) -> Option<IfType> {
    Some(match mode {
        Nl80211IfMode::Adhoc => IfType::Ibss,
        Nl80211IfMode::Station => IfType::Managed,
        Nl80211IfMode::Ap => IfType::Ap,
        Nl80211IfMode::ApVlan => IfType::ApVlan,
        Nl80211IfMode::Wds => IfType::Wds,
        Nl80211IfMode::Monitor => IfType::Monitor,
        Nl80211IfMode::MeshPoint => IfType::MeshPoint,
        Nl80211IfMode::P2pClient => IfType::P2pClient,
        Nl80211IfMode::P2pGo => IfType::P2pGo,
        Nl80211IfMode::P2pDevice => IfType::P2pDevice,
        Nl80211IfMode::Ocb => IfType::Ocb,
        Nl80211IfMode::Nan => IfType::Nan,
        _ => return None,
    })
}

fn iftype_of(t: &Nl80211InterfaceType) -> Option<IfType> {
    Some(match t {
        Nl80211InterfaceType::Adhoc => IfType::Ibss,
        Nl80211InterfaceType::Station => IfType::Managed,
        Nl80211InterfaceType::Ap => IfType::Ap,
        Nl80211InterfaceType::ApVlan => IfType::ApVlan,
        Nl80211InterfaceType::Wds => IfType::Wds,
        Nl80211InterfaceType::Monitor => IfType::Monitor,
        Nl80211InterfaceType::MeshPoint => IfType::MeshPoint,
        Nl80211InterfaceType::P2pClient => IfType::P2pClient,
        Nl80211InterfaceType::P2pGo => IfType::P2pGo,
        Nl80211InterfaceType::P2pDevice => IfType::P2pDevice,
        Nl80211InterfaceType::Ocb => IfType::Ocb,
        Nl80211InterfaceType::Nan => IfType::Nan,
        _ => return None,
    })
}

fn band_id(kind: &Nl80211BandType) -> Option<BandId> {
    Some(match kind {
        Nl80211BandType::Band2GHz => BandId::Band2G4,
        Nl80211BandType::Band5GHz => BandId::Band5G,
        Nl80211BandType::Band6GHz => BandId::Band6G,
        Nl80211BandType::Band60GHz => BandId::Band60G,
        _ => return None,
    })
}

#[derive(Default)]
struct WiphyDraft {
    name: Option<String>,
    modes: Vec<IfType>,
    combinations: Vec<Combination>,
    bands: BTreeMap<BandId, Band>,
    commands_seen: bool,
    authenticate: bool,
    feature_sae: bool,
    sae_offload_ap: bool,
    self_managed: bool,
}

/// Pure part: the messages of a (split) GET_WIPHY dump, each as its
/// attribute list, merged into one [`Phy`] per wiphy index. A split dump
/// spreads one wiphy, even one band, over several messages.
pub fn phys_from_attrs(messages: &[Vec<Nl80211Attr>]) -> Vec<Phy> {
    let mut drafts: BTreeMap<u32, WiphyDraft> = BTreeMap::new();
    for attrs in messages {
        let Some(index) = attrs.iter().find_map(|a| match a {
            Nl80211Attr::Wiphy(i) => Some(*i),
            _ => None,
        }) else {
            continue;
        };
        let draft = drafts.entry(index).or_default();
        for attr in attrs {
            merge(draft, attr);
        }
    }
    drafts
        .into_iter()
        .map(|(index, d)| {
            let authenticate_ok = !d.commands_seen || d.authenticate;
            Phy {
                name: d.name.unwrap_or_else(|| format!("phy{index}")),
                index,
                modes: d.modes,
                combinations: d.combinations,
                bands: d
                    .bands
                    .into_values()
                    .filter(|b| !b.channels.is_empty())
                    .collect(),
                sae: (d.feature_sae && authenticate_ok) || d.sae_offload_ap,
                self_managed_reg: d.self_managed,
                // driver, module and permanent address come from sysfs
                ..Phy::default()
            }
        })
        .collect()
}

fn merge(draft: &mut WiphyDraft, attr: &Nl80211Attr) {
    match attr {
        Nl80211Attr::WiphyName(name) => draft.name = Some(name.clone()),
        Nl80211Attr::SupportedIftypes(modes) => {
            for t in modes.iter().filter_map(iftype_of_mode) {
                if !draft.modes.contains(&t) {
                    draft.modes.push(t);
                }
            }
        }
        Nl80211Attr::InterfaceCombination(combinations) => {
            for c in combinations {
                let mut limits = Vec::new();
                let mut total = 0;
                let mut channels = 0;
                let mut bi = false;
                for a in &c.attributes {
                    match a {
                        Nl80211IfaceCombAttribute::Limits(ls) => {
                            for l in ls {
                                let mut max = 0;
                                let mut types = Vec::new();
                                for la in &l.attributes {
                                    match la {
                                        Nl80211IfaceCombLimitAttribute::Max(m) => max = *m,
                                        Nl80211IfaceCombLimitAttribute::Iftypes(ts) => {
                                            types.extend(ts.iter().filter_map(iftype_of));
                                        }
                                        _ => {}
                                    }
                                }
                                limits.push(Limit { max, types });
                            }
                        }
                        Nl80211IfaceCombAttribute::Maxnum(n) => total = *n,
                        Nl80211IfaceCombAttribute::NumChannels(n) => channels = *n,
                        Nl80211IfaceCombAttribute::StaApiBiMatch => bi = true,
                        _ => {}
                    }
                }
                draft.combinations.push(Combination {
                    limits,
                    total,
                    channels,
                    beacon_int_must_match: bi,
                });
            }
        }
        Nl80211Attr::WiphyBands(bands) => {
            for band in bands {
                let Some(id) = band_id(&band.kind) else {
                    continue;
                };
                let entry = draft.bands.entry(id).or_insert_with(|| Band {
                    band: id,
                    ..Band::default()
                });
                for info in &band.info {
                    match info {
                        Nl80211BandInfo::HtCapa(caps) => {
                            entry.ht = true;
                            entry.ht_capa = Some(caps.bits());
                        }
                        Nl80211BandInfo::HtMcsSet(mcs) => {
                            entry.ht = true;
                            entry.ht_streams = ht_streams(&mcs.rx_mask);
                        }
                        Nl80211BandInfo::VhtCap(caps) => {
                            entry.vht = true;
                            entry.vht_capa = Some(caps.bits());
                        }
                        Nl80211BandInfo::VhtMcsSet(mcs) => {
                            entry.vht = true;
                            entry.vht_streams = mcs_map_streams(mcs.rx_mcs_map);
                        }

                        Nl80211BandInfo::Freqs(freqs) => {
                            for f in freqs {
                                if let Some(c) = channel_of(&f.info) {
                                    entry.channels.push(c);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Nl80211Attr::SupportedCommand(commands) => {
            draft.commands_seen = true;
            if commands.contains(&Nl80211Command::Authenticate) {
                draft.authenticate = true;
            }
        }
        Nl80211Attr::Features(flags) => draft.feature_sae |= flags.contains(Nl80211Features::Sae),
        Nl80211Attr::ExtFeatures(features) => {
            draft.sae_offload_ap |= features.contains(&Nl80211ExtFeature::SaeOffloadAp)
        }
        Nl80211Attr::WiphySelfManagedReg => draft.self_managed = true,
        _ => {}
    }
}

fn channel_of(info: &[Nl80211FrequencyInfo]) -> Option<Channel> {
    let freq = info.iter().find_map(|i| match i {
        Nl80211FrequencyInfo::Freq(f) => Some(*f),
        _ => None,
    })?;
    let mut channel = Channel {
        number: channel_from_freq(freq)?,
        freq_mhz: freq,
        ..Channel::default()
    };
    for i in info {
        match i {
            Nl80211FrequencyInfo::Disabled => channel.disabled = true,
            // NO_IBSS is the pre-3.14 half of NO_IR; either forbids beaconing.
            Nl80211FrequencyInfo::NoIr | Nl80211FrequencyInfo::NoIbss => channel.no_ir = true,
            Nl80211FrequencyInfo::Radar => channel.radar = true,
            // mBm: 100 * dBm.
            Nl80211FrequencyInfo::MaxTxPower(mbm) => {
                channel.max_power_dbm = Some(*mbm as f32 / 100.0)
            }
            Nl80211FrequencyInfo::NoHt40Minus => channel.no_ht40_minus = true,
            Nl80211FrequencyInfo::NoHt40Plus => channel.no_ht40_plus = true,
            Nl80211FrequencyInfo::No80Mhz => channel.no_80mhz = true,
            Nl80211FrequencyInfo::No160Mhz => channel.no_160mhz = true,
            Nl80211FrequencyInfo::NoHe => channel.no_he = true,
            _ => {}
        }
    }
    // iw prints no power for a disabled channel and the kernel's value
    // there means nothing: keep both readers' facts identical.
    if channel.disabled {
        channel.max_power_dbm = None;
    }
    Some(channel)
}

/// Pure part: the messages of a GET_INTERFACE dump to interfaces. Devices
/// without a netdev (P2P-device) are left out.
pub fn interfaces_from_attrs(messages: &[Vec<Nl80211Attr>]) -> Vec<WirelessInterface> {
    let mut out = Vec::new();
    for attrs in messages {
        let mut name = None;
        let mut ifindex = None;
        let mut phy = None;
        let mut iftype = None;
        let mut ssid = None;
        let mut freq = None;
        let mut width = None;
        let mut center1 = None;
        for a in attrs {
            match a {
                Nl80211Attr::IfName(n) => name = Some(n.clone()),
                Nl80211Attr::IfIndex(i) => ifindex = Some(*i),
                Nl80211Attr::Wiphy(w) => phy = Some(*w),
                Nl80211Attr::IfType(t) => iftype = iftype_of(t),
                Nl80211Attr::Ssid(s) => ssid = Some(s.clone()),
                Nl80211Attr::SsidRaw(raw) if ssid.is_none() => {
                    ssid = Some(String::from_utf8_lossy(raw).into_owned())
                }
                Nl80211Attr::WiphyFreq(f) => freq = Some(*f),
                Nl80211Attr::ChannelWidth(w) => width = width_mhz(w),
                Nl80211Attr::CenterFreq1(f) => center1 = Some(*f),
                _ => {}
            }
        }
        let (Some(name), Some(ifindex), Some(phy), Some(iftype)) = (name, ifindex, phy, iftype)
        else {
            continue;
        };
        out.push(WirelessInterface {
            name,
            ifindex,
            phy,
            iftype,
            ssid,
            channel: freq.and_then(channel_from_freq),
            freq_mhz: freq,
            width_mhz: width,
            center1_mhz: center1,
        });
    }
    // The kernel dumps newest first; keep `detect` output stable.
    out.sort_by_key(|i| (i.phy, i.ifindex));
    out
}

/// Streams of an HT receive MCS bitmask: MCS 0-7 one stream, 8-15 two, ….
fn ht_streams(rx_mask: &[u8]) -> Option<u8> {
    let streams = rx_mask.iter().take(4).take_while(|b| **b != 0).count();
    u8::try_from(streams).ok().filter(|n| *n > 0)
}

/// Streams of a VHT or HE MCS map: two bits per stream, 3 = not supported.
fn mcs_map_streams(map: u16) -> Option<u8> {
    let streams = (0..8).filter(|i| (map >> (2 * i)) & 0b11 != 0b11).count();
    u8::try_from(streams).ok().filter(|n| *n > 0)
}

fn width_mhz(w: &Nl80211ChannelWidth) -> Option<u32> {
    match w {
        Nl80211ChannelWidth::NoHt20 => Some(20),
        Nl80211ChannelWidth::Mhz80Plus80 => Some(160),
        Nl80211ChannelWidth::Mhz(m) => Some(*m),
        _ => None,
    }
}

const NL80211_ATTR_WIPHY: u16 = 1;
const NL80211_ATTR_WIPHY_BANDS: u16 = 22;
const NL80211_BAND_ATTR_IFTYPE_DATA: u16 = 9;
const NL80211_BAND_IFTYPE_ATTR_IFTYPES: u16 = 1;
const NL80211_BAND_IFTYPE_ATTR_HE_CAP_PHY: u16 = 3;
const NL80211_BAND_IFTYPE_ATTR_HE_CAP_MCS_SET: u16 = 4;
const NL80211_BAND_IFTYPE_ATTR_EHT_CAP_PHY: u16 = 9;
const NL80211_IFTYPE_AP: u16 = 3;
/// The attribute type without the nested and byte-order flags.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// A message's attributes: after the netlink (16 bytes) and generic
/// netlink (4 bytes) headers.
pub(super) fn attributes_after_headers(message: &[u8]) -> Option<&[u8]> {
    message.get(20..)
}

/// A native-endian u32 attribute's value.
pub(super) fn u32_of(value: &[u8]) -> Option<u32> {
    value
        .get(..4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// The (type, payload) attributes of a buffer, up to the first malformed one.
pub(super) fn nlas(mut buffer: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let header = buffer.get(..4)?;
        let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let kind = u16::from_ne_bytes([header[2], header[3]]) & NLA_TYPE_MASK;
        let value = buffer.get(4..len.max(4))?;
        let next = (len + 3) & !3;
        buffer = buffer.get(next.max(4)..).unwrap_or(&[]);
        Some((kind, value))
    })
}

/// Pure part: the HE capabilities each band of one GET_WIPHY message
/// offers the AP interface type, as (wiphy index, band, capabilities).
/// Read from the raw attributes: `NL80211_BAND_ATTR_IFTYPE_DATA` is an
/// array of entries, each naming its interface types, which wl-nl80211
/// 0.8 reads as one flat list, losing which type each entry is for.
pub fn he_ap_of_message(bytes: &[u8]) -> Vec<(u32, BandId, HeCaps)> {
    let Some(attributes) = attributes_after_headers(bytes) else {
        return Vec::new();
    };
    let mut wiphy = None;
    let mut bands = None;
    for (kind, value) in nlas(attributes) {
        match kind {
            NL80211_ATTR_WIPHY => wiphy = u32_of(value),
            NL80211_ATTR_WIPHY_BANDS => bands = Some(value),
            _ => {}
        }
    }
    let (Some(wiphy), Some(bands)) = (wiphy, bands) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (index, band) in nlas(bands) {
        let id = match index {
            0 => BandId::Band2G4,
            1 => BandId::Band5G,
            3 => BandId::Band6G,
            _ => continue,
        };
        for (kind, data) in nlas(band) {
            if kind != NL80211_BAND_ATTR_IFTYPE_DATA {
                continue;
            }
            for (_, entry) in nlas(data) {
                if let Some(he) = he_entry_for_ap(entry) {
                    out.push((wiphy, id, he));
                }
            }
        }
    }
    out
}

/// One interface-type entry: its HE capabilities when it lists AP.
fn he_entry_for_ap(entry: &[u8]) -> Option<HeCaps> {
    let mut for_ap = false;
    let mut phy_cap0 = None;
    let mut streams = 0;
    let mut eht = false;
    for (kind, value) in nlas(entry) {
        match kind {
            NL80211_BAND_IFTYPE_ATTR_IFTYPES => {
                for_ap = nlas(value).any(|(t, _)| t == NL80211_IFTYPE_AP);
            }
            NL80211_BAND_IFTYPE_ATTR_HE_CAP_PHY => phy_cap0 = value.first().copied(),
            NL80211_BAND_IFTYPE_ATTR_HE_CAP_MCS_SET => {
                // `struct ieee80211_he_mcs_nss_supp`: the receive map up
                // to 80 MHz comes first, little-endian.
                if let Some(b) = value.get(..2) {
                    streams = mcs_map_streams(u16::from_le_bytes([b[0], b[1]])).unwrap_or(0);
                }
            }
            NL80211_BAND_IFTYPE_ATTR_EHT_CAP_PHY => eht = true,
            _ => {}
        }
    }
    Some(HeCaps {
        phy_cap0: phy_cap0?,
        streams,
        eht,
    })
    .filter(|_| for_ap)
}

/// Puts the HE capabilities read by [`he_ap_of_message`] on their bands.
pub fn add_he(phys: &mut [Phy], he: Vec<(u32, BandId, HeCaps)>) {
    for (wiphy, id, caps) in he {
        let band = phys
            .iter_mut()
            .filter(|p| p.index == wiphy)
            .flat_map(|p| p.bands.iter_mut())
            .find(|b| b.band == id);
        if let Some(band) = band {
            band.he_ap = Some(caps);
        }
    }
}

const NL80211_ATTR_REG_ALPHA2: u16 = 33;

/// Pure part: the countries of a GET_REG dump, as (wiphy index for a
/// self-managed phy's own domain or `None` for the global one, country).
pub fn regulatory_of(messages: &[Vec<u8>]) -> Vec<(Option<u32>, String)> {
    let mut out = Vec::new();
    for m in messages {
        let Some(attributes) = attributes_after_headers(m) else {
            continue;
        };
        let mut wiphy = None;
        let mut alpha2 = None;
        for (kind, value) in nlas(attributes) {
            match kind {
                NL80211_ATTR_WIPHY => wiphy = u32_of(value),
                NL80211_ATTR_REG_ALPHA2 => {
                    alpha2 = Some(
                        String::from_utf8_lossy(value)
                            .trim_end_matches('\0')
                            .to_string(),
                    )
                }
                _ => {}
            }
        }
        if let Some(a) = alpha2 {
            out.push((wiphy, a));
        }
    }
    out
}

/// A regulatory alpha2 that names a country: not the world domain (`00`),
/// nor the intersected or unknown ones (`98`, `99`).
pub fn real_country(alpha2: &str) -> Option<String> {
    let upper = alpha2.to_ascii_uppercase();
    (upper.len() == 2 && upper.chars().all(|c| c.is_ascii_uppercase())).then_some(upper)
}

/// Each phy's country: its own for a self-managed phy, else the global one.
pub fn add_countries(phys: &mut [Phy], reg: &[(Option<u32>, String)]) {
    let global = reg
        .iter()
        .find(|(w, _)| w.is_none())
        .map(|(_, a)| a.as_str());
    for p in phys.iter_mut() {
        let own = reg
            .iter()
            .find(|(w, _)| *w == Some(p.index))
            .map(|(_, a)| a.as_str());
        let applied = if p.self_managed_reg {
            own
        } else {
            own.or(global)
        };
        p.country = applied.and_then(real_country);
    }
}
