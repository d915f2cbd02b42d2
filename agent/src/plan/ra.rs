//! IPv6 beside an upstream that has it: which links' `accept_ra` the
//! bring-up sets to 2 before libvirt turns IPv6 forwarding on.
//!
//! libvirt refuses to start a network with IPv6 while the kernel holds
//! routes it made from router advertisements on a link whose `accept_ra` is
//! 1 (or 0 under an `all` of 1), since forwarding makes the kernel stop
//! taking advertisements there and those routes then expire. At 2 the
//! kernel takes them even while forwarding: libvirt's check passes and the
//! upstream keeps its IPv6. A link at 1 that is an upstream (it has a
//! default route) is set to 2 as well, with or without IPv6 yet, so that
//! an upstream whose advertisements start after the network does still
//! gets its IPv6 routes. Links whose advertisements networkd or
//! NetworkManager handle (the kernel's `accept_ra` at 0) need nothing.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::facts::Facts;

/// One link whose `accept_ra` goes to 2 while the network runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcceptRa {
    pub link: String,
    /// Its value before, put back when the AP stops.
    pub from: i32,
    /// The kernel holds routes from advertisements on it (libvirt's
    /// check would fail on it).
    pub kernel_routes: bool,
}

/// The value at which the kernel takes advertisements even while
/// forwarding.
pub const ROUTER_ACCEPT_RA: i32 = 2;

/// The links to set, in name order; never one of the network's own.
pub fn accept_ra_fixes(facts: &Facts, own_links: &BTreeSet<String>) -> Vec<AcceptRa> {
    let all = facts.ipv6_ra.all_accept_ra;
    let upstream = |link: &str| {
        facts
            .routes
            .iter()
            .any(|r| r.dst.prefix_len() == 0 && r.dev.as_deref() == Some(link))
    };
    facts
        .ipv6_ra
        .links
        .iter()
        .filter(|l| !own_links.contains(&l.name))
        .filter_map(|l| {
            let from = l.accept_ra?;
            let blocks_libvirt = l.kernel_ra_routes && (from == 1 || (from == 0 && all == Some(1)));
            let kernel_upstream = from == 1 && upstream(&l.name);
            (blocks_libvirt || kernel_upstream).then(|| AcceptRa {
                link: l.name.clone(),
                from,
                kernel_routes: l.kernel_ra_routes,
            })
        })
        .collect()
}

/// The plan's sentence on them, or on an upstream routed over IPv6 that
/// needs nothing; `None` when there is neither.
pub fn explain(facts: &Facts, own_links: &BTreeSet<String>, fixes: &[AcceptRa]) -> Option<String> {
    if !fixes.is_empty() {
        let links: Vec<String> = fixes
            .iter()
            .map(|f| {
                format!(
                    "{} ({} -> {ROUTER_ACCEPT_RA}{})",
                    f.link,
                    f.from,
                    if f.kernel_routes {
                        ", holds routes from router advertisements"
                    } else {
                        ", an upstream"
                    }
                )
            })
            .collect();
        return Some(format!(
            "accept_ra set on {}: the kernel handles router advertisements there and keeps \
             taking them at 2 while libvirt turns IPv6 forwarding on, so the upstream keeps \
             its IPv6 routes; put back when the AP stops",
            links.join(", ")
        ));
    }
    let routed = facts.routes.iter().find(|r| {
        matches!(r.dst, ipnet::IpNet::V6(n) if n.prefix_len() == 0)
            && !r.dev.as_ref().is_some_and(|d| own_links.contains(d))
    })?;
    Some(format!(
        "the upstream is routed over IPv6 (default route{}) by a program that handles router \
         advertisements itself (networkd, NetworkManager): IPv6 forwarding leaves its routes \
         alone",
        routed
            .dev
            .as_deref()
            .map(|d| format!(" on {d}"))
            .unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{RaFacts, RaLink, Route};

    fn link(name: &str, accept_ra: i32, kernel_ra_routes: bool) -> RaLink {
        RaLink {
            name: name.into(),
            accept_ra: Some(accept_ra),
            kernel_ra_routes,
        }
    }

    fn default_via(dev: &str, v6: bool) -> Route {
        Route {
            table: 254,
            dst: if v6 { "::/0" } else { "0.0.0.0/0" }.parse().unwrap(),
            dev: Some(dev.into()),
            gateway: Some(if v6 { "fe80::1" } else { "10.0.0.1" }.parse().unwrap()),
        }
    }

    fn facts(all: i32, links: Vec<RaLink>, routes: Vec<Route>) -> Facts {
        Facts {
            ipv6_ra: RaFacts {
                all_accept_ra: Some(all),
                links,
            },
            routes,
            ..Facts::default()
        }
    }

    fn own() -> BTreeSet<String> {
        ["virbr0".to_string(), "softap".to_string()].into()
    }

    #[test]
    fn libvirts_own_rule_decides_on_links_with_kernel_routes() {
        // accept_ra 1, or 0 under all=1, with the kernel's routes: refused by
        // libvirt, so fixed; 2 already, or 0 under all=0: nothing to do.
        let f = facts(
            1,
            vec![
                link("eth0", 1, true),
                link("eth1", 0, true),
                link("eth2", 2, true),
                link("virbr0", 1, true),
            ],
            vec![],
        );
        let fixes = accept_ra_fixes(&f, &own());
        let names: Vec<&str> = fixes.iter().map(|f| f.link.as_str()).collect();
        assert_eq!(names, ["eth0", "eth1"]);
        assert_eq!(fixes[1].from, 0);
        let f = facts(0, vec![link("eth1", 0, true)], vec![]);
        assert!(accept_ra_fixes(&f, &own()).is_empty());
    }

    #[test]
    fn an_upstream_whose_kernel_takes_advertisements_is_fixed_before_they_come() {
        let f = facts(
            1,
            vec![link("eth0", 1, false), link("eth9", 1, false)],
            vec![default_via("eth0", false)],
        );
        let fixes = accept_ra_fixes(&f, &own());
        assert_eq!(
            fixes,
            [AcceptRa {
                link: "eth0".into(),
                from: 1,
                kernel_routes: false
            }]
        );
        let why = explain(&f, &own(), &fixes).unwrap();
        assert!(
            why.starts_with("accept_ra set on eth0 (1 -> 2, an upstream)"),
            "{why}"
        );
    }

    #[test]
    fn networkd_or_networkmanager_upstreams_need_nothing_and_are_said() {
        // Both keep the kernel's accept_ra at 0 and add routes themselves.
        let f = facts(
            1,
            vec![link("eth0", 0, false)],
            vec![default_via("eth0", true), default_via("virbr0", true)],
        );
        let fixes = accept_ra_fixes(&f, &own());
        assert!(fixes.is_empty());
        let why = explain(&f, &own(), &fixes).unwrap();
        assert!(why.contains("default route on eth0"), "{why}");
        // No IPv6 upstream at all: nothing to say.
        let f = facts(
            1,
            vec![link("eth0", 0, false)],
            vec![default_via("eth0", false)],
        );
        assert_eq!(explain(&f, &own(), &[]), None);
    }

    #[test]
    fn an_unreadable_accept_ra_is_left_alone_as_libvirt_does() {
        let mut l = link("eth0", 1, true);
        l.accept_ra = None;
        let f = facts(1, vec![l], vec![default_via("eth0", false)]);
        assert!(accept_ra_fixes(&f, &own()).is_empty());
    }
}
