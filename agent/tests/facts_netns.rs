//! rtnetlink facts and change events, read back from network namespaces this
//! test makes with iproute2 (root required, as in CI).

mod common;

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use softap_agent::facts::events::{Change, ChangeWatcher};
use softap_agent::facts::{rtnl, Address, Route};

/// A network namespace that is deleted when the test ends, failed or not.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "softap-facts-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        Netns { name }
    }

    /// Runs `ip -n NS ARGS...`, failing the test with ip's message.
    fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    fn exec(&self, command: &[&str]) {
        let mut full = vec!["netns", "exec", self.name.as_str()];
        full.extend_from_slice(command);
        ip(&full);
    }

    /// Runs `f` on a thread that has entered the namespace; sockets made
    /// there stay in it wherever they are used later.
    fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // setns moves only this thread.
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .expect("thread inside the namespace panicked")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) {
    common::run_ok(common::tool("ip", "iproute2").args(args));
}

fn has_address(addresses: &[Address], ifname: &str, addr: &str) -> bool {
    addresses
        .iter()
        .any(|a| a.ifname == ifname && a.addr.to_string() == addr)
}

fn find_route<'a>(routes: &'a [Route], table: u32, dst: &str) -> Option<&'a Route> {
    routes
        .iter()
        .find(|r| r.table == table && r.dst.to_string() == dst)
}

#[test]
fn rtnetlink_reads_addresses_and_routes_of_every_table() {
    let ns = Netns::new();
    ns.ip(&["link", "set", "lo", "up"]);
    // veth, not dummy: not every kernel here has the dummy driver.
    ns.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "up0p"]);
    ns.ip(&["link", "set", "up0", "up"]);
    ns.ip(&["link", "set", "up0p", "up"]);
    ns.ip(&["addr", "add", "10.77.1.2/24", "dev", "up0"]);
    ns.ip(&["addr", "add", "fd00:77::2/64", "dev", "up0", "nodad"]);
    ns.ip(&["route", "add", "default", "via", "10.77.1.1", "dev", "up0"]);
    // A VPN-style policy table, and one past 255 (only RTA_TABLE can say it).
    ns.ip(&[
        "route",
        "add",
        "172.16.0.0/12",
        "dev",
        "up0",
        "table",
        "100",
    ]);
    ns.ip(&[
        "-6",
        "route",
        "add",
        "fd00:99::/48",
        "dev",
        "up0",
        "table",
        "100",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.200.0.0/16",
        "via",
        "10.77.1.1",
        "table",
        "1000",
    ]);
    ns.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"]);
    ns.ip(&["addr", "add", "192.168.77.1/30", "dev", "va"]);
    ns.ip(&["link", "set", "va", "up"]);
    ns.ip(&["link", "set", "vb", "up"]);

    let (addresses, routes) = ns.enter(|| rtnl::gather().expect("rtnetlink dump"));

    assert!(
        has_address(&addresses, "up0", "10.77.1.2/24"),
        "{addresses:#?}"
    );
    assert!(
        has_address(&addresses, "up0", "fd00:77::2/64"),
        "{addresses:#?}"
    );
    assert!(
        has_address(&addresses, "va", "192.168.77.1/30"),
        "{addresses:#?}"
    );
    assert!(
        has_address(&addresses, "lo", "127.0.0.1/8"),
        "{addresses:#?}"
    );
    // Nothing from the host's namespace leaks in.
    assert!(addresses
        .iter()
        .all(|a| ["lo", "up0", "up0p", "va", "vb"].contains(&a.ifname.as_str())));

    let default = find_route(&routes, 254, "0.0.0.0/0").expect("default route in main");
    assert_eq!(
        default.gateway,
        Some("10.77.1.1".parse::<IpAddr>().unwrap())
    );
    assert_eq!(default.dev.as_deref(), Some("up0"));
    let vpn = find_route(&routes, 100, "172.16.0.0/12").expect("table 100 route");
    assert_eq!(vpn.dev.as_deref(), Some("up0"));
    assert!(
        find_route(&routes, 100, "fd00:99::/48").is_some(),
        "{routes:#?}"
    );
    let high = find_route(&routes, 1000, "10.200.0.0/16").expect("table 1000 route");
    assert_eq!(high.gateway, Some("10.77.1.1".parse::<IpAddr>().unwrap()));
    assert!(
        find_route(&routes, 254, "10.77.1.0/24").is_some(),
        "connected route"
    );
    assert!(
        find_route(&routes, 254, "fd00:77::/64").is_some(),
        "IPv6 connected route"
    );
    assert!(
        find_route(&routes, 255, "10.77.1.2/32").is_some(),
        "local table"
    );
}

/// Waits up to `within` for `wanted`, collecting whatever else arrives
/// (IPv6 autoconfiguration adds addresses and routes on its own).
fn wait_for(watcher: &mut ChangeWatcher, wanted: Change, within: Duration) -> (bool, Vec<Change>) {
    let started = Instant::now();
    let mut seen = Vec::new();
    while let Some(left) = within.checked_sub(started.elapsed()) {
        match watcher.wait(left).expect("waiting for changes") {
            Some(change) => {
                seen.push(change);
                if change == wanted {
                    return (true, seen);
                }
            }
            None => break,
        }
    }
    (false, seen)
}

/// Reads changes until none came for `quiet`.
fn settle(watcher: &mut ChangeWatcher, quiet: Duration) {
    let started = Instant::now();
    while watcher.wait(quiet).expect("waiting for changes").is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the namespace never went quiet"
        );
    }
}

#[test]
fn change_watcher_notices_an_address_within_two_seconds() {
    let ns = Netns::new();
    // No duplicate address detection: link-local addresses settle at once
    // instead of changing state a second or two later.
    ns.exec(&[
        "sh",
        "-c",
        "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad && \
         echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad",
    ]);
    ns.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "up0p"]);
    ns.ip(&["link", "set", "up0", "up"]);
    ns.ip(&["link", "set", "up0p", "up"]);
    let mut watcher = ns.enter(|| ChangeWatcher::new().expect("watcher"));
    // Once the links' own autoconfiguration is over, a wait times out
    // quietly with nothing to report.
    settle(&mut watcher, Duration::from_millis(500));
    assert_eq!(watcher.wait(Duration::from_millis(200)).unwrap(), None);

    let started = Instant::now();
    ns.ip(&["addr", "add", "172.16.9.1/16", "dev", "up0"]);
    let (found, seen) = wait_for(&mut watcher, Change::Address, Duration::from_secs(2));
    assert!(found, "no address event within 2 s, saw {seen:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    ns.ip(&["route", "add", "10.9.0.0/16", "dev", "up0", "table", "100"]);
    let (found, seen) = wait_for(&mut watcher, Change::Route, Duration::from_secs(2));
    assert!(found, "no route event within 2 s, saw {seen:?}");

    ns.ip(&["link", "add", "up1", "type", "bridge"]);
    let (found, seen) = wait_for(&mut watcher, Change::Link, Duration::from_secs(2));
    assert!(found, "no link event within 2 s, saw {seen:?}");
}
