//! The disk output: every layer (disk-only ones included) unpacked into a
//! scratch tree and assembled into a raw disk.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};
use softap_config::coverage::KernelReport;
use softap_config::paths::WIFI_COVERAGE_FILE;

use super::error::BuildError;
use super::plan::Plan;
use super::report::DiskSummary;
use crate::coverage::{self, CoverageSummary};
use crate::disk;
use crate::layer::{entry, Entry, Layer};
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
    let mut layers: Vec<&Layer> = plan.layers.iter().collect();
    let t = Instant::now();
    let wifi = coverage::gather(&layers)?;
    tracing::info!(
        "Wi-Fi coverage of {} kernel(s) read in {:.2}s",
        wifi.len(),
        t.elapsed().as_secs_f64()
    );
    let report_layer = coverage_layer(&layers, &wifi, spec.image.source_date_epoch);
    layers.extend(report_layer.as_ref());
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
        wifi_coverage: wifi.iter().map(coverage::summary).collect(),
    })
}

/// The report as a layer of its own on top of the others, so it is written
/// into the tree like every other file (through directory descriptors, never
/// a symlink). Only the disk has it: a container runs on its host's kernel.
/// Its parent directories keep the metadata the layers below give them.
fn coverage_layer(layers: &[&Layer], wifi: &[KernelReport], mtime: u64) -> Option<Layer> {
    if wifi.is_empty() {
        return None;
    }
    let mut parents: BTreeMap<String, Entry> = BTreeMap::new();
    let mut p = entry::parent(WIFI_COVERAGE_FILE);
    while !p.is_empty() {
        parents.insert(p.to_owned(), Entry::dir(p, 0o755, mtime));
        p = entry::parent(p);
    }
    for l in layers {
        for e in &l.entries {
            if e.is_dir() && parents.contains_key(&e.path) {
                parents.insert(e.path.clone(), e.clone());
            }
        }
    }
    let file = Entry::bytes(
        WIFI_COVERAGE_FILE,
        softap_config::coverage::write(wifi).into_bytes(),
        0o644,
        mtime,
    );
    let mut l = Layer::finish("wifi-coverage", vec![file], Some(&parents), mtime);
    l.disk_only = true;
    Some(l)
}

/// For the build's summary: one line per kernel.
pub fn coverage_lines(wifi: &[CoverageSummary]) -> Vec<String> {
    wifi.iter()
        .flat_map(|k| {
            let t = &k.totals;
            let lacking: Vec<String> = k
                .modules
                .iter()
                .filter(|m| !m.missing.is_empty())
                .map(|m| format!("{} ({}/{})", m.module, m.missing.len(), m.groups))
                .collect();
            let mut lines = vec![format!(
                "Wi-Fi drivers of {}: {} modules, {} declare firmware, {} have all of it; \
                 {} of {} firmware groups present",
                k.kernel, t.modules, t.with_firmware, t.covered, t.present, t.groups
            )];
            if !lacking.is_empty() {
                lines.push(format!(
                    "firmware missing (groups missing/declared): {}",
                    lacking.join(", ")
                ));
            }
            lines
        })
        .collect()
}
