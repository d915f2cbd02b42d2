//! The image's side of the coverage report: its Wi-Fi driver modules
//! (`lib/modules/VERSION/kernel/drivers/net/wireless/**`) read from the
//! layers' entries and their firmware directory (`lib/firmware`), paths
//! resolved through the image's own symlinks (merged `/usr`, firmware links
//! such as `brcm/…-sdio.bin -> ../cypress/…`). Nothing is read through the
//! build host's file system but the layers' own data.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use softap_config::coverage::KernelReport;

use super::modinfo::{self, Compression, ModInfoError};
use super::report::{cover, DriverModule};
use crate::layer::resolve::resolve;
use crate::layer::{entry, Entry, Kind, Layer};

/// Where a kernel's Wi-Fi drivers live below its module directory.
const WIRELESS: &str = "kernel/drivers/net/wireless/";
const MAX_LINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    #[error("reading module /{path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("module /{path}")]
    Module {
        path: String,
        #[source]
        source: ModInfoError,
    },
}

/// The merged view of the layers, as the disk's tree will be.
struct Merged<'a> {
    entries: BTreeMap<&'a str, &'a Entry>,
    links: HashMap<String, String>,
}

impl<'a> Merged<'a> {
    fn new(layers: &[&'a Layer]) -> Self {
        let mut entries: BTreeMap<&'a str, &'a Entry> = BTreeMap::new();
        let mut links = HashMap::new();
        for l in layers {
            for e in &l.entries {
                match &e.kind {
                    Kind::Symlink(t) => {
                        links.insert(e.path.clone(), t.clone());
                    }
                    _ => {
                        links.remove(&e.path);
                    }
                }
                entries.insert(e.path.as_str(), e);
            }
        }
        Merged { entries, links }
    }

    /// The entry at `path` after following every symlink, its last
    /// component's too; `None` when it dangles, loops or leaves the image.
    fn follow(&self, path: &str) -> Option<(String, &'a Entry)> {
        let mut p = resolve(path, &self.links).ok()?;
        for _ in 0..MAX_LINKS {
            match self.links.get(&p) {
                Some(target) => {
                    let joined = if target.starts_with('/') {
                        target.clone()
                    } else {
                        format!("{}/{target}", entry::parent(&p))
                    };
                    p = resolve(&joined, &self.links).ok()?;
                    p = normalise(&p)?;
                }
                None => return self.entries.get(p.as_str()).map(|e| (p, *e)),
            }
        }
        None
    }

    /// The directory `path` resolves to (e.g. `lib/modules` to
    /// `usr/lib/modules` on merged `/usr`).
    fn dir(&self, path: &str) -> Option<String> {
        match self.follow(path) {
            Some((p, e)) if e.is_dir() => Some(p),
            _ => None,
        }
    }

    /// Entries strictly below directory `dir`.
    fn below(&self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a Entry)> + '_ {
        let prefix = format!("{dir}/");
        self.entries
            .range::<str, _>((std::ops::Bound::Excluded(dir), std::ops::Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, e)| (*k, *e))
    }
}

/// `a/./b/../c` as `a/c` (`resolve` leaves the last component alone).
fn normalise(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// The firmware names a driver may ask for, to the file present for each:
/// every regular file (or symlink to one) below the firmware directory, a
/// compressed one (`.xz`, `.zst`) under its uncompressed name as the kernel
/// looks it up, and the directories the kernel searches first
/// (`updates/VERSION`, `updates`, `VERSION`) under the names found there.
fn firmware_for(merged: &Merged<'_>, root: &str, kernel: &str) -> BTreeMap<String, String> {
    let mut files: Vec<String> = Vec::new();
    for (path, e) in merged.below(root) {
        let present = match &e.kind {
            Kind::File { .. } => true,
            Kind::Symlink(_) => matches!(
                merged.follow(path),
                Some((_, t)) if matches!(t.kind, Kind::File { .. })
            ),
            Kind::Dir => false,
        };
        if present {
            files.push(path[root.len() + 1..].to_owned());
        }
    }
    let mut out = BTreeMap::new();
    // Lowest priority first: a later search directory's file wins.
    for prefix in [
        "",
        &format!("{kernel}/"),
        "updates/",
        &format!("updates/{kernel}/"),
    ] {
        for f in &files {
            let Some(rel) = f.strip_prefix(prefix) else {
                continue;
            };
            let name = rel
                .strip_suffix(".xz")
                .or_else(|| rel.strip_suffix(".zst"))
                .unwrap_or(rel);
            out.insert(name.to_owned(), f.clone());
        }
    }
    out
}

fn read_module(path: &str, e: &Entry) -> Result<Option<DriverModule>, CoverageError> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let (Some(c), Kind::File { size, data, .. }) = (Compression::of_module(name), &e.kind) else {
        return Ok(None);
    };
    let read_err = |source| CoverageError::Read {
        path: path.to_owned(),
        source,
    };
    if *size > modinfo::MAX_MODULE_SIZE {
        return Err(CoverageError::Module {
            path: path.to_owned(),
            source: ModInfoError::TooLarge,
        });
    }
    let mut bytes = Vec::new();
    data.open(*size)
        .and_then(|mut r| r.read_to_end(&mut bytes))
        .map_err(read_err)?;
    let module_err = |source| CoverageError::Module {
        path: path.to_owned(),
        source,
    };
    let info =
        modinfo::parse(&modinfo::decompress(bytes, c).map_err(module_err)?).map_err(module_err)?;
    let fallback = name.split(".ko").next().unwrap_or(name).replace('-', "_");
    Ok(Some(DriverModule {
        name: info.name.unwrap_or(fallback),
        file: String::new(),
        firmware: info.firmware,
    }))
}

/// The coverage of every kernel in `layers` (lowest first, as the disk
/// stacks them): one per `lib/modules/VERSION` with Wi-Fi drivers, by
/// version. An image without kernel modules has none.
pub fn gather(layers: &[&Layer]) -> Result<Vec<KernelReport>, CoverageError> {
    let merged = Merged::new(layers);
    let Some(modules_root) = merged.dir("lib/modules") else {
        return Ok(Vec::new());
    };
    let firmware_root = merged.dir("lib/firmware");
    let mut kernels: BTreeMap<String, Vec<DriverModule>> = BTreeMap::new();
    for (path, e) in merged.below(&modules_root) {
        let rel = &path[modules_root.len() + 1..];
        let Some((kernel, in_kernel)) = rel.split_once('/') else {
            continue;
        };
        if !in_kernel.starts_with(WIRELESS) {
            continue;
        }
        if let Some(mut m) = read_module(path, e)? {
            m.file = in_kernel.to_owned();
            kernels.entry(kernel.to_owned()).or_default().push(m);
        }
    }
    Ok(kernels
        .into_iter()
        .map(|(kernel, modules)| {
            let firmware = firmware_root
                .as_deref()
                .map(|root| firmware_for(&merged, root, &kernel))
                .unwrap_or_default();
            cover(&kernel, modules, &firmware)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::modinfo::tests::module_elf;
    use super::*;

    fn xz(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        lzma_rs::xz_compress(&mut &bytes[..], &mut out).unwrap();
        out
    }

    fn link(path: &str, target: &str) -> Entry {
        let mut e = Entry::dir(path, 0o777, 0);
        e.kind = Kind::Symlink(target.to_owned());
        e
    }

    const K: &str = "usr/lib/modules/6.12.0-amd64/kernel/drivers/net/wireless";

    /// A merged-/usr image: modules compressed, firmware with links.
    fn image() -> Vec<Layer> {
        let base = Layer::finish(
            "base",
            vec![
                link("lib", "usr/lib"),
                Entry::dir("usr/lib/modules", 0o755, 0),
                Entry::dir("usr/lib/firmware", 0o755, 0),
            ],
            None,
            0,
        );
        let kernel = Layer::finish(
            "kernel",
            vec![
                Entry::bytes(
                    format!("{K}/intel/iwlwifi/iwlwifi.ko.xz"),
                    xz(&module_elf(&[
                        "firmware=iwlwifi-cc-a0-77.ucode",
                        "name=iwlwifi",
                    ])),
                    0o644,
                    0,
                ),
                Entry::bytes(
                    format!("{K}/broadcom/brcmfmac.ko.zst"),
                    zstd::encode_all(
                        &module_elf(&[
                            "firmware=brcm/brcmfmac4356-sdio.bin",
                            "firmware=brcm/brcmfmac4350-pcie.bin",
                            "name=brcmfmac",
                        ])[..],
                        3,
                    )
                    .unwrap(),
                    0o644,
                    0,
                ),
                Entry::bytes(
                    format!("{K}/ralink/rt2800usb.ko"),
                    module_elf(&["firmware=rt2870.bin", "firmware=rt3070.bin"]),
                    0o644,
                    0,
                ),
                // Not a Wi-Fi driver.
                Entry::bytes(
                    "usr/lib/modules/6.12.0-amd64/kernel/drivers/net/e1000.ko",
                    b"never read".to_vec(),
                    0o644,
                    0,
                ),
                Entry::bytes(
                    "usr/lib/firmware/iwlwifi-cc-a0-72.ucode.xz",
                    b"fw".to_vec(),
                    0o644,
                    0,
                ),
                Entry::bytes(
                    "usr/lib/firmware/cypress/cyfmac4356-sdio.bin",
                    b"fw".to_vec(),
                    0o644,
                    0,
                ),
                link(
                    "usr/lib/firmware/brcm/brcmfmac4356-sdio.bin",
                    "../cypress/cyfmac4356-sdio.bin",
                ),
                // Dangling: its target is not in the image.
                link(
                    "usr/lib/firmware/brcm/brcmfmac4350-pcie.bin",
                    "../cypress/gone.bin",
                ),
                Entry::bytes("usr/lib/firmware/rt2870.bin", b"fw".to_vec(), 0o644, 0),
                // The kernel looks in `updates/` first.
                Entry::bytes(
                    "usr/lib/firmware/updates/rt2870.bin",
                    b"fw".to_vec(),
                    0o644,
                    0,
                ),
                // Through the image's own `/lib` link, as packages ship it.
                link("usr/lib/firmware/rt3070.bin", "/lib/firmware/rt2870.bin"),
            ],
            None,
            0,
        );
        vec![base, kernel]
    }

    #[test]
    fn modules_and_firmware_from_the_layers() {
        let layers = image();
        let refs: Vec<&Layer> = layers.iter().collect();
        let kernels = gather(&refs).unwrap();
        assert_eq!(kernels.len(), 1);
        let s = crate::coverage::summary(&kernels[0]);
        assert_eq!(s.kernel, "6.12.0-amd64");
        let by_name = |n: &str| s.modules.iter().find(|m| m.module == n).unwrap();
        assert_eq!(s.modules.len(), 3, "{s:?}");
        let iwl = by_name("iwlwifi");
        assert_eq!(
            iwl.file,
            "kernel/drivers/net/wireless/intel/iwlwifi/iwlwifi.ko.xz"
        );
        assert_eq!(iwl.files, ["iwlwifi-cc-a0-72.ucode.xz"]);
        let brcm = by_name("brcmfmac");
        assert_eq!(brcm.present, ["brcm/brcmfmac4356-sdio.bin"]);
        assert_eq!(brcm.missing, ["brcm/brcmfmac4350-pcie.bin"]);
        // No `name=`: named after its file.
        let rt = by_name("rt2800usb");
        assert_eq!(rt.files, ["updates/rt2870.bin", "rt3070.bin"]);
        assert!(rt.missing.is_empty());
    }

    #[test]
    fn a_broken_module_names_its_file() {
        let mut layers = image();
        layers.push(Layer::finish(
            "overlays",
            vec![Entry::bytes(
                format!("{K}/bad.ko.xz"),
                b"garbage".to_vec(),
                0o644,
                0,
            )],
            None,
            0,
        ));
        let refs: Vec<&Layer> = layers.iter().collect();
        let e = gather(&refs).unwrap_err();
        assert!(e.to_string().contains("wireless/bad.ko.xz"), "{e}");
    }

    #[test]
    fn no_kernel_no_report() {
        let base = Layer::finish("base", vec![Entry::dir("etc", 0o755, 0)], None, 0);
        assert!(gather(&[&base]).unwrap().is_empty());
    }
}
