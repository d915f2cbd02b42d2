//! Every error prints its cause once: the crate's errors leave their cause to
//! `source()`, which `cause::chain` prints.

use softap_build::cause::chain;

fn enoent() -> std::io::Error {
    std::io::Error::from_raw_os_error(2)
}

const OS: &str = "No such file or directory (os error 2)";

#[test]
fn layer_errors_do_not_repeat_their_cause() {
    let e = softap_build::layer::LayerError::Io {
        path: "/l".into(),
        source: enoent(),
    };
    assert_eq!(chain(&e), format!("/l: {OS}"));
}

#[test]
fn disk_errors_do_not_repeat_their_cause() {
    let e = softap_build::disk::DiskError::OutsideTree(softap_build::layer::LayerError::Io {
        path: "/d".into(),
        source: enoent(),
    });
    assert_eq!(chain(&e), format!("the root tree's boot files: /d: {OS}"));
}

#[test]
fn flash_errors_do_not_repeat_their_cause() {
    let e = softap_build::flash::FlashError::Io {
        path: "/f".into(),
        source: enoent(),
    };
    assert_eq!(chain(&e), format!("/f: {OS}"));
}

#[test]
fn a_build_error_prints_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("missing.toml");
    let e = softap_build::check(&spec, &softap_build::BuildOptions::default()).unwrap_err();
    let text = chain(&e);
    assert_eq!(text.matches("os error 2").count(), 1, "{text}");
}
