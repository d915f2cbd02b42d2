//! Layer planning: the spec's base and upper sources (agent, overlays,
//! `[appliance]`) turned into the image's layers, upper paths resolved
//! through the symlinks below them.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::error::BuildError;
use super::packages;
use crate::base::{debian, nix};
use crate::layer::resolve::resolve;
use crate::layer::source::{index_tar, walk_dir, Normalise};
use crate::layer::{split_kernel, Entry, Kind, Layer};
use crate::overlay;
use crate::spec::{Base, Location, Spec};
use crate::store::Store;

/// A file in the base that lists its packages, recorded as an annotation.
pub const PACKAGES_FILE: &str = "usr/share/softap/packages.txt";

/// All layers of the image in order (disk-only ones included) plus the
/// lines of the base's package list that name the image's own packages
/// (see `packages.rs`), if the base has a list.
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
        })
        // The list names every package of the base, the disk's kernel and
        // firmware too; the annotation is the image's.
        .map(|all| {
            let disk_packages = match &spec.base {
                Base::Debian(d) => d.disk_packages.as_slice(),
                _ => &[],
            };
            packages::from_layers(&all, &layers, &links, disk_packages)
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

/// A hash of `parts`, each length-prefixed so no two lists collide.
pub(super) fn id(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}
