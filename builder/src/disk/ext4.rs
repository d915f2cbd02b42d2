//! The root filesystem: ext4 made by mkfs.ext4 from the tree (`-d`) at its
//! offset in the image. mke2fs copies each file's times from the tree, so
//! mtimes are clamped in the tree first, and ctime (no system call sets it)
//! and atime (reading the file to copy it updates it) are rewritten in the
//! image with debugfs.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use filetime::FileTime;

use super::ids::DiskIds;
use super::layout::{Extent, TreeUsage, EXT4_BLOCK, EXT4_INODE_RATIO, JOURNAL_MIB};
use super::DiskError;
use crate::host::{run, CommandLine, HostError, Tool};

pub const MKFS_EXT4: Tool = Tool::new("mkfs.ext4", "e2fsprogs");
pub const DUMPE2FS: Tool = Tool::new("dumpe2fs", "e2fsprogs");
pub const DEBUGFS: Tool = Tool::new("debugfs", "e2fsprogs");

/// Features pinned so the host's `/etc/mke2fs.conf` does not decide them
/// (1.47 adds `orphan_file`, which older kernels cannot mount read-write).
/// `resize_inode` keeps online growth at first boot possible.
pub const FEATURES: &str = "has_journal,ext_attr,resize_inode,dir_index,filetype,extent,\
flex_bg,sparse_super,large_file,huge_file,dir_nlink,extra_isize,64bit,metadata_csum";

const MKE2FS_CONF: &str = "[defaults]\n\tblocksize = 4096\n\tinode_size = 256\n\
\tinode_ratio = 16384\n\treserved_ratio = 1.0\n\n[fs_types]\n\text4 = {\n\t\tfeatures = \
has_journal\n\t}\n";

/// Blocks and inodes the tree needs (hard links counted once).
pub fn usage(tree: &Path) -> Result<TreeUsage, DiskError> {
    let mut u = TreeUsage::default();
    let mut seen = HashSet::new();
    for e in walkdir::WalkDir::new(tree) {
        let e = e.map_err(|e| walk_error(tree, e))?;
        let m = e.metadata().map_err(|e| walk_error(tree, e))?;
        if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
            continue;
        }
        u.inodes += 1;
        if m.is_file() || m.is_dir() {
            u.data_blocks += m.len().div_ceil(EXT4_BLOCK).max(u64::from(m.is_dir()));
        } else if m.file_type().is_symlink() && m.len() >= 60 {
            // Only targets under 60 bytes fit in the inode.
            u.data_blocks += 1;
        }
    }
    Ok(u)
}

fn walk_error(tree: &Path, e: walkdir::Error) -> DiskError {
    let path = e.path().unwrap_or(tree).to_owned();
    DiskError::Io {
        path,
        source: e.into(),
    }
}

/// The disk's fstab: the root (grown to fill the stick at first boot) and the
/// ESP at `/efi`, where the agent reads `softap.toml`; both by PARTUUID. The
/// ESP is an automount: boot never waits for it, and the first read of
/// `/efi` waits for the device (udev can be slow on a loaded machine).
pub fn fstab(ids: &DiskIds) -> String {
    format!(
        "# Written by softap-build for this disk: its partitions, by PARTUUID.\n\
         PARTUUID={root} / ext4 rw,x-systemd.growfs 0 1\n\
         PARTUUID={esp} /efi vfat umask=0077,nofail,x-systemd.automount 0 0\n",
        root = ids.root_part,
        esp = ids.esp_part,
    )
}

/// Makes the tree ready to copy: the disk's fstab and `/efi`, and every
/// atime and mtime set to the mtime clamped to SOURCE_DATE_EPOCH.
pub fn prepare_tree(tree: &Path, ids: &DiskIds, source_date_epoch: u64) -> Result<(), DiskError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DiskError::Io { path, source }
    };
    let etc = tree.join("etc");
    fs::create_dir_all(&etc).map_err(io(&etc))?;
    let fstab_path = etc.join("fstab");
    // The tree may carry fstab as a symlink or hard link: replace, not write
    // through.
    let _ = fs::remove_file(&fstab_path);
    fs::write(&fstab_path, fstab(ids)).map_err(io(&fstab_path))?;
    let efi = tree.join("efi");
    if !efi.is_dir() {
        fs::create_dir(&efi).map_err(io(&efi))?;
    }
    let epoch = i64::try_from(source_date_epoch).unwrap_or(i64::MAX);
    for e in walkdir::WalkDir::new(tree) {
        let e = e.map_err(|e| walk_error(tree, e))?;
        let m = e.metadata().map_err(|e| walk_error(tree, e))?;
        let t = FileTime::from_unix_time(m.mtime().min(epoch), 0);
        filetime::set_symlink_file_times(e.path(), t, t).map_err(io(e.path()))?;
    }
    Ok(())
}

/// Formats the root partition of `image` with the contents of `tree`.
pub fn build(
    image: &Path,
    part: Extent,
    ids: &DiskIds,
    tree: &Path,
    work: &Path,
    source_date_epoch: u64,
) -> Result<(), DiskError> {
    let conf = work.join("mke2fs.conf");
    fs::write(&conf, MKE2FS_CONF).map_err(|source| DiskError::Io {
        path: conf.clone(),
        source,
    })?;
    let fake_time = source_date_epoch.to_string();
    run(
        MKFS_EXT4
            .command()?
            .env("MKE2FS_CONFIG", &conf)
            .env("E2FSPROGS_FAKE_TIME", &fake_time)
            .args(["-q", "-F", "-t", "ext4", "-L", "softap-root"])
            .args(["-O", &format!("none,{FEATURES}")])
            .args(["-b", &EXT4_BLOCK.to_string(), "-I", "256"])
            .args(["-i", &EXT4_INODE_RATIO.to_string(), "-m", "1"])
            .args(["-U", &ids.root_fs, "-J", &format!("size={JOURNAL_MIB}")])
            .arg("-E")
            .arg(format!(
                "offset={},hash_seed={},root_owner=0:0,nodiscard,lazy_itable_init=1",
                part.start, ids.root_hash_seed
            ))
            .arg("-d")
            .arg(tree)
            .arg(image)
            .arg(format!("{}k", part.size / 1024)),
        None,
    )?;
    fix_ctimes(image, part, work, source_date_epoch)?;
    zero_journal(image, part)
}

/// Writes the journal's zeros as real data. mke2fs zeroes it with
/// fallocate, which leaves a hole in the image file, and a flash that skips
/// holes (as `softap-build flash` and bmaptool do) would leave the stick's
/// old bytes there, which a journal replay after a crash could misread.
fn zero_journal(image: &Path, part: Extent) -> Result<(), DiskError> {
    use std::os::unix::fs::FileExt;
    let dev = device_spec(image, part);
    let out = run(
        DEBUGFS.command()?.args(["-R", "blocks <8>"]).arg(&dev),
        None,
    )?;
    let blocks: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|b| b.parse().ok())
        .collect();
    if blocks.is_empty() {
        return Err(DiskError::Parse {
            what: format!("debugfs -R 'blocks <8>' {dev}"),
        });
    }
    let f = fs::OpenOptions::new()
        .write(true)
        .open(image)
        .map_err(|source| DiskError::Io {
            path: image.to_owned(),
            source,
        })?;
    let zeros = vec![0u8; EXT4_BLOCK as usize];
    // Logical block 0 is the journal's superblock, which mke2fs wrote.
    for b in blocks.into_iter().skip(1) {
        f.write_all_at(&zeros, part.start + b * EXT4_BLOCK)
            .map_err(|source| DiskError::Io {
                path: image.to_owned(),
                source,
            })?;
    }
    Ok(())
}

/// `image?offset=N`: how e2fsprogs tools open a filesystem inside a file.
pub fn device_spec(image: &Path, part: Extent) -> String {
    format!("{}?offset={}", image.display(), part.start)
}

/// Sets every used inode's ctime and atime to SOURCE_DATE_EPOCH: mke2fs
/// copied the tree's, which are when the tree was unpacked and (relatime)
/// when mke2fs itself read the file.
fn fix_ctimes(
    image: &Path,
    part: Extent,
    work: &Path,
    source_date_epoch: u64,
) -> Result<(), DiskError> {
    let dev = device_spec(image, part);
    let listing = run(DUMPE2FS.command()?.arg(&dev), None)?;
    let used =
        used_inodes(&String::from_utf8_lossy(&listing.stdout)).ok_or_else(|| DiskError::Parse {
            what: format!("dumpe2fs {dev}"),
        })?;
    let mut cmds = String::with_capacity(used.len() * 40);
    for ino in used {
        for field in ["ctime", "atime"] {
            cmds.push_str(&format!("sif <{ino}> {field} @{source_date_epoch}\n"));
        }
    }
    let file = work.join("ctimes.debugfs");
    fs::write(&file, cmds).map_err(|source| DiskError::Io {
        path: file.clone(),
        source,
    })?;
    let mut debugfs = DEBUGFS.command()?;
    debugfs
        .env("E2FSPROGS_FAKE_TIME", source_date_epoch.to_string())
        .arg("-w")
        .arg("-f")
        .arg(&file)
        .arg(&dev);
    let out = run(&mut debugfs, None)?;
    // debugfs reports a failed request on stderr and still exits 0.
    let text = String::from_utf8_lossy(&out.stderr);
    if let Some(bad) = text
        .lines()
        .find(|l| !l.starts_with("debugfs ") && !l.trim().is_empty())
    {
        return Err(HostError::Reported {
            command: CommandLine::of(&debugfs),
            stderr: bad.to_owned(),
        }
        .into());
    }
    Ok(())
}

/// The in-use inodes (the root directory and every inode from 11 on that is
/// not listed free) from dumpe2fs's per-group "Free inodes:" ranges.
pub fn used_inodes(dumpe2fs: &str) -> Option<Vec<u64>> {
    let field = |name: &str| -> Option<u64> {
        dumpe2fs
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    let count = field("Inode count:")?;
    let first = field("First inode:").unwrap_or(11);
    let mut free = vec![false; usize::try_from(count).ok()? + 1];
    let mut groups = 0;
    for l in dumpe2fs.lines() {
        // Group lines are indented; the summary's "Free inodes:" is a count.
        let Some(ranges) = l.strip_prefix("  Free inodes:") else {
            continue;
        };
        groups += 1;
        for r in ranges.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            for i in a..=b.min(count) {
                free[usize::try_from(i).ok()?] = true;
            }
        }
    }
    if groups == 0 {
        return None;
    }
    let mut used = vec![2];
    used.extend((first..=count).filter(|&i| !free[i as usize]));
    Some(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_inodes_are_the_complement_of_free_ranges() {
        let d = "Inode count:              32\nFree inodes:              27\n\
                 First inode:              11\n\
                 Group 0: (Blocks 0-10)\n  Free inodes: 14-16\n\
                 Group 1: (Blocks 11-20)\n  Free inodes: 17, 19-32\n";
        assert_eq!(used_inodes(d).unwrap(), vec![2, 11, 12, 13, 18]);
        assert!(used_inodes("Inode count: 3\n").is_none());
    }

    #[test]
    fn fstab_mounts_by_partuuid_only() {
        let ids = DiskIds::from_seed(&[1; 32]);
        let f = fstab(&ids);
        assert!(f.contains(&format!(
            "PARTUUID={} / ext4 rw,x-systemd.growfs",
            ids.root_part
        )));
        assert!(f.contains(&format!("PARTUUID={} /efi vfat", ids.esp_part)));
        assert!(!f.contains("/dev/"));
    }

    #[test]
    fn usage_counts_hard_links_once() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a"), vec![1u8; 5000]).unwrap();
        fs::hard_link(d.path().join("a"), d.path().join("b")).unwrap();
        std::os::unix::fs::symlink("a", d.path().join("s")).unwrap();
        let u = usage(d.path()).unwrap();
        // The directory, one file of two blocks, one inline symlink.
        assert_eq!(u.inodes, 3);
        assert_eq!(u.data_blocks, 1 + 2);
    }
}
