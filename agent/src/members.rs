//! Who is on the network: Wi-Fi stations (from hostapd), VMs and
//! containers (libvirt's ports of the network: `net-port-list` and
//! `net-port-dumpxml` name each port's owner domain and MAC address through
//! the network driver alone, without the domain's hypervisor driver), and
//! their addresses and host names (`net-dhcp-leases`). Parsing and merging
//! are pure; [`gather`] runs `virsh`.

use serde::Serialize;

use crate::hostapd::Station;

/// One DHCP lease as `virsh net-dhcp-leases` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// `None` where dnsmasq did not learn it (some DHCPv6 leases).
    pub mac: Option<String>,
    pub ipv6: bool,
    /// The address without its prefix length.
    pub address: String,
    pub hostname: Option<String>,
}

/// One port of the network: a VM's or container's interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    /// The libvirt domain that owns it.
    pub owner: String,
    pub mac: String,
}

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

/// A MAC address in one spelling, for comparisons.
fn norm(mac: &str) -> String {
    mac.trim().to_ascii_lowercase()
}

fn is_mac(s: &str) -> bool {
    crate::config::network::is_mac(s)
}

/// Parses `virsh net-dhcp-leases NAME` (run with `LC_ALL=C`): a header, a
/// line of dashes, then one lease a line: expiry date and time, MAC
/// address, protocol, address/prefix, host name (`-` when none), client ID.
pub fn parse_leases(text: &str) -> Vec<Lease> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("---"))
        .skip(1)
        .filter_map(|line| {
            let t: Vec<&str> = line.split_whitespace().collect();
            let [_date, _time, mac, proto, addr, host, ..] = t.as_slice() else {
                return None;
            };
            let ipv6 = match *proto {
                "ipv4" => false,
                "ipv6" => true,
                _ => return None,
            };
            let address = addr.split('/').next().unwrap_or(addr).to_owned();
            Some(Lease {
                mac: is_mac(mac).then(|| norm(mac)),
                ipv6,
                address,
                hostname: (*host != "-").then(|| (*host).to_owned()),
            })
        })
        .collect()
}

/// Parses `virsh net-port-list --uuid NAME`: one UUID a line.
pub fn parse_port_uuids(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.len() == 36 && l.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .map(str::to_owned)
        .collect()
}

/// Parses one `virsh net-port-dumpxml NAME UUID` document.
pub fn parse_port_xml(xml: &str) -> Result<Port, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("invalid XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "networkport" {
        return Err(format!(
            "expected <networkport>, found <{}>",
            root.tag_name().name()
        ));
    }
    fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
        n.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
    }
    let owner = child(root, "owner")
        .and_then(|o| child(o, "name"))
        .and_then(|n| n.text())
        .ok_or("no <owner><name>")?;
    let mac = child(root, "mac")
        .and_then(|m| m.attribute("address"))
        .filter(|m| is_mac(m))
        .ok_or("no <mac address=...>")?;
    Ok(Port {
        owner: owner.trim().to_owned(),
        mac: norm(mac),
    })
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

/// Asks libvirt's network driver about network `name`.
pub fn gather(name: &str) -> LibvirtView {
    let virsh = |args: &[&str]| {
        let mut full = vec!["virsh", "-c", "network:///system"];
        full.extend_from_slice(args);
        crate::cmd::run_env(&full, &[("LC_ALL", "C")]).map_err(|e| e.to_string())
    };
    let mut view = LibvirtView::default();
    match virsh(&["net-dhcp-leases", name]) {
        Ok(text) => view.leases = parse_leases(&text),
        Err(e) => view.errors.push(e),
    }
    match port_documents(name, virsh) {
        Ok(docs) => {
            for xml in docs {
                match parse_port_xml(&xml) {
                    Ok(p) => view.ports.push(p),
                    Err(e) => tracing::debug!("a network port of {name}: {e}"),
                }
            }
        }
        Err(e) => view.errors.push(e),
    }
    view
}

/// Network `name`'s ports as `net-port-dumpxml` documents, `virsh` running
/// `virsh ARGS`; an error only when the list cannot be had. A port
/// unplugged between the two calls is simply gone.
pub fn port_documents(
    name: &str,
    virsh: impl Fn(&[&str]) -> Result<String, String>,
) -> Result<Vec<String>, String> {
    let list = virsh(&["net-port-list", "--uuid", name])?;
    Ok(parse_port_uuids(&list)
        .into_iter()
        .filter_map(|uuid| match virsh(&["net-port-dumpxml", name, &uuid]) {
            Ok(xml) => Some(xml),
            Err(e) => {
                tracing::debug!("network port {uuid}: {e}");
                None
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libvirt 11's output, as run on the appliance.
    const LEASES: &str = " Expiry Time           MAC address         Protocol   IP address                  Hostname   Client ID or DUID
-----------------------------------------------------------------------------------------------------------------------------
 2026-12-01 21:00:00   02:00:00:00:01:00   ipv4       172.16.128.10/16            sta1       01:02:00:00:00:01:00
 2026-12-01 21:00:05   52:54:00:5A:00:01   ipv4       172.16.0.10/16              web        -
 2026-12-01 21:00:07   -                   ipv6       fd12:3456:789a:1000::1a2/64   web        00:04:8a:1e
 2026-12-01 21:00:09   52:54:00:aa:bb:cc   ipv4       172.16.128.99/16            -          -

";

    const PORT: &str = "<networkport>
  <uuid>2f7a9e1c-0b0e-4f4e-9c3e-6f1f3a1d2b4c</uuid>
  <owner>
    <name>web</name>
    <uuid>a1b2c3d4-0000-4000-8000-000000000001</uuid>
  </owner>
  <mac address='52:54:00:5a:00:01'/>
  <plug type='network' bridge='virbr0'/>
</networkport>
";

    #[test]
    fn leases_are_read_row_by_row() {
        let l = parse_leases(LEASES);
        assert_eq!(l.len(), 4);
        assert_eq!(l[0].mac.as_deref(), Some("02:00:00:00:01:00"));
        assert_eq!(l[0].address, "172.16.128.10");
        assert_eq!(l[0].hostname.as_deref(), Some("sta1"));
        assert_eq!(l[1].mac.as_deref(), Some("52:54:00:5a:00:01"));
        assert!(l[2].ipv6 && l[2].mac.is_none());
        assert_eq!(l[2].address, "fd12:3456:789a:1000::1a2");
        assert_eq!(l[3].hostname, None);
        assert_eq!(parse_leases(""), vec![]);
        assert_eq!(parse_leases("error: failed to get network 'x'\n"), vec![]);
    }

    #[test]
    fn ports_name_their_domain_and_mac() {
        let p = parse_port_xml(PORT).unwrap();
        assert_eq!(
            p,
            Port {
                owner: "web".into(),
                mac: "52:54:00:5a:00:01".into()
            }
        );
        assert!(parse_port_xml("<network/>").is_err());
        assert!(parse_port_xml("<networkport><mac address='x'/></networkport>").is_err());
        assert!(parse_port_xml("<networkport").is_err());
        let uuids = parse_port_uuids(" 2f7a9e1c-0b0e-4f4e-9c3e-6f1f3a1d2b4c\n\n UUID\n-----\n");
        assert_eq!(uuids, ["2f7a9e1c-0b0e-4f4e-9c3e-6f1f3a1d2b4c"]);
    }

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
