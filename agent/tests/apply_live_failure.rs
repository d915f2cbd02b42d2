//! A live `apply` (no --root) whose libvirt step fails: it names the step
//! and the command, shows the unit's journal, and removes the files it
//! wrote. Runs in a private mount namespace with fresh /run and /var/lib,
//! and with virsh pointed at a socket that does not exist, so nothing on the
//! host is touched.

mod common;

#[test]
fn failed_libvirt_step_rolls_back_the_files() {
    let agent = env!("CARGO_BIN_EXE_softap-agent");
    let facts = common::data("guest.json");
    let script = format!(
        "mount -t tmpfs none /run && mount -t tmpfs none /var/lib && \
         '{agent}' apply --facts '{}'; echo \"rc=$?\" >&2; \
         ls -A /run/softap /run/systemd/network /var/lib/softap >&2",
        facts.display()
    );
    let out = common::tool("unshare", "util-linux")
        .args(["-m", "--", "sh", "-c", &script])
        .env(
            "LIBVIRT_DEFAULT_URI",
            "qemu+unix:///system?socket=/nonexistent/libvirt-sock",
        )
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rc=5"), "{err}");
    assert!(
        err.contains("libvirt: `virsh net-define /run/softap/network.xml` failed"),
        "{err}"
    );
    assert!(
        err.contains("libvirtd.service's journal")
            || err.contains("journalctl -u libvirtd.service"),
        "{err}"
    );
    assert!(
        err.contains("This run's changes were rolled back."),
        "{err}"
    );
    // The rendered files are gone again; the generated passphrase stays.
    let listing: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("rc="))
        .skip(1)
        .collect();
    let listing = listing.join("\n");
    assert!(
        !listing.contains("hostapd.conf") && !listing.contains("network.xml"),
        "{listing}"
    );
    assert!(!listing.contains("softap.netdev"), "{listing}");
    assert!(listing.contains("passphrase"), "{listing}");
}
