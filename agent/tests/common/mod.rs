//! Helpers shared by the agent's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use softap_agent::config::{self, Config, Layer};
use softap_agent::facts::Facts;

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn facts(name: &str) -> Facts {
    let text = std::fs::read_to_string(data(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A validated configuration from TOML text over the defaults.
pub fn config(toml_text: &str) -> Config {
    let layer: Layer = config::parse_layer(toml_text, Path::new("test.toml")).unwrap();
    let c = config::from_layer(layer, vec!["test".into()]);
    c.validate(&|_| "test.toml".into()).unwrap();
    c
}

/// Runs a program the tests rely on; a missing one fails naming its package.
pub fn tool(program: &str, package: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{program} is not installed: install the Debian package {package} (scripts/packages/test-agent.txt)"
    );
    Command::new(program)
}

pub fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_softap-agent"))
}
