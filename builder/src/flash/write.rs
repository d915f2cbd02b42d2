//! Writes the planned ranges to the device, then reads them back and
//! compares their sha256.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::error::{io_err, FlashError};
use super::ranges::Range;

const CHUNK: usize = 4 << 20;

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

/// Copies one range, returning the sha256 of what was written.
fn copy_range(
    src: &File,
    image: &Path,
    dst: &File,
    device: &Path,
    r: Range,
    buf: &mut [u8],
    pb: &ProgressBar,
) -> Result<[u8; 32], FlashError> {
    let mut h = Sha256::new();
    let mut pos = r.start;
    while pos < r.end {
        let n = usize::try_from((r.end - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        src.read_exact_at(&mut buf[..n], pos)
            .map_err(io_err(image))?;
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

/// Writes `ranges` of `src` to `dst` and fsyncs; returns each range's sha256.
pub fn write(
    src: &File,
    image: &Path,
    dst: &File,
    device: &Path,
    ranges: &[Range],
    progress: bool,
) -> Result<Vec<[u8; 32]>, FlashError> {
    let total: u64 = ranges.iter().map(Range::len).sum();
    let pb = bar(progress, total, "writing");
    let mut buf = vec![0u8; CHUNK];
    let mut hashes = Vec::with_capacity(ranges.len());
    for r in ranges {
        hashes.push(copy_range(src, image, dst, device, *r, &mut buf, &pb)?);
    }
    dst.sync_all().map_err(io_err(device))?;
    pb.finish_and_clear();
    Ok(hashes)
}

/// Reads `ranges` back from the device and compares them with `hashes`.
pub fn verify(
    dst: &File,
    device: &Path,
    ranges: &[Range],
    hashes: &[[u8; 32]],
    progress: bool,
) -> Result<(), FlashError> {
    // Read back from the device, not from the page cache just written.
    // SAFETY: advisory call on a descriptor we own.
    unsafe {
        libc::posix_fadvise(dst.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
    let total: u64 = ranges.iter().map(Range::len).sum();
    let pb = bar(progress, total, "verifying");
    let mut buf = vec![0u8; CHUNK];
    for (r, want) in ranges.iter().zip(hashes) {
        if hash_range(dst, *r, &mut buf, device, &pb)? != *want {
            return Err(FlashError::Verify {
                device: device.to_owned(),
                start: r.start,
                end: r.end,
            });
        }
    }
    pb.finish_and_clear();
    Ok(())
}
