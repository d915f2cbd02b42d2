//! Following the guest's serial console, which QEMU writes to a file.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::HarnessError;

/// What the harness says when the guest kernel panicked.
pub const GUEST_KERNEL_PANIC: &str = "the guest kernel panicked";

/// Console text that means the boot cannot succeed any more, and why.
const FATAL: &[(&str, &str)] = &[
    (
        "UEFI Interactive Shell",
        "OVMF dropped to the UEFI shell: it found nothing bootable on the stick (no EFI/BOOT/BOOTX64.EFI on a FAT ESP?)",
    ),
    // What OVMF prints when Secure Boot refuses the loader on the stick
    // ("BdsDxe: failed to load Boot0001 ...: Access Denied"), what shim
    // prints when it refuses the next stage, and a firmware crash (CODE and
    // VARS files of different builds).
    (
        "Access Denied",
        "the firmware refused to start the boot loader (Secure Boot: Access Denied, an unsigned or untrusted EFI/BOOT/BOOTX64.EFI)",
    ),
    (
        "Security Violation",
        "a boot stage was refused by signature verification (Security Violation: shim would not start systemd-boot or the kernel)",
    ),
    (
        "!!!! X64 Exception Type",
        "the UEFI firmware crashed (X64 exception; OVMF CODE and VARS files from different builds?)",
    ),
    ("Kernel panic - not syncing", GUEST_KERNEL_PANIC),
    (
        "You are in emergency mode",
        "systemd fell back to emergency mode (root or /boot not mountable?)",
    ),
    (
        "Give root password for maintenance",
        "systemd fell back to emergency mode",
    ),
    (
        "ALERT!  PARTUUID=",
        "the initramfs could not find the root partition",
    ),
];

/// One line of console output and when the harness saw it.
#[derive(Debug, Clone)]
pub struct SeenLine {
    /// Since the harness started QEMU.
    pub at: Duration,
    pub text: String,
}

#[derive(Debug)]
pub struct Console {
    path: PathBuf,
    file: Option<File>,
    started: Instant,
    partial: Vec<u8>,
    lines: Vec<SeenLine>,
}

impl Console {
    /// `started` is when QEMU was spawned; line times are relative to it.
    pub fn new(path: &Path, started: Instant) -> Console {
        Console {
            path: path.to_owned(),
            file: None,
            started,
            partial: Vec::new(),
            lines: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads what QEMU wrote since the last call; returns the index of the
    /// first new complete line.
    pub fn poll(&mut self) -> Result<usize, HarnessError> {
        let first_new = self.lines.len();
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(f) => self.file = Some(f),
                // QEMU creates the file when it starts; not there yet is normal.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(first_new),
                Err(e) => return Err(HarnessError::io("opening the console", &self.path, e)),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(first_new);
        };
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)
            .map_err(|e| HarnessError::io("reading the console", &self.path, e))?;
        let at = self.started.elapsed();
        self.partial.extend_from_slice(&buf);
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.partial.drain(..=nl).collect();
            let text = clean(&String::from_utf8_lossy(&raw));
            self.lines.push(SeenLine { at, text });
        }
        Ok(first_new)
    }

    pub fn lines(&self) -> &[SeenLine] {
        &self.lines
    }

    /// The first fatal marker in lines from `from` on, with its explanation.
    pub fn fatal_since(&self, from: usize) -> Option<String> {
        self.lines[from.min(self.lines.len())..]
            .iter()
            .find_map(|l| fatal_reason(&l.text))
    }

    /// The last `n` lines (and the unterminated rest), for error messages.
    pub fn tail(&self, n: usize) -> String {
        let start = self.lines.len().saturating_sub(n);
        let mut out: String = self.lines[start..]
            .iter()
            .map(|l| format!("[{:7.2}] {}\n", l.at.as_secs_f64(), l.text))
            .collect();
        if !self.partial.is_empty() {
            out.push_str(&clean(&String::from_utf8_lossy(&self.partial)));
            out.push('\n');
        }
        out
    }

    /// Seconds since QEMU started when a line containing `needle` first appeared.
    pub fn first_seen(&self, needle: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|l| l.text.contains(needle))
            .map(|l| l.at)
    }
}

pub fn fatal_reason(text: &str) -> Option<String> {
    FATAL
        .iter()
        .filter(|(_, why)| *why != GUEST_KERNEL_PANIC || !quotes_the_kernel(text))
        .find(|(needle, _)| text.contains(needle))
        .map(|(_, why)| (*why).to_owned())
}

/// An indented line: the agent's banner quoting an earlier boot's crash
/// record (`    [   85.17] Kernel panic - …`), which the kernel's own lines
/// on the console never are.
fn quotes_the_kernel(text: &str) -> bool {
    text.starts_with(char::is_whitespace)
}

/// Drops carriage returns and terminal escape sequences (OVMF and systemd
/// colour their output) so lines read cleanly in CI logs.
pub fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // CSI: parameters and intermediates up to a final byte @..~
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' | '\n' => {}
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Waits until `done` holds or `deadline` passes, polling every `step`.
pub fn sleep_until(deadline: Instant, step: Duration) -> bool {
    let now = Instant::now();
    if now >= deadline {
        return false;
    }
    std::thread::sleep(step.min(deadline - now));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn strips_colours_and_carriage_returns() {
        assert_eq!(
            clean(
                "[\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[1;39mMulti-User System\x1b[0m.\r\n"
            ),
            "[  OK  ] Reached target Multi-User System."
        );
    }

    #[test]
    fn a_panic_quoted_by_the_banner_is_not_one() {
        let kernel = "[   85.176923] Kernel panic - not syncing: sysrq triggered crash";
        assert_eq!(fatal_reason(kernel).as_deref(), Some(GUEST_KERNEL_PANIC));
        assert_eq!(fatal_reason(&format!("    {kernel}")), None);
        assert!(fatal_reason("  You are in emergency mode").is_some());
    }

    #[test]
    fn recognises_the_uefi_shell() {
        let why = fatal_reason("UEFI Interactive Shell v2.2").unwrap_or_default();
        assert!(why.contains("UEFI shell"), "{why}");
        assert_eq!(fatal_reason("Reached target multi-user.target"), None);
    }

    #[test]
    fn recognises_secure_boot_refusals_and_firmware_crashes() {
        let denied = "BdsDxe: failed to load Boot0001 \"UEFI QEMU QEMU USB HARDDRIVE \" from PciRoot(0x0)/Pci(0x1,0x0)/USB(0x0,0x0): Access Denied";
        let why = fatal_reason(denied).unwrap_or_default();
        assert!(why.contains("Secure Boot"), "{why}");
        let why =
            fatal_reason("Verification failed: (0x1A) Security Violation").unwrap_or_default();
        assert!(why.contains("signature"), "{why}");
        let why = fatal_reason("!!!! X64 Exception Type - 0D(#GP)  CPU Apic ID - 00000000 !!!!")
            .unwrap_or_default();
        assert!(why.contains("crashed"), "{why}");
        assert_eq!(fatal_reason("secureboot: Secure boot enabled"), None);
    }

    #[test]
    fn follows_a_growing_file_line_by_line() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("serial.log");
        let mut console = Console::new(&path, Instant::now());
        assert_eq!(console.poll()?, 0, "a missing file is not an error yet");
        let mut f = File::create(&path)?;
        f.write_all(b"BdsDxe: loading\r\npart")?;
        f.flush()?;
        console.poll()?;
        assert_eq!(console.lines().len(), 1);
        assert!(console.tail(5).ends_with("part\n"));
        f.write_all(b"ial line\nKernel panic - not syncing: VFS\n")?;
        f.flush()?;
        let first = console.poll()?;
        assert_eq!(first, 1);
        assert_eq!(console.lines()[1].text, "partial line");
        assert_eq!(
            console.fatal_since(first).as_deref(),
            Some("the guest kernel panicked")
        );
        assert!(console.first_seen("BdsDxe").is_some());
        Ok(())
    }
}
