//! Every address and every route in every routing table, IPv4 and IPv6,
//! over rtnetlink. VPNs put their routes in policy tables, so the route dump
//! is not limited to `main`.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;

use super::error::FactsError;
use super::model::{Address, Route};
use super::netlink;

/// Addresses and routes of the network namespace this thread lives in.
pub fn gather() -> Result<(Vec<Address>, Vec<Route>), FactsError> {
    let socket = netlink::open(NETLINK_ROUTE, "rtnetlink")?;
    let links = decode_all(
        netlink::dump(&socket, "RTM_GETLINK dump", |seq| {
            request(RouteNetlinkMessage::GetLink(LinkMessage::default()), seq)
        })?,
        "RTM_GETLINK dump",
    );
    let addresses = decode_all(
        netlink::dump(&socket, "RTM_GETADDR dump", |seq| {
            request(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                seq,
            )
        })?,
        "RTM_GETADDR dump",
    );
    let routes = decode_all(
        netlink::dump(&socket, "RTM_GETROUTE dump", |seq| {
            // AF_UNSPEC with no table filter: the kernel walks every table of
            // both families.
            request(RouteNetlinkMessage::GetRoute(RouteMessage::default()), seq)
        })?,
        "RTM_GETROUTE dump",
    );
    Ok(from_messages(&links, &addresses, &routes))
}

fn request(message: RouteNetlinkMessage, sequence: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = sequence;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
    packet.finalize();
    let mut bytes = vec![0; packet.buffer_len()];
    packet.serialize(&mut bytes);
    bytes
}

/// Decodes a dump's messages. One the crate cannot read (an exotic route
/// type, a newer kernel) is skipped with a warning rather than failing the
/// whole gather: the agent is better off planning with the rest.
fn decode_all(raw: Vec<Vec<u8>>, request: &'static str) -> Vec<RouteNetlinkMessage> {
    raw.iter()
        .filter_map(
            |bytes| match NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes) {
                Ok(NetlinkMessage {
                    payload: NetlinkPayload::InnerMessage(inner),
                    ..
                }) => Some(inner),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!("{request}: skipping a message that cannot be decoded: {e}");
                    None
                }
            },
        )
        .collect()
}

/// Pure part: rtnetlink messages (as dumped or as received in events) to
/// facts. Links give the interface names addresses and routes refer to.
pub fn from_messages(
    links: &[RouteNetlinkMessage],
    addresses: &[RouteNetlinkMessage],
    routes: &[RouteNetlinkMessage],
) -> (Vec<Address>, Vec<Route>) {
    let mut names: HashMap<u32, String> = HashMap::new();
    for message in links {
        if let RouteNetlinkMessage::NewLink(link) = message {
            for attr in &link.attributes {
                if let LinkAttribute::IfName(name) = attr {
                    names.insert(link.header.index, name.clone());
                }
            }
        }
    }
    let name_of = |index: u32| {
        names
            .get(&index)
            .cloned()
            .unwrap_or_else(|| format!("if{index}"))
    };

    let mut out_addresses = Vec::new();
    for message in addresses {
        let RouteNetlinkMessage::NewAddress(address) = message else {
            continue;
        };
        // IFA_LOCAL is the interface's own address on point-to-point links
        // (IFA_ADDRESS is then the peer); elsewhere the two are equal.
        let local = address.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        });
        let plain = address.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        });
        let Some(ip) = local.or(plain) else { continue };
        let Ok(addr) = IpNet::new(ip, address.header.prefix_len) else {
            continue;
        };
        out_addresses.push(Address {
            ifname: name_of(address.header.index),
            addr,
        });
    }

    let mut out_routes = Vec::new();
    for message in routes {
        let RouteNetlinkMessage::NewRoute(route) = message else {
            continue;
        };
        if let Some(r) = route_fact(route, &name_of) {
            out_routes.push(r);
        }
    }
    (out_addresses, out_routes)
}

fn route_fact(route: &RouteMessage, name_of: &dyn Fn(u32) -> String) -> Option<Route> {
    let family = route.header.address_family;
    let mut table = u32::from(route.header.table);
    let mut dst: Option<IpAddr> = None;
    let mut gateway = None;
    let mut dev = None;
    for attr in &route.attributes {
        match attr {
            // RTA_TABLE carries ids above 255 that the header's u8 cannot.
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) => dst = ip_of(a),
            RouteAttribute::Gateway(a) => gateway = ip_of(a),
            RouteAttribute::Oif(index) => dev = Some(name_of(*index)),
            _ => {}
        }
    }
    let dst = match (dst, family) {
        (Some(ip), _) => ip,
        (None, AddressFamily::Inet) => IpAddr::from([0u8; 4]),
        (None, AddressFamily::Inet6) => IpAddr::from([0u16; 8]),
        // MPLS and other families have no IP destination.
        _ => return None,
    };
    let dst = IpNet::new(dst, route.header.destination_prefix_length).ok()?;
    Some(Route {
        table,
        dst,
        dev,
        gateway,
    })
}

fn ip_of(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}
