use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    softap_agent::cli::run(softap_agent::cli::Cli::parse())
}
