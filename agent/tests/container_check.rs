//! `softap-agent container-check`, the image entrypoint's first step, run
//! for real in a fresh network namespace (`unshare -n`, where the machine
//! allows it): it exits 2 with one line naming `--network=host` and the
//! namespace's only link.

use std::process::Command;

#[test]
fn a_network_namespace_of_its_own_is_refused_with_one_line_naming_the_flag() {
    let agent = env!("CARGO_BIN_EXE_softap-agent");
    let probe = Command::new("unshare").args(["-n", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("unshare -n is not allowed here; skipped");
        return;
    }
    let out = Command::new("unshare")
        .args(["-n", agent, "container-check"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("must run with --network=host"), "{stderr}");
    assert!(stderr.contains("its links: lo"), "{stderr}");
    assert!(out.stdout.is_empty());
}
