//! The bootable raw disk: GPT, an EFI system partition with systemd-boot and
//! a root partition, assembled in one file without root, loop devices or mounts.

use std::path::Path;

/// What the disk is made of.
#[derive(Debug)]
pub struct DiskInputs<'a> {
    /// The merged root tree (every disk layer unpacked, `/boot` with the
    /// kernel and initrd included), owned as it will be on the disk.
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
}

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("the disk output is not implemented yet")]
    NotImplemented,
}

pub fn assemble(inputs: &DiskInputs<'_>) -> Result<DiskReport, DiskError> {
    let _ = inputs;
    Err(DiskError::NotImplemented)
}
