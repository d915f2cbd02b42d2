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
