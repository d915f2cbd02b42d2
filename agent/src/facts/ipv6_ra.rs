//! Who handles the upstream's IPv6 router advertisements: per link the
//! kernel's `accept_ra`, and whether the kernel itself holds routes it
//! learnt from them. libvirt reads exactly these before it turns IPv6
//! forwarding on for a network with IPv6: a route flagged `RTF_ADDRCONF` in
//! `/proc/net/ipv6_route` on a link whose `accept_ra` is 1 (or 0 while
//! `all` is 1) makes it refuse, because with forwarding on the kernel stops
//! taking advertisements there and its routes from them expire. Routes that
//! networkd or NetworkManager add from their own handling of
//! advertisements carry no such flag.

use std::collections::BTreeMap;
use std::path::Path;

use super::model::{RaFacts, RaLink};
use super::validate::ifname_problem;

/// The kernel's flag on routes it made from router advertisements
/// (`RTF_ADDRCONF` in `linux/ipv6_route.h`).
const RTF_ADDRCONF: u32 = 0x0004_0000;

/// The links of `/proc/net/ipv6_route` text that carry a route the kernel
/// made from a router advertisement, sorted and once each. The line format:
/// destination, its length, source, its length, next hop, metric, reference
/// count, use count, flags (hex) and the device, whitespace-separated.
pub fn kernel_ra_links(text: &str) -> Vec<String> {
    let mut links: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(fields.get(8)?, 16).ok()?;
            let dev = *fields.get(9)?;
            (flags & RTF_ADDRCONF != 0 && ifname_problem(dev).is_none()).then(|| dev.to_string())
        })
        .collect();
    links.sort();
    links.dedup();
    links
}

fn read_accept_ra(proc: &Path, link: &str) -> Option<i32> {
    let path = proc.join("sys/net/ipv6/conf").join(link).join("accept_ra");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads `PROC/net/ipv6_route` and every link's `accept_ra` under
/// `PROC/sys/net/ipv6/conf`. Without IPv6 in the kernel, or without /proc,
/// nothing is known: empty facts.
pub fn gather(proc: &Path) -> RaFacts {
    let routes = std::fs::read_to_string(proc.join("net/ipv6_route")).unwrap_or_default();
    let with_routes = kernel_ra_links(&routes);
    let mut links: BTreeMap<String, RaLink> = BTreeMap::new();
    let names = std::fs::read_dir(proc.join("sys/net/ipv6/conf"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for name in names {
        if name == "all" || name == "default" || ifname_problem(&name).is_some() {
            continue;
        }
        let accept_ra = read_accept_ra(proc, &name);
        links.insert(
            name.clone(),
            RaLink {
                kernel_ra_routes: with_routes.contains(&name),
                name,
                accept_ra,
            },
        );
    }
    RaFacts {
        all_accept_ra: read_accept_ra(proc, "all"),
        links: links.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as the kernel writes them: a link-local prefix route, a
    // prefix route and a default route from an advertisement on eth0 (the
    // kernel's own handling), a default route networkd added on wlan0 from
    // its own (no RTF_ADDRCONF), and loopback's local route.
    const ROUTES: &str = "\
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fec00000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00040001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000002 00000400 00000001 00000000 00450003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003    wlan0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
";

    #[test]
    fn only_the_kernels_own_routes_from_advertisements_count() {
        assert_eq!(kernel_ra_links(ROUTES), ["eth0"]);
    }

    #[test]
    fn broken_lines_and_bad_names_are_skipped() {
        assert!(kernel_ra_links("garbage\n0 1 2\n").is_empty());
        let bad = "0 00 0 00 0 0 0 0 00040001 ../x\n0 00 0 00 0 0 0 0 zz eth1\n";
        assert!(kernel_ra_links(bad).is_empty());
    }

    #[test]
    fn gathers_accept_ra_per_link_and_marks_those_with_kernel_routes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("net")).unwrap();
        std::fs::write(p.join("net/ipv6_route"), ROUTES).unwrap();
        for (link, v) in [
            ("all", "1"),
            ("default", "1"),
            ("eth0", "1"),
            ("wlan0", "0"),
        ] {
            let d = p.join("sys/net/ipv6/conf").join(link);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("accept_ra"), format!("{v}\n")).unwrap();
        }
        let f = gather(p);
        assert_eq!(f.all_accept_ra, Some(1));
        assert_eq!(
            f.links,
            [
                RaLink {
                    name: "eth0".into(),
                    accept_ra: Some(1),
                    kernel_ra_routes: true
                },
                RaLink {
                    name: "wlan0".into(),
                    accept_ra: Some(0),
                    kernel_ra_routes: false
                },
            ]
        );
    }

    #[test]
    fn no_ipv6_is_nothing_known() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(gather(dir.path()), RaFacts::default());
    }
}
