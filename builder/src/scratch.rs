//! The build's temporaries (hidden files and directories in the output
//! directory and the cache, renamed into place or removed when a step ends)
//! and its child programs, kept so an interrupted build leaves nothing
//! behind for long:
//!
//! - each is created under a shared `flock` of its directory and then holds
//!   an exclusive `flock` of its own for as long as it lives: a temporary
//!   whose lock is free belongs to no running build, and [`sweep`] (under
//!   an exclusive lock of the directory, so it never sees one between its
//!   creation and its lock) removes it;
//! - each is registered while it lives, and so is every child program
//!   while it runs ([`spawn`]); on SIGINT or SIGTERM a thread (not the
//!   signal handler: it may take locks and allocate) sends SIGTERM to every
//!   registered child (mmdebstrap or mkfs would otherwise go on writing
//!   into a removed tree), removes every registered temporary and exits 130
//!   or 143 ([`remove_on_signals`]). A SIGKILL leaves the temporaries for
//!   the next build's sweep.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use rustix::fs::{flock, FlockOperation};
use rustix::process::{kill_process, Pid, Signal};

/// What this process holds and must not leave behind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    File(PathBuf),
    Dir(PathBuf),
    /// A running child program, by process id.
    Child(Pid),
}

/// Everything this process holds, by registration id.
fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    // A poisoned registry still holds the paths to remove.
    REGISTRY
        .get_or_init(|| Mutex::new(BTreeMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

type Registry = BTreeMap<u64, Held>;

fn register(reg: &mut Registry, held: Held) -> Registration {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    reg.insert(id, held);
    Registration(id)
}

/// Takes its temporary or child out of the registry when dropped.
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        registry().remove(&self.0);
    }
}

fn open_dir(dir: &Path) -> io::Result<File> {
    // Opening a directory read-only gives a descriptor `flock` takes.
    File::open(dir)
}

/// Runs `make` under a shared lock of `dir`, so no sweep runs meanwhile.
fn creating<T>(dir: &Path, make: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let d = open_dir(dir)?;
    flock(&d, FlockOperation::LockShared)?;
    make()
}

/// A temporary file, locked and registered: see the module documentation.
pub struct ScratchFile {
    file: tempfile::NamedTempFile,
    registration: Registration,
}

/// A temporary file `PREFIX` + random + `SUFFIX` in `dir`.
pub fn file_in(dir: &Path, prefix: &str, suffix: &str) -> io::Result<ScratchFile> {
    creating(dir, || {
        // The registry's lock is held from creation to registration, so
        // the signal thread, which holds it until the process exits, never
        // misses one.
        let mut reg = registry();
        let file = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(suffix)
            .tempfile_in(dir)?;
        flock(file.as_file(), FlockOperation::NonBlockingLockExclusive)?;
        let registration = register(&mut reg, Held::File(file.path().to_owned()));
        Ok(ScratchFile { file, registration })
    })
}

impl Deref for ScratchFile {
    type Target = tempfile::NamedTempFile;
    fn deref(&self) -> &tempfile::NamedTempFile {
        &self.file
    }
}

impl std::ops::DerefMut for ScratchFile {
    fn deref_mut(&mut self) -> &mut tempfile::NamedTempFile {
        &mut self.file
    }
}

impl ScratchFile {
    /// Renames the file to `dst` (atomically, replacing what is there); it
    /// is no temporary any more.
    pub fn persist(self, dst: &Path) -> io::Result<File> {
        let ScratchFile { file, registration } = self;
        // Unregistered first: a signal now leaves the finished file alone
        // (or, if it comes before the rename, the next sweep takes it).
        drop(registration);
        file.persist(dst).map_err(|e| e.error)
    }
}

/// A temporary directory, locked and registered: see the module
/// documentation.
pub struct ScratchDir {
    // Dropped in this order: the directory is removed before its lock is
    // released, so no sweep ever sees it unlocked.
    dir: tempfile::TempDir,
    _lock: File,
    _registration: Registration,
}

/// A temporary directory `PREFIX` + random in `dir`.
pub fn dir_in(dir: &Path, prefix: &str) -> io::Result<ScratchDir> {
    creating(dir, || {
        let mut reg = registry();
        let tmp = tempfile::Builder::new().prefix(prefix).tempdir_in(dir)?;
        let lock = open_dir(tmp.path())?;
        flock(&lock, FlockOperation::NonBlockingLockExclusive)?;
        let registration = register(&mut reg, Held::Dir(tmp.path().to_owned()));
        Ok(ScratchDir {
            dir: tmp,
            _lock: lock,
            _registration: registration,
        })
    })
}

impl ScratchDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn random(r: &str) -> bool {
    r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether a name in an output directory is one the builder gives its
/// temporaries there (`tempfile`'s six random characters in the middle):
/// `.NAME.oci.tar.XXXXXX` and `.NAME.oci.XXXXXX` (the OCI outputs) and
/// `.softap-disk.XXXXXX[.raw.partial]` (the disk).
pub fn is_output_temporary(name: &str) -> bool {
    let Some(name) = name.strip_prefix('.') else {
        return false;
    };
    let (core, partial) = match name.strip_suffix(".raw.partial") {
        Some(c) => (c, true),
        None => (name, false),
    };
    let Some((head, r)) = core.rsplit_once('.') else {
        return false;
    };
    random(r)
        && (head == "softap-disk"
            || !partial
                && head.len() > ".oci".len()
                && (head.ends_with(".oci.tar") || head.ends_with(".oci")))
}

/// Whether a name in the cache is a temporary: `.tmpXXXXXX` (blobs and
/// scratch trees, in its `tmp`) and `.debian-KEY.XXXXXX.tar.partial` (the
/// Debian base, in its `debian`).
pub fn is_cache_temporary(name: &str) -> bool {
    if name.strip_prefix(".tmp").is_some_and(random) {
        return true;
    }
    name.strip_prefix(".debian-")
        .and_then(|n| n.strip_suffix(".tar.partial"))
        .and_then(|n| n.rsplit_once('.'))
        .is_some_and(|(key, r)| !key.is_empty() && random(r))
}

/// Removes the temporaries in `dir` (the names `ours` accepts, e.g.
/// [`is_output_temporary`]) that no running build holds; returns what it
/// removed. A missing `dir` has none.
pub fn sweep(dir: &Path, ours: fn(&str) -> bool) -> io::Result<Vec<PathBuf>> {
    let d = match open_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        d => d?,
    };
    flock(&d, FlockOperation::LockExclusive)?;
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !ours(&name.to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        // Not following a symlink: a temporary is never one.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        let Ok(f) = File::open(&path) else {
            continue;
        };
        if flock(&f, FlockOperation::NonBlockingLockExclusive).is_err() {
            // A running build holds it.
            continue;
        }
        let gone = if kind.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match gone {
            Ok(()) => {
                tracing::info!("removed {}, left by an interrupted build", path.display());
                removed.push(path);
            }
            Err(e) => tracing::warn!(
                "cannot remove {}, left by an interrupted build: {e}",
                path.display()
            ),
        }
    }
    Ok(removed)
}

/// Starts `cmd` and registers the child until the returned registration
/// is dropped, which the caller does after waiting for it. The registry's
/// lock is held from the spawn to the registration, so the signal thread
/// never misses a child.
pub fn spawn(cmd: &mut Command) -> io::Result<(Child, Registration)> {
    let mut reg = registry();
    let child = cmd.spawn()?;
    let pid = Pid::from_child(&child);
    Ok((child, register(&mut reg, Held::Child(pid))))
}

/// Stops every child and removes every temporary this process holds, for
/// [`remove_on_signals`]. Returns with the registry locked, so nothing new
/// is started or made before exit.
fn remove_all() -> MutexGuard<'static, Registry> {
    let reg = registry();
    // The children first: they may be writing into the temporaries.
    for held in reg.values() {
        if let Held::Child(pid) = held {
            // One already gone (waited for, not yet unregistered) has
            // nothing to stop; a registration is dropped right after the
            // wait, so its id has no time to be reused.
            let _ = kill_process(*pid, Signal::TERM);
        }
    }
    for held in reg.values() {
        match held {
            Held::Dir(path) => {
                // The build may still be writing into it: retry while new
                // entries appear under it.
                for _ in 0..20 {
                    match fs::remove_dir_all(path) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => continue,
                        _ => break,
                    }
                }
            }
            Held::File(path) => {
                let _ = fs::remove_file(path);
            }
            Held::Child(_) => {}
        }
    }
    reg
}

/// On SIGINT or SIGTERM, stops the build's children, removes its
/// temporaries and exits with
/// 128 + the signal (130, 143), as a shell reports a process killed by it.
/// Call once, from the program (not the library: a library must not take
/// over the process's signals).
pub fn remove_on_signals() -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("softap-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let _held = remove_all();
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names() {
        for ok in [
            ".softap.oci.tar.Ab12Cd",
            ".my.image.oci.Ab12Cd",
            ".softap-disk.Ab12Cd",
            ".softap-disk.Ab12Cd.raw.partial",
        ] {
            assert!(is_output_temporary(ok), "{ok}");
            assert!(!is_cache_temporary(ok), "{ok}");
        }
        for ok in [".tmpAb12Cd", ".debian-0123abcd.Ab12Cd.tar.partial"] {
            assert!(is_cache_temporary(ok), "{ok}");
            assert!(!is_output_temporary(ok), "{ok}");
        }
        for not in [
            "softap.oci.tar",
            ".softap.oci.tar",
            ".oci.Ab12Cd",
            ".softap.oci.tar.Ab12C",
            ".softap.raw.Ab12Cd",
            ".softap-disk.Ab12Cd.tar.partial",
            ".softap.oci.tar.Ab12Cd.raw.partial",
            ".debian-.Ab12Cd.tar.partial",
            ".bashrc",
            ".tmp",
            ".git",
        ] {
            assert!(
                !is_output_temporary(not) && !is_cache_temporary(not),
                "{not}"
            );
        }
    }

    #[test]
    fn sweep_takes_only_unlocked_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let held = file_in(d.path(), ".softap-disk.", ".raw.partial").unwrap();
        let held_dir = dir_in(d.path(), ".softap-disk.").unwrap();
        fs::write(held_dir.path().join("x"), "x").unwrap();
        let stale = d.path().join(".softap.oci.tar.Ab12Cd");
        fs::write(&stale, "left").unwrap();
        let stale_dir = d.path().join(".softap-disk.Zz99Yy");
        fs::create_dir_all(stale_dir.join("a/b")).unwrap();
        let user = d.path().join("softap.oci.tar");
        fs::write(&user, "keep").unwrap();
        let mut removed = sweep(d.path(), is_output_temporary).unwrap();
        removed.sort();
        assert_eq!(removed, [stale_dir.clone(), stale.clone()]);
        assert!(held.path().exists() && held_dir.path().exists() && user.exists());
        let held_path = held.path().to_owned();
        let dir_path = held_dir.path().to_owned();
        drop(held);
        drop(held_dir);
        assert!(!held_path.exists() && !dir_path.exists());
        assert!(sweep(d.path(), is_output_temporary).unwrap().is_empty());
        assert!(sweep(&d.path().join("missing"), is_output_temporary)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn persisted_files_are_no_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let f = file_in(d.path(), ".x.oci.tar.", "").unwrap();
        let dst = d.path().join("x.oci.tar");
        f.persist(&dst).unwrap();
        assert!(!registry().values().any(|h| h == &Held::File(dst.clone())));
        assert!(dst.exists());
    }
}
