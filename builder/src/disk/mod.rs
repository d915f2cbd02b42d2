//! The bootable raw disk: GPT, an EFI system partition with systemd-boot and
//! a root partition, assembled in one file without root, loop devices or mounts.
//!
//! Every tool writes at an offset inside the one sparse image file: sfdisk
//! the GPT, mkfs.fat and mtools the ESP, mkfs.ext4 (`-d`) and debugfs the root.
//! Ids derive from `seed` and every time from SOURCE_DATE_EPOCH, so the same
//! inputs give the same bytes.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub mod esp;
pub mod ext4;
pub mod gpt;
pub mod ids;
pub mod layout;

use crate::host::{self, HostError, Tool};
use crate::scratch;

/// What the disk is made of.
#[derive(Debug)]
pub struct DiskInputs<'a> {
    /// The merged root tree (every disk layer unpacked, `/boot` with the
    /// kernel and initrd included), owned as it will be on the disk.
    /// `assemble` writes the disk's `/etc/fstab` and `/efi` into it and sets
    /// its atimes and mtimes (clamped to SOURCE_DATE_EPOCH): pass a scratch copy.
    pub root_tree: &'a Path,
    /// Extra files for the ESP, by path on the ESP (e.g. `softap.toml`).
    pub esp_files: &'a [(String, Vec<u8>)],
    /// Where the image goes; written to a temporary file and renamed.
    pub out: &'a Path,
    /// Seed for partition and filesystem UUIDs (the image digest), so the same
    /// inputs give the same bytes.
    pub seed: &'a [u8; 32],
    pub source_date_epoch: u64,
    /// Total size in bytes; `None` fits the content with some headroom.
    pub size: Option<u64>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct DiskReport {
    /// Apparent size of the image file.
    pub size: u64,
    /// Bytes really allocated (the image is sparse).
    pub allocated: u64,
    pub root_partuuid: String,
    pub esp_partuuid: String,
    /// Byte ranges of the partitions in the image.
    pub esp: layout::Extent,
    pub root: layout::Extent,
    /// The kernel version booted by the loader entry.
    pub kernel: String,
    /// Whether the ESP boots through shim (Secure Boot) or plain systemd-boot.
    pub boot_chain: esp::BootChain,
}

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot understand the output of `{what}`")]
    Parse { what: String },
    // The root tree is a scratch copy under the output directory: its path
    // would tell the user nothing, so the message names the base instead.
    #[error("no kernel in the base: the disk needs /boot/vmlinuz-VERSION and /boot/initrd.img-VERSION (add linux-image-amd64 and initramfs-tools to disk_packages)")]
    NoKernel,
    // Named by their path in the base: the root tree is a scratch copy.
    #[error("no boot loader in the base: the disk needs /{} (systemd-boot-efi in packages) or the signed chain under /{} (shim-signed, shim-helpers-amd64-signed and systemd-boot-efi-amd64-signed in esp_packages)", esp::SYSTEMD_BOOT, esp::SIGNED_DIR)]
    NoBootloader,
    #[error("ESP file {path:?}: must be a relative path of plain FAT-safe names")]
    BadEspPath { path: String },
    #[error("a disk of {size} bytes is too small: the content needs {needed} bytes")]
    TooSmall { size: u64, needed: u64 },
    #[error("the root tree's boot files")]
    OutsideTree(#[from] crate::layer::LayerError),
}

/// Every host program assembling a disk runs.
pub const REQUIRED: &[Tool] = &[
    gpt::SFDISK,
    esp::MKFS_FAT,
    esp::MMD,
    esp::MCOPY,
    ext4::MKFS_EXT4,
    ext4::DUMPE2FS,
    ext4::DEBUGFS,
];

/// Fails naming every missing host tool (and its package); call it before
/// slow steps so a missing mtools is not found after minutes of mmdebstrap.
pub fn check_tools() -> Result<(), DiskError> {
    Ok(host::require(REQUIRED)?)
}

pub fn assemble(inputs: &DiskInputs<'_>) -> Result<DiskReport, DiskError> {
    check_tools()?;
    // Everything that can be refused is checked before anything is written.
    let kernel = esp::find_kernel(&inputs.root_tree.join("boot"))?;
    let chain = esp::boot_chain(inputs.root_tree);
    if chain == esp::BootChain::Unsigned && !inputs.root_tree.join(esp::SYSTEMD_BOOT).exists() {
        return Err(DiskError::NoBootloader);
    }
    // These are copied onto the ESP by path: each must be the tree's own
    // file, not a link to one of the build host's (a missing one of the
    // signed chain is refused here too).
    let loaders = esp::loader_files(chain)
        .into_iter()
        .map(|(_, rel)| rel.to_owned());
    for rel in [
        format!("boot/vmlinuz-{}", kernel.version),
        format!("boot/initrd.img-{}", kernel.version),
    ]
    .into_iter()
    .chain(loaders)
    {
        crate::unpack::regular_file_inside(inputs.root_tree, &rel)?;
    }
    let extra: Vec<(Vec<String>, &[u8])> = inputs
        .esp_files
        .iter()
        .map(|(p, data)| Ok((esp::esp_path(p)?, data.as_slice())))
        .collect::<Result<_, DiskError>>()?;

    let ids = ids::DiskIds::from_seed(inputs.seed);
    let usage = ext4::usage(inputs.root_tree)?;
    let needed = layout::root_size_for(usage);
    let layout = match inputs.size {
        None => layout::layout(needed),
        Some(size) => layout::layout_for_total(size, needed).ok_or(DiskError::TooSmall {
            size,
            needed: layout::layout(needed).total,
        })?,
    };

    let out_dir = match inputs.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DiskError::Io { path, source }
    };
    // Locked and registered, so an interrupted build's are removed (see
    // `scratch.rs`).
    let work = scratch::dir_in(out_dir, ".softap-disk.").map_err(io(out_dir))?;
    let image = scratch::file_in(out_dir, ".softap-disk.", ".raw.partial").map_err(io(out_dir))?;
    image
        .as_file()
        .set_len(layout.total)
        .map_err(io(image.path()))?;

    gpt::write(image.path(), &layout, &ids)?;

    // Files the ESP gets besides the kernel and loader, staged to copy.
    let staged = work.path().join("esp");
    fs::create_dir(&staged).map_err(io(&staged))?;
    let write_staged = |name: &str, data: &[u8]| -> Result<PathBuf, DiskError> {
        let p = staged.join(name);
        fs::write(&p, data).map_err(io(&p))?;
        Ok(p)
    };
    write_staged("loader.conf", esp::loader_conf().as_bytes())?;
    write_staged(
        "softap.conf",
        esp::loader_entry(&kernel, &ids.root_part).as_bytes(),
    )?;
    let mut files = esp::plan_files(inputs.root_tree, chain, &kernel, &staged);
    for (i, (dest, data)) in extra.iter().enumerate() {
        files.push((dest.clone(), write_staged(&format!("extra-{i}"), data)?));
    }
    esp::build(
        image.path(),
        layout.esp,
        &ids,
        &files,
        inputs.source_date_epoch,
    )?;

    ext4::prepare_tree(inputs.root_tree, &ids, inputs.source_date_epoch)?;
    ext4::build(
        image.path(),
        layout.root,
        &ids,
        inputs.root_tree,
        work.path(),
        inputs.source_date_epoch,
    )?;

    // tempfile creates 0600; the disk is for other users and tools too, like
    // the OCI archive.
    image
        .as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(io(image.path()))?;
    image.as_file().sync_all().map_err(io(image.path()))?;
    let meta = image.as_file().metadata().map_err(io(image.path()))?;
    image.persist(inputs.out).map_err(io(inputs.out))?;
    if let Ok(d) = fs::File::open(out_dir) {
        let _ = d.sync_all();
    }
    Ok(DiskReport {
        size: meta.len(),
        allocated: meta.blocks() * 512,
        root_partuuid: ids.root_part,
        esp_partuuid: ids.esp_part,
        esp: layout.esp,
        root: layout.root,
        kernel: kernel.version,
        boot_chain: chain,
    })
}
