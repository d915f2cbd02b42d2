//! Helpers shared by the builder's integration tests: rich input trees, a
//! comparable snapshot of a tree, and running the real OCI tools.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use softap_build::BuildOptions;

pub(crate) const EPOCH: u64 = 1_735_689_600;

/// `security.capability` for cap_net_raw+ep (VFS_CAP_REVISION_2).
pub(crate) const CAP_NET_RAW: &[u8] = &[
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// The path of a tool the test needs, found as the builder finds its own;
/// fails (never skips) when it is missing.
pub(crate) fn require(tool: &str, package: &str) -> PathBuf {
    softap_build::host::find(tool).unwrap_or_else(|| {
        panic!("`{tool}` is not installed: apt-get install {package} (listed in scripts/packages/)")
    })
}

/// Options building into `out` with the cache `cache`, without progress bars.
pub(crate) fn options(out: &Path, cache: &Path) -> BuildOptions {
    BuildOptions {
        out_dir: out.to_owned(),
        cache_dir: Some(cache.to_owned()),
        progress: false,
        source_date_epoch: None,
    }
}

/// An error and its causes as `softap-build` prints them.
pub(crate) fn message(e: &(dyn std::error::Error + 'static)) -> String {
    softap_build::cause::chain(e)
}

pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(p: &Path, content: &[u8], mode: u32, owner: (u32, u32)) {
    fs::write(p, content).unwrap();
    std::os::unix::fs::chown(p, Some(owner.0), Some(owner.1)).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A tree with what a real rootfs has: owners, odd modes, setuid, symlinks
/// (absolute, relative, dangling), hard links, xattrs including
/// `security.capability`, long and unicode names, an empty dir, a fifo
/// (which must be dropped), and merged-/usr links.
pub(crate) fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("usr/lib/systemd/system")).unwrap();
    fs::create_dir_all(root.join("etc/ssl/private")).unwrap();
    fs::create_dir_all(root.join("var/empty")).unwrap();
    fs::create_dir_all(root.join("home/user")).unwrap();
    symlink("usr/lib", root.join("lib")).unwrap();
    symlink("usr/bin", root.join("bin")).unwrap();
    symlink("/usr/bin/ping", root.join("usr/bin/ping-abs")).unwrap();
    symlink("../../does/not/exist", root.join("usr/bin/dangling")).unwrap();
    write(&root.join("etc/hostname"), b"softap\n", 0o644, (0, 0));
    write(
        &root.join("etc/shadow"),
        b"root:*:1::::::\n",
        0o640,
        (0, 42),
    );
    write(
        &root.join("etc/ssl/private/key"),
        b"not a key",
        0o600,
        (0, 0),
    );
    fs::set_permissions(
        root.join("etc/ssl/private"),
        fs::Permissions::from_mode(0o710),
    )
    .unwrap();
    write(
        &root.join("usr/bin/ping"),
        &[0x7f, b'E', b'L', b'F', 1, 2, 3],
        0o755,
        (0, 0),
    );
    xattr::set(
        root.join("usr/bin/ping"),
        "security.capability",
        CAP_NET_RAW,
    )
    .unwrap();
    write(&root.join("usr/bin/su"), b"su binary", 0o4755, (0, 0));
    write(&root.join("usr/bin/python3.11"), b"python", 0o755, (0, 0));
    fs::hard_link(
        root.join("usr/bin/python3.11"),
        root.join("usr/bin/python3"),
    )
    .unwrap();
    fs::hard_link(
        root.join("usr/bin/python3.11"),
        root.join("usr/bin/a-python-link"),
    )
    .unwrap();
    write(
        &root.join("home/user/.profile"),
        b"PATH=x\n",
        0o644,
        (1000, 1000),
    );
    std::os::unix::fs::chown(root.join("home/user"), Some(1000), Some(1000)).unwrap();
    xattr::set(
        root.join("home/user/.profile"),
        "user.mime_type",
        b"text/plain",
    )
    .unwrap();
    let long = format!("{}/{}", "d".repeat(60), "f".repeat(120));
    fs::create_dir_all(root.join("usr/share").join("d".repeat(60))).unwrap();
    write(&root.join("usr/share").join(&long), b"long", 0o644, (0, 0));
    symlink(
        format!("../share/{long}"),
        root.join("usr/lib/link-with-a-long-target"),
    )
    .unwrap();
    fs::create_dir_all(root.join("usr/share/naïve dir ☃")).unwrap();
    write(
        &root.join("usr/share/naïve dir ☃/fïle with spaces"),
        b"unicode",
        0o644,
        (0, 0),
    );
    write(
        &root.join("usr/lib/systemd/system/getty.service"),
        b"[Unit]\n",
        0o644,
        (0, 0),
    );
    write(&root.join("var/empty/.keep"), b"", 0o644, (0, 0));
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        root.join("tmp/fifo"),
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub kind: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    /// sha256 of a file, target of a symlink.
    pub content: String,
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Paths sharing this file's inode (hard links), sorted; empty if none.
    pub links: Vec<String>,
}

/// Every entry under `root` (not `root` itself), fifos/devices skipped.
pub(crate) fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let md = fs::symlink_metadata(e.path()).unwrap();
        let ft = md.file_type();
        let (kind, content) = if ft.is_dir() {
            ("dir", String::new())
        } else if ft.is_symlink() {
            (
                "symlink",
                fs::read_link(e.path())
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned(),
            )
        } else if ft.is_file() {
            if md.nlink() > 1 {
                inodes.entry(md.ino()).or_default().push(rel.clone());
            }
            (
                "file",
                hex::encode(Sha256::digest(fs::read(e.path()).unwrap())),
            )
        } else {
            continue;
        };
        let mut xattrs = Vec::new();
        if !ft.is_symlink() {
            for n in xattr::list(e.path()).unwrap() {
                let n = n.to_str().unwrap().to_owned();
                let v = xattr::get(e.path(), &n).unwrap().unwrap_or_default();
                xattrs.push((n, v));
            }
            xattrs.sort();
        }
        out.insert(
            rel,
            Node {
                kind: kind.to_owned(),
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                mtime: md.mtime(),
                content,
                xattrs,
                links: Vec::new(),
            },
        );
    }
    for (_, mut paths) in inodes {
        paths.sort();
        for p in &paths {
            if let Some(n) = out.get_mut(p) {
                n.links = paths.clone();
            }
        }
    }
    out
}

/// Symlinks' own modes differ between file systems and tools: ignore them.
pub(crate) fn normalise_for_compare(
    mut t: BTreeMap<String, Node>,
    clamp: Option<i64>,
) -> BTreeMap<String, Node> {
    for n in t.values_mut() {
        if n.kind == "symlink" {
            n.mode = 0;
        }
        if let Some(c) = clamp {
            n.mtime = n.mtime.min(c);
        }
    }
    t
}

/// Writes a spec file and returns its path.
pub(crate) fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Copies a directory tree (files, dirs, symlinks; modes kept).
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).follow_links(false) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dst = to.join(rel);
        let ft = e.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&dst).unwrap();
        } else if ft.is_symlink() {
            symlink(fs::read_link(e.path()).unwrap(), &dst).unwrap();
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// A disk of the tree `root` at `out`, with nothing extra on the ESP, a
/// fixed seed and the tests' epoch, sized to fit.
pub(crate) fn plain_disk<'a>(root: &'a Path, out: &'a Path) -> softap_build::disk::DiskInputs<'a> {
    softap_build::disk::DiskInputs {
        root_tree: root,
        esp_files: &[],
        out,
        seed: &[7; 32],
        source_date_epoch: EPOCH,
        size: None,
    }
}
