//! The end-to-end scenarios: what each boot sets up and must see. The guest
//! side of every check lives in `overlays/e2e/usr/lib/softap-e2e/run`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::console::GUEST_KERNEL_PANIC;
use crate::error::HarnessError;
use crate::guest::GuestConfig;
use crate::images::{target_dir, workspace_root};
use crate::listener::{fresh_token, Listener};
use crate::qemu::{
    boot, sparse_copy, Boot, DiskBus, End, Firmware, UserNet, Vars, VmSpec, DEFAULT_USER_HOST,
    DEFAULT_USER_HOST6,
};
use crate::results::Report;
use crate::tools::{find_ovmf, find_qemu, find_secure_ovmf, host_accel};

/// What the kernel prints on the console when the firmware booted it with
/// Secure Boot enforced.
pub const SECURE_BOOT_ON: &str = "secureboot: Secure boot enabled";

#[derive(Debug, Clone)]
pub struct Scenario {
    /// `a`, `b`, `c`: the guest script's scenario.
    pub name: &'static str,
    /// QEMU user-mode `net=`; its default when `None`.
    pub net: Option<&'static str>,
    /// Whether QEMU's user network also gives the guest IPv6 with router
    /// advertisements (it does by default, and always without `net`); the
    /// harness then listens on `::1` as well, for the guest's IPv6 checks.
    pub upstream_ipv6: bool,
    pub radios: u32,
    /// hwsim `channels=` (1: the one-channel combination of recent Intel cards).
    pub channels: Option<u32>,
    pub timeout: Duration,
    /// Checks the guest must report `ok` (a reported `fail` of any other
    /// check fails the boot too).
    pub expected: &'static [&'static str],
    /// Stations that must reach the host's listener, by the name they send.
    pub listener_visitors: &'static [&'static str],
    /// More `key=value` for the guest.
    pub extra: &'static [(&'static str, &'static str)],
    /// Whether the guest gets the product's OCI archive (the container path).
    pub oci_archive: bool,
    /// Booted with Secure Boot enforced (Microsoft's keys, as on a laptop):
    /// the kernel must say so on the console.
    pub secure_boot: bool,
    /// Boots the desktop host image (`images/softap-desktop-e2e.toml`), which
    /// runs the product's OCI archive with README.md's podman command.
    pub desktop: bool,
    /// Runs the network checks of [`crate::lan`]: the stick's ESP carries
    /// their reservation, the guest their values.
    pub lan: bool,
}

/// Fresh stick, upstream overlapping the default pool, with IPv6 from
/// router advertisements (networkd's): the AP on the radio left to the agent, WPA2
/// and SAE stations with leases, the gateway and the NAT, the overlap
/// avoided; a libvirt domain on the network with a reserved address
/// ([`crate::lan`]) reached by name over IPv4 and IPv6, a station on a fixed
/// address, `status`'s members; the move off a subnet taken upstream, after
/// which the domain has its reserved host part in the new subnet; then
/// `isolate_clients`. Beside the network's IPv6, the upstream keeps its own
/// and a station reaches the harness over IPv6 through the NAT. Last, a
/// crowd of 16 stations, every fourth with SAE, starts joining within 3 s:
/// each with its own key management and a lease, all reaching the gateway
/// and the upstream and listed by `status --json`; then three rounds of all
/// leaving and rejoining, with hostapd, dnsmasq and the agent the same
/// processes, their memory printed (`crowd.sh`).
pub const A: Scenario = Scenario {
    name: "a",
    net: Some("172.16.0.0/16"),
    upstream_ipv6: true,
    // The AP's and two stations'; the crowd's after them.
    radios: 3 + CROWD,
    channels: None,
    timeout: Duration::from_secs(720),
    expected: &[
        "radios",
        "ap",
        "boot",
        "phy",
        "driver",
        "overlap",
        "wpa2",
        "wpa2-lease",
        "wpa2-ping",
        "wpa2-nat",
        "link",
        "sae",
        "sae-lease",
        "sae-ping",
        "sae-nat",
        "vm",
        "vm-lease",
        "wpa2-ipv6",
        "vm-name",
        "vm-http4",
        "vm-http6",
        "vm-to-station",
        "stations",
        "vm-nat",
        "fixed",
        "members",
        "watch",
        "watch-network",
        "watch-join",
        "watch-lease",
        "watch-ping",
        "watch-nat",
        "watch-vm",
        "upstream6",
        "wpa2-nat6",
        "isolate",
        "sae6",
        "six",
        "acs",
        "upstream6-kept",
        "crowd",
        "crowd-ping",
        "crowd-members",
        "crowd-rejoin",
        "crowd-steady",
    ],
    listener_visitors: &["wpa2", "sae", "wpa2-again", "wpa2-v6", crate::lan::VM_NAME],
    // The crowd's starts are spread over 3 s: all within 0.2 s, hostapd
    // under TCG answers association requests late, a station resends them
    // and a WPA3 one can be stranded (docs/recovery.md, "A crowd at once").
    extra: &[
        ("watch", "1"),
        ("six", "1"),
        ("acs", "1"),
        ("crowd", "16"),
        ("crowd_rounds", "3"),
        ("crowd_stagger", "3"),
    ],
    oci_archive: false,
    secure_boot: true,
    desktop: false,
    lan: true,
};

/// Scenario a's crowd: stations that join at once, leave and rejoin
/// (`crowd.sh`); `extra`'s `crowd` must say the same.
pub const CROWD: u32 = 16;

/// The same stick booted again, with its `softap.toml` on the ESP broken
/// (see [`crate::faults`]) and no radio until the guest loads the driver:
/// the same choices and the AP back (the caller compares a and b), on the
/// last good configuration; then hostapd killed, and the driver unloaded and
/// loaded again. On a's upstream (with IPv6), so that nothing but the
/// faults differs from the network a left behind.
pub const B: Scenario = Scenario {
    name: "b",
    net: Some("172.16.0.0/16"),
    upstream_ipv6: true,
    radios: 3,
    channels: None,
    timeout: Duration::from_secs(600),
    expected: &[
        "hotplug-wait",
        "radios",
        "hotplug",
        "ap",
        "boot",
        "phy",
        "wpa2",
        "wpa2-lease",
        "wpa2-ping",
        "wpa2-nat",
        "esp-fallback",
        "hostapd-crash",
        "crash-lease",
        "crash-ping",
        "radio-gone",
        "radio-back",
        "back",
        "back-lease",
        "back-ping",
    ],
    listener_visitors: &["wpa2"],
    extra: &[("hotplug", "1"), ("faults", "1")],
    oci_archive: false,
    secure_boot: false,
    desktop: false,
    lan: false,
};

/// The laptop case: the AP follows the upstream station's channel on a
/// one-channel radio. Its first boot is cut off at the banner (see
/// [`crate::faults`]): this boot must show the same passphrase. Then, from
/// the upstream AP's namespace with a route to the AP's subnet via the
/// appliance, neither a station's listener nor the gateway opens, and
/// nothing listens beyond the AP's network but DHCP (`inbound.sh`). Then
/// the guest crashes its kernel and, relaunched, freezes PID 1 until the
/// watchdog resets it (see [`crate::relaunch`]).
pub const C: Scenario = Scenario {
    name: "c",
    net: None,
    upstream_ipv6: true,
    radios: 3,
    channels: Some(1),
    timeout: Duration::from_secs(480),
    expected: &[
        "radios",
        "upstream-ap",
        "uplink",
        "ap",
        "boot",
        "phy",
        "channel",
        "country",
        "wpa2",
        "wpa2-lease",
        "wpa2-ping",
        "link",
        "upstream",
        "inbound",
        "listen",
    ],
    listener_visitors: &[],
    extra: &[("upstream_band", "5")],
    oci_archive: false,
    secure_boot: false,
    desktop: false,
    lan: false,
};

/// The container path: the product's OCI archive booted with
/// systemd-nspawn (privileged, host network) in a guest with hwsim radios,
/// the guest's own agent skipped; then b's checks. Its upstream is handed
/// from networkd to the kernel first, as on hosts where no network manager
/// handles that link: the kernel's own IPv6 routes from the router
/// advertisements (`ipv6.sh`). The agent sets the link's `accept_ra` to 2,
/// the network has IPv6, the upstream keeps its own, a station reaches the
/// harness over IPv6; the container's stop puts `accept_ra` back to 1. No
/// country is configured: an access point around (the spare radio)
/// announces DE, and the agent's one scan learns it, so the AP runs on
/// 5 GHz at 80 MHz.
pub const D: Scenario = Scenario {
    name: "d",
    net: Some("172.16.0.0/16"),
    upstream_ipv6: true,
    radios: 3,
    channels: None,
    timeout: Duration::from_secs(480),
    expected: &[
        "radios",
        "neighbour",
        "container",
        "ap",
        "gateway",
        "phy",
        "country-scan",
        "wpa2",
        "wpa2-lease",
        "wpa2-ping",
        "wpa2-nat",
        "link",
        "kernel-ra",
        "accept-ra",
        "upstream6",
        "wpa2-ipv6",
        "wpa2-nat6",
        "container-stop",
        "accept-ra-back",
    ],
    listener_visitors: &["wpa2", "wpa2-v6"],
    extra: &[],
    oci_archive: true,
    secure_boot: false,
    desktop: false,
    lan: false,
};

/// The desktop host: NetworkManager joined to an upstream Wi-Fi AP on the
/// radio the AP will share (one channel), FORWARD policy DROP, the product
/// run with README.md's podman command: the AP beside the upstream,
/// NetworkManager keeping off the AP interface, a WPA2 station through the
/// NAT to the upstream and the listener, over IPv6 too (NetworkManager's
/// upstream keeps its own IPv6 beside the network's); `podman stop` leaves the host as
/// it was; a restart keeps subnet, SSID and passphrase; without
/// `--privileged` the container exits at once naming the flag. The
/// repository's Quadlet unit: `systemctl start softap` brings the AP up,
/// `systemctl stop softap` leaves the host as it was. Then the
/// same with README.md's Docker commands (`docker load`, `docker run`) on
/// the same host, whose dockerd has been running since boot: the AP, a
/// station through the NAT, NetworkManager off the AP interface, the host
/// as it was after `docker stop`, and the refusal without `--privileged`;
/// last the repository's compose file: `docker compose up -d` brings the
/// AP up, `docker compose down` leaves the host as it was.
pub const E: Scenario = Scenario {
    name: "e",
    net: None,
    upstream_ipv6: true,
    radios: 3,
    channels: Some(1),
    timeout: Duration::from_secs(1500),
    expected: &[
        "radios",
        "upstream-ap",
        "uplink",
        "ap",
        "gateway",
        "container",
        "phy",
        "nm-unmanaged",
        "upstream-kept",
        "wpa2",
        "wpa2-lease",
        "wpa2-ping",
        "wpa2-nat",
        "upstream6",
        "wpa2-ipv6",
        "wpa2-nat6",
        "upstream",
        "stop-clean",
        "restart-same",
        "kill-restart",
        "kill-clean",
        "no-privileged",
        "quadlet",
        "quadlet-ap",
        "quadlet-stop-clean",
        "docker-load",
        "docker",
        "docker-ap",
        "docker-nm-unmanaged",
        "dwpa2",
        "docker-lease",
        "docker-ping",
        "docker-nat",
        "docker-stop-clean",
        "docker-no-privileged",
        "compose",
        "compose-ap",
        "compose-stop-clean",
    ],
    listener_visitors: &["wpa2", "wpa2-v6", "dwpa2"],
    extra: &[],
    oci_archive: true,
    secure_boot: false,
    desktop: true,
    lan: false,
};

/// A file of the repository as one fw_cfg line, its lines joined by `|`
/// (which it must not use): the Quadlet unit, which the desktop scenario
/// writes back to `/etc/containers/systemd/softap.container`, and the
/// compose file.
fn joined_lines(name: &str) -> Result<String, String> {
    let path = crate::images::workspace_root().join(name);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    if text.contains('|') {
        return Err(format!(
            "{} uses `|`, which joins its lines for the guest",
            path.display()
        ));
    }
    Ok(text.lines().collect::<Vec<_>>().join("|"))
}

pub const ALL: [&Scenario; 5] = [&A, &B, &C, &D, &E];

pub fn by_name(name: &str) -> Option<&'static Scenario> {
    ALL.into_iter().find(|s| s.name == name)
}

/// Where the e2e runs keep their files: `target/softap-e2e`.
pub fn work_root() -> PathBuf {
    target_dir(&workspace_root()).join("softap-e2e")
}

/// A fresh stick for `run`: a sparse copy of the built disk.
pub fn stick_for(disk: &Path, run: &str) -> Result<PathBuf, String> {
    let dir = work_root().join("runs").join(run);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let copy = dir.join("stick.raw");
    sparse_copy(disk, &copy).map_err(|e| e.to_string())?;
    Ok(copy)
}

/// Boots `stick` under `s`; any problem becomes an error that carries the
/// cause and the console's tail.
/// `oci_archive`: the product's OCI archive, for a scenario that wants it.
pub fn run(s: &Scenario, stick: &Path, oci_archive: Option<&Path>) -> Result<Boot, String> {
    let faults = crate::faults::of(s.name);
    if faults.broken_esp {
        crate::faults::break_esp(stick)
            .map_err(|e| format!("writing a broken softap.toml onto the ESP: {e}"))?;
    }
    if s.lan {
        crate::lan::write_esp_config(stick).map_err(|e| {
            format!(
                "writing scenario {}'s softap.toml onto the ESP: {e}",
                s.name
            )
        })?;
    }
    let oci_archive = match (s.oci_archive, oci_archive) {
        (false, _) => None,
        (true, Some(a)) => Some(a.to_owned()),
        (true, None) => return Err(format!("scenario {} needs the OCI archive", s.name)),
    };
    let qemu = find_qemu().map_err(|e| e.to_string())?;
    let ovmf = if s.secure_boot {
        find_secure_ovmf()
    } else {
        find_ovmf()
    }
    .map_err(|e| e.to_string())?;
    let work = work_root().join("runs").join(s.name);
    std::fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;

    let user_net = match s.net {
        None => None,
        Some(n) => Some(UserNet {
            ipv6: s.upstream_ipv6,
            ..UserNet::new(n).ok_or_else(|| format!("bad scenario net {n}"))?
        }),
    };
    let listener_host = user_net
        .as_ref()
        .map_or(DEFAULT_USER_HOST.to_owned(), |n| n.host.clone());
    let token = fresh_token();
    // Long enough for a second boot (see the kernel panic below).
    let listener = Listener::start(&token, 8, 2 * s.timeout + Duration::from_secs(120))
        .map_err(|e| e.to_string())?;
    // The IPv6 checks' far side, on an upstream with IPv6.
    let listener6 = if s.upstream_ipv6 {
        Some(
            Listener::start_on(
                std::net::Ipv6Addr::LOCALHOST.into(),
                &token,
                8,
                2 * s.timeout + Duration::from_secs(120),
            )
            .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };

    let mut cfg = GuestConfig::default();
    let mut entries: Vec<(&str, String)> = vec![
        ("scenario", s.name.to_owned()),
        ("radios", s.radios.to_string()),
        ("listener_host", listener_host),
        ("listener_port", listener.port().to_string()),
        ("token", token),
        ("poweroff", "1".to_owned()),
    ];
    if let Some(l) = &listener6 {
        entries.push(("listener_host6", DEFAULT_USER_HOST6.to_owned()));
        entries.push(("listener_port6", l.port().to_string()));
    }
    if let Some(c) = s.channels {
        entries.push(("channels", c.to_string()));
    }
    if let Some(n) = &user_net {
        entries.push(("upstream_net", n.net.clone()));
    }
    entries.extend(s.extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    if s.desktop {
        let readme = crate::readme::read()?;
        entries.push(("podman_run", readme.podman_run));
        entries.push(("docker_load", readme.docker_load));
        entries.push(("docker_run", readme.docker_run));
        entries.push(("quadlet", joined_lines("softap.container")?));
        entries.push(("compose", joined_lines("compose.yaml")?));
    }
    if s.lan {
        entries.extend(crate::lan::guest_entries());
    }
    // By hand: `SOFTAP_E2E_EXTRA="detect=1 agent_timeout=300"` adds entries.
    let from_env = std::env::var("SOFTAP_E2E_EXTRA").unwrap_or_default();
    for kv in from_env.split_whitespace() {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("SOFTAP_E2E_EXTRA: `{kv}` is not key=value"))?;
        entries.push((k, v.to_owned()));
    }
    for (k, v) in entries {
        cfg.set(k, v).map_err(|e| e.to_string())?;
    }
    // The relaunches start from the same entries.
    let relaunch_cfg = cfg.clone();
    if faults.crash_and_hang {
        cfg = crate::relaunch::ending_in_panic(&cfg)?;
    }
    let cfg_file = cfg.write_in(&work)?;

    let spec = VmSpec {
        qemu,
        accel: host_accel(),
        firmware: Firmware::Ovmf(ovmf),
        disk: stick.to_owned(),
        bus: DiskBus::UsbStick,
        user_net,
        fw_cfg_file: Some(cfg_file),
        oci_archive,
        work_dir: work,
        memory_mib: 2048,
        cpus: 2,
        watchdog: faults.crash_and_hang,
        vars: Vars::Fresh,
    };
    let cut = if faults.power_cut {
        let name = format!("{}-cut", s.name);
        let cut_spec = VmSpec {
            work_dir: work_root().join("runs").join(&name),
            ..spec.clone()
        };
        Some(
            crate::faults::cut_at_banner(&name, &cut_spec, s.timeout)
                .map_err(|e| format!("the boot to cut off at the banner: {e}"))?,
        )
    } else {
        None
    };
    let end = if faults.crash_and_hang {
        End::Restart {
            within: crate::relaunch::RESET_WITHIN,
        }
    } else {
        End::PowerOff {
            grace: Duration::from_secs(60),
        }
    };
    let booted = match boot(s.name, &spec, s.timeout, end) {
        // Seen here under TCG's multi-threaded emulation: an `int3` oops while
        // the guest kernel patches its own code, in a boot that otherwise
        // behaves. That is the emulator's fault, not the appliance's; one more
        // boot tells the two apart, and a second panic fails the scenario.
        Err(HarnessError::Boot { reason, .. }) if reason == GUEST_KERNEL_PANIC => {
            // The panicked boot's console is kept beside the next one's.
            let kept = spec.work_dir.join("serial-panicked.log");
            let _ = std::fs::rename(spec.console_path(), &kept);
            eprintln!(
                "softap-e2e[{}]: {reason} (console kept in {}); booting it once more",
                s.name,
                kept.display()
            );
            boot(s.name, &spec, s.timeout, end)
        }
        other => other,
    }
    .map_err(|e| e.to_string())?;

    let mut problems = booted.report.problems(s.expected);
    problems.extend(crate::faults::problems(
        faults,
        &booted.console,
        &booted.report,
        cut.as_deref(),
    ));
    if s.secure_boot && booted.console.first_seen(SECURE_BOOT_ON).is_none() {
        problems.push(format!(
            "booted under Secure Boot firmware, but the kernel never said `{SECURE_BOOT_ON}`"
        ));
    }
    let mut visits = listener.visits();
    visits.extend(listener6.iter().flat_map(Listener::visits));
    for who in s.listener_visitors {
        if !visits.iter().any(|v| v.said == *who) {
            problems.push(format!(
                "the listeners on 127.0.0.1:{}{} never heard from station `{who}` (visits: {visits:?})",
                listener.port(),
                listener6
                    .as_ref()
                    .map(|l| format!(" and [::1]:{}", l.port()))
                    .unwrap_or_default()
            ));
        }
    }
    eprintln!("{}", figures(s.name, &booted));
    if faults.crash_and_hang {
        let judge = |name: &str, again: &Boot| {
            eprintln!("{}", figures(name, again));
            compare_reboot(&booted.report, &again.report)
        };
        problems.extend(crate::relaunch::after_crash_and_hang(
            s.name,
            &spec,
            &relaunch_cfg,
            &booted,
            s.timeout,
            &work_root().join("runs"),
            &judge,
        ));
    }
    if problems.is_empty() {
        Ok(booted)
    } else {
        Err(format!(
            "boot `{}` failed:\n  - {}\n--- serial console tail ({}) ---\n{}",
            s.name,
            problems.join("\n  - "),
            booted.console.path().display(),
            booted.console.tail(200)
        ))
    }
}

/// Boots a copy of `disk` whose loader has lost its signatures under the
/// Secure Boot firmware: the firmware must refuse it, which proves that it
/// enforces. Returns the harness's account of the refusal.
pub fn unsigned_loader_is_refused(disk: &Path) -> Result<String, String> {
    let work = work_root().join("runs").join("unsigned");
    std::fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let stick =
        crate::esp::unsigned_copy(disk, &work.join("stick.raw")).map_err(|e| e.to_string())?;
    let spec = VmSpec {
        qemu: find_qemu().map_err(|e| e.to_string())?,
        accel: host_accel(),
        firmware: Firmware::Ovmf(find_secure_ovmf().map_err(|e| e.to_string())?),
        disk: stick,
        bus: DiskBus::UsbStick,
        user_net: None,
        fw_cfg_file: None,
        oci_archive: None,
        work_dir: work,
        memory_mib: 1024,
        cpus: 1,
        watchdog: false,
        vars: Vars::Fresh,
    };
    let end = End::PowerOff {
        grace: Duration::ZERO,
    };
    match boot("unsigned", &spec, Duration::from_secs(240), end) {
        Ok(_) => Err("a stick whose loader is unsigned booted under Secure Boot: the firmware does not enforce".into()),
        Err(crate::HarnessError::Boot { reason, .. }) if reason.contains("Access Denied") => {
            Ok(reason)
        }
        Err(e) => Err(format!(
            "a stick whose loader is unsigned did not boot under Secure Boot, but not because the firmware refused it: {e}"
        )),
    }
}

/// One line of timings, relative to QEMU's start.
pub fn figures(name: &str, booted: &Boot) -> String {
    let mut line = format!(
        "softap-e2e[{name}]: done after {:.1} s",
        booted.elapsed.as_secs_f64()
    );
    if let Some(t) = booted.console.first_seen(SECURE_BOOT_ON) {
        line.push_str(&format!(
            ", Secure Boot on (kernel at {:.1} s)",
            t.as_secs_f64()
        ));
    }
    for event in ["multi-user", "agent-start", "ap-enabled", "lease"] {
        if let Some(t) = booted.since_qemu_start(event) {
            line.push_str(&format!(", {event} at {t:.1} s"));
        }
    }
    line.push_str(" (since QEMU started)");
    line
}

/// What must not change when the same stick boots again.
pub fn compare_reboot(before: &Report, after: &Report) -> Vec<String> {
    ["subnet", "ssid-hex", "passphrase-sha256"]
        .iter()
        .filter_map(|key| {
            let (a, b) = (before.info.get(*key), after.info.get(*key));
            (a.is_none() || a != b)
                .then(|| format!("after a reboot `{key}` changed: {a:?} -> {b:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests;
