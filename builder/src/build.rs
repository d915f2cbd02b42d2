//! `softap-build build`: spec → layers → blobs → OCI outputs (and the disk).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::base::{debian, nix};
use crate::compress::{self, Encoder, HashWriter};
use crate::disk;
use crate::layer::resolve::resolve;
use crate::layer::source::{index_tar, walk_dir, Normalise};
use crate::layer::{split_kernel, tarwrite, Entry, Kind, Layer, LayerError};
use crate::oci::{self, ImageLayer, OciError};
use crate::overlay::{self, OverlayError};
use crate::spec::{self, Base, Location, Spec, SpecError};
use crate::store::{BlobInfo, Store, StoreError};
use crate::unpack;

/// Bump when the layer format changes, so cached layers are not reused.
const LAYER_FORMAT: &str = "softap-layer-v1";
/// A file in the base that lists its packages, recorded as an annotation.
pub const PACKAGES_FILE: &str = "usr/share/softap/packages.txt";

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

fn out_err(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Output {
        path: path.to_owned(),
        source,
    }
}

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

#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub name: String,
    pub digest: String,
    pub diff_id: String,
    /// Compressed size.
    pub size: u64,
    /// Uncompressed file data.
    pub data_size: u64,
    pub entries: usize,
    pub media_type: String,
    /// Taken from the cache without compressing.
    pub reused: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskSummary {
    pub path: PathBuf,
    pub size: u64,
    pub allocated: u64,
    pub root_partuuid: String,
    /// The ESP boots through Debian's signed shim and systemd-boot, so the
    /// stick starts with Secure Boot enforced.
    pub secure_boot: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub name: String,
    pub tag: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layers: Vec<LayerReport>,
    /// Layers kept out of the OCI image (kernel content), used by the disk.
    pub disk_only_layers: Vec<String>,
    pub oci_archive: Option<PathBuf>,
    pub oci_dir: Option<PathBuf>,
    pub disk: Option<DiskSummary>,
    pub seconds: f64,
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

/// All layers of the image in order (disk-only ones included) plus the
/// content of the base's package list, if any.
pub struct Plan {
    pub layers: Vec<Layer>,
    pub packages: Option<String>,
}

/// Entries from one place in the spec (an overlay, the agent, ...).
type Sourced = (Location, Vec<Entry>);

/// Turns the spec's sources into layers.
pub fn plan(spec: &Spec, store: &Store) -> Result<Plan, BuildError> {
    let sde = spec.image.source_date_epoch;
    let mut layers = base_layers(spec, store)?;

    let mut lower: BTreeMap<String, Entry> = BTreeMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    // Only what upper layers need from below: directories (their metadata
    // for parents) and symlinks (to resolve paths through).
    let note =
        |l: &Layer, lower: &mut BTreeMap<String, Entry>, links: &mut HashMap<String, String>| {
            for e in &l.entries {
                match &e.kind {
                    Kind::Symlink(t) => {
                        links.insert(e.path.clone(), t.clone());
                        lower.remove(&e.path);
                    }
                    Kind::Dir => {
                        links.remove(&e.path);
                        lower.insert(e.path.clone(), e.clone());
                    }
                    Kind::File { .. } => {
                        links.remove(&e.path);
                        lower.remove(&e.path);
                    }
                }
            }
        };
    for l in &layers {
        note(l, &mut lower, &mut links);
    }
    let packages = layers
        .iter()
        .flat_map(|l| l.entries.iter())
        .find(|e| e.path == PACKAGES_FILE)
        .and_then(|e| match &e.kind {
            Kind::File { size, data, .. } => {
                let mut s = String::new();
                data.open(*size).ok()?.read_to_string(&mut s).ok()?;
                Some(s)
            }
            _ => None,
        });

    let spec_at = Location {
        file: spec.file.clone(),
        line: 0,
        column: 0,
    };
    let mut uppers: Vec<(&str, Vec<Sourced>)> = Vec::new();
    if let Some(e) = overlay::agent_entry(spec) {
        let at = spec
            .agent
            .as_ref()
            .map_or(spec_at.clone(), |a| a.at.clone());
        uppers.push(("agent", vec![(at, vec![e])]));
    }
    let overlays = overlay::overlay_entries(spec)?;
    if !overlays.is_empty() {
        let per = overlays
            .into_iter()
            .map(|(o, es)| (o.path.at.clone(), es))
            .collect();
        uppers.push(("overlays", per));
    }
    if let Some(e) = overlay::appliance_entry(spec)? {
        uppers.push(("appliance", vec![(spec_at, vec![e])]));
    }
    for (name, sources) in uppers {
        let mut resolved = Vec::new();
        for (at, entries) in sources {
            for mut e in entries {
                // A directory at a symlink's path merges into the symlink's
                // target (on merged /usr, an overlay's `lib/` is `usr/lib/`).
                let path = if e.is_dir() {
                    format!("{}/.", e.path)
                } else {
                    e.path.clone()
                };
                e.path = resolve(&path, &links).map_err(|message| BuildError::Upper {
                    at: at.clone(),
                    layer: name.to_owned(),
                    message: message.replace("/.`", "`"),
                })?;
                if let Some(dir) = e.path.strip_suffix("/.") {
                    e.path = dir.to_owned();
                }
                resolved.push(e);
            }
        }
        let l = Layer::finish(name, resolved, Some(&lower), sde);
        note(&l, &mut lower, &mut links);
        layers.push(l);
    }
    Ok(Plan { layers, packages })
}

fn base_layers(spec: &Spec, store: &Store) -> Result<Vec<Layer>, BuildError> {
    let sde = spec.image.source_date_epoch;
    let norm = Normalise {
        source_date_epoch: sde,
        owner: None,
        fixed_mtime: false,
        xattrs: true,
    };
    let t = Instant::now();
    let (entries, identity) = match &spec.base {
        Base::Rootfs { path } => {
            let p = &path.path;
            if p.is_dir() {
                let w = walk_dir(p, &norm)?;
                (w.entries, id(&[b"dir", &w.fingerprint]))
            } else {
                let digest = store.file_digest(p)?;
                (index_tar(p, &norm)?, id(&[b"tar", &digest]))
            }
        }
        Base::Debian(d) => {
            let tar = debian::prepare(d, &store.root().join("debian"), sde)?;
            let digest = store.file_digest(&tar)?;
            (index_tar(&tar, &norm)?, id(&[b"tar", &digest]))
        }
        // A NixOS container closure has no kernel to split off: its layers
        // (a skeleton, then store-path groups) are the whole base.
        Base::NixClosure(n) => return Ok(nix::layers(n, sde)?),
    };
    tracing::info!(
        "base: {} entries indexed in {:.2}s",
        entries.len(),
        t.elapsed().as_secs_f64()
    );
    let sde_bytes = sde.to_le_bytes();
    let (base, kernel) = split_kernel(entries);
    let mut out = Vec::new();
    let mut b = Layer::finish("base", base, None, sde);
    b.identity = Some(id(&[b"base", &identity, &sde_bytes]));
    out.push(b);
    if !kernel.is_empty() {
        let mut k = Layer::finish("kernel", kernel, Some(&BTreeMap::new()), sde);
        k.identity = Some(id(&[b"kernel", &identity, &sde_bytes]));
        k.disk_only = true;
        out.push(k);
    }
    Ok(out)
}

fn id(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn progress_bar(show: bool, len: u64, msg: String) -> ProgressBar {
    let pb = if show {
        ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg);
    pb
}

/// Writes (or finds in the cache) the blob of one layer.
pub fn write_layer(
    layer: &Layer,
    spec: &Spec,
    store: &Store,
    show_progress: bool,
) -> Result<(BlobInfo, bool), BuildError> {
    let c = spec.output.compression;
    let level = spec
        .output
        .compression_level
        .unwrap_or_else(|| compress::default_level(c));
    let compressor = compress::describe(c, level);
    let content = layer.content_key().map_err(|e| BuildError::Plan {
        layer: layer.name.clone(),
        message: format!("reading content: {e}"),
    })?;
    let key = hex::encode(id(&[
        LAYER_FORMAT.as_bytes(),
        &content,
        compressor.as_bytes(),
    ]));
    if let Some(info) = store.cached_layer(&key) {
        tracing::info!("layer {}: reused {}", layer.name, info.digest);
        return Ok((info, true));
    }
    let started = Instant::now();
    let tmp = store.temp()?;
    let file = tmp.reopen().map_err(|e| StoreError {
        path: tmp.path().to_owned(),
        source: e,
    })?;
    let werr = |e: std::io::Error| BuildError::Plan {
        layer: layer.name.clone(),
        message: format!("writing blob: {e}"),
    };
    let blob = HashWriter::new(BufWriter::with_capacity(1 << 20, file));
    let enc = Encoder::new(c, level, blob).map_err(werr)?;
    let pb = progress_bar(show_progress, layer.data_size(), layer.name.clone());
    let diff = HashWriter::new(enc);
    let diff = tarwrite::write_tar(&layer.entries, diff, &mut |n| pb.inc(n)).map_err(werr)?;
    pb.finish_and_clear();
    let (enc, diff_id, _) = diff.finish();
    let blob = enc.finish().map_err(werr)?;
    let (mut buf, digest, size) = blob.finish();
    std::io::Write::flush(&mut buf).map_err(werr)?;
    drop(buf);
    let info = BlobInfo {
        digest: format!("sha256:{}", hex::encode(digest)),
        diff_id: format!("sha256:{}", hex::encode(diff_id)),
        size,
        media_type: compress::media_type(c).to_owned(),
        compressor,
    };
    store.commit(tmp, &info.digest)?;
    store.record_layer(&key, &info)?;
    tracing::info!(
        "layer {}: {} bytes in {:.1}s -> {}",
        layer.name,
        size,
        started.elapsed().as_secs_f64(),
        info.digest
    );
    Ok((info, false))
}

/// Builds the image the spec at `spec_path` describes.
pub fn build(spec_path: &Path, opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    let spec = spec::load(spec_path, env_epoch(opts).as_deref())?;
    let cache = opts.cache_dir.clone().unwrap_or_else(Store::default_dir);
    let store = Store::open(&cache)?;
    let t = Instant::now();
    let plan = plan(&spec, &store)?;
    tracing::info!(
        "planned {} layers in {:.2}s",
        plan.layers.len(),
        t.elapsed().as_secs_f64()
    );

    let mut image_layers = Vec::new();
    let mut reports = Vec::new();
    for l in plan.layers.iter().filter(|l| !l.disk_only) {
        let (blob, reused) = write_layer(l, &spec, &store, opts.progress)?;
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
    let image = oci::assemble(&spec, image_layers, plan.packages.clone(), &store)?;

    // Everything goes to temporary names in the output directory first and
    // is renamed into place only when every output succeeded.
    let out = &opts.out_dir;
    fs::create_dir_all(out).map_err(out_err(out))?;
    let name = &spec.image.name;
    let mut staged_archive = None;
    let t = Instant::now();
    if spec.output.oci_archive {
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.oci.tar."))
            .tempfile_in(out)
            .map_err(out_err(out))?;
        let f = tmp.reopen().map_err(out_err(tmp.path()))?;
        let w = oci::write_archive(
            &image,
            &store,
            BufWriter::with_capacity(1 << 20, f),
            spec.image.source_date_epoch,
        )?;
        let f = w.into_inner().map_err(|e| BuildError::Output {
            path: tmp.path().to_owned(),
            source: e.into_error(),
        })?;
        // tempfile creates 0600; the archive is for other users and tools too.
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(out_err(tmp.path()))?;
        f.sync_all().map_err(out_err(tmp.path()))?;
        staged_archive = Some(tmp);
        tracing::info!("wrote the archive in {:.2}s", t.elapsed().as_secs_f64());
    }
    let mut staged_dir = None;
    if spec.output.oci_dir {
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.oci."))
            .tempdir_in(out)
            .map_err(out_err(out))?;
        let layout = tmp.path().join("layout");
        oci::write_dir(&image, &store, &layout)?;
        staged_dir = Some((tmp, layout));
    }
    let mut disk_summary = None;
    if spec.output.disk {
        disk_summary = Some(build_disk(&spec, &plan, &image, &store, out)?);
    }
    let mut oci_archive = None;
    if let Some(tmp) = staged_archive {
        let dst = out.join(format!("{name}.oci.tar"));
        tmp.persist(&dst).map_err(|e| BuildError::Output {
            path: dst.clone(),
            source: e.error,
        })?;
        oci_archive = Some(dst);
    }
    let mut oci_dir = None;
    if let Some((tmp, layout)) = staged_dir {
        let dst = out.join(format!("{name}.oci"));
        if dst.exists() {
            let old = tmp.path().join("old");
            fs::rename(&dst, &old).map_err(out_err(&dst))?;
        }
        fs::rename(&layout, &dst).map_err(out_err(&dst))?;
        oci_dir = Some(dst);
    }
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
        oci_archive,
        oci_dir,
        disk: disk_summary,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The ESP's `softap.toml`: the appliance defaults, for users to edit.
pub fn esp_softap_toml(spec: &Spec) -> Result<Vec<u8>, BuildError> {
    let body = overlay::appliance_toml(spec)?.unwrap_or_default();
    Ok(format!(
        "# softap settings. You may edit this file after flashing (SSID, passphrase,\n\
         # country, ...); it overrides /etc/softap/softap.toml at every boot.\n{body}"
    )
    .into_bytes())
}

fn build_disk(
    spec: &Spec,
    plan: &Plan,
    image: &oci::Image,
    store: &Store,
    out: &Path,
) -> Result<DiskSummary, BuildError> {
    let tree = store.temp_dir()?;
    let layers: Vec<&Layer> = plan.layers.iter().collect();
    unpack::materialise(&layers, tree.path())?;
    let esp_files = vec![("softap.toml".to_owned(), esp_softap_toml(spec)?)];
    let seed: [u8; 32] = Sha256::digest(image.manifest_digest.as_bytes()).into();
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
