//! Why the machine restarted: the last kernel crash that systemd-pstore
//! archived. The kernel writes the tail of its log into persistent storage
//! when it panics or oopses (on the stick, EFI variables through
//! `efi_pstore`); at the next boot systemd-pstore moves each record from
//! `/sys/fs/pstore` into `/var/lib/systemd/pstore/<id>/`, one file per
//! chunk (`dmesg-<backend>-<record id>`) and the chunks put back together in
//! `dmesg.txt`. `status` and the console's banner name the crash, when it
//! happened and its first lines.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::Serialize;

/// Where systemd-pstore archives the records (its `Storage=external`, the
/// default).
pub const ARCHIVE_DIR: &str = "var/lib/systemd/pstore";

/// How many lines of the crash `status` and the banner show.
pub const FIRST_LINES: usize = 6;

/// The last kernel crash in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Crash {
    /// What the kernel dumped for: `panic`, `oops`, `emergency`... (the
    /// most severe of the record's chunks), as the kernel names it.
    pub kind: String,
    /// When the kernel wrote the record (UTC, RFC 3339), when the backend
    /// keeps the time (EFI does, in the record id); else when it was
    /// archived.
    pub at: Option<String>,
    /// Seconds since the Unix epoch of `at`.
    pub at_unix: Option<u64>,
    /// Archived during this boot: the crash ended the previous boot (or an
    /// earlier one whose record had not been archived yet).
    pub previous_boot: bool,
    /// The archive directory, on the target.
    pub archive: String,
    /// From the first line that says what went wrong (`Kernel panic`,
    /// `BUG:`, `Oops:`...), without the log levels.
    pub first_lines: Vec<String>,
}

impl Crash {
    /// One line for people: "the previous boot ended in a kernel panic at …".
    pub fn summary(&self) -> String {
        let what = match self.kind.as_str() {
            "panic" => "a kernel panic".to_owned(),
            "oops" => "a kernel oops".to_owned(),
            other => format!("a kernel crash ({other})"),
        };
        let at = self
            .at
            .as_deref()
            .map(|t| format!(" at {t}"))
            .unwrap_or_default();
        if self.previous_boot {
            format!("the previous boot ended in {what}{at}")
        } else {
            format!("the last kernel crash on record: {what}{at}, before the previous boot")
        }
    }

    /// The summary and the first lines, for the console and `status`.
    pub fn text(&self) -> String {
        let p = crate::console::printable;
        let mut s = format!("{}\n", p(&self.summary()));
        for l in &self.first_lines {
            s.push_str(&format!("    {}\n", p(l)));
        }
        s.push_str(&format!("    (the whole log: {})\n", p(&self.archive)));
        s
    }
}

/// Why the archive could not be read (an archive that is not there is no
/// crash, not an error).
#[derive(Debug, thiserror::Error)]
#[error("reading the kernel's crash archive {path}: {source}")]
pub struct CrashError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The last crash archived under `root`; `boot_time` (seconds since the
/// epoch) tells a crash archived during this boot from older ones.
pub fn last(root: &Path, boot_time: Option<u64>) -> Result<Option<Crash>, CrashError> {
    let dir = root.join(ARCHIVE_DIR);
    let err = |path: &Path, source| CrashError {
        path: path.to_owned(),
        source,
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(&dir, e)),
    };
    // A record is a directory of chunks: `<id>/` (older systemd) or
    // `<id>/<count>/` (trixie's).
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| err(&dir, e))?;
        let path = entry.path();
        if !entry.file_type().map_err(|e| err(&path, e))?.is_dir() {
            continue;
        }
        for sub in std::fs::read_dir(&path).map_err(|e| err(&path, e))? {
            let sub = sub.map_err(|e| err(&path, e))?;
            if sub.file_type().map_err(|e| err(&sub.path(), e))?.is_dir() {
                dirs.push(sub.path());
            }
        }
        dirs.push(path);
    }
    let mut chunks = Vec::new();
    for path in &dirs {
        chunks.extend(read_chunks(path)?);
    }
    Ok(crash_of(root, chunks, boot_time))
}

/// This boot's start, from `/proc/stat`'s `btime` under `root`.
pub fn boot_time(root: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(root.join("proc/stat")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// One chunk of a dump: the kernel writes a dump in parts (`Panic#1
/// Part1` is the end of the log), and systemd-pstore may file the parts of
/// one dump under two directories when their record ids straddle a second.
struct Chunk {
    dir: PathBuf,
    /// When the kernel wrote it (EFI record ids hold it), else when the
    /// chunk's directory was archived.
    time: Option<u64>,
    kind: String,
    part: u32,
    text: String,
}

/// The chunks (`dmesg-*` with the kernel's header) of one directory.
fn read_chunks(dir: &Path) -> Result<Vec<Chunk>, CrashError> {
    let err = |path: &Path, source| CrashError {
        path: path.to_owned(),
        source,
    };
    let mut chunks = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| err(dir, e))? {
        let entry = entry.map_err(|e| err(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("dmesg-") || name.ends_with(".enc.z") {
            continue;
        }
        let path = entry.path();
        let bytes = std::fs::read(&path).map_err(|e| err(&path, e))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let Some((kind, part)) = header(&text) else {
            continue;
        };
        chunks.push(Chunk {
            dir: dir.to_owned(),
            time: record_time(&name).or_else(|| modified(dir)),
            kind,
            part,
            text,
        });
    }
    Ok(chunks)
}

/// How far apart the chunks of one crash may be written: an oops's dump,
/// then the panic's it leads to, each in parts.
const ONE_CRASH: u64 = 10;

/// The newest crash among `chunks`: every chunk written within
/// [`ONE_CRASH`] of the newest one, oopses before panics, each dump's
/// highest part (the log's beginning) first.
fn crash_of(root: &Path, mut chunks: Vec<Chunk>, boot_time: Option<u64>) -> Option<Crash> {
    let newest = chunks.iter().filter_map(|c| c.time).max();
    chunks.retain(|c| match (c.time, newest) {
        (Some(t), Some(n)) => t + ONE_CRASH >= n,
        _ => newest.is_none(),
    });
    chunks.sort_by_key(|c| (severity(&c.kind), std::cmp::Reverse(c.part)));
    let kind = chunks
        .iter()
        .map(|c| c.kind.as_str())
        .max_by_key(|k| severity(k))?
        .to_owned();
    let log: Vec<String> = chunks
        .iter()
        .flat_map(|c| c.text.lines().skip(1))
        .map(strip_level)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let at_unix = chunks.iter().filter_map(|c| c.time).min();
    // The directory of the log's end: the first part of the last dump.
    let dir = &chunks
        .iter()
        .filter(|c| c.kind == kind)
        .min_by_key(|c| c.part)?
        .dir;
    let previous_boot = match (modified(dir), boot_time) {
        (Some(a), Some(b)) => a >= b,
        _ => false,
    };
    Some(Crash {
        kind,
        at: at_unix.map(softap_config::time::rfc3339),
        at_unix,
        previous_boot,
        archive: Path::new("/")
            .join(dir.strip_prefix(root).unwrap_or(dir))
            .display()
            .to_string(),
        first_lines: first_lines(&log),
    })
}

/// The kernel's chunk header, `Panic#1 Part2`: the reason, lower case, and
/// the part.
fn header(text: &str) -> Option<(String, u32)> {
    let first = text.lines().next()?.trim();
    let (reason, rest) = first.split_once('#')?;
    let part = rest.split_once(" Part")?.1.trim().parse().ok()?;
    if reason.is_empty() || !reason.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Some((reason.to_ascii_lowercase(), part))
}

fn severity(kind: &str) -> u8 {
    match kind {
        "panic" => 3,
        "oops" => 2,
        "emergency" => 1,
        _ => 0,
    }
}

/// `<4>[   12.345678] text` → `[   12.345678] text`.
fn strip_level(line: &str) -> String {
    if let Some(rest) = line.strip_prefix('<') {
        if let Some((level, text)) = rest.split_once('>') {
            if !level.is_empty() && level.chars().all(|c| c.is_ascii_digit()) {
                return text.to_owned();
            }
        }
    }
    line.to_owned()
}

/// The crash's own first lines: from the first line that says what went
/// wrong; the log's last lines when none does.
fn first_lines(log: &[String]) -> Vec<String> {
    const MARKS: &[&str] = &[
        "Kernel panic",
        "BUG:",
        "Oops:",
        "general protection fault",
        "kernel BUG at",
        "Unable to handle kernel",
        "watchdog: ",
        "sysrq: Trigger a crash",
    ];
    let start = log
        .iter()
        .position(|l| MARKS.iter().any(|m| l.contains(m)))
        .unwrap_or_else(|| log.len().saturating_sub(FIRST_LINES));
    log[start..].iter().take(FIRST_LINES).cloned().collect()
}

/// The crash's time from an EFI record's name (`dmesg-efi_pstore-<id>`, or
/// `dmesg-efi-<id>` from older kernels, where the kernel makes the id
/// `(seconds * 100 + part) * 1000 + count`).
fn record_time(name: &str) -> Option<u64> {
    let id: u64 = name
        .strip_prefix("dmesg-efi")?
        .rsplit_once('-')?
        .1
        .parse()
        .ok()?;
    let t = id / 100_000;
    // An id that decodes to before 2001 or after 2199 is not a time.
    (978_307_200..7_258_118_400).contains(&t).then_some(t)
}

fn modified(path: &Path) -> Option<u64> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    m.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// The last crash for `status` and the banner, on the running system:
/// unreadable archives are logged and shown as none.
pub fn last_on(root: &Path) -> Option<Crash> {
    match last(root, boot_time(root)) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::SystemTime;

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// A record as trixie's systemd-pstore leaves it for an `echo c >
    /// /proc/sysrq-trigger` panic on the stick (seen in the end-to-end
    /// test): `<id>/001/`, EFI chunks and the reconstructed dmesg.txt.
    fn sysrq_record(root: &Path, id_secs: u64) -> PathBuf {
        let dir = root
            .join(ARCHIVE_DIR)
            .join(format!("{id_secs}"))
            .join("001");
        fs::create_dir_all(&dir).unwrap();
        let part2 = "Panic#1 Part2\n\
                     <6>[   40.100000] softap: AP-ENABLED\n\
                     <6>[   52.000000] sysrq: Trigger a crash\n";
        let part1 = "Panic#1 Part1\n\
                     <0>[   52.000100] Kernel panic - not syncing: sysrq triggered crash\n\
                     <4>[   52.000200] CPU: 0 PID: 812 Comm: bash Not tainted 6.12.0-1-amd64\n\
                     <4>[   52.000300] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)\n\
                     <4>[   52.000400] Call Trace:\n\
                     <4>[   52.000500]  <TASK>\n\
                     <4>[   52.000600]  dump_stack_lvl+0x5d/0x80\n\
                     <4>[   52.000700]  panic+0x118/0x2f0\n\
                     <0>[   52.000800] Kernel Offset: disabled\n";
        fs::write(
            dir.join(format!(
                "dmesg-efi_pstore-{}",
                (id_secs * 100 + 2) * 1000 + 1
            )),
            part2,
        )
        .unwrap();
        fs::write(
            dir.join(format!(
                "dmesg-efi_pstore-{}",
                (id_secs * 100 + 1) * 1000 + 1
            )),
            part1,
        )
        .unwrap();
        fs::write(dir.join("dmesg.txt"), format!("{part2}{part1}")).unwrap();
        dir
    }

    #[test]
    fn no_archive_is_no_crash() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(last(d.path(), Some(0)).unwrap(), None);
        fs::create_dir_all(d.path().join(ARCHIVE_DIR)).unwrap();
        assert_eq!(last(d.path(), Some(0)).unwrap(), None);
    }

    #[test]
    fn a_panic_archived_this_boot_ended_the_previous_one() {
        let d = tempfile::tempdir().unwrap();
        sysrq_record(d.path(), 1_796_509_980);
        let boot = now() - 60;
        let c = last(d.path(), Some(boot)).unwrap().unwrap();
        assert_eq!(c.kind, "panic");
        assert!(c.previous_boot);
        assert_eq!(c.at_unix, Some(1_796_509_980));
        assert_eq!(c.at.as_deref(), Some("2026-12-05T22:33:00Z"));
        assert!(
            c.archive == "/var/lib/systemd/pstore/1796509980/001",
            "{}",
            c.archive
        );
        assert_eq!(
            c.first_lines[0], "[   52.000000] sysrq: Trigger a crash",
            "{:?}",
            c.first_lines
        );
        assert_eq!(
            c.first_lines[1],
            "[   52.000100] Kernel panic - not syncing: sysrq triggered crash"
        );
        assert_eq!(c.first_lines.len(), FIRST_LINES);
        assert_eq!(
            c.summary(),
            "the previous boot ended in a kernel panic at 2026-12-05T22:33:00Z"
        );
        let text = c.text();
        assert!(text.contains("Kernel panic - not syncing"), "{text}");
        assert!(!text.contains("<0>"), "{text}");
    }

    /// As the end-to-end boot found it: the panic's first parts under one
    /// second's directory, its later parts (the older log) under the next.
    #[test]
    fn a_dump_filed_under_two_seconds_is_one_crash() {
        let d = tempfile::tempdir().unwrap();
        sysrq_record(d.path(), 1_796_512_879);
        let later = d.path().join(ARCHIVE_DIR).join("1796512880/001");
        fs::create_dir_all(&later).unwrap();
        for part in [3u64, 4] {
            fs::write(
                later.join(format!(
                    "dmesg-efi_pstore-{}",
                    (1_796_512_880 * 100 + part) * 1000 + 1
                )),
                format!("Panic#1 Part{part}\n<6>[   14.5] sr 2:0:0:0: Attached scsi CD-ROM sr0\n"),
            )
            .unwrap();
        }
        let c = last(d.path(), Some(0)).unwrap().unwrap();
        assert_eq!(c.at_unix, Some(1_796_512_879));
        assert_eq!(c.archive, "/var/lib/systemd/pstore/1796512879/001");
        assert_eq!(c.first_lines[0], "[   52.000000] sysrq: Trigger a crash");
    }

    #[test]
    fn a_crash_archived_before_this_boot_is_not_called_the_previous_boot() {
        let d = tempfile::tempdir().unwrap();
        sysrq_record(d.path(), 1_700_000_000);
        let c = last(d.path(), Some(now() + 3600)).unwrap().unwrap();
        assert!(!c.previous_boot);
        assert!(
            c.summary().starts_with(
                "the last kernel crash on record: a kernel panic at 2023-11-14T22:13:20Z"
            ),
            "{}",
            c.summary()
        );
        // Without the boot's time, nobody can say which boot it ended.
        assert!(!last(d.path(), None).unwrap().unwrap().previous_boot);
    }

    #[test]
    fn the_newest_of_several_records_wins_and_an_oops_is_named() {
        let d = tempfile::tempdir().unwrap();
        sysrq_record(d.path(), 1_700_000_000);
        let dir = d.path().join(ARCHIVE_DIR).join("180000000");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(format!("dmesg-efi-{}", (1_800_000_000u64 * 100 + 1) * 1000 + 1)),
            "Oops#1 Part1\n<1>[  999.1] BUG: kernel NULL pointer dereference, address: 0000000000000000\n<4>[  999.2] RIP: 0010:ieee80211_tx+0x10/0x20 [mac80211]\n",
        )
        .unwrap();
        let c = last(d.path(), Some(0)).unwrap().unwrap();
        assert_eq!(c.kind, "oops");
        assert_eq!(c.at_unix, Some(1_800_000_000));
        assert_eq!(
            c.first_lines,
            [
                "[  999.1] BUG: kernel NULL pointer dereference, address: 0000000000000000",
                "[  999.2] RIP: 0010:ieee80211_tx+0x10/0x20 [mac80211]"
            ]
        );
        assert!(
            c.summary()
                .contains("a kernel oops at 2027-01-15T08:00:00Z"),
            "{}",
            c.summary()
        );
    }

    #[test]
    fn other_backends_and_stray_files_are_read_or_skipped() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join(ARCHIVE_DIR).join("0");
        fs::create_dir_all(&dir).unwrap();
        // ramoops keeps no time in its names: the archive's time stands in.
        fs::write(
            dir.join("dmesg-ramoops-0"),
            "Panic#2 Part1\nline a\nline b\n",
        )
        .unwrap();
        fs::write(dir.join("dmesg-ramoops-1.enc.z"), b"\x00\x01").unwrap();
        fs::write(dir.join("console-ramoops-0"), "not a dump").unwrap();
        fs::write(dir.join("dmesg-efi-7"), "no header here\n").unwrap();
        fs::write(
            dir.join("dmesg-efi-170000000000101001"),
            "Oops#1 Part9\nfar future\n",
        )
        .unwrap();
        fs::write(d.path().join(ARCHIVE_DIR).join("stray"), "x").unwrap();
        let c = last(d.path(), Some(0)).unwrap().unwrap();
        assert!(c.at_unix.unwrap() + 60 > now());
        // The oops chunk's id is no time (year 55840): the archive's time
        // stands in; the panic is the more severe of the two.
        assert_eq!(c.kind, "panic");
        assert_eq!(c.first_lines, ["far future", "line a", "line b"]);
    }

    #[test]
    fn an_unreadable_archive_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("var/lib/systemd")).unwrap();
        fs::write(d.path().join(ARCHIVE_DIR), "a file, not a directory").unwrap();
        let e = last(d.path(), None).unwrap_err().to_string();
        assert!(e.starts_with("reading the kernel's crash archive "), "{e}");
        assert!(e.contains("var/lib/systemd/pstore"), "{e}");
    }

    #[test]
    fn boot_time_comes_from_proc_stat() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(boot_time(d.path()), None);
        fs::create_dir_all(d.path().join("proc")).unwrap();
        fs::write(
            d.path().join("proc/stat"),
            "cpu 1 2 3\nbtime 1796510000\nprocesses 9\n",
        )
        .unwrap();
        assert_eq!(boot_time(d.path()), Some(1_796_510_000));
    }
}
