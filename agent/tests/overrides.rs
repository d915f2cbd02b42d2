//! The command-line overrides come from the configuration crate's key
//! table: every key with a flag is a global flag with the table's help, and
//! flag values are parsed as credentials are.

use clap::{CommandFactory, Parser};
use softap_agent::cli::Cli;
use softap_agent::config::{Layer, Security, KEYS};

#[test]
fn every_key_with_a_flag_is_a_global_flag_with_the_tables_help() {
    let cmd = Cli::command();
    for (key, flag) in KEYS.iter().filter_map(|k| Some((k, k.flag?))) {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(flag))
            .unwrap_or_else(|| panic!("--{flag} is missing"));
        assert!(arg.is_global_set(), "--{flag}");
        assert_eq!(
            arg.get_help().map(|h| h.to_string()).as_deref(),
            Some(key.help)
        );
    }
    assert!(cmd
        .get_arguments()
        .all(|a| a.get_long() != Some("passphrase")));
}

#[test]
fn flags_become_a_layer_and_bad_values_are_usage_errors() {
    let cli = Cli::try_parse_from([
        "softap-agent",
        "plan",
        "--ssid",
        "lab",
        "--channel",
        "11",
        "--security",
        "wpa2",
    ])
    .unwrap();
    assert_eq!(
        cli.overrides.layer(),
        Layer {
            ssid: Some("lab".into()),
            channel: Some(softap_agent::config::ChannelSetting::Number(11)),
            security: Some(Security::Wpa2),
            ..Layer::default()
        }
    );
    let e = Cli::try_parse_from(["softap-agent", "plan", "--channel", "x"]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("--channel"), "{e}");
    let e = Cli::try_parse_from(["softap-agent", "--security", "wep", "plan"]).unwrap_err();
    assert!(e.to_string().contains("wep"), "{e}");
}
