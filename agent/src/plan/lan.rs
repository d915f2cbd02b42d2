//! What the network holds besides its IPv4 subnet: the `[[host]]`
//! reservations placed in the chosen subnet, and the IPv6 unique local
//! prefix. Reservations and the prefix are derived from the subnet and the
//! machine id, so they follow the subnet when it moves.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::HostEntry;
use crate::facts::Facts;

/// A `[[host]]` placed in the subnet in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reservation {
    pub mac: String,
    pub name: String,
    pub offset: u32,
    pub address: Ipv4Addr,
    /// Whether the address lies in the fixed range (else in the DHCP
    /// range, where dnsmasq keeps it for this MAC address alone).
    pub fixed: bool,
}

/// Places every reservation in `net`: the address at its host part.
/// `dhcp_start` is the host part where the DHCP range begins.
pub fn reservations(hosts: &[HostEntry], net: Ipv4Net, dhcp_start: u32) -> Vec<Reservation> {
    let base = u32::from(net.network());
    hosts
        .iter()
        .map(|h| Reservation {
            mac: h.mac.to_ascii_lowercase(),
            name: h.name.clone(),
            offset: h.offset,
            address: Ipv4Addr::from(base.wrapping_add(h.offset)),
            fixed: h.offset < dhcp_start,
        })
        .collect()
}

/// The network's IPv6 side: a /64 of unique local space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ipv6Choice {
    pub net: Ipv6Net,
    pub gateway: Ipv6Addr,
    pub dhcp_start: Ipv6Addr,
    pub dhcp_end: Ipv6Addr,
}

impl Ipv6Choice {
    fn for_net(net: Ipv6Net) -> Ipv6Choice {
        let base = u128::from(net.network());
        Ipv6Choice {
            net,
            gateway: Ipv6Addr::from(base + 1),
            dhcp_start: Ipv6Addr::from(base + 0x100),
            dhcp_end: Ipv6Addr::from(base + 0xffff),
        }
    }
}

/// How many global IDs are tried before IPv6 is left off.
const ULA_TRIES: u32 = 16;

/// Routes shorter than this stand for "everything" (a default route), not
/// a network that occupies the prefix.
const MIN_ROUTE_PREFIX: u8 = 8;

/// The 40-bit global ID of try `n`: from the machine id, so each machine
/// has its own and keeps it (RFC 4193 asks for a random-looking one).
fn global_id(machine_id: Option<&str>, n: u32) -> u64 {
    let mut h = Sha256::new();
    h.update(b"softap-ula\0");
    h.update(machine_id.unwrap_or("").trim().as_bytes());
    if n > 0 {
        h.update(n.to_be_bytes());
    }
    let d = h.finalize();
    d[..5]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// The 16-bit subnet ID: the IPv4 subnet's second and third bytes, so the
/// IPv6 prefix moves with the IPv4 subnet and is recognisable beside it
/// (172.16.0.0/16 gives `:1000:`, 192.168.100.0/24 `:a864:`).
fn subnet_id(v4: Ipv4Net) -> u16 {
    let o = v4.network().octets();
    u16::from_be_bytes([o[1], o[2]])
}

/// The /64 of try `n`.
pub fn ula(machine_id: Option<&str>, v4: Ipv4Net, n: u32) -> Ipv6Net {
    let gid = u128::from(global_id(machine_id, n));
    let bits = (0xfdu128 << 120) | (gid << 80) | (u128::from(subnet_id(v4)) << 64);
    Ipv6Net::new(Ipv6Addr::from(bits), 64)
        .map(|n| n.trunc())
        .unwrap_or_default()
}

/// Every IPv6 network in use outside our own network.
fn in_use(
    facts: &Facts,
    own_network: &str,
    own_links: &BTreeSet<String>,
) -> Vec<(Ipv6Net, String)> {
    let mut out = Vec::new();
    for a in &facts.addresses {
        if let (IpNet::V6(n), false) = (a.addr, own_links.contains(&a.ifname)) {
            out.push((n.trunc(), format!("address {n} on {}", a.ifname)));
        }
    }
    for r in &facts.routes {
        if r.dev.as_ref().is_some_and(|d| own_links.contains(d)) {
            continue;
        }
        if let IpNet::V6(n) = r.dst {
            if n.prefix_len() >= MIN_ROUTE_PREFIX {
                out.push((n.trunc(), format!("route {n} in table {}", r.table)));
            }
        }
    }
    for n in facts
        .libvirt
        .networks
        .iter()
        .filter(|n| n.name != own_network)
    {
        for s in &n.subnets {
            if let IpNet::V6(v6) = s {
                out.push((v6.trunc(), format!("libvirt network {:?} ({v6})", n.name)));
            }
        }
    }
    out
}

fn overlaps(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The IPv6 prefix: the previous one (given when the IPv4 subnet stayed)
/// while nothing overlaps it, else the first of the machine's unique local
/// /64s for this IPv4 subnet that nothing in use overlaps, and why; `None`
/// (with why) when every try is taken.
pub fn choose_ipv6(
    facts: &Facts,
    own_network: &str,
    own_links: &BTreeSet<String>,
    v4: Ipv4Net,
    previous: Option<Ipv6Net>,
) -> (Option<Ipv6Choice>, String) {
    let used = in_use(facts, own_network, own_links);
    let mut skipped = Vec::new();
    if let Some(prev) = previous {
        match used.iter().find(|(u, _)| overlaps(&prev, u)) {
            None => {
                return (
                    Some(Ipv6Choice::for_net(prev)),
                    format!("{prev}, kept from the previous run with {v4}: still free"),
                )
            }
            Some((_, what)) => skipped.push(format!("the previous {prev} now overlaps {what}")),
        }
    }
    for n in 0..ULA_TRIES {
        let net = ula(facts.machine_id.as_deref(), v4, n);
        match used.iter().find(|(u, _)| overlaps(&net, u)) {
            Some((_, what)) => skipped.push(format!("{net} overlaps {what}")),
            None => {
                let mut why = format!(
                    "{net}: unique local (RFC 4193), global ID from the machine id, subnet ID from {v4}"
                );
                if let Some(first) = skipped.first() {
                    why.push_str(&format!(
                        " ({first}; the machine's global ID number {})",
                        n + 1
                    ));
                }
                return (Some(Ipv6Choice::for_net(net)), why);
            }
        }
    }
    (
        None,
        format!(
            "off: every unique local prefix tried overlaps something in use ({})",
            skipped.first().cloned().unwrap_or_default()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Address, LibvirtNetwork};
    use proptest::prelude::*;

    fn v4(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn reservations_keep_their_host_part_when_the_subnet_moves() {
        let hosts = vec![HostEntry {
            mac: "52:54:00:AB:00:01".into(),
            name: "web".into(),
            offset: 10,
        }];
        let a = reservations(&hosts, v4("172.16.0.0/16"), 32768);
        assert_eq!(a[0].address.to_string(), "172.16.0.10");
        assert_eq!(a[0].mac, "52:54:00:ab:00:01");
        assert!(a[0].fixed);
        let b = reservations(&hosts, v4("192.168.100.0/24"), 5);
        assert_eq!(b[0].address.to_string(), "192.168.100.10");
        assert!(!b[0].fixed);
    }

    #[test]
    fn the_ula_is_fd_plus_40_bits_and_follows_the_ipv4_subnet() {
        let a = ula(Some("m1"), v4("172.16.0.0/16"), 0);
        assert_eq!(a.prefix_len(), 64);
        let s = a.network().segments();
        assert_eq!(s[0] >> 8, 0xfd);
        assert_eq!(s[3], 0x1000);
        assert_eq!(a, ula(Some("m1\n"), v4("172.16.0.0/16"), 0));
        assert_ne!(a, ula(Some("m2"), v4("172.16.0.0/16"), 0));
        let b = ula(Some("m1"), v4("192.168.100.0/24"), 0);
        assert_eq!(b.network().segments()[3], 0xa864);
        assert_eq!(&b.network().segments()[..3], &s[..3]);
        assert_ne!(ula(Some("m1"), v4("172.16.0.0/16"), 1), a);
    }

    fn facts_with(addr: &str, libvirt: Option<&str>) -> Facts {
        let mut f = Facts {
            machine_id: Some("m1".into()),
            ..Facts::default()
        };
        f.addresses.push(Address {
            ifname: "eth0".into(),
            addr: addr.parse().unwrap(),
        });
        if let Some(net) = libvirt {
            f.libvirt.networks.push(LibvirtNetwork {
                name: "other".into(),
                bridge: Some("virbr9".into()),
                active: true,
                subnets: vec![net.parse().unwrap()],
            });
        }
        f
    }

    #[test]
    fn a_prefix_in_use_is_skipped_and_explained() {
        let net = v4("172.16.0.0/16");
        let first = ula(Some("m1"), net, 0);
        let taken = format!("{}/64", Ipv6Addr::from(u128::from(first.network()) + 5));
        let f = facts_with(&taken, None);
        let (c, why) = choose_ipv6(&f, "softap", &BTreeSet::new(), net, None);
        let c = c.unwrap();
        assert_eq!(c.net, ula(Some("m1"), net, 1));
        assert!(why.contains("overlaps address"), "{why}");
        assert_eq!(c.gateway, Ipv6Addr::from(u128::from(c.net.network()) + 1));
        // Our own bridge's address is ours.
        let own: BTreeSet<String> = ["eth0".to_string()].into();
        let (c, _) = choose_ipv6(&f, "softap", &own, net, None);
        assert_eq!(c.unwrap().net, first);
        // The previous prefix stays while free, whatever the machine id.
        let prev: Ipv6Net = "fd00:aaaa:bbbb:1000::/64".parse().unwrap();
        let (c, why) = choose_ipv6(&f, "softap", &own, net, Some(prev));
        assert_eq!(c.unwrap().net, prev);
        assert!(why.contains("kept from the previous run"), "{why}");
        let (c, why) = choose_ipv6(&f, "softap", &BTreeSet::new(), net, Some(first));
        assert_eq!(c.unwrap().net, ula(Some("m1"), net, 1));
        assert!(why.contains("the previous"), "{why}");
        // All of fc00::/7 taken by another libvirt network: IPv6 stays off.
        let f = facts_with("10.0.0.2/24", Some("fc00::/7"));
        let (c, why) = choose_ipv6(&f, "softap", &BTreeSet::new(), net, None);
        assert_eq!(c, None);
        assert!(why.starts_with("off: "), "{why}");
    }

    proptest! {
        #[test]
        fn the_prefix_is_unique_local_and_overlaps_nothing_in_use(
            mid in "[0-9a-f]{32}",
            used in proptest::collection::vec((any::<u128>(), 8u8..=128), 0..20),
            a in any::<u32>(),
        ) {
            let v4net = Ipv4Net::new(Ipv4Addr::from(a), 24).unwrap().trunc();
            let mut f = Facts { machine_id: Some(mid), ..Facts::default() };
            let nets: Vec<Ipv6Net> = used
                .iter()
                .map(|(bits, len)| Ipv6Net::new(Ipv6Addr::from(*bits), *len).unwrap().trunc())
                .collect();
            for n in &nets {
                f.addresses.push(Address { ifname: "x".into(), addr: IpNet::V6(*n) });
            }
            if let (Some(c), _) = choose_ipv6(&f, "softap", &BTreeSet::new(), v4net, None) {
                prop_assert!(Ipv6Net::new(Ipv6Addr::from(0xfdu128 << 120), 8).unwrap().contains(&c.net));
                for n in &nets {
                    prop_assert!(!overlaps(&c.net, n));
                }
                prop_assert!(c.net.contains(&c.gateway) && c.net.contains(&c.dhcp_end));
            }
        }
    }
}
