//! Layers: sets of entries, made from sources (directory walk, tar index,
//! in-memory files), written as deterministic tar streams.
//!
//! The hook for other bases (e.g. a Nix closure) is [`Layer`]: build one per
//! store path (or group of paths) from [`source::walk_dir`] with the store
//! path as prefix via [`Layer::prefixed`], give it an `identity` (the store
//! path's name is content- or input-addressed, so it identifies the bytes),
//! and hand the list to the build as the base layers.

pub mod entry;
pub mod resolve;
pub mod source;
pub mod tarwrite;

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

pub use entry::{Data, Entry, Kind};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Walk { path: PathBuf, message: String },
    #[error("layer {layer}: {message}")]
    Content { layer: String, message: String },
    /// An entry that would be written outside the tree or through a symlink.
    #[error("`{path}`: {message}")]
    Unsafe { path: String, message: String },
}

/// One image layer before it is written.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Short name shown in history and the summary: `base`, `kernel`, ...
    pub name: String,
    /// Sorted by path, parents before children, unique (see [`Layer::finish`]).
    pub entries: Vec<Entry>,
    /// Identifies the content cheaply (e.g. a source tar's sha256); when
    /// `None`, the content is hashed (fine for small layers).
    pub identity: Option<[u8; 32]>,
    /// Only the disk gets this layer (kernel, modules, firmware).
    pub disk_only: bool,
}

impl Layer {
    /// Sorts, drops duplicates (the last wins) and adds missing parent
    /// directories, taking their metadata from `lower` (the merged layers
    /// below) when they exist there, else `0755 root` at `mtime`.
    pub fn finish(
        name: impl Into<String>,
        entries: Vec<Entry>,
        lower: Option<&BTreeMap<String, Entry>>,
        mtime: u64,
    ) -> Layer {
        let mut map: BTreeMap<String, Entry> = BTreeMap::new();
        for e in entries {
            if !e.is_dir() {
                // A file replacing a directory replaces its content too.
                let prefix = format!("{}/", e.path);
                let below: Vec<String> = map
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in below {
                    map.remove(&k);
                }
            }
            map.insert(e.path.clone(), e);
        }
        let mut missing = Vec::new();
        for p in map.keys() {
            let mut parent = entry::parent(p);
            while !parent.is_empty() && !map.contains_key(parent) {
                missing.push(parent.to_owned());
                parent = entry::parent(parent);
            }
        }
        for p in missing {
            let e = match lower.and_then(|l| l.get(&p)) {
                Some(l) if l.is_dir() => l.clone(),
                _ => Entry::dir(p.clone(), 0o755, mtime),
            };
            map.insert(p, e);
        }
        Layer {
            name: name.into(),
            entries: map.into_values().collect(),
            identity: None,
            disk_only: false,
        }
    }

    /// Puts every entry under `prefix` (e.g. `nix/store/...-name`).
    pub fn prefixed(mut entries: Vec<Entry>, prefix: &str) -> Vec<Entry> {
        let prefix = prefix.trim_matches('/');
        for e in &mut entries {
            e.path = format!("{prefix}/{}", e.path);
        }
        entries
    }

    /// Uncompressed size of the file data.
    pub fn data_size(&self) -> u64 {
        self.entries.iter().map(Entry::size).sum()
    }

    /// A digest of what the layer's tar will contain. Uses `identity` when
    /// set; otherwise hashes every entry and every file's content.
    pub fn content_key(&self) -> std::io::Result<[u8; 32]> {
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        h.update([0]);
        if let Some(id) = self.identity {
            h.update(b"identity");
            h.update(id);
            return Ok(h.finalize().into());
        }
        for e in &self.entries {
            h.update(e.path.as_bytes());
            h.update([0]);
            for n in [u64::from(e.mode), e.uid, e.gid, e.mtime] {
                h.update(n.to_le_bytes());
            }
            for (k, v) in &e.xattrs {
                h.update(k.as_bytes());
                h.update([0]);
                h.update((v.len() as u64).to_le_bytes());
                h.update(v);
            }
            match &e.kind {
                Kind::Dir => h.update(b"d"),
                Kind::Symlink(t) => {
                    h.update(b"l");
                    h.update(t.as_bytes());
                    h.update([0]);
                }
                Kind::File {
                    size,
                    data,
                    link_group,
                } => {
                    h.update(b"f");
                    h.update(size.to_le_bytes());
                    h.update(link_group.unwrap_or(u64::MAX).to_le_bytes());
                    let mut r = data.open(*size)?;
                    std::io::copy(&mut r, &mut h)?;
                }
            }
        }
        Ok(h.finalize().into())
    }
}

/// Paths whose content belongs to the disk only: a container runs on the
/// host's kernel.
pub const KERNEL_PATHS: &[&str] = &[
    "boot",
    "usr/lib/modules",
    "lib/modules",
    "usr/lib/firmware",
    "lib/firmware",
];
/// Where a base puts the signed boot chain for the disk's ESP: under `/boot`,
/// so it is kernel content, never in the OCI image. The Debian base unpacks
/// its `esp_packages` here, each file at its own path.
pub const SIGNED_BOOT_DIR: &str = "boot/efi-signed";
const KERNEL_LINKS: &[&str] = &["vmlinuz", "vmlinuz.old", "initrd.img", "initrd.img.old"];

/// Whether `path` is kernel content (the top directories themselves stay in
/// the base, empty, so the image's tree has them).
pub fn is_kernel_path(path: &str) -> bool {
    KERNEL_LINKS.contains(&path)
        || KERNEL_PATHS.iter().any(|k| {
            path.len() > k.len() && path.starts_with(k) && path.as_bytes()[k.len()] == b'/'
        })
}

/// Splits a base's entries into (base, kernel).
pub fn split_kernel(entries: Vec<Entry>) -> (Vec<Entry>, Vec<Entry>) {
    entries.into_iter().partition(|e| !is_kernel_path(&e.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_sorts_dedups_and_adds_parents() {
        let l = Layer::finish(
            "t",
            vec![
                Entry::bytes("b/c/d", b"1".to_vec(), 0o644, 5),
                Entry::bytes("a", b"2".to_vec(), 0o600, 5),
                Entry::bytes("a", b"3".to_vec(), 0o600, 5),
            ],
            None,
            7,
        );
        let paths: Vec<&str> = l.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a", "b", "b/c", "b/c/d"]);
        assert_eq!(l.entries[0].size(), 1);
        assert_eq!(l.entries[1].mtime, 7);
        assert_eq!(l.entries[1].mode, 0o755);
    }

    #[test]
    fn parents_take_lower_metadata() {
        let mut lower = BTreeMap::new();
        let mut etc = Entry::dir("etc", 0o750, 3);
        etc.gid = 4;
        lower.insert("etc".to_owned(), etc.clone());
        let l = Layer::finish(
            "t",
            vec![Entry::bytes("etc/x", vec![], 0o644, 5)],
            Some(&lower),
            9,
        );
        assert_eq!(l.entries[0], etc);
    }

    #[test]
    fn kernel_paths() {
        assert!(is_kernel_path("boot/vmlinuz-6.1"));
        assert!(is_kernel_path("usr/lib/modules/6.1/kernel"));
        assert!(is_kernel_path("vmlinuz"));
        assert!(!is_kernel_path("boot"));
        assert!(!is_kernel_path("bootstrap/x"));
        assert!(!is_kernel_path("usr/lib/modules-load.d/x.conf"));
    }
}
