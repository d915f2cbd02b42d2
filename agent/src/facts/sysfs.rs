//! `/sys/class/ieee80211`: the phys the kernel has registered and their
//! drivers, as a cross-check of nl80211 and the source of `Phy::driver` and
//! `Phy::module`; `/sys/module`: the modules loaded.

use std::path::Path;

/// One `/sys/class/ieee80211/<name>` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysfsPhy {
    pub name: String,
    pub index: u32,
    /// Basename of `device/driver` (`iwlwifi`, `mac80211_hwsim`...).
    pub driver: Option<String>,
    /// Basename of `device/driver/module`: the module that holds the driver
    /// (`rtw88_8822be` for driver `rtw_8822be`); none for a built-in one.
    pub module: Option<String>,
    /// `macaddress`: the phy's permanent address, lower case.
    pub mac: Option<String>,
    /// `addresses`: every address assigned to the phy (its interfaces may
    /// use any of them), lower case.
    pub addresses: Vec<String>,
}

/// The last component of the symlink at `path`'s target.
fn link_name(path: &Path) -> Option<String> {
    std::fs::read_link(path)
        .ok()
        .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()))
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
        let mac = std::fs::read_to_string(path.join("macaddress"))
            .ok()
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty());
        let addresses = std::fs::read_to_string(path.join("addresses"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().to_ascii_lowercase())
            .filter(|l| !l.is_empty())
            .collect();
        out.push(SysfsPhy {
            name,
            index,
            driver: link_name(&path.join("device/driver")),
            module: link_name(&path.join("device/driver/module")),
            mac,
            addresses,
        });
    }
    out.sort_by_key(|p| p.index);
    out
}

/// The phy whose permanent or any assigned address is `mac` (any case):
/// a `phy = "aa:bb:..."` setting names a card, and its phy name changes
/// when the card is plugged in again.
pub fn phy_with_address(sys: &Path, mac: &str) -> Option<String> {
    let mac = mac.trim().to_ascii_lowercase();
    read_phys(sys)
        .into_iter()
        .find(|p| p.mac.as_deref() == Some(mac.as_str()) || p.addresses.contains(&mac))
        .map(|p| p.name)
}

/// The loadable modules loaded now: `<sys>/module/NAME` with `initstate`
/// `live` (built-in code has a directory there too, without `initstate`),
/// sorted. No such directory means none.
pub fn loaded_modules(sys: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(sys.join("module")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("initstate")).is_ok_and(|s| s.trim() == "live")
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}
