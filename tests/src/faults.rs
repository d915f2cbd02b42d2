//! The faults the harness itself causes around a scenario's boot, and what
//! the console must show after them: a `softap.toml` broken by hand on the
//! stick's ESP before the boot, and a power cut (QEMU killed) the moment the
//! first boot's banner shows the passphrase. The faults the guest causes
//! (no radio at boot, hostapd killed, the driver unloaded) are in
//! `overlays/e2e/usr/lib/softap-e2e/faults.sh`; the console lines they must
//! leave are checked here, and so are those of the ends the guest gives a
//! boot on purpose (a kernel panic, PID 1 frozen until the watchdog resets
//! the machine; `restart.sh`), after which the harness relaunches it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::console::Console;
use crate::qemu::{boot_until, VmSpec};
use crate::results::Report;

/// What the harness does to one scenario's stick and boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// [`BROKEN_ESP`] is written as the ESP's `softap.toml` before the boot.
    pub broken_esp: bool,
    /// No radio at boot (the guest loads it); the console must say so.
    pub hotplug: bool,
    /// The boot is preceded by a boot of the same stick that is cut off at
    /// the banner; the passphrase must survive it and the root file system
    /// must need no repair.
    pub power_cut: bool,
    /// The boot ends in a kernel panic and, relaunched, the next in a hang
    /// that the watchdog resets; the boot after each must bring the same
    /// AP back by itself.
    pub crash_and_hang: bool,
}

/// The faults of each scenario: b (the reboot) gets the broken file and the
/// late radio, c (a fresh stick) the power cut at its first boot, then the
/// panic and the hang.
pub fn of(scenario: &str) -> Faults {
    match scenario {
        "b" => Faults {
            broken_esp: true,
            hotplug: true,
            ..Faults::default()
        },
        "c" => Faults {
            power_cut: true,
            crash_and_hang: true,
            ..Faults::default()
        },
        _ => Faults::default(),
    }
}

/// The image's `softap.toml` as a user might leave it: the last line's value
/// is missing.
pub const BROKEN_ESP: &str = "# softap.toml on the stick, edited by hand\n\
                              ssid = \"softap\"\n\
                              security = \"auto\"\n\
                              channel =\n";
/// Where the agent must place the problem: the file on the ESP, line 4.
pub const BROKEN_AT: &str = "softap.toml:4:";

/// What the agent prints on the console while it has no radio (one line).
pub const NO_RADIO: &str = "no wireless phy was found";
/// What it prints when the AP's radio went away.
pub const RADIO_GONE: &str = "of the access point is gone";
/// The banner's passphrase line.
pub const PASSPHRASE_LINE: &str = "Passphrase: ";

/// What the guest says just before it crashes its kernel (`restart.sh`).
pub const CRASHING: &str = "softap-e2e: crashing the kernel on purpose";
/// What the guest says just before it freezes PID 1.
pub const FREEZING: &str = "softap-e2e: freezing PID 1 on purpose";
/// What the kernel says when it panics.
pub const KERNEL_PANIC: &str = "Kernel panic - not syncing";
/// What the kernel says when something asks it to restart the machine (a
/// reboot, or the reboot `panic=N` makes).
pub const RESTARTING: &str = "reboot: Restarting system";
/// What the banner says in the boot after a panic (`agent/src/crash.rs`).
pub const BANNER_PANIC: &str = "the previous boot ended in a kernel panic";

/// How the guest ended a boot on purpose, after its done line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `echo c > /proc/sysrq-trigger`: the kernel must panic.
    Panic,
    /// PID 1 frozen: no panic and no reboot may follow, so that only the
    /// watchdog can have reset the machine.
    Hang,
}

/// What the console after the done line must show for `end`.
pub fn end_problems(console: &Console, end: End) -> Vec<String> {
    let lines = console.lines();
    let Some(done) = lines.iter().position(|l| {
        matches!(
            crate::results::parse_line(&l.text),
            Some(crate::results::Line::Done { .. })
        )
    }) else {
        return vec!["the console has no done line".into()];
    };
    let after = &lines[done..];
    let (marker, what) = match end {
        End::Panic => (CRASHING, "crash its kernel"),
        End::Hang => (FREEZING, "freeze PID 1"),
    };
    let Some(from) = after.iter().position(|l| l.text.contains(marker)) else {
        return vec![format!(
            "after its done line the guest never said it would {what} (`{marker}`)"
        )];
    };
    let rest = &after[from..];
    let seen = |needle: &str| rest.iter().find(|l| l.text.contains(needle));
    match end {
        End::Panic => match seen(KERNEL_PANIC) {
            Some(_) => vec![],
            None => vec![format!(
                "the kernel never said `{KERNEL_PANIC}` after the guest crashed it"
            )],
        },
        End::Hang => [KERNEL_PANIC, RESTARTING]
            .iter()
            .filter_map(|n| seen(n))
            .map(|l| {
                format!(
                    "with PID 1 frozen something other than the watchdog ended the boot: `{}`",
                    l.text
                )
            })
            .collect(),
    }
}

/// Writes [`BROKEN_ESP`] as `softap.toml` onto `stick`'s ESP.
pub fn break_esp(stick: &Path) -> Result<(), String> {
    crate::esp::write_softap_toml(stick, BROKEN_ESP)
}

/// The power cut: `spec` booted until the banner shows the passphrase, then
/// QEMU killed. Returns the passphrase the banner showed.
pub fn cut_at_banner(name: &str, spec: &VmSpec, timeout: Duration) -> Result<String, String> {
    let (console, at) =
        boot_until(name, spec, PASSPHRASE_LINE, timeout).map_err(|e| e.to_string())?;
    let line = &console.lines()[at];
    eprintln!(
        "softap-e2e[{name}]: power cut {:.1} s after QEMU started, at the banner",
        line.at.as_secs_f64()
    );
    banner_passphrase(&line.text)
        .ok_or_else(|| format!("the banner line `{}` shows no passphrase", line.text))
}

/// The passphrase on a banner line (`  Passphrase: xyz`).
pub fn banner_passphrase(line: &str) -> Option<String> {
    let (_, rest) = line.split_once(PASSPHRASE_LINE)?;
    let p = rest.trim();
    (!p.is_empty() && !p.starts_with('(')).then(|| p.to_owned())
}

/// The first 16 hex digits of the passphrase's sha256, as the guest reports
/// it (`passphrase-sha256`), by `sha256sum`.
pub fn short_sha256(text: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running sha256sum: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("sha256sum has no stdin")?
        .write_all(text.as_bytes())
        .map_err(|e| format!("writing to sha256sum: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("running sha256sum: {e}"))?;
    let hex = String::from_utf8_lossy(&out.stdout);
    hex.get(..16)
        .map(str::to_owned)
        .ok_or_else(|| format!("sha256sum printed `{hex}`"))
}

/// What e2fsck says about the root file system, from the console: the
/// initramfs runs `fsck.ext4 -a` on it before mounting, which prints
/// `softap-root: clean, N/M files, …` when nothing needs repair. Replaying
/// the journal after a power cut (`recovering journal`) is what a journal is
/// for and ends clean too; a repair prints what it fixed and no `clean`.
pub fn root_fsck_problems(console: &Console) -> Vec<String> {
    const REPAIRED: &[&str] = &[
        "FIXED",
        "UNEXPECTED INCONSISTENCY",
        "FILE SYSTEM WAS MODIFIED",
        "fsck exited with status code",
        "Clearing orphaned inode",
    ];
    let mut problems: Vec<String> = console
        .lines()
        .iter()
        .filter(|l| REPAIRED.iter().any(|r| l.text.contains(r)))
        .map(|l| {
            format!(
                "the root file system needed repairs after the power cut: `{}`",
                l.text
            )
        })
        .collect();
    if !console
        .lines()
        .iter()
        .any(|l| l.text.contains(ROOT_FSCK_CLEAN))
    {
        problems.push(format!(
            "after the power cut the console shows no `{ROOT_FSCK_CLEAN}` from the initramfs's fsck of the root file system"
        ));
    }
    problems
}

/// e2fsck's verdict on the root file system (its label is `softap-root`).
pub const ROOT_FSCK_CLEAN: &str = "softap-root: clean, ";

/// What the console and the report must show after the faults of `f`.
pub fn problems(f: Faults, console: &Console, report: &Report, cut: Option<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    let shows = |needle: &str| console.lines().iter().find(|l| l.text.contains(needle));
    if f.hotplug {
        match shows(NO_RADIO) {
            None => problems.push(format!(
                "with no radio at boot, the console never said `{NO_RADIO}`"
            )),
            Some(l) if !l.text.contains("waiting for a change") => problems.push(format!(
                "the console's no-radio line does not say that the agent waits: `{}`",
                l.text
            )),
            Some(_) => {}
        }
        if shows(RADIO_GONE).is_none() {
            problems.push(format!(
                "after the driver was unloaded, the console never said `{RADIO_GONE}`"
            ));
        }
    }
    if f.broken_esp {
        let placed = console.lines().iter().any(|l| {
            l.text.split_once(BROKEN_AT).is_some_and(|(_, rest)| {
                rest.split_once(':').is_some_and(|(col, _)| {
                    !col.is_empty() && col.bytes().all(|b| b.is_ascii_digit())
                })
            })
        });
        if !placed {
            problems.push(format!(
                "the broken softap.toml on the ESP was not named on the console as `{BROKEN_AT}COLUMN:`"
            ));
        }
    }
    if let Some(pass) = cut {
        match (short_sha256(pass), report.info.get("passphrase-sha256")) {
            (Err(e), _) => problems.push(e),
            (Ok(want), Some(got)) if *got == want => {}
            (Ok(want), got) => problems.push(format!(
                "the passphrase changed across the power cut: the banner's hashes to {want}, the boot after it reports {got:?}"
            )),
        }
        if let Some(l) = console
            .lines()
            .iter()
            .find(|l| l.text.contains("recovering journal"))
        {
            eprintln!(
                "softap-e2e: after the power cut, e2fsck replayed the journal: `{}`",
                l.text
            );
        }
        problems.extend(root_fsck_problems(console));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_line_gives_its_passphrase() {
        assert_eq!(
            banner_passphrase("  Passphrase: abcd-efgh-ijkm").as_deref(),
            Some("abcd-efgh-ijkm")
        );
        assert_eq!(banner_passphrase("  Passphrase: (open network)"), None);
        assert_eq!(banner_passphrase("  SSID: softap"), None);
    }

    #[test]
    fn the_short_hash_is_the_guests() {
        // printf '%s' softap | sha256sum | cut -c1-16
        assert_eq!(short_sha256("softap").unwrap(), "d25dc681f74b3eea");
    }

    #[test]
    fn only_b_and_c_have_faults() {
        assert!(of("b").broken_esp && of("b").hotplug && !of("b").power_cut);
        assert!(!of("b").crash_and_hang);
        assert!(of("c").power_cut && of("c").crash_and_hang && !of("c").hotplug);
        assert_eq!(of("a"), Faults::default());
        assert_eq!(of("d"), Faults::default());
    }

    fn console_of(text: &str) -> (tempfile::TempDir, Console) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial.log");
        std::fs::write(&path, text).unwrap();
        let mut c = Console::new(&path, std::time::Instant::now());
        c.poll().unwrap();
        (dir, c)
    }

    #[test]
    fn a_panic_on_purpose_must_follow_the_done_line_and_a_hang_must_not_panic() {
        let done = "SOFTAP-E2E-DONE c
";
        let crash = format!(
            "{done}{CRASHING} (echo c)
[ 99.1] sysrq: Trigger a crash
[ 99.2] Kernel panic - not syncing: sysrq triggered crash
"
        );
        assert!(end_problems(&console_of(&crash).1, End::Panic).is_empty());
        // A panic before the done line is not the one asked for.
        let early = format!(
            "Kernel panic - not syncing: x
{done}{CRASHING}
"
        );
        assert_eq!(end_problems(&console_of(&early).1, End::Panic).len(), 1);
        assert_eq!(end_problems(&console_of(done).1, End::Panic).len(), 1);
        assert_eq!(end_problems(&console_of("").1, End::Hang).len(), 1);

        let hang = format!(
            "{done}{FREEZING} (cgroup.freeze)
"
        );
        assert!(end_problems(&console_of(&hang).1, End::Hang).is_empty());
        let rebooted = format!(
            "{hang}[ 80.0] reboot: Restarting system
"
        );
        assert_eq!(end_problems(&console_of(&rebooted).1, End::Hang).len(), 1);
        assert_eq!(end_problems(&console_of(&crash).1, End::Hang).len(), 1);
    }

    #[test]
    fn the_broken_file_breaks_on_the_line_it_names() {
        let line: usize = BROKEN_AT
            .trim_end_matches(':')
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let e = toml::from_str::<toml::Table>(BROKEN_ESP).unwrap_err();
        let at = e.span().unwrap().start;
        assert_eq!(BROKEN_ESP[..at].matches('\n').count() + 1, line, "{e}");
    }
}
