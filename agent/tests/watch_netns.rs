//! `watch` in a network namespace made by the test: real rtnetlink events,
//! radios from a facts file, libvirt/networkd/hostapd steps dry-run.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::data;

struct Watch {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Watch {
    fn start(root: &Path, facts: &str) -> Watch {
        let log = root.with_extension("log");
        let agent = env!("CARGO_BIN_EXE_softap-agent");
        // `unshare -n` execs in place, and so does the shell: the child's
        // pid is the agent's, in its own network namespace.
        let script = format!(
            "ip link set lo up && exec '{agent}' watch --root '{}' --facts '{}'",
            root.display(),
            data(facts).display()
        );
        let child = common::tool("unshare", "util-linux")
            .args(["-n", "--", "sh", "-c", &script])
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Watch { child, log }
    }

    /// Runs `ip ARGS` inside the watcher's namespace.
    fn ip(&self, args: &[&str]) {
        common::run_ok(
            common::tool("nsenter", "util-linux")
                .args(["-t", &self.child.id().to_string(), "-n", "ip"])
                .args(args),
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn subnet(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("var/lib/softap/state.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["subnet"].as_str().map(str::to_string)
}

fn wait_for(what: &str, timeout: Duration, w: &mut Watch, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        if let Some(st) = w.child.try_wait().unwrap() {
            panic!("watch exited ({st}) while waiting for {what}:\n{}", w.log());
        }
        assert!(
            start.elapsed() < timeout,
            "no {what} within {timeout:?}:\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn an_address_or_policy_route_in_our_subnet_moves_the_ap_within_2s() {
    // iproute2 is needed to make the changes.
    common::tool("ip", "iproute2");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut w = Watch::start(&root, "guest.json");
    wait_for(
        "the first bring-up",
        Duration::from_secs(10),
        &mut w,
        || subnet(&root).as_deref() == Some("172.16.0.0/16"),
    );

    w.ip(&["addr", "add", "172.16.5.1/24", "dev", "lo"]);
    let took = wait_for(
        "a re-plan after the address",
        Duration::from_secs(2),
        &mut w,
        || subnet(&root).is_some_and(|s| s != "172.16.0.0/16"),
    );
    eprintln!("re-planned {took:?} after the conflicting address");
    let moved = subnet(&root).unwrap();
    assert!(
        w.log().contains("now overlaps address 172.16.5.1/24 on lo"),
        "{}",
        w.log()
    );
    let state = std::fs::read_to_string(root.join("var/lib/softap/state.json")).unwrap();
    assert!(
        state.contains("\"172.16.0.0/16\""),
        "conflict not remembered: {state}"
    );

    // A VPN-like route in a policy table covering the new subnet.
    w.ip(&["route", "add", &moved, "dev", "lo", "table", "51820"]);
    wait_for(
        "a re-plan after the policy route",
        Duration::from_secs(2),
        &mut w,
        || subnet(&root).is_some_and(|s| s != moved),
    );
    assert!(w.log().contains("table 51820"), "{}", w.log());

    // An unrelated change re-plans but does not re-apply.
    let applies = w.log().matches("applying:").count();
    w.ip(&["addr", "add", "192.0.2.1/24", "dev", "lo"]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(w.log().matches("applying:").count(), applies, "{}", w.log());
}

#[test]
fn without_a_usable_phy_it_says_so_and_keeps_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let facts_path = dir.path().join("no-ap.json");
    let mut facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("guest.json")).unwrap()).unwrap();
    for p in facts["phys"].as_array_mut().unwrap() {
        p["modes"] = serde_json::json!(["managed", "monitor"]);
    }
    std::fs::write(&facts_path, facts.to_string()).unwrap();
    let root = dir.path().join("root");
    let agent = env!("CARGO_BIN_EXE_softap-agent");
    let log = dir.path().join("log");
    let child = Command::new("unshare")
        .args(["-n", "--", agent, "watch", "--root"])
        .arg(&root)
        .arg("--facts")
        .arg(&facts_path)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut w = Watch { child, log };
    wait_for("the no-phy message", Duration::from_secs(5), &mut w, || {
        let l = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        l.contains("no phy can host the access point") && l.contains("Waiting for a change")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        w.child.try_wait().unwrap().is_none(),
        "watch gave up:\n{}",
        w.log()
    );
    assert!(
        w.log()
            .contains("phy0 (modes: managed, monitor): no AP mode"),
        "{}",
        w.log()
    );
    assert!(!root.join("var/lib/softap/state.json").exists());
}

#[test]
fn a_failing_bring_up_is_reported_once_and_not_retried_in_a_tight_loop() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    // A file where networkd's directory belongs: every apply fails.
    std::fs::create_dir_all(root.join("run/systemd")).unwrap();
    std::fs::write(root.join("run/systemd/network"), "in the way").unwrap();
    let mut w = Watch::start(&root, "guest.json");
    wait_for(
        "the failure message",
        Duration::from_secs(5),
        &mut w,
        || {
            std::fs::read_to_string(root.with_extension("log"))
                .unwrap_or_default()
                .contains("bring-up failed, will retry")
        },
    );
    // Changes right after the failure (our own rollback's, or these) do
    // not trigger an immediate retry.
    w.ip(&["addr", "add", "192.0.2.7/24", "dev", "lo"]);
    std::thread::sleep(Duration::from_millis(1500));
    let log = w.log();
    assert_eq!(log.matches("applying:").count(), 1, "{log}");
    assert_eq!(log.matches("bring-up failed").count(), 1, "{log}");
    assert!(
        w.child.try_wait().unwrap().is_none(),
        "watch gave up:\n{log}"
    );
}

#[test]
fn a_bad_configuration_is_reported_and_watch_stays() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("softap.toml");
    std::fs::write(&cfg, "ssid = \"x\"\npasphrase = \"12345678\"\n").unwrap();
    let log = dir.path().join("log");
    let child = Command::new("unshare")
        .args([
            "-n",
            "--",
            env!("CARGO_BIN_EXE_softap-agent"),
            "watch",
            "--root",
        ])
        .arg(dir.path().join("root"))
        .arg("--config")
        .arg(&cfg)
        .arg("--facts")
        .arg(data("guest.json"))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut w = Watch { child, log };
    wait_for(
        "the configuration error",
        Duration::from_secs(5),
        &mut w,
        || {
            std::fs::read_to_string(dir.path().join("log"))
                .unwrap_or_default()
                .contains("softap.toml:2:1:")
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        w.child.try_wait().unwrap().is_none(),
        "watch exited:\n{}",
        w.log()
    );
    assert!(w.log().contains("read again"), "{}", w.log());
}
