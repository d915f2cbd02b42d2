//! Waiting for the network to change: rtnetlink multicast groups (links,
//! IPv4/IPv6 addresses and routes) and nl80211's `config` group (wiphys
//! appearing and going). Event-driven: the caller sleeps in poll(2) on the
//! sockets; nothing re-reads kernel state on a timer.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use netlink_sys::protocols::{NETLINK_GENERIC, NETLINK_ROUTE};
use netlink_sys::Socket;

use super::error::FactsError;
use super::netlink;
use super::nl80211::{self, Family, NL80211_CMD_DEL_WIPHY, NL80211_CMD_NEW_WIPHY};

// rtnetlink multicast groups (linux/rtnetlink.h, enum rtnetlink_groups).
const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_ROUTE: u32 = 11;

// rtnetlink message types (linux/rtnetlink.h).
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;

// Generic netlink controller (linux/genetlink.h).
const GENL_ID_CTRL: u16 = 16;
const CTRL_CMD_NEWFAMILY: u8 = 1;
const CTRL_CMD_DELFAMILY: u8 = 2;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// What kind of state changed; the caller re-gathers facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    Address,
    Route,
    Link,
    Wiphy,
}

pub struct ChangeWatcher {
    route: Socket,
    genl: Socket,
    /// nl80211, once registered (cfg80211 may load only when an adapter is
    /// plugged in: the controller's `notify` group announces it).
    nl80211: Option<Family>,
    pending: VecDeque<Change>,
}

impl ChangeWatcher {
    /// Subscribes in the current network namespace.
    pub fn new() -> Result<Self, FactsError> {
        let route = netlink::open(NETLINK_ROUTE, "rtnetlink")?;
        for group in [
            RTNLGRP_LINK,
            RTNLGRP_IPV4_IFADDR,
            RTNLGRP_IPV4_ROUTE,
            RTNLGRP_IPV6_IFADDR,
            RTNLGRP_IPV6_ROUTE,
        ] {
            route
                .add_membership(group)
                .map_err(|source| FactsError::Socket {
                    protocol: "rtnetlink",
                    source,
                })?;
        }
        route
            .set_non_blocking(true)
            .map_err(|source| FactsError::Socket {
                protocol: "rtnetlink",
                source,
            })?;

        // Family lookups go over their own socket: answers must not mix
        // with the events on the subscribed one.
        let lookup = netlink::open(NETLINK_GENERIC, "generic")?;
        let genl = netlink::open(NETLINK_GENERIC, "generic")?;
        if let Some(ctrl) = nl80211::resolve_family(&lookup, "nlctrl")? {
            if let Some(notify) = ctrl.group("notify") {
                genl.add_membership(notify)
                    .map_err(|source| FactsError::Socket {
                        protocol: "generic",
                        source,
                    })?;
            }
        }
        let mut watcher = ChangeWatcher {
            route,
            genl,
            nl80211: None,
            pending: VecDeque::new(),
        };
        watcher.subscribe_nl80211(&lookup)?;
        watcher
            .genl
            .set_non_blocking(true)
            .map_err(|source| FactsError::Socket {
                protocol: "generic",
                source,
            })?;
        Ok(watcher)
    }

    fn subscribe_nl80211(&mut self, lookup: &Socket) -> Result<(), FactsError> {
        let Some(family) = nl80211::resolve_family(lookup, "nl80211")? else {
            self.nl80211 = None;
            return Ok(());
        };
        if let Some(config) = family.group("config") {
            self.genl
                .add_membership(config)
                .map_err(|source| FactsError::Socket {
                    protocol: "generic",
                    source,
                })?;
        }
        self.nl80211 = Some(family);
        Ok(())
    }

    /// The next change, or `None` when `timeout` passes without one.
    pub fn wait(&mut self, timeout: Duration) -> Result<Option<Change>, FactsError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(change) = self.pending.pop_front() {
                return Ok(Some(change));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fds = [
                PollFd::new(&self.route, PollFlags::IN),
                PollFd::new(&self.genl, PollFlags::IN),
            ];
            let wait = Timespec::try_from(left).unwrap_or(Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            });
            let ready = match poll(&mut fds, Some(&wait)) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(FactsError::Poll {
                        source: std::io::Error::from(e),
                    })
                }
            };
            let (route_ready, genl_ready) =
                (!fds[0].revents().is_empty(), !fds[1].revents().is_empty());
            if ready == 0 {
                return Ok(None);
            }
            if route_ready {
                self.drain_route()?;
            }
            if genl_ready {
                self.drain_genl()?;
            }
            if self.pending.is_empty() && Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    fn push(&mut self, change: Change) {
        if self.pending.back() != Some(&change) {
            self.pending.push_back(change);
        }
    }

    /// Reads every queued datagram of `socket`; an overrun (ENOBUFS) means
    /// events were lost, so everything may have changed.
    fn drain(socket: &Socket) -> Result<(Vec<Vec<u8>>, bool), FactsError> {
        let mut datagrams = Vec::new();
        loop {
            match socket.recv_from_full() {
                Ok((datagram, _)) => datagrams.push(datagram),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Ok((datagrams, false))
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok((datagrams, true)),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(FactsError::Poll { source }),
            }
        }
    }

    fn drain_route(&mut self) -> Result<(), FactsError> {
        let (datagrams, overrun) = Self::drain(&self.route)?;
        for datagram in &datagrams {
            for message in netlink::split(datagram).unwrap_or_default() {
                match message.kind {
                    RTM_NEWLINK | RTM_DELLINK => self.push(Change::Link),
                    RTM_NEWADDR | RTM_DELADDR => self.push(Change::Address),
                    RTM_NEWROUTE | RTM_DELROUTE => self.push(Change::Route),
                    _ => {}
                }
            }
        }
        if overrun {
            for change in [Change::Link, Change::Address, Change::Route] {
                self.push(change);
            }
        }
        Ok(())
    }

    fn drain_genl(&mut self) -> Result<(), FactsError> {
        let (datagrams, overrun) = Self::drain(&self.genl)?;
        let mut resubscribe = false;
        for datagram in &datagrams {
            for message in netlink::split(datagram).unwrap_or_default() {
                let cmd = message.payload.first().copied();
                if message.kind == GENL_ID_CTRL {
                    let names_nl80211 = family_name(message.payload) == Some("nl80211");
                    if names_nl80211 && cmd == Some(CTRL_CMD_NEWFAMILY) {
                        resubscribe = true;
                        self.push(Change::Wiphy);
                    } else if names_nl80211 && cmd == Some(CTRL_CMD_DELFAMILY) {
                        self.nl80211 = None;
                        self.push(Change::Wiphy);
                    }
                } else if self.nl80211.as_ref().map(|f| f.id) == Some(message.kind)
                    && matches!(cmd, Some(NL80211_CMD_NEW_WIPHY | NL80211_CMD_DEL_WIPHY))
                {
                    self.push(Change::Wiphy);
                }
            }
        }
        if overrun {
            self.push(Change::Wiphy);
        }
        if resubscribe {
            let lookup = netlink::open(NETLINK_GENERIC, "generic")?;
            self.subscribe_nl80211(&lookup)?;
        }
        Ok(())
    }
}

/// CTRL_ATTR_FAMILY_NAME of a controller notification (genl header skipped).
fn family_name(payload: &[u8]) -> Option<&str> {
    let mut rest = payload.get(4..)?;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == CTRL_ATTR_FAMILY_NAME {
            let value = &rest[4..len];
            let value = value.split(|b| *b == 0).next()?;
            return std::str::from_utf8(value).ok();
        }
        rest = rest.get((len + 3) & !3..)?;
    }
    None
}
