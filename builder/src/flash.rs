//! `softap-build flash IMAGE DEVICE`: writes a raw disk image to a removable
//! device safely. Refuses fixed, mounted, in-use or too small devices, writes
//! only the ranges the sparse image really holds (as bmaptool does), fsyncs,
//! then reads every written range back and compares its sha256.
//!
//! The sysfs root and the mountinfo file are options, so tests describe a
//! fake device and flash a plain file; nothing here needs a real disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, IsTerminal, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

/// What to flash where, and how the device is examined.
#[derive(Debug, Clone)]
pub struct FlashOptions {
    pub image: PathBuf,
    pub device: PathBuf,
    /// Do not ask before writing.
    pub yes: bool,
    /// Where sysfs is (`/sys`); tests point it at a fake description.
    pub sysfs_root: PathBuf,
    /// The mount table to check (`/proc/self/mountinfo`).
    pub mountinfo: PathBuf,
    /// Accept a regular file as the device (tests); the CLI never sets it.
    pub allow_regular_file: bool,
    /// Show progress bars (on a terminal).
    pub progress: bool,
}

impl FlashOptions {
    /// The options for a real device: the live sysfs and mount table.
    pub fn new(image: impl Into<PathBuf>, device: impl Into<PathBuf>) -> Self {
        Self {
            image: image.into(),
            device: device.into(),
            yes: false,
            sysfs_root: PathBuf::from("/sys"),
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            allow_regular_file: false,
            progress: true,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlashReport {
    pub device: PathBuf,
    pub model: String,
    pub device_size: u64,
    pub image_size: u64,
    /// Bytes written (and verified): the image's data ranges.
    pub written: u64,
    pub ranges: usize,
    pub write_seconds: f64,
    pub verify_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{device} is not a block device (give the whole disk, e.g. /dev/sdb)")]
    NotBlockDevice { device: PathBuf },
    #[error("{device} ({name}) is unknown to sysfs: {path} is missing")]
    UnknownDevice {
        device: PathBuf,
        name: String,
        path: PathBuf,
    },
    #[error("{device} is a partition: give the whole disk ({parent})")]
    Partition { device: PathBuf, parent: String },
    #[error("refusing {device} ({model}): it is not a removable device")]
    NotRemovable { device: PathBuf, model: String },
    #[error("refusing {device}: {what} is mounted on {mountpoint} (unmount it first)")]
    Mounted {
        device: PathBuf,
        what: String,
        mountpoint: String,
    },
    #[error("refusing {device}: it is in use by {holders}")]
    InUse { device: PathBuf, holders: String },
    #[error("refusing {device}: it holds {device_size} bytes, the image needs {image_size}")]
    TooSmall {
        device: PathBuf,
        device_size: u64,
        image_size: u64,
    },
    #[error("not confirmed: nothing was written to {device}{hint}")]
    NotConfirmed { device: PathBuf, hint: &'static str },
    #[error("{image} is not a raw GPT disk image (no \"EFI PART\" header at byte 512): flash out/softap.raw, not the OCI archive")]
    NotADiskImage { image: PathBuf },
    #[error(
        "verification failed: {device} bytes {start}..{end} differ from the image after writing"
    )]
    Verify {
        device: PathBuf,
        start: u64,
        end: u64,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FlashError + '_ {
    move |source| FlashError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A byte range `[start, end)` of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Turns the data extents of an image of `size` bytes into the ranges to
/// write: widened to `align` boundaries (whole device blocks), clamped to the
/// image, sorted and merged where they touch.
pub fn plan_ranges(extents: &[Range], size: u64, align: u64) -> Vec<Range> {
    let mut r: Vec<Range> = extents
        .iter()
        .filter(|e| e.start < e.end && e.start < size)
        .map(|e| Range {
            start: e.start / align * align,
            end: e.end.div_ceil(align).saturating_mul(align).min(size),
        })
        .collect();
    r.sort_by_key(|e| e.start);
    let mut out: Vec<Range> = Vec::with_capacity(r.len());
    for e in r {
        match out.last_mut() {
            Some(last) if e.start <= last.end => last.end = last.end.max(e.end),
            _ => out.push(e),
        }
    }
    out
}

/// The data extents of `file` from `SEEK_DATA`/`SEEK_HOLE`; the whole file
/// where the filesystem cannot tell.
pub fn data_extents(file: &File, size: u64) -> io::Result<Vec<Range>> {
    let fd = file.as_raw_fd();
    let mut out = Vec::new();
    let mut pos: u64 = 0;
    while pos < size {
        let off = i64::try_from(pos).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: lseek on a descriptor we own; it only moves the offset.
        let data = unsafe { libc::lseek(fd, off, libc::SEEK_DATA) };
        if data < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                // No data after pos: the rest is a hole.
                Some(libc::ENXIO) => Ok(out),
                Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) if out.is_empty() => Ok(vec![Range {
                    start: 0,
                    end: size,
                }]),
                _ => Err(e),
            };
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(io::Error::last_os_error());
        }
        let (start, end) = (data as u64, (hole as u64).min(size));
        if end > start {
            out.push(Range { start, end });
        }
        pos = end.max(start + 1);
    }
    Ok(out)
}

/// The device as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Kernel name (`sdb`).
    pub name: String,
    pub model: String,
    pub size: u64,
    pub removable: bool,
    /// `major:minor` of the disk and of each of its partitions.
    pub devs: Vec<String>,
    /// Names of the partitions (`sdb1`).
    pub partitions: Vec<String>,
    pub holders: Vec<String>,
}

fn read_trimmed(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

/// Reads `<sysfs>/class/block/<name>`.
pub fn device_info(sysfs: &Path, device: &Path, name: &str) -> Result<DeviceInfo, FlashError> {
    let dir = sysfs.join("class/block").join(name);
    let size_path = dir.join("size");
    let sectors = read_trimmed(&size_path).ok_or_else(|| FlashError::UnknownDevice {
        device: device.to_owned(),
        name: name.to_owned(),
        path: size_path.clone(),
    })?;
    if dir.join("partition").exists() {
        let parent = fs::canonicalize(&dir)
            .ok()
            .and_then(|p| {
                p.parent()
                    .and_then(|q| q.file_name())
                    .map(|f| f.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "its disk".to_owned());
        return Err(FlashError::Partition {
            device: device.to_owned(),
            parent: format!("/dev/{parent}"),
        });
    }
    let model = [dir.join("device/vendor"), dir.join("device/model")]
        .iter()
        .filter_map(|p| read_trimmed(p))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut partitions = Vec::new();
    let mut devs: Vec<String> = read_trimmed(&dir.join("dev")).into_iter().collect();
    if let Ok(rd) = fs::read_dir(&dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(name) && e.path().join("partition").exists() {
                devs.extend(read_trimmed(&e.path().join("dev")));
                partitions.push(n);
            }
        }
    }
    partitions.sort();
    let mut holders: Vec<String> = fs::read_dir(dir.join("holders"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    holders.sort();
    Ok(DeviceInfo {
        name: name.to_owned(),
        model: if model.is_empty() {
            "unknown model".to_owned()
        } else {
            model
        },
        size: sectors.parse::<u64>().unwrap_or(0) * 512,
        removable: read_trimmed(&dir.join("removable")).as_deref() == Some("1"),
        devs,
        partitions,
        holders,
    })
}

/// The first mount (source, mount point) of the device or its partitions in
/// a `/proc/self/mountinfo` text, matched by `major:minor` or source path.
pub fn find_mount(mountinfo: &str, device: &Path, info: &DeviceInfo) -> Option<(String, String)> {
    let dev = device.to_string_lossy();
    let dir = device.parent().unwrap_or(Path::new("/dev"));
    let mut sources: Vec<String> = vec![dev.clone().into_owned()];
    sources.extend(
        info.partitions
            .iter()
            .map(|p| dir.join(p).to_string_lossy().into_owned()),
    );
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 5 {
            continue;
        }
        let source = f
            .iter()
            .position(|x| *x == "-")
            .and_then(|i| f.get(i + 2))
            .copied()
            .unwrap_or("");
        let majmin = f[2];
        if info.devs.iter().any(|d| d == majmin) || sources.iter().any(|s| s == source) {
            return Some((source.to_owned(), unescape(f[4])));
        }
    }
    None
}

/// mountinfo escapes spaces and the like as `\040`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Sizes for people: `15.6 GB (15634268160 bytes)`.
pub fn human(bytes: u64) -> String {
    let gb = bytes as f64 / 1e9;
    if gb >= 1.0 {
        format!("{gb:.1} GB")
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// Every refusal, checked before the device is opened for writing.
fn examine(opts: &FlashOptions, image_size: u64) -> Result<(PathBuf, DeviceInfo), FlashError> {
    let device = fs::canonicalize(&opts.device).map_err(io_err(&opts.device))?;
    let meta = fs::metadata(&device).map_err(io_err(&device))?;
    let is_block = meta.file_type().is_block_device();
    if !(is_block || opts.allow_regular_file && meta.is_file()) {
        return Err(FlashError::NotBlockDevice { device });
    }
    let name = if is_block {
        // The kernel's name, whatever /dev path led here.
        let rdev = meta.rdev();
        let link = opts.sysfs_root.join(format!(
            "dev/block/{}:{}",
            libc::major(rdev),
            libc::minor(rdev)
        ));
        fs::canonicalize(&link)
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let name = if name.is_empty() {
        device
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        name
    };
    let info = device_info(&opts.sysfs_root, &device, &name)?;
    if !info.removable {
        return Err(FlashError::NotRemovable {
            device,
            model: info.model,
        });
    }
    let mounts = fs::read_to_string(&opts.mountinfo).map_err(io_err(&opts.mountinfo))?;
    if let Some((what, mountpoint)) = find_mount(&mounts, &device, &info) {
        return Err(FlashError::Mounted {
            device,
            what,
            mountpoint,
        });
    }
    if !info.holders.is_empty() {
        return Err(FlashError::InUse {
            device,
            holders: info.holders.join(", "),
        });
    }
    if info.size < image_size {
        return Err(FlashError::TooSmall {
            device,
            device_size: info.size,
            image_size,
        });
    }
    Ok((device, info))
}

fn confirm(
    opts: &FlashOptions,
    device: &Path,
    info: &DeviceInfo,
    image_size: u64,
) -> Result<(), FlashError> {
    eprintln!(
        "{}: {} ({}, {} bytes), removable\nimage {}: {} bytes",
        device.display(),
        info.model,
        human(info.size),
        info.size,
        opts.image.display(),
        image_size
    );
    if opts.yes {
        return Ok(());
    }
    if !io::stdin().is_terminal() {
        return Err(FlashError::NotConfirmed {
            device: device.to_owned(),
            hint: " (no terminal to ask on: pass --yes)",
        });
    }
    eprint!(
        "Everything on {} will be lost. Type \"yes\" to write: ",
        device.display()
    );
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(io_err(Path::new("stdin")))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(FlashError::NotConfirmed {
            device: device.to_owned(),
            hint: "",
        })
    }
}

fn bar(show: bool, total: u64, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>8} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        b.set_style(style.progress_chars("=> "));
    }
    b.set_message(what.to_owned());
    b
}

const CHUNK: usize = 4 << 20;
/// Ranges are widened to whole 4 KiB blocks (every device's write unit).
const ALIGN: u64 = 4096;

/// Copies one range, returning the sha256 of what was written.
fn copy_range(
    src: &File,
    dst: &File,
    r: Range,
    buf: &mut [u8],
    opts: &FlashOptions,
    device: &Path,
    pb: &ProgressBar,
) -> Result<[u8; 32], FlashError> {
    let mut h = Sha256::new();
    let mut pos = r.start;
    while pos < r.end {
        let n = usize::try_from((r.end - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        src.read_exact_at(&mut buf[..n], pos)
            .map_err(io_err(&opts.image))?;
        dst.write_all_at(&buf[..n], pos).map_err(io_err(device))?;
        h.update(&buf[..n]);
        pos += n as u64;
        pb.inc(n as u64);
    }
    Ok(h.finalize().into())
}

fn hash_range(
    f: &File,
    r: Range,
    buf: &mut [u8],
    device: &Path,
    pb: &ProgressBar,
) -> Result<[u8; 32], FlashError> {
    let mut h = Sha256::new();
    let mut pos = r.start;
    while pos < r.end {
        let n = usize::try_from((r.end - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        f.read_exact_at(&mut buf[..n], pos)
            .map_err(io_err(device))?;
        h.update(&buf[..n]);
        pos += n as u64;
        pb.inc(n as u64);
    }
    Ok(h.finalize().into())
}

/// Flashes `opts.image` to `opts.device` (see the module documentation).
pub fn run(opts: &FlashOptions) -> Result<FlashReport, FlashError> {
    let src = File::open(&opts.image).map_err(io_err(&opts.image))?;
    let image_size = src.metadata().map_err(io_err(&opts.image))?.len();
    let mut signature = [0u8; 8];
    if src.read_exact_at(&mut signature, 512).is_err() || &signature != b"EFI PART" {
        return Err(FlashError::NotADiskImage {
            image: opts.image.clone(),
        });
    }
    let (device, info) = examine(opts, image_size)?;
    confirm(opts, &device, &info, image_size)?;

    let ranges = plan_ranges(
        &data_extents(&src, image_size).map_err(io_err(&opts.image))?,
        image_size,
        ALIGN,
    );
    let total: u64 = ranges.iter().map(Range::len).sum();
    let is_block = fs::metadata(&device)
        .map(|m| m.file_type().is_block_device())
        .unwrap_or(false);
    // O_EXCL on a block device fails while anything (a mount, LVM) holds it.
    let dst = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(if is_block { libc::O_EXCL } else { 0 })
        .open(&device)
        .map_err(io_err(&device))?;

    let started = Instant::now();
    let pb = bar(opts.progress, total, "writing");
    let mut buf = vec![0u8; CHUNK];
    let mut hashes = Vec::with_capacity(ranges.len());
    for r in &ranges {
        hashes.push(copy_range(&src, &dst, *r, &mut buf, opts, &device, &pb)?);
    }
    dst.sync_all().map_err(io_err(&device))?;
    pb.finish_and_clear();
    let write_seconds = started.elapsed().as_secs_f64();

    // Read back from the device, not from the page cache just written.
    // SAFETY: advisory call on a descriptor we own.
    unsafe {
        libc::posix_fadvise(dst.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
    let started = Instant::now();
    let pb = bar(opts.progress, total, "verifying");
    for (r, want) in ranges.iter().zip(&hashes) {
        if hash_range(&dst, *r, &mut buf, &device, &pb)? != *want {
            return Err(FlashError::Verify {
                device,
                start: r.start,
                end: r.end,
            });
        }
    }
    pb.finish_and_clear();
    Ok(FlashReport {
        device,
        model: info.model,
        device_size: info.size,
        image_size,
        written: total,
        ranges: ranges.len(),
        write_seconds,
        verify_seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    #[test]
    fn ranges_are_aligned_merged_and_clamped() {
        let got = plan_ranges(&[r(10, 20), r(4000, 4100), r(9000, 9001)], 10_000, 4096);
        // 10..20 and 4000..4100 widen to 0..8192; 9000..9001 to 8192..12288,
        // clamped to the image's end and merged with the first.
        assert_eq!(got, vec![r(0, 10_000)]);
        assert_eq!(plan_ranges(&[], 100, 4096), vec![]);
        assert_eq!(
            plan_ranges(&[r(8192, 9000), r(0, 1)], 1 << 20, 4096),
            vec![r(0, 4096), r(8192, 12288)]
        );
    }

    proptest! {
        #[test]
        fn planned_ranges_cover_every_extent(
            raw in proptest::collection::vec((0u64..1_000_000, 1u64..50_000), 0..20),
            size in 1u64..1_100_000,
        ) {
            let extents: Vec<Range> = raw.iter().map(|&(s, l)| r(s, s + l)).collect();
            let plan = plan_ranges(&extents, size, 4096);
            for w in plan.windows(2) {
                prop_assert!(w[0].end < w[1].start);
            }
            for p in &plan {
                prop_assert!(p.start % 4096 == 0 && p.end <= size && p.start < p.end);
            }
            for e in &extents {
                let (s, t) = (e.start, e.end.min(size));
                if s < t {
                    prop_assert!(plan.iter().any(|p| p.start <= s && t <= p.end));
                }
            }
        }
    }

    #[test]
    fn holes_are_found_in_a_sparse_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("img");
        let f = File::create(&p).unwrap();
        f.set_len(64 << 20).unwrap();
        f.write_all_at(b"head", 0).unwrap();
        f.write_all_at(b"tail", (64 << 20) - 4).unwrap();
        f.sync_all().unwrap();
        let f = File::open(&p).unwrap();
        let e = data_extents(&f, 64 << 20).unwrap();
        let covered: u64 = e.iter().map(Range::len).sum();
        assert!(e.first().unwrap().start == 0 && e.last().unwrap().end == 64 << 20);
        // tmpfs and ext4 report holes; a filesystem without SEEK_DATA gives one range.
        assert!(covered < 64 << 20 || e.len() == 1, "{e:?}");
    }

    #[test]
    fn mounts_match_by_devnum_or_partition_path() {
        let info = DeviceInfo {
            name: "sdz".into(),
            model: "m".into(),
            size: 1,
            removable: true,
            devs: vec!["8:208".into(), "8:209".into()],
            partitions: vec!["sdz1".into()],
            holders: vec![],
        };
        let dev = Path::new("/dev/sdz");
        let by_num =
            "36 25 8:209 / /media/usb\\040stick rw,relatime shared:1 - vfat /dev/disk/x rw\n";
        assert_eq!(
            find_mount(by_num, dev, &info),
            Some(("/dev/disk/x".into(), "/media/usb stick".into()))
        );
        let by_path = "36 25 0:99 / /mnt rw - ext4 /dev/sdz1 rw\n";
        assert_eq!(find_mount(by_path, dev, &info).unwrap().1, "/mnt");
        let other = "36 25 8:1 / / rw - ext4 /dev/sda1 rw\n";
        assert_eq!(find_mount(other, dev, &info), None);
    }
}
