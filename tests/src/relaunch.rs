//! Boots that end on purpose in a crash or a hang, and the relaunches after
//! them: QEMU runs with `-no-reboot`, so the reset that a kernel panic
//! (`panic=10`) or the watchdog causes ends it, and the harness starts the
//! same machine again: the same stick and the same OVMF variables, where
//! `efi_pstore` keeps the kernel's crash record. The guest side is
//! `overlays/e2e/usr/lib/softap-e2e/restart.sh`; what the console must show
//! is in [`crate::faults`].

use std::path::Path;
use std::time::Duration;

use crate::faults::{end_problems, End as EndOnPurpose, BANNER_PANIC};
use crate::guest::GuestConfig;
use crate::qemu::{boot, Boot, End, VmSpec};

/// How long QEMU may take to exit by itself after the guest's done line
/// when the boot ends in a crash or a hang: the panic's `panic=10` and the
/// reset, or the watchdog's 30 s (the i6300esb counts two stages), under
/// TCG on a busy machine. Generous on purpose: the figure is printed, not
/// judged.
pub const RESET_WITHIN: Duration = Duration::from_secs(240);

/// What the boot after the panic must report `ok`; it ends in the hang.
pub const AFTER_PANIC: &[&str] = &["ap", "boot", "panic-status", "watchdog-armed"];
/// What the boot after the watchdog's reset must report `ok`.
pub const AFTER_WATCHDOG: &[&str] = &["ap", "boot", "watchdog-status"];

/// The guest's entries for the boot that ends in a kernel panic.
pub fn ending_in_panic(cfg: &GuestConfig) -> Result<GuestConfig, String> {
    let mut cfg = cfg.clone();
    cfg.set("end", "panic").map_err(|e| e.to_string())?;
    Ok(cfg)
}

/// The relaunches after `booted`, a boot of `spec` named `name` that ended
/// in a kernel panic on purpose (`ending_in_panic`; QEMU must have exited by
/// itself). The same machine is started again with `cfg` (the guest's
/// entries without the ending): the AP must come back by itself, and
/// `status` and the banner must name the panic; that boot checks that
/// systemd armed the watchdog, then freezes PID 1: the watchdog's reset must
/// end QEMU. Relaunched once more, the AP must come back again. Each
/// relaunch keeps its files in `runs/NAME-after-panic` and
/// `runs/NAME-after-watchdog`; `judge` prints a relaunch's figures and
/// returns what differs from `booted` (subnet, SSID, passphrase). Returns
/// the problems; prints the times from the done line to QEMU's exit.
pub fn after_crash_and_hang(
    name: &str,
    spec: &VmSpec,
    cfg: &GuestConfig,
    booted: &Boot,
    timeout: Duration,
    runs: &Path,
    judge: &dyn Fn(&str, &Boot) -> Vec<String>,
) -> Vec<String> {
    let problems = end_problems(&booted.console, EndOnPurpose::Panic);
    if let Some(t) = booted.exited_after {
        eprintln!(
            "SOFTAP-E2E-INFO[{name}] panic-to-exit {:.1} s (from the done line: the crash, panic=10, the reset that ends QEMU)",
            t.as_secs_f64()
        );
    }
    if !problems.is_empty() {
        return problems;
    }
    let started = std::time::Instant::now();
    let steps = [
        ("panic", AFTER_PANIC, Some(EndOnPurpose::Hang)),
        ("watchdog", AFTER_WATCHDOG, None),
    ];
    let mut machine = spec.clone();
    for (after, expected, then) in steps {
        let run = format!("{name}-after-{after}");
        let work = runs.join(&run);
        let mut cfg = cfg.clone();
        let entries = cfg
            .set("after", after)
            .and_then(|c| match then {
                Some(_) => c.set("end", "watchdog").map(drop),
                None => Ok(()),
            })
            .map_err(|e| e.to_string());
        let file = match entries.and_then(|()| cfg.write_in(&work)) {
            Ok(f) => f,
            Err(e) => return vec![e],
        };
        machine = VmSpec {
            fw_cfg_file: Some(file),
            ..machine.relaunched(work)
        };
        let end = match then {
            Some(_) => End::Restart {
                within: RESET_WITHIN,
            },
            None => End::PowerOff {
                grace: Duration::from_secs(60),
            },
        };
        let again = match boot(&run, &machine, timeout, end) {
            Ok(b) => b,
            Err(e) => return vec![format!("relaunched after the {after}: {e}")],
        };
        let mut found = again.report.problems(expected);
        found.extend(judge(&run, &again));
        if after == "panic" && again.console.first_seen(BANNER_PANIC).is_none() {
            found.push(format!("the console's banner never said `{BANNER_PANIC}`"));
        }
        if let Some(how) = then {
            found.extend(end_problems(&again.console, how));
            if let Some(t) = again.exited_after {
                eprintln!(
                    "SOFTAP-E2E-INFO[{run}] hang-to-exit {:.1} s (from the done line: PID 1 frozen, the watchdog's reset that ends QEMU)",
                    t.as_secs_f64()
                );
            }
        }
        if !found.is_empty() {
            return vec![format!(
                "relaunched after the {after}:\n    - {}\n--- serial console tail ({}) ---\n{}",
                found.join("\n    - "),
                again.console.path().display(),
                again.console.tail(120)
            )];
        }
    }
    eprintln!(
        "SOFTAP-E2E-INFO[{name}] relaunches-took {:.1} s (both relaunched boots, QEMU start to exit)",
        started.elapsed().as_secs_f64()
    );
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::{boot, DiskBus, Firmware, Vars};

    /// A stand-in for QEMU that writes `console` to its serial file at once
    /// and exits, as a guest that crashes right after its done line would.
    fn fake_qemu(dir: &Path, console: &str) -> VmSpec {
        let script = dir.join("qemu");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do case $a in file:*) f=${{a#file:}};; esac; done\nprintf '{console}' >\"$f\"\nsleep 0.3\n"
            ),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        VmSpec {
            qemu: script,
            accel: crate::tools::Accel::Tcg,
            firmware: Firmware::Direct {
                kernel: "/k".into(),
                initrd: "/i".into(),
                append: String::new(),
            },
            disk: dir.join("disk"),
            bus: DiskBus::UsbStick,
            user_net: None,
            fw_cfg_file: None,
            oci_archive: None,
            work_dir: dir.to_owned(),
            memory_mib: 64,
            cpus: 1,
            watchdog: false,
            vars: Vars::Fresh,
        }
    }

    /// The done line and the panic after it may arrive in one poll.
    #[test]
    fn a_panic_after_the_done_line_ends_a_restarting_boot_and_fails_a_powering_off_one() {
        let dir = tempfile::tempdir().unwrap();
        let spec = fake_qemu(
            dir.path(),
            "SOFTAP-E2E ap ok\\nSOFTAP-E2E-DONE c\\nKernel panic - not syncing: sysrq triggered crash\\n",
        );
        let t = Duration::from_secs(20);
        let within = Duration::from_secs(10);
        let b = boot("fake", &spec, t, End::Restart { within }).unwrap();
        assert!(b.report.done.is_some() && b.exited_after.is_some());
        let grace = Duration::from_secs(5);
        assert!(boot("fake", &spec, t, End::PowerOff { grace }).is_err());
        // A panic before the done line fails either.
        let spec = fake_qemu(
            dir.path(),
            "Kernel panic - not syncing: x\\nSOFTAP-E2E-DONE c\\n",
        );
        assert!(boot("fake", &spec, t, End::Restart { within }).is_err());
    }

    #[test]
    fn the_panic_boot_gets_its_end_and_the_relaunches_wait_for_the_watchdog() {
        let mut cfg = GuestConfig::default();
        cfg.set("scenario", "c").unwrap();
        let ending = ending_in_panic(&cfg).unwrap();
        assert_eq!(ending.get("end"), Some("panic"));
        assert_eq!(cfg.get("end"), None);
        // panic=10 and the watchdog's two 30 s stages, with room to spare.
        assert!(RESET_WITHIN >= Duration::from_secs(120));
        assert!(AFTER_PANIC.contains(&"watchdog-armed") && AFTER_PANIC.contains(&"ap"));
        assert!(AFTER_WATCHDOG.contains(&"ap"));
    }
}
