//! Golden plans of the Wi-Fi link for real cards' `iw list` captures (the
//! fixtures under `fixtures/iw`), with and without a country, and every
//! hostapd.conf they render read by Debian's hostapd: with no radio here it
//! must stop at the driver, never at a line of the file.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{config, iw_fixture, tool};
use softap_agent::facts::iw::from_iw_text;
use softap_agent::facts::Facts;
use softap_agent::plan::{plan, Plan, Topic};
use softap_agent::render::{render, Templates};
use softap_agent::state::State;

/// (fixture, the phy to use, configuration)
const CASES: &[(&str, &str, &str)] = &[
    // Wi-Fi 6 USB (MT7921AU): HE80 on 5 GHz once a country is known.
    ("mt7921au-comfast-cf951ax", "phyX", ""),
    ("mt7921au-comfast-cf951ax", "phyX", "country = \"DE\""),
    (
        "mt7921au-comfast-cf951ax",
        "phyX",
        "country = \"DE\"\nwidth = 160",
    ),
    (
        "mt7921au-comfast-cf951ax",
        "phyX",
        "country = \"DE\"\nband = \"2.4\"\nwidth = 40",
    ),
    (
        "mt7921au-comfast-cf951ax",
        "phyX",
        "country = \"US\"\nchannel = 157",
    ),
    // Wi-Fi 5 USB (MT7612U), 52-64 radar: VHT80 on 36-48.
    ("mt7612u-alfa-awus036acm", "phyX", ""),
    ("mt7612u-alfa-awus036acm", "phyX", "country = \"DE\""),
    (
        "mt7612u-alfa-awus036acm",
        "phyX",
        "country = \"DE\"\nchannel = 52",
    ),
    (
        "mt7612u-alfa-awus036acm",
        "phyX",
        "country = \"DE\"\nchannel = 52\ndfs = true",
    ),
    // 802.11ac 5 GHz (ath10k) and 802.11n 2.4 GHz (ath9k) radios of one router.
    ("ath9k-ath10k-archer-c7-openwrt", "phy0", "country = \"US\""),
    ("ath9k-ath10k-archer-c7-openwrt", "phy1", "country = \"US\""),
    (
        "ath9k-ath10k-archer-c7-openwrt",
        "phy1",
        "country = \"US\"\nwidth = 40",
    ),
    // All of 5 GHz no-IR until the card associates (Intel 8260, Realtek 8821CE).
    ("iwlwifi-8260-ubuntu-2016", "phy0", "country = \"DE\""),
    ("rtw88-rtl8821ce", "phy0", "country = \"DE\""),
    // 2.4 GHz only, one stream (RT5370, MT7601U).
    ("rt2800usb-rt5370", "phy2", ""),
    ("rt2800usb-rt5370", "phy2", "country = \"DE\"\nband = \"5\""),
    ("mt7601u-dm-digital", "phyX", "country = \"DE\""),
    // The simulated radios of the end-to-end test (world domain in the capture).
    ("hwsim-6.1-radios2", "phy0", ""),
    (
        "hwsim-6.1-radios2",
        "phy0",
        "band = \"6\"\ncountry = \"DE\"",
    ),
    // The same radios under DE, as the end-to-end guest has them.
    ("hwsim-6.1-radios2+DE", "phy0", "country = \"DE\""),
    (
        "hwsim-6.1-radios2+DE",
        "phy0",
        "country = \"DE\"\nband = \"6\"",
    ),
    (
        "hwsim-6.1-radios2+DE",
        "phy0",
        "country = \"DE\"\nwidth = 160\ndfs = true",
    ),
    // channel = "auto": the plan's band and width, hostapd's ACS the primary.
    (
        "mt7921au-comfast-cf951ax",
        "phyX",
        "country = \"DE\"\nchannel = \"auto\"",
    ),
    (
        "mt7612u-alfa-awus036acm",
        "phyX",
        "country = \"DE\"\nchannel = \"auto\"\ndfs = true",
    ),
    ("rt2800usb-rt5370", "phy2", "channel = \"auto\""),
    // No country configured or applied: the one the access points around
    // agree on (two of three say DE), as if configured.
    ("mt7921au-comfast-cf951ax+scanDE", "phyX", ""),
    // Networks on 36 and 40: the quietest primary of the block, 44.
    (
        "mt7921au-comfast-cf951ax+busy36",
        "phyX",
        "country = \"DE\"",
    ),
    (
        "hwsim-6.1-radios2+DE",
        "phy0",
        "country = \"DE\"\nchannel = \"auto\"",
    ),
    (
        "hwsim-6.1-radios2+DE",
        "phy0",
        "country = \"DE\"\nband = \"6\"\nchannel = \"auto\"",
    ),
];

fn facts(fixture: &str) -> Facts {
    if let Some(base) = fixture.strip_suffix("+DE") {
        return as_in_germany(facts(base));
    }
    if let Some(base) = fixture.strip_suffix("+busy36") {
        let mut f = facts(base);
        f.scan = [5180, 5180, 5200, 5240]
            .iter()
            .enumerate()
            .map(|(i, freq)| softap_agent::facts::ScannedBss {
                bssid: format!("02:00:00:00:01:{i:02x}"),
                freq_mhz: *freq,
                country: None,
            })
            .collect();
        return f;
    }
    if let Some(base) = fixture.strip_suffix("+scanDE") {
        let mut f = facts(base);
        f.scan = ["DE", "DE", "FR"]
            .iter()
            .enumerate()
            .map(|(i, c)| softap_agent::facts::ScannedBss {
                bssid: format!("02:00:00:00:00:{i:02x}"),
                freq_mhz: 2412 + 25 * i as u32,
                country: Some(c.to_string()),
            })
            .collect();
        return f;
    }
    let text = std::fs::read_to_string(iw_fixture(&format!("{fixture}.iw-list.txt"))).unwrap();
    from_iw_text(&text, None).unwrap()
}

/// The hwsim capture was taken in the world domain; under DE (what the
/// agent asks the kernel for when `country = "DE"`) 36-48 and 149-161 lose
/// no-IR, 52-144 keep radar only, and 6 GHz up to channel 93 is enabled.
fn as_in_germany(mut f: Facts) -> Facts {
    use softap_agent::facts::BandId;
    for band in f.phys.iter_mut().flat_map(|p| p.bands.iter_mut()) {
        for c in &mut band.channels {
            match band.band {
                BandId::Band5G if c.number <= 144 => c.no_ir = false,
                BandId::Band6G if c.number <= 93 => c.disabled = false,
                _ => {}
            }
        }
    }
    f
}

fn cfg_text(phy: &str, cfg: &str) -> String {
    format!("phy = \"{phy}\"\n{cfg}")
}

fn line(p: &Plan) -> String {
    let c = &p.channel;
    let mut s = format!(
        "{:?} channel {} ({} MHz) {} centre {} MHz, {} Mbit/s, security {:?}",
        c.band,
        c.number,
        c.freq_mhz,
        c.mode_text(),
        c.center_freq_mhz,
        c.rate_mbps,
        p.security
    );
    if !c.ht_capab.is_empty() {
        s.push_str(&format!("\n    ht_capab={}", c.ht_capab));
    }
    if !c.vht_capab.is_empty() {
        s.push_str(&format!("\n    vht_capab={}", c.vht_capab));
    }
    if let Some(a) = &c.acs {
        s.push_str(&format!(
            "\n    ACS chanlist={} acs_num_scans={} acs_exclude_dfs={}",
            a.chanlist_text(),
            a.num_scans,
            a.exclude_dfs
        ));
    }
    for n in &p.decisions {
        if n.topic == Topic::Channel && (c.acs.is_some() || n.text.contains("networks heard")) {
            s.push_str(&format!("\n    {}: {}", n.topic, n.text));
        }
        if matches!(
            n.topic,
            Topic::Band | Topic::Width | Topic::Country | Topic::Dfs
        ) {
            s.push_str(&format!("\n    {}: {}", n.topic, n.text));
        }
    }
    s
}

#[test]
fn golden_link_plans_for_real_cards() {
    let mut out = String::new();
    for (fixture, phy, cfg) in CASES {
        let f = facts(fixture);
        let result = plan(&f, &config(&cfg_text(phy, cfg)), &State::default());
        out.push_str(&format!(
            "{fixture} {phy} [{}]\n  ",
            cfg.replace('\n', "; ")
        ));
        match result {
            Ok(p) => out.push_str(&line(&p)),
            Err(e) => out.push_str(&format!("refused: {e}")),
        }
        out.push('\n');
    }
    insta::assert_snapshot!(out);
}

#[test]
fn the_best_link_each_card_class_gets() {
    let rate = |fixture: &str, phy: &str, cfg: &str| {
        let p = plan(
            &facts(fixture),
            &config(&cfg_text(phy, cfg)),
            &State::default(),
        )
        .unwrap();
        (p.channel.mode_text(), p.channel.rate_mbps, p.channel.number)
    };
    // Without a country, every card stays on 2.4 GHz at 20 MHz.
    assert_eq!(rate("mt7921au-comfast-cf951ax", "phyX", "").0, "HE20");
    // With one: Wi-Fi 6 HE80 (1201), Wi-Fi 5 VHT80 (867), on 36.
    assert_eq!(
        rate("mt7921au-comfast-cf951ax", "phyX", "country = \"DE\""),
        ("HE80".into(), 1201.0, 36)
    );
    assert_eq!(
        rate("mt7612u-alfa-awus036acm", "phyX", "country = \"DE\""),
        ("VHT80".into(), 866.7, 36)
    );
    // A card whose whole 5 GHz band is no-IR: the best of 2.4 GHz.
    assert_eq!(
        rate("iwlwifi-8260-ubuntu-2016", "phy0", "country = \"DE\"").2,
        6
    );
}

/// Every configuration the golden plans render, read by the real hostapd
/// with the real nl80211 driver line: with no such interface here it must
/// fail at the driver, after reading every line.
#[test]
fn hostapd_reads_every_rendered_link_configuration() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (fixture, phy, cfg)) in CASES.iter().enumerate() {
        let Ok(p) = plan(
            &facts(fixture),
            &config(&cfg_text(phy, cfg)),
            &State::default(),
        ) else {
            continue;
        };
        let files = render(&p, Some("correct-horse-battery"), &Templates::embedded()).unwrap();
        let conf = &files
            .iter()
            .find(|f| f.path.ends_with("hostapd.conf"))
            .unwrap()
            .content;
        let ctrl = dir.path().join(format!("ctrl{i}"));
        let conf = conf
            .lines()
            .map(|l| {
                if l.starts_with("interface=") {
                    format!("interface=softap-none{i}")
                } else if l.starts_with("ctrl_interface=") {
                    format!("ctrl_interface={}", ctrl.display())
                } else if l.starts_with("bridge=") {
                    String::new()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let path = dir.path().join(format!("case{i}.conf"));
        std::fs::write(&path, conf + "\n").unwrap();
        let mut child = tool("hostapd", "hostapd")
            .arg("-dd")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("case {i} ({fixture} [{cfg}]): hostapd kept running with no radio");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let ctx = format!("case {i} ({fixture} [{cfg}])");
        for bad in [
            "unknown configuration item",
            "errors found in configuration",
            "Invalid",
            "invalid",
        ] {
            assert!(!text.contains(bad), "{ctx}: {bad}:\n{text}");
        }
        assert!(
            !text.lines().any(|l| l.starts_with("Line ")),
            "{ctx}: a line was refused:\n{text}"
        );
        assert!(
            text.contains("nl80211"),
            "{ctx}: hostapd did not reach the driver:\n{text}"
        );
    }
}

/// Under `channel = "auto"` the state records the channel hostapd picked:
/// any of the plan's chanlist is the plan, so `watch` does not re-apply
/// (and start ACS again) for it.
#[test]
fn the_channel_acs_picked_is_the_plan() {
    let cfg = "country = \"DE\"\nchannel = \"auto\"";
    let p = plan(
        &facts("mt7921au-comfast-cf951ax"),
        &config(&cfg_text("phyX", cfg)),
        &State::default(),
    )
    .unwrap();
    assert!(p.channel.runs_on(149) && p.channel.runs_on(36));
    assert!(!p.channel.runs_on(40));
    let mut applied = p.to_state(&State::default(), "h");
    applied.channel = Some(149);
    assert_eq!(softap_agent::watch::reason_to_reapply(&applied, &p), None);
    applied.channel = Some(44);
    assert!(softap_agent::watch::reason_to_reapply(&applied, &p).is_some());
}
