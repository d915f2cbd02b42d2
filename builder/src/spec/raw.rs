//! One spec file as written, every field optional, then merged and finished.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use softap_config::capped::{self, CappedError};
use softap_config::{Combine, Layer};
use toml::Spanned;

use super::base::DebianSpec;
use super::base::NixClosureSpec;
use super::tagged::Tagged;
use super::{Base, Container, Image, Location, Output, Overlay, Spec, SpecError, SpecPath};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile<B> {
    extends: Option<Spanned<String>>,
    image: Option<RawImage>,
    base: Option<B>,
    #[serde(default)]
    overlay: Vec<RawOverlay>,
    agent: Option<RawAgent>,
    /// Read on its own by [`parse_appliance`], so that its errors say so.
    appliance: Option<serde::de::IgnoredAny>,
    container: Option<RawContainer>,
    output: Option<RawOutput>,
}

/// First pass: only `kind` of `[base]` matters.
#[derive(Deserialize)]
struct BaseProbe {
    kind: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootfsFields {
    path: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawImage {
    name: Option<Spanned<String>>,
    tag: Option<Spanned<String>>,
    source_date_epoch: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverlay {
    path: Spanned<String>,
    owner: Option<Spanned<String>>,
    #[serde(default)]
    vars: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    path: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawContainer {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    stop_signal: Option<String>,
    working_dir: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    oci_archive: Option<bool>,
    oci_dir: Option<bool>,
    disk: Option<bool>,
    disk_size: Option<Spanned<String>>,
    compression: Option<Compression>,
    compression_level: Option<Spanned<i32>>,
}

/// A file's content after its own checks, paths made absolute.
#[derive(Default)]
pub(super) struct Partial {
    name: Option<(String, Location)>,
    tag: Option<(String, Location)>,
    epoch: Option<(i64, Location)>,
    base: Option<Base>,
    overlays: Vec<Overlay>,
    agent: Option<SpecPath>,
    appliance: Layer,
    /// Where each `[appliance]` key was written.
    appliance_at: BTreeMap<&'static str, Location>,
    container: RawContainer,
    output: RawOutput,
    disk_size: Option<u64>,
    level: Option<(i32, Location)>,
}

struct Source<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn loc(&self, offset: usize) -> Location {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location {
            file: self.file.to_owned(),
            line,
            column,
        }
    }

    /// The key a span belongs to: the text before `=` on its line, or the
    /// table header.
    fn key_at(&self, offset: usize) -> String {
        let start = self.text[..offset.min(self.text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line = self.text[start..].lines().next().unwrap_or("");
        let line = line.trim();
        if let Some((k, _)) = line.split_once('=') {
            return k.trim().to_owned();
        }
        line.trim_matches(|c| c == '[' || c == ']').to_owned()
    }

    fn toml_error(&self, e: &toml::de::Error) -> SpecError {
        match e.span() {
            Some(span) => {
                let at = self.loc(span.start);
                let mut key = self.key_at(span.start);
                let spanned = &self.text[span.clone()];
                // An unknown key's span is the key itself.
                if !spanned.contains('\n')
                    && !spanned.contains('=')
                    && !spanned.is_empty()
                    && e.message().contains("unknown field")
                {
                    key = spanned.trim_matches('"').to_owned();
                }
                SpecError::At {
                    at,
                    key,
                    message: e.message().trim().to_owned(),
                }
            }
            None => SpecError::File {
                file: self.file.to_owned(),
                message: e.message().trim().to_owned(),
            },
        }
    }

    fn path(&self, dir: &Path, key: &str, v: &Spanned<String>) -> SpecPath {
        SpecPath {
            path: normalise(&dir.join(v.get_ref())),
            key: key.to_owned(),
            at: self.loc(v.span().start),
        }
    }
}

/// Lexical normalisation (`a/../b` → `b`) so messages show plain paths.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The most spec files one `extends` chain may hold (the file given
/// included). Real chains are two or three long; the bound keeps the
/// recursion below from overflowing the stack on a generated chain.
pub const MAX_EXTENDS_DEPTH: usize = 16;

/// The largest spec file read (real ones are a few KiB).
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

pub(super) fn load_chain(file: &Path) -> Result<Partial, SpecError> {
    let mut seen = Vec::new();
    load_one(file, &mut seen)
}

fn load_one(file: &Path, seen: &mut Vec<PathBuf>) -> Result<Partial, SpecError> {
    let text = capped::read_to_string(file, MAX_SPEC_BYTES).map_err(|e| match e {
        CappedError::Io(source) => SpecError::Read {
            file: file.to_owned(),
            source,
        },
        CappedError::TooLarge { cap } => SpecError::TooLarge {
            file: file.to_owned(),
            cap,
        },
    })?;
    let src = Source { file, text: &text };
    let dir = file.parent().unwrap_or(Path::new("/"));

    let probe: RawFile<BaseProbe> = toml::from_str(&text).map_err(|e| src.toml_error(&e))?;
    let base = match &probe.base {
        None => None,
        Some(BaseProbe { kind: None }) => {
            return Err(SpecError::File {
                file: file.to_owned(),
                message: "[base] needs `kind` = \"rootfs\", \"debian\" or \"nix-closure\""
                    .to_owned(),
            })
        }
        Some(BaseProbe { kind: Some(kind) }) => Some(parse_base(&src, dir, kind)?),
    };

    seen.push(file.to_owned());
    let mut parent = match &probe.extends {
        None => Partial::default(),
        Some(ext) => {
            let at = src.loc(ext.span().start);
            let target = normalise(&dir.join(ext.get_ref()));
            if seen.contains(&target) {
                return Err(SpecError::at(
                    &at,
                    "extends",
                    format!("cycle: {} is already being read", target.display()),
                ));
            }
            if !target.is_file() {
                return Err(SpecError::at(
                    &at,
                    "extends",
                    format!("spec not found: looked for {}", target.display()),
                ));
            }
            if seen.len() >= MAX_EXTENDS_DEPTH {
                let chain: Vec<String> = seen
                    .iter()
                    .chain(std::iter::once(&target))
                    .map(|p| p.display().to_string())
                    .collect();
                return Err(SpecError::at(
                    &at,
                    "extends",
                    format!(
                        "the extends chain is longer than {MAX_EXTENDS_DEPTH} files: {}",
                        chain.join(" -> ")
                    ),
                ));
            }
            load_one(&target, seen)?
        }
    };
    let own = partial(&src, dir, probe, base)?;
    merge(&mut parent, own);
    Ok(parent)
}

fn parse_base(src: &Source<'_>, dir: &Path, kind: &Spanned<String>) -> Result<Base, SpecError> {
    #[derive(Deserialize)]
    struct OnlyBase<B> {
        base: B,
    }
    // The rest of the file was checked by the first pass; read `[base]` alone
    // (unknown top-level keys are ignored here) so its errors keep their spans.
    fn read<T: for<'de> Deserialize<'de>>(src: &Source<'_>) -> Result<T, SpecError> {
        toml::from_str::<OnlyBase<Tagged<T>>>(src.text)
            .map(|b| b.base.0)
            .map_err(|e| src.toml_error(&e))
    }
    match kind.get_ref().as_str() {
        "rootfs" => {
            let f: RootfsFields = read(src)?;
            Ok(Base::Rootfs {
                path: src.path(dir, "base.path", &f.path),
            })
        }
        "debian" => {
            let mut d: DebianSpec = read(src)?;
            d.keyring = d.keyring.map(|k| normalise(&dir.join(k)));
            Ok(Base::Debian(d))
        }
        "nix-closure" => {
            let mut n: NixClosureSpec = read(src)?;
            n.closure_info = n.closure_info.map(|p| normalise(&dir.join(p)));
            n.toplevel = n.toplevel.map(|p| normalise(&dir.join(p)));
            n.store_paths = n
                .store_paths
                .iter()
                .map(|p| normalise(&dir.join(p)))
                .collect();
            Ok(Base::NixClosure(n))
        }
        other => Err(SpecError::at(
            &src.loc(kind.span().start),
            "base.kind",
            format!("unknown base kind `{other}`, expected `rootfs`, `debian` or `nix-closure`"),
        )),
    }
}

/// `[appliance]` as the agent's configuration layer, and where each key was
/// written.
fn parse_appliance(
    src: &Source<'_>,
) -> Result<(Layer, BTreeMap<&'static str, Location>), SpecError> {
    #[derive(Deserialize)]
    struct OnlyAppliance<T> {
        appliance: Option<T>,
    }
    let in_appliance = |e: toml::de::Error| match src.toml_error(&e) {
        SpecError::At { at, key, message } => SpecError::Appliance { at, key, message },
        other => other,
    };
    let layer = toml::from_str::<OnlyAppliance<Layer>>(src.text)
        .map_err(in_appliance)?
        .appliance
        .unwrap_or_default();
    let spans = toml::from_str::<OnlyAppliance<BTreeMap<String, Spanned<toml::Value>>>>(src.text)
        .map_err(in_appliance)?
        .appliance
        .unwrap_or_default();
    let at = spans
        .iter()
        .filter_map(|(name, value)| {
            let key = softap_config::keys::key(name)?;
            Some((key.name, src.loc(value.span().start)))
        })
        .collect();
    Ok((layer, at))
}

fn partial(
    src: &Source<'_>,
    dir: &Path,
    raw: RawFile<BaseProbe>,
    base: Option<Base>,
) -> Result<Partial, SpecError> {
    let image = raw.image.unwrap_or_default();
    let loc_of = |s: &Spanned<String>| (s.get_ref().clone(), src.loc(s.span().start));
    let mut overlays = Vec::new();
    for o in &raw.overlay {
        let owner = match &o.owner {
            None => (0, 0),
            Some(s) => parse_owner(s.get_ref()).ok_or_else(|| {
                SpecError::at(
                    &src.loc(s.span().start),
                    "overlay.owner",
                    format!("`{}` is not uid:gid (numbers, e.g. \"0:0\")", s.get_ref()),
                )
            })?,
        };
        overlays.push(Overlay {
            path: src.path(dir, "overlay.path", &o.path),
            owner,
            vars: o.vars.clone(),
        });
    }
    let mut output = raw.output.unwrap_or_default();
    let disk_size = match output.disk_size.take() {
        None => None,
        Some(s) => Some(parse_size(s.get_ref()).ok_or_else(|| {
            SpecError::at(
                &src.loc(s.span().start),
                "output.disk_size",
                format!(
                    "`{}` is not a size (bytes, or a number with K/M/G/T, KiB/MiB/GiB/TiB)",
                    s.get_ref()
                ),
            )
        })?),
    };
    let level = output
        .compression_level
        .take()
        .map(|l| (*l.get_ref(), src.loc(l.span().start)));
    let (appliance, appliance_at) = match raw.appliance {
        Some(_) => parse_appliance(src)?,
        None => Default::default(),
    };
    Ok(Partial {
        name: image.name.as_ref().map(loc_of),
        tag: image.tag.as_ref().map(loc_of),
        epoch: image
            .source_date_epoch
            .map(|e| (*e.get_ref(), src.loc(e.span().start))),
        base,
        overlays,
        agent: raw.agent.map(|a| src.path(dir, "agent.path", &a.path)),
        appliance,
        appliance_at,
        container: raw.container.unwrap_or_default(),
        output,
        disk_size,
        level,
    })
}

fn merge(into: &mut Partial, own: Partial) {
    fn or<T>(a: &mut Option<T>, b: Option<T>) {
        if b.is_some() {
            *a = b;
        }
    }
    or(&mut into.name, own.name);
    or(&mut into.tag, own.tag);
    or(&mut into.epoch, own.epoch);
    or(&mut into.base, own.base);
    into.overlays.extend(own.overlays);
    or(&mut into.agent, own.agent);
    into.appliance = own.appliance.combine(std::mem::take(&mut into.appliance));
    into.appliance_at.extend(own.appliance_at);
    let (c, o) = (&mut into.container, own.container);
    or(&mut c.entrypoint, o.entrypoint);
    or(&mut c.cmd, o.cmd);
    c.env.extend(o.env);
    c.labels.extend(o.labels);
    or(&mut c.stop_signal, o.stop_signal);
    or(&mut c.working_dir, o.working_dir);
    let (out, o) = (&mut into.output, own.output);
    or(&mut out.oci_archive, o.oci_archive);
    or(&mut out.oci_dir, o.oci_dir);
    or(&mut out.disk, o.disk);
    or(&mut out.compression, o.compression);
    or(&mut into.disk_size, own.disk_size);
    or(&mut into.level, own.level);
}

fn parse_owner(s: &str) -> Option<(u32, u32)> {
    let (u, g) = s.split_once(':')?;
    Some((u.parse().ok()?, g.parse().ok()?))
}

pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// The latest epoch accepted: 8^11 - 1 = 8589934591 (2242-03-16T12:56:31Z),
/// the largest mtime ustar's 11 octal digits hold. Past it the tar writer
/// (layer/tarwrite.rs, through the tar crate's `set_mtime`) switches to GNU
/// base-256, which strict ustar readers refuse, and consumers read large
/// times back wrong (umoci unpacked 9999-12-31 as 1901). Up to this bound
/// umoci reads every time back as written (the oci_tools test unpacks a tree
/// at this very time; skopeo and podman read layers with the same Go
/// archive/tar), and the OCI config's RFC 3339 `created` holds it too.
pub const MAX_EPOCH: i64 = 8_589_934_591;

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !s.starts_with(['.', '-'])
}

/// `[appliance]` ends up in an image layer, readable by anyone who pulls the
/// image: secrets stay out. The rest must pass the agent's own rules.
fn check_appliance(
    file: &Path,
    layer: &Layer,
    at: &BTreeMap<&'static str, Location>,
) -> Result<(), SpecError> {
    let written = |key: &str| {
        at.get(key).cloned().unwrap_or_else(|| Location {
            file: file.to_owned(),
            line: 0,
            column: 0,
        })
    };
    if let Some(secret) = layer.set_keys().into_iter().find(|k| !k.in_image) {
        return Err(SpecError::Appliance {
            at: written(secret.name),
            key: secret.name.to_owned(),
            message: format!(
                "would be stored in the image; leave it out (by default it is {}) or set it \
                 after flashing in softap.toml on the EFI partition, or with the systemd \
                 credential softap.{}",
                secret.default, secret.name
            ),
        });
    }
    softap_config::from_layer(layer.clone(), Vec::new())
        .check()
        .map_err(|v| SpecError::Appliance {
            at: written(v.key),
            key: v.key.to_owned(),
            message: v.message,
        })
}

pub(super) fn finish(file: &Path, p: Partial, env_epoch: Option<&str>) -> Result<Spec, SpecError> {
    let file_err = |message: String| SpecError::File {
        file: file.to_owned(),
        message,
    };
    let (name, name_at) = p
        .name
        .ok_or_else(|| file_err("[image] needs `name` (the output file names)".into()))?;
    if !name_ok(&name) {
        return Err(SpecError::at(
            &name_at,
            "image.name",
            format!("`{name}` must be letters, digits, `.`, `_`, `-` (not first), at most 128"),
        ));
    }
    let tag = match p.tag {
        None => "latest".to_owned(),
        Some((t, at)) => {
            if !name_ok(&t) {
                return Err(SpecError::at(
                    &at,
                    "image.tag",
                    format!("`{t}` is not a valid tag (letters, digits, `.`, `_`, `-`)"),
                ));
            }
            t
        }
    };
    let source_date_epoch = match (p.epoch, env_epoch) {
        (Some((e, at)), _) => {
            if !(0..=MAX_EPOCH).contains(&e) {
                return Err(SpecError::at(
                    &at,
                    "image.source_date_epoch",
                    format!("{e} is not a Unix time between 0 and {MAX_EPOCH}"),
                ));
            }
            e as u64
        }
        (None, Some(env)) => match env.trim().parse::<i64>() {
            Ok(e) if (0..=MAX_EPOCH).contains(&e) => e as u64,
            _ => {
                return Err(file_err(format!(
                    "SOURCE_DATE_EPOCH={env:?} in the environment is not a Unix time between 0 and {MAX_EPOCH}"
                )))
            }
        },
        (None, None) => {
            return Err(file_err(
                "no source date: set [image] source_date_epoch or the SOURCE_DATE_EPOCH environment variable".into(),
            ))
        }
    };
    let base = p.base.ok_or_else(|| {
        file_err("[base] is missing (kind = \"rootfs\", \"debian\" or \"nix-closure\")".into())
    })?;
    let compression = p.output.compression.unwrap_or_default();
    let compression_level = match p.level {
        None => None,
        Some((l, at)) => {
            let ok = match compression {
                Compression::Gzip => (0..=9).contains(&l),
                Compression::Zstd => (1..=22).contains(&l),
            };
            if !ok {
                return Err(SpecError::at(
                    &at,
                    "output.compression_level",
                    format!("{l} is out of range for {compression:?} (gzip 0-9, zstd 1-22)"),
                ));
            }
            Some(l)
        }
    };
    let output = Output {
        oci_archive: p.output.oci_archive.unwrap_or(true),
        oci_dir: p.output.oci_dir.unwrap_or(false),
        disk: p.output.disk.unwrap_or(false),
        disk_size: p.disk_size,
        compression,
        compression_level,
    };
    if !output.oci_archive && !output.oci_dir && !output.disk {
        return Err(file_err(
            "[output] asks for nothing: set oci_archive, oci_dir or disk".into(),
        ));
    }
    check_appliance(file, &p.appliance, &p.appliance_at)?;
    let c = p.container;
    Ok(Spec {
        file: file.to_owned(),
        image: Image {
            name,
            tag,
            source_date_epoch,
        },
        base,
        overlays: p.overlays,
        agent: p.agent,
        appliance: p.appliance,
        container: Container {
            entrypoint: c
                .entrypoint
                .unwrap_or_else(|| vec!["/sbin/init".to_owned()]),
            cmd: c.cmd.unwrap_or_default(),
            env: c.env,
            labels: c.labels,
            stop_signal: Some(c.stop_signal.unwrap_or_else(|| "SIGRTMIN+3".to_owned())),
            working_dir: c.working_dir.unwrap_or_else(|| "/".to_owned()),
        },
        output,
    })
}
