//! Where a sparse file holds data, as the filesystem reports it.

use std::fs::File;
use std::io;

use rustix::fs::{seek, SeekFrom};
use rustix::io::Errno;

use super::ranges::Range;

/// The data extents of `file` from `SEEK_DATA`/`SEEK_HOLE`; the whole file
/// where the filesystem cannot tell.
pub fn data_extents(file: &File, size: u64) -> io::Result<Vec<Range>> {
    let mut out = Vec::new();
    let mut pos: u64 = 0;
    while pos < size {
        let data = match seek(file, SeekFrom::Data(pos)) {
            Ok(data) => data,
            // No data after pos: the rest is a hole.
            Err(Errno::NXIO) => return Ok(out),
            Err(Errno::INVAL | Errno::OPNOTSUPP) if out.is_empty() => {
                return Ok(vec![Range {
                    start: 0,
                    end: size,
                }])
            }
            Err(e) => return Err(e.into()),
        };
        let hole = seek(file, SeekFrom::Hole(data))?;
        let (start, end) = (data, hole.min(size));
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
