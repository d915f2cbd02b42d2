//! OCI image documents (config, manifest, index) with the `oci-spec` types,
//! serialised canonically (keys sorted: `oci-spec` keeps annotations and
//! labels in `HashMap`s, whose order would change the digests), and the
//! layout written as a directory or a deterministic tar archive.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, Digest, HistoryBuilder,
    ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType, Os,
    RootFsBuilder,
};
use oci_spec::OciSpecError;

use crate::spec::Spec;
use crate::store::{BlobInfo, CorruptBlob, Store, StoreError};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const CREATED: &str = "org.opencontainers.image.created";
pub const PACKAGES: &str = "org.softap.packages";

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("OCI document")]
    Spec(#[from] OciSpecError),
    #[error("OCI document")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A layer as it appears in the image.
#[derive(Debug, Clone)]
pub struct ImageLayer {
    pub name: String,
    pub blob: BlobInfo,
}

/// The image's small documents, serialised; blobs are in the store.
#[derive(Debug, Clone)]
pub struct Image {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub index: Vec<u8>,
    /// Docker's `manifest.json`, so `docker load` takes the archive.
    pub docker_manifest: Vec<u8>,
    pub layers: Vec<ImageLayer>,
}

pub use softap_config::time::rfc3339;

/// The OCI name of the build machine's architecture (images run on it).
pub fn arch() -> Arch {
    match std::env::consts::ARCH {
        "x86_64" => Arch::Amd64,
        "aarch64" => Arch::ARM64,
        "x86" => Arch::i386,
        "riscv64" => Arch::RISCV64,
        other => Arch::Other(other.to_owned()),
    }
}

/// Serialises with object keys sorted at every level.
pub fn canonical_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, serde_json::Error> {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: BTreeMap<String, serde_json::Value> =
                    m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                let mut out = serde_json::Map::new();
                for (k, v) in sorted {
                    out.insert(k, v);
                }
                serde_json::Value::Object(out)
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    serde_json::to_vec(&sort(serde_json::to_value(v)?))
}

fn media(m: &str) -> MediaType {
    MediaType::from(m)
}

fn descriptor(m: MediaType, digest: &Digest, size: u64) -> Result<Descriptor, OciError> {
    Ok(DescriptorBuilder::default()
        .media_type(m)
        .digest(digest.clone())
        .size(size)
        .build()?)
}

/// Builds config, manifest, index and Docker manifest, and stores config and
/// manifest as blobs.
pub fn assemble(
    spec: &Spec,
    layers: Vec<ImageLayer>,
    packages: Option<String>,
    store: &Store,
) -> Result<Image, OciError> {
    let created = rfc3339(spec.image.source_date_epoch);
    let c = &spec.container;
    let mut cfg = ConfigBuilder::default();
    cfg = cfg
        .entrypoint(c.entrypoint.clone())
        .working_dir(c.working_dir.clone());
    if !c.cmd.is_empty() {
        cfg = cfg.cmd(c.cmd.clone());
    }
    if !c.env.is_empty() {
        cfg = cfg.env(
            c.env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        );
    }
    if !c.labels.is_empty() {
        cfg = cfg.labels(c.labels.clone().into_iter().collect::<HashMap<_, _>>());
    }
    if let Some(s) = &c.stop_signal {
        cfg = cfg.stop_signal(s.clone());
    }
    let history = layers
        .iter()
        .map(|l| {
            HistoryBuilder::default()
                .created(created.clone())
                .created_by(format!("softap-build: {} layer", l.name))
                .comment(l.blob.compressor.clone())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config = ImageConfigurationBuilder::default()
        .architecture(arch())
        .os(Os::Linux)
        .created(created.clone())
        .config(cfg.build()?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(
                    layers
                        .iter()
                        .map(|l| l.blob.diff_id.to_string())
                        .collect::<Vec<_>>(),
                )
                .build()?,
        )
        .history(history)
        .build()?;
    let config_bytes = canonical_json(&config)?;
    let config_digest = store.put_bytes(&config_bytes)?;

    let mut annotations = HashMap::new();
    annotations.insert(CREATED.to_owned(), created);
    if let Some(p) = packages {
        annotations.insert(PACKAGES.to_owned(), p);
    }
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            &config_digest,
            config_bytes.len() as u64,
        )?)
        .layers(
            layers
                .iter()
                .map(|l| descriptor(media(&l.blob.media_type), &l.blob.digest, l.blob.size))
                .collect::<Result<Vec<_>, _>>()?,
        )
        .annotations(annotations)
        .build()?;
    let manifest_bytes = canonical_json(&manifest)?;
    let manifest_digest = store.put_bytes(&manifest_bytes)?;

    let mut mdesc = descriptor(
        MediaType::ImageManifest,
        &manifest_digest,
        manifest_bytes.len() as u64,
    )?;
    mdesc.set_annotations(Some(HashMap::from([(
        REF_NAME.to_owned(),
        spec.image.tag.clone(),
    )])));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![mdesc])
        .build()?;
    let index_bytes = canonical_json(&index)?;

    let blob = |d: &Digest| format!("blobs/{}/{}", d.algorithm(), d.digest());
    let docker = serde_json::json!([{
        "Config": blob(&config_digest),
        "RepoTags": [format!("{}:{}", spec.image.name, spec.image.tag)],
        "Layers": layers.iter().map(|l| blob(&l.blob.digest)).collect::<Vec<_>>(),
    }]);
    Ok(Image {
        config: config_bytes,
        config_digest,
        manifest: manifest_bytes,
        manifest_digest,
        index: index_bytes,
        docker_manifest: canonical_json(&docker)?,
        layers,
    })
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The files of the layout, in the order they are written: small documents
/// by content, layer blobs by digest.
fn layout_files(image: &Image) -> Vec<(String, LayoutFile)> {
    // By path under `blobs/`, so they are written in a fixed order.
    let mut blobs: BTreeMap<String, LayoutFile> = BTreeMap::new();
    let path = |d: &Digest| format!("blobs/{}/{}", d.algorithm(), d.digest());
    blobs.insert(
        path(&image.config_digest),
        LayoutFile::Bytes(image.config.clone()),
    );
    blobs.insert(
        path(&image.manifest_digest),
        LayoutFile::Bytes(image.manifest.clone()),
    );
    for l in &image.layers {
        blobs.insert(
            path(&l.blob.digest),
            LayoutFile::Blob(l.blob.digest.clone(), l.blob.size),
        );
    }
    let mut files = vec![(
        "oci-layout".to_owned(),
        LayoutFile::Bytes(OCI_LAYOUT.to_vec()),
    )];
    files.push((
        "index.json".to_owned(),
        LayoutFile::Bytes(image.index.clone()),
    ));
    files.push((
        "manifest.json".to_owned(),
        LayoutFile::Bytes(image.docker_manifest.clone()),
    ));
    files.extend(blobs);
    files
}

enum LayoutFile {
    Bytes(Vec<u8>),
    /// A blob in the store, and its size.
    Blob(Digest, u64),
}

/// An error copying a cached blob: the corrupt blob itself when that is
/// what failed, so the build can replace it.
fn copy_err(path: &Path) -> impl FnOnce(io::Error) -> OciError + '_ {
    move |source| match CorruptBlob::within(&source) {
        Some(bad) => OciError::Store(StoreError::Corrupt(bad.clone())),
        None => OciError::Io {
            path: path.to_owned(),
            source,
        },
    }
}

/// Writes the layout as a tar archive to `out` (a temp file the caller
/// renames into place).
pub fn write_archive<W: Write>(
    image: &Image,
    store: &Store,
    out: W,
    mtime: u64,
) -> Result<W, OciError> {
    let mut b = tar::Builder::new(out);
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| OciError::Io { path, source }
    };
    let here = Path::new("oci-archive");
    let dir = |b: &mut tar::Builder<W>, p: &str| -> io::Result<()> {
        let mut h = header(mtime, 0o755);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(&mut h, p, io::empty())
    };
    dir(&mut b, "blobs/").map_err(io_err(here))?;
    dir(&mut b, "blobs/sha256/").map_err(io_err(here))?;
    for (name, f) in layout_files(image) {
        let mut h = header(mtime, 0o644);
        match f {
            LayoutFile::Bytes(bytes) => {
                h.set_size(bytes.len() as u64);
                b.append_data(&mut h, &name, &bytes[..])
                    .map_err(io_err(here))?;
            }
            LayoutFile::Blob(digest, size) => {
                h.set_size(size);
                // Checked while it is copied: a bad blob fails the archive.
                let blob = store.open_blob(&digest, size)?;
                b.append_data(&mut h, &name, blob).map_err(copy_err(here))?;
            }
        }
    }
    b.into_inner().map_err(io_err(here))
}

fn header(mtime: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    // Cannot fail: empty names fit.
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Writes the layout as a directory `dir` (which must not exist yet): a blob
/// this process has hashed already is hard-linked from the store when
/// possible; any other is copied, and checked while it is copied.
pub fn write_dir(image: &Image, store: &Store, dir: &Path) -> Result<(), OciError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| OciError::Io { path, source }
    };
    std::fs::create_dir_all(dir.join("blobs/sha256")).map_err(io_err(dir))?;
    for (name, f) in layout_files(image) {
        let dst = dir.join(&name);
        match f {
            LayoutFile::Bytes(bytes) => std::fs::write(&dst, bytes).map_err(io_err(&dst))?,
            LayoutFile::Blob(digest, size) => {
                if store.is_verified(&digest)
                    && std::fs::hard_link(store.blob_path(&digest), &dst).is_ok()
                {
                    continue;
                }
                let mut blob = store.open_blob(&digest, size)?;
                let mut f = File::create(&dst).map_err(io_err(&dst))?;
                io::copy(&mut blob, &mut f).map_err(copy_err(&dst))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_hashmaps() {
        let m: HashMap<String, u32> = (0..50).map(|i| (format!("k{i}"), i)).collect();
        let a = canonical_json(&m).unwrap();
        let s = String::from_utf8(a).unwrap();
        assert!(s.starts_with("{\"k0\":0,\"k1\":1,\"k10\":10"), "{s}");
    }
}
