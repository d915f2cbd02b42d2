//! libvirt's networks through its client, so the AP's subnet and bridge never
//! collide with `default` (192.168.122.0/24 on virbr0) or any other. libvirt
//! missing or unreachable is recorded as a fact (`reachable = false` with
//! the reason), never a failure: the appliance may run without it.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::model::{LibvirtFacts, LibvirtNetwork};
use crate::libvirt::{Connection, Libvirt};

/// Every network, defined or active, with its bridge and addresses, as
/// the libvirt at `connection` has them.
pub fn gather(connection: &Connection) -> LibvirtFacts {
    let host = crate::host::Linux::new();
    match networks(&Libvirt::with(&host, connection.clone())) {
        Ok(networks) => LibvirtFacts {
            reachable: true,
            error: None,
            networks,
        },
        Err(error) => LibvirtFacts {
            reachable: false,
            error: Some(error),
            networks: Vec::new(),
        },
    }
}

fn networks(libvirt: &Libvirt<'_>) -> Result<Vec<LibvirtNetwork>, String> {
    let all = libvirt.network_names(true).map_err(|e| e.to_string())?;
    let active = libvirt.network_names(false).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for name in all {
        // A network undefined between the two calls is simply gone.
        let xml = match libvirt.dumpxml(&name) {
            Ok(xml) => xml,
            Err(e) => {
                tracing::warn!("libvirt network {name} vanished while reading it: {e}");
                continue;
            }
        };
        let mut network = parse_network_xml(&xml).map_err(|e| format!("network {name}: {e}"))?;
        network.active = active.contains(&name);
        out.push(network);
    }
    Ok(out)
}

/// Pure part: one `net-dumpxml` document. `active` is left false; the
/// caller knows it from `net-list`.
pub fn parse_network_xml(xml: &str) -> Result<LibvirtNetwork, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("invalid XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "network" {
        return Err(format!(
            "root element is <{}>, expected <network>",
            root.tag_name().name()
        ));
    }
    let child = |tag: &str| root.children().find(|n| n.has_tag_name(tag));
    let name = child("name")
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .ok_or("no <name>")?;
    let bridge = child("bridge")
        .and_then(|n| n.attribute("name"))
        .map(str::to_string);
    let mut subnets = Vec::new();
    for ip in root.children().filter(|n| n.has_tag_name("ip")) {
        let Some(address) = ip.attribute("address") else {
            continue;
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("<ip address='{address}'> is not an address"))?;
        let prefix = if let Some(prefix) = ip.attribute("prefix") {
            prefix
                .parse::<u8>()
                .map_err(|_| format!("<ip prefix='{prefix}'> is not a number"))?
        } else if let Some(mask) = ip.attribute("netmask") {
            netmask_prefix(mask)?
        } else {
            // libvirt's own defaults when neither is given.
            match address {
                IpAddr::V4(v4) => classful_prefix(v4),
                IpAddr::V6(_) => 64,
            }
        };
        let net = IpNet::new(address, prefix)
            .map_err(|_| format!("prefix {prefix} too long for {address}"))?;
        subnets.push(net);
    }
    Ok(LibvirtNetwork {
        name,
        bridge,
        active: false,
        subnets,
    })
}

fn netmask_prefix(mask: &str) -> Result<u8, String> {
    let bits = u32::from(
        mask.parse::<Ipv4Addr>()
            .map_err(|_| format!("<ip netmask='{mask}'> is not a netmask"))?,
    );
    let prefix = bits.leading_ones();
    if bits.checked_shl(prefix).unwrap_or(0) != 0 {
        return Err(format!("<ip netmask='{mask}'> is not contiguous"));
    }
    u8::try_from(prefix).map_err(|_| format!("<ip netmask='{mask}'> out of range"))
}

fn classful_prefix(v4: Ipv4Addr) -> u8 {
    match v4.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_with_netmask_prefix_and_ipv6() {
        let n = parse_network_xml(
            "<network><name>lab</name><forward mode='nat'/>\
             <bridge name='virbr7' stp='on' delay='0'/>\
             <ip address='10.10.0.1' netmask='255.255.0.0'><dhcp/></ip>\
             <ip family='ipv6' address='fd00:10::1' prefix='64'/></network>",
        )
        .unwrap();
        assert_eq!(n.name, "lab");
        assert_eq!(n.bridge.as_deref(), Some("virbr7"));
        let subnets: Vec<String> = n.subnets.iter().map(|s| s.to_string()).collect();
        assert_eq!(subnets, ["10.10.0.1/16", "fd00:10::1/64"]);
    }

    #[test]
    fn bad_documents_say_why() {
        assert!(parse_network_xml("<domain/>")
            .unwrap_err()
            .contains("<network>"));
        assert!(parse_network_xml(
            "<network><name>x</name><ip address='1.2.3.4' netmask='255.0.255.0'/></network>"
        )
        .unwrap_err()
        .contains("contiguous"));
        assert!(parse_network_xml("<network")
            .unwrap_err()
            .contains("invalid XML"));
        let isolated = parse_network_xml("<network><name>iso</name></network>").unwrap();
        assert!(isolated.subnets.is_empty() && isolated.bridge.is_none());
    }
}
