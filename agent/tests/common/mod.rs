//! Helpers shared by the agent's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use softap_agent::config::{self, Config, Layer};
use softap_agent::facts::Facts;

pub(crate) fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub(crate) fn facts(name: &str) -> Facts {
    let text = std::fs::read_to_string(data(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A validated configuration from TOML text over the defaults.
pub(crate) fn config(toml_text: &str) -> Config {
    let layer: Layer = config::parse_layer(toml_text, Path::new("test.toml")).unwrap();
    let c = config::from_layer(layer, vec!["test".into()]);
    c.validate(&|_| "test.toml".into()).unwrap();
    c
}

/// The `iw` text fixtures (with their `*.expect.toml`).
pub(crate) fn iw_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/iw")
        .join(name)
}

/// Whether `program` is on the PATH.
pub(crate) fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Runs a program the tests rely on; a missing one fails naming its package.
pub(crate) fn tool(program: &str, package: &str) -> Command {
    assert!(
        installed(program),
        "{program} is not installed: install the Debian package {package} (scripts/packages/test-agent.txt)"
    );
    Command::new(program)
}

pub(crate) fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_softap-agent"))
}

/// Text of a program's output stream.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; otherwise the test fails showing the
/// command, its exit status, its standard error and output.
pub(crate) fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} could not be started: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        text(&out.stderr),
        text(&out.stdout)
    );
    out
}

/// [`run_ok`], then its standard output parsed as JSON.
pub(crate) fn run_json<T: serde::de::DeserializeOwned>(cmd: &mut Command) -> T {
    let out = run_ok(cmd);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{cmd:?}: not JSON ({e}):\n{}", text(&out.stdout)))
}
