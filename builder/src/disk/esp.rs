//! The EFI system partition: FAT32 made by mkfs.fat at its offset in the
//! image, filled with mtools (`-i image@@offset`), no mount.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use super::ids::DiskIds;
use super::layout::{Extent, SECTOR};
use super::DiskError;
use crate::host::{run, Tool};

pub const MKFS_FAT: Tool = Tool::new("mkfs.fat", "dosfstools");
pub const MMD: Tool = Tool::new("mmd", "mtools");
pub const MCOPY: Tool = Tool::new("mcopy", "mtools");

/// Where systemd-boot-efi installs the loader in the root tree.
pub const SYSTEMD_BOOT: &str = "usr/lib/systemd/boot/efi/systemd-bootx64.efi";

/// Where a base puts the signed boot chain for the ESP (kernel content, so
/// the OCI image never gets it).
pub const SIGNED_DIR: &str = crate::layer::SIGNED_BOOT_DIR;
/// shim, signed by Microsoft's UEFI CAs (`shim-signed`).
pub const SIGNED_SHIM: &str = "boot/efi-signed/usr/lib/shim/shimx64.efi.signed";
/// MokManager, which shim runs to enrol a key (`shim-helpers-amd64-signed`).
pub const SIGNED_MOK_MANAGER: &str = "boot/efi-signed/usr/lib/shim/mmx64.efi.signed";
/// systemd-boot signed by Debian, whose CA shim embeds
/// (`systemd-boot-efi-amd64-signed`).
pub const SIGNED_SYSTEMD_BOOT: &str =
    "boot/efi-signed/usr/lib/systemd/boot/efi/systemd-bootx64.efi.signed";

/// How the firmware reaches systemd-boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootChain {
    /// shim at the removable-media path, systemd-boot as the `grubx64.efi`
    /// shim always chain-loads from its own directory: boots with Secure Boot
    /// enforced on any machine that trusts Microsoft's UEFI CA. No
    /// `fbx64.efi`/`BOOTX64.CSV`: with them shim runs its fallback loader,
    /// which writes boot entries into the NVRAM of every machine the stick is
    /// plugged into.
    Signed,
    /// The unsigned systemd-boot at the removable-media path: only with
    /// Secure Boot off (bases without the signed chain).
    Unsigned,
}

/// The signed chain when the tree has shim, else plain systemd-boot.
pub fn boot_chain(root_tree: &Path) -> BootChain {
    if root_tree.join(SIGNED_SHIM).exists() {
        BootChain::Signed
    } else {
        BootChain::Unsigned
    }
}

/// The boot loader files of `chain`: (path components on the ESP, path in the
/// root tree).
pub fn loader_files(chain: BootChain) -> Vec<(Vec<String>, &'static str)> {
    let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    match chain {
        BootChain::Signed => vec![
            (v(&["EFI", "BOOT", "BOOTX64.EFI"]), SIGNED_SHIM),
            (v(&["EFI", "BOOT", "grubx64.efi"]), SIGNED_SYSTEMD_BOOT),
            (v(&["EFI", "BOOT", "mmx64.efi"]), SIGNED_MOK_MANAGER),
        ],
        BootChain::Unsigned => vec![
            (v(&["EFI", "BOOT", "BOOTX64.EFI"]), SYSTEMD_BOOT),
            (v(&["EFI", "systemd", "systemd-bootx64.efi"]), SYSTEMD_BOOT),
        ],
    }
}

/// The kernel and initrd found in the root tree's `/boot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    pub version: String,
    pub vmlinuz: PathBuf,
    pub initrd: PathBuf,
}

/// The newest kernel in `boot` that has an initrd beside it.
pub fn find_kernel(boot: &Path) -> Result<Kernel, DiskError> {
    let io = |source| DiskError::Io {
        path: boot.to_owned(),
        source,
    };
    let entries = match fs::read_dir(boot) {
        // A base without /boot has no kernel either.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(DiskError::NoKernel),
        r => r.map_err(io)?,
    };
    let mut versions = Vec::new();
    for e in entries {
        let name = e.map_err(io)?.file_name().to_string_lossy().into_owned();
        if let Some(v) = name.strip_prefix("vmlinuz-") {
            if boot.join(format!("initrd.img-{v}")).is_file() {
                versions.push(v.to_owned());
            }
        }
    }
    versions.sort_by(|a, b| version_cmp(a, b));
    let version = versions.pop().ok_or(DiskError::NoKernel)?;
    Ok(Kernel {
        vmlinuz: boot.join(format!("vmlinuz-{version}")),
        initrd: boot.join(format!("initrd.img-{version}")),
        version,
    })
}

/// Compares kernel versions by their numeric runs (6.1.0-10 after 6.1.0-9).
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<Result<u64, String>> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut digits = false;
        for c in s.chars() {
            if !cur.is_empty() && c.is_ascii_digit() != digits {
                out.push(if digits {
                    Ok(cur.parse().unwrap_or(u64::MAX))
                } else {
                    Err(std::mem::take(&mut cur))
                });
                cur.clear();
            }
            digits = c.is_ascii_digit();
            cur.push(c);
        }
        if !cur.is_empty() {
            out.push(if digits {
                Ok(cur.parse().unwrap_or(u64::MAX))
            } else {
                Err(cur)
            });
        }
        out
    }
    parts(a).cmp(&parts(b))
}

/// `loader/loader.conf`: boot the one entry at once (hold a key for the
/// menu). No editor: systemd-boot has shim verify the kernel, but not the
/// command line or the initrd, so an editor would let anyone at the console
/// boot `init=/bin/sh` past Secure Boot.
pub fn loader_conf() -> String {
    "default softap.conf\ntimeout 0\neditor no\n".to_owned()
}

/// What the stick's kernel command line adds for an appliance nobody
/// watches (docs/recovery.md): reboot 10 s after a panic; an oops panics
/// (a Wi-Fi driver's oops tends to leave the radio dead and the system up);
/// systemd arms the hardware watchdog (30 s), which a container never does:
/// its systemd reads its own command line, not the kernel's.
pub const RECOVERY_OPTIONS: &str = "panic=10 oops=panic systemd.watchdog_sec=30";

/// `loader/entries/softap.conf`. The root is found by PARTUUID, so the stick
/// boots whatever the disk is called; ttyS0 is the last console, where
/// systemd's status goes (the tests read it), tty0 shows it on a screen too.
pub fn loader_entry(kernel: &Kernel, root_partuuid: &str) -> String {
    format!(
        "title softap\n\
         version {v}\n\
         linux /softap/vmlinuz\n\
         initrd /softap/initrd.img\n\
         options root=PARTUUID={root_partuuid} rw {RECOVERY_OPTIONS} console=tty0 console=ttyS0,115200\n",
        v = kernel.version
    )
}

/// Validates a path given for a file on the ESP: relative, plain components.
pub fn esp_path(p: &str) -> Result<Vec<String>, DiskError> {
    let bad = || DiskError::BadEspPath { path: p.to_owned() };
    let mut out = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => {
                let s = s.to_str().ok_or_else(bad)?;
                if s.contains(['"', '\\', ':', '*', '?', '<', '>', '|']) {
                    return Err(bad());
                }
                out.push(s.to_owned());
            }
            Component::CurDir => {}
            _ => return Err(bad()),
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Every file of the ESP: (path components on the ESP, source file).
pub fn plan_files(
    root_tree: &Path,
    chain: BootChain,
    kernel: &Kernel,
    staged: &Path,
) -> Vec<(Vec<String>, PathBuf)> {
    let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let mut files: Vec<(Vec<String>, PathBuf)> = loader_files(chain)
        .into_iter()
        .map(|(dest, rel)| (dest, root_tree.join(rel)))
        .collect();
    files.extend([
        (v(&["loader", "loader.conf"]), staged.join("loader.conf")),
        (
            v(&["loader", "entries", "softap.conf"]),
            staged.join("softap.conf"),
        ),
        (v(&["softap", "vmlinuz"]), kernel.vmlinuz.clone()),
        (v(&["softap", "initrd.img"]), kernel.initrd.clone()),
    ]);
    files
}

/// Formats the ESP inside `image` and copies `files` onto it.
pub fn build(
    image: &Path,
    part: Extent,
    ids: &DiskIds,
    files: &[(Vec<String>, PathBuf)],
    source_date_epoch: u64,
) -> Result<(), DiskError> {
    let start = (part.start / SECTOR).to_string();
    run(
        MKFS_FAT
            .command()?
            .env("SOURCE_DATE_EPOCH", source_date_epoch.to_string())
            .args([
                "-F",
                "32",
                "-s",
                "1",
                "-S",
                "512",
                "-n",
                "ESP",
                "--invariant",
            ])
            .args(["-i", &format!("{:08X}", ids.esp_volume)])
            .args(["-h", &start, "--offset", &start])
            .arg(image)
            .arg((part.size / 1024).to_string()),
        None,
    )?;
    let target = format!("{}@@{}", image.display(), part.start);
    let mtool = |tool: &Tool| -> Result<Command, DiskError> {
        let mut c = tool.command()?;
        c.env("SOURCE_DATE_EPOCH", source_date_epoch.to_string())
            .env("TZ", "UTC")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-i", &target]);
        Ok(c)
    };
    // Directories first, each once, in sorted order so the FAT's directory
    // entries come out the same every time.
    let mut dirs: Vec<Vec<String>> = files
        .iter()
        .flat_map(|(p, _)| (1..p.len()).map(|n| p[..n].to_vec()))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        run(mtool(&MMD)?.arg(format!("::/{}", d.join("/"))), None)?;
    }
    for (dest, src) in files {
        run(
            mtool(&MCOPY)?
                .arg("-o")
                .arg(src)
                .arg(format!("::/{}", dest.join("/"))),
            None,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_kernel_with_an_initrd_wins() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "vmlinuz-6.1.0-9-amd64",
            "initrd.img-6.1.0-9-amd64",
            "vmlinuz-6.1.0-10-amd64",
            "initrd.img-6.1.0-10-amd64",
            "vmlinuz-6.2.0-1-amd64",
            "config-6.2.0-1-amd64",
        ] {
            fs::write(d.path().join(f), f).unwrap();
        }
        let k = find_kernel(d.path()).unwrap();
        assert_eq!(k.version, "6.1.0-10-amd64");
        assert!(k.initrd.ends_with("initrd.img-6.1.0-10-amd64"));
    }

    #[test]
    fn no_kernel_is_an_error_naming_the_base_not_the_scratch_tree() {
        let d = tempfile::tempdir().unwrap();
        // An empty /boot, then none at all.
        for boot in [d.path().to_owned(), d.path().join("boot")] {
            let e = find_kernel(&boot).unwrap_err();
            assert!(matches!(e, DiskError::NoKernel), "{e}");
            let e = e.to_string();
            assert!(e.starts_with("no kernel in the base: "), "{e}");
            assert!(!e.contains(&d.path().display().to_string()), "{e}");
        }
    }

    #[test]
    fn entry_boots_by_partuuid_with_serial_last() {
        let k = Kernel {
            version: "6.1".into(),
            vmlinuz: "/b/v".into(),
            initrd: "/b/i".into(),
        };
        let e = loader_entry(&k, "abc");
        let options = e.lines().find(|l| l.starts_with("options ")).unwrap();
        assert_eq!(
            options,
            "options root=PARTUUID=abc rw panic=10 oops=panic systemd.watchdog_sec=30 \
             console=tty0 console=ttyS0,115200"
        );
        assert!(!e.contains("/dev/"));
    }

    #[test]
    fn signed_chain_is_shim_then_systemd_boot_as_grub_and_no_fallback() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(boot_chain(d.path()), BootChain::Unsigned);
        let shim = d.path().join(SIGNED_SHIM);
        fs::create_dir_all(shim.parent().unwrap()).unwrap();
        fs::write(&shim, b"MZ").unwrap();
        assert_eq!(boot_chain(d.path()), BootChain::Signed);

        let files = loader_files(BootChain::Signed);
        let in_boot: Vec<String> = files
            .iter()
            .filter(|(p, _)| p[..2] == ["EFI", "BOOT"])
            .map(|(p, _)| p[2].clone())
            .collect();
        assert_eq!(in_boot, ["BOOTX64.EFI", "grubx64.efi", "mmx64.efi"]);
        assert_eq!(files.len(), 3, "only EFI/BOOT: {files:?}");
        assert_eq!(files[0].1, SIGNED_SHIM);
        assert_eq!(files[1].1, SIGNED_SYSTEMD_BOOT);
        for (_, rel) in &files {
            assert!(rel.starts_with(&format!("{SIGNED_DIR}/")), "{rel}");
        }
        assert!(loader_conf().lines().any(|l| l == "editor no"));
    }

    #[test]
    fn esp_paths_must_stay_inside() {
        assert_eq!(esp_path("softap.toml").unwrap(), vec!["softap.toml"]);
        assert_eq!(esp_path("./a/b.txt").unwrap(), vec!["a", "b.txt"]);
        for bad in ["/etc/x", "../x", "a/../../x", "", "a:b"] {
            assert!(esp_path(bad).is_err(), "{bad}");
        }
    }
}
