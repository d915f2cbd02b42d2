//! Same spec, two directories, two times: same digests, same archive bytes;
//! a rebuild after one overlay change reuses every other layer.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::*;
use softap_build::{build, BuildReport};

/// A project copy in `dir`: the fixture overlay, a fresh tree, an agent.
fn project(dir: &Path) -> std::path::PathBuf {
    make_tree(&dir.join("root"));
    copy_tree(&fixtures().join("overlay"), &dir.join("overlay"));
    fs::copy(fixtures().join("common.toml"), dir.join("common.toml")).unwrap();
    fs::write(dir.join("softap-agent"), b"\x7fELF agent").unwrap();
    write_spec(
        dir,
        "image.toml",
        "extends = \"common.toml\"\n[base]\nkind = \"rootfs\"\npath = \"root\"\n\
         [agent]\npath = \"softap-agent\"\n[output]\noci_dir = true\n",
    )
}

fn build_in(dir: &Path, cache: &Path) -> BuildReport {
    let spec = project(dir);
    build(&spec, &options(&dir.join("out"), cache)).unwrap()
}

#[test]
fn two_builds_give_identical_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    // Separate caches: nothing is shared between the two builds.
    let ra = build_in(a.path(), &a.path().join("cache"));
    std::thread::sleep(Duration::from_millis(1100));
    let rb = build_in(b.path(), &b.path().join("cache"));
    assert_eq!(ra.manifest_digest, rb.manifest_digest);
    assert_eq!(ra.config_digest, rb.config_digest);
    assert!(ra.layers.iter().all(|l| !l.reused));
    let fa = fs::read(a.path().join("out/tiny.oci.tar")).unwrap();
    let fb = fs::read(b.path().join("out/tiny.oci.tar")).unwrap();
    assert!(fa == fb, "archives differ");
    assert_eq!(
        fs::read(a.path().join("out/tiny.oci/index.json")).unwrap(),
        fs::read(b.path().join("out/tiny.oci/index.json")).unwrap()
    );
}

#[test]
fn rebuild_after_an_overlay_change_reuses_the_other_layers() {
    let a = tempfile::tempdir().unwrap();
    let cache = a.path().join("cache");
    let first = build_in(a.path(), &cache);
    let spec = a.path().join("image.toml");
    let opts = options(&a.path().join("out"), &cache);
    let again = build(&spec, &opts).unwrap();
    assert_eq!(again.manifest_digest, first.manifest_digest);
    assert!(again.layers.iter().all(|l| l.reused), "{again:?}");

    fs::write(
        a.path().join("overlay/usr/libexec/softap/hello.sh"),
        "#!/bin/sh\necho changed\n",
    )
    .unwrap();
    let changed = build(&spec, &opts).unwrap();
    assert_ne!(changed.manifest_digest, first.manifest_digest);
    for l in &changed.layers {
        assert_eq!(l.reused, l.name != "overlays", "{l:?}");
    }
}
