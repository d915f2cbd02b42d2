//! Reading an input whole, up to a size cap, so a huge or endless file (a
//! spec pointing at a multi-gigabyte file, a FIFO) fails with a clear error
//! instead of filling memory.

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
    // One byte past the cap tells "exactly cap" from "more".
    File::open(path)?
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(CappedError::TooLarge { cap });
    }
    Ok(bytes)
}

/// The UTF-8 text of `path` if it holds at most `cap` bytes.
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
            Err(CappedError::Io(_))
        ));
    }
}
