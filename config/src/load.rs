//! Reading the layers from a system: files, credentials, flags.

use std::path::{Path, PathBuf};

use crate::capped::{self, CappedError};
use crate::config::{from_layer, Config, EspLayer};
use crate::error::ConfigError;
use crate::keys::KEYS;
use crate::layer::{parse_located, Layer, Located};
use crate::origin::{Origin, DEFAULTS};
use crate::paths;

/// The largest configuration file read: a real one is well under 1 KiB,
/// and `--config /dev/zero` must not take all memory.
pub const FILE_CAP: u64 = 1 << 20;
/// The largest credential read: one value.
pub const CREDENTIAL_CAP: u64 = 64 << 10;

/// The text of `path`, or `None` when it does not exist; at most `cap`
/// bytes, so that an endless file stops there.
fn read_capped(path: &Path, cap: u64) -> Result<Option<String>, ConfigError> {
    match capped::read_to_string(path, cap) {
        Ok(text) => Ok(Some(text)),
        Err(CappedError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(CappedError::Io(source)) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
        Err(CappedError::TooLarge { cap }) => Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            cap,
        }),
    }
}

fn read_located(path: &Path) -> Result<Option<Located>, ConfigError> {
    match read_capped(path, FILE_CAP)? {
        Some(text) => parse_located(&text, path).map(Some),
        None => Ok(None),
    }
}

/// Reads systemd credentials (`softap.<key>` files) into a layer.
pub fn credentials_layer(dir: &Path) -> Result<Located, ConfigError> {
    let mut found = Located::default();
    for key in KEYS.iter().filter(|k| k.credential) {
        let path = dir.join(format!("{}{}", paths::CREDENTIAL_PREFIX, key.name));
        let Some(value) = read_capped(&path, CREDENTIAL_CAP)? else {
            continue;
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
    /// Where the EFI system partition's file that last worked is kept:
    /// with it set, a broken ESP file is replaced by that text (or, with
    /// none kept, by nothing) instead of failing the load.
    pub last_good_esp: Option<PathBuf>,
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
            last_good_esp: Some(root.join(paths::LAST_GOOD_ESP_FILE)),
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

/// What stands in the ESP file's place.
enum EspChoice<'a> {
    /// The file itself.
    Read,
    /// The text kept at this path, under the ESP file's name.
    Kept(&'a Path),
    /// Nothing: the image's defaults.
    Skip,
}

/// The ESP file in use: the first that exists.
fn esp_file(root: &Path) -> Option<PathBuf> {
    paths::esp_configs(root).find(|p| p.exists())
}

/// Whether `e` is about the file at `path`.
fn is_about(e: &ConfigError, path: &Path) -> bool {
    match e {
        ConfigError::Read { path: p, .. }
        | ConfigError::TooLarge { path: p, .. }
        | ConfigError::Parse { path: p, .. } => p == path,
        ConfigError::Invalid {
            origin: Origin::File { path: p, .. },
            ..
        } => p == path,
        _ => false,
    }
}

/// Loads, merges and validates every layer. With
/// [`Sources::last_good_esp`] set, an ESP file that cannot be read, does not
/// parse or breaks a rule is replaced by the text that last worked, else by
/// nothing (the image's defaults); [`Config::esp`] then says so. Any other
/// error, or one that remains with the replacement, is returned.
pub fn load(src: &Sources) -> Result<Config, ConfigError> {
    let e = match load_with(src, EspChoice::Read) {
        Ok(c) => return Ok(c),
        Err(e) => e,
    };
    let Some(last_good) = &src.last_good_esp else {
        return Err(e);
    };
    let Some(broken) = esp_file(&src.root).filter(|p| src.explicit.is_none() && is_about(&e, p))
    else {
        return Err(e);
    };
    let kept = last_good.is_file().then_some(last_good.as_path());
    let mut replaced = kept.and_then(|k| {
        load_with(src, EspChoice::Kept(k))
            .ok()
            .map(|c| (c, Some(k)))
    });
    if replaced.is_none() {
        replaced = load_with(src, EspChoice::Skip).ok().map(|c| (c, None));
    }
    let Some((mut cfg, fallback)) = replaced else {
        return Err(e);
    };
    cfg.esp = EspLayer::Replaced {
        path: broken,
        problem: e.to_string(),
        place: e.place(),
        fallback: fallback.map(Path::to_path_buf),
    };
    Ok(cfg)
}

fn load_with(src: &Sources, esp: EspChoice<'_>) -> Result<Config, ConfigError> {
    let mut stack = Stack {
        merged: Located::default(),
        names: vec![DEFAULTS.to_owned()],
    };
    let mut esp_layer = EspLayer::Absent;
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
        match esp {
            EspChoice::Read => {
                if let Some(path) = esp_file(&src.root) {
                    if let Some(text) = read_capped(&path, FILE_CAP)? {
                        let l = parse_located(&text, &path)?;
                        stack.push(l, path.display().to_string());
                        esp_layer = EspLayer::Read { path, text };
                    }
                }
            }
            EspChoice::Kept(kept) => {
                if let Some(text) = read_capped(kept, FILE_CAP)? {
                    let l = parse_located(&text, kept)?;
                    stack.push(l, format!("{} (the last that worked)", kept.display()));
                }
            }
            EspChoice::Skip => {}
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
    cfg.esp = esp_layer;
    cfg.validate(&|key| cfg.origins.get(key))?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::ETC_CONFIG;
    use crate::Security;

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
                channel: Some(crate::ChannelSetting::Number(6)),
                ..Layer::default()
            },
            last_good_esp: None,
        };
        let c = load(&src).unwrap();
        assert_eq!(c.ssid.as_deref(), Some("cred"));
        assert_eq!(c.passphrase.as_deref(), Some("correct horse"));
        assert_eq!(c.country.as_deref(), Some("FR"));
        assert_eq!(c.channel, Some(crate::ChannelSetting::Number(6)));
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
    fn an_endless_file_stops_at_the_cap() {
        let src = Sources {
            explicit: Some(PathBuf::from("/dev/zero")),
            ..Sources::default()
        };
        let e = load(&src).unwrap_err();
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e}");
        assert!(e.to_string().starts_with("/dev/zero: larger than"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("softap.ssid"),
            "x".repeat(CREDENTIAL_CAP as usize + 1),
        )
        .unwrap();
        let e = credentials_layer(dir.path()).unwrap_err();
        assert!(e.to_string().contains("softap.ssid: larger than"), "{e}");
    }

    /// A broken ESP file: the text that last worked stands in for it, or
    /// on a first boot nothing (the image's defaults); the problem is kept.
    #[test]
    fn a_broken_esp_file_is_replaced_by_the_last_good_text_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/softap")).unwrap();
        std::fs::create_dir_all(root.join("boot/efi")).unwrap();
        std::fs::write(
            root.join(ETC_CONFIG),
            "ssid = \"image\"\nsecurity = \"wpa2\"\n",
        )
        .unwrap();
        let esp = root.join("boot/efi/softap.toml");
        let src = Sources::system(root, None, Layer::default());
        let last_good = root.join(paths::LAST_GOOD_ESP_FILE);
        std::fs::write(&esp, "ssid = \"esp\"\n").unwrap();
        let c = load(&src).unwrap();
        assert_eq!(
            c.esp,
            EspLayer::Read {
                path: esp.clone(),
                text: "ssid = \"esp\"\n".into()
            }
        );
        for (broken, place) in [
            (
                "ssid = \"esp\"\nsecurity = \"open\"\nchannel = \n",
                ":3:11: ",
            ),
            (
                "security = \"open\"\ncolour = 1\n",
                ":2:1: unknown field `colour`",
            ),
            ("security = \"open\"\nchannel = 999\n", ":2:11: `channel`: "),
        ] {
            std::fs::write(&esp, broken).unwrap();
            // First boot: the image's defaults, never the broken file's "open".
            let c = load(&src).unwrap();
            assert_eq!(c.ssid.as_deref(), Some("image"));
            assert_eq!(c.security, Security::Wpa2);
            let EspLayer::Replaced {
                path,
                problem,
                place: at,
                fallback,
            } = &c.esp
            else {
                panic!("{:?}", c.esp);
            };
            assert_eq!((path, fallback), (&esp, &None));
            assert!(
                problem.starts_with(&format!("{}{place}", esp.display())),
                "{problem}"
            );
            // The same as fields: the file, its line and column, and the
            // message without them.
            assert_eq!(at.file.as_ref(), Some(&esp));
            let want = format!(
                "{}:{}:{}:",
                esp.display(),
                at.line.unwrap(),
                at.column.unwrap()
            );
            assert!(problem.starts_with(&want), "{problem} {at:?}");
            assert!(problem.ends_with(&at.message), "{problem} {at:?}");
            // With a text that worked before, that text.
            std::fs::create_dir_all(last_good.parent().unwrap()).unwrap();
            std::fs::write(&last_good, "ssid = \"esp-before\"\n").unwrap();
            let c = load(&src).unwrap();
            assert_eq!(c.ssid.as_deref(), Some("esp-before"));
            assert!(
                matches!(&c.esp, EspLayer::Replaced { fallback: Some(p), .. } if *p == last_good)
            );
            std::fs::remove_file(&last_good).unwrap();
        }
        // Errors elsewhere are errors, and so is a broken file given with --config.
        std::fs::write(root.join(ETC_CONFIG), "ssid = 3\n").unwrap();
        assert!(load(&src).is_err());
        std::fs::write(root.join(ETC_CONFIG), "").unwrap();
        let explicit = Sources {
            explicit: Some(esp.clone()),
            ..src.clone()
        };
        assert!(load(&explicit).is_err());
        // Without a place for the last good text, the old behaviour.
        let strict = Sources {
            last_good_esp: None,
            ..src
        };
        assert!(load(&strict).is_err());
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
        std::fs::write(dir.path().join("softap.width"), "six\n").unwrap();
        let e = credentials_layer(dir.path()).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("softap.width"), "{text}");
        assert!(text.contains("not a whole number"), "{text}");
        let cause = std::error::Error::source(&e).expect("the value error");
        assert!(
            std::error::Error::source(cause).is_some(),
            "the ParseIntError"
        );
    }
}
