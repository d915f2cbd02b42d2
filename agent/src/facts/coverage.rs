//! The image's Wi-Fi coverage report (`/usr/share/softap/wifi-coverage.txt`,
//! written by the builder: each Wi-Fi driver module of the kernel with the
//! firmware groups it declares, present or missing), read back to say why a
//! loaded driver has no phy. Parsing and the check are pure; `read` is the
//! one file read.

use std::collections::BTreeMap;
use std::path::Path;

use super::model::DriverWithoutPhy;

/// Where the image carries the report.
pub const COVERAGE_FILE: &str = "/usr/share/softap/wifi-coverage.txt";

/// The report can only grow so far (a few hundred modules); anything
/// larger is not the builder's and is ignored.
const MAX_SIZE: u64 = 4 << 20;

/// One driver module in the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleFirmware {
    pub groups: u32,
    pub missing: Vec<String>,
}

/// Every Wi-Fi driver module in the report, by name.
pub type Coverage = BTreeMap<String, ModuleFirmware>;

/// The report's `module` lines and the `missing` lines below each; other
/// lines (comments, `kernel`, `present`, `totals`) carry nothing needed here.
/// With several kernels, a module's entries merge.
pub fn parse(text: &str) -> Coverage {
    let mut out = Coverage::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("module ") {
            let mut words = rest.split_whitespace();
            let Some(name) = words.next() else {
                current = None;
                continue;
            };
            let groups = words
                .find_map(|w| w.strip_prefix("groups="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let m = out.entry(name.to_owned()).or_default();
            m.groups = m.groups.max(groups);
            current = Some(name.to_owned());
        } else if let Some(group) = line.trim_start().strip_prefix("missing ") {
            if let Some(m) = current.as_ref().and_then(|c| out.get_mut(c)) {
                let group = group.trim().to_owned();
                if !m.missing.contains(&group) {
                    m.missing.push(group);
                }
            }
        } else if !line.starts_with(' ') {
            current = None;
        }
    }
    out
}

/// The report at `path`; none when it is absent (a container, or an image
/// without a kernel) or unreadable, which `detect` then cannot explain.
pub fn read(path: &Path) -> Option<Coverage> {
    match crate::input::read_capped(path, MAX_SIZE, "Wi-Fi coverage report") {
        Ok(text) => Some(parse(&text)),
        Err(e) => {
            tracing::debug!("no Wi-Fi coverage report: {e}");
            None
        }
    }
}

/// The Wi-Fi driver modules loaded (`loaded`) that hold no phy
/// (`with_phy`: the phys' modules) and lack firmware in the image. A loaded
/// module that lacks nothing is left out: a chip library (`rtw88_8822b`
/// under `rtw88_8822be`) or a driver with no device present.
pub fn drivers_without_phy(
    coverage: &Coverage,
    loaded: &[String],
    with_phy: &[&str],
) -> Vec<DriverWithoutPhy> {
    let mut out: Vec<DriverWithoutPhy> = loaded
        .iter()
        .filter(|m| !with_phy.contains(&m.as_str()))
        .filter_map(|m| {
            let c = coverage.get(m)?;
            (!c.missing.is_empty()).then(|| DriverWithoutPhy {
                module: m.clone(),
                firmware_groups: c.groups,
                missing_firmware: c.missing.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.module.cmp(&b.module));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As the builder writes it (its own tests hold the format).
    const REPORT: &str = "\
# Wi-Fi drivers of this image's kernel and the firmware the image has for them,
kernel 6.12.0-amd64
module ath11k_pci kernel/drivers/net/wireless/ath11k_pci.ko.xz groups=1 present=1 missing=0
  present ath11k/WCN6855/hw2.0/* ath11k/WCN6855/hw2.0/amss.bin (and 1 more)
module iwlwifi kernel/drivers/net/wireless/iwlwifi.ko.xz groups=3 present=1 missing=2
  missing iwlwifi-bz-b0-fm-c0-{N<=92}.ucode
  present iwlwifi-cc-a0-{N<=77}.ucode iwlwifi-cc-a0-72.ucode
  missing iwlwifi-ma-b0-gf-a0.pnvm
module mac80211_hwsim kernel/drivers/net/wireless/mac80211_hwsim.ko.xz groups=0 present=0 missing=0
module mt7925e kernel/drivers/net/wireless/mt7925e.ko.xz groups=2 present=0 missing=2
  missing mediatek/mt7925/WIFI_MT7925_PATCH_MCU_1_1_hdr.bin
  missing mediatek/mt7925/WIFI_RAM_CODE_MT7925_1_1.bin
totals modules=4 with-firmware=3 covered=1 groups=6 present=2 missing=4
  missing not-a-module-line
";

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_modules_and_their_missing_groups() {
        let c = parse(REPORT);
        assert_eq!(
            c.keys().collect::<Vec<_>>(),
            ["ath11k_pci", "iwlwifi", "mac80211_hwsim", "mt7925e"]
        );
        assert_eq!(
            c["iwlwifi"],
            ModuleFirmware {
                groups: 3,
                missing: names(&[
                    "iwlwifi-bz-b0-fm-c0-{N<=92}.ucode",
                    "iwlwifi-ma-b0-gf-a0.pnvm"
                ]),
            }
        );
        assert!(c["ath11k_pci"].missing.is_empty());
        assert_eq!(c["mt7925e"].missing.len(), 2);
    }

    #[test]
    fn loaded_without_phy_and_lacking_firmware() {
        let c = parse(REPORT);
        let loaded = names(&[
            "ath11k_pci",
            "cfg80211",
            "iwlwifi",
            "mac80211_hwsim",
            "mt7925e",
        ]);
        // iwlwifi drives a phy: what it lacks is for other cards.
        let d = drivers_without_phy(&c, &loaded, &["iwlwifi", "mac80211_hwsim"]);
        assert_eq!(
            d,
            [DriverWithoutPhy {
                module: "mt7925e".into(),
                firmware_groups: 2,
                missing_firmware: names(&[
                    "mediatek/mt7925/WIFI_MT7925_PATCH_MCU_1_1_hdr.bin",
                    "mediatek/mt7925/WIFI_RAM_CODE_MT7925_1_1.bin"
                ]),
            }]
        );
        // Without the report nothing is claimed.
        assert!(drivers_without_phy(&Coverage::new(), &loaded, &[]).is_empty());
    }
}
