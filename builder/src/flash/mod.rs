//! `softap-build flash IMAGE DEVICE`: writes a raw disk image to a removable
//! device safely. Refuses fixed, mounted, in-use or too small devices, writes
//! only the ranges the sparse image really holds (as bmaptool does), fsyncs,
//! then reads every written range back and compares its sha256.
//!
//! The sysfs root and the mountinfo file are options, so tests describe a
//! fake device and flash a plain file; nothing here needs a real disk.
//!
//! One job per file: [`device`] examines the target, [`prompt`] asks,
//! [`extents`] and [`ranges`] plan what to write, [`write`] writes and
//! verifies; this file runs them in order.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::Instant;

mod device;
mod error;
mod extents;
mod prompt;
mod ranges;
mod write;

pub use device::{device_info, find_mount, DeviceInfo};
pub use error::FlashError;
pub use extents::data_extents;
pub use prompt::human;
pub use ranges::{plan_ranges, Range};

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
    /// Bytes written (and verified): the image's data ranges.
    pub written: u64,
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
    let hashes = write::write(&src, &opts.image, &dst, &device, &ranges, opts.progress)?;
    let write_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    write::verify(&dst, &device, &ranges, &hashes, opts.progress)?;
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
