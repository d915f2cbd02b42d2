//! Runs end-to-end boots by hand: `softap-e2e [--disk RAW] SCENARIO...`
//! (a, b, c, d, e; b reboots the stick a wrote). Without `--disk` it builds
//! `images/softap-e2e.toml` first, as the test does, and for e (the
//! desktop host) `images/softap-desktop-e2e.toml`; `--disk` is the disk of
//! every scenario named.

use std::path::PathBuf;
use std::process::ExitCode;

use softap_tests::images::{build_disk, build_oci_archive};
use softap_tests::scenario::{by_name, compare_reboot, run, stick_for, work_root};
use softap_tests::wifi;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let disk = match args.iter().position(|a| a == "--disk") {
        Some(i) if i + 1 < args.len() => {
            let d = PathBuf::from(args.remove(i + 1));
            args.remove(i);
            d
        }
        Some(_) => {
            eprintln!("--disk needs a path");
            return ExitCode::from(2);
        }
        None => PathBuf::new(),
    };
    let given = !disk.as_os_str().is_empty();
    let mut built: [Option<PathBuf>; 2] = [None, None];
    if args.is_empty() {
        eprintln!("usage: softap-e2e [--disk RAW] SCENARIO... (a, b, c, d)");
        return ExitCode::from(2);
    }
    let mut stick = None;
    let mut first: Option<softap_tests::qemu::Boot> = None;
    let mut failed = false;
    for name in &args {
        let Some(s) = by_name(name) else {
            eprintln!("unknown scenario {name}");
            return ExitCode::from(2);
        };
        let (spec, image, slot) = if s.desktop {
            ("images/softap-desktop-e2e.toml", "softap-desktop-e2e", 1)
        } else {
            ("images/softap-e2e.toml", "softap-e2e", 0)
        };
        if !given && built[slot].is_none() {
            match build_disk(spec, image, &work_root().join("out")) {
                Ok(b) => {
                    // As the test does: every driver family's firmware is
                    // on the appliance's disk.
                    if let (0, Some(summary)) = (slot, &b.summary) {
                        let (problems, notes) = wifi::check(summary);
                        for n in notes {
                            eprintln!("Wi-Fi coverage gap: {n}");
                        }
                        for p in problems {
                            eprintln!("Wi-Fi coverage: {p}");
                            failed = true;
                        }
                    }
                    built[slot] = Some(b.disk);
                }
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        let disk = if given {
            disk.clone()
        } else {
            built[slot].clone().unwrap_or_default()
        };
        // b continues on the stick a wrote; every other scenario gets a fresh one.
        if s.name != "b" || stick.is_none() {
            stick = match stick_for(&disk, s.name) {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
        }
        let Some(path) = stick.as_deref() else {
            return ExitCode::FAILURE;
        };
        let oci = if s.oci_archive {
            match build_oci_archive(
                "images/softap-container-e2e.toml",
                "softap",
                &work_root().join("out-oci"),
            ) {
                Ok(a) => Some(a),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        } else {
            None
        };
        match run(s, path, oci.as_deref()) {
            Ok(boot) => {
                eprintln!("scenario {name}: ok");
                if s.name == "b" {
                    if let Some(a) = &first {
                        for p in compare_reboot(&a.report, &boot.report) {
                            eprintln!("scenario b: {p}");
                            failed = true;
                        }
                    }
                }
                if s.name == "a" {
                    first = Some(boot);
                }
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
