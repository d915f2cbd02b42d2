//! Whether a container can run the appliance: it must be privileged (to
//! create the AP interface, start libvirt's bridge and firewall rules and
//! turn on forwarding) and on the host's network (where the radios, the
//! upstream and the stations are). The image's entrypoint runs this before
//! systemd, so a container started without either flag stops at once with
//! one message naming it, instead of booting into a loop of failing units.

use std::path::Path;

/// Bits of the capability bounding set a bring-up needs.
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// A sysctl the kernel registers in the initial network namespace only, so
/// it is missing from `/proc/sys` in every other one (a container's own
/// network): a direct test for "on the host's network" that does not
/// depend on how a host names or counts its links.
pub const INIT_NETNS_ONLY_SYSCTL: &str = "/proc/sys/net/core/netdev_max_backlog";

/// What the container was given, read from `/proc` and `/sys`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `CapBnd` of `/proc/self/status`; `None` when unreadable.
    pub cap_bounding: Option<u64>,
    /// `/sys` is mounted read-only.
    pub sys_read_only: bool,
    /// `/proc/sys` is mounted read-only.
    pub proc_sys_read_only: bool,
    /// This is the host's (the initial) network namespace.
    pub host_network: bool,
    /// The links this network namespace has, for the message.
    pub links: Vec<String>,
}

/// A flag the container was started without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// `--privileged`, and what showed it.
    Privileged(Vec<String>),
    /// `--network=host`, and the links seen instead of the host's.
    HostNetwork(Vec<String>),
}

impl Missing {
    fn flag(&self) -> &'static str {
        match self {
            Missing::Privileged(_) => "--privileged",
            Missing::HostNetwork(_) => "--network=host",
        }
    }

    fn why(&self) -> String {
        match self {
            Missing::Privileged(seen) => seen.join(", "),
            Missing::HostNetwork(links) => format!(
                "it has a network of its own, not the host's with its radios; its links: {}",
                if links.is_empty() {
                    "none".to_string()
                } else {
                    links.join(" ")
                }
            ),
        }
    }
}

/// Reads `CapBnd` from the text of `/proc/self/status`.
pub fn cap_bounding(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// Whether `path` is on a read-only mount, from the text of
/// `/proc/self/mountinfo`: the last mount (later mounts cover earlier ones)
/// whose mount point is `path` or one of its parents decides.
pub fn read_only(mountinfo: &str, path: &str) -> bool {
    let covers = |mp: &str| {
        mp == "/"
            || path == mp
            || path
                .strip_prefix(mp)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let mut best: Option<(usize, bool)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(mp), Some(opts)) = (fields.get(4), fields.get(5)) else {
            continue;
        };
        let mp = mp.replace("\\040", " ");
        if !covers(&mp) {
            continue;
        }
        let ro = opts.split(',').any(|o| o == "ro");
        // The deepest mount point wins; among equals, the later line.
        if best.is_none_or(|(len, _)| mp.len() >= len) {
            best = Some((mp.len(), ro));
        }
    }
    best.is_some_and(|(_, ro)| ro)
}

/// What is missing, both flags when both are.
pub fn missing(f: &Facts) -> Vec<Missing> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    match f.cap_bounding {
        None => seen.push("its capabilities are unreadable".to_string()),
        Some(bits) => {
            for (bit, name) in [
                (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
                (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
            ] {
                if bits & (1 << bit) == 0 {
                    seen.push(format!("no {name}"));
                }
            }
        }
    }
    if f.sys_read_only {
        seen.push("/sys is read-only".into());
    }
    if f.proc_sys_read_only {
        seen.push("/proc/sys is read-only".into());
    }
    if !seen.is_empty() {
        out.push(Missing::Privileged(seen));
    }
    if !f.host_network {
        out.push(Missing::HostNetwork(f.links.clone()));
    }
    out
}

/// The one message for what is missing; `None` when nothing is.
pub fn message(missing: &[Missing]) -> Option<String> {
    if missing.is_empty() {
        return None;
    }
    let flags: Vec<&str> = missing.iter().map(Missing::flag).collect();
    let why: Vec<String> = missing.iter().map(|m| m.why()).collect();
    Some(format!(
        "this container must run with {} ({}); start it as README.md shows, e.g. \
`podman run -d --name softap --privileged --network=host ...`",
        flags.join(" and "),
        why.join("; ")
    ))
}

/// The links of this process's network namespace (not /sys/class/net,
/// which shows the namespace sysfs was mounted in): `/proc`'s `net/dev`
/// of this thread lists the links of its namespace.
fn links_here() -> Vec<String> {
    std::fs::read_to_string("/proc/thread-self/net/dev")
        .map(|text| net_dev_links(&text))
        .unwrap_or_default()
}

/// The link names of a `net/dev` table: below two header lines, each line
/// is the name, a colon and the counters.
fn net_dev_links(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The facts of the running process, read under `root` (`/` but in tests).
pub fn gather(root: &Path) -> Facts {
    let read = |p: &str| std::fs::read_to_string(root.join(p.trim_start_matches('/')));
    let mountinfo = read("/proc/self/mountinfo").unwrap_or_default();
    let mut links = links_here();
    links.sort();
    Facts {
        cap_bounding: read("/proc/self/status")
            .ok()
            .and_then(|s| cap_bounding(&s)),
        sys_read_only: read_only(&mountinfo, "/sys"),
        proc_sys_read_only: read_only(&mountinfo, "/proc/sys"),
        host_network: root
            .join(INIT_NETNS_ONLY_SYSCTL.trim_start_matches('/'))
            .exists(),
        links,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_from_the_net_dev_table() {
        let table = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1234      12    0    0    0     0          0         0     1234      12    0    0    0     0       0          0
wlp0s20f3: 987654   3210    0    0    0     0          0         0   123456    1234    0    0    0     0       0          0
";
        assert_eq!(net_dev_links(table), ["lo", "wlp0s20f3"]);
        // This thread's own namespace has at least its loopback.
        assert!(links_here().iter().any(|l| l == "lo"));
    }

    /// podman run --privileged --network=host (seen in a podman 5 container).
    const PRIVILEGED: &str = "\
30 29 0:40 / / rw,relatime - overlay overlay rw
31 30 0:43 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
32 30 0:44 / /dev rw,nosuid - tmpfs tmpfs rw
35 30 0:20 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
36 35 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
40 30 0:47 / /run rw,nosuid,nodev - tmpfs tmpfs rw
";

    /// podman run without --privileged: /sys and /proc/sys read-only.
    const CONFINED: &str = "\
30 29 0:40 / / rw,relatime - overlay overlay rw
31 30 0:43 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
35 30 0:20 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs rw
36 35 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
50 31 0:43 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
51 31 0:43 /sysrq-trigger /proc/sysrq-trigger ro,nosuid,nodev,noexec,relatime - proc proc rw
";

    const ALL_CAPS: u64 = 0x000001ffffffffff;
    /// podman's default set: no NET_ADMIN, no SYS_ADMIN.
    const DEFAULT_CAPS: u64 = 0x00000000800405fb;

    #[test]
    fn capabilities_come_from_the_status_file() {
        let status = "Name:\tsh\nCapEff:\t0000000000000000\nCapBnd:\t00000000800405fb\n";
        assert_eq!(cap_bounding(status), Some(DEFAULT_CAPS));
        assert_eq!(cap_bounding("Name: sh\n"), None);
    }

    #[test]
    fn the_deepest_and_latest_mount_decides() {
        assert!(!read_only(PRIVILEGED, "/sys"));
        assert!(!read_only(PRIVILEGED, "/proc/sys"));
        assert!(read_only(CONFINED, "/sys"));
        assert!(read_only(CONFINED, "/proc/sys"));
        assert!(!read_only(CONFINED, "/sys/fs/cgroup"));
        // /sysfoo is not under /sys.
        assert!(!read_only(CONFINED, "/sysfoo"));
        let remounted = format!("{PRIVILEGED}60 30 0:20 / /sys ro - sysfs sysfs rw\n");
        assert!(read_only(&remounted, "/sys"));
        assert!(!read_only("", "/sys"));
    }

    fn privileged_on_host() -> Facts {
        Facts {
            cap_bounding: Some(ALL_CAPS),
            sys_read_only: false,
            proc_sys_read_only: false,
            host_network: true,
            links: vec!["lo".into(), "wlan0".into(), "enp0s3".into()],
        }
    }

    #[test]
    fn privileged_on_the_host_network_passes() {
        assert_eq!(missing(&privileged_on_host()), vec![]);
        assert_eq!(message(&[]), None);
    }

    #[test]
    fn without_privileged_the_message_names_the_flag_and_what_showed_it() {
        let f = Facts {
            cap_bounding: Some(DEFAULT_CAPS),
            sys_read_only: true,
            proc_sys_read_only: true,
            ..privileged_on_host()
        };
        let m = message(&missing(&f)).unwrap();
        assert!(m.contains("must run with --privileged ("), "{m}");
        assert!(m.contains("no CAP_NET_ADMIN"), "{m}");
        assert!(m.contains("/sys is read-only"), "{m}");
        assert!(!m.contains("--network=host and"), "{m}");
        // Capabilities added by hand do not make /sys writable.
        let caps_only = Facts {
            sys_read_only: true,
            ..privileged_on_host()
        };
        assert_eq!(
            missing(&caps_only),
            vec![Missing::Privileged(vec!["/sys is read-only".into()])]
        );
    }

    #[test]
    fn without_host_network_the_message_names_the_flag_and_the_links() {
        let f = Facts {
            host_network: false,
            links: vec!["eth0".into(), "lo".into()],
            ..privileged_on_host()
        };
        let m = message(&missing(&f)).unwrap();
        assert!(m.contains("must run with --network=host ("), "{m}");
        assert!(m.contains("its links: eth0 lo"), "{m}");
        let neither = Facts {
            cap_bounding: Some(DEFAULT_CAPS),
            ..f
        };
        let m = message(&missing(&neither)).unwrap();
        assert!(m.contains("--privileged and --network=host"), "{m}");
        assert_eq!(m.lines().count(), 1, "{m}");
    }

    #[test]
    fn this_process_is_read_for_real() {
        let f = gather(Path::new("/"));
        assert!(f.cap_bounding.is_some());
        assert!(f.links.iter().any(|l| l == "lo"), "{f:?}");
    }

    #[test]
    fn a_network_namespace_of_its_own_lacks_the_initial_one_s_sysctl() {
        // The sysctl test, in a fresh network namespace when this machine
        // lets the test make one (unshare needs CAP_SYS_ADMIN).
        let here = std::path::Path::new(INIT_NETNS_ONLY_SYSCTL).exists();
        let out = std::process::Command::new("unshare")
            .args(["-n", "test", "-e", INIT_NETNS_ONLY_SYSCTL])
            .status();
        match out {
            Ok(s) if s.code() == Some(0) || s.code() == Some(1) => {
                assert_eq!(s.code(), Some(1), "the sysctl exists in a new netns");
            }
            _ => eprintln!("unshare -n unavailable; only the host side checked"),
        }
        // This test runs in the host's namespace or a test sandbox's: only
        // the former has it, and the result must match the inode rule.
        let ino = std::fs::read_link("/proc/self/ns/net")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if ino == "net:[4026531833]" {
            assert!(here, "the initial network namespace lacks the sysctl");
        }
    }
}
