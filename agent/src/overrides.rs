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
