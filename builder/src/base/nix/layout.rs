//! The nix-closure base as image layers: a skeleton (the directories a
//! container needs, `/sbin/init`, `/etc/os-release`, the store registration),
//! then one layer per group of store paths from [`super::group`].

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{closure, group, store_layer_budget, toplevel, NixClosureSpec, NixError};
use crate::layer::source::{walk_dir, Normalise};
use crate::layer::{Data, Entry, Kind, Layer};

/// Name of the skeleton layer in the image's history.
pub const SKELETON_LAYER: &str = "nix-root";

/// The Nix base's layers, bottom first: the skeleton, then the store paths,
/// most popular first. Reads the closure's files under `store_root`; the
/// layers refer to them by path and read them when written.
pub fn layers(spec: &NixClosureSpec, source_date_epoch: u64) -> Result<Vec<Layer>, NixError> {
    let closure = closure(spec)?;
    let top = toplevel(spec, &closure)?;
    let budget = store_layer_budget(spec.max_layers)?;
    let store_root = spec
        .store_root
        .clone()
        .unwrap_or_else(|| PathBuf::from("/"));

    let skeleton = Layer::finish(
        SKELETON_LAYER,
        skeleton_entries(top, closure.registration.as_deref(), source_date_epoch),
        None,
        source_date_epoch,
    );
    let lower: BTreeMap<String, Entry> = skeleton
        .entries
        .iter()
        .map(|e| (e.path.clone(), e.clone()))
        .collect();

    let norm = Normalise {
        source_date_epoch,
        // The store is root's; whoever built or copied it, the image's is too.
        owner: Some((0, 0)),
        fixed_mtime: false,
        xattrs: false,
    };
    let mut out = vec![skeleton];
    for paths in group(&closure, budget) {
        let mut entries = Vec::new();
        let mut identity = Sha256::new();
        identity.update(b"softap nix-closure layer v1\0");
        identity.update(source_date_epoch.to_le_bytes());
        let mut next_group = 0;
        for path in &paths {
            let (mut found, fingerprint) = store_path_entries(&store_root, path, &norm)?;
            // Hard-link groups are numbered per walk; keep them apart when
            // several store paths share a layer.
            let mut highest = None;
            for e in &mut found {
                if let Kind::File {
                    link_group: Some(g),
                    ..
                } = &mut e.kind
                {
                    *g += next_group;
                    highest = Some(highest.map_or(*g, |h: u64| h.max(*g)));
                }
            }
            if let Some(h) = highest {
                next_group = h + 1;
            }
            identity.update(path.as_bytes());
            identity.update([0]);
            identity.update(fingerprint);
            entries.extend(found);
        }
        let name = match paths.as_slice() {
            [one] => format!("nix: {}", store_name(one)),
            many => format!("nix: {} less popular store paths", many.len()),
        };
        let mut layer = Layer::finish(name, entries, Some(&lower), source_date_epoch);
        layer.identity = Some(identity.finalize().into());
        out.push(layer);
    }
    Ok(out)
}

/// `/nix/store/<hash>-<name>` → `<name>`.
fn store_name(path: &str) -> &str {
    path.rsplit('/')
        .next()
        .and_then(|b| b.get(33..))
        .unwrap_or(path)
}

/// What NixOS expects to find before its stage 2 runs, as its own LXC images
/// lay it out: mount points, `/sbin/init` and `/etc/os-release` pointing into
/// the toplevel, and the registration that the image's NixOS configuration
/// loads into the Nix database at first boot.
pub fn skeleton_entries(
    toplevel: Option<&str>,
    registration: Option<&[u8]>,
    mtime: u64,
) -> Vec<Entry> {
    let mut entries: Vec<Entry> = [
        ("dev", 0o755),
        ("etc", 0o755),
        ("nix", 0o755),
        ("nix/store", 0o755),
        ("proc", 0o755),
        ("run", 0o755),
        ("sbin", 0o755),
        ("sys", 0o755),
        ("tmp", 0o1777),
    ]
    .into_iter()
    .map(|(p, mode)| Entry::dir(p, mode, mtime))
    .collect();
    if let Some(top) = toplevel {
        entries.push(symlink("sbin/init", format!("{top}/init"), mtime));
        entries.push(symlink(
            "etc/os-release",
            format!("{top}/etc/os-release"),
            mtime,
        ));
    }
    if let Some(reg) = registration {
        entries.push(Entry::bytes(
            "nix-path-registration",
            reg.to_vec(),
            0o644,
            mtime,
        ));
    }
    entries
}

fn symlink(path: &str, target: String, mtime: u64) -> Entry {
    Entry {
        path: path.to_owned(),
        kind: Kind::Symlink(target),
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime,
        xattrs: Vec::new(),
    }
}

/// One store path's entries (itself included) and a fingerprint of its
/// metadata. A store path may be a directory, a file or a symlink.
fn store_path_entries(
    store_root: &Path,
    path: &str,
    norm: &Normalise,
) -> Result<(Vec<Entry>, [u8; 32]), NixError> {
    let rel = path.trim_start_matches('/');
    let full = store_root.join(rel);
    let read_err = |source| NixError::ReadStorePath {
        store_path: path.to_owned(),
        path: full.clone(),
        source,
    };
    let md = std::fs::symlink_metadata(&full).map_err(read_err)?;
    let mtime = (md.mtime().max(0) as u64).min(norm.source_date_epoch);
    let mode = md.mode() & 0o7777;
    let mut own = Entry::dir(rel, mode, mtime);
    let ft = md.file_type();
    if ft.is_dir() {
        let walked = walk_dir(&full, norm).map_err(|source| NixError::WalkStorePath {
            store_path: path.to_owned(),
            source,
        })?;
        let mut entries = vec![own];
        entries.extend(Layer::prefixed(walked.entries, rel));
        return Ok((entries, walked.fingerprint));
    }
    if ft.is_symlink() {
        let target = std::fs::read_link(&full).map_err(read_err)?;
        let target = target.to_str().ok_or_else(|| NixError::StorePath {
            store_path: path.to_owned(),
            message: "symlink target is not UTF-8".into(),
        })?;
        own.kind = Kind::Symlink(target.to_owned());
        own.mode = 0o777;
    } else if ft.is_file() {
        own.kind = Kind::File {
            size: md.len(),
            data: Data::Path(full.clone()),
            link_group: None,
        };
    } else {
        return Err(NixError::StorePath {
            store_path: path.to_owned(),
            message: "neither a directory, a file nor a symlink".into(),
        });
    }
    let mut fp = Sha256::new();
    for n in [
        md.ino(),
        md.len(),
        md.mtime() as u64,
        md.mtime_nsec() as u64,
        md.ctime() as u64,
        md.ctime_nsec() as u64,
    ] {
        fp.update(n.to_le_bytes());
    }
    if let Kind::Symlink(t) = &own.kind {
        fp.update(t.as_bytes());
    }
    Ok((vec![own], fp.finalize().into()))
}
