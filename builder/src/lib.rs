//! softap-build: turns an image spec into a reproducible OCI image and a
//! bootable disk. The binary in `main.rs` is a thin shell over this library.
//!
//! Entry points: [`build::build`] (what `softap-build build` runs) and
//! [`build::check`]; the layer model in [`layer`] is the hook for other bases.
pub mod base;
pub mod build;
pub mod cause;
pub mod compress;
pub mod coverage;
pub mod digest;
pub mod disk;
pub mod flash;
pub mod host;
pub mod hygiene;
pub mod layer;
pub mod oci;
pub mod overlay;
pub mod progress;
pub mod scratch;
pub mod spec;
pub mod store;
pub mod unpack;

pub use build::{build, check, BuildError, BuildOptions, BuildReport, LayerReport};
