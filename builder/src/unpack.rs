//! Materialises layers into a directory (the disk's root tree), in order,
//! keeping owners, modes, xattrs, symlinks and hard links.
//!
//! The layers come from inputs the builder does not trust (a `rootfs` tar is
//! anybody's archive), and this runs as root, so no path is ever handed to the
//! kernel as a whole: every entry's parent is opened one component at a time
//! from the root with `O_NOFOLLOW | O_DIRECTORY`, and the entry itself is
//! created, replaced, chowned, chmodded and timed through that directory's
//! descriptor without following a symlink at its last component either. An
//! entry below a symlink is refused, whatever the symlink points at, so
//! nothing outside the tree is ever created, changed or even opened for
//! writing. Each layer lists its parent directories before their children,
//! and a directory entry replaces whatever non-directory is at its path.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, Dir, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags, CWD,
};

use crate::layer::{Entry, Kind, Layer, LayerError};

/// Writes `layers`, lowest first, into the existing directory `root`.
pub fn materialise(layers: &[&Layer], root: &Path) -> Result<(), LayerError> {
    let tree = Tree::open(root)?;
    let mut dirs: HashMap<String, Entry> = HashMap::new();
    for (li, layer) in layers.iter().enumerate() {
        // The first path of each hard-link group, which carries the data.
        let mut first: HashMap<u64, String> = HashMap::new();
        for e in &layer.entries {
            tree.place(e, &mut first, &mut dirs)?;
        }
        tracing::debug!("materialised layer {li} ({})", layer.name);
    }
    // Deepest first, so setting a parent's mtime is not undone by a child.
    let mut dirs: Vec<(String, Entry)> = dirs.into_iter().collect();
    dirs.sort_by(|a, b| b.0.cmp(&a.0));
    for (p, e) in dirs {
        let (parent, name) = tree.parent(&p)?;
        let fd = rustix::fs::openat(
            &parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|err| tree.io(&p, err.into()))?;
        set_meta(fd.as_fd(), &e).map_err(|err| tree.io(&p, err))?;
    }
    Ok(())
}

/// Checks that `rel` names a regular file inside `root` reached without any
/// symlink: what the disk copies out of the tree by path (kernel, initrd,
/// boot loader) must come from the tree, never from wherever a link in it
/// points on the build host.
pub fn regular_file_inside(root: &Path, rel: &str) -> Result<(), LayerError> {
    let tree = Tree::open(root)?;
    let (parent, name) = tree.parent(rel)?;
    let st = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| tree.io(rel, e.into()))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Ok(()),
        other => Err(LayerError::Unsafe {
            path: rel.to_owned(),
            message: format!(
                "must be a regular file in the root tree, found {}",
                if other == FileType::Symlink {
                    "a symlink"
                } else {
                    "something else"
                }
            ),
        }),
    }
}

/// The root of the tree being written, held open.
struct Tree {
    path: PathBuf,
    fd: OwnedFd,
}

impl Tree {
    fn open(root: &Path) -> Result<Tree, LayerError> {
        let fd = rustix::fs::openat(
            CWD,
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| LayerError::Io {
            path: root.to_owned(),
            source: e.into(),
        })?;
        Ok(Tree {
            path: root.to_owned(),
            fd,
        })
    }

    fn io(&self, rel: &str, source: io::Error) -> LayerError {
        LayerError::Io {
            path: self.path.join(rel),
            source,
        }
    }

    /// Opens the directory that holds `rel`, one component at a time, never
    /// through a symlink; returns it and `rel`'s last component.
    fn parent<'a>(&self, rel: &'a str) -> Result<(OwnedFd, &'a str), LayerError> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        check_component(rel, name)?;
        let mut fd = rustix::fs::openat(
            &self.fd,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.io("", e.into()))?;
        let mut walked = String::new();
        for c in dir.split('/').filter(|c| !c.is_empty()) {
            check_component(rel, c)?;
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(c);
            fd = rustix::fs::openat(
                &fd,
                c,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| match e {
                // A symlink opened with O_PATH|O_NOFOLLOW|O_DIRECTORY fails
                // with ENOTDIR, as does a file: say which it is.
                rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP => LayerError::Unsafe {
                    path: rel.to_owned(),
                    message: format!(
                        "its parent `{walked}` is {} in the tree, not a directory; \
                         refusing to write through it",
                        self.describe(&walked)
                    ),
                },
                e => self.io(&walked, e.into()),
            })?;
        }
        Ok((fd, name))
    }

    /// What is at `rel` (for messages).
    fn describe(&self, rel: &str) -> &'static str {
        match rustix::fs::statat(&self.fd, rel, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::Symlink => "a symlink",
                FileType::Directory => "a directory",
                _ => "a file",
            },
            Err(_) => "something",
        }
    }

    fn place(
        &self,
        e: &Entry,
        first: &mut HashMap<u64, String>,
        dirs: &mut HashMap<String, Entry>,
    ) -> Result<(), LayerError> {
        let (parent, name) = self.parent(&e.path)?;
        let io = |err: io::Error| self.io(&e.path, err);
        let existing = match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
            Err(rustix::io::Errno::NOENT) => None,
            Err(err) => return Err(io(err.into())),
        };
        if e.is_dir() {
            match existing {
                Some(FileType::Directory) => {}
                Some(_) => {
                    rustix::fs::unlinkat(&parent, name, AtFlags::empty())
                        .map_err(|err| io(err.into()))?;
                    mkdir(&parent, name).map_err(io)?;
                }
                None => mkdir(&parent, name).map_err(io)?,
            }
            dirs.insert(e.path.clone(), e.clone());
            return Ok(());
        }
        match existing {
            Some(FileType::Directory) => {
                remove_tree(&parent, name).map_err(io)?;
                let prefix = format!("{}/", e.path);
                dirs.retain(|p, _| *p != e.path && !p.starts_with(&prefix));
            }
            Some(_) => {
                rustix::fs::unlinkat(&parent, name, AtFlags::empty())
                    .map_err(|err| io(err.into()))?;
            }
            None => {}
        }
        match &e.kind {
            Kind::Dir => Ok(()),
            Kind::Symlink(target) => {
                rustix::fs::symlinkat(target.as_str(), &parent, name)
                    .map_err(|err| io(err.into()))?;
                let owner = (Some(uid(e)), Some(gid(e)));
                rustix::fs::chownat(&parent, name, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|err| io(err.into()))?;
                rustix::fs::utimensat(&parent, name, &times(e), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|err| io(err.into()))
            }
            Kind::File {
                size,
                data,
                link_group,
            } => {
                if let Some(leader) = link_group.and_then(|g| first.get(&g)) {
                    // Resolved the same careful way: a link never reaches a
                    // file outside the tree.
                    let (lp, ln) = self.parent(leader)?;
                    return rustix::fs::linkat(&lp, ln, &parent, name, AtFlags::empty())
                        .map_err(|err| io(err.into()));
                }
                let fd = rustix::fs::openat(
                    &parent,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|err| io(err.into()))?;
                let mut f = File::from(fd);
                let mut r = data.open(*size).map_err(io)?;
                io::copy(&mut r, &mut f).map_err(io)?;
                set_meta(f.as_fd(), e).map_err(io)?;
                if let Some(g) = link_group {
                    first.insert(*g, e.path.clone());
                }
                Ok(())
            }
        }
    }
}

/// A path component the tree's own layout can hold: never empty, `.`, `..`
/// or containing a NUL (the layer model already rejects these; checked again
/// here because this is where a mistake would cost the host).
fn check_component(rel: &str, c: &str) -> Result<(), LayerError> {
    if c.is_empty() || c == "." || c == ".." || c.contains('\0') {
        return Err(LayerError::Unsafe {
            path: rel.to_owned(),
            message: format!("component `{c}` is not a plain name"),
        });
    }
    Ok(())
}

fn mkdir(parent: &OwnedFd, name: &str) -> io::Result<()> {
    // Private until its own metadata is set at the end.
    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)).map_err(io::Error::from)
}

/// Removes the directory `name` in `parent` and everything in it, through
/// descriptors only (a symlink inside is unlinked, never followed).
fn remove_tree(parent: &OwnedFd, name: &str) -> io::Result<()> {
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut children = Vec::new();
    for entry in Dir::read_from(&fd)? {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        children.push((entry.file_name().to_owned(), entry.file_type()));
    }
    for (child, ft) in children {
        let child = child
            .to_str()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file name is not UTF-8"))?;
        let is_dir = match ft {
            FileType::Directory => true,
            FileType::Unknown => {
                let st = rustix::fs::statat(&fd, child, AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(st.st_mode) == FileType::Directory
            }
            _ => false,
        };
        if is_dir {
            remove_tree(&fd, child)?;
        } else {
            rustix::fs::unlinkat(&fd, child, AtFlags::empty())?;
        }
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(io::Error::from)
}

fn uid(e: &Entry) -> Uid {
    Uid::from_raw(e.uid as u32)
}

fn gid(e: &Entry) -> Gid {
    Gid::from_raw(e.gid as u32)
}

fn times(e: &Entry) -> Timestamps {
    let t = Timespec {
        tv_sec: e.mtime as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Owner, mode, xattrs and times of an open file or directory.
fn set_meta(fd: BorrowedFd<'_>, e: &Entry) -> io::Result<()> {
    rustix::fs::fchown(fd, Some(uid(e)), Some(gid(e)))?;
    // After chown: chown clears setuid/setgid bits.
    rustix::fs::fchmod(fd, Mode::from_raw_mode(e.mode))?;
    for (k, v) in &e.xattrs {
        rustix::fs::fsetxattr(fd, k.as_str(), v, XattrFlags::empty())?;
    }
    rustix::fs::futimens(fd, &times(e))?;
    Ok(())
}
