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
    Nl80211Attr, Nl80211BandInfo, Nl80211BandType, Nl80211Command, Nl80211ExtFeature,
    Nl80211Features, Nl80211FrequencyInfo, Nl80211IfMode, Nl80211IfaceCombAttribute,
    Nl80211IfaceCombLimitAttribute, Nl80211InterfaceType, Nl80211Message,
};

use super::error::FactsError;
use super::iw::channel_from_freq;
use super::model::{Band, BandId, Channel, Combination, IfType, Limit, Phy, WirelessInterface};
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
    pub fn group(&self, name: &str) -> Option<u32> {
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

fn request(
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
    let wiphys: Vec<Vec<Nl80211Attr>> = wiphys.iter().map(|m| attributes_of(m)).collect();
    let interfaces: Vec<Vec<Nl80211Attr>> = interfaces.iter().map(|m| attributes_of(m)).collect();
    Ok((phys_from_attrs(&wiphys), interfaces_from_attrs(&interfaces)))
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
                    ht: false,
                    vht: false,
                    channels: Vec::new(),
                });
                for info in &band.info {
                    match info {
                        Nl80211BandInfo::HtCapa(_) | Nl80211BandInfo::HtMcsSet(_) => {
                            entry.ht = true
                        }
                        Nl80211BandInfo::VhtCap(_) | Nl80211BandInfo::VhtMcsSet(_) => {
                            entry.vht = true
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
        disabled: false,
        no_ir: false,
        radar: false,
        max_power_dbm: None,
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
        });
    }
    // The kernel dumps newest first; keep `detect` output stable.
    out.sort_by_key(|i| (i.phy, i.ifindex));
    out
}
