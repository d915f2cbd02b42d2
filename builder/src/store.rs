//! The content-addressed cache: `blobs/sha256/<hex>` written once (a temp
//! file renamed into place), `layers/<key>.json` mapping a layer's input key
//! to the blob it produced, and `sources/` remembering the sha256 of big
//! source files by their path and stat data so an unchanged base is not
//! re-read.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;
use oci_spec::OciSpecError;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::digest;

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
    pub fn temp(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        let d = self.root.join("tmp");
        tempfile::NamedTempFile::new_in(&d).map_err(err(&d))
    }

    pub fn temp_dir(&self) -> Result<tempfile::TempDir, StoreError> {
        let d = self.root.join("tmp");
        tempfile::TempDir::new_in(&d).map_err(err(&d))
    }

    /// Moves a finished temp file to its digest's place (a blob already there
    /// is kept: same digest, same bytes).
    pub fn commit(&self, tmp: tempfile::NamedTempFile, digest: &Digest) -> Result<(), StoreError> {
        let dst = self.blob_path(digest);
        if dst.is_file() {
            return Ok(());
        }
        // Blobs are public content (tempfile creates 0600); layouts link them.
        tmp.as_file()
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(err(&dst))?;
        tmp.as_file().sync_all().map_err(err(&dst))?;
        tmp.persist(&dst).map_err(|e| StoreError::Io {
            path: dst.clone(),
            source: e.error,
        })?;
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
    /// in the cache.
    pub fn cached_layer(&self, key: &str) -> Option<BlobInfo> {
        let text = fs::read(self.layer_record(key)).ok()?;
        let info: BlobInfo = serde_json::from_slice(&text).ok()?;
        self.has_blob(&info.digest).then_some(info)
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

/// Writes `bytes` to `path` through a temp file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut t = tempfile::NamedTempFile::new_in(dir)?;
    t.write_all(bytes)?;
    t.as_file().sync_all()?;
    t.persist(path).map_err(|e| e.error)?;
    Ok(())
}
