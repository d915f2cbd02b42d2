//! What can stop a build: each stage's error, kept as the cause. Like every
//! error of this crate, each says what failed at its level and leaves its
//! cause to `source()`: [`crate::cause::chain`] prints the whole chain.

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
    #[error("Debian base")]
    Debian(#[from] debian::DebianError),
    #[error("Nix base")]
    Nix(#[from] nix::NixError),
    #[error("disk")]
    Disk(#[from] disk::DiskError),
    #[error("Wi-Fi coverage report")]
    Coverage(#[from] crate::coverage::CoverageError),
    #[error(transparent)]
    Hygiene(#[from] crate::hygiene::HygieneError),
    #[error("{}", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("layer {layer}: reading content")]
    ReadLayer {
        layer: String,
        #[source]
        source: std::io::Error,
    },
    #[error("layer {layer}: writing blob")]
    WriteBlob {
        layer: String,
        #[source]
        source: std::io::Error,
    },
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
