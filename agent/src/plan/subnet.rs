//! Which IPv4 subnet the AP's network gets: the first pool candidate, in an
//! order seeded by the machine id, that overlaps no address, no route in any
//! table and no other libvirt network; the previous one while it stays free.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::FixedRange;
use crate::facts::Facts;

/// Something that occupies addresses: the planner must not overlap it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InUse {
    pub net: Ipv4Net,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubnetChoice {
    pub net: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// The fixed range, for hosts that configure their own address and
    /// for reservations: `None` when `fixed_range` leaves it empty.
    pub fixed: Option<(Ipv4Addr, Ipv4Addr)>,
    pub dhcp_start: Ipv4Addr,
    pub dhcp_end: Ipv4Addr,
    /// The configured fixed range did not fit this subnet and was cut.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fixed_clamped: bool,
}

impl SubnetChoice {
    /// Gateway `.1`, the fixed range from `.2` up, DHCP above it to the
    /// last address before the broadcast. With the default (`50%`) DHCP
    /// takes the upper half (for a /16, x.y.128.0 – x.y.255.254).
    pub fn for_net(net: Ipv4Net, fixed: FixedRange) -> SubnetChoice {
        let base = u32::from(net.network());
        let split = fixed.split(32 - net.prefix_len());
        let at = |offset: u32| Ipv4Addr::from(base.wrapping_add(offset));
        SubnetChoice {
            net,
            gateway: at(1),
            fixed: (split.dhcp_start > 2).then(|| (at(2), at(split.dhcp_start - 1))),
            dhcp_start: at(split.dhcp_start),
            dhcp_end: at(split.dhcp_end),
            fixed_clamped: split.clamped,
        }
    }

    /// The host part where the DHCP range begins.
    pub fn dhcp_start_offset(&self) -> u32 {
        u32::from(self.dhcp_start).wrapping_sub(u32::from(self.net.network()))
    }
}

/// Routes shorter than this are default-route stand-ins (OpenVPN's
/// `0.0.0.0/1` + `128.0.0.0/1`), not networks that occupy the pool.
const MIN_ROUTE_PREFIX: u8 = 8;

/// Everything in use, except what belongs to our own network (`own`: our
/// libvirt network's bridge and our AP interface).
pub fn in_use(facts: &Facts, own_network: &str, own_links: &BTreeSet<String>) -> Vec<InUse> {
    let mut out = Vec::new();
    for a in &facts.addresses {
        if own_links.contains(&a.ifname) {
            continue;
        }
        if let IpNet::V4(n) = a.addr {
            out.push(InUse {
                net: n.trunc(),
                what: format!("address {n} on {}", a.ifname),
            });
        }
    }
    for r in &facts.routes {
        if r.dev.as_ref().is_some_and(|d| own_links.contains(d)) {
            continue;
        }
        if let IpNet::V4(n) = r.dst {
            if n.prefix_len() < MIN_ROUTE_PREFIX {
                continue;
            }
            let dev = r
                .dev
                .as_deref()
                .map(|d| format!(" dev {d}"))
                .unwrap_or_default();
            out.push(InUse {
                net: n.trunc(),
                what: format!("route {n}{dev} in table {}", r.table),
            });
        }
    }
    for n in &facts.libvirt.networks {
        if n.name == own_network {
            continue;
        }
        for s in &n.subnets {
            if let IpNet::V4(v4) = s {
                out.push(InUse {
                    net: v4.trunc(),
                    what: format!("libvirt network {:?} ({v4})", n.name),
                });
            }
        }
    }
    out
}

pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The candidates in the order they are tried: the pool's first entry first
/// (the design's 172.16.0.0/16), then the rest larger subnets first, shuffled
/// within each size by the machine id so neighbouring appliances differ and
/// each stays stable; subnets that conflicted before go last.
pub fn order(pool: &[Ipv4Net], machine_id: Option<&str>, conflicts: &[Ipv4Net]) -> Vec<Ipv4Net> {
    let Some((first, rest)) = pool.split_first() else {
        return vec![];
    };
    let key = |n: &Ipv4Net| -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(machine_id.unwrap_or("").trim().as_bytes());
        h.update(b"\0");
        h.update(n.to_string().as_bytes());
        h.finalize().into()
    };
    let mut rest: Vec<(u8, [u8; 32], usize, Ipv4Net)> = rest
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let k = if machine_id.is_some() {
                key(n)
            } else {
                [0; 32]
            };
            (n.prefix_len(), k, i, *n)
        })
        .collect();
    rest.sort();
    let mut all = vec![*first];
    all.extend(rest.into_iter().map(|(_, _, _, n)| n));
    let mut seen = BTreeSet::new();
    all.retain(|n| seen.insert(*n));
    let (bad, good): (Vec<_>, Vec<_>) = all.into_iter().partition(|n| conflicts.contains(n));
    good.into_iter().chain(bad).collect()
}

/// The outcome of subnet planning.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetOutcome {
    pub choice: SubnetChoice,
    pub why: String,
    /// Candidates that overlap something now, with the first thing each hits.
    pub conflicts: Vec<(Ipv4Net, String)>,
}

/// Picks the subnet; `Err` lists every candidate with what it overlaps.
pub fn choose(
    fixed: FixedRange,
    pool: &[Ipv4Net],
    used: &[InUse],
    machine_id: Option<&str>,
    previous: Option<Ipv4Net>,
    remembered: &[Ipv4Net],
) -> Result<SubnetOutcome, Vec<(Ipv4Net, String)>> {
    let candidates = order(pool, machine_id, remembered);
    let hit = |n: &Ipv4Net| used.iter().find(|u| overlaps(n, &u.net));
    let conflicts: Vec<(Ipv4Net, String)> = candidates
        .iter()
        .filter_map(|n| hit(n).map(|u| (*n, u.what.clone())))
        .collect();
    if let Some(prev) = previous {
        if let Some(u) = hit(&prev) {
            let note = format!("the previous subnet {prev} now overlaps {}", u.what);
            return pick(fixed, &candidates, &hit, conflicts, Some(note));
        }
        if candidates.contains(&prev) {
            return Ok(SubnetOutcome {
                choice: SubnetChoice::for_net(prev, fixed),
                why: format!("{prev}, kept from the previous run: still free"),
                conflicts,
            });
        }
    }
    pick(fixed, &candidates, &hit, conflicts, None)
}

fn pick<'a>(
    fixed: FixedRange,
    candidates: &[Ipv4Net],
    hit: &dyn Fn(&Ipv4Net) -> Option<&'a InUse>,
    conflicts: Vec<(Ipv4Net, String)>,
    note: Option<String>,
) -> Result<SubnetOutcome, Vec<(Ipv4Net, String)>> {
    let Some(net) = candidates.iter().find(|n| hit(n).is_none()) else {
        return Err(conflicts);
    };
    let skipped: Vec<String> = conflicts
        .iter()
        .take_while(|(n, _)| n != net)
        .map(|(n, w)| format!("{n} overlaps {w}"))
        .collect();
    let mut why = format!("{net}, the first free candidate of the pool");
    if !skipped.is_empty() {
        // The first few say enough; a VPN's /12 can cover dozens.
        let more = skipped.len().saturating_sub(3);
        let mut list = skipped[..skipped.len().min(3)].join("; ");
        if more > 0 {
            list.push_str(&format!("; {more} more candidates overlap too"));
        }
        why.push_str(&format!(" ({list})"));
    }
    if let Some(n) = note {
        why = format!("{n}; {why}");
    }
    Ok(SubnetOutcome {
        choice: SubnetChoice::for_net(*net, fixed),
        why,
        conflicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn used(nets: &[&str]) -> Vec<InUse> {
        nets.iter()
            .map(|n| InUse {
                net: net(n).trunc(),
                what: format!("test {n}"),
            })
            .collect()
    }

    #[test]
    fn dhcp_range_is_the_upper_half() {
        let half = FixedRange::default();
        let c = SubnetChoice::for_net(net("172.16.0.0/16"), half);
        assert_eq!(c.gateway.to_string(), "172.16.0.1");
        assert_eq!(c.dhcp_start.to_string(), "172.16.128.0");
        assert_eq!(c.dhcp_end.to_string(), "172.16.255.254");
        let (a, b) = c.fixed.unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("172.16.0.2".into(), "172.16.127.255".into())
        );
        let c = SubnetChoice::for_net(net("192.168.100.0/24"), half);
        assert_eq!(c.dhcp_start.to_string(), "192.168.100.128");
        assert_eq!(c.dhcp_end.to_string(), "192.168.100.254");
        assert_eq!(c.dhcp_start_offset(), 128);
    }

    #[test]
    fn the_fixed_range_is_a_size_that_follows_the_subnet() {
        let f = FixedRange::Count(20);
        let c = SubnetChoice::for_net(net("192.168.100.0/24"), f);
        assert_eq!(c.dhcp_start.to_string(), "192.168.100.22");
        assert_eq!(c.fixed.unwrap().1.to_string(), "192.168.100.21");
        let c = SubnetChoice::for_net(net("10.77.0.0/16"), f);
        assert_eq!(c.dhcp_start.to_string(), "10.77.0.22");
        let c = SubnetChoice::for_net(net("10.77.0.0/16"), FixedRange::Percent(0));
        assert_eq!(c.fixed, None);
        assert_eq!(c.dhcp_start.to_string(), "10.77.0.2");
        let c = SubnetChoice::for_net(net("192.168.100.0/24"), FixedRange::Count(500));
        assert!(c.fixed_clamped);
        assert_eq!(c.dhcp_start, c.dhcp_end);
    }

    #[test]
    fn first_pool_entry_goes_first_and_order_depends_on_machine_id() {
        let pool = crate::config::default_subnet_pool();
        let a = order(&pool, Some("aaaa"), &[]);
        let b = order(&pool, Some("bbbb"), &[]);
        assert_eq!(a[0], net("172.16.0.0/16"));
        assert_eq!(b[0], net("172.16.0.0/16"));
        assert_ne!(a, b);
        assert_eq!(a, order(&pool, Some("aaaa"), &[]));
        assert_eq!(a.len(), pool.len());
        // /16s before /24s.
        let first24 = a.iter().position(|n| n.prefix_len() == 24).unwrap();
        assert!(a[..first24].iter().all(|n| n.prefix_len() == 16));
        // A remembered conflict goes last.
        let c = order(&pool, Some("aaaa"), &[net("172.16.0.0/16")]);
        assert_eq!(c.last(), Some(&net("172.16.0.0/16")));
    }

    #[test]
    fn previous_subnet_is_kept_while_free_and_left_when_taken() {
        let pool = crate::config::default_subnet_pool();
        let prev = net("172.20.0.0/16");
        let o = choose(
            FixedRange::default(),
            &pool,
            &[],
            Some("m"),
            Some(prev),
            &[],
        )
        .unwrap();
        assert_eq!(o.choice.net, prev);
        let o = choose(
            FixedRange::default(),
            &pool,
            &used(&["172.20.3.4/24"]),
            Some("m"),
            Some(prev),
            &[],
        )
        .unwrap();
        assert_eq!(o.choice.net, net("172.16.0.0/16"));
        assert!(o.why.contains("172.20.0.0/16 now overlaps"), "{}", o.why);
        assert_eq!(o.conflicts.len(), 1);
    }

    #[test]
    fn exhaustion_lists_every_candidate() {
        let pool = vec![net("10.1.0.0/16"), net("10.2.0.0/16")];
        let e = choose(
            FixedRange::default(),
            &pool,
            &used(&["10.0.0.0/8"]),
            None,
            None,
            &[],
        )
        .unwrap_err();
        assert_eq!(e.len(), 2);
    }

    fn arb_net() -> impl Strategy<Value = Ipv4Net> {
        (any::<u32>(), 8u8..=30)
            .prop_map(|(a, p)| Ipv4Net::new(Ipv4Addr::from(a), p).unwrap().trunc())
    }

    fn arb_private_net() -> impl Strategy<Value = Ipv4Net> {
        prop_oneof![
            (0u32..1 << 24, 8u8..=30).prop_map(|(a, p)| Ipv4Net::new(
                Ipv4Addr::from((10 << 24) | a),
                p.max(8)
            )
            .unwrap()
            .trunc()),
            (0u32..1 << 20, 12u8..=30).prop_map(|(a, p)| Ipv4Net::new(
                Ipv4Addr::from(0xac10_0000 | a),
                p
            )
            .unwrap()
            .trunc()),
            (0u32..1 << 16, 16u8..=30).prop_map(|(a, p)| Ipv4Net::new(
                Ipv4Addr::from(0xc0a8_0000 | a),
                p
            )
            .unwrap()
            .trunc()),
        ]
    }

    proptest! {
        #[test]
        fn never_overlaps_anything_in_use(
            nets in proptest::collection::vec(prop_oneof![arb_net(), arb_private_net()], 0..40),
            mid in "[0-9a-f]{32}",
            prev in proptest::option::of(arb_private_net()),
        ) {
            let pool = crate::config::default_subnet_pool();
            let u: Vec<InUse> = nets.iter().map(|n| InUse { net: *n, what: n.to_string() }).collect();
            match choose(FixedRange::default(), &pool, &u, Some(&mid), prev, &[]) {
                Ok(o) => {
                    for n in &nets {
                        prop_assert!(!overlaps(&o.choice.net, n), "{} overlaps {}", o.choice.net, n);
                    }
                    prop_assert!(pool.contains(&o.choice.net));
                    // Stable: the same inputs give the same answer, and
                    // feeding the answer back as previous keeps it.
                    let again = choose(FixedRange::default(), &pool, &u, Some(&mid), Some(o.choice.net), &[]).unwrap();
                    prop_assert_eq!(again.choice.net, o.choice.net);
                }
                Err(all) => {
                    // Exhaustion only when every candidate really overlaps.
                    prop_assert_eq!(all.len(), pool.len());
                }
            }
        }
    }
}
