//! The exact OCI documents of a tiny image: config, manifest, index and
//! Docker manifest. A change here changes every digest: review it.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;
use softap_build::build;

fn pretty(bytes: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn tiny_image_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/os-release"), "ID=tiny\n").unwrap();
    fs::set_permissions(
        root.join("etc/os-release"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    fs::set_permissions(root.join("etc"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(tmp.path().join("agent"), "agent").unwrap();
    let spec = write_spec(
        tmp.path(),
        "tiny.toml",
        &format!(
            "extends = \"{}\"\n[base]\nkind = \"rootfs\"\npath = \"root\"\n[agent]\npath = \"agent\"\n[output]\noci_dir = true\n",
            fixtures().join("common.toml").display()
        ),
    );
    let r = build(
        &spec,
        &options(&tmp.path().join("out"), &tmp.path().join("cache")),
    )
    .unwrap();
    let dir = tmp.path().join("out/tiny.oci");
    let blob =
        |d: &oci_spec::image::Digest| fs::read(dir.join("blobs/sha256").join(d.digest())).unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    insta::assert_snapshot!("config", pretty(&blob(&r.config_digest)));
    insta::assert_snapshot!("manifest", pretty(&blob(&r.manifest_digest)));
    insta::assert_snapshot!("index", pretty(&fs::read(dir.join("index.json")).unwrap()));
    insta::assert_snapshot!(
        "docker_manifest",
        pretty(&fs::read(dir.join("manifest.json")).unwrap())
    );
    // The bytes are compact canonical JSON (sorted keys, no spaces).
    let raw = String::from_utf8(blob(&r.manifest_digest)).unwrap();
    assert!(raw.starts_with("{\"annotations\":{\"org.opencontainers.image.created\":\"2025-01-01T00:00:00Z\"},\"config\":"), "{raw}");
}
