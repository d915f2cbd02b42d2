use super::*;

#[test]
fn a_reboot_must_keep_subnet_ssid_and_passphrase() {
    let a = Report::from_text(
        "SOFTAP-E2E-INFO subnet 172.24.0.0/16\n\
         SOFTAP-E2E-INFO ssid-hex 736f66746170\n\
         SOFTAP-E2E-INFO passphrase-sha256 b6895af9e221ab3d\n",
    );
    assert!(compare_reboot(&a, &a.clone()).is_empty());
    let moved = Report::from_text(
        "SOFTAP-E2E-INFO subnet 10.3.0.0/16\n\
         SOFTAP-E2E-INFO ssid-hex 736f66746170\n\
         SOFTAP-E2E-INFO passphrase-sha256 b6895af9e221ab3d\n",
    );
    assert_eq!(compare_reboot(&a, &moved).len(), 1);
    // Nothing reported is not "unchanged".
    assert_eq!(
        compare_reboot(&Report::default(), &Report::default()).len(),
        3
    );
}

#[test]
fn scenario_a_boots_with_secure_boot_and_the_rest_without() {
    let secure: Vec<&str> = ALL
        .iter()
        .filter(|s| s.secure_boot)
        .map(|s| s.name)
        .collect();
    // The same stick must still boot with Secure Boot off (b, c, d, e).
    assert_eq!(secure, ["a"]);
}

#[test]
fn scenario_a_has_a_radio_for_each_of_its_crowd() {
    let crowd: Vec<&str> = A
        .extra
        .iter()
        .filter(|(k, _)| *k == "crowd")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(crowd, [CROWD.to_string()]);
    assert_eq!(A.radios, 3 + CROWD);
    // The crowd's stations are the radios after the scenario's own
    // three; no other scenario has a crowd.
    for s in ALL.iter().filter(|s| s.name != "a") {
        assert!(s.extra.iter().all(|(k, _)| *k != "crowd"), "{}", s.name);
    }
}

#[test]
fn every_scenario_is_found_by_name_and_expects_the_ap() {
    for s in ALL {
        assert_eq!(by_name(s.name).map(|f| f.name), Some(s.name));
        assert!(s.expected.contains(&"ap"), "{}", s.name);
        assert!(s.expected.contains(&"phy"), "{}", s.name);
    }
    assert!(by_name("z").is_none());
}
