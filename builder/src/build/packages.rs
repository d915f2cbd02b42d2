//! The image's own packages, for the OCI annotation: the base's package list
//! (`PACKAGES_FILE`, one `name version arch` line each) without the disk's
//! packages: those whose files all went to the disk-only layers (kernel,
//! modules, firmware), and the file-less metapackages the spec installs for
//! the disk only (`disk_packages`, e.g. `linux-image-amd64`). dpkg's file
//! lists (`var/lib/dpkg/info/NAME[:ARCH].list`) say which files each package
//! installed.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use crate::layer::resolve::resolve;
use crate::layer::{Kind, Layer};

/// Where dpkg keeps each package's list of installed paths.
const DPKG_INFO: &str = "var/lib/dpkg/info";

/// Files every package may carry beside its payload: they do not make a
/// package part of the image (the kernel package has bug-report scripts).
const METADATA: &[&str] = &["usr/share/bug/", "usr/share/doc/", "usr/share/lintian/"];

/// Where a path a package installed ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// A file or symlink in the image's layers.
    Image,
    /// A directory (shared by many packages: says nothing).
    Dir,
    /// Only on the disk, or nowhere (excluded from the base).
    Elsewhere,
}

/// The lines of `packages` whose package brings at least one file into the
/// image. A package whose file list is missing is kept (nothing says it is
/// disk-only), and so is a metapackage (no files) unless `disk_packages`
/// names it.
pub(super) fn image_packages(
    packages: &str,
    list: impl Fn(&str) -> Option<String>,
    place: impl Fn(&str) -> Place,
    disk_packages: &[String],
) -> String {
    let mut out = String::new();
    for line in packages.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), arch) = (words.next(), words.nth(1)) else {
            continue;
        };
        let text = list(name).or_else(|| arch.and_then(|a| list(&format!("{name}:{a}"))));
        let keep = text.is_none_or(|t| {
            let payload: Vec<Place> = t
                .lines()
                .map(|p| p.trim_start_matches('/'))
                .filter(|p| {
                    !p.is_empty() && *p != "." && !METADATA.iter().any(|m| p.starts_with(m))
                })
                .map(&place)
                .filter(|w| *w != Place::Dir)
                .collect();
            if payload.is_empty() {
                !disk_packages.iter().any(|d| d == name)
            } else {
                payload.contains(&Place::Image)
            }
        });
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// [`image_packages`] over the planned base layers: `links` are their
/// symlinks (dpkg lists `/bin/x`, merged /usr stores `usr/bin/x`).
pub(super) fn from_layers(
    packages: &str,
    layers: &[Layer],
    links: &HashMap<String, String>,
    disk_packages: &[String],
) -> String {
    let mut dirs: HashSet<&str> = HashSet::new();
    let mut files: HashSet<&str> = HashSet::new();
    let mut lists: HashMap<&str, &crate::layer::Entry> = HashMap::new();
    for l in layers {
        for e in &l.entries {
            if e.is_dir() {
                dirs.insert(&e.path);
                continue;
            }
            if !l.disk_only {
                files.insert(&e.path);
            }
            if let Some(name) = e
                .path
                .strip_prefix(DPKG_INFO)
                .and_then(|p| p.strip_prefix('/'))
                .and_then(|p| p.strip_suffix(".list"))
            {
                lists.insert(name, e);
            }
        }
    }
    let list = |name: &str| {
        let e = lists.get(name)?;
        let Kind::File { size, data, .. } = &e.kind else {
            return None;
        };
        let mut s = String::new();
        data.open(*size).ok()?.read_to_string(&mut s).ok()?;
        Some(s)
    };
    let place = |p: &str| {
        let r = resolve(p, links).unwrap_or_else(|_| p.to_owned());
        // A directory dpkg lists may be a symlink here (merged /usr: `bin`).
        let through = resolve(&format!("{p}/."), links).unwrap_or_default();
        let through = through.strip_suffix("/.").unwrap_or(&through);
        if dirs.contains(r.as_str()) || dirs.contains(through) {
            Place::Dir
        } else if files.contains(p) || files.contains(r.as_str()) {
            Place::Image
        } else {
            Place::Elsewhere
        }
    };
    image_packages(packages, list, place, disk_packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_only_packages_are_left_out() {
        let packages = "\
bash 5.2 amd64
firmware-misc-nonfree 2023 all
hostapd 2.10 amd64
linux-image-amd64 6.1 amd64
linux-image-6.1.0-1-amd64 6.1 amd64
mystery 1 amd64
usr-is-merged 1 all
";
        let lists = HashMap::from([
            (
                "bash",
                "/.\n/bin\n/bin/bash\n/usr/share/doc/bash/copyright\n",
            ),
            (
                "firmware-misc-nonfree",
                "/.\n/lib/firmware\n/lib/firmware/x.bin\n",
            ),
            ("hostapd:amd64", "/.\n/usr/sbin/hostapd\n"),
            (
                "linux-image-amd64",
                "/.\n/usr/share/doc/linux-image-amd64\n",
            ),
            ("usr-is-merged", "/.\n/usr\n/usr/share/doc/usr-is-merged\n"),
            (
                "linux-image-6.1.0-1-amd64",
                "/.\n/boot/vmlinuz-6.1\n/usr/share/bug/linux-image-6.1.0-1-amd64/presubj\n",
            ),
        ]);
        let dirs: HashSet<&str> = ["bin", "usr", "usr/sbin", "lib/firmware"].into();
        let image: HashSet<&str> = [
            "usr/bin/bash",
            "usr/sbin/hostapd",
            "usr/share/bug/linux-image-6.1.0-1-amd64/presubj",
        ]
        .into();
        let got = image_packages(
            packages,
            |n| lists.get(n).map(|s| (*s).to_owned()),
            |p| {
                if dirs.contains(p) {
                    Place::Dir
                } else if image.contains(p) || image.contains(format!("usr/{p}").as_str()) {
                    Place::Image
                } else {
                    Place::Elsewhere
                }
            },
            &["linux-image-amd64".to_owned()],
        );
        assert_eq!(
            got,
            "bash 5.2 amd64\nhostapd 2.10 amd64\nmystery 1 amd64\nusr-is-merged 1 all\n"
        );
    }
}
