//! Reading a file whole, up to a size cap, so a huge or endless file (a
//! spec or configuration pointing at `/dev/zero`, a FIFO, a multi-gigabyte
//! file) fails with a clear error instead of filling memory. The one reader
//! of the workspace; each caller names the file and the kind of input in
//! its own error.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CappedError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("larger than {cap} bytes")]
    TooLarge { cap: u64 },
}

/// The bytes of `path` if it holds at most `cap` bytes.
pub fn read(path: &Path, cap: u64) -> Result<Vec<u8>, CappedError> {
    let mut bytes = Vec::new();
    // One byte past the cap tells "exactly cap" from "more", and an endless
    // file stops there.
    File::open(path)?
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(CappedError::TooLarge { cap });
    }
    Ok(bytes)
}

/// The UTF-8 text of `path` if it holds at most `cap` bytes; text that is
/// not UTF-8 is an [`io::ErrorKind::InvalidData`] error.
pub fn read_to_string(path: &Path, cap: u64) -> Result<String, CappedError> {
    String::from_utf8(read(path, cap)?)
        .map_err(|e| CappedError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_inclusive() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, "12345").unwrap();
        assert_eq!(read_to_string(&p, 5).unwrap(), "12345");
        assert!(matches!(
            read_to_string(&p, 4),
            Err(CappedError::TooLarge { cap: 4 })
        ));
        assert!(matches!(
            read_to_string(&d.path().join("nope"), 4),
            Err(CappedError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
    }

    #[test]
    fn an_endless_file_stops_at_the_cap() {
        assert!(matches!(
            read(Path::new("/dev/zero"), 1000),
            Err(CappedError::TooLarge { cap: 1000 })
        ));
    }

    #[test]
    fn text_that_is_not_utf8_is_invalid_data() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert_eq!(read(&p, 2).unwrap(), [0xff, 0xfe]);
        assert!(matches!(
            read_to_string(&p, 2),
            Err(CappedError::Io(e)) if e.kind() == io::ErrorKind::InvalidData
        ));
    }
}
