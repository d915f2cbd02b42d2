//! The Nix base: store paths and their references as Nix computed them
//! (`closureInfo`), never found by walking `/nix/store`.
//!
//! The pure part reads a closure-info directory (`store-paths`, one path a
//! line; `registration`, the `nix-store --load-db` format), ranks the paths
//! by popularity (how many paths of the closure depend on each, directly or
//! not) and groups them into layers: one per path up to the cap, the rest
//! together, as nixpkgs' layered images do. The skeleton of a NixOS container
//! (`/sbin/init`, `/etc/os-release`, `/nix-path-registration`) is planned
//! here too; [`layers`] turns the plan into image layers.
//!
//! The build uses them as the whole base (a NixOS container closure has no
//! kernel to split off): `Base::NixClosure(n) => return Ok(nix::layers(n, sde)?)`
//! in `base_layers` (builder/src/build/plan.rs), `NixError` converting into
//! `BuildError::Nix`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use softap_config::capped::{self, CappedError};

pub use crate::spec::NixClosureSpec;

/// Containers fail past 127 layers (the overlay mount's argument size);
/// nixpkgs caps at 100, and so does this, leaving room for overlays.
pub const MAX_LAYERS: u32 = 100;

/// The store directory every path must be in.
pub const STORE_DIR: &str = "/nix/store";

#[derive(Debug, thiserror::Error)]
pub enum NixError {
    #[error("[base] kind = \"nix-closure\" needs `closure_info` (a closureInfo directory) or `store_paths`")]
    NoPaths,
    #[error("[base] kind = \"nix-closure\": give `closure_info` or `store_paths`, not both")]
    BothSources,
    #[error("{}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: larger than {cap} bytes, the most a closure-info file may hold", path.display())]
    TooLarge { path: PathBuf, cap: u64 },
    #[error("{}:{line}: {message}", file.display())]
    Parse {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: {message}", dir.display())]
    Inconsistent { dir: PathBuf, message: String },
    #[error("toplevel {toplevel} is not one of the closure's store paths")]
    ToplevelNotInClosure { toplevel: String },
    #[error("store path {store_path}: {message}")]
    StorePath { store_path: String, message: String },
    #[error("store path {store_path}: cannot read {}", path.display())]
    ReadStorePath {
        store_path: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store path {store_path}")]
    WalkStorePath {
        store_path: String,
        #[source]
        source: crate::layer::LayerError,
    },
    #[error("max_layers = {value}: must be between 2 and {MAX_LAYERS} (containers fail past 127 layers)")]
    MaxLayers { value: u32 },
}

/// One store path of the closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    /// `/nix/store/<hash>-<name>`.
    pub path: String,
    /// NAR size from the registration; 0 when unknown.
    pub nar_size: u64,
    /// Store paths this one refers to (itself excluded), sorted.
    pub references: Vec<String>,
}

/// A closure as Nix described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    /// Sorted by path.
    pub paths: Vec<PathInfo>,
    /// The `registration` file's bytes, shipped as `/nix-path-registration`
    /// for NixOS to load into its database at first boot.
    pub registration: Option<Vec<u8>>,
}

/// Checks `/nix/store/<32 base-32 chars>-<name>` (Nix's own rules), so a
/// path can neither escape the store nor name a file inside a store path.
pub fn check_store_path(p: &str) -> Result<(), String> {
    let Some(base) = p.strip_prefix(STORE_DIR).and_then(|r| r.strip_prefix('/')) else {
        return Err(format!("not in {STORE_DIR}"));
    };
    let (hash, name) = base
        .split_at_checked(32)
        .ok_or_else(|| "too short for <hash>-<name>".to_owned())?;
    let nix32 = |c: char| c.is_ascii_digit() || (c.is_ascii_lowercase() && !"eotu".contains(c));
    if !hash.chars().all(nix32) {
        return Err("the hash part is not Nix base-32".into());
    }
    let Some(name) = name.strip_prefix('-') else {
        return Err("no `-` after the hash".into());
    };
    let name_char = |c: char| c.is_ascii_alphanumeric() || "+-._?=".contains(c);
    if name.is_empty() || name.starts_with('.') || !name.chars().all(name_char) {
        return Err(format!("invalid name `{name}`"));
    }
    Ok(())
}

/// Parses a `store-paths` file: one store path a line.
pub fn parse_store_paths(text: &str, file: &Path) -> Result<Vec<String>, NixError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        check_store_path(line).map_err(|m| NixError::Parse {
            file: file.to_owned(),
            line: i + 1,
            message: format!("`{line}`: {m}"),
        })?;
        out.push(line.to_owned());
    }
    Ok(out)
}

/// Parses a `registration` file (`nix-store --load-db` format): for each
/// path, lines `path`, `narHash`, `narSize`, `deriver` (may be empty), the
/// number of references, then each reference.
pub fn parse_registration(text: &str, file: &Path) -> Result<Vec<PathInfo>, NixError> {
    let lines: Vec<&str> = text.lines().collect();
    let err = |line: usize, message: String| NixError::Parse {
        file: file.to_owned(),
        line,
        message,
    };
    let mut out = Vec::new();
    let mut i = 0;
    let field = |i: usize, what: &str| {
        lines
            .get(i)
            .copied()
            .ok_or_else(|| err(i + 1, format!("file ends where the {what} was expected")))
    };
    while i < lines.len() {
        if lines[i].is_empty() && lines[i..].iter().all(|l| l.is_empty()) {
            break;
        }
        let path = field(i, "store path")?;
        check_store_path(path).map_err(|m| err(i + 1, format!("`{path}`: {m}")))?;
        let hash = field(i + 1, "narHash")?;
        if !(hash.is_empty() || hash.starts_with("sha256:")) {
            return Err(err(i + 2, format!("narHash `{hash}` is not sha256:…")));
        }
        let size = field(i + 2, "narSize")?;
        let nar_size: u64 = if size.is_empty() {
            0
        } else {
            size.parse()
                .map_err(|_| err(i + 3, format!("narSize `{size}` is not a number")))?
        };
        let _deriver = field(i + 3, "deriver")?;
        let count = field(i + 4, "reference count")?;
        let count: usize = count
            .parse()
            .map_err(|_| err(i + 5, format!("reference count `{count}` is not a number")))?;
        let mut references = BTreeSet::new();
        for j in 0..count {
            let r = field(i + 5 + j, "reference")?;
            check_store_path(r).map_err(|m| err(i + 6 + j, format!("reference `{r}`: {m}")))?;
            if r != path {
                references.insert(r.to_owned());
            }
        }
        out.push(PathInfo {
            path: path.to_owned(),
            nar_size,
            references: references.into_iter().collect(),
        });
        i += 5 + count;
    }
    Ok(out)
}

/// The largest closure-info file (`store-paths`, `registration`) read: a
/// whole NixOS system's registration is a few MiB.
pub const MAX_CLOSURE_INFO_BYTES: u64 = 64 << 20;

/// Reads a closure-info directory and checks that `store-paths` and
/// `registration` name the same paths and that every reference is inside.
pub fn read_closure_info(dir: &Path) -> Result<Closure, NixError> {
    let read = |name: &str| {
        let path = dir.join(name);
        capped::read(&path, MAX_CLOSURE_INFO_BYTES).map_err(|e| match e {
            CappedError::Io(source) => NixError::Read { path, source },
            CappedError::TooLarge { cap } => NixError::TooLarge { path, cap },
        })
    };
    let text = |name: &str, bytes: &[u8]| {
        String::from_utf8(bytes.to_vec()).map_err(|_| NixError::Inconsistent {
            dir: dir.to_owned(),
            message: format!("{name} is not UTF-8"),
        })
    };
    let sp = read("store-paths")?;
    let store_paths = parse_store_paths(&text("store-paths", &sp)?, &dir.join("store-paths"))?;
    let reg = read("registration")?;
    let infos = parse_registration(&text("registration", &reg)?, &dir.join("registration"))?;

    let listed: BTreeSet<&str> = store_paths.iter().map(String::as_str).collect();
    let registered: BTreeSet<&str> = infos.iter().map(|p| p.path.as_str()).collect();
    if listed != registered {
        let only = |a: &BTreeSet<&str>, b: &BTreeSet<&str>| {
            a.difference(b)
                .take(3)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(NixError::Inconsistent {
            dir: dir.to_owned(),
            message: format!(
                "store-paths and registration differ (only in store-paths: [{}]; only in registration: [{}])",
                only(&listed, &registered),
                only(&registered, &listed)
            ),
        });
    }
    let mut by_path = BTreeMap::new();
    for info in infos {
        if let Some(r) = info
            .references
            .iter()
            .find(|r| !listed.contains(r.as_str()))
        {
            return Err(NixError::Inconsistent {
                dir: dir.to_owned(),
                message: format!("{} refers to {r}, which is not in the closure", info.path),
            });
        }
        if by_path.insert(info.path.clone(), info).is_some() {
            return Err(NixError::Inconsistent {
                dir: dir.to_owned(),
                message: "registration lists a path twice".into(),
            });
        }
    }
    Ok(Closure {
        paths: by_path.into_values().collect(),
        registration: Some(reg),
    })
}

/// A closure given as an explicit list (no references known, no registration).
pub fn closure_from_list(paths: &[PathBuf]) -> Result<Closure, NixError> {
    let mut set = BTreeSet::new();
    for p in paths {
        let s = p.to_str().ok_or_else(|| NixError::StorePath {
            store_path: p.display().to_string(),
            message: "not UTF-8".into(),
        })?;
        check_store_path(s).map_err(|message| NixError::StorePath {
            store_path: s.to_owned(),
            message,
        })?;
        set.insert(s.to_owned());
    }
    Ok(Closure {
        paths: set
            .into_iter()
            .map(|path| PathInfo {
                path,
                nar_size: 0,
                references: Vec::new(),
            })
            .collect(),
        registration: None,
    })
}

/// For every path, how many other paths of the closure depend on it,
/// directly or through others: the paths most depended upon (glibc, bash)
/// are shared by most images and go in layers of their own.
pub fn popularity(closure: &Closure) -> BTreeMap<&str, usize> {
    let index: BTreeMap<&str, usize> = closure
        .paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.path.as_str(), i))
        .collect();
    let refs: Vec<Vec<usize>> = closure
        .paths
        .iter()
        .map(|p| {
            p.references
                .iter()
                .filter_map(|r| index.get(r.as_str()).copied())
                .collect()
        })
        .collect();
    let mut count = vec![0usize; closure.paths.len()];
    let mut seen = vec![usize::MAX; closure.paths.len()];
    for start in 0..closure.paths.len() {
        let mut stack = refs[start].clone();
        while let Some(n) = stack.pop() {
            if seen[n] == start || n == start {
                continue;
            }
            seen[n] = start;
            count[n] += 1;
            stack.extend(refs[n].iter().copied());
        }
    }
    closure
        .paths
        .iter()
        .zip(count)
        .map(|(p, c)| (p.path.as_str(), c))
        .collect()
}

/// The layer budget for store paths: `max_layers` minus the skeleton layer.
pub fn store_layer_budget(max_layers: Option<u32>) -> Result<usize, NixError> {
    let value = max_layers.unwrap_or(MAX_LAYERS);
    if !(2..=MAX_LAYERS).contains(&value) {
        return Err(NixError::MaxLayers { value });
    }
    Ok(value as usize - 1)
}

/// Groups the closure's paths into at most `budget` layers, most popular
/// first (lowest in the image): each of the first `budget - 1` paths alone,
/// the rest together in the last. Ties go to the bigger path, then by name,
/// so the grouping is a function of the closure alone.
pub fn group(closure: &Closure, budget: usize) -> Vec<Vec<String>> {
    let pop = popularity(closure);
    let mut order: Vec<&PathInfo> = closure.paths.iter().collect();
    order.sort_by(|a, b| {
        pop[b.path.as_str()]
            .cmp(&pop[a.path.as_str()])
            .then(b.nar_size.cmp(&a.nar_size))
            .then(a.path.cmp(&b.path))
    });
    let paths: Vec<String> = order.into_iter().map(|p| p.path.clone()).collect();
    if paths.len() <= budget {
        return paths.into_iter().map(|p| vec![p]).collect();
    }
    let keep = budget.saturating_sub(1);
    let mut groups: Vec<Vec<String>> = paths[..keep].iter().map(|p| vec![p.clone()]).collect();
    let mut rest = paths[keep..].to_vec();
    rest.sort();
    groups.push(rest);
    groups
}

/// Reads the closure the spec names.
pub fn closure(spec: &NixClosureSpec) -> Result<Closure, NixError> {
    match (&spec.closure_info, spec.store_paths.is_empty()) {
        (Some(_), false) => Err(NixError::BothSources),
        (None, true) => Err(NixError::NoPaths),
        (Some(dir), true) => read_closure_info(dir),
        (None, false) => closure_from_list(&spec.store_paths),
    }
}

/// The toplevel as a store path of the closure, if the spec names one.
pub fn toplevel<'c>(
    spec: &NixClosureSpec,
    closure: &'c Closure,
) -> Result<Option<&'c str>, NixError> {
    let Some(t) = &spec.toplevel else {
        return Ok(None);
    };
    let t = t.to_string_lossy();
    let t = t.trim_end_matches('/');
    closure
        .paths
        .iter()
        .find(|p| p.path == t)
        .map(|p| Some(p.path.as_str()))
        .ok_or_else(|| NixError::ToplevelNotInClosure {
            toplevel: t.to_owned(),
        })
}

mod layout;
pub use layout::{layers, skeleton_entries, SKELETON_LAYER};

#[cfg(test)]
mod tests;
