//! `/sys/class/ieee80211`: the phys the kernel has registered and their
//! drivers, as a cross-check of nl80211 and the source of `Phy::driver`.

use std::path::Path;

/// One `/sys/class/ieee80211/<name>` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysfsPhy {
    pub name: String,
    pub index: u32,
    /// Basename of `device/driver` (`iwlwifi`, `mac80211_hwsim`...).
    pub driver: Option<String>,
    /// `macaddress`: the phy's permanent address, lower case.
    pub mac: Option<String>,
}

/// Reads `<sys>/class/ieee80211/*`; no such directory means no wireless.
/// Entries that cannot be read are skipped with a warning: this is a
/// cross-check, nl80211 is the authority.
pub fn read_phys(sys: &Path) -> Vec<SysfsPhy> {
    let dir = sys.join("class/ieee80211");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let index = match std::fs::read_to_string(path.join("index")) {
            Ok(text) => match text.trim().parse::<u32>() {
                Ok(i) => i,
                Err(_) => {
                    tracing::warn!("{}/index is not a number: {text:?}", path.display());
                    continue;
                }
            },
            Err(e) => {
                tracing::warn!("reading {}/index: {e}", path.display());
                continue;
            }
        };
        let driver = std::fs::read_link(path.join("device/driver"))
            .ok()
            .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()));
        let mac = std::fs::read_to_string(path.join("macaddress"))
            .ok()
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty());
        out.push(SysfsPhy {
            name,
            index,
            driver,
            mac,
        });
    }
    out.sort_by_key(|p| p.index);
    out
}
