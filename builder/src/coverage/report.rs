//! The coverage of one kernel's Wi-Fi drivers by an image's firmware, as
//! the report the disk carries (`softap_config::coverage` writes its text,
//! which `softap-agent detect` parses back) and as the summary
//! `softap-build build --json` prints. Pure: the modules and firmware come
//! in as plain data.

use std::collections::BTreeMap;

use serde::Serialize;
pub use softap_config::coverage::Totals;
use softap_config::coverage::{Found, GroupReport, KernelReport, ModuleReport};

use super::group::groups;

/// A Wi-Fi driver module as found in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverModule {
    /// The name the kernel loads it as.
    pub name: String,
    /// Its file, relative to the kernel's module directory.
    pub file: String,
    /// Its `firmware=` declarations.
    pub firmware: Vec<String>,
}

/// Matches every module's firmware groups against `firmware`: the names a
/// driver may ask for (compression suffixes removed) → the file present.
/// The modules come out sorted, so the same image gives the same report.
pub fn cover(
    kernel: &str,
    modules: Vec<DriverModule>,
    firmware: &BTreeMap<String, String>,
) -> KernelReport {
    let mut out: Vec<ModuleReport> = modules
        .into_iter()
        .map(|m| ModuleReport {
            groups: groups(&m.firmware)
                .into_iter()
                .map(|group| {
                    // Files under the firmware directory that satisfy it,
                    // best first.
                    let mut found = group
                        .want
                        .found(firmware)
                        .into_iter()
                        .filter_map(|name| firmware.get(name).cloned());
                    GroupReport {
                        group: group.want.name(),
                        found: match found.next() {
                            None => Found::Missing,
                            Some(file) => Found::Present {
                                file,
                                more: found.count(),
                            },
                        },
                    }
                })
                .collect(),
            name: m.name,
            file: m.file,
        })
        .collect();
    out.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
    KernelReport {
        kernel: kernel.to_owned(),
        modules: out,
    }
}

/// The `--json` form of one kernel's coverage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageSummary {
    pub kernel: String,
    pub modules: Vec<ModuleSummary>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleSummary {
    pub module: String,
    pub file: String,
    /// How many firmware groups it declares.
    pub groups: usize,
    /// The groups with a file present.
    pub present: Vec<String>,
    /// For each present group, the best file found (same order).
    pub files: Vec<String>,
    /// The groups with no file.
    pub missing: Vec<String>,
}

/// The `--json` form of one kernel's report.
pub fn summary(k: &KernelReport) -> CoverageSummary {
    let modules = k
        .modules
        .iter()
        .map(|m| {
            let mut s = ModuleSummary {
                module: m.name.clone(),
                file: m.file.clone(),
                groups: m.groups.len(),
                present: Vec::new(),
                files: Vec::new(),
                missing: Vec::new(),
            };
            for g in &m.groups {
                match &g.found {
                    Found::Missing => s.missing.push(g.group.clone()),
                    Found::Present { file, .. } => {
                        s.present.push(g.group.clone());
                        s.files.push(file.clone());
                    }
                }
            }
            s
        })
        .collect();
    CoverageSummary {
        kernel: k.kernel.clone(),
        modules,
        totals: k.totals(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, fw: &[&str]) -> DriverModule {
        DriverModule {
            name: name.to_owned(),
            file: format!("kernel/drivers/net/wireless/{name}.ko.xz"),
            firmware: fw.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn sample() -> KernelReport {
        let firmware: BTreeMap<String, String> = [
            ("iwlwifi-cc-a0-72.ucode", "iwlwifi-cc-a0-72.ucode"),
            ("rt2870.bin", "rt2870.bin.zst"),
            (
                "ath11k/WCN6855/hw2.0/amss.bin",
                "ath11k/WCN6855/hw2.0/amss.bin",
            ),
            ("ath11k/WCN6855/hw2.0/m3.bin", "ath11k/WCN6855/hw2.0/m3.bin"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        cover(
            "6.12.0-amd64",
            vec![
                module("rt2800usb", &["rt2870.bin"]),
                module(
                    "iwlwifi",
                    &[
                        "iwlwifi-cc-a0-77.ucode",
                        "iwlwifi-bz-b0-fm-c0-92.ucode",
                        "iwlwifi-ma-b0-gf-a0.pnvm",
                    ],
                ),
                module("mac80211_hwsim", &[]),
                module("ath11k_pci", &["ath11k/WCN6855/hw2.0/*"]),
            ],
            &firmware,
        )
    }

    #[test]
    fn summary_counts_groups_per_module_and_in_total() {
        let s = summary(&sample());
        let names: Vec<&str> = s.modules.iter().map(|m| m.module.as_str()).collect();
        assert_eq!(
            names,
            ["ath11k_pci", "iwlwifi", "mac80211_hwsim", "rt2800usb"]
        );
        let iwl = &s.modules[1];
        assert_eq!(iwl.groups, 3);
        assert_eq!(iwl.present, ["iwlwifi-cc-a0-{N<=77}.ucode"]);
        assert_eq!(iwl.files, ["iwlwifi-cc-a0-72.ucode"]);
        assert_eq!(
            iwl.missing,
            [
                "iwlwifi-bz-b0-fm-c0-{N<=92}.ucode",
                "iwlwifi-ma-b0-gf-a0.pnvm"
            ]
        );
        // The file as it is stored, compressed.
        assert_eq!(s.modules[3].files, ["rt2870.bin.zst"]);
        assert_eq!(
            s.totals,
            Totals {
                modules: 4,
                with_firmware: 3,
                covered: 2,
                groups: 5,
                present: 3,
                missing: 2,
            }
        );
    }

    #[test]
    fn report_text() {
        insta::assert_snapshot!(softap_config::coverage::write(&[sample()]), @r"
        # Wi-Fi drivers of this image's kernel and the firmware the image has for them,
        # from each module's declared firmware (modinfo -F firmware); made by softap-build.
        # module NAME FILE groups=G present=P missing=M, then per firmware group
        # `present GROUP FILE` or `missing GROUP`. {N<=77} is any version up to 77 (the
        # driver tries the newest first, some also the unnumbered name); * is any name.
        kernel 6.12.0-amd64
        module ath11k_pci kernel/drivers/net/wireless/ath11k_pci.ko.xz groups=1 present=1 missing=0
          present ath11k/WCN6855/hw2.0/* ath11k/WCN6855/hw2.0/amss.bin (and 1 more)
        module iwlwifi kernel/drivers/net/wireless/iwlwifi.ko.xz groups=3 present=1 missing=2
          missing iwlwifi-bz-b0-fm-c0-{N<=92}.ucode
          present iwlwifi-cc-a0-{N<=77}.ucode iwlwifi-cc-a0-72.ucode
          missing iwlwifi-ma-b0-gf-a0.pnvm
        module mac80211_hwsim kernel/drivers/net/wireless/mac80211_hwsim.ko.xz groups=0 present=0 missing=0
        module rt2800usb kernel/drivers/net/wireless/rt2800usb.ko.xz groups=1 present=1 missing=0
          present rt2870.bin rt2870.bin.zst
        totals modules=4 with-firmware=3 covered=2 groups=5 present=3 missing=2
        ");
    }
}
