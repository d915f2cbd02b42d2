//! Where a sparse file holds data, as the filesystem reports it.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

use super::ranges::Range;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

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
}
