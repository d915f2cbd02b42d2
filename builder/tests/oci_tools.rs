//! The OCI outputs read by the real tools: skopeo inspects and copies them,
//! umoci unpacks them into exactly the input tree, podman loads them.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use softap_build::{build, BuildOptions};

fn opts(tmp: &Path) -> BuildOptions {
    options(&tmp.join("out"), &tmp.join("cache"))
}

fn umoci_unpack(image: &str, dest: &Path) -> std::collections::BTreeMap<String, Node> {
    run(Command::new("umoci")
        .args(["unpack", "--image", image])
        .arg(dest));
    snapshot(&dest.join("rootfs"))
}

#[test]
fn umoci_reproduces_the_input_tree() {
    require("skopeo", "skopeo");
    require("umoci", "umoci");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_tree(&root);
    let spec = write_spec(
        tmp.path(),
        "tree.toml",
        &format!(
            "[image]\nname = \"tree\"\nsource_date_epoch = {EPOCH}\n\
             [base]\nkind = \"rootfs\"\npath = \"root\"\n\
             [output]\noci_archive = true\noci_dir = true\n"
        ),
    );
    let report = build(&spec, &opts(tmp.path())).unwrap();
    assert_eq!(report.layers.len(), 1, "{report:?}");
    let archive = tmp.path().join("out/tree.oci.tar");
    assert_eq!(report.oci_archive.as_deref(), Some(archive.as_path()));
    // Readable by all, as the raw disk is.
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&archive).unwrap().permissions())
            & 0o7777,
        0o644
    );

    let inspect = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", archive.display())));
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Created"], "2025-01-01T00:00:00Z");
    assert_eq!(v["Digest"], report.manifest_digest.to_string());
    assert_eq!(v["Layers"][0], report.layers[0].digest.to_string());

    let copy = tmp.path().join("copy");
    run(Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("oci:{}:latest", copy.display())));

    let expected = normalise_for_compare(snapshot(&root), Some(EPOCH as i64));
    assert!(!expected.contains_key("tmp/fifo"));
    assert!(expected.len() >= 25, "{expected:#?}");
    let from_copy = normalise_for_compare(
        umoci_unpack(
            &format!("{}:latest", copy.display()),
            &tmp.path().join("u1"),
        ),
        None,
    );
    assert_trees_equal(&expected, &from_copy);
    // The layout directory output, read straight by umoci.
    let from_dir = normalise_for_compare(
        umoci_unpack(
            &format!("{}:latest", tmp.path().join("out/tree.oci").display()),
            &tmp.path().join("u2"),
        ),
        None,
    );
    assert_trees_equal(&expected, &from_dir);
    assert_eq!(
        from_copy["usr/bin/ping"].xattrs,
        vec![("security.capability".to_owned(), CAP_NET_RAW.to_vec())]
    );
    assert_eq!(from_copy["usr/bin/python3"].links.len(), 3);
    assert_eq!(from_copy["usr/bin/su"].mode, 0o4755);
}

fn assert_trees_equal(
    expected: &std::collections::BTreeMap<String, Node>,
    got: &std::collections::BTreeMap<String, Node>,
) {
    for (p, n) in expected {
        match got.get(p) {
            None => panic!("{p} missing from the unpacked tree"),
            Some(g) => assert_eq!(g, n, "{p} differs"),
        }
    }
    for p in got.keys() {
        assert!(
            expected.contains_key(p),
            "{p} is unexpected in the unpacked tree"
        );
    }
}

#[test]
fn upper_layers_land_where_they_belong_and_podman_loads_the_archive() {
    require("skopeo", "skopeo");
    require("umoci", "umoci");
    require("podman", "podman");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_tree(&root);
    let agent = tmp.path().join("softap-agent");
    fs::write(&agent, b"#!/bin/sh\necho agent\n").unwrap();
    let spec = write_spec(
        tmp.path(),
        "full.toml",
        &format!(
            "extends = \"{}\"\n[base]\nkind = \"rootfs\"\npath = \"root\"\n[agent]\npath = \"softap-agent\"\n",
            fixtures().join("common.toml").display()
        ),
    );
    let report = build(&spec, &opts(tmp.path())).unwrap();
    let names: Vec<&str> = report.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["base", "agent", "overlays", "appliance"]);
    let archive = tmp.path().join("out/tiny.oci.tar");

    let copy = tmp.path().join("copy");
    run(Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("oci:{}:v1", copy.display())));
    let t = umoci_unpack(&format!("{}:v1", copy.display()), &tmp.path().join("u"));
    let rootfs = tmp.path().join("u/rootfs");
    assert_eq!(
        t["lib"].kind, "symlink",
        "merged /usr link must survive the overlay"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("usr/lib/systemd/system/softap-test.service")).unwrap(),
        "[Unit]\nDescription=softap test unit\n"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/softap/banner.txt")).unwrap(),
        "Hello from tiny:v1, SSID softap-test\n"
    );
    assert!(!t.contains_key("etc/softap/banner.txt.j2"));
    assert_eq!(t["usr/libexec/softap/hello.sh"].mode, 0o755);
    assert_eq!(
        t["etc/systemd/system/multi-user.target.wants/softap-test.service"].content,
        "/lib/systemd/system/softap-test.service"
    );
    assert_eq!(t["usr/bin/softap-agent"].mode, 0o755);
    assert_eq!(t["usr/bin/softap-agent"].uid, 0);
    let appliance = fs::read_to_string(rootfs.join("etc/softap/softap.toml")).unwrap();
    let parsed: toml::Table = toml::from_str(&appliance).unwrap();
    assert_eq!(parsed["ssid"].as_str(), Some("softap-test"));
    assert_eq!(parsed["subnet_pool"][1].as_str(), Some("10.99.0.0/16"));
    // The base's own files are still there under the upper layers.
    assert_eq!(t["etc/shadow"].gid, 42);

    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(tmp.path().join("u/config.json")).unwrap())
            .unwrap();
    let env: Vec<&str> = config["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env.contains(&"LANG=C.UTF-8"), "{env:?}");
    assert_eq!(config["process"]["args"][0], "/sbin/init");

    // The disk's root tree (materialised from the same layers, kernel
    // included) is what umoci unpacked from the image.
    let parsed_spec = softap_build::spec::load(&spec, None).unwrap();
    let store = softap_build::store::Store::open(&tmp.path().join("cache")).unwrap();
    let plan = softap_build::build::plan(&parsed_spec, &store).unwrap();
    let tree = tmp.path().join("tree");
    fs::create_dir(&tree).unwrap();
    let layers: Vec<_> = plan.layers.iter().collect();
    softap_build::unpack::materialise(&layers, &tree).unwrap();
    let materialised = normalise_for_compare(snapshot(&tree), None);
    let unpacked = normalise_for_compare(t.clone(), None);
    for (p, n) in &unpacked {
        assert_eq!(materialised.get(p), Some(n), "{p} differs in the disk tree");
    }
    assert_eq!(materialised.len(), unpacked.len());

    // podman load works here (podman run does not: see docs/architecture.md).
    let out = run(Command::new("podman").arg("load").arg("-i").arg(&archive));
    assert!(out.contains("Loaded image"), "{out}");
    let id = report.config_digest.digest().to_owned();
    let images = run(Command::new("podman").args(["images", "--no-trunc", "--format", "{{.ID}}"]));
    assert!(images.contains(&id), "podman has no image {id}:\n{images}");
    let _ = Command::new("podman").args(["rmi", "-f", &id]).output();
}

/// The latest SOURCE_DATE_EPOCH a spec may give is read back by umoci as
/// written: the bound in spec/raw.rs is where tar times stop round-tripping.
#[test]
fn umoci_reads_the_largest_accepted_epoch_back() {
    require("umoci", "umoci");
    let max = softap_build::spec::MAX_EPOCH;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/hostname"), "x\n").unwrap();
    // Times are clamped down to the epoch, never raised: start at it.
    let t = filetime::FileTime::from_unix_time(max, 0);
    for p in [root.join("etc/hostname"), root.join("etc"), root.clone()] {
        filetime::set_file_mtime(&p, t).unwrap();
    }
    let spec = write_spec(
        tmp.path(),
        "max.toml",
        &format!(
            "[image]\nname = \"max\"\nsource_date_epoch = {max}\n\
             [base]\nkind = \"rootfs\"\npath = \"root\"\n\
             [output]\noci_archive = false\noci_dir = true\n"
        ),
    );
    build(&spec, &opts(tmp.path())).unwrap();
    let dest = tmp.path().join("u");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!(
            "{}:latest",
            tmp.path().join("out/max.oci").display()
        ))
        .arg(&dest));
    for p in ["etc/hostname", "etc"] {
        let m = fs::symlink_metadata(dest.join("rootfs").join(p)).unwrap();
        assert_eq!(
            filetime::FileTime::from_last_modification_time(&m).unix_seconds(),
            max,
            "{p}"
        );
    }
}
