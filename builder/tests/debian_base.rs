//! A real, small Debian base through `prepare`: image hygiene and the cache.
//! The full default image is built and booted by the end-to-end tests.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use softap_build::base::debian::{prepare, DebianSpec};

use common::require;

/// Reads every entry of the tar: path → (type, contents of small files).
fn entries(tar_path: &Path) -> BTreeMap<String, (tar::EntryType, Vec<u8>, u64)> {
    let mut a = tar::Archive::new(fs::File::open(tar_path).unwrap());
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let kind = e.header().entry_type();
        let mtime = e.header().mtime().unwrap();
        let mut data = Vec::new();
        if kind.is_file() && e.size() < 1 << 20 {
            e.read_to_end(&mut data).unwrap();
        }
        out.insert(path, (kind, data, mtime));
    }
    out
}

#[test]
fn small_base_is_clean_and_cached() {
    let real = require("mmdebstrap", "mmdebstrap");
    // mmdebstrap is wrapped so the test sees how often it really runs.
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let log = work.path().join("runs.log");
    let wrapper = bin.join("mmdebstrap");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$1\" in --version) ;; *) echo run >> '{}';; esac\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::set_var("PATH", format!("{}:{path}", bin.display()));

    let spec = DebianSpec {
        suite: "bookworm".into(),
        components: vec!["main".into()],
        // systemd-sysv for networkd and machine-id; the config package ships
        // libvirt's default network, which the base must remove.
        packages: vec![
            "systemd-sysv".into(),
            "libvirt-daemon-config-network".into(),
            "usr-is-merged".into(),
            // Its install keeps the host's resolv.conf as a backup.
            "systemd-resolved".into(),
        ],
        disk_packages: vec![],
        esp_packages: vec![],
        mirror: None,
        keyring: None,
        snapshot: None,
    };
    let cache = work.path().join("cache");
    let epoch = 1_700_000_000;
    let t = Instant::now();
    let tar_path = prepare(&spec, &cache, epoch).expect("prepare");
    eprintln!("cold prepare: {:?}", t.elapsed());
    assert!(tar_path.starts_with(&cache));
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 1);

    let e = entries(&tar_path);
    let machine_id = &e.get("etc/machine-id").expect("etc/machine-id exists").1;
    assert!(
        machine_id.is_empty(),
        "machine-id not empty: {machine_id:?}"
    );
    assert!(
        !e.contains_key("var/lib/dbus/machine-id") || e["var/lib/dbus/machine-id"].0.is_symlink()
    );
    for gone in [
        "etc/resolv.conf",
        "etc/.resolv.conf.systemd-resolved.bak",
        "etc/hostname",
        "etc/libvirt/qemu/networks/default.xml",
        "etc/libvirt/qemu/networks/autostart/default.xml",
        // Without initramfs-tools, its configuration is not left behind.
        "etc/initramfs-tools/conf.d/softap-fstype",
    ] {
        assert!(!e.contains_key(gone), "{gone} is in the base");
    }
    let fstab = String::from_utf8_lossy(&e["etc/fstab"].1).into_owned();
    assert!(
        !fstab.contains("softap-root"),
        "placeholder fstab left: {fstab}"
    );
    // The package is really installed (so the removal above means something).
    assert!(e.contains_key("usr/share/libvirt/networks/default.xml"));
    let wait_online = &e["etc/systemd/system/systemd-networkd-wait-online.service"];
    assert!(wait_online.0.is_symlink(), "wait-online not masked");
    assert!(
        e.contains_key("etc/systemd/system/multi-user.target.wants/systemd-networkd.service"),
        "systemd-networkd not enabled"
    );
    let packages = String::from_utf8(e["usr/share/softap/packages.txt"].1.clone()).unwrap();
    assert!(
        packages.lines().any(|l| l.starts_with("systemd ")),
        "{packages}"
    );
    assert!(packages.lines().any(|l| l.starts_with("usr-is-merged ")));
    assert!(
        !packages.lines().any(|l| l.starts_with("usrmerge ")),
        "usrmerge pulls perl in"
    );
    let mut sorted: Vec<&str> = packages.lines().collect();
    sorted.sort_unstable();
    assert_eq!(sorted, packages.lines().collect::<Vec<_>>());
    // No documentation or manuals beyond licences.
    assert!(!e
        .keys()
        .any(|p| p.starts_with("usr/share/man/") && e[p].0.is_file()));
    assert!(!e.keys().any(|p| p.starts_with("usr/share/doc/")
        && e[p].0.is_file()
        && !p.ends_with("/copyright")));
    // Nothing of this host in it, as every build checks.
    let base = softap_build::layer::Layer::finish(
        "base",
        softap_build::layer::source::index_tar(
            &tar_path,
            &softap_build::layer::source::Normalise {
                source_date_epoch: epoch,
                owner: None,
                fixed_mtime: false,
                xattrs: true,
            },
        )
        .unwrap(),
        None,
        epoch,
    );
    let host = softap_build::hygiene::HostData::gather(&[&cache, work.path()]);
    if let Err(e) = softap_build::hygiene::check(&[base], &host.needles()) {
        panic!("{}", common::message(&e));
    }
    // SOURCE_DATE_EPOCH clamps every mtime.
    let newest = e.values().map(|v| v.2).max().unwrap();
    assert!(
        newest <= epoch,
        "an mtime is after SOURCE_DATE_EPOCH: {newest}"
    );

    let t = Instant::now();
    let again = prepare(&spec, &cache, epoch).expect("prepare from the cache");
    assert_eq!(again, tar_path);
    assert_eq!(
        fs::read_to_string(&log).unwrap().lines().count(),
        1,
        "mmdebstrap ran again"
    );
    assert!(t.elapsed().as_secs() < 10);
}
