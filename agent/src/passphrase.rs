//! The network's passphrase: the configured one, else the one stored on the
//! state volume, else a new one generated and stored before anything can
//! show it.

use std::path::{Path, PathBuf};

use crate::fsutil::WriteError;
use crate::host::Host;
use crate::security::SecurityMode;
use crate::state;

/// The lengths WPA accepts for a passphrase, in bytes.
const LENGTHS: std::ops::RangeInclusive<usize> = 8..=63;

#[derive(Debug, thiserror::Error)]
pub enum PassphraseError {
    #[error("{path}: cannot read the passphrase: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("/dev/urandom: cannot generate a passphrase: {0}")]
    Random(#[source] std::io::Error),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The passphrase: configured, else the stored one, else a new one stored
/// 0600 (never in the image). Returns (passphrase, generated now).
/// Written through `host` (fsynced, renamed into place, 0600 from its
/// creation) before anything can show it: a power cut after the banner
/// finds the same passphrase at the next boot.
pub fn ensure(
    host: &dyn Host,
    configured: Option<&str>,
    security: SecurityMode,
) -> Result<(Option<String>, bool), PassphraseError> {
    if security == SecurityMode::Open {
        return Ok((None, false));
    }
    if let Some(p) = configured {
        return Ok((Some(p.to_string()), false));
    }
    let path = host.root().join(state::PASSPHRASE_FILE);
    if let Some(p) = stored(&path)? {
        return Ok((Some(p), false));
    }
    let p = generate().map_err(PassphraseError::Random)?;
    host.write_atomic(&path, format!("{p}\n").as_bytes(), 0o600)?;
    Ok((Some(p), true))
}

/// The passphrase to show: the configured one, else the stored one;
/// `None` before the first apply stored one.
pub fn known(configured: Option<&str>, root: &Path) -> Option<String> {
    match configured {
        Some(p) => Some(p.to_string()),
        None => stored(&root.join(state::PASSPHRASE_FILE)).ok().flatten(),
    }
}

/// The passphrase stored at `path`, when it has a length WPA accepts; one
/// of another length is said and left for [`ensure`] to replace.
fn stored(path: &Path) -> Result<Option<String>, PassphraseError> {
    match std::fs::read_to_string(path) {
        Ok(p) => {
            let p = p.trim_end_matches('\n').to_string();
            if LENGTHS.contains(&p.len()) {
                return Ok(Some(p));
            }
            tracing::warn!(
                "{}: stored passphrase is not 8-63 characters; generating a new one",
                path.display()
            );
            Ok(None)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PassphraseError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// 24 characters from an alphabet without look-alikes (l/1, O/0), so it can
/// be typed from a screen: about 139 bits.
pub fn generate() -> std::io::Result<String> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let limit = 256 - (256 % ALPHABET.len());
    let mut out = String::new();
    let mut f = std::fs::File::open("/dev/urandom")?;
    let mut buf = [0u8; 64];
    while out.len() < 24 {
        f.read_exact(&mut buf)?;
        for b in buf {
            // Rejection sampling keeps every character equally likely.
            if (b as usize) < limit && out.len() < 24 {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::Fake;

    #[test]
    fn passphrases_are_long_and_random() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() && c != 'l' && c != '0'));
    }

    #[test]
    fn a_stored_passphrase_is_kept_and_a_short_one_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path());
        let path = dir.path().join(state::PASSPHRASE_FILE);
        let (first, generated) = ensure(&host, None, SecurityMode::Wpa2).unwrap();
        assert!(generated);
        let first = first.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{first}\n")
        );
        assert_eq!(
            ensure(&host, None, SecurityMode::Wpa2).unwrap(),
            (Some(first), false)
        );
        std::fs::write(&path, "short\n").unwrap();
        let (again, generated) = ensure(&host, None, SecurityMode::Wpa2).unwrap();
        assert!(generated && again.is_some_and(|p| p.len() == 24));
        assert_eq!(
            ensure(&host, Some("configured"), SecurityMode::Wpa2).unwrap(),
            (Some("configured".into()), false)
        );
        assert_eq!(
            ensure(&host, None, SecurityMode::Open).unwrap(),
            (None, false)
        );
    }

    #[test]
    fn the_known_passphrase_follows_the_same_rules_as_the_one_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(state::PASSPHRASE_FILE);
        assert_eq!(known(None, dir.path()), None);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "short\n").unwrap();
        assert_eq!(known(None, dir.path()), None);
        std::fs::write(&path, "long enough\n").unwrap();
        assert_eq!(known(None, dir.path()).as_deref(), Some("long enough"));
        assert_eq!(known(Some("mine"), dir.path()).as_deref(), Some("mine"));
    }
}
