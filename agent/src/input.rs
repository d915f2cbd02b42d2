//! Reading an input file whole, with a size cap: the files the agent reads
//! whole (facts JSON, pasted `iw` text, configuration) may be anything a user
//! points at, `/dev/zero` included, and reading one must not take all memory.

use std::path::{Path, PathBuf};

use softap_config::capped::{self, CappedError};

/// The largest `iw list` text read: a real one is 10-40 KiB per phy.
pub const IW_LIST_CAP: u64 = 4 << 20;
/// The largest `iw dev` text read: a few hundred bytes per interface.
pub const IW_DEV_CAP: u64 = 1 << 20;
/// The largest facts JSON read: room for a full routing table.
pub const FACTS_CAP: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot read {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: larger than {cap} bytes, the limit for {what}; is this the right file?")]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        cap: u64,
    },
}

/// The text of `path`, at most `cap` bytes of it; `what` names the kind of
/// file in errors ("facts", "`iw list` text"). An endless file stops at the
/// cap.
pub fn read_capped(path: &Path, cap: u64, what: &'static str) -> Result<String, ReadError> {
    capped::read_to_string(path, cap).map_err(|e| match e {
        CappedError::Io(source) => ReadError::Io {
            path: path.to_path_buf(),
            what,
            source,
        },
        CappedError::TooLarge { cap } => ReadError::TooLarge {
            path: path.to_path_buf(),
            what,
            cap,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_stops_at_the_cap() {
        let e = read_capped(Path::new("/dev/zero"), 1000, "facts").unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { cap: 1000, .. }), "{e}");
        assert!(e
            .to_string()
            .starts_with("/dev/zero: larger than 1000 bytes"));
    }

    #[test]
    fn a_file_at_the_cap_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "x".repeat(10)).unwrap();
        assert_eq!(read_capped(&p, 10, "facts").unwrap().len(), 10);
        assert!(read_capped(&p, 9, "facts").is_err());
        let e = read_capped(&dir.path().join("missing"), 9, "facts").unwrap_err();
        assert!(e.to_string().contains("missing: cannot read facts"), "{e}");
    }
}
