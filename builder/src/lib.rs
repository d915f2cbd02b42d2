//! softap-build: turns an image spec into a reproducible OCI image and a
//! bootable disk. The binary in `main.rs` is a thin shell over this library.
pub mod base;
pub mod disk;
