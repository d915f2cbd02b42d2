//! End to end: build the appliance image with the test-only overlay
//! (`images/softap-e2e.toml`) with the real builder, boot it in QEMU with OVMF
//! as a USB stick (TCG unless the CPU really has VT-x/AMD-V), and read what the
//! guest overlay (`overlays/e2e`) reports on the serial console.
//!
//! Before any boot, the built ESP is read with mtools: `EFI/BOOT` holds
//! exactly shim (`BOOTX64.EFI`), systemd-boot as `grubx64.efi` and
//! MokManager, signed as `sbverify --list` shows, and `loader.conf` says
//! `editor no`. A copy whose shim lost its signatures must be refused by the
//! Secure Boot firmware (the harness recognises `Access Denied`).
//!
//! Scenario a, booted with Secure Boot
//! enforced (OVMF with Microsoft's keys; the kernel must report it): the upstream QEMU provides
//! overlaps the default pool (`net=172.16.0.0/16`); three hwsim radios, two of
//! them moved into network namespaces. The agent must bring the AP up on the
//! radio left to it (hostapd `state=ENABLED`, WPA3 transition), a WPA2 and an
//! SAE station join, get leases in the subnet `softap-agent status --json`
//! reports, reach the gateway and, through the NAT and QEMU's user network, a
//! listener on this host's loopback that answers with a fresh token. Then an
//! address in the chosen subnet appears upstream: the agent re-plans within
//! 10 s, the network is redefined and the station gets a lease in the new
//! subnet and reaches the listener again.
//!
//! Scenario b boots a's stick again: the AP comes back with the same subnet,
//! SSID and passphrase, and a WPA2 station gets a lease and reaches the
//! listener. Scenario c (the laptop case) boots a fresh stick with one-channel
//! radios: an upstream hostapd on channel 11 in a
//! namespace, the appliance's station joins it, and the AP follows it onto
//! channel 11 on the same radio. One test runs them in order so the image is
//! built once and b reuses a's stick; by hand:
//! `cargo run -p softap-tests --bin softap-e2e -- a b c`.
//! Scenario d (the container path) boots a fresh stick whose own agent stays
//! off, with the product's OCI archive (`images/softap.toml`'s,
//! built by `images/softap-container-e2e.toml` without a disk) as a second
//! disk: the guest unpacks its layers and boots it with systemd-nspawn as a
//! privileged container on its network; the AP comes up and a WPA2 station
//! gets a lease, reaches the gateway and the listener.
//! Scenario e (the desktop host) boots `images/softap-desktop-e2e.toml`, a
//! Debian machine with NetworkManager and podman, with the same OCI archive:
//! README.md's podman command (read from README.md) runs the appliance
//! beside NetworkManager's upstream Wi-Fi station and a FORWARD DROP
//! firewall; stop leaves the host's links, addresses, routes, ruleset and
//! NetworkManager devices as they were (see `scenario::E`).
//! `SOFTAP_E2E_DISK` boots a ready disk instead of building one;
//! `SOFTAP_QEMU_ACCEL=kvm|tcg` overrides the accelerator.

use softap_tests::esp::check_signed_chain;
use softap_tests::images::{build_disk, build_oci_archive};
use softap_tests::scenario::{
    compare_reboot, run, stick_for, unsigned_loader_is_refused, work_root, A, B, C, D, E,
};

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
        Err(e) => failures.push(format!("scenario d: building the OCI archive: {e}")),
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
                Err(e) => failures.push(format!("scenario e: building the desktop image: {e}")),
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
