//! Materialises layers into a directory (the disk's root tree), in order,
//! keeping owners, modes, xattrs, symlinks and hard links. Every layer lists
//! its parent directories before their children, and a directory entry
//! replaces whatever non-directory is at its path, so no write ever goes
//! through a symlink.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use filetime::FileTime;

use crate::layer::{Entry, Kind, Layer, LayerError};

pub fn materialise(layers: &[&Layer], root: &Path) -> Result<(), LayerError> {
    let mut dirs: HashMap<PathBuf, Entry> = HashMap::new();
    for (li, layer) in layers.iter().enumerate() {
        let mut first: HashMap<u64, PathBuf> = HashMap::new();
        for e in &layer.entries {
            let p = root.join(&e.path);
            let io = |source: io::Error| LayerError::Io {
                path: p.clone(),
                source,
            };
            let existing = fs::symlink_metadata(&p).ok();
            match &e.kind {
                Kind::Dir => {
                    match existing {
                        Some(m) if m.is_dir() => {}
                        Some(_) => {
                            fs::remove_file(&p).map_err(io)?;
                            fs::create_dir(&p).map_err(io)?;
                        }
                        None => fs::create_dir(&p).map_err(io)?,
                    }
                    dirs.insert(p.clone(), e.clone());
                    continue;
                }
                _ => {
                    if let Some(m) = existing {
                        if m.is_dir() {
                            fs::remove_dir_all(&p).map_err(io)?;
                            dirs.remove(&p);
                        } else {
                            fs::remove_file(&p).map_err(io)?;
                        }
                    }
                }
            }
            match &e.kind {
                Kind::Dir => {}
                Kind::Symlink(t) => std::os::unix::fs::symlink(t, &p).map_err(io)?,
                Kind::File {
                    size,
                    data,
                    link_group,
                } => {
                    let leader = link_group.and_then(|g| first.get(&g).cloned());
                    if let Some(l) = leader {
                        fs::hard_link(&l, &p).map_err(io)?;
                        continue;
                    }
                    let mut r = data.open(*size).map_err(io)?;
                    let mut f = fs::File::create(&p).map_err(io)?;
                    std::io::copy(&mut r, &mut f).map_err(io)?;
                    if let Some(g) = link_group {
                        first.insert(*g, p.clone());
                    }
                }
            }
            apply_meta(&p, e).map_err(io)?;
        }
        tracing::debug!("materialised layer {li} ({})", layer.name);
    }
    // Deepest first, so setting a parent's mtime is not undone by a child.
    let mut dirs: Vec<(PathBuf, Entry)> = dirs.into_iter().collect();
    dirs.sort_by(|a, b| b.0.cmp(&a.0));
    for (p, e) in dirs {
        apply_meta(&p, &e).map_err(|source| LayerError::Io { path: p, source })?;
    }
    Ok(())
}

fn apply_meta(p: &Path, e: &Entry) -> io::Result<()> {
    let symlink = matches!(e.kind, Kind::Symlink(_));
    std::os::unix::fs::lchown(p, Some(e.uid as u32), Some(e.gid as u32))?;
    if !symlink {
        // After chown: chown clears setuid/setgid bits.
        fs::set_permissions(p, fs::Permissions::from_mode(e.mode))?;
        for (k, v) in &e.xattrs {
            xattr::set(p, k, v)?;
        }
    }
    let t = FileTime::from_unix_time(e.mtime as i64, 0);
    filetime::set_symlink_file_times(p, t, t)
}
