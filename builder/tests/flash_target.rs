//! `flash` against a file-backed target described by a fake sysfs: the
//! refusals, then a full flash of a real disk image over a target full of
//! garbage, checked with the filesystem tools and byte comparison, and over
//! a target that held an ISO, checked with `blkid -p`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use softap_build::disk::{assemble, DiskInputs, DiskReport};
use softap_build::flash::{run, FlashError, FlashOptions};

use common::require;

struct Fake {
    _dir: tempfile::TempDir,
    root: PathBuf,
    target: PathBuf,
    sys: PathBuf,
    mountinfo: PathBuf,
}

/// A device `sdz` of `size` bytes: sysfs entries and a target file of that
/// size full of non-zero bytes, so unwritten ranges are not accidentally zero.
fn fake(size: u64, removable: bool) -> Fake {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let block = root.join("sys/class/block/sdz");
    fs::create_dir_all(block.join("device")).unwrap();
    fs::create_dir_all(block.join("holders")).unwrap();
    fs::write(block.join("size"), format!("{}\n", size / 512)).unwrap();
    fs::write(
        block.join("removable"),
        if removable { "1\n" } else { "0\n" },
    )
    .unwrap();
    fs::write(block.join("dev"), "8:208\n").unwrap();
    fs::write(block.join("device/vendor"), "SoftAP  \n").unwrap();
    fs::write(block.join("device/model"), "Test Stick      \n").unwrap();
    let part = block.join("sdz1");
    fs::create_dir_all(&part).unwrap();
    fs::write(part.join("partition"), "1\n").unwrap();
    fs::write(part.join("dev"), "8:209\n").unwrap();
    let target = root.join("sdz");
    let garbage: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8 | 1)
        .collect();
    let f = fs::File::create(&target).unwrap();
    let mut left = size;
    while left > 0 {
        let n = left.min(garbage.len() as u64) as usize;
        std::io::Write::write_all(&mut &f, &garbage[..n]).unwrap();
        left -= n as u64;
    }
    let mountinfo = root.join("mountinfo");
    fs::write(
        &mountinfo,
        "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n",
    )
    .unwrap();
    Fake {
        sys: root.join("sys"),
        _dir: dir,
        root,
        target,
        mountinfo,
    }
}

fn options(f: &Fake, image: &Path) -> FlashOptions {
    FlashOptions {
        yes: true,
        sysfs_root: f.sys.clone(),
        mountinfo: f.mountinfo.clone(),
        allow_regular_file: true,
        progress: false,
        ..FlashOptions::new(image, &f.target)
    }
}

fn digest(p: &Path) -> Vec<u8> {
    Sha256::digest(fs::read(p).unwrap()).to_vec()
}

/// A small sparse image with data at both ends.
fn small_image(dir: &Path) -> PathBuf {
    let p = dir.join("small.raw");
    let f = fs::File::create(&p).unwrap();
    f.set_len(8 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"start", 0).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"EFI PART", 512).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"end", (8 << 20) - 3).unwrap();
    p
}

#[test]
fn refuses_fixed_mounted_small_and_partition_targets() {
    let work = tempfile::tempdir().unwrap();
    let image = small_image(work.path());

    let f = fake(16 << 20, false);
    let before = digest(&f.target);
    let e = run(&options(&f, &image)).unwrap_err();
    assert!(matches!(e, FlashError::NotRemovable { .. }), "{e}");
    assert!(e.to_string().contains("SoftAP Test Stick"), "{e}");
    assert_eq!(digest(&f.target), before);

    let f = fake(16 << 20, true);
    let before = digest(&f.target);
    // Mounted: by device number (a partition), then by source path.
    fs::write(
        &f.mountinfo,
        "40 22 8:209 / /media/stick rw - vfat /dev/disk/by-label/X rw\n",
    )
    .unwrap();
    let e = run(&options(&f, &image)).unwrap_err();
    assert!(
        matches!(e, FlashError::Mounted { ref mountpoint, .. } if mountpoint == "/media/stick"),
        "{e}"
    );
    let part_source = f.root.join("sdz1");
    fs::write(
        &f.mountinfo,
        format!("40 22 0:55 / /mnt rw - ext4 {} rw\n", part_source.display()),
    )
    .unwrap();
    let e = run(&options(&f, &image)).unwrap_err();
    assert!(matches!(e, FlashError::Mounted { .. }), "{e}");
    fs::write(&f.mountinfo, "").unwrap();

    // In use by device-mapper.
    fs::create_dir(f.sys.join("class/block/sdz/holders/dm-0")).unwrap();
    let e = run(&options(&f, &image)).unwrap_err();
    assert!(matches!(e, FlashError::InUse { .. }), "{e}");
    fs::remove_dir(f.sys.join("class/block/sdz/holders/dm-0")).unwrap();

    // A regular file is refused unless asked for (tests only).
    let e = run(&FlashOptions {
        allow_regular_file: false,
        ..options(&f, &image)
    })
    .unwrap_err();
    assert!(matches!(e, FlashError::NotBlockDevice { .. }), "{e}");
    assert_eq!(digest(&f.target), before);

    // Not a disk image (e.g. the OCI archive by mistake).
    let oci = work.path().join("softap.oci.tar");
    fs::write(&oci, vec![0u8; 4096]).unwrap();
    let e = run(&options(&f, &oci)).unwrap_err();
    assert!(matches!(e, FlashError::NotADiskImage { .. }), "{e}");
    assert_eq!(digest(&f.target), before);

    // Too small.
    let f = fake(4 << 20, true);
    let e = run(&options(&f, &image)).unwrap_err();
    assert!(
        matches!(e, FlashError::TooSmall { device_size, image_size, .. } if device_size == 4 << 20 && image_size == 8 << 20),
        "{e}"
    );

    // A partition instead of the disk.
    let f = fake(16 << 20, true);
    let sys_part = f.sys.join("class/block/sdz1");
    std::os::unix::fs::symlink(f.sys.join("class/block/sdz/sdz1"), &sys_part).unwrap();
    fs::write(f.sys.join("class/block/sdz/sdz1/size"), "100\n").unwrap();
    let part = f.root.join("sdz1");
    fs::write(&part, vec![1u8; 1 << 20]).unwrap();
    let e = run(&FlashOptions {
        device: part,
        ..options(&f, &image)
    })
    .unwrap_err();
    assert!(
        matches!(e, FlashError::Partition { ref parent, .. } if parent == "/dev/sdz"),
        "{e}"
    );
}

/// A real disk image: a small tree with a fake kernel.
fn disk_image(work: &Path) -> (PathBuf, DiskReport) {
    let root = work.join("root");
    for d in ["boot", "usr/lib/systemd/boot/efi", "etc"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("boot/vmlinuz-6.1.0-9-amd64"), vec![7u8; 100_000]).unwrap();
    fs::write(
        root.join("boot/initrd.img-6.1.0-9-amd64"),
        vec![9u8; 100_000],
    )
    .unwrap();
    fs::write(
        root.join("usr/lib/systemd/boot/efi/systemd-bootx64.efi"),
        b"MZ",
    )
    .unwrap();
    fs::write(root.join("etc/os-release"), b"ID=debian\n").unwrap();
    let image = work.join("disk.raw");
    let disk = assemble(&DiskInputs {
        root_tree: &root,
        esp_files: &[],
        out: &image,
        seed: &[3; 32],
        source_date_epoch: 1_700_000_000,
        size: None,
    })
    .unwrap();

    (image, disk)
}

#[test]
fn flashes_only_data_and_verifies() {
    for (p, pkg) in [
        ("sfdisk", "fdisk"),
        ("e2fsck", "e2fsprogs"),
        ("fsck.fat", "dosfstools"),
    ] {
        require(p, pkg);
    }
    let work = tempfile::tempdir().unwrap();
    let (image, disk) = disk_image(work.path());

    let f = fake(disk.size + (64 << 20), true);
    let report = run(&options(&f, &image)).expect("flash");
    assert_eq!(report.image_size, disk.size);
    assert_eq!(report.model, "SoftAP Test Stick");
    assert!(report.ranges >= 3, "{report:?}");
    // Only the data was written: much less than the image.
    assert!(report.written < disk.size / 4, "{report:?}");
    // The root's journal (16 MiB) is written as zeros, not skipped.
    assert!(report.written >= 16 << 20, "{report:?}");

    // The target reads as the same disk, garbage in the holes notwithstanding.
    let dump = |p: &Path| {
        let o = Command::new("sfdisk")
            .arg("--dump")
            .arg(p)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout)
            .unwrap()
            .replace(&p.display().to_string(), "DISK")
    };
    assert_eq!(dump(&f.target), dump(&image));
    let fsck = Command::new("e2fsck")
        .arg("-fn")
        .arg(format!("{}?offset={}", f.target.display(), disk.root.start))
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "e2fsck on the flashed target: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    let bytes = fs::read(&f.target).unwrap();
    let esp = work.path().join("esp.img");
    fs::write(
        &esp,
        &bytes[disk.esp.start as usize..disk.esp.end() as usize],
    )
    .unwrap();
    let fsck = Command::new("fsck.fat")
        .arg("-n")
        .arg(&esp)
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "fsck.fat on the flashed ESP: {}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    // Past the image the target is untouched but for its last MiB, where a
    // backup GPT or another signature may lie: that is zeroed.
    let last_mib = bytes.len() - (1 << 20);
    assert!(bytes[disk.size as usize..last_mib].iter().all(|&b| b != 0));
    assert!(bytes[last_mib..].iter().all(|&b| b == 0));
    assert_eq!(report.zeroed, 1 << 20, "{report:?}");
}

/// `blkid -p -o export` of a file: every signature found by low-level
/// probing (exit status 2 means none).
fn blkid(p: &Path) -> String {
    let o = Command::new("blkid")
        .args(["-p", "-o", "export"])
        .arg(p)
        .output()
        .unwrap();
    format!(
        "status {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_stick_that_held_an_iso_keeps_no_old_signature() {
    for (p, pkg) in [("xorriso", "xorriso"), ("blkid", "util-linux")] {
        require(p, pkg);
    }
    let work = tempfile::tempdir().unwrap();
    let (image, disk) = disk_image(work.path());

    // The stick held an ISO (a live image, say) before.
    let content = work.path().join("iso-content");
    fs::create_dir(&content).unwrap();
    fs::write(content.join("README.TXT"), b"an old live image\n").unwrap();
    let iso = work.path().join("old.iso");
    let o = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", "OLD_LIVE", "-o"])
        .arg(&iso)
        .arg(&content)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f = fake(disk.size + (64 << 20), true);
    let iso_bytes = fs::read(&iso).unwrap();
    std::os::unix::fs::FileExt::write_all_at(
        &fs::OpenOptions::new().write(true).open(&f.target).unwrap(),
        &iso_bytes,
        0,
    )
    .unwrap();
    let before = blkid(&f.target);
    assert!(before.contains("TYPE=iso9660"), "{before}");

    run(&options(&f, &image)).expect("flash");
    let after = blkid(&f.target);
    assert!(after.starts_with("status Some(0)"), "{after}");
    assert!(after.contains("PTTYPE=gpt"), "{after}");
    assert!(!after.contains("iso9660"), "{after}");
    assert!(!after.contains("\nTYPE="), "{after}");
}
