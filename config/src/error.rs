//! What can go wrong reading configuration: each error names the file (and
//! where there is one, the line and column) and the key, and keeps its cause.
//! The agent prints an error's `Display` alone, so a message carries the
//! short form of its cause (a TOML error's message without its snippet) and
//! the full cause stays reachable through `source()`.

use std::num::ParseIntError;
use std::path::PathBuf;

use crate::origin::Origin;

/// A configuration error: where it is and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: larger than {cap} bytes, the limit for a configuration file; is this the right file?", path.display())]
    TooLarge { path: PathBuf, cap: u64 },
    #[error("{}:{line}:{column}: {}{}", path.display(),
            key.map(|k| format!("`{k}`: ")).unwrap_or_default(), source.message().trim())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        /// The key whose value is wrong, where the error lies in a value.
        key: Option<&'static str>,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("credential {}: {source}", path.display())]
    Credential {
        path: PathBuf,
        #[source]
        source: ValueError,
    },
    /// A value of the right type that breaks a rule (see [`crate::rules`]).
    #[error("{origin}: `{key}{item}`: {message}")]
    Invalid {
        key: &'static str,
        /// Which table and field of an array of tables (`[1].offset`), or
        /// empty.
        item: String,
        origin: Origin,
        message: String,
    },
}

/// An error taken apart for readers that want fields instead of a sentence
/// (`softap-agent status --json`): the file, where in it, the key and the
/// message without the place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorPlace {
    /// The file or credential the error is in; none for a command-line flag.
    pub file: Option<PathBuf>,
    /// Line and column, counted from 1, where the error lies in a TOML file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key whose value is wrong, where the error lies in a value.
    pub key: Option<String>,
    /// What is wrong: the error's text after its place (file, line and
    /// column), so place and message together say what the text says.
    pub message: String,
}

impl ConfigError {
    /// Where the error lies and what it says, as fields.
    pub fn place(&self) -> ErrorPlace {
        match self {
            ConfigError::Read { path, source } => ErrorPlace {
                file: Some(path.clone()),
                message: format!("cannot read: {source}"),
                ..ErrorPlace::default()
            },
            ConfigError::TooLarge { path, cap } => ErrorPlace {
                file: Some(path.clone()),
                message: format!("larger than {cap} bytes, the limit for a configuration file"),
                ..ErrorPlace::default()
            },
            ConfigError::Parse {
                path,
                line,
                column,
                key,
                source,
            } => ErrorPlace {
                file: Some(path.clone()),
                line: Some(*line),
                column: Some(*column),
                key: key.map(str::to_owned),
                message: format!(
                    "{}{}",
                    key.map(|k| format!("`{k}`: ")).unwrap_or_default(),
                    source.message().trim()
                ),
            },
            ConfigError::Credential { path, source } => ErrorPlace {
                file: Some(path.clone()),
                key: Some(source.key().to_owned()),
                message: source.to_string(),
                ..ErrorPlace::default()
            },
            ConfigError::Invalid {
                key,
                item,
                origin,
                message,
            } => {
                let (file, line, column) = match origin {
                    Origin::File { path, line, column } => {
                        (Some(path.clone()), Some(*line), Some(*column))
                    }
                    Origin::Credential { path } => (Some(path.clone()), None, None),
                    _ => (None, None, None),
                };
                ErrorPlace {
                    file,
                    line,
                    column,
                    key: Some((*key).to_owned()),
                    message: format!("`{key}{item}`: {message}"),
                }
            }
        }
    }
}

impl ValueError {
    /// The key whose text is not of its type.
    pub fn key(&self) -> &'static str {
        match self {
            ValueError::NotANumber { key, .. }
            | ValueError::NotABoolean { key, .. }
            | ValueError::NoTextForm { key }
            | ValueError::Invalid { key, .. } => key,
        }
    }
}

/// A value given as text (a credential, a command-line flag) that is not of
/// its key's type.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("`{key}`: not a whole number: {value:?}")]
    NotANumber {
        key: &'static str,
        value: String,
        #[source]
        source: ParseIntError,
    },
    #[error("`{key}`: not true or false: {value:?}")]
    NotABoolean { key: &'static str, value: String },
    #[error("`{key}` is an array of tables: set it in softap.toml")]
    NoTextForm { key: &'static str },
    #[error("`{key}`: {}", source.message().trim())]
    Invalid {
        key: &'static str,
        #[source]
        source: Box<toml::de::Error>,
    },
}
