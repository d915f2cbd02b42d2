//! Kernel content (/boot, modules, firmware) is left out of the OCI image and
//! kept for the disk, in a layer of its own.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use common::*;
use softap_build::build;

#[test]
fn kernel_content_is_disk_only() {
    require("umoci", "umoci");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("boot")).unwrap();
    fs::create_dir_all(root.join("usr/lib/modules/6.1.0-1-amd64/kernel")).unwrap();
    fs::create_dir_all(root.join("usr/lib/firmware/iwlwifi")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("boot/vmlinuz-6.1.0-1-amd64"), "kernel").unwrap();
    fs::write(
        root.join("usr/lib/modules/6.1.0-1-amd64/kernel/x.ko"),
        "module",
    )
    .unwrap();
    fs::write(root.join("usr/lib/firmware/iwlwifi/fw.ucode"), "fw").unwrap();
    fs::write(root.join("etc/os-release"), "ID=debian\n").unwrap();
    symlink("boot/vmlinuz-6.1.0-1-amd64", root.join("vmlinuz")).unwrap();
    symlink("usr/lib", root.join("lib")).unwrap();
    let spec = write_spec(
        tmp.path(),
        "k.toml",
        &format!("[image]\nname = \"k\"\nsource_date_epoch = {EPOCH}\n[base]\nkind = \"rootfs\"\npath = \"root\"\n[output]\noci_dir = true\n"),
    );
    let r = build(
        &spec,
        &options(&tmp.path().join("out"), &tmp.path().join("cache")),
    )
    .unwrap();
    assert_eq!(r.disk_only_layers, ["kernel"]);
    assert_eq!(r.layers.len(), 1);
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", tmp.path().join("out/k.oci").display()))
        .arg(tmp.path().join("u")));
    let t = snapshot(&tmp.path().join("u/rootfs"));
    let paths: Vec<&str> = t.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "boot",
            "etc",
            "etc/os-release",
            "lib",
            "usr",
            "usr/lib",
            "usr/lib/firmware",
            "usr/lib/modules"
        ]
    );

    let parsed = softap_build::spec::load(&spec, None).unwrap();
    let store = softap_build::store::Store::open(&tmp.path().join("cache")).unwrap();
    let plan = softap_build::build::plan(&parsed, &store).unwrap();
    let tree = tmp.path().join("tree");
    fs::create_dir(&tree).unwrap();
    softap_build::unpack::materialise(&plan.layers.iter().collect::<Vec<_>>(), &tree).unwrap();
    assert_eq!(
        normalise_for_compare(snapshot(&tree), None),
        normalise_for_compare(snapshot(&root), Some(EPOCH as i64))
    );
}

/// The annotation lists the image's packages, not the disk's kernel and
/// firmware packages (dpkg's file lists say where each package's files are).
#[test]
fn packages_annotation_lists_the_image_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    for d in [
        "boot",
        "usr/bin",
        "usr/lib/firmware",
        "usr/share/softap",
        "var/lib/dpkg/info",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    symlink("usr/bin", root.join("bin")).unwrap();
    symlink("usr/lib", root.join("lib")).unwrap();
    fs::write(root.join("boot/vmlinuz-6.1.0-1-amd64"), "kernel").unwrap();
    fs::write(root.join("usr/lib/firmware/fw.bin"), "fw").unwrap();
    fs::write(root.join("usr/bin/bash"), "bash").unwrap();
    fs::write(
        root.join("usr/share/softap/packages.txt"),
        "bash 5.2 amd64\nfirmware-misc-nonfree 1 all\nlinux-image-6.1.0-1-amd64 6.1 amd64\n",
    )
    .unwrap();
    let info = root.join("var/lib/dpkg/info");
    fs::write(info.join("bash.list"), "/.\n/bin\n/bin/bash\n").unwrap();
    fs::write(
        info.join("firmware-misc-nonfree.list"),
        "/.\n/lib\n/lib/firmware\n/lib/firmware/fw.bin\n",
    )
    .unwrap();
    fs::write(
        info.join("linux-image-6.1.0-1-amd64.list"),
        "/.\n/boot\n/boot/vmlinuz-6.1.0-1-amd64\n",
    )
    .unwrap();
    let spec = write_spec(
        tmp.path(),
        "p.toml",
        &format!("[image]\nname = \"p\"\nsource_date_epoch = {EPOCH}\n[base]\nkind = \"rootfs\"\npath = \"root\"\n[output]\noci_dir = true\n"),
    );
    build(
        &spec,
        &options(&tmp.path().join("out"), &tmp.path().join("cache")),
    )
    .unwrap();
    let layout = tmp.path().join("out/p.oci");
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["annotations"][softap_build::oci::PACKAGES],
        "bash 5.2 amd64\n"
    );
}
