//! What a layer is made of: entries with their metadata, and where each
//! file's bytes can be read from (never the bytes themselves for big sources).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

/// One file system object, by its path inside the image (relative, `/`
/// separated, no leading `/`, never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (`0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch, already clamped to the source date.
    pub mtime: u64,
    /// Extended attributes (e.g. `security.capability`), sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File {
        size: u64,
        data: Data,
        /// Entries with the same `Some(group)` in one layer are hard links of
        /// each other; the first in path order carries the data.
        link_group: Option<u64>,
    },
    Symlink(String),
}

/// Where a file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    Path(PathBuf),
    /// A member of an uncompressed tar archive: its data starts at `offset`.
    TarRange {
        archive: Arc<PathBuf>,
        offset: u64,
    },
    Bytes(Arc<[u8]>),
}

impl Data {
    /// Opens the bytes; the reader yields exactly `size` bytes or fails.
    pub fn open(&self, size: u64) -> io::Result<Box<dyn Read + Send>> {
        match self {
            Data::Path(p) => {
                let f = File::open(p).map_err(|e| annotate(e, p))?;
                Ok(Box::new(Exact::new(f, size, p.clone())))
            }
            Data::TarRange { archive, offset } => {
                let mut f = File::open(archive.as_ref()).map_err(|e| annotate(e, archive))?;
                f.seek(SeekFrom::Start(*offset))?;
                Ok(Box::new(Exact::new(f, size, archive.as_ref().clone())))
            }
            Data::Bytes(b) => Ok(Box::new(io::Cursor::new(b.clone()))),
        }
    }
}

/// A read error naming the file, the OS error kept as its cause.
#[derive(Debug, thiserror::Error)]
#[error("{}", path.display())]
struct ReadError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

fn annotate(e: io::Error, p: &std::path::Path) -> io::Error {
    io::Error::new(
        e.kind(),
        ReadError {
            path: p.to_owned(),
            source: e,
        },
    )
}

/// Reads exactly `left` bytes: a file that shrank while being read is an
/// error, never a silently short tar member.
struct Exact<R> {
    inner: io::Take<R>,
    left: u64,
    path: PathBuf,
}

impl<R: Read> Exact<R> {
    fn new(r: R, size: u64, path: PathBuf) -> Self {
        Exact {
            inner: r.take(size),
            left: size,
            path,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left -= n as u64;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: file shorter than recorded ({} bytes missing)",
                    self.path.display(),
                    self.left
                ),
            ));
        }
        Ok(n)
    }
}

impl Entry {
    pub fn dir(path: impl Into<String>, mode: u32, mtime: u64) -> Self {
        Entry {
            path: path.into(),
            kind: Kind::Dir,
            mode,
            uid: 0,
            gid: 0,
            mtime,
            xattrs: Vec::new(),
        }
    }

    pub fn bytes(path: impl Into<String>, bytes: Vec<u8>, mode: u32, mtime: u64) -> Self {
        Entry {
            path: path.into(),
            kind: Kind::File {
                size: bytes.len() as u64,
                data: Data::Bytes(bytes.into()),
                link_group: None,
            },
            mode,
            uid: 0,
            gid: 0,
            mtime,
            xattrs: Vec::new(),
        }
    }

    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File { size, .. } => *size,
            _ => 0,
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir)
    }
}

/// The parent path of `p` (`""` for a top-level entry).
pub fn parent(p: &str) -> &str {
    p.rfind('/').map_or("", |i| &p[..i])
}

/// Turns a path as found in a tar or a walk into the canonical form, or
/// `None` for the root itself. Rejects `..` so nothing lands outside the root.
pub fn canonical(p: &str) -> Result<Option<String>, String> {
    let mut parts = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(format!("path `{p}` contains `..`")),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        Ok(None)
    } else {
        Ok(Some(parts.join("/")))
    }
}
