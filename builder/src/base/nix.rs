//! The Nix base: store paths and their references as Nix computed them
//! (`closureInfo`), never found by walking `/nix/store`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
    /// Most layers the store paths may take; the rest are grouped.
    #[serde(default)]
    pub max_layers: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum NixError {
    #[error("the nix-closure base is not implemented yet")]
    NotImplemented,
}
