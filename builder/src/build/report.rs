//! What a build made, as `softap-build build --json` prints it.

use std::path::PathBuf;

use oci_spec::image::Digest;
use serde::Serialize;

use crate::coverage::CoverageSummary;

#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub name: String,
    pub digest: Digest,
    pub diff_id: Digest,
    /// Compressed size.
    pub size: u64,
    /// Uncompressed file data.
    pub data_size: u64,
    pub entries: usize,
    pub media_type: String,
    /// Taken from the cache without compressing.
    pub reused: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskSummary {
    pub path: PathBuf,
    pub size: u64,
    pub allocated: u64,
    pub root_partuuid: String,
    /// The ESP boots through Debian's signed shim and systemd-boot, so the
    /// stick starts with Secure Boot enforced.
    pub secure_boot: bool,
    /// Per kernel, its Wi-Fi driver modules and the firmware the disk has
    /// for them (the summary of `/usr/share/softap/wifi-coverage.txt`).
    pub wifi_coverage: Vec<CoverageSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub name: String,
    pub tag: String,
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub layers: Vec<LayerReport>,
    /// Layers kept out of the OCI image (kernel content), used by the disk.
    pub disk_only_layers: Vec<String>,
    pub oci_archive: Option<PathBuf>,
    pub oci_dir: Option<PathBuf>,
    pub disk: Option<DiskSummary>,
    pub seconds: f64,
}
