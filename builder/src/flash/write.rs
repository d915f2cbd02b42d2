//! Writes the planned pieces to the device (the image's bytes, or zeros past
//! its end), then reads them back and compares their sha256.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use super::error::{io_err, FlashError};
use super::ranges::{Fill, Piece, Range};
use crate::progress;

const CHUNK: usize = 4 << 20;

/// Where a range's bytes are read from.
#[derive(Clone, Copy)]
enum From<'a> {
    File(&'a File, &'a Path),
    Zeros,
}

/// The one range loop: reads `r` from `from` chunk by chunk, writes it to
/// `to` when given (the copy) or only hashes it (the read-back), and returns
/// the sha256 of the bytes.
fn stream(
    from: From<'_>,
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
        match from {
            From::File(f, path) => f.read_exact_at(chunk, pos).map_err(io_err(path))?,
            From::Zeros => chunk.fill(0),
        }
        if let Some((f, path)) = to {
            f.write_all_at(chunk, pos).map_err(io_err(path))?;
        }
        h.update(&*chunk);
        pos += n as u64;
        pb.inc(n as u64);
    }
    Ok(h.finalize().into())
}

/// Writes `pieces` to `dst` (from `src` or zeros) and fsyncs; returns each
/// piece's sha256.
pub(super) fn write(
    src: &File,
    image: &Path,
    dst: &File,
    device: &Path,
    pieces: &[Piece],
    progress: bool,
) -> Result<Vec<[u8; 32]>, FlashError> {
    let total: u64 = pieces.iter().map(|p| p.range.len()).sum();
    let pb = progress::bar(progress, total, "writing");
    let mut buf = vec![0u8; CHUNK];
    let mut hashes = Vec::with_capacity(pieces.len());
    for p in pieces {
        let from = match p.fill {
            Fill::Image => From::File(src, image),
            Fill::Zeros => From::Zeros,
        };
        hashes.push(stream(from, Some((dst, device)), p.range, &mut buf, &pb)?);
    }
    dst.sync_all().map_err(io_err(device))?;
    pb.finish_and_clear();
    Ok(hashes)
}

/// Reads `pieces` back from the device and compares them with `hashes`.
pub(super) fn verify(
    dst: &File,
    device: &Path,
    pieces: &[Piece],
    hashes: &[[u8; 32]],
    progress: bool,
) -> Result<(), FlashError> {
    // Read back from the device, not from the page cache just written.
    // Advice only: a device that takes none is still read, from the cache.
    let _ = rustix::fs::fadvise(dst, 0, None, rustix::fs::Advice::DontNeed);
    let total: u64 = pieces.iter().map(|p| p.range.len()).sum();
    let pb = progress::bar(progress, total, "verifying");
    let mut buf = vec![0u8; CHUNK];
    for (p, want) in pieces.iter().zip(hashes) {
        let r: Range = p.range;
        if stream(From::File(dst, device), None, r, &mut buf, &pb)? != *want {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_overwrite_and_verify_and_a_changed_byte_is_caught() {
        let d = tempfile::tempdir().unwrap();
        let (img, dev) = (d.path().join("img"), d.path().join("dev"));
        std::fs::write(&img, b"0123456789").unwrap();
        std::fs::write(&dev, vec![0xffu8; 20]).unwrap();
        let src = File::open(&img).unwrap();
        let dst = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&dev)
            .unwrap();
        let pieces = [
            Piece {
                range: Range { start: 2, end: 6 },
                fill: Fill::Image,
            },
            Piece {
                range: Range { start: 12, end: 18 },
                fill: Fill::Zeros,
            },
        ];
        let hashes = write(&src, &img, &dst, &dev, &pieces, false).unwrap();
        verify(&dst, &dev, &pieces, &hashes, false).unwrap();
        let mut want = vec![0xffu8; 20];
        want[2..6].copy_from_slice(b"2345");
        want[12..18].fill(0);
        assert_eq!(std::fs::read(&dev).unwrap(), want);
        dst.write_all_at(b"\x01", 15).unwrap();
        let e = verify(&dst, &dev, &pieces, &hashes, false).unwrap_err();
        assert!(
            matches!(
                e,
                FlashError::Verify {
                    start: 12,
                    end: 18,
                    ..
                }
            ),
            "{e}"
        );
    }
}
