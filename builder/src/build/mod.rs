//! `softap-build build`: spec → layers (`plan.rs`) → blobs (`blob.rs`) → OCI
//! documents → outputs, staged and renamed into place (`stage.rs`), and the
//! disk (`disk_image.rs`). This file only runs those steps in order.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::hygiene::{self, HostData};
use crate::layer::source::{index_tar, Normalise};
use crate::oci::{self, ImageLayer, OciError};
use crate::overlay;
use crate::scratch;
use crate::spec::{self, Base, Spec};
use crate::store::{Store, StoreError};

mod blob;
mod disk_image;
mod error;
mod packages;
mod plan;
mod report;
mod stage;

pub use blob::write_layer;
pub use disk_image::{coverage_lines, esp_softap_toml};
pub use error::BuildError;
pub use plan::{plan, Plan, PACKAGES_FILE};
pub use report::{BuildReport, DiskSummary, LayerReport};

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Output directory (default `out`).
    pub out_dir: PathBuf,
    /// Cache directory (default [`Store::default_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Show progress bars on stderr (hidden anyway when it is not a TTY).
    pub progress: bool,
    /// `SOURCE_DATE_EPOCH`, when the spec has none; `None` reads the
    /// environment.
    pub source_date_epoch: Option<String>,
}

fn env_epoch(opts: &BuildOptions) -> Option<String> {
    opts.source_date_epoch
        .clone()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
}

/// `softap-build check`: parses the spec, checks every path, renders the
/// templates and checks the overlays' symlinks, without building anything.
pub fn check(spec_path: &Path, opts: &BuildOptions) -> Result<Spec, BuildError> {
    let spec = spec::load(spec_path, env_epoch(opts).as_deref())?;
    if let Base::Rootfs { path } = &spec.base {
        // A tar base is read member by member at build time; reading its
        // index here finds a hostile or broken archive before any build.
        if !path.path.is_dir() {
            index_tar(
                &path.path,
                &Normalise {
                    source_date_epoch: spec.image.source_date_epoch,
                    owner: None,
                    fixed_mtime: false,
                    xattrs: false,
                },
            )?;
        }
    }
    overlay::overlay_entries(&spec)?;
    overlay::appliance_entry(&spec)?;
    Ok(spec)
}

/// Builds the image the spec at `spec_path` describes.
pub fn build(spec_path: &Path, opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    let spec = spec::load(spec_path, env_epoch(opts).as_deref())?;
    let cache = opts.cache_dir.clone().unwrap_or_else(Store::default_dir);
    let store = Store::open(&cache)?;
    // What interrupted builds left (see `scratch.rs`).
    store.sweep()?;
    scratch::sweep(&opts.out_dir, scratch::is_output_temporary)
        .map_err(error::out_err(&opts.out_dir))?;
    let t = Instant::now();
    let plan = plan(&spec, &store)?;
    tracing::info!(
        "planned {} layers in {:.2}s",
        plan.layers.len(),
        t.elapsed().as_secs_f64()
    );
    // Nothing of the build host goes into either output (see `hygiene.rs`).
    let t = Instant::now();
    let spec_dir = spec.file.parent().unwrap_or(Path::new("."));
    let host = HostData::gather(&[spec_dir, store.root(), &opts.out_dir]);
    hygiene::check(&plan.layers, &host.needles())?;
    tracing::info!("hygiene checked in {:.2}s", t.elapsed().as_secs_f64());

    // Everything goes to temporary names in the output directory first and
    // is renamed into place only when every output succeeded.
    let out = &opts.out_dir;
    // A cached blob found corrupt while it is copied is removed and the
    // image made again: its layer is then rebuilt from its source. Each
    // round removes one blob; a blob going bad again after its rebuild (a
    // failing disk) ends the build.
    let mut rounds = plan.layers.len() + 1;
    let (reports, image, staged) = loop {
        let (reports, image) = image_documents(&spec, &plan, &store, opts.progress)?;
        match stage::stage(&spec, &image, &store, out) {
            Err(BuildError::Oci(OciError::Store(StoreError::Corrupt(bad)))) if rounds > 0 => {
                rounds -= 1;
                store.discard_blob(&bad)?;
            }
            staged => break (reports, image, staged?),
        }
    };
    let mut disk_summary = None;
    if spec.output.disk {
        disk_summary = Some(disk_image::build_disk(&spec, &plan, &image, &store, out)?);
    }
    let name = &spec.image.name;
    let published = staged.publish(out, name)?;
    Ok(BuildReport {
        name: name.clone(),
        tag: spec.image.tag.clone(),
        manifest_digest: image.manifest_digest.clone(),
        config_digest: image.config_digest.clone(),
        layers: reports,
        disk_only_layers: plan
            .layers
            .iter()
            .filter(|l| l.disk_only)
            .map(|l| l.name.clone())
            .collect(),
        oci_archive: published.oci_archive,
        oci_dir: published.oci_dir,
        disk: disk_summary,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes (or finds in the cache) the blob of every image layer and makes
/// the OCI documents.
fn image_documents(
    spec: &Spec,
    plan: &Plan,
    store: &Store,
    progress: bool,
) -> Result<(Vec<LayerReport>, oci::Image), BuildError> {
    let mut image_layers = Vec::new();
    let mut reports = Vec::new();
    for l in plan.layers.iter().filter(|l| !l.disk_only) {
        let (blob, reused) = write_layer(l, spec, store, progress)?;
        reports.push(LayerReport {
            name: l.name.clone(),
            digest: blob.digest.clone(),
            diff_id: blob.diff_id.clone(),
            size: blob.size,
            data_size: l.data_size(),
            entries: l.entries.len(),
            media_type: blob.media_type.clone(),
            reused,
        });
        image_layers.push(ImageLayer {
            name: l.name.clone(),
            blob,
        });
    }
    let image = oci::assemble(spec, image_layers, plan.packages.clone(), store)?;
    Ok((reports, image))
}
