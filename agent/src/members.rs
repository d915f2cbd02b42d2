//! Who is on the network: Wi-Fi stations (from hostapd), VMs and
//! containers (libvirt's ports of the network: `net-port-list` and
//! `net-port-dumpxml` name each port's owner domain and MAC address through
//! the network driver alone, without the domain's hypervisor driver), and
//! their addresses and host names (`net-dhcp-leases`). Parsing and merging
//! are pure; [`gather`] asks libvirt through its client.

use serde::Serialize;

use crate::hostapd::Station;
use crate::libvirt::{norm_mac as norm, parse_port_xml, Libvirt};
pub use crate::libvirt::{Lease, Port};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Wi-Fi station associated with the access point.
    Station,
    /// A libvirt domain's interface on the network.
    Domain,
    /// Only a lease: a host neither associated nor plugged in now (gone,
    /// or behind another bridge port).
    Lease,
}

/// One member of the network, with everything known about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub kind: Kind,
    pub mac: String,
    /// The libvirt domain, for [`Kind::Domain`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The host name it gave DHCP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
    /// Stations: signal in dBm and seconds since association.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_time: Option<u64>,
    /// Stations: the negotiated mode (HE, VHT, HT, legacy) and last rates.
    #[serde(flatten)]
    pub link: crate::rates::StationLink,
}

/// Everyone on the network: each station and each port with the addresses
/// and host name their leases give, then the leases of no one present. A
/// DHCPv6 lease without a MAC address goes to the member whose IPv4 lease
/// has the same host name.
pub fn merge(stations: &[Station], ports: &[Port], leases: &[Lease]) -> Vec<Member> {
    let mut members: Vec<Member> = Vec::new();
    let blank = |kind, mac: &str| Member {
        kind,
        mac: norm(mac),
        domain: None,
        hostname: None,
        ipv4: Vec::new(),
        ipv6: Vec::new(),
        signal: None,
        connected_time: None,
        link: Default::default(),
    };
    for s in stations {
        let mut m = blank(Kind::Station, &s.addr);
        m.signal = s.get("signal").and_then(|v| v.trim().parse().ok());
        m.connected_time = s.get("connected_time").and_then(|v| v.trim().parse().ok());
        m.link = crate::rates::station_link(s);
        members.push(m);
    }
    for p in ports {
        let mut m = blank(Kind::Domain, &p.mac);
        m.domain = Some(p.owner.clone());
        members.push(m);
    }
    // MAC-addressed leases first, so that host names are known for the rest.
    let (by_mac, by_name): (Vec<&Lease>, Vec<&Lease>) =
        leases.iter().partition(|l| l.mac.is_some());
    for l in by_mac {
        let mac = l.mac.as_deref().unwrap_or_default();
        let i = match members.iter().position(|m| m.mac == mac) {
            Some(i) => i,
            None => {
                members.push(blank(Kind::Lease, mac));
                members.len() - 1
            }
        };
        add_lease(&mut members[i], l);
    }
    for l in by_name {
        let Some(name) = &l.hostname else { continue };
        if let Some(m) = members
            .iter_mut()
            .find(|m| m.hostname.as_deref() == Some(name.as_str()))
        {
            add_lease(m, l);
        }
    }
    members
}

fn add_lease(m: &mut Member, l: &Lease) {
    let list = if l.ipv6 { &mut m.ipv6 } else { &mut m.ipv4 };
    if !list.contains(&l.address) {
        list.push(l.address.clone());
    }
    if m.hostname.is_none() {
        m.hostname.clone_from(&l.hostname);
    }
}

/// What libvirt says about the network's ports and leases, and what could
/// not be read (libvirt down, network gone): never a failure of `status`.
#[derive(Debug, Clone, Default)]
pub struct LibvirtView {
    pub ports: Vec<Port>,
    pub leases: Vec<Lease>,
    pub errors: Vec<String>,
}

/// Asks libvirt about network `name`.
pub fn gather(libvirt: &Libvirt<'_>, name: &str) -> LibvirtView {
    let mut view = LibvirtView::default();
    match libvirt.leases(name) {
        Ok(leases) => view.leases = leases,
        Err(e) => view.errors.push(e.to_string()),
    }
    match libvirt.port_documents(name) {
        Ok(docs) => {
            for xml in docs {
                match parse_port_xml(&xml) {
                    Ok(p) => view.ports.push(p),
                    Err(e) => tracing::debug!("a network port of {name}: {e}"),
                }
            }
        }
        Err(e) => view.errors.push(e.to_string()),
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::parse_leases;
    use crate::libvirt::tests::{LEASES, PORT};

    #[test]
    fn stations_ports_and_leases_merge_by_mac_then_name() {
        let sta = Station::parse(
            "02:00:00:00:01:00\nflags=[AUTH][ASSOC][AUTHORIZED]\nsignal=-31\nconnected_time=42\n",
        )
        .unwrap();
        let ports = vec![parse_port_xml(PORT).unwrap()];
        let m = merge(&[sta], &ports, &parse_leases(LEASES));
        assert_eq!(m.len(), 3, "{m:#?}");
        assert_eq!(m[0].kind, Kind::Station);
        assert_eq!(m[0].signal, Some(-31));
        assert_eq!(m[0].connected_time, Some(42));
        assert_eq!(m[0].ipv4, ["172.16.128.10"]);
        assert_eq!(m[0].hostname.as_deref(), Some("sta1"));
        assert_eq!(m[1].kind, Kind::Domain);
        assert_eq!(m[1].domain.as_deref(), Some("web"));
        assert_eq!(m[1].ipv4, ["172.16.0.10"]);
        assert_eq!(m[1].ipv6, ["fd12:3456:789a:1000::1a2"]);
        assert_eq!(m[2].kind, Kind::Lease);
        assert_eq!(m[2].mac, "52:54:00:aa:bb:cc");
        let v = serde_json::to_value(&m[1]).unwrap();
        assert_eq!(v["kind"], "domain");
        assert_eq!(v["domain"], "web");
    }
}
