//! The GPT, written by sfdisk into the image file (no kernel involved).

use std::path::Path;
use std::process::Command;

use super::ids::DiskIds;
use super::layout::{sfdisk_script, Layout};
use super::run::run;
use super::tools::find;
use super::DiskError;

pub fn write(image: &Path, layout: &Layout, ids: &DiskIds) -> Result<(), DiskError> {
    let script = sfdisk_script(layout, &ids.disk, &ids.esp_part, &ids.root_part);
    let sfdisk = find("sfdisk").ok_or_else(|| DiskError::missing("sfdisk"))?;
    run(
        Command::new(sfdisk)
            .args(["--quiet", "--no-reread", "--no-tell-kernel", "--wipe=never"])
            .arg(image),
        Some(script.as_bytes()),
    )?;
    Ok(())
}
