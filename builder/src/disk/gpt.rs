//! The GPT, written by sfdisk into the image file (no kernel involved).

use std::path::Path;

use super::ids::DiskIds;
use super::layout::{sfdisk_script, Layout};
use super::DiskError;
use crate::host::{run, Tool};

pub const SFDISK: Tool = Tool::new("sfdisk", "fdisk");

pub fn write(image: &Path, layout: &Layout, ids: &DiskIds) -> Result<(), DiskError> {
    let script = sfdisk_script(layout, &ids.disk, &ids.esp_part, &ids.root_part);
    run(
        SFDISK
            .command()?
            .args(["--quiet", "--no-reread", "--no-tell-kernel", "--wipe=never"])
            .arg(image),
        Some(script.as_bytes()),
    )?;
    Ok(())
}
