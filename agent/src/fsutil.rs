//! Atomic file writes: a temporary file in the same directory, fsync, rename,
//! fsync of the directory. A reader never sees half a file, and a crash
//! leaves either the old or the new content.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {action}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub action: &'static str,
    pub source: std::io::Error,
}

fn err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> WriteError + 'a {
    move |source| WriteError {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Writes `bytes` to `path` atomically with permission `mode`, creating
/// parent directories (0755).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err(dir, "create directory"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        // The mode is set at creation so a secret is never readable by others,
        // not even for a moment.
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(err(&tmp, "create"))?;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(err(&tmp, "set permissions"))?;
        f.write_all(bytes).map_err(err(&tmp, "write"))?;
        f.sync_all().map_err(err(&tmp, "fsync"))?;
        fs::rename(&tmp, path).map_err(err(path, "rename into place"))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err(dir, "fsync directory"))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes only when the content or mode differs; returns whether it wrote.
pub fn write_if_changed(path: &Path, bytes: &[u8], mode: u32) -> Result<bool, WriteError> {
    if let Ok(old) = fs::read(path) {
        let same_mode = fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777 == mode)
            .unwrap_or(false);
        if old == bytes && same_mode {
            return Ok(false);
        }
    }
    write_atomic(path, bytes, mode)?;
    Ok(true)
}

/// Removes a file (a symlink itself, never what it points to).
pub fn remove(path: &Path) -> Result<(), WriteError> {
    fs::remove_file(path).map_err(err(path, "remove"))
}

/// Joins an absolute target path (`/etc/x`) under `root`.
pub fn under(root: &Path, target: &str) -> PathBuf {
    root.join(target.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_mode_and_skips_identical_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/secret");
        assert!(write_if_changed(&p, b"x", 0o600).unwrap());
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let before = fs::metadata(&p).unwrap().modified().unwrap();
        assert!(!write_if_changed(&p, b"x", 0o600).unwrap());
        assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), before);
        assert!(write_if_changed(&p, b"x", 0o644).unwrap());
        assert!(write_if_changed(&p, b"y", 0o644).unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"y");
        let leftovers: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[test]
    fn failure_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("file"), "").unwrap();
        let e = write_atomic(&dir.path().join("file/child"), b"x", 0o644).unwrap_err();
        assert!(e.to_string().contains("file"), "{e}");
    }

    #[test]
    fn under_strips_the_leading_slash() {
        assert_eq!(
            under(Path::new("/tmp/r"), "/etc/x"),
            PathBuf::from("/tmp/r/etc/x")
        );
    }
}
