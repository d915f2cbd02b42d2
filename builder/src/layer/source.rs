//! Entry sources: a directory walk and an index of an uncompressed tar
//! archive (headers and data offsets only; contents are read later, in
//! sorted order, by seeking).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tar::EntryType;

use super::entry::{canonical, Data, Entry, Kind};
use super::LayerError;

/// How a source's metadata is normalised.
#[derive(Debug, Clone)]
pub struct Normalise {
    pub source_date_epoch: u64,
    /// Replaces every entry's uid:gid.
    pub owner: Option<(u32, u32)>,
    /// Every mtime becomes the source date (generated content); otherwise
    /// mtimes are clamped to it.
    pub fixed_mtime: bool,
    /// Keep extended attributes.
    pub xattrs: bool,
}

impl Normalise {
    fn mtime(&self, t: i64) -> u64 {
        if self.fixed_mtime {
            self.source_date_epoch
        } else {
            (t.max(0) as u64).min(self.source_date_epoch)
        }
    }
    fn ids(&self, uid: u64, gid: u64) -> (u64, u64) {
        match self.owner {
            Some((u, g)) => (u64::from(u), u64::from(g)),
            None => (uid, gid),
        }
    }
}

/// A directory tree's entries (the root itself excluded) and a fingerprint of
/// its metadata (paths, inode, size, mtime/ctime to the nanosecond, owners,
/// link targets), which changes whenever any file's content could have.
pub struct Walked {
    pub entries: Vec<Entry>,
    pub fingerprint: [u8; 32],
}

/// Walks `root` without following symlinks. Device nodes, sockets and fifos
/// are skipped with a warning.
pub fn walk_dir(root: &Path, norm: &Normalise) -> Result<Walked, LayerError> {
    let err = |path: &Path, e: std::io::Error| LayerError::Io {
        path: path.to_owned(),
        source: e,
    };
    let mut entries = Vec::new();
    let mut groups: HashMap<(u64, u64), u64> = HashMap::new();
    let mut fp = Sha256::new();
    let mut special: Vec<String> = Vec::new();
    for item in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1)
    {
        let item = item.map_err(|e| LayerError::Walk {
            path: root.to_owned(),
            message: e.to_string(),
        })?;
        let full = item.path();
        let rel = full
            .strip_prefix(root)
            .map_err(|_| LayerError::Walk {
                path: full.to_owned(),
                message: "outside the walked root".into(),
            })?
            .to_str()
            .ok_or_else(|| LayerError::Walk {
                path: full.to_owned(),
                message: "file name is not UTF-8".into(),
            })?;
        let Some(rel) = canonical(rel).map_err(|m| LayerError::Walk {
            path: full.to_owned(),
            message: m,
        })?
        else {
            continue;
        };
        let md = std::fs::symlink_metadata(full).map_err(|e| err(full, e))?;
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            let t = std::fs::read_link(full).map_err(|e| err(full, e))?;
            let t = t.to_str().ok_or_else(|| LayerError::Walk {
                path: full.to_owned(),
                message: "symlink target is not UTF-8".into(),
            })?;
            Kind::Symlink(t.to_owned())
        } else if ft.is_file() {
            let link_group = (md.nlink() > 1).then(|| {
                let next = groups.len() as u64;
                *groups.entry((md.dev(), md.ino())).or_insert(next)
            });
            Kind::File {
                size: md.len(),
                data: Data::Path(full.to_owned()),
                link_group,
            }
        } else {
            special.push(rel.to_owned());
            continue;
        };
        let mut xattrs = Vec::new();
        if norm.xattrs {
            // Symlinks' xattrs cannot be set by most unpackers; keep them only on
            // files and directories.
            if !ft.is_symlink() {
                xattrs = read_xattrs(full).map_err(|e| err(full, e))?;
            }
        }
        let (uid, gid) = norm.ids(u64::from(md.uid()), u64::from(md.gid()));
        fp.update(rel.as_bytes());
        fp.update([0]);
        for n in [
            md.mode() as u64,
            uid,
            gid,
            md.size(),
            md.ino(),
            md.mtime() as u64,
            md.mtime_nsec() as u64,
            md.ctime() as u64,
            md.ctime_nsec() as u64,
        ] {
            fp.update(n.to_le_bytes());
        }
        if let Kind::Symlink(t) = &kind {
            fp.update(t.as_bytes());
            fp.update([0]);
        }
        entries.push(Entry {
            path: rel,
            kind,
            mode: md.mode() & 0o7777,
            uid,
            gid,
            mtime: norm.mtime(md.mtime()),
            xattrs,
        });
    }
    warn_special(&special, root);
    Ok(Walked {
        entries,
        fingerprint: fp.finalize().into(),
    })
}

/// Devices, sockets and fifos have no place in a layer (the runtime or udev
/// makes them); say once which were left out.
fn warn_special(paths: &[String], source: &Path) {
    if paths.is_empty() {
        return;
    }
    tracing::warn!(
        "skipping {} special file(s) (devices, sockets, fifos) in {}: {}",
        paths.len(),
        source.display(),
        paths.join(", ")
    );
}

fn read_xattrs(p: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for name in xattr::list(p)? {
        let Some(n) = name.to_str() else { continue };
        if let Some(v) = xattr::get(p, &name)? {
            out.push((n.to_owned(), v));
        }
    }
    out.sort();
    Ok(out)
}

/// Indexes an uncompressed tar archive: headers, PAX xattrs and data offsets.
/// A later member replaces an earlier one at the same path (tar semantics).
pub fn index_tar(archive: &Path, norm: &Normalise) -> Result<Vec<Entry>, LayerError> {
    let io = |e: std::io::Error| LayerError::Io {
        path: archive.to_owned(),
        source: e,
    };
    let bad = |m: String| LayerError::Walk {
        path: archive.to_owned(),
        message: m,
    };
    let shared: Arc<PathBuf> = Arc::new(archive.to_owned());
    let f = File::open(archive).map_err(io)?;
    let mut ar = tar::Archive::new(f);
    let mut by_path: BTreeMap<String, Entry> = BTreeMap::new();
    let mut hardlinks: Vec<(String, String, Entry)> = Vec::new();
    // A Debian base always has a few device nodes in /dev: one warning, not one each.
    let mut special: Vec<String> = Vec::new();
    for member in ar.entries_with_seek().map_err(io)? {
        let mut member = member.map_err(io)?;
        let raw_path = member.path().map_err(io)?;
        let raw_path = raw_path
            .to_str()
            .ok_or_else(|| bad("member name is not UTF-8".into()))?
            .to_owned();
        let Some(path) = canonical(&raw_path).map_err(bad)? else {
            continue;
        };
        let h = member.header();
        let et = h.entry_type();
        let mode = h.mode().map_err(io)? & 0o7777;
        let (uid, gid) = norm.ids(h.uid().map_err(io)?, h.gid().map_err(io)?);
        let mtime = norm.mtime(h.mtime().map_err(io)? as i64);
        let link = member
            .link_name()
            .map_err(io)?
            .map(|l| l.to_string_lossy().into_owned());
        let size = member.size();
        let offset = member.raw_file_position();
        let mut xattrs = Vec::new();
        if norm.xattrs {
            if let Some(pax) = member.pax_extensions().map_err(io)? {
                for ext in pax {
                    let ext = ext.map_err(io)?;
                    if let Ok(k) = ext.key() {
                        if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                            xattrs.push((name.to_owned(), ext.value_bytes().to_vec()));
                        }
                    }
                }
                xattrs.sort();
            }
        }
        let mut entry = Entry {
            path: path.clone(),
            kind: Kind::Dir,
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        };
        match et {
            EntryType::Directory => {}
            EntryType::Regular | EntryType::Continuous => {
                entry.kind = Kind::File {
                    size,
                    data: Data::TarRange {
                        archive: shared.clone(),
                        offset,
                    },
                    link_group: None,
                }
            }
            EntryType::Symlink => {
                entry.kind =
                    Kind::Symlink(link.ok_or_else(|| bad(format!("symlink {path} has no target")))?)
            }
            EntryType::Link => {
                let target = link.ok_or_else(|| bad(format!("hard link {path} has no target")))?;
                let target = canonical(&target)
                    .map_err(bad)?
                    .ok_or_else(|| bad(format!("hard link {path} points at the root")))?;
                by_path.remove(&path);
                hardlinks.push((path, target, entry));
                continue;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                special.push(path);
                continue;
            }
            other => {
                return Err(bad(format!(
                    "member {path} has unsupported type {other:?} (sparse or unknown)"
                )))
            }
        }
        hardlinks.retain(|(p, _, _)| *p != path);
        by_path.insert(path, entry);
    }
    let mut next_group = 0u64;
    for (path, target, mut entry) in hardlinks {
        let t = by_path
            .get_mut(&target)
            .ok_or_else(|| bad(format!("hard link {path} points at missing {target}")))?;
        let Kind::File {
            size,
            data,
            link_group,
        } = &mut t.kind
        else {
            return Err(bad(format!(
                "hard link {path} points at {target}, not a file"
            )));
        };
        let g = *link_group.get_or_insert_with(|| {
            next_group += 1;
            next_group
        });
        entry.kind = Kind::File {
            size: *size,
            data: data.clone(),
            link_group: Some(g),
        };
        // A hard link shares its target's inode: same metadata.
        entry.mode = t.mode;
        entry.uid = t.uid;
        entry.gid = t.gid;
        entry.mtime = t.mtime;
        entry.xattrs = t.xattrs.clone();
        by_path.insert(path, entry);
    }
    refuse_writes_through_links(&by_path).map_err(bad)?;
    warn_special(&special, archive);
    Ok(by_path.into_values().collect())
}

/// An archive with a symlink (or file) `etc` and a member `etc/x` would, when
/// unpacked naively, write through its own link, possibly outside the tree:
/// no honest root file system has such a pair, so the archive is refused.
fn refuse_writes_through_links(by_path: &BTreeMap<String, Entry>) -> Result<(), String> {
    for path in by_path.keys() {
        let mut parent = super::entry::parent(path);
        while !parent.is_empty() {
            if let Some(p) = by_path.get(parent) {
                let what = match &p.kind {
                    Kind::Dir => {
                        parent = super::entry::parent(parent);
                        continue;
                    }
                    Kind::Symlink(t) => format!("a symlink to `{t}`"),
                    Kind::File { .. } => "a file".to_owned(),
                };
                return Err(format!(
                    "member `{path}` lies under `{parent}`, which is {what} in the same archive: \
                     refusing an archive that writes through its own links"
                ));
            }
            parent = super::entry::parent(parent);
        }
    }
    Ok(())
}
