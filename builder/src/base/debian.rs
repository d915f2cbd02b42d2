//! The Debian base: a rootfs made by mmdebstrap from the spec's suite and
//! packages, cached by the hash of its inputs.
//!
//! The pure half (cache key, mmdebstrap arguments, image-hygiene hooks) is
//! separate from the half that runs mmdebstrap, so the former is tested with
//! plain data and the latter with the real tool.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::host::{self, HostError, Tool};
use crate::layer::SIGNED_BOOT_DIR;
pub use crate::spec::DebianSpec;

#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("[base] snapshot = {snapshot:?} needs `mirror`: the snapshot archive's URL (the timestamp is appended, or replaces `{{snapshot}}`)")]
    SnapshotWithoutMirror { snapshot: String },
    #[error("[base] {field}: {value:?} is not a valid {what}")]
    InvalidField {
        field: &'static str,
        value: String,
        what: &'static str,
    },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Bumped whenever the arguments or hooks change what the rootfs contains,
/// so caches made by an older builder are not reused.
const RECIPE_VERSION: u32 = 5;

/// Makes (or finds in `cache_dir`) the rootfs for `spec` and returns the path
/// of an uncompressed tar archive of it.
///
/// The archive is `cache_dir/debian-<key>.tar`, where the key hashes every
/// input (see [`cache_key`]); when it exists mmdebstrap is not run again.
pub fn prepare(
    spec: &DebianSpec,
    cache_dir: &Path,
    source_date_epoch: u64,
) -> Result<PathBuf, DebianError> {
    validate(spec)?;
    check_tools()?;
    let root = is_root();
    let version = mmdebstrap_version()?;
    let key = cache_key(spec, &version, source_date_epoch);
    let out = cache_dir.join(format!("debian-{key}.tar"));
    if out.is_file() {
        tracing::info!(path = %out.display(), "Debian base found in the cache");
        return Ok(out);
    }
    fs::create_dir_all(cache_dir).map_err(|source| DebianError::Io {
        path: cache_dir.to_owned(),
        source,
    })?;
    let partial = crate::scratch::file_in(cache_dir, &format!(".debian-{key}."), ".tar.partial")
        .map_err(|source| DebianError::Io {
            path: cache_dir.to_owned(),
            source,
        })?;
    let hooks = merged_usr_hook_dir();
    let args = mmdebstrap_args(spec, root, hooks.as_deref(), partial.path())?;
    run_mmdebstrap(&args, source_date_epoch)?;
    partial
        .as_file()
        .sync_all()
        .map_err(|source| DebianError::Io {
            path: partial.path().to_owned(),
            source,
        })?;
    partial.persist(&out).map_err(|source| DebianError::Io {
        path: out.clone(),
        source,
    })?;
    // Records what the key stands for; only for people reading the cache.
    let manifest = serde_json::json!({
        "recipe": RECIPE_VERSION,
        "mmdebstrap": version,
        "source_date_epoch": source_date_epoch,
        "spec": spec,
    });
    let _ = fs::write(
        cache_dir.join(format!("debian-{key}.json")),
        manifest.to_string(),
    );
    Ok(out)
}

/// The hash of everything the rootfs depends on: the spec (package lists
/// sorted, as their order does not matter to apt), the mmdebstrap version, the
/// recipe and SOURCE_DATE_EPOCH (it sets every mtime in the archive).
pub fn cache_key(spec: &DebianSpec, mmdebstrap_version: &str, source_date_epoch: u64) -> String {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v
    };
    let canonical = serde_json::json!({
        "recipe": RECIPE_VERSION,
        "mmdebstrap": mmdebstrap_version.trim(),
        "source_date_epoch": source_date_epoch,
        "arch": std::env::consts::ARCH,
        "suite": spec.suite,
        "components": spec.components,
        "packages": sorted(&spec.packages),
        "disk_packages": sorted(&spec.disk_packages),
        "esp_packages": sorted(&spec.esp_packages),
        "mirror": spec.mirror,
        "keyring": spec.keyring,
        "snapshot": spec.snapshot,
    });
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    hex::encode(&digest[..16])
}

/// Rejects values that would be misread as options or split into several
/// arguments by mmdebstrap.
fn validate(spec: &DebianSpec) -> Result<(), DebianError> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.:_~".contains(c))
            && !s.starts_with('-')
    };
    let check = |field: &'static str, value: &str, what: &'static str| {
        if name_ok(value) {
            Ok(())
        } else {
            Err(DebianError::InvalidField {
                field,
                value: value.to_owned(),
                what,
            })
        }
    };
    check("suite", &spec.suite, "suite name")?;
    for c in &spec.components {
        check("components", c, "component name")?;
    }
    for p in &spec.packages {
        check("packages", p, "package name")?;
    }
    for p in &spec.disk_packages {
        check("disk_packages", p, "package name")?;
    }
    for p in &spec.esp_packages {
        check("esp_packages", p, "package name")?;
    }
    if let Some(s) = &spec.snapshot {
        if !s.chars().all(|c| c.is_ascii_alphanumeric()) || s.is_empty() {
            return Err(DebianError::InvalidField {
                field: "snapshot",
                value: s.clone(),
                what: "snapshot timestamp (e.g. 20250520T000000Z)",
            });
        }
    }
    Ok(())
}

/// Fails naming the missing host tools (and packages) the Debian base needs.
pub fn check_tools() -> Result<(), DebianError> {
    Ok(host::require(&required_tools(is_root()))?)
}

const MMDEBSTRAP: Tool = Tool::new("mmdebstrap", "mmdebstrap");

fn required_tools(root: bool) -> Vec<Tool> {
    let mut t = vec![MMDEBSTRAP];
    if !root {
        // unshare mode maps ids through the setuid helpers.
        t.push(Tool::new("newuidmap", "uidmap"));
    }
    t
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Paths dpkg never unpacks into the image: documentation, manuals and
/// translations (licences are kept).
const DPKG_EXCLUDES: &[&str] = &[
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/linda/*",
];

/// Run after the essential packages, before the rest: tells initramfs-tools
/// the root is ext4 (what the disk output makes), so the initrd made while
/// the kernel is installed carries fsck and fsck.ext4 and checks the root at
/// every boot (USB sticks get pulled). Without it the hook probes the build
/// host's idea of the root device and leaves fsck out.
const ESSENTIAL_HOOKS: &[&str] = &[
    r#"mkdir -p "$1/etc/initramfs-tools/conf.d" && printf '# softap-build: the disk root is ext4, fsck it in the initrd.\nFSTYPE=ext4\n' > "$1/etc/initramfs-tools/conf.d/softap-fstype""#,
];

/// Image hygiene, run by mmdebstrap on the finished tree (`$1`). Each hook
/// tolerates the absence of the package it is about, so small bases work.
const CUSTOMIZE_HOOKS: &[&str] = &[
    r#"if [ ! -e "$1/usr/sbin/mkinitramfs" ]; then rm -rf "$1/etc/initramfs-tools"; fi"#,
    // The image brings its own resolver configuration and hostname: the build
    // host's would make libvirt's dnsmasq forward to the build host's resolver.
    r#"rm -f "$1/etc/resolv.conf" "$1/etc/hostname""#,
    // systemd-resolved's install keeps the resolv.conf it replaced (the
    // build host's nameservers) as a backup.
    r#"rm -f "$1/etc/.resolv.conf.systemd-resolved.bak""#,
    // libvirt's default network claims virbr0 even while inactive.
    r#"rm -f "$1/etc/libvirt/qemu/networks/default.xml" "$1/etc/libvirt/qemu/networks/autostart/default.xml""#,
    // With nothing else managed, wait-online stalls boot for two minutes.
    r#"mkdir -p "$1/etc/systemd/system" && ln -sfn /dev/null "$1/etc/systemd/system/systemd-networkd-wait-online.service""#,
    r#"if [ -e "$1/lib/systemd/system/systemd-networkd.service" ]; then chroot "$1" systemctl enable systemd-networkd.service; fi"#,
    // Every stick must make its own machine-id at first boot.
    r#"rm -f "$1/var/lib/dbus/machine-id"; : > "$1/etc/machine-id""#,
    r#"mkdir -p "$1/usr/share/softap" && chroot "$1" dpkg-query -W -f '${Package} ${Version} ${Architecture}\n' | LC_ALL=C sort > "$1/usr/share/softap/packages.txt""#,
];

/// Unpacks `packages` into [`SIGNED_BOOT_DIR`] with the tree's own apt and
/// dpkg (`apt-get download` + `dpkg-deb -x`): their files without their
/// dependencies, and without a trace in dpkg's database. The names are
/// checked by [`validate`], so they are safe inside the quotes.
fn esp_packages_hook(packages: &[String]) -> Option<String> {
    if packages.is_empty() {
        return None;
    }
    let mut sorted = packages.to_vec();
    sorted.sort();
    sorted.dedup();
    let dir = SIGNED_BOOT_DIR;
    Some(format!(
        r#"mkdir -p "$1/{dir}" && chroot "$1" sh -ec 'cd /{dir}; apt-get download -o APT::Sandbox::User=root {pkgs}; for d in ./*.deb; do dpkg-deb -x "$d" .; rm "$d"; done'"#,
        pkgs = sorted.join(" ")
    ))
}

/// The full mmdebstrap command line (without the program name).
pub fn mmdebstrap_args(
    spec: &DebianSpec,
    root: bool,
    merged_usr_hooks: Option<&Path>,
    target: &Path,
) -> Result<Vec<String>, DebianError> {
    let mut args = vec![
        format!("--mode={}", if root { "root" } else { "unshare" }),
        "--variant=apt".to_owned(),
        "--format=tar".to_owned(),
        format!("--components={}", spec.components.join(",")),
    ];
    let mut include: Vec<&str> = spec
        .packages
        .iter()
        .chain(&spec.disk_packages)
        .map(String::as_str)
        .collect();
    include.sort_unstable();
    include.dedup();
    if !include.is_empty() {
        args.push(format!("--include={}", include.join(",")));
    }
    args.extend(DPKG_EXCLUDES.iter().map(|e| format!("--dpkgopt={e}")));
    if let Some(dir) = merged_usr_hooks {
        // Sets merged-/usr up itself and installs usr-is-merged, so apt does
        // not satisfy init-system-helpers with usrmerge (and perl, 46 MiB).
        args.push(format!("--hook-dir={}", dir.display()));
    }
    if let Some(k) = &spec.keyring {
        args.push(format!("--keyring={}", k.display()));
    }
    let mirror = match (&spec.mirror, &spec.snapshot) {
        (Some(m), Some(s)) => {
            // Snapshots serve Release files whose Valid-Until has passed.
            args.push("--aptopt=Acquire::Check-Valid-Until \"false\"".to_owned());
            Some(if m.contains("{snapshot}") {
                m.replace("{snapshot}", s)
            } else {
                format!("{}/{s}", m.trim_end_matches('/'))
            })
        }
        (None, Some(s)) => {
            return Err(DebianError::SnapshotWithoutMirror {
                snapshot: s.clone(),
            })
        }
        (m, None) => m.clone(),
    };
    args.extend(
        ESSENTIAL_HOOKS
            .iter()
            .map(|h| format!("--essential-hook={h}")),
    );
    // Before the hygiene hooks: apt-get download in the chroot needs the
    // resolv.conf mmdebstrap copied there, which they remove.
    args.extend(esp_packages_hook(&spec.esp_packages).map(|h| format!("--customize-hook={h}")));
    args.extend(
        CUSTOMIZE_HOOKS
            .iter()
            .map(|h| format!("--customize-hook={h}")),
    );
    args.push(spec.suite.clone());
    args.push(target.display().to_string());
    args.extend(mirror);
    Ok(args)
}

/// mmdebstrap's own merged-/usr hook directory, where this release has one.
fn merged_usr_hook_dir() -> Option<PathBuf> {
    ["maybe-merged-usr", "merged-usr"]
        .iter()
        .map(|h| Path::new("/usr/share/mmdebstrap/hooks").join(h))
        .find(|p| p.is_dir())
}

fn mmdebstrap_version() -> Result<String, DebianError> {
    let out = host::run(MMDEBSTRAP.command()?.arg("--version"), None)?;
    // Older releases print the version on stderr.
    let mut v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if v.is_empty() {
        v = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    }
    Ok(v)
}

/// Runs mmdebstrap, forwarding its progress lines (it takes minutes) and
/// keeping the last ones for the error.
fn run_mmdebstrap(args: &[String], source_date_epoch: u64) -> Result<(), DebianError> {
    tracing::info!("making the Debian base with mmdebstrap (this takes a few minutes)");
    host::run_streaming(
        MMDEBSTRAP
            .command()?
            .args(args)
            .env("SOURCE_DATE_EPOCH", source_date_epoch.to_string())
            .env("LC_ALL", "C.UTF-8"),
        40,
        |line| eprintln!("mmdebstrap: {line}"),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DebianSpec {
        DebianSpec {
            suite: "bookworm".into(),
            components: vec!["main".into(), "non-free-firmware".into()],
            packages: vec!["systemd".into(), "hostapd".into()],
            disk_packages: vec!["linux-image-amd64".into()],
            esp_packages: vec!["shim-signed".into()],
            mirror: None,
            keyring: None,
            snapshot: None,
        }
    }

    #[test]
    fn key_ignores_package_order_but_not_content() {
        let a = spec();
        let mut b = spec();
        b.packages.reverse();
        assert_eq!(
            cache_key(&a, "mmdebstrap 1.3.5", 1),
            cache_key(&b, "mmdebstrap 1.3.5", 1)
        );
        let mut c = spec();
        c.packages.push("iw".into());
        assert_ne!(
            cache_key(&a, "mmdebstrap 1.3.5", 1),
            cache_key(&c, "mmdebstrap 1.3.5", 1)
        );
        let mut d = spec();
        d.disk_packages.clear();
        assert_ne!(
            cache_key(&a, "mmdebstrap 1.3.5", 1),
            cache_key(&d, "mmdebstrap 1.3.5", 1)
        );
        let mut e = spec();
        e.esp_packages.push("shim-helpers-amd64-signed".into());
        assert_ne!(
            cache_key(&a, "mmdebstrap 1.3.5", 1),
            cache_key(&e, "mmdebstrap 1.3.5", 1)
        );
    }

    #[test]
    fn key_changes_with_tool_epoch_mirror_snapshot_and_components() {
        let base = cache_key(&spec(), "mmdebstrap 1.3.5", 1);
        assert_ne!(base, cache_key(&spec(), "mmdebstrap 1.4.0", 1));
        assert_ne!(base, cache_key(&spec(), "mmdebstrap 1.3.5", 2));
        let mut m = spec();
        m.mirror = Some("http://mirror.example/debian".into());
        assert_ne!(base, cache_key(&m, "mmdebstrap 1.3.5", 1));
        let mut s = m.clone();
        s.snapshot = Some("20250520T000000Z".into());
        assert_ne!(
            cache_key(&m, "mmdebstrap 1.3.5", 1),
            cache_key(&s, "mmdebstrap 1.3.5", 1)
        );
        let mut c = spec();
        c.components = vec!["main".into()];
        assert_ne!(base, cache_key(&c, "mmdebstrap 1.3.5", 1));
    }

    #[test]
    fn args_use_the_default_mirror_and_all_packages() {
        let args = mmdebstrap_args(&spec(), true, None, Path::new("/c/x.tar")).unwrap();
        assert_eq!(args[0], "--mode=root");
        assert!(args.contains(&"--components=main,non-free-firmware".to_owned()));
        assert!(args.contains(&"--include=hostapd,linux-image-amd64,systemd".to_owned()));
        assert!(args.contains(&"--dpkgopt=path-exclude=/usr/share/man/*".to_owned()));
        assert!(args
            .iter()
            .any(|a| a.starts_with("--essential-hook=") && a.contains("FSTYPE=ext4")));
        // Suite and target come last, and no mirror is named.
        assert_eq!(&args[args.len() - 2..], ["bookworm", "/c/x.tar"]);
        assert!(!args.iter().any(|a| a.contains("://")));
        let unpriv = mmdebstrap_args(&spec(), false, None, Path::new("/c/x.tar")).unwrap();
        assert_eq!(unpriv[0], "--mode=unshare");
    }

    #[test]
    fn esp_packages_are_unpacked_not_installed_into_the_disk_only_tree() {
        let args = mmdebstrap_args(&spec(), true, None, Path::new("/c/x.tar")).unwrap();
        let include = args.iter().find(|a| a.starts_with("--include=")).unwrap();
        assert!(!include.contains("shim-signed"), "{include}");
        let hooks: Vec<&String> = args
            .iter()
            .filter(|a| a.starts_with("--customize-hook="))
            .collect();
        // First: the hygiene hooks remove the resolv.conf apt needs.
        let first = hooks[0];
        assert!(first.contains("apt-get download"), "{first}");
        assert!(first.contains(" shim-signed;"), "{first}");
        assert!(first.contains("dpkg-deb -x"), "{first}");
        assert!(first.contains(&format!("/{SIGNED_BOOT_DIR}")), "{first}");
        assert!(!hooks[1..].iter().any(|h| h.contains("apt-get")));
        assert!(crate::layer::is_kernel_path(&format!(
            "{SIGNED_BOOT_DIR}/usr/lib/shim/shimx64.efi.signed"
        )));
        let mut none = spec();
        none.esp_packages.clear();
        let args = mmdebstrap_args(&none, true, None, Path::new("/c/x.tar")).unwrap();
        assert!(!args.iter().any(|a| a.contains("apt-get download")));
    }

    #[test]
    fn snapshot_needs_a_mirror_and_is_appended_or_substituted() {
        let mut s = spec();
        s.snapshot = Some("20250520T000000Z".into());
        assert!(matches!(
            mmdebstrap_args(&s, true, None, Path::new("x")),
            Err(DebianError::SnapshotWithoutMirror { .. })
        ));
        s.mirror = Some("http://snap.example/archive/debian/".into());
        let args = mmdebstrap_args(&s, true, None, Path::new("x")).unwrap();
        assert_eq!(
            args.last().unwrap(),
            "http://snap.example/archive/debian/20250520T000000Z"
        );
        assert!(args.iter().any(|a| a.contains("Check-Valid-Until")));
        s.mirror = Some("deb http://snap.example/{snapshot}/ bookworm main".into());
        let args = mmdebstrap_args(&s, true, None, Path::new("x")).unwrap();
        assert_eq!(
            args.last().unwrap(),
            "deb http://snap.example/20250520T000000Z/ bookworm main"
        );
    }

    #[test]
    fn names_that_look_like_options_are_rejected() {
        let mut s = spec();
        s.packages.push("--foo".into());
        assert!(matches!(
            validate(&s),
            Err(DebianError::InvalidField {
                field: "packages",
                ..
            })
        ));
        let mut s = spec();
        s.packages.push("a,b".into());
        assert!(validate(&s).is_err());
        let mut s = spec();
        s.suite = "bookworm main".into();
        assert!(validate(&s).is_err());
        let mut s = spec();
        s.esp_packages.push("x' y".into());
        assert!(matches!(
            validate(&s),
            Err(DebianError::InvalidField {
                field: "esp_packages",
                ..
            })
        ));
        assert!(validate(&spec()).is_ok());
    }

    #[test]
    fn hooks_cover_the_hygiene_rules() {
        let all = CUSTOMIZE_HOOKS.join("\n");
        for needle in [
            "etc/resolv.conf",
            "etc/.resolv.conf.systemd-resolved.bak",
            "etc/hostname",
            "networks/default.xml",
            "autostart/default.xml",
            "systemd-networkd-wait-online.service",
            "enable systemd-networkd.service",
            "etc/machine-id",
            "usr/share/softap/packages.txt",
            "etc/initramfs-tools",
        ] {
            assert!(all.contains(needle), "no hook mentions {needle}");
        }
    }
}
