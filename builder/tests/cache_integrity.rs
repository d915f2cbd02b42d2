//! A cached blob whose bytes changed (a flipped byte, a truncated or empty
//! file) is found, removed and rebuilt from its source with a warning; it
//! never reaches an output, which skopeo and umoci accept.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

/// Runs the real binary; returns the layer's digest and stderr.
fn build_bin(spec: &Path, tmp: &Path) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_softap-build"))
        .arg("build")
        .arg(spec)
        .arg("--out")
        .arg(tmp.join("out"))
        .arg("--cache")
        .arg(tmp.join("cache"))
        .arg("--json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "build failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = report["layers"][0]["digest"].as_str().unwrap().to_owned();
    (digest, stderr)
}

fn blob(tmp: &Path, digest: &str) -> std::path::PathBuf {
    tmp.join("cache/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn check_outputs(tmp: &Path, archive: bool, round: &str) {
    if archive {
        // skopeo checks every blob's digest while copying.
        let copy = tmp.join(format!("copy-{round}"));
        run(Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!(
                "oci-archive:{}",
                tmp.join("out/tree.oci.tar").display()
            ))
            .arg(format!("oci:{}:latest", copy.display())));
    }
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", tmp.join("out/tree.oci").display()))
        .arg(tmp.join(format!("u-{round}"))));
}

fn corrupt_and_rebuild(archive: bool) {
    require("skopeo", "skopeo");
    require("umoci", "umoci");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    make_tree(&t.join("root"));
    let spec = write_spec(
        t,
        "tree.toml",
        &format!(
            "[image]\nname = \"tree\"\nsource_date_epoch = {EPOCH}\n\
             [base]\nkind = \"rootfs\"\npath = \"root\"\n\
             [output]\noci_archive = {archive}\noci_dir = true\n"
        ),
    );
    let (digest, _) = build_bin(&spec, t);
    let good = fs::read(blob(t, &digest)).unwrap();
    assert!(good.len() > 100);
    let flipped = {
        let mut b = good.clone();
        b[good.len() / 2] ^= 0x40;
        b
    };
    for (round, bad) in [
        ("flipped", flipped),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
    ] {
        let p = blob(t, &digest);
        // The layout directory may hard-link the blob: write a new file.
        fs::remove_file(&p).unwrap();
        fs::write(&p, &bad).unwrap();
        let (again, stderr) = build_bin(&spec, t);
        assert_eq!(again, digest, "{round}");
        assert!(
            stderr.contains("WARN") && stderr.contains("corrupt"),
            "{round}: no warning: {stderr}"
        );
        assert_eq!(fs::read(&p).unwrap(), good, "{round}: blob not rebuilt");
        check_outputs(t, archive, round);
        // And the next build finds nothing wrong.
        let (_, stderr) = build_bin(&spec, t);
        assert!(!stderr.contains("corrupt"), "{round}: {stderr}");
    }
}

#[test]
fn corrupt_blobs_are_rebuilt_for_the_archive_and_the_layout() {
    corrupt_and_rebuild(true);
}

#[test]
fn corrupt_blobs_are_rebuilt_for_the_layout_alone() {
    corrupt_and_rebuild(false);
}
