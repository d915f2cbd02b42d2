//! An interrupted build leaves nothing behind: SIGINT/SIGTERM remove its
//! temporaries before it exits (130/143), the temporaries a SIGKILL leaves
//! are swept by the next build, and two builds sharing one cache at once
//! both succeed with valid outputs.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A base with one big, incompressible file, so compressing and copying it
/// take long enough to be interrupted.
fn big_spec(dir: &Path, mib: usize) -> PathBuf {
    let root = dir.join("root");
    fs::create_dir_all(root.join("data")).unwrap();
    let mut src = fs::File::open("/dev/urandom").unwrap();
    let mut dst = fs::File::create(root.join("data/blob")).unwrap();
    std::io::copy(
        &mut std::io::Read::take(&mut src, (mib as u64) << 20),
        &mut dst,
    )
    .unwrap();
    dst.flush().unwrap();
    write_spec(
        dir,
        "big.toml",
        &format!(
            "[image]\nname = \"big\"\nsource_date_epoch = {EPOCH}\n\
             [base]\nkind = \"rootfs\"\npath = \"root\"\n\
             [output]\noci_archive = true\noci_dir = true\n"
        ),
    )
}

fn start(spec: &Path, dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_softap-build"))
        .arg("build")
        .arg(spec)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--cache")
        .arg(dir.join("cache"))
        .arg("--json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The hidden temporaries in the output directory and the cache's tmp.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for d in [dir.join("out"), dir.join("cache/tmp")] {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd {
            let e = e.unwrap();
            if e.file_name().to_string_lossy().starts_with('.') {
                found.push(e.path());
            }
        }
    }
    found
}

/// Waits until the build has a temporary in `which` (the output directory
/// or the cache's tmp); false if it ended first.
fn wait_for_temporary(child: &mut Child, dir: &Path, which: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if temporaries(dir)
            .iter()
            .any(|p| p.parent() == Some(&dir.join(which)))
        {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("no temporary in {which} after 2 minutes");
}

fn signal(child: &Child, sig: &str) {
    run(Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string()));
}

fn stderr_of(child: Child) -> (std::process::ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SIGTERM (or SIGINT) while a blob is compressed into the cache, and while
/// the archive is written into the output directory.
fn interrupted(sig: &str, code: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let spec = big_spec(t, 192);
    for (round, which) in ["cache/tmp", "out"].into_iter().enumerate() {
        let mut child = start(&spec, t);
        if !wait_for_temporary(&mut child, t, which) {
            panic!("round {round}: the build ended before writing into {which}");
        }
        signal(&child, sig);
        let (status, stderr) = stderr_of(child);
        assert_eq!(status.code(), Some(code), "round {round}: {stderr}");
        assert_eq!(temporaries(t), Vec::<PathBuf>::new(), "round {round}");
        assert!(!t.join("out/big.oci.tar").exists());
        if round == 0 {
            // The layer is in the cache now, so the next build goes
            // straight to writing the outputs.
            let mut c = start(&spec, t);
            assert!(c.wait().unwrap().success());
            fs::remove_dir_all(t.join("out")).unwrap();
        }
    }
}

#[test]
fn sigterm_removes_the_temporaries() {
    interrupted("TERM", 143);
}

#[test]
fn sigint_removes_the_temporaries() {
    interrupted("INT", 130);
}

#[test]
fn the_next_build_sweeps_what_a_sigkill_left() {
    require("umoci", "umoci");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let spec = big_spec(t, 192);
    for (round, which) in ["cache/tmp", "out"].into_iter().enumerate() {
        let mut child = start(&spec, t);
        assert!(wait_for_temporary(&mut child, t, which), "round {round}");
        signal(&child, "KILL");
        child.wait().unwrap();
        let left = temporaries(t);
        assert!(!left.is_empty(), "round {round}: SIGKILL left nothing");
        // A user's own hidden file beside the outputs stays.
        fs::create_dir_all(t.join("out")).unwrap();
        fs::write(t.join("out/.keep"), "mine").unwrap();

        let (status, stderr) = stderr_of(start(&spec, t));
        assert!(status.success(), "round {round}: {stderr}");
        for p in &left {
            assert!(!p.exists(), "round {round}: {} was not swept", p.display());
        }
        assert_eq!(temporaries(t), vec![t.join("out/.keep")], "round {round}");
        run(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:latest", t.join("out/big.oci").display()))
            .arg(t.join(format!("u{round}"))));
        fs::remove_dir_all(t.join("out")).unwrap();
    }
}

#[test]
fn two_builds_share_one_cache() {
    require("skopeo", "skopeo");
    require("umoci", "umoci");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let spec = big_spec(t, 32);
    let other = t.join("other");
    fs::create_dir(&other).unwrap();
    // The same cache, two output directories; started together, so both
    // write the same layer at once and sweep while the other runs.
    let mut a = start(&spec, t);
    let mut b = Command::new(env!("CARGO_BIN_EXE_softap-build"))
        .arg("build")
        .arg(&spec)
        .arg("--out")
        .arg(other.join("out"))
        .arg("--cache")
        .arg(t.join("cache"))
        .arg("--json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sa = a.wait().unwrap();
    let sb = b.wait().unwrap();
    assert!(sa.success() && sb.success(), "{sa} {sb}");
    for out in [t.join("out"), other.join("out")] {
        run(Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci-archive:{}", out.join("big.oci.tar").display())));
        run(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:latest", out.join("big.oci").display()))
            .arg(out.join("u")));
    }
    assert_eq!(temporaries(t), Vec::<PathBuf>::new());
}
