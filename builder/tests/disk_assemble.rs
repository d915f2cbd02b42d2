//! Assembling a disk from a small tree with the real tools, then reading it
//! back with sfdisk, e2fsck, fsck.fat, mtools and debugfs.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use softap_build::disk::esp::{BootChain, SIGNED_MOK_MANAGER, SIGNED_SHIM, SIGNED_SYSTEMD_BOOT};
use softap_build::disk::{assemble, DiskError, DiskInputs, DiskReport};

use common::require;

const EPOCH: u64 = 1_700_000_000;

/// A tiny root tree with what a disk needs (fake kernel and initrd).
fn tree(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for d in [
        "boot",
        "usr/lib/systemd/boot/efi",
        "usr/bin",
        "etc",
        "var/lib/empty",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(
        root.join("boot/vmlinuz-6.1.0-9-amd64"),
        vec![0x4du8; 300_000],
    )
    .unwrap();
    fs::write(
        root.join("boot/initrd.img-6.1.0-9-amd64"),
        vec![0x1fu8; 700_000],
    )
    .unwrap();
    fs::write(
        root.join("usr/lib/systemd/boot/efi/systemd-bootx64.efi"),
        b"MZ fake systemd-boot",
    )
    .unwrap();
    fs::write(root.join("usr/bin/hello"), b"#!/bin/sh\necho hello\n").unwrap();
    fs::hard_link(root.join("usr/bin/hello"), root.join("usr/bin/hello2")).unwrap();
    std::os::unix::fs::symlink("hello", root.join("usr/bin/hi")).unwrap();
    fs::write(root.join("etc/machine-id"), b"").unwrap();
    root
}

fn build(dir: &Path, name: &str, size: Option<u64>) -> (PathBuf, DiskReport) {
    let scratch = dir.join(format!("{name}.tree"));
    fs::create_dir_all(&scratch).unwrap();
    let root = tree(&scratch);
    let out = dir.join(format!("{name}.raw"));
    let esp_files = vec![(
        "softap.toml".to_owned(),
        b"[ap]\nssid = \"softap\"\n".to_vec(),
    )];
    let report = assemble(&DiskInputs {
        root_tree: &root,
        esp_files: &esp_files,
        out: &out,
        seed: &[42; 32],
        source_date_epoch: EPOCH,
        size,
    })
    .expect("assemble");
    (out, report)
}

fn output(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn disk_is_valid_bootable_layout_and_reproducible() {
    let sfdisk = require("sfdisk", "fdisk");
    let e2fsck = require("e2fsck", "e2fsprogs");
    let debugfs = require("debugfs", "e2fsprogs");
    let fsck_fat = require("fsck.fat", "dosfstools");
    let mtype = require("mtype", "mtools");
    let d = tempfile::tempdir().unwrap();
    let (a, report) = build(d.path(), "a", None);

    // The GPT: ESP then an x86-64 root, ids as reported.
    let dump = output(Command::new(&sfdisk).arg("--dump").arg(&a));
    assert!(dump.contains("label: gpt"), "{dump}");
    let lines: Vec<&str> = dump.lines().filter(|l| l.contains("start=")).collect();
    assert_eq!(lines.len(), 2, "{dump}");
    assert!(
        lines[0].contains(
            "start=        2048, size=      524288, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
        ),
        "{dump}"
    );
    assert!(
        lines[1].contains("type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"),
        "{dump}"
    );
    assert!(
        lines[1].to_lowercase().contains(&report.root_partuuid),
        "{dump}"
    );
    assert!(
        lines[0].to_lowercase().contains(&report.esp_partuuid),
        "{dump}"
    );
    // The image is sparse: far less allocated than its size.
    assert_eq!(report.size, fs::metadata(&a).unwrap().len());
    assert!(report.allocated < report.size / 4, "{report:?}");

    // The root filesystem checks clean and holds the tree, fstab and /efi.
    let dev = format!("{}?offset={}", a.display(), report.root.start);
    output(Command::new(&e2fsck).args(["-fn", &dev]));
    let fstab = output(Command::new(&debugfs).args(["-R", "cat /etc/fstab", &dev]));
    assert!(
        fstab.contains(&format!("PARTUUID={} / ext4", report.root_partuuid)),
        "{fstab}"
    );
    assert!(
        fstab.contains(&format!("PARTUUID={} /efi vfat", report.esp_partuuid)),
        "{fstab}"
    );
    let stat = output(Command::new(&debugfs).args(["-R", "stat /usr/bin/hello", &dev]));
    assert!(stat.contains("Links: 2"), "hard link lost: {stat}");
    for field in [
        " ctime: 0x6553f100",
        " atime: 0x6553f100",
        " mtime: 0x6553f100",
    ] {
        assert!(
            stat.contains(field),
            "{field} not SOURCE_DATE_EPOCH: {stat}"
        );
    }
    let efi = output(Command::new(&debugfs).args(["-R", "stat /efi", &dev]));
    assert!(efi.contains("Type: directory"), "{efi}");

    // The ESP: FAT32 that fsck accepts, with the loader, entry and softap.toml.
    let esp_copy = d.path().join("esp.img");
    let bytes = fs::read(&a).unwrap();
    let esp = &bytes[report.esp.start as usize..report.esp.end() as usize];
    fs::write(&esp_copy, esp).unwrap();
    output(Command::new(&fsck_fat).arg("-n").arg(&esp_copy));
    assert_eq!(&esp[82..90], b"FAT32   ");
    let target = format!("{}@@{}", a.display(), report.esp.start);
    let mt = |p: &str| output(Command::new(&mtype).args(["-i", &target, p]));
    let entry = mt("::/loader/entries/softap.conf");
    assert!(
        entry.contains(&format!("root=PARTUUID={} rw", report.root_partuuid)),
        "{entry}"
    );
    assert!(
        entry.trim_end().ends_with("console=ttyS0,115200"),
        "{entry}"
    );
    let loader_conf = mt("::/loader/loader.conf");
    assert!(loader_conf.contains("default softap.conf"), "{loader_conf}");
    assert!(
        loader_conf.lines().any(|l| l == "editor no"),
        "{loader_conf}"
    );
    assert_eq!(report.boot_chain, BootChain::Unsigned);
    assert_eq!(mt("::/EFI/BOOT/BOOTX64.EFI"), "MZ fake systemd-boot");
    assert_eq!(
        mt("::/EFI/systemd/systemd-bootx64.efi"),
        "MZ fake systemd-boot"
    );
    assert_eq!(mt("::/softap.toml"), "[ap]\nssid = \"softap\"\n");
    assert_eq!(mt("::/softap/vmlinuz").len(), 300_000);
    assert_eq!(report.kernel, "6.1.0-9-amd64");

    // Nothing names a disk by its kernel name.
    let grep = Command::new("grep")
        .args(["-q", "-a", "-e", "/dev/vd", "-e", "/dev/sd"])
        .arg(&a)
        .status()
        .unwrap();
    assert_eq!(grep.code(), Some(1), "the image names /dev/vd* or /dev/sd*");

    // A second build from a freshly made tree (other ctimes) is identical.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (b, _) = build(d.path(), "b", None);
    let second = fs::read(&b).unwrap();
    if second != bytes {
        let diffs: Vec<usize> = (0..bytes.len().min(second.len()))
            .filter(|&i| bytes[i] != second[i])
            .take(16)
            .collect();
        panic!(
            "two builds differ at {diffs:?} (ESP {:?}, root {:?})",
            report.esp, report.root
        );
    }
}

/// With the signed chain in the tree (as the Debian base's `esp_packages`
/// unpack it), `EFI/BOOT` holds shim, systemd-boot as `grubx64.efi` and
/// MokManager, and nothing else: no fallback loader, no unsigned copy.
#[test]
fn signed_chain_fills_efi_boot_with_shim_systemd_boot_and_mok_manager_only() {
    let mdir = require("mdir", "mtools");
    let mtype = require("mtype", "mtools");
    let d = tempfile::tempdir().unwrap();
    let scratch = d.path().join("signed.tree");
    fs::create_dir_all(&scratch).unwrap();
    let root = tree(&scratch);
    for (rel, body) in [
        (SIGNED_SHIM, "MZ signed shim"),
        (SIGNED_SYSTEMD_BOOT, "MZ signed systemd-boot"),
        (SIGNED_MOK_MANAGER, "MZ signed MokManager"),
        // Also in shim-helpers-amd64-signed; must stay off the stick.
        (
            "boot/efi-signed/usr/lib/shim/fbx64.efi.signed",
            "MZ fallback",
        ),
    ] {
        fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
        fs::write(root.join(rel), body).unwrap();
    }
    let out = d.path().join("signed.raw");
    let report = assemble(&common::plain_disk(&root, &out)).expect("assemble");
    assert_eq!(report.boot_chain, BootChain::Signed);
    let target = format!("{}@@{}", out.display(), report.esp.start);
    let mut boot: Vec<String> =
        output(Command::new(&mdir).args(["-b", "-i", &target, "::/EFI/BOOT"]))
            .lines()
            .filter_map(|l| l.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
    boot.sort();
    assert_eq!(boot, ["BOOTX64.EFI", "grubx64.efi", "mmx64.efi"]);
    let efi: String = output(Command::new(&mdir).args(["-b", "-i", &target, "::/EFI"]));
    assert!(
        !efi.contains("systemd"),
        "an unsigned loader is on the ESP: {efi}"
    );
    let mt = |p: &str| output(Command::new(&mtype).args(["-i", &target, p]));
    assert_eq!(mt("::/EFI/BOOT/BOOTX64.EFI"), "MZ signed shim");
    assert_eq!(mt("::/EFI/BOOT/grubx64.efi"), "MZ signed systemd-boot");
    assert_eq!(mt("::/EFI/BOOT/mmx64.efi"), "MZ signed MokManager");
    assert!(mt("::/loader/loader.conf")
        .lines()
        .any(|l| l == "editor no"));

    // shim without the systemd-boot it chain-loads is refused, naming it.
    fs::remove_file(root.join(SIGNED_SYSTEMD_BOOT)).unwrap();
    fs::remove_file(&out).unwrap();
    let e = assemble(&common::plain_disk(&root, &out)).unwrap_err();
    // The missing file is named somewhere in the error's chain of causes.
    let mut chain = Vec::new();
    let mut cause: Option<&dyn std::error::Error> = Some(&e);
    while let Some(c) = cause {
        chain.push(c.to_string());
        cause = c.source();
    }
    assert!(
        chain
            .iter()
            .any(|c| c.contains("systemd-bootx64.efi.signed")),
        "{chain:?}"
    );
    assert!(!out.exists());
}

#[test]
fn fixed_size_and_refusals() {
    let d = tempfile::tempdir().unwrap();
    let (img, report) = build(d.path(), "big", Some(1 << 30));
    assert_eq!(fs::metadata(&img).unwrap().len(), 1 << 30);
    // Readable by all, as the OCI archive is.
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&img).unwrap().permissions())
            & 0o7777,
        0o644
    );
    assert_eq!(report.root.end(), (1 << 30) - (1 << 20));

    let scratch = d.path().join("small.tree");
    fs::create_dir_all(&scratch).unwrap();
    let root = tree(&scratch);
    let out = d.path().join("small.raw");
    let inputs = |size| DiskInputs {
        root_tree: &root,
        esp_files: &[],
        out: &out,
        seed: &[1; 32],
        source_date_epoch: EPOCH,
        size,
    };
    let e = assemble(&inputs(Some(300 << 20))).unwrap_err();
    assert!(matches!(e, DiskError::TooSmall { .. }), "{e}");
    fs::remove_file(root.join("boot/initrd.img-6.1.0-9-amd64")).unwrap();
    let e = assemble(&inputs(None)).unwrap_err();
    assert!(matches!(e, DiskError::NoKernel), "{e}");
    assert!(e.to_string().contains("linux-image-amd64"));
    // Without /boot at all, the same: the base has no kernel (not an I/O
    // error naming the scratch tree).
    let boot = d.path().join("boot.away");
    fs::rename(root.join("boot"), &boot).unwrap();
    let e = assemble(&inputs(None)).unwrap_err();
    assert!(matches!(e, DiskError::NoKernel), "{e}");
    assert!(e.to_string().starts_with("no kernel in the base"), "{e}");
    assert!(
        !e.to_string().contains(&d.path().display().to_string()),
        "{e}"
    );
    fs::rename(&boot, root.join("boot")).unwrap();
    let e = assemble(&DiskInputs {
        esp_files: &[("../x".to_owned(), vec![])],
        ..inputs(None)
    })
    .unwrap_err();
    assert!(matches!(
        e,
        DiskError::NoKernel | DiskError::BadEspPath { .. }
    ));
    // Refusals write nothing, not even a temporary file.
    assert!(!out.exists());
    let leftovers: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".softap-disk"))
        .collect();
    assert!(leftovers.is_empty());
}
