//! The upper layers' entries: overlay trees (with `*.j2` templates rendered),
//! the agent binary and the appliance defaults.

use std::path::PathBuf;

use softap_config::capped::{self, CappedError};

use crate::layer::entry::{Data, Entry, Kind};
use crate::layer::resolve::check_relative;
use crate::layer::source::{walk_dir, Normalise};
use crate::layer::LayerError;
use crate::spec::{Location, Overlay, Spec};

pub use softap_config::paths::{AGENT_PATH, ETC_CONFIG as APPLIANCE_PATH};

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("{at}: overlay {}: {message}", overlay.display())]
    Escape {
        at: Location,
        overlay: PathBuf,
        message: String,
    },
    #[error("{at}: template {}", file.display())]
    ReadTemplate {
        at: Location,
        file: PathBuf,
        #[source]
        source: CappedError,
    },
    #[error("{at}: template {}{}", file.display(), line.map(|l| format!(": line {l}")).unwrap_or_default())]
    Template {
        at: Location,
        file: PathBuf,
        line: Option<usize>,
        #[source]
        source: minijinja::Error,
    },
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// The cause is left to the chain, which `softap-build` prints.
    #[error("{}: [appliance]: cannot write it as TOML", file.display())]
    Appliance {
        file: PathBuf,
        #[source]
        source: toml::ser::Error,
    },
}

/// Each overlay's entries, in spec order (later overlays win on the same
/// path when the layer is finished).
pub fn overlay_entries(spec: &Spec) -> Result<Vec<(&Overlay, Vec<Entry>)>, OverlayError> {
    let mut all = Vec::new();
    for (i, o) in spec.overlays.iter().enumerate() {
        let mut out = Vec::new();
        let norm = Normalise {
            source_date_epoch: spec.image.source_date_epoch,
            owner: Some(o.owner),
            fixed_mtime: true,
            // Host xattrs (SELinux labels, ...) would leak into the image.
            xattrs: false,
        };
        let walked = walk_dir(&o.path.path, &norm)?;
        for mut e in walked.entries {
            // A checkout's modes follow the umask (git keeps only the x bit):
            // drop group/other write so the bytes do not depend on it.
            e.mode &= !0o022;
            match &mut e.kind {
                Kind::Symlink(t) => {
                    check_relative(&e.path, t).map_err(|message| OverlayError::Escape {
                        at: o.path.at.clone(),
                        overlay: o.path.path.clone(),
                        message,
                    })?;
                }
                Kind::File {
                    data, link_group, ..
                } => {
                    // Hard-link groups are numbered per walk.
                    *link_group = link_group.map(|g| g | ((i as u64) << 40));
                    if let (Some(stripped), Data::Path(src)) = (e.path.strip_suffix(".j2"), &*data)
                    {
                        let rendered = render(spec, o, src)?;
                        e = Entry {
                            path: stripped.to_owned(),
                            kind: Kind::File {
                                size: rendered.len() as u64,
                                data: Data::Bytes(rendered.into()),
                                link_group: None,
                            },
                            ..e
                        };
                    }
                }
                Kind::Dir => {}
            }
            out.push(e);
        }
        all.push((o, out));
    }
    Ok(all)
}

/// The largest `.j2` template read (real ones are a few KiB).
pub const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

/// The template context: the overlay's `vars` at the top level, plus
/// `image` and `appliance` tables.
fn render(spec: &Spec, o: &Overlay, src: &std::path::Path) -> Result<Vec<u8>, OverlayError> {
    let vars = &o.vars;
    let terr = |source: minijinja::Error| OverlayError::Template {
        at: o.path.at.clone(),
        file: src.to_owned(),
        line: source.line(),
        source,
    };
    let text = capped::read_to_string(src, MAX_TEMPLATE_BYTES).map_err(|source| {
        OverlayError::ReadTemplate {
            at: o.path.at.clone(),
            file: src.to_owned(),
            source,
        }
    })?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    let name = src.display().to_string();
    env.add_template_owned(name.clone(), text).map_err(terr)?;
    let mut ctx = vars.clone();
    let mut image = toml::Table::new();
    image.insert("name".into(), spec.image.name.clone().into());
    image.insert("tag".into(), spec.image.tag.clone().into());
    image.insert(
        "source_date_epoch".into(),
        toml::Value::Integer(spec.image.source_date_epoch as i64),
    );
    ctx.insert("image".into(), toml::Value::Table(image));
    let appliance = appliance_table(spec)?;
    ctx.insert("appliance".into(), toml::Value::Table(appliance));
    let t = env.get_template(&name).map_err(terr)?;
    let out = t
        .render(minijinja::Value::from_serialize(&ctx))
        .map_err(terr)?;
    Ok(out.into_bytes())
}

pub fn agent_entry(spec: &Spec) -> Option<Entry> {
    let a = spec.agent.as_ref()?;
    let size = std::fs::metadata(&a.path).map(|m| m.len()).unwrap_or(0);
    Some(Entry {
        path: AGENT_PATH.to_owned(),
        kind: Kind::File {
            size,
            data: Data::Path(a.path.clone()),
            link_group: None,
        },
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: spec.image.source_date_epoch,
        xattrs: Vec::new(),
    })
}

/// `[appliance]` as a TOML table (keys sorted), for templates and the file.
fn appliance_table(spec: &Spec) -> Result<toml::Table, OverlayError> {
    toml::Table::try_from(&spec.appliance).map_err(|source| OverlayError::Appliance {
        file: spec.file.clone(),
        source,
    })
}

/// `[appliance]` as the TOML file the agent reads, or `None` when empty. The
/// spec loader has checked it with the agent's own rules.
pub fn appliance_toml(spec: &Spec) -> Result<Option<String>, OverlayError> {
    if spec.appliance.is_empty() {
        return Ok(None);
    }
    let table = appliance_table(spec)?;
    toml::to_string(&table)
        .map(Some)
        .map_err(|source| OverlayError::Appliance {
            file: spec.file.clone(),
            source,
        })
}

pub fn appliance_entry(spec: &Spec) -> Result<Option<Entry>, OverlayError> {
    Ok(appliance_toml(spec)?.map(|text| {
        let header = format!(
            "# Appliance defaults from the image spec ({}); the agent validates them at boot.\n",
            spec.file
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
        );
        Entry::bytes(
            APPLIANCE_PATH,
            format!("{header}{text}").into_bytes(),
            0o644,
            spec.image.source_date_epoch,
        )
    }))
}
