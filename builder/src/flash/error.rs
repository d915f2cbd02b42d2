//! Every way a flash is refused or fails.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{device} is not a block device (give the whole disk, e.g. /dev/sdb)")]
    NotBlockDevice { device: PathBuf },
    #[error("{device} ({name}) is unknown to sysfs: {path} is missing")]
    UnknownDevice {
        device: PathBuf,
        name: String,
        path: PathBuf,
    },
    #[error("{device} is a partition: give the whole disk ({parent})")]
    Partition { device: PathBuf, parent: String },
    #[error("refusing {device} ({model}): it is not a removable device")]
    NotRemovable { device: PathBuf, model: String },
    #[error("refusing {device}: {what} is mounted on {mountpoint} (unmount it first)")]
    Mounted {
        device: PathBuf,
        what: String,
        mountpoint: String,
    },
    #[error("refusing {device}: it is in use by {holders}")]
    InUse { device: PathBuf, holders: String },
    #[error("refusing {device}: it holds {device_size} bytes, the image needs {image_size}")]
    TooSmall {
        device: PathBuf,
        device_size: u64,
        image_size: u64,
    },
    #[error("not confirmed: nothing was written to {device}{hint}")]
    NotConfirmed { device: PathBuf, hint: &'static str },
    #[error("{image} is not a raw GPT disk image (no \"EFI PART\" header at byte 512): flash out/softap.raw, not the OCI archive")]
    NotADiskImage { image: PathBuf },
    #[error(
        "verification failed: {device} bytes {start}..{end} differ from the image after writing"
    )]
    Verify {
        device: PathBuf,
        start: u64,
        end: u64,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FlashError + '_ {
    move |source| FlashError::Io {
        path: path.to_owned(),
        source,
    }
}
