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

/// The one range loop: reads `r` from `from` chunk by chunk, writes it to
/// `to` when given (the copy) or only hashes it (the read-back), and returns
/// the sha256 of the bytes.
fn stream(
    from: (&File, &Path),
    to: Option<(&File, &Path)>,
    r: Range,
    buf: &mut [u8],
    pb: &ProgressBar,
) -> Result<[u8; 32], FlashError> {
    let mut h = Sha256::new();
    let mut pos = r.start;
    while pos < r.end {
        let n = usize::try_from((r.end - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = &mut buf[..n];
        from.0.read_exact_at(chunk, pos).map_err(io_err(from.1))?;
        if let Some((f, path)) = to {
            f.write_all_at(chunk, pos).map_err(io_err(path))?;
        }
        h.update(&*chunk);
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
        hashes.push(stream(
            (src, image),
            Some((dst, device)),
            *r,
            &mut buf,
            &pb,
        )?);
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
        if stream((dst, device), None, *r, &mut buf, &pb)? != *want {
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
