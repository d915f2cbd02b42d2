//! Base root filesystems: Debian (mmdebstrap), a Nix closure, or a given tree.
pub mod debian;
pub mod nix;
