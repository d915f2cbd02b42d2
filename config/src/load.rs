//! Reading the layers from a system: files, credentials, flags.

use std::path::{Path, PathBuf};

use crate::config::{from_layer, Config};
use crate::error::ConfigError;
use crate::keys::KEYS;
use crate::layer::{parse_located, Layer, Located};
use crate::origin::{Origin, DEFAULTS};
use crate::paths;

fn read_located(path: &Path) -> Result<Option<Located>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_located(&text, path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads systemd credentials (`softap.<key>` files) into a layer.
pub fn credentials_layer(dir: &Path) -> Result<Located, ConfigError> {
    let mut found = Located::default();
    for key in KEYS.iter().filter(|k| k.credential) {
        let path = dir.join(format!("{}{}", paths::CREDENTIAL_PREFIX, key.name));
        let value = match std::fs::read_to_string(&path) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        // Credentials are usually written with a trailing newline.
        let value = value.strip_suffix('\n').unwrap_or(&value);
        let value = value.strip_suffix('\r').unwrap_or(value);
        let layer = match Layer::from_text(key, value) {
            Ok(l) => l,
            Err(source) => return Err(ConfigError::Credential { path, source }),
        };
        found.overlay(Located::new(layer, |_| Origin::Credential {
            path: path.clone(),
        }));
    }
    Ok(found)
}

/// Where the layers come from; `root` prefixes every system path.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub root: PathBuf,
    /// `--config FILE`: replaces the `/etc` and ESP files when given.
    pub explicit: Option<PathBuf>,
    pub credentials_dir: Option<PathBuf>,
    /// System credentials (`systemd.set_credential=` on the kernel command
    /// line, SMBIOS/fw_cfg in VMs): read below the service's own.
    pub system_credentials_dir: Option<PathBuf>,
    pub flags: Layer,
}

impl Sources {
    /// The live system's sources: `$CREDENTIALS_DIRECTORY` from the environment.
    pub fn system(root: &Path, explicit: Option<PathBuf>, flags: Layer) -> Self {
        Sources {
            root: root.to_path_buf(),
            explicit,
            credentials_dir: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            system_credentials_dir: Some(root.join(paths::SYSTEM_CREDENTIALS_DIR)),
            flags,
        }
    }
}

/// The layers read so far, merged, with their names lowest first.
struct Stack {
    merged: Located,
    names: Vec<String>,
}

impl Stack {
    fn push(&mut self, layer: Located, name: String) {
        self.merged.overlay(layer);
        self.names.push(name);
    }
}

/// Loads, merges and validates every layer.
pub fn load(src: &Sources) -> Result<Config, ConfigError> {
    let mut stack = Stack {
        merged: Located::default(),
        names: vec![DEFAULTS.to_owned()],
    };
    if let Some(path) = &src.explicit {
        match read_located(path)? {
            Some(l) => stack.push(l, path.display().to_string()),
            None => {
                return Err(ConfigError::Read {
                    path: path.clone(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                })
            }
        }
    } else {
        let etc = src.root.join(paths::ETC_CONFIG);
        if let Some(l) = read_located(&etc)? {
            stack.push(l, etc.display().to_string());
        }
        for path in paths::esp_configs(&src.root) {
            if let Some(l) = read_located(&path)? {
                stack.push(l, path.display().to_string());
                break;
            }
        }
    }
    let dirs = [&src.system_credentials_dir, &src.credentials_dir];
    for dir in dirs.into_iter().flatten().filter(|d| d.is_dir()) {
        let l = credentials_layer(dir)?;
        if !l.layer.is_empty() {
            stack.push(l, format!("credentials in {}", dir.display()));
        }
    }
    if !src.flags.is_empty() {
        let flags = Located::new(src.flags.clone(), |k| match k.flag {
            Some(flag) => Origin::Flag { flag },
            None => Origin::Named("command-line flags".into()),
        });
        stack.push(flags, "command-line flags".into());
    }
    let Stack { merged, names } = stack;
    let mut cfg = from_layer(merged.layer, names);
    cfg.origins = merged.origins;
    cfg.validate(&|key| cfg.origins.get(key))?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::ETC_CONFIG;

    #[test]
    fn layers_merge_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/softap")).unwrap();
        std::fs::create_dir_all(root.join("boot/efi")).unwrap();
        std::fs::create_dir_all(root.join("creds")).unwrap();
        std::fs::write(
            root.join(ETC_CONFIG),
            "ssid = \"image\"\ncountry = \"US\"\nchannel = 1\n",
        )
        .unwrap();
        std::fs::write(
            root.join("boot/efi/softap.toml"),
            "ssid = \"esp\"\nchannel = 11\n",
        )
        .unwrap();
        std::fs::write(root.join("creds/softap.ssid"), "cred\n").unwrap();
        std::fs::create_dir_all(root.join("syscreds")).unwrap();
        std::fs::write(root.join("syscreds/softap.ssid"), "system\n").unwrap();
        std::fs::write(root.join("syscreds/softap.country"), "FR").unwrap();
        std::fs::write(root.join("creds/softap.passphrase"), "correct horse\n").unwrap();
        let src = Sources {
            root: root.to_path_buf(),
            explicit: None,
            credentials_dir: Some(root.join("creds")),
            system_credentials_dir: Some(root.join("syscreds")),
            flags: Layer {
                channel: Some(6),
                ..Layer::default()
            },
        };
        let c = load(&src).unwrap();
        assert_eq!(c.ssid.as_deref(), Some("cred"));
        assert_eq!(c.passphrase.as_deref(), Some("correct horse"));
        assert_eq!(c.country.as_deref(), Some("FR"));
        assert_eq!(c.channel, Some(6));
        assert_eq!(c.sources.len(), 6, "{:?}", c.sources);
        assert_eq!(
            c.origins.get("ssid"),
            Origin::Credential {
                path: root.join("creds/softap.ssid")
            }
        );
        assert_eq!(c.origins.get("channel"), Origin::Flag { flag: "channel" });
        assert_eq!(c.origins.get("bridge"), Origin::Default);
    }

    #[test]
    fn invalid_value_names_its_layer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("boot")).unwrap();
        std::fs::write(
            dir.path().join("boot/softap.toml"),
            "passphrase = \"1234\"\n",
        )
        .unwrap();
        let src = Sources {
            root: dir.path().to_path_buf(),
            ..Sources::default()
        };
        let e = load(&src).unwrap_err().to_string();
        assert!(e.contains("boot/softap.toml"), "{e}");
        assert!(e.contains("8 to 63"), "{e}");
        // The file's own line and column, and the key.
        assert!(e.contains("boot/softap.toml:1:14: `passphrase`"), "{e}");
    }

    #[test]
    fn a_bad_credential_names_its_file_and_keeps_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("softap.channel"), "six\n").unwrap();
        let e = credentials_layer(dir.path()).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("softap.channel"), "{text}");
        assert!(text.contains("not a whole number"), "{text}");
        let cause = std::error::Error::source(&e).expect("the value error");
        assert!(
            std::error::Error::source(cause).is_some(),
            "the ParseIntError"
        );
    }
}
