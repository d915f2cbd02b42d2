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

#[test]
fn an_extends_chain_of_thousands_of_files_is_refused_naming_the_chain() {
    // Each file extends the next; the last one holds the real spec. Read
    // without a bound, this overflowed the stack.
    let e = fails(&format!("extends = \"c1.toml\"\n{}", image()), |d| {
        for i in 1..3000 {
            fs::write(
                d.join(format!("c{i}.toml")),
                format!("extends = \"c{}.toml\"\n", i + 1),
            )
            .unwrap();
        }
        fs::write(d.join("c3000.toml"), BASE).unwrap();
    });
    let limit = softap_build::spec::MAX_EXTENDS_DEPTH;
    assert!(e.contains(&format!("longer than {limit} files")), "{e}");
    assert!(e.contains("key `extends`"), "{e}");
    // The chain, from the file given to the one that was one too many.
    assert!(e.contains("/spec.toml -> /"), "{e}");
    assert!(e.ends_with(&format!("/c{limit}.toml")), "{e}");
}

#[test]
fn an_extends_chain_at_the_limit_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("root")).unwrap();
    let limit = softap_build::spec::MAX_EXTENDS_DEPTH;
    for i in 1..limit - 1 {
        fs::write(
            tmp.path().join(format!("c{i}.toml")),
            format!("extends = \"c{}.toml\"\n", i + 1),
        )
        .unwrap();
    }
    fs::write(tmp.path().join(format!("c{}.toml", limit - 1)), BASE).unwrap();
    let spec = write_spec(
        tmp.path(),
        "spec.toml",
        &format!("extends = \"c1.toml\"\n{}", image()),
    );
    let s = softap_build::spec::load(&spec, None).unwrap();
    assert_eq!(s.image.name, "bad");
}

#[test]
fn an_epoch_past_ustar_octal_is_refused() {
    let max = softap_build::spec::MAX_EPOCH;
    assert_eq!(max, 0o77777777777, "ustar's 11 octal digits");
    let e = fails(
        &format!(
            "[image]\nname = \"bad\"\nsource_date_epoch = {}\n{BASE}",
            max + 1
        ),
        |_| {},
    );
    assert!(
        e.contains("spec.toml:3:21: key `image.source_date_epoch`"),
        "{e}"
    );
    assert!(e.contains(&max.to_string()), "{e}");

    // The environment's value is held to the same bound.
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("root")).unwrap();
    let spec = write_spec(
        tmp.path(),
        "spec.toml",
        &format!("[image]\nname = \"bad\"\n{BASE}"),
    );
    let load = |env: i64| softap_build::spec::load(&spec, Some(&env.to_string()));
    let e = load(max + 1).unwrap_err().to_string();
    assert!(e.contains("SOURCE_DATE_EPOCH"), "{e}");
    // The year 9999, accepted before, is read back as 1901 by umoci.
    assert!(load(253_402_300_799).is_err());
    assert_eq!(load(max).unwrap().image.source_date_epoch, max as u64);
}

#[test]
fn a_spec_larger_than_the_cap_is_refused() {
    let cap = softap_build::spec::MAX_SPEC_BYTES as usize;
    // Valid TOML all the way: only its size is wrong.
    let padding = format!("# {}\n", "x".repeat(1000)).repeat(cap / 1000 + 1);
    let e = fails(&format!("{}{BASE}{padding}", image()), |_| {});
    assert!(e.contains(&format!("larger than {cap} bytes")), "{e}");
}

#[test]
fn a_spec_it_extends_larger_than_the_cap_is_refused_naming_it() {
    let cap = softap_build::spec::MAX_SPEC_BYTES as usize;
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("root")).unwrap();
    let padding = format!("# {}\n", "x".repeat(1000)).repeat(cap / 1000 + 1);
    write_spec(tmp.path(), "big.toml", &format!("{BASE}{padding}"));
    let spec = write_spec(
        tmp.path(),
        "spec.toml",
        &format!("extends = \"big.toml\"\n{}", image()),
    );
    let e = softap_build::spec::load(&spec, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("big.toml"), "{e}");
    assert!(e.contains(&format!("larger than {cap} bytes")), "{e}");
}

#[test]
fn a_template_larger_than_the_cap_is_refused_naming_it() {
    let cap = softap_build::overlay::MAX_TEMPLATE_BYTES as usize;
    let e = fails(
        &format!("{}{BASE}[[overlay]]\npath = \"ov\"\n", image()),
        |d| {
            fs::create_dir_all(d.join("ov/etc")).unwrap();
            fs::write(d.join("ov/etc/big.conf.j2"), "x".repeat(cap + 1)).unwrap();
        },
    );
    assert!(e.contains("big.conf.j2"), "{e}");
    assert!(e.contains("spec.toml:8:8: template"), "{e}");
    assert!(e.contains(&format!("larger than {cap} bytes")), "{e}");
}

#[test]
fn appliance_errors_point_at_the_specs_own_line_and_column() {
    let e = fails(
        &format!(
            "{}{BASE}[appliance]\nssid = \"lab\"\n  ssidd = \"lab\"\n",
            image()
        ),
        |_| {},
    );
    assert!(e.contains("spec.toml:9:3: [appliance] key `ssidd`"), "{e}");
    let e = fails(
        &format!("{}{BASE}[appliance]\nchannel = \"six\"\n", image()),
        |_| {},
    );
    assert!(
        e.contains("spec.toml:8:11: [appliance] key `channel`"),
        "{e}"
    );
    let e = fails(
        &format!(
            "{}{BASE}[appliance]\nssid = \"lab\"\ncountry = \"Germany\"\n",
            image()
        ),
        |_| {},
    );
    assert!(
        e.contains("spec.toml:9:11: [appliance] key `country`: \"GERMANY\" is not"),
        "{e}"
    );
    let e = fails(
        &format!(
            "{}{BASE}[appliance]\npassphrase = \"correct horse\"\n",
            image()
        ),
        |_| {},
    );
    assert!(
        e.contains("spec.toml:8:14: [appliance] key `passphrase`"),
        "{e}"
    );
}

#[test]
fn an_appliance_value_points_into_the_file_of_the_chain_that_set_it() {
    // The extending file's value wins, and so does its place.
    let e = fails(
        &format!(
            "extends = \"parent.toml\"\n{}{BASE}[appliance]\nbridge = \"a-very-long-bridge-name\"\n",
            image()
        ),
        |d| fs::write(d.join("parent.toml"), "[appliance]\nbridge = \"br0\"\n").unwrap(),
    );
    assert!(
        e.contains("spec.toml:9:10: [appliance] key `bridge`"),
        "{e}"
    );
    // A value only the extended file sets is reported there.
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("root")).unwrap();
    fs::write(
        tmp.path().join("parent.toml"),
        "[appliance]\nssid = \"ok\"\nbridge = \"a-very-long-bridge-name\"\n",
    )
    .unwrap();
    let spec = write_spec(
        tmp.path(),
        "spec.toml",
        &format!("extends = \"parent.toml\"\n{}{BASE}", image()),
    );
    let e = softap_build::spec::load(&spec, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("parent.toml:3:10: [appliance] key `bridge`"),
        "{e}"
    );
}
