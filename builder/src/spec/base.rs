//! The `[base]` tables of the kinds a stage of `base` makes, as the spec
//! holds them: the spec owns its types, and the stages read them.

use std::path::PathBuf;

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
    /// Packages whose files are unpacked, not installed, under
    /// `layer::SIGNED_BOOT_DIR` (disk-only): the signed boot chain for the
    /// ESP, without the dependencies apt would install with it (shim's pull
    /// GRUB in).
    #[serde(default)]
    pub esp_packages: Vec<String>,
    /// Mirror; mmdebstrap's default or the host's apt configuration otherwise.
    #[serde(default)]
    pub mirror: Option<String>,
    /// Keyring to verify the archive with.
    #[serde(default)]
    pub keyring: Option<PathBuf>,
    /// A snapshot timestamp (e.g. `20250520T000000Z`) for reproducible inputs.
    /// Needs `mirror`: the snapshot service's archive URL, either ending where
    /// the timestamp is appended or containing `{snapshot}`.
    #[serde(default)]
    pub snapshot: Option<String>,
}

fn default_components() -> Vec<String> {
    vec!["main".to_owned()]
}

/// `[base] kind = "nix-closure"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NixClosureSpec {
    /// A `closureInfo` output directory (`store-paths`, `registration`).
    #[serde(default)]
    pub closure_info: Option<PathBuf>,
    /// Or an explicit list of store paths (already closed under references).
    #[serde(default)]
    pub store_paths: Vec<PathBuf>,
    /// The NixOS system toplevel whose `init` becomes `/sbin/init`.
    #[serde(default)]
    pub toplevel: Option<PathBuf>,
    /// Most layers the Nix base may take (its skeleton layer included); the
    /// least popular store paths share the last one. Default and maximum
    /// 100 (`base::nix::MAX_LAYERS`).
    #[serde(default)]
    pub max_layers: Option<u32>,
    /// Where the store's files are read: `/nix/store/x` is read from
    /// `<store_root>/nix/store/x`. Default `/`. For a store copied elsewhere
    /// (`nix copy --to ./root`) and for tests.
    #[serde(default)]
    pub store_root: Option<PathBuf>,
}
