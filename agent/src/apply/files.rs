//! Step 1: the rendered files, written atomically when they differ; the
//! undo puts back each one's old content and mode, or removes it.

use std::time::Instant;

use super::{ApplyError, Changed, Run, Undo};
use crate::fsutil;
use crate::render::{Consumer, RenderedFile};

impl Run<'_> {
    pub(super) fn write_files(&mut self, files: &[RenderedFile]) -> Result<Changed, ApplyError> {
        let start = Instant::now();
        let mut consumers = Vec::new();
        let mut changed = Changed::default();
        for f in files {
            let path = fsutil::under(self.host.root(), f.path);
            let old = std::fs::read(&path).ok().map(|b| {
                let mode = std::fs::metadata(&path)
                    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
                    .unwrap_or(0o644);
                (b, mode)
            });
            match self
                .host
                .write_if_changed(&path, f.content.as_bytes(), f.mode)
            {
                Ok(true) => {
                    self.undo.files.push((path, old));
                    consumers.push(f.consumer);
                    changed.netdev |= f.path == crate::render::NETDEV;
                }
                Ok(false) => {}
                Err(e) => return Err(self.fail("files", e, None)),
            }
        }
        let n = consumers.len();
        self.record(
            "files",
            start,
            n > 0,
            format!("{n} of {} files changed", files.len()),
        );
        changed.libvirt = consumers.contains(&Consumer::Libvirt);
        changed.networkd = consumers.contains(&Consumer::Networkd);
        changed.hostapd = consumers.contains(&Consumer::Hostapd);
        Ok(changed)
    }

    pub(super) fn undo_files(&self, undo: &Undo, problems: &mut Vec<String>) {
        for (path, old) in undo.files.iter().rev() {
            let r = match old {
                Some((bytes, mode)) => self
                    .host
                    .write_atomic(path, bytes, *mode)
                    .map_err(|e| e.to_string()),
                None => self.host.remove(path).map_err(|e| e.to_string()),
            };
            if let Err(e) = r {
                problems.push(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn a_failed_file_write_removes_the_files_written_before_it() {
        let c = case();
        let last = c.files.last().unwrap().path;
        let host = c.host().fail(Fault::Write(last.into()));
        let (step, problems, after) = c.fail(&host, "none");
        assert_eq!(step, "files");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(after.is_empty(), "{after:?}");
        assert!(c.written().is_empty(), "{:?}", c.written());
    }

    #[test]
    fn a_changed_file_is_restored_with_its_old_content_and_mode() {
        let c = case();
        let first = fsutil::under(c.root.path(), c.files[0].path);
        fsutil::write_atomic(&first, b"old\n", 0o600).unwrap();
        let host = c.host().fail(Fault::Command("virsh net-define".into()));
        let (step, problems, _) = c.fail(&host, "virsh net-define");
        assert_eq!(step, "libvirt");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(std::fs::read(&first).unwrap(), b"old\n");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&first).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(c.written(), [c.files[0].path]);
    }

    #[test]
    fn a_written_file_that_cannot_be_removed_is_reported() {
        let c = case();
        let first = c.files[0].path;
        let host = c
            .host()
            .fail(Fault::Remove(first.into()))
            .fail(Fault::Command("virsh net-define".into()));
        let (step, problems, _) = c.fail(&host, "virsh net-define");
        assert_eq!(step, "libvirt");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(first) && problems[0].contains("remove"),
            "{problems:?}"
        );
        assert_eq!(c.written(), [first]);
    }
}
