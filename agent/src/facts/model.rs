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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BandId {
    #[serde(rename = "2.4GHz")]
    Band2G4,
    #[serde(rename = "5GHz")]
    Band5G,
    #[serde(rename = "6GHz")]
    Band6G,
    #[serde(rename = "60GHz")]
    Band60G,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub band: BandId,
    /// HT (802.11n) capabilities present.
    #[serde(default)]
    pub ht: bool,
    /// VHT (802.11ac) capabilities present.
    #[serde(default)]
    pub vht: bool,
    pub channels: Vec<Channel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
