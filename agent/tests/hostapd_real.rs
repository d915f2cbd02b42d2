//! The rendered hostapd.conf read by the real hostapd, and the control
//! socket client talking to it. hostapd runs with `driver=none` here (no
//! radio on this host); everything else in the file is parsed as rendered.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{config, facts, text, tool};
use rustix::process::{kill_process, Pid, Signal};
use softap_agent::hostapd::{wait_enabled, Ctrl};
use softap_agent::plan::plan;
use softap_agent::render::{render, Templates};
use softap_agent::state::State;

struct Hostapd(Child);

impl Drop for Hostapd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The rendered file with only the driver and the socket directory changed.
fn conf_for_test(case_cfg: &str, facts_file: &str, pass: Option<&str>, ctrl: &Path) -> String {
    let p = plan(&facts(facts_file), &config(case_cfg), &State::default()).unwrap();
    let files = render(&p, pass, &Templates::embedded()).unwrap();
    let conf = &files
        .iter()
        .find(|f| f.path.ends_with("hostapd.conf"))
        .unwrap()
        .content;
    conf.lines()
        .map(|l| {
            if l == "driver=nl80211" {
                "driver=none".to_string()
            } else if l.starts_with("ctrl_interface=") {
                format!("ctrl_interface={}", ctrl.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn start(conf: &Path) -> (Hostapd, std::path::PathBuf) {
    let log = conf.with_extension("log");
    let child = tool("hostapd", "hostapd")
        .arg("-dd")
        .arg(conf)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Hostapd(child), log)
}

#[test]
fn hostapd_accepts_every_rendered_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("", "guest.json", Some("correct-horse-battery")),
        (
            "security = \"wpa2\"\ncountry = \"DE\"\nchannel = 36\nssid = \"Café ☕\"",
            "guest.json",
            Some("p@ss w0rd"),
        ),
        ("", "one-channel-station.json", Some("12345678")),
        (
            "security = \"open\"\ninterface = \"wlap0\"",
            "guest.json",
            None,
        ),
    ];
    for (i, (cfg, f, pass)) in cases.iter().enumerate() {
        let ctrl = dir.path().join(format!("ctrl{i}"));
        let path = dir.path().join(format!("case{i}.conf"));
        std::fs::write(&path, conf_for_test(cfg, f, *pass, &ctrl)).unwrap();
        let (mut h, log) = start(&path);
        // hostapd exits at once on a configuration error; otherwise it
        // reaches ENABLED (or waits for a regulatory update with a country).
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("ENABLED") || text.contains("COUNTRY_UPDATE") {
                break text;
            }
            if let Some(st) = h.0.try_wait().unwrap() {
                panic!("case {i}: hostapd exited ({st}) on the rendered file:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "case {i}: hostapd did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            !text.contains("errors found in configuration"),
            "case {i}:\n{text}"
        );
        assert!(
            !text.contains("unknown configuration item"),
            "case {i}:\n{text}"
        );
    }
}

#[test]
fn control_socket_ping_status_attach_and_stations() {
    let dir = tempfile::tempdir().unwrap();
    let ctrl = dir.path().join("ctrl");
    let path = dir.path().join("h.conf");
    std::fs::write(
        &path,
        conf_for_test("", "guest.json", Some("correct-horse-battery"), &ctrl),
    )
    .unwrap();
    let (_h, log) = start(&path);
    let socket = ctrl.join("softap");
    let status = wait_enabled(&socket, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
    assert!(
        status.iter().any(|(k, v)| k == "state" && v == "ENABLED"),
        "{status:?}"
    );
    assert!(
        status.iter().any(|(k, v)| k == "channel" && v == "6"),
        "{status:?}"
    );
    let c = Ctrl::open(&socket).unwrap();
    c.ping(Duration::from_secs(2)).unwrap();
    assert_eq!(c.stations(Duration::from_secs(2)).unwrap(), vec![]);
}

#[test]
fn waiting_for_a_hostapd_that_never_comes_times_out_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nothing-here");
    let start = Instant::now();
    let e = wait_enabled(&socket, Duration::from_millis(500))
        .unwrap_err()
        .to_string();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(e.contains("nothing-here"), "{e}");
}

/// A hostapd that does not answer for longer than one request may wait (on a
/// reboot under TCG it took ~3 s) is waited for, not given up on.
#[test]
fn a_hostapd_that_answers_late_is_waited_for_until_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let ctrl = dir.path().join("ctrl");
    let path = dir.path().join("h.conf");
    std::fs::write(
        &path,
        conf_for_test("", "guest.json", Some("correct-horse-battery"), &ctrl),
    )
    .unwrap();
    let (h, log) = start(&path);
    let socket = ctrl.join("softap");
    wait_enabled(&socket, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
    let pid = Pid::from_child(&h.0);
    // Frozen, hostapd leaves every request unanswered until it is resumed.
    kill_process(pid, Signal::STOP).unwrap();
    let resume = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(4500));
        kill_process(pid, Signal::CONT)
    });
    let t0 = Instant::now();
    let status = wait_enabled(&socket, Duration::from_secs(30));
    let took = t0.elapsed();
    resume.join().unwrap().unwrap();
    let status = status.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        status.iter().any(|(k, v)| k == "state" && v == "ENABLED"),
        "{status:?}"
    );
    assert!(
        took >= Duration::from_secs(4),
        "answered while stopped? {took:?}"
    );
    drop(h);

    // Stopped for good: the wait ends at its deadline with the request named.
    let (h, log) = start(&path);
    wait_enabled(&socket, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
    kill_process(Pid::from_child(&h.0), Signal::STOP).unwrap();
    let t0 = Instant::now();
    let e = wait_enabled(&socket, Duration::from_secs(5))
        .unwrap_err()
        .to_string();
    let took = t0.elapsed();
    kill_process(Pid::from_child(&h.0), Signal::CONT).unwrap();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert!(e.contains("no answer to PING"), "{e}");
}

/// The probe the plan's 802.11be decision rests on, run on this machine's
/// hostapd. Debian's 2.10 is built without 802.11be: it must say no, so a
/// rendered file never carries a line that hostapd refuses.
#[test]
fn this_hostapd_is_asked_whether_it_takes_ieee80211be() {
    use softap_agent::facts::hostapd_probe;
    let program = "/usr/sbin/hostapd";
    if !Path::new(program).exists() {
        eprintln!("SKIPPED: {program} is absent; the 802.11be probe needs a real hostapd");
        return;
    }
    let version = std::process::Command::new(program)
        .arg("-v")
        .output()
        .map(|o| text(&o.stdout) + &text(&o.stderr))
        .unwrap_or_default();
    let host = softap_agent::host::Linux::new();
    let start = Instant::now();
    let accepted = hostapd_probe::ieee80211be(&host, program);
    assert!(start.elapsed() < hostapd_probe::TIMEOUT, "{accepted:?}");
    eprintln!(
        "{program} ({}): ieee80211be accepted: {accepted:?}",
        version.lines().next().unwrap_or("?")
    );
    // The other answer, from the same binary: a line it knows is parsed,
    // and hostapd stops at the driver.
    assert!(
        matches!(
            hostapd_probe::accepts(&host, program, "ieee80211ax=1"),
            Ok(true)
        ),
        "{version}"
    );
    if version.contains("hostapd v2.10") {
        assert!(matches!(accepted, Ok(false)), "{accepted:?}\n{version}");
    } else {
        assert!(accepted.is_ok(), "{accepted:?}\n{version}");
    }
}
