//! `softap-build flash IMAGE DEVICE`: writes a raw disk image to a removable
//! device safely. Refuses fixed, mounted, in-use or too small devices, writes
//! only the ranges the sparse image really holds (as bmaptool does) plus the
//! areas where partition tables and filesystem signatures live (the device's
//! first and last MiB, each partition's first MiB: zeros where the image has
//! a hole or ends, so no old ISO or filesystem signature survives beside the
//! new GPT), fsyncs, then reads every written range back and compares its
//! sha256.
//!
//! The sysfs root and the mountinfo file are options, so tests describe a
//! fake device and flash a plain file; nothing here needs a real disk.
//!
//! One job per file: [`device`] examines the target, [`prompt`] asks,
//! [`extents`], [`gpt`] and [`ranges`] plan what to write, [`write`] writes
//! and verifies; this file runs them in order.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::Instant;

mod device;
mod error;
mod extents;
mod gpt;
mod prompt;
mod ranges;
mod write;

pub use device::{device_info, find_mount, DeviceInfo};
pub use error::FlashError;
pub use extents::data_extents;
pub use ranges::{plan_ranges, plan_write, signature_areas, Fill, Piece, Range};

use error::io_err;

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
    /// Bytes written (and verified): the image's data ranges and the
    /// signature areas.
    pub written: u64,
    /// Of those, zeros written past the end of the image (the device's last
    /// MiB).
    pub zeroed: u64,
    pub ranges: usize,
    pub write_seconds: f64,
    pub verify_seconds: f64,
}

/// Ranges are widened to whole 4 KiB blocks (every device's write unit).
const ALIGN: u64 = 4096;

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
    let target = device::Target {
        device: &opts.device,
        sysfs_root: &opts.sysfs_root,
        mountinfo: &opts.mountinfo,
        allow_regular_file: opts.allow_regular_file,
    };
    let (device, info) = device::examine(&target, image_size)?;
    prompt::confirm(opts.yes, &opts.image, image_size, &device, &info)?;

    let starts = partition_starts(&src, opts)?;
    let extents = data_extents(&src, image_size).map_err(io_err(&opts.image))?;
    let pieces = plan_write(&extents, image_size, info.size, &starts, ALIGN);
    let total: u64 = pieces.iter().map(|p| p.range.len()).sum();
    let zeroed: u64 = pieces
        .iter()
        .filter(|p| p.fill == Fill::Zeros)
        .map(|p| p.range.len())
        .sum();
    let is_block = fs::metadata(&device)
        .map(|m| m.file_type().is_block_device())
        .unwrap_or(false);
    // O_EXCL on a block device fails while anything (a mount, LVM) holds it.
    let dst = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(if is_block {
            // The flag's bits, a small positive number, as std takes them.
            rustix::fs::OFlags::EXCL.bits() as i32
        } else {
            0
        })
        .open(&device)
        .map_err(io_err(&device))?;

    let started = Instant::now();
    let hashes = write::write(&src, &opts.image, &dst, &device, &pieces, opts.progress)?;
    let write_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    write::verify(&dst, &device, &pieces, &hashes, opts.progress)?;
    Ok(FlashReport {
        device,
        model: info.model,
        device_size: info.size,
        image_size,
        written: total,
        zeroed,
        ranges: pieces.len(),
        write_seconds,
        verify_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Where the image's partitions start, from its primary GPT.
fn partition_starts(src: &File, opts: &FlashOptions) -> Result<Vec<u64>, FlashError> {
    let mut header = [0u8; 92];
    src.read_exact_at(&mut header, gpt::SECTOR)
        .map_err(io_err(&opts.image))?;
    let Some(array) = gpt::entry_array(&header) else {
        return Ok(Vec::new());
    };
    let mut entries = vec![0u8; usize::try_from(array.byte_len()).unwrap_or(0)];
    // A table cut short by the image's end gives the entries it holds.
    let n = read_at_most(src, &mut entries, array.offset).map_err(io_err(&opts.image))?;
    entries.truncate(n);
    Ok(gpt::partition_starts(&array, &entries))
}

fn read_at_most(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], offset.saturating_add(done as u64)) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
