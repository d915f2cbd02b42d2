//! The image's Wi-Fi coverage report (`/usr/share/softap/wifi-coverage.txt`,
//! written by the builder: each Wi-Fi driver module of the kernel with the
//! firmware groups it declares, present or missing), read back to say why a
//! loaded driver has no phy. The text is parsed by the shared crate's
//! parser (`softap_config::coverage`, the builder's writer's twin); merging
//! and the check are pure; `read` is the one file read.

use std::collections::BTreeMap;
use std::path::Path;

use softap_config::coverage::KernelReport;

use super::model::DriverWithoutPhy;

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

/// Each module's group count and missing groups; with several kernels, a
/// module's entries merge.
pub fn by_module(kernels: &[KernelReport]) -> Coverage {
    let mut out = Coverage::new();
    for m in kernels.iter().flat_map(|k| &k.modules) {
        let c = out.entry(m.name.clone()).or_default();
        c.groups = c
            .groups
            .max(u32::try_from(m.groups.len()).unwrap_or(u32::MAX));
        for group in m.missing() {
            if !c.missing.iter().any(|g| g == group) {
                c.missing.push(group.to_owned());
            }
        }
    }
    out
}

/// The report at `path`; none when it is absent (a container, or an image
/// without a kernel), unreadable or not the builder's, which `detect` then cannot explain.
pub fn read(path: &Path) -> Option<Coverage> {
    let text = match crate::input::read_capped(path, MAX_SIZE, "Wi-Fi coverage report") {
        Ok(text) => text,
        Err(e) => {
            tracing::debug!("no Wi-Fi coverage report: {e}");
            return None;
        }
    };
    match softap_config::coverage::parse(&text) {
        Ok(kernels) => Some(by_module(&kernels)),
        Err(e) => {
            tracing::debug!("{}: not a Wi-Fi coverage report: {e}", path.display());
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

    use softap_config::coverage::{write, Found, GroupReport, ModuleReport};

    fn module(name: &str, groups: &[(&str, Option<&str>)]) -> ModuleReport {
        ModuleReport {
            name: name.to_owned(),
            file: format!("kernel/drivers/net/wireless/{name}.ko.xz"),
            groups: groups
                .iter()
                .map(|(group, file)| GroupReport {
                    group: (*group).to_owned(),
                    found: match file {
                        None => Found::Missing,
                        Some(f) => Found::Present {
                            file: (*f).to_owned(),
                            more: 0,
                        },
                    },
                })
                .collect(),
        }
    }

    /// As the builder writes it, through the shared writer and parser.
    fn report() -> Coverage {
        let kernel = KernelReport {
            kernel: "6.12.0-amd64".to_owned(),
            modules: vec![
                module(
                    "ath11k_pci",
                    &[(
                        "ath11k/WCN6855/hw2.0/*",
                        Some("ath11k/WCN6855/hw2.0/amss.bin"),
                    )],
                ),
                module(
                    "iwlwifi",
                    &[
                        ("iwlwifi-bz-b0-fm-c0-{N<=92}.ucode", None),
                        (
                            "iwlwifi-cc-a0-{N<=77}.ucode",
                            Some("iwlwifi-cc-a0-72.ucode"),
                        ),
                        ("iwlwifi-ma-b0-gf-a0.pnvm", None),
                    ],
                ),
                module("mac80211_hwsim", &[]),
                module(
                    "mt7925e",
                    &[
                        ("mediatek/mt7925/WIFI_MT7925_PATCH_MCU_1_1_hdr.bin", None),
                        ("mediatek/mt7925/WIFI_RAM_CODE_MT7925_1_1.bin", None),
                    ],
                ),
            ],
        };
        // A second kernel's iwlwifi lacks one more group: entries merge.
        let mut newer = kernel.clone();
        newer.kernel = "6.13.0-amd64".to_owned();
        newer.modules.truncate(2);
        newer.modules[1].groups[1].found = Found::Missing;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wifi-coverage.txt");
        std::fs::write(&path, write(&[kernel, newer])).unwrap();
        read(&path).unwrap()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn reads_modules_and_their_missing_groups() {
        let c = report();
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
                    "iwlwifi-ma-b0-gf-a0.pnvm",
                    "iwlwifi-cc-a0-{N<=77}.ucode",
                ]),
            }
        );
        assert!(c["ath11k_pci"].missing.is_empty());
        assert_eq!(c["mt7925e"].missing.len(), 2);
    }

    #[test]
    fn loaded_without_phy_and_lacking_firmware() {
        let c = report();
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

    #[test]
    fn a_file_that_is_not_a_report_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wifi-coverage.txt");
        assert_eq!(read(&path), None);
        std::fs::write(&path, "module iwlwifi f groups=1\n").unwrap();
        assert_eq!(read(&path), None);
    }
}
