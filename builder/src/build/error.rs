//! What can stop a build: each stage's error, kept as the cause.

use std::path::{Path, PathBuf};

use crate::base::{debian, nix};
use crate::disk;
use crate::layer::LayerError;
use crate::oci::OciError;
use crate::overlay::OverlayError;
use crate::spec::{Location, SpecError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error("Debian base: {0}")]
    Debian(#[from] debian::DebianError),
    #[error("Nix base: {0}")]
    Nix(#[from] nix::NixError),
    #[error("disk: {0}")]
    Disk(#[from] disk::DiskError),
    #[error("{}: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("layer {layer}: {message}")]
    Plan { layer: String, message: String },
    #[error("{at}: {layer}: {message}")]
    Upper {
        at: Location,
        layer: String,
        message: String,
    },
}

pub(super) fn out_err(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Output {
        path: path.to_owned(),
        source,
    }
}
