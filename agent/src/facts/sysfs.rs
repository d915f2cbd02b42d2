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
        out.push(SysfsPhy {
            name,
            index,
            driver: link_name(&path.join("device/driver")),
            module: link_name(&path.join("device/driver/module")),
            mac,
        });
    }
    out.sort_by_key(|p| p.index);
    out
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
