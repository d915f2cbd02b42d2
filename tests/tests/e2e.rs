//! End to end: build the appliance image with the test-only overlay
//! (`images/softap-e2e.toml`) with the real builder, boot it in QEMU with OVMF
//! as a USB stick (TCG unless the CPU really has VT-x/AMD-V), and read what the
//! guest overlay (`overlays/e2e`) reports on the serial console.
//!
//! Before any boot, the build's `--json` summary of the disk's Wi-Fi
//! coverage report must show every driver family (Intel, MediaTek and
//! Ralink, Qualcomm/Atheros, Realtek, Broadcom) with its module and firmware
//! (`softap_tests::wifi`); known gaps are printed. The built ESP is read with mtools: `EFI/BOOT` holds
//! exactly shim (`BOOTX64.EFI`), systemd-boot as `grubx64.efi` and
//! MokManager, signed as `sbverify --list` shows, and `loader.conf` says
//! `editor no`. A copy whose shim lost its signatures must be refused by the
//! Secure Boot firmware (the harness recognises `Access Denied`).
//!
//! Scenario a, booted with Secure Boot
//! enforced (OVMF with Microsoft's keys; the kernel must report it): the upstream QEMU provides
//! overlaps the default pool (`net=172.16.0.0/16`); three hwsim radios, two of
//! them moved into network namespaces. The agent must bring the AP up on the
//! radio left to it (hostapd `state=ENABLED`, WPA3 transition; `detect`
//! names its driver and module, `mac80211_hwsim`, and the disk's coverage
//! report lists that driver), a WPA2 and an
//! SAE station join, get leases in the subnet `softap-agent status --json`
//! reports, reach the gateway and, through the NAT and QEMU's user network, a
//! listener on this host's loopback that answers with a fresh token. Then an
//! address in the chosen subnet appears upstream: the agent re-plans (target
//! 10 s, printed; the check allows 60), the network is redefined and the station gets a lease in the new
//! subnet and reaches the listener again. Around that (`tests/src/lan.rs`,
//! guest side `network.sh`): QEMU's upstream has IPv6 with router
//! advertisements, which networkd handles, and the network has its own IPv6
//! /64 beside it (`ipv6.sh`: the upstream keeps its address and default route
//! under IPv6 forwarding, and a station reaches the harness's `::1` listener
//! through the NAT over IPv6); a container of libvirt's LXC driver joins the agent's
//! network as users attach VMs, gets the address the stick's `softap.toml`
//! reserves for its MAC and a DHCPv6 address; a station resolves its name in
//! the network's domain (A and AAAA) through the gateway and fetches its
//! HTTP page over IPv4 and IPv6; the domain pings the station and reaches
//! the listener through the NAT; the stations reach each other; one moves
//! to an address of the fixed range and still reaches the domain;
//! `status --json` lists both stations and the domain with their addresses.
//! The stick's `softap.toml` names the country (DE), so the AP runs 5 GHz at
//! 80 MHz with HE: `iw dev` shows the width and centre, the WPA2 station's
//! `signal_poll` says `WIDTH=80 MHz`, `status --json` the live width and the
//! station's mode (`link`); last, `band = 6` as a credential moves the AP to
//! 6 GHz, WPA3-SAE only, and an SAE station joins it (`six`).
//! After the re-plan the domain gets its reserved host part of the new
//! subnet and the station reaches it by name again. Last, with
//! `isolate_clients = true` (a credential, the agent restarted) the stations
//! no longer reach each other but still reach the gateway and the upstream.
//! Last, a crowd (guest side `crowd.sh`): 16 more hwsim radios, each a
//! station in its own namespace (every fourth with SAE), start associating
//! within 3 s; each must have its own key management and a lease, reach the
//! gateway and the upstream, and be listed by `status --json`; then three
//! rounds of all leaving and rejoining, after which hostapd, dnsmasq and the
//! agent are the same processes with their memory within twice what it was.
//! Association to lease (median, worst), hostapd's associations per join
//! and the memory are printed, not held to a target.
//!
//! Scenario b boots a's stick again, under faults (`tests/src/faults.rs`,
//! guest side `overlays/e2e/usr/lib/softap-e2e/faults.sh`). Before the boot
//! the harness writes a `softap.toml` with a syntax error onto the stick's
//! ESP; the guest boots with no radio: the agent must say on the console, in
//! one line, that it found none and waits; the guest then loads
//! `mac80211_hwsim` and hostapd must report `state=ENABLED` (the target is
//! 10 s; the check allows 60 and prints the time). The
//! AP comes back with the same subnet, SSID and passphrase as in a (the last
//! good configuration, kept from a), WPA3 transition, the console names the
//! broken file with line and column, `status --json` says what runs instead,
//! and a WPA2 station gets a lease and reaches the listener. Then hostapd is
//! killed with SIGKILL: the agent (systemd does not restart it) has it
//! `ENABLED` again (target 10 s, limit 60), `status` says so, and the station gets a
//! lease again. Then the stations stop and the driver is unloaded: the
//! console and `status` report the radio gone, no AP interface and no
//! hostapd are left; loaded again, the AP is back (target 10 s) on the same
//! radio (its permanent address) and a station gets a lease.
//! Scenario c (the laptop case) boots a fresh stick with one-channel
//! radios: an upstream hostapd in a namespace on 5 GHz channel 36 at 80 MHz
//! with HE, announcing country DE, the appliance's station joins it, and the
//! AP follows it onto channel 36 at 80 MHz on the same radio, under the
//! country the kernel took from the upstream (the stick names none). Its first boot is cut off (QEMU killed) the
//! moment the passphrase banner reaches the console, as a power cut would;
//! the boot after it must show the same passphrase, and e2fsck in the
//! initramfs must find the root file system clean or only replay its
//! journal, never repair it. Then, from the upstream AP's namespace routing
//! the AP's subnet via the appliance, neither a station's listener nor the
//! gateway's DNS opens, and nothing listens beyond the AP's network but DHCP
//! (guest side `inbound.sh`). Then the guest crashes its kernel after its
//! done line; QEMU (always `-no-reboot`, here with an `i6300esb` watchdog
//! that resets) must exit by itself, and the harness relaunches the same
//! stick with the same OVMF variables (`tests/src/relaunch.rs`, guest side
//! `restart.sh`): the AP comes back by itself with the same subnet, SSID and
//! passphrase, `status --json` and the console's banner name the panic, and
//! systemd has armed the watchdog; the guest freezes PID 1, the watchdog's
//! reset must end QEMU, and one more relaunch brings the same AP back. One
//! test runs them in order so the image is
//! built once and b reuses a's stick; by hand:
//! `cargo run -p softap-tests --bin softap-e2e -- a b c`.
//! Scenario d (the container path) boots a fresh stick whose own agent stays
//! off, with the product's OCI archive (`images/softap.toml`'s,
//! built by `images/softap-container-e2e.toml` without a disk) as a second
//! disk: the guest unpacks its layers and boots it with systemd-nspawn as a
//! privileged container on its network; the AP comes up and a WPA2 station
//! gets a lease, reaches the gateway and the listener. Its upstream is the
//! kernel's before the container starts (networkd lets go of it; the kernel
//! takes the router advertisements itself): the agent sets its `accept_ra`
//! to 2, so the network has IPv6 while the upstream keeps its own, a
//! station reaches the `::1` listener over IPv6, and the container's stop
//! puts `accept_ra` back.
//! Scenario e (the desktop host) boots `images/softap-desktop-e2e.toml`, a
//! Debian machine with NetworkManager and podman, with the same OCI archive:
//! README.md's podman command (read from README.md) runs the appliance
//! beside NetworkManager's upstream Wi-Fi station and a FORWARD DROP
//! firewall; stop leaves the host's links, addresses, routes, ruleset and
//! NetworkManager devices as they were (see `scenario::E`); a restart on the
//! same state volume keeps subnet, SSID and passphrase, and without
//! `--privileged` the container exits at once naming the flag.
//! `SOFTAP_E2E_DISK` boots a ready disk instead of building one;
//! `SOFTAP_QEMU_ACCEL=kvm|tcg` overrides the accelerator.

use softap_tests::esp::check_signed_chain;
use softap_tests::images::{build_disk, build_oci_archive};
use softap_tests::scenario::{
    compare_reboot, run, stick_for, unsigned_loader_is_refused, work_root, A, B, C, D, E,
};
use softap_tests::wifi;

#[test]
fn fresh_stick_serves_stations_past_the_nat_moves_off_a_conflicting_upstream_survives_a_reboot_and_follows_the_laptop_uplink(
) {
    let built = build_disk(
        "images/softap-e2e.toml",
        "softap-e2e",
        &work_root().join("out"),
    )
    .unwrap_or_else(|e| panic!("building the e2e image failed: {e}"));
    eprintln!(
        "softap-e2e: image {} ready in {:.0} s",
        built.disk.display(),
        built.took.as_secs_f64()
    );
    let mut failures = Vec::new();

    // The firmware of every Wi-Fi driver family is on the stick, from the
    // build's own summary of its coverage report (no boot needed).
    match &built.summary {
        None => eprintln!("softap-e2e[wifi]: a ready disk, no build summary: coverage not checked"),
        Some(summary) => {
            let (problems, notes) = wifi::check(summary);
            for n in &notes {
                eprintln!("softap-e2e[wifi]: gap: {n}");
            }
            failures.extend(problems.into_iter().map(|p| format!("Wi-Fi coverage: {p}")));
        }
    }

    match check_signed_chain(&built.disk) {
        Err(e) => failures.push(format!("reading the ESP: {e}")),
        Ok(problems) => failures.extend(problems.into_iter().map(|p| format!("ESP: {p}"))),
    }
    match unsigned_loader_is_refused(&built.disk) {
        Ok(why) => eprintln!("softap-e2e[unsigned]: refused as it must be: {why}"),
        Err(e) => failures.push(format!("unsigned loader: {e}")),
    }

    let stick = stick_for(&built.disk, A.name).unwrap_or_else(|e| panic!("{e}"));
    match run(&A, &stick, None) {
        // b boots the stick a left behind: without a, there is nothing to compare.
        Err(e) => failures.push(format!("scenario a: {e}")),
        Ok(a) => match run(&B, &stick, None) {
            Err(e) => failures.push(format!("scenario b: {e}")),
            Ok(b) => failures.extend(
                compare_reboot(&a.report, &b.report)
                    .into_iter()
                    .map(|p| format!("scenario b: {p}")),
            ),
        },
    }

    let laptop = stick_for(&built.disk, C.name).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = run(&C, &laptop, None) {
        failures.push(format!("scenario c: {e}"));
    }

    match build_oci_archive(
        "images/softap-container-e2e.toml",
        "softap",
        &work_root().join("out-oci"),
    ) {
        Err(e) => failures.push(format!("scenarios d and e: building the OCI archive: {e}")),
        Ok(archive) => {
            let host = stick_for(&built.disk, D.name).unwrap_or_else(|e| panic!("{e}"));
            if let Err(e) = run(&D, &host, Some(&archive)) {
                failures.push(format!("scenario d: {e}"));
            }
            match build_disk(
                "images/softap-desktop-e2e.toml",
                "softap-desktop-e2e",
                &work_root().join("out"),
            ) {
                Err(e) => failures.push(format!("scenario e: building the desktop host: {e}")),
                Ok(desktop) => {
                    let host = stick_for(&desktop.disk, E.name).unwrap_or_else(|e| panic!("{e}"));
                    if let Err(e) = run(&E, &host, Some(&archive)) {
                        failures.push(format!("scenario e: {e}"));
                    }
                }
            }
        }
    }

    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
