//! The content-addressed cache: `blobs/sha256/<hex>` written once (a temp
//! file renamed into place), `layers/<key>.json` mapping a layer's input key
//! to the blob it produced, and `sources/` remembering the sha256 of big
//! source files by their path and stat data so an unchanged base is not
//! re-read.
//!
//! A blob's bytes can change on disk after it was written (a bad sector, a
//! crash, a careless hand): every blob taken from the cache is checked, its
//! size before use and its sha256 while it is copied into an output
//! ([`Store::open_blob`]), so a bad one is found without an extra pass.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use oci_spec::image::Digest;
use oci_spec::OciSpecError;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::digest;
use crate::scratch::{self, ScratchDir, ScratchFile};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cache {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cache: invalid blob digest")]
    Digest(#[from] OciSpecError),
    #[error(transparent)]
    Corrupt(#[from] CorruptBlob),
}

/// A cached blob whose bytes no longer match its digest or size.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cached blob {} is corrupt: {found}", path.display())]
pub struct CorruptBlob {
    pub digest: Digest,
    pub path: PathBuf,
    /// What was wrong, e.g. "12 bytes, expected 4096".
    pub found: String,
}

impl CorruptBlob {
    /// The corrupt blob behind an I/O error from a [`Store::open_blob`]
    /// reader, if that is what failed.
    pub fn within(e: &io::Error) -> Option<&CorruptBlob> {
        e.get_ref()?.downcast_ref::<CorruptBlob>()
    }
}

pub(crate) fn err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A written layer blob (also the record of a cached layer, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobInfo {
    /// Of the compressed blob.
    pub digest: Digest,
    /// Of the uncompressed tar.
    pub diff_id: Digest,
    pub size: u64,
    pub media_type: String,
    pub compressor: String,
}

pub struct Store {
    root: PathBuf,
    /// Blobs whose bytes this process hashed (written or copied whole).
    verified: Mutex<HashSet<Digest>>,
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(Sha256::digest(b))
}

impl Store {
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for d in ["blobs/sha256", "layers", "sources", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(err(&p))?;
        }
        Ok(Store {
            root: root.to_owned(),
            verified: Mutex::new(HashSet::new()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Default: `$XDG_CACHE_HOME/softap`, else `~/.cache/softap`.
    pub fn default_dir() -> PathBuf {
        if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("softap");
        }
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        home.join(".cache/softap")
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_ref())
            .join(digest.digest())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A temporary file in the cache, to become a blob with [`Store::commit`].
    pub fn temp(&self) -> Result<ScratchFile, StoreError> {
        let d = self.root.join("tmp");
        scratch::file_in(&d, ".tmp", "").map_err(err(&d))
    }

    pub fn temp_dir(&self) -> Result<ScratchDir, StoreError> {
        let d = self.root.join("tmp");
        scratch::dir_in(&d, ".tmp").map_err(err(&d))
    }

    /// Removes the temporaries that interrupted builds left in the cache
    /// (its `tmp` and the Debian base's partial archives) and no running
    /// build holds.
    pub fn sweep(&self) -> Result<(), StoreError> {
        for d in [self.root.join("tmp"), self.root.join("debian")] {
            scratch::sweep(&d, scratch::is_cache_temporary).map_err(err(&d))?;
        }
        Ok(())
    }

    /// Whether this process has hashed the blob's bytes already (so linking
    /// it needs no new check).
    pub fn is_verified(&self, digest: &Digest) -> bool {
        self.verified.lock().is_ok_and(|v| v.contains(digest))
    }

    fn mark_verified(&self, digest: &Digest) {
        if let Ok(mut v) = self.verified.lock() {
            v.insert(digest.clone());
        }
    }

    /// Opens a cached blob for copying: the reader yields exactly `size`
    /// bytes and fails, with a [`CorruptBlob`] inside the I/O error (see
    /// [`CorruptBlob::within`]), on a short or long file or a wrong sha256,
    /// before its last bytes are handed on.
    pub fn open_blob(&self, digest: &Digest, size: u64) -> Result<BlobReader<'_>, StoreError> {
        let path = self.blob_path(digest);
        let file = File::open(&path).map_err(err(&path))?;
        let actual = file.metadata().map_err(err(&path))?.len();
        if actual != size {
            return Err(CorruptBlob {
                digest: digest.clone(),
                path,
                found: format!("{actual} bytes, expected {size}"),
            }
            .into());
        }
        use sha2::Digest as _;
        Ok(BlobReader {
            store: self,
            file,
            digest: digest.clone(),
            path,
            left: size,
            hash: Sha256::new(),
        })
    }

    /// Removes a corrupt blob (and so every layer record naming it), so the
    /// next lookup rebuilds it from its source.
    pub fn discard_blob(&self, bad: &CorruptBlob) -> Result<(), StoreError> {
        tracing::warn!("{bad}: removed, rebuilding it from its source");
        if let Ok(mut v) = self.verified.lock() {
            v.remove(&bad.digest);
        }
        match fs::remove_file(&bad.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(err(&bad.path)(e)),
            _ => Ok(()),
        }
    }

    /// Moves a finished temp file to its digest's place (a blob already there
    /// is kept: same digest, same bytes).
    pub fn commit(&self, tmp: ScratchFile, digest: &Digest) -> Result<(), StoreError> {
        let dst = self.blob_path(digest);
        if dst.is_file() {
            return Ok(());
        }
        // Blobs are public content (tempfile creates 0600); layouts link them.
        tmp.as_file()
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(err(&dst))?;
        tmp.as_file().sync_all().map_err(err(&dst))?;
        tmp.persist(&dst).map_err(err(&dst))?;
        // Its digest was computed from the bytes as they were written.
        self.mark_verified(digest);
        Ok(())
    }

    /// Stores small bytes (config, manifest) as a blob; returns its digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = digest::sha256(bytes)?;
        if !self.has_blob(&digest) {
            let mut t = self.temp()?;
            t.write_all(bytes).map_err(err(t.path()))?;
            self.commit(t, &digest)?;
        }
        Ok(digest)
    }

    fn layer_record(&self, key: &str) -> PathBuf {
        self.root.join("layers").join(format!("{key}.json"))
    }

    /// The blob a layer with this input key produced before, if it is still
    /// in the cache with its recorded size (a blob of another size is
    /// corrupt: it is removed, with a warning, and `None` says to rebuild
    /// it). Its content is checked when it is copied ([`Store::open_blob`]).
    pub fn cached_layer(&self, key: &str) -> Result<Option<BlobInfo>, StoreError> {
        let Ok(text) = fs::read(self.layer_record(key)) else {
            return Ok(None);
        };
        let Ok(info) = serde_json::from_slice::<BlobInfo>(&text) else {
            return Ok(None);
        };
        let path = self.blob_path(&info.digest);
        let Ok(md) = fs::metadata(&path) else {
            return Ok(None);
        };
        if !md.is_file() || md.len() != info.size {
            self.discard_blob(&CorruptBlob {
                digest: info.digest,
                path,
                found: format!("{} bytes, expected {}", md.len(), info.size),
            })?;
            return Ok(None);
        }
        Ok(Some(info))
    }

    pub fn record_layer(&self, key: &str, info: &BlobInfo) -> Result<(), StoreError> {
        let p = self.layer_record(key);
        let bytes = serde_json::to_vec_pretty(info).map_err(|e| StoreError::Io {
            path: p.clone(),
            source: io::Error::other(e),
        })?;
        write_atomic(&p, &bytes).map_err(err(&p))
    }

    /// sha256 of a (big) file, remembered by path, size, inode, mtime and
    /// ctime, so an unchanged file is hashed once.
    pub fn file_digest(&self, path: &Path) -> Result<[u8; 32], StoreError> {
        let md = fs::metadata(path).map_err(err(path))?;
        let stat = format!(
            "{}\0{}\0{}\0{}\0{}.{}\0{}.{}",
            path.display(),
            md.dev(),
            md.ino(),
            md.size(),
            md.mtime(),
            md.mtime_nsec(),
            md.ctime(),
            md.ctime_nsec()
        );
        let rec = self.root.join("sources").join(sha256_hex(stat.as_bytes()));
        if let Ok(h) = fs::read_to_string(&rec) {
            let mut out = [0u8; 32];
            if hex::decode_to_slice(h.trim(), &mut out).is_ok() {
                return Ok(out);
            }
        }
        let mut f = File::open(path).map_err(err(path))?;
        use sha2::Digest as _;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(err(path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let d: [u8; 32] = h.finalize().into();
        write_atomic(&rec, hex::encode(d).as_bytes()).map_err(err(&rec))?;
        Ok(d)
    }
}

/// A cached blob being read, hashed as it goes (see [`Store::open_blob`]).
pub struct BlobReader<'a> {
    store: &'a Store,
    file: File,
    digest: Digest,
    path: PathBuf,
    left: u64,
    hash: Sha256,
}

impl BlobReader<'_> {
    fn corrupt(&self, found: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            CorruptBlob {
                digest: self.digest.clone(),
                path: self.path.clone(),
                found,
            },
        )
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest as _;
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(self.corrupt(format!("ends {} bytes early", self.left)));
        }
        self.hash.update(&buf[..n]);
        self.left -= n as u64;
        if self.left == 0 {
            let mut extra = [0u8; 1];
            if self.file.read(&mut extra)? != 0 {
                return Err(self.corrupt("longer than recorded".into()));
            }
            let got = hex::encode(self.hash.clone().finalize());
            if got != self.digest.digest() {
                return Err(self.corrupt(format!("its content hashes to sha256:{got}")));
            }
            self.store.mark_verified(&self.digest);
        }
        Ok(n)
    }
}

/// Writes `bytes` to `path` through a temp file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut t = tempfile::NamedTempFile::new_in(dir)?;
    t.write_all(bytes)?;
    t.as_file().sync_all()?;
    t.persist(path).map_err(|e| e.error)?;
    Ok(())
}
