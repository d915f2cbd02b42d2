//! The facts the planner works from, in exactly the shape `detect --json`
//! prints and `--facts FILE` reads back. Keep this file the single source of
//! truth for that JSON format: the live gatherers (nl80211, rtnetlink,
//! libvirt), the `iw list` importer and the planner all meet here.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Everything known about the machine at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// Wireless phys (nl80211 wiphys), in index order.
    #[serde(default)]
    pub phys: Vec<Phy>,
    /// Existing wireless interfaces (nl80211 interfaces).
    #[serde(default)]
    pub interfaces: Vec<WirelessInterface>,
    /// Every IPv4 and IPv6 address on every link.
    #[serde(default)]
    pub addresses: Vec<Address>,
    /// Every route in every routing table.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// libvirt's networks, or why they could not be read.
    #[serde(default)]
    pub libvirt: LibvirtFacts,
    /// Contents of /etc/machine-id, when known; seeds the subnet order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// Wi-Fi driver modules loaded with no phy, for which the image lacks
    /// firmware: the radio that is likely missing, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drivers_without_phy: Vec<DriverWithoutPhy>,
    /// Who handles router advertisements on each link (what libvirt checks
    /// before it turns IPv6 forwarding on).
    #[serde(default, skip_serializing_if = "RaFacts::is_empty")]
    pub ipv6_ra: RaFacts,
    /// The access points the kernel's last scan saw (its cached results).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scan: Vec<ScannedBss>,
    /// What the hostapd that will run accepts, as far as it was asked.
    /// Facts files from before it was asked have none: nothing accepted.
    #[serde(default, skip_serializing_if = "HostapdFacts::is_empty")]
    pub hostapd: HostapdFacts,
}

/// The configuration lines the image's hostapd was found to accept: a
/// hostapd is built with or without each feature (`CONFIG_IEEE80211BE`),
/// which its version number does not tell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostapdFacts {
    /// `ieee80211be=1` (802.11be, EHT): parsed (true) or an "unknown
    /// configuration item" (false); none when hostapd could not be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ieee80211be: Option<bool>,
}

impl HostapdFacts {
    pub fn is_empty(&self) -> bool {
        self.ieee80211be.is_none()
    }

    /// "accepts ieee80211be (802.11be)" or "does not accept ...", when
    /// hostapd was asked.
    pub fn ieee80211be_text(&self) -> Option<String> {
        self.ieee80211be.map(|accepted| {
            let verb = if accepted {
                "accepts"
            } else {
                "does not accept"
            };
            format!("{verb} ieee80211be (802.11be)")
        })
    }
}

/// One access point of a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannedBss {
    pub bssid: String,
    pub freq_mhz: u32,
    /// The first two bytes of its Country element, as announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// One radio as nl80211 describes it. `Default` is a radio nothing is
/// known of yet: the parsers fill what their source says, sysfs the rest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phy {
    /// The name the kernel gives it now (`phy0`): a counter, not an identity.
    pub name: String,
    /// The wiphy index (`NL80211_ATTR_WIPHY`).
    pub index: u32,
    /// Kernel driver, when known (sysfs `device/driver`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The module holding the driver, when known (sysfs
    /// `device/driver/module`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Permanent address, when known (sysfs `macaddress`): unlike the name
    /// and index, it stays the same when the driver is reloaded or the
    /// adapter plugged in again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Supported interface types.
    #[serde(default)]
    pub modes: Vec<IfType>,
    /// Valid interface combinations, each one read whole.
    #[serde(default)]
    pub combinations: Vec<Combination>,
    /// Bands with their channels and regulatory flags.
    #[serde(default)]
    pub bands: Vec<Band>,
    /// SAE (WPA3-Personal) usable in AP mode: the driver lists SAE with the
    /// authenticate command, or offloads SAE for AP.
    #[serde(default)]
    pub sae: bool,
    /// Regulatory domain is managed by the device itself (country `99`/`na`).
    #[serde(default)]
    pub self_managed_reg: bool,
    /// The regulatory country the kernel applies to this phy now (the
    /// global domain, or a self-managed phy's own), when it is a real
    /// country: the world (`00`) and the unknown or intersected domains
    /// (`98`, `99`) are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// nl80211 interface types, named as `iw` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IfType {
    /// `IBSS` (ad-hoc).
    Ibss,
    /// `managed`: a station joining an access point.
    Managed,
    /// `AP`.
    Ap,
    /// `AP/VLAN`.
    ApVlan,
    /// `WDS`.
    Wds,
    /// `monitor`.
    Monitor,
    /// `mesh point`.
    MeshPoint,
    /// `P2P-client`.
    P2pClient,
    /// `P2P-GO`.
    P2pGo,
    /// `P2P-device`.
    P2pDevice,
    /// `outside context of a BSS`.
    Ocb,
    /// `NAN`.
    Nan,
}

/// One `valid interface combinations` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Combination {
    /// `#{ managed } <= 1` and so on.
    pub limits: Vec<Limit>,
    /// `total <= N`.
    pub total: u32,
    /// `#channels <= N`.
    pub channels: u32,
    /// `STA/AP BI must match`.
    #[serde(default)]
    pub beacon_int_must_match: bool,
}

/// One limit inside a combination: at most `max` interfaces of these types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub max: u32,
    pub types: Vec<IfType>,
}

/// Frequency band.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum BandId {
    #[default]
    #[serde(rename = "2.4GHz")]
    Band2G4,
    #[serde(rename = "5GHz")]
    Band5G,
    #[serde(rename = "6GHz")]
    Band6G,
    #[serde(rename = "60GHz")]
    Band60G,
}

/// One band of a phy. `Default` is a 2.4 GHz band nothing is known of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub band: BandId,
    /// HT (802.11n) capabilities present.
    #[serde(default)]
    pub ht: bool,
    /// VHT (802.11ac) capabilities present.
    #[serde(default)]
    pub vht: bool,
    /// The HT capability word (`NL80211_BAND_ATTR_HT_CAPA`; iw:
    /// `Capabilities: 0x…`): hostapd's `ht_capab` flags are derived from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ht_capa: Option<u16>,
    /// Spatial streams of the HT MCS set (MCS 0-7 one, 0-15 two, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ht_streams: Option<u8>,
    /// The VHT capability word (`NL80211_BAND_ATTR_VHT_CAPA`; iw: `VHT
    /// Capabilities (0x…)`): hostapd's `vht_capab` flags come from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vht_capa: Option<u32>,
    /// Spatial streams of the VHT receive MCS map, and its highest MCS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vht_streams: Option<u8>,
    /// HE (802.11ax) as the phy offers it to an AP interface, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub he_ap: Option<HeCaps>,
    pub channels: Vec<Channel>,
}

/// HE (802.11ax) capabilities for one interface type
/// (`NL80211_BAND_ATTR_IFTYPE_DATA`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeCaps {
    /// Byte 0 of the HE PHY capabilities: the channel width set (bit 1 40
    /// MHz on 2.4 GHz, bit 2 40 and 80 MHz on 5/6 GHz, bit 3 160 MHz).
    pub phy_cap0: u8,
    /// Spatial streams of the receive MCS map up to 80 MHz.
    #[serde(default)]
    pub streams: u8,
    /// EHT (802.11be) capabilities are listed for the same interface type.
    #[serde(default)]
    pub eht: bool,
}

impl HeCaps {
    /// 40 MHz on 2.4 GHz.
    pub fn he40_2g(&self) -> bool {
        self.phy_cap0 & 0x02 != 0
    }
    /// 40 and 80 MHz on 5 and 6 GHz.
    pub fn he80(&self) -> bool {
        self.phy_cap0 & 0x04 != 0
    }
    /// 160 MHz on 5 and 6 GHz.
    pub fn he160(&self) -> bool {
        self.phy_cap0 & 0x08 != 0
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub number: u16,
    pub freq_mhz: u32,
    #[serde(default)]
    pub disabled: bool,
    /// No initiating radiation (passive scan only): an AP may not beacon here.
    #[serde(default)]
    pub no_ir: bool,
    /// Radar detection (DFS) required.
    #[serde(default)]
    pub radar: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_power_dbm: Option<f32>,
    /// The regulatory width limits nl80211 reports per channel (iw prints
    /// none of them, so facts from `iw list` leave them false): no 40 MHz
    /// channel with this one as the primary and the secondary below/above.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_ht40_minus: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_ht40_plus: bool,
    /// No 80 MHz (160 MHz) channel may include this one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_80mhz: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_160mhz: bool,
    /// No HE (802.11ax) operation here.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_he: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An existing wireless interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WirelessInterface {
    pub name: String,
    pub ifindex: u32,
    /// Wiphy index of the phy it lives on.
    pub phy: u32,
    pub iftype: IfType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssid: Option<String>,
    /// Operating channel, when associated or beaconing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freq_mhz: Option<u32>,
    /// Operating width in MHz (20, 40, 80, 160), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_mhz: Option<u32>,
    /// Centre frequency of the whole operating channel (`center1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center1_mhz: Option<u32>,
}

/// An address on a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub ifname: String,
    /// Address with its prefix length, e.g. `192.168.1.23/24`.
    pub addr: IpNet,
}

/// A route from any routing table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Routing table id (254 = main, 255 = local).
    pub table: u32,
    /// Destination; `0.0.0.0/0` for a default route.
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

/// The kernel's handling of IPv6 router advertisements.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaFacts {
    /// `net.ipv6.conf.all.accept_ra`, when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_accept_ra: Option<i32>,
    /// Every link with IPv6, by name.
    #[serde(default)]
    pub links: Vec<RaLink>,
}

impl RaFacts {
    pub fn is_empty(&self) -> bool {
        self.all_accept_ra.is_none() && self.links.is_empty()
    }
}

/// One link's `accept_ra` (0: the kernel ignores advertisements, as under
/// networkd and NetworkManager, which handle them themselves; 1: it takes
/// them unless forwarding is on; 2: it takes them even then).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaLink {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_ra: Option<i32>,
    /// The kernel holds routes it made from advertisements on this link
    /// (`RTF_ADDRCONF`).
    #[serde(default)]
    pub kernel_ra_routes: bool,
}

/// What libvirt told us, or why it could not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibvirtFacts {
    /// False when libvirt could not be asked; then `error` says why.
    #[serde(default)]
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub networks: Vec<LibvirtNetwork>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibvirtNetwork {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(default)]
    pub active: bool,
    /// The network's addresses with their prefixes (`<ip address= prefix=>`).
    #[serde(default)]
    pub subnets: Vec<IpNet>,
}

/// A Wi-Fi driver module that is loaded but drives no phy while the image
/// lacks some of the firmware it declares (its device most likely failed to
/// start for want of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverWithoutPhy {
    pub module: String,
    /// How many firmware groups it declares.
    pub firmware_groups: u32,
    /// The groups the image has no file for, as the image's coverage report
    /// names them.
    pub missing_firmware: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_hostapd_accepts_is_optional_and_checked() {
        let old: Facts = serde_json::from_str(r#"{"phys": []}"#).unwrap();
        assert_eq!(old.hostapd.ieee80211be, None);
        assert!(!serde_json::to_string(&old).unwrap().contains("hostapd"));
        let asked: Facts = serde_json::from_str(r#"{"hostapd": {"ieee80211be": true}}"#).unwrap();
        assert_eq!(asked.hostapd.ieee80211be, Some(true));
        let back = serde_json::to_string(&asked).unwrap();
        assert!(back.contains(r#""hostapd":{"ieee80211be":true}"#), "{back}");
        let typo = serde_json::from_str::<Facts>(r#"{"hostapd": {"ieee80211bee": true}}"#);
        assert!(typo.is_err());
    }
}
