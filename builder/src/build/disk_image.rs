//! The disk output: every layer (disk-only ones included) unpacked into a
//! scratch tree and assembled into a raw disk.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::BuildError;
use super::plan::Plan;
use super::report::DiskSummary;
use crate::disk;
use crate::layer::Layer;
use crate::oci;
use crate::overlay;
use crate::spec::Spec;
use crate::store::Store;
use crate::unpack;

/// The ESP's `softap.toml`: the appliance defaults, for users to edit.
pub fn esp_softap_toml(spec: &Spec) -> Result<Vec<u8>, BuildError> {
    let body = overlay::appliance_toml(spec)?.unwrap_or_default();
    Ok(format!(
        "# softap settings. You may edit this file after flashing (SSID, passphrase,\n\
         # country, ...); it overrides /etc/softap/softap.toml at every boot.\n{body}"
    )
    .into_bytes())
}

pub(super) fn build_disk(
    spec: &Spec,
    plan: &Plan,
    image: &oci::Image,
    store: &Store,
    out: &Path,
) -> Result<DiskSummary, BuildError> {
    let tree = store.temp_dir()?;
    let layers: Vec<&Layer> = plan.layers.iter().collect();
    unpack::materialise(&layers, tree.path())?;
    let esp_files = vec![(
        softap_config::paths::ESP_FILE.to_owned(),
        esp_softap_toml(spec)?,
    )];
    let seed: [u8; 32] = Sha256::digest(image.manifest_digest.as_ref().as_bytes()).into();
    let path = out.join(format!("{}.raw", spec.image.name));
    let r = disk::assemble(&disk::DiskInputs {
        root_tree: tree.path(),
        esp_files: &esp_files,
        out: &path,
        seed: &seed,
        source_date_epoch: spec.image.source_date_epoch,
        size: spec.output.disk_size,
    })?;
    Ok(DiskSummary {
        path,
        size: r.size,
        allocated: r.allocated,
        root_partuuid: r.root_partuuid,
        secure_boot: r.boot_chain == disk::esp::BootChain::Signed,
    })
}
