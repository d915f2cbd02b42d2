//! Bad specs fail with an error naming the file, line, column and key, and
//! write nothing to the output directory.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;
use softap_build::build;

const BASE: &str = "[base]\nkind = \"rootfs\"\npath = \"root\"\n";

fn image() -> String {
    format!("[image]\nname = \"bad\"\nsource_date_epoch = {EPOCH}\n")
}

/// Builds `text` as a spec in a fresh dir (with a tiny `root/` tree and
/// whatever `setup` adds) and returns the error message.
fn fails(text: &str, setup: impl FnOnce(&Path)) -> String {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("root/etc")).unwrap();
    fs::write(tmp.path().join("root/etc/hostname"), "x\n").unwrap();
    setup(tmp.path());
    let spec = write_spec(tmp.path(), "spec.toml", text);
    let out = tmp.path().join("out");
    let err =
        build(&spec, &options(&out, &tmp.path().join("cache"))).expect_err("the build must fail");
    let err = message(&err);
    assert!(!out.exists(), "{} was created: {err}", out.display());
    let file = spec.display().to_string();
    assert!(err.contains(&file), "error does not name {file}: {err}");
    err
}

#[test]
fn unknown_top_level_key() {
    let e = fails(&format!("{}{BASE}bogus = 1\n", image()), |_| {});
    assert!(e.contains("spec.toml:7:1: key `bogus`"), "{e}");
}

#[test]
fn unknown_key_in_image() {
    let e = fails(&format!("{}nmae = \"x\"\n{BASE}", image()), |_| {});
    assert!(e.contains("spec.toml:4:1: key `nmae`"), "{e}");
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn unknown_key_in_a_debian_base_points_at_the_key() {
    let e = fails(
        &format!(
            "{}[base]\nkind = \"debian\"\nsuite = \"bookworm\"\n  mirrorr = \"x\"\n",
            image()
        ),
        |_| {},
    );
    assert!(e.contains("spec.toml:7:3: key `mirrorr`"), "{e}");
}

#[test]
fn wrong_type_in_a_rootfs_base() {
    let e = fails(
        &format!("{}[base]\nkind = \"rootfs\"\npath = 5\n", image()),
        |_| {},
    );
    assert!(e.contains("spec.toml:6:8: key `path`"), "{e}");
}

#[test]
fn unknown_base_kind() {
    let e = fails(&format!("{}[base]\nkind = \"arch\"\n", image()), |_| {});
    assert!(e.contains("spec.toml:5:8: key `base.kind`"), "{e}");
}

#[test]
fn wrong_type_for_the_epoch() {
    let e = fails(
        &format!("[image]\nname = \"bad\"\nsource_date_epoch = \"yesterday\"\n{BASE}"),
        |_| {},
    );
    assert!(e.contains("spec.toml:3:21: key `source_date_epoch`"), "{e}");
}

#[test]
fn negative_epoch() {
    let e = fails(
        &format!("[image]\nname = \"bad\"\nsource_date_epoch = -5\n{BASE}"),
        |_| {},
    );
    assert!(
        e.contains("spec.toml:3:21: key `image.source_date_epoch`"),
        "{e}"
    );
}

#[test]
fn no_epoch_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("root")).unwrap();
    let spec = write_spec(
        tmp.path(),
        "spec.toml",
        &format!("[image]\nname = \"bad\"\n{BASE}"),
    );
    let e = softap_build::spec::load(&spec, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("SOURCE_DATE_EPOCH"), "{e}");
    let e = softap_build::spec::load(&spec, Some("soon"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("SOURCE_DATE_EPOCH=\"soon\""), "{e}");
    assert_eq!(
        softap_build::spec::load(&spec, Some("42"))
            .unwrap()
            .image
            .source_date_epoch,
        42
    );
}

#[test]
fn missing_overlay_names_the_key_and_the_absolute_path() {
    let e = fails(
        &format!("{}{BASE}[[overlay]]\npath = \"nowhere\"\n", image()),
        |_| {},
    );
    assert!(e.contains("spec.toml:8:8: key `overlay.path`"), "{e}");
    assert!(e.contains("/nowhere"), "{e}");
    assert!(e.contains("looked for /"), "{e}");
}

#[test]
fn missing_agent_binary() {
    let e = fails(
        &format!("{}{BASE}[agent]\npath = \"target/softap-agent\"\n", image()),
        |_| {},
    );
    assert!(e.contains("spec.toml:8:8: key `agent.path`"), "{e}");
    assert!(e.contains("target/softap-agent"), "{e}");
}

#[test]
fn missing_extended_spec() {
    let e = fails(
        &format!("extends = \"parent.toml\"\n{}{BASE}", image()),
        |_| {},
    );
    assert!(e.contains("spec.toml:1:11: key `extends`"), "{e}");
}

#[test]
fn overlay_symlink_escaping_its_root() {
    let e = fails(
        &format!("{}{BASE}[[overlay]]\npath = \"ov\"\n", image()),
        |d| {
            fs::create_dir_all(d.join("ov/etc")).unwrap();
            symlink("../../../../etc/passwd", d.join("ov/etc/evil")).unwrap();
        },
    );
    assert!(e.contains("points outside the image root"), "{e}");
    assert!(e.contains("spec.toml:8:8: overlay"), "{e}");
    assert!(e.contains("etc/evil"), "{e}");
}

#[test]
fn overlay_written_through_a_base_symlink_pointing_outside() {
    let e = fails(
        &format!("{}{BASE}[[overlay]]\npath = \"ov\"\n", image()),
        |d| {
            symlink("../../../tmp", d.join("root/etc/conf.d")).unwrap();
            fs::create_dir_all(d.join("ov/etc/conf.d")).unwrap();
            fs::write(d.join("ov/etc/conf.d/x.conf"), "x").unwrap();
        },
    );
    assert!(e.contains("written through symlink `etc/conf.d`"), "{e}");
    assert!(e.contains("spec.toml:8:8: overlays"), "{e}");
}

#[test]
fn template_error_names_the_template() {
    let e = fails(
        &format!("{}{BASE}[[overlay]]\npath = \"ov\"\n", image()),
        |d| {
            fs::create_dir_all(d.join("ov/etc")).unwrap();
            fs::write(d.join("ov/etc/x.conf.j2"), "a\n{{ undefined_var }}\n").unwrap();
        },
    );
    assert!(e.contains("x.conf.j2"), "{e}");
    assert!(e.contains("spec.toml:8:8: template"), "{e}");
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn appliance_key_the_agent_would_reject() {
    let e = fails(
        &format!("{}{BASE}[appliance]\nssidd = \"lab\"\n", image()),
        |_| {},
    );
    assert!(e.contains("[appliance]"), "{e}");
    assert!(e.contains("unknown field `ssidd`"), "{e}");
}

#[test]
fn appliance_value_the_agent_would_reject() {
    let e = fails(
        &format!(
            "{}{BASE}[appliance]\nssid = \"{}\"\n",
            image(),
            "x".repeat(33)
        ),
        |_| {},
    );
    assert!(e.contains("[appliance]") && e.contains("ssid"), "{e}");
}

#[test]
fn appliance_passphrase_is_refused_as_a_secret_in_a_layer() {
    let e = fails(
        &format!(
            "{}{BASE}[appliance]\npassphrase = \"correct horse\"\n",
            image()
        ),
        |_| {},
    );
    assert!(e.contains("would be stored in the image"), "{e}");
}
