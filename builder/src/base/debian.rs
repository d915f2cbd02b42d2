//! The Debian base: a rootfs made by mmdebstrap from the spec's suite and
//! packages, cached by the hash of its inputs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[base] kind = "debian"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianSpec {
    /// Debian suite, e.g. `bookworm`.
    pub suite: String,
    /// Archive components, e.g. `["main", "non-free-firmware"]`.
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    /// Packages of the appliance (both the OCI image and the disk).
    #[serde(default)]
    pub packages: Vec<String>,
    /// Packages whose files (kernel, modules, initrd, firmware) belong to the
    /// disk only; installed into the same rootfs, split out when layering.
    #[serde(default)]
    pub disk_packages: Vec<String>,
    /// Mirror; mmdebstrap's default or the host's apt configuration otherwise.
    #[serde(default)]
    pub mirror: Option<String>,
    /// Keyring to verify the archive with.
    #[serde(default)]
    pub keyring: Option<PathBuf>,
    /// A snapshot timestamp (e.g. `20250520T000000Z`) for reproducible inputs.
    #[serde(default)]
    pub snapshot: Option<String>,
}

fn default_components() -> Vec<String> {
    vec!["main".to_owned()]
}

#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    #[error("the Debian base is not implemented yet")]
    NotImplemented,
}

/// Makes (or finds in `cache_dir`) the rootfs for `spec` and returns the path
/// of an uncompressed tar archive of it.
pub fn prepare(
    spec: &DebianSpec,
    cache_dir: &Path,
    source_date_epoch: u64,
) -> Result<PathBuf, DebianError> {
    let _ = (spec, cache_dir, source_date_epoch);
    Err(DebianError::NotImplemented)
}
