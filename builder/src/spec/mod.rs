//! The image spec (`images/*.toml`): parsing, `extends` merging and checks.
//!
//! Each file is parsed on its own into a partial spec whose paths are resolved
//! against that file's directory and whose every value remembers where it was
//! written, then the chain of `extends` is merged (the extending file wins,
//! `[[overlay]]` lists are appended, `[appliance]` is merged key by key, maps
//! are deep-merged, `[base]` is replaced as a whole). `[appliance]` is checked
//! with the agent's own configuration rules (the `softap-config` crate), so a
//! value the agent would reject at boot fails here, at its line and column.

mod base;
mod raw;
mod tagged;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use base::{DebianSpec, NixClosureSpec};
pub use raw::{Compression, MAX_EPOCH, MAX_EXTENDS_DEPTH, MAX_SPEC_BYTES};

/// Where in which file a value was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            // A value the spec implies rather than one written at a place.
            return write!(f, "{}", self.file.display());
        }
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: the spec is larger than {cap} bytes, the most a spec may hold", file.display())]
    TooLarge { file: PathBuf, cap: u64 },
    #[error("{at}: key `{key}`: {message}")]
    At {
        at: Location,
        key: String,
        message: String,
    },
    #[error("{}: {message}", file.display())]
    File { file: PathBuf, message: String },
    /// A key of `[appliance]` that the agent would reject at boot, or one
    /// that must not be baked into an image.
    #[error("{at}: [appliance] key `{key}`: {message}")]
    Appliance {
        at: Location,
        key: String,
        message: String,
    },
}

impl SpecError {
    pub(crate) fn at(at: &Location, key: &str, message: impl Into<String>) -> Self {
        SpecError::At {
            at: at.clone(),
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// A path from the spec, absolute, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecPath {
    pub path: PathBuf,
    pub key: String,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spec {
    /// The spec file given on the command line (absolute).
    pub file: PathBuf,
    pub image: Image,
    pub base: Base,
    pub overlays: Vec<Overlay>,
    pub agent: Option<SpecPath>,
    /// The agent's configuration defaults, checked with its own rules.
    pub appliance: softap_config::Layer,
    pub container: Container,
    pub output: Output,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    pub name: String,
    pub tag: String,
    pub source_date_epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Base {
    Rootfs { path: SpecPath },
    Debian(DebianSpec),
    NixClosure(NixClosureSpec),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlay {
    pub path: SpecPath,
    /// uid:gid every entry gets.
    pub owner: (u32, u32),
    pub vars: toml::Table,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub working_dir: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    pub oci_archive: bool,
    pub oci_dir: bool,
    pub disk: bool,
    pub disk_size: Option<u64>,
    pub compression: Compression,
    pub compression_level: Option<i32>,
}

/// Reads `file` (and what it extends), resolves paths and checks that every
/// named file exists. `env_epoch` is `SOURCE_DATE_EPOCH` from the environment.
pub fn load(file: &Path, env_epoch: Option<&str>) -> Result<Spec, SpecError> {
    let file = std::path::absolute(file).map_err(|source| SpecError::Read {
        file: file.to_owned(),
        source,
    })?;
    let partial = raw::load_chain(&file)?;
    let spec = raw::finish(&file, partial, env_epoch)?;
    check_paths(&spec)?;
    Ok(spec)
}

fn check_paths(spec: &Spec) -> Result<(), SpecError> {
    let missing = |p: &SpecPath, what: &str| {
        let (what, hint) = what.split_once(" (").unwrap_or((what, ""));
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!(" ({hint}")
        };
        SpecError::at(
            &p.at,
            &p.key,
            format!("{what} not found: looked for {}{hint}", p.path.display()),
        )
    };
    if let Base::Rootfs { path } = &spec.base {
        if std::fs::symlink_metadata(&path.path).is_err() {
            return Err(missing(path, "base rootfs (a directory or a .tar)"));
        }
    }
    for o in &spec.overlays {
        match std::fs::metadata(&o.path.path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(SpecError::at(
                    &o.path.at,
                    &o.path.key,
                    format!("overlay is not a directory: {}", o.path.path.display()),
                ))
            }
            Err(_) => return Err(missing(&o.path, "overlay directory")),
        }
    }
    if let Some(a) = &spec.agent {
        match std::fs::metadata(&a.path) {
            Ok(m) if m.is_file() => {}
            _ => {
                return Err(missing(
                    a,
                    "agent binary (build it first: cargo build --release -p softap-agent)",
                ))
            }
        }
    }
    Ok(())
}
