//! The command-line configuration overrides (`--ssid`, `--channel`, ...): one
//! flag for each key of the configuration table that has one, with the
//! table's help text, parsed as the same text a credential holds.

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};

use crate::config::{Combine, KeySpec, Layer, KEYS};

/// Configuration overrides: the highest layer. (The passphrase is not a
/// flag, as command lines are visible to every user; use a credential.)
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    layer: Layer,
}

impl Overrides {
    /// The overrides as a configuration layer.
    pub fn layer(&self) -> Layer {
        self.layer.clone()
    }
}

fn flagged() -> impl Iterator<Item = (&'static KeySpec, &'static str)> {
    KEYS.iter().filter_map(|k| Some((k, k.flag?)))
}

impl Args for Overrides {
    fn augment_args(cmd: Command) -> Command {
        flagged().fold(cmd, |cmd, (key, flag)| {
            cmd.arg(
                Arg::new(key.name)
                    .long(flag)
                    .value_name(key.value_name)
                    .help(key.help)
                    .global(true)
                    .value_parser(move |text: &str| Layer::from_text(key, text)),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for Overrides {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let layer = flagged()
            .filter_map(|(key, _)| matches.get_one::<Layer>(key.name).cloned())
            .fold(Layer::default(), |lower, one| one.combine(lower));
        Ok(Overrides { layer })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::cli::Cli;
    use crate::config::Security;

    #[test]
    fn every_key_with_a_flag_is_a_global_flag_with_the_tables_help() {
        let cmd = Cli::command();
        for (key, flag) in flagged() {
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
                channel: Some(11),
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
}
