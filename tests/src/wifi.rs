//! The Wi-Fi firmware coverage of the built image, from the summary
//! `softap-build build --json` prints (`disk.wifi_coverage`): every driver
//! family a laptop may have must have its module and firmware on the stick.

use serde_json::Value;

/// A family: the modules that stand for it; each must be in the kernel and
/// have at least one firmware file present.
pub struct Family {
    pub name: &'static str,
    pub modules: &'static [&'static str],
    /// Module name prefixes (a driver family with a module per chip): for
    /// each, some module so named must have firmware present.
    pub any_of: &'static [&'static str],
}

pub const FAMILIES: &[Family] = &[
    Family {
        name: "Intel",
        modules: &["iwlwifi"],
        any_of: &[],
    },
    Family {
        name: "MediaTek",
        // rt2800usb: Ralink's rt2870.bin ships with MediaTek's firmware.
        modules: &["mt7921e", "mt7925e", "rt2800usb"],
        any_of: &[],
    },
    Family {
        name: "Qualcomm/Atheros",
        modules: &["ath11k_pci", "ath9k_htc"],
        any_of: &[],
    },
    Family {
        name: "Realtek",
        modules: &[],
        any_of: &["rtw88_", "rtw89_"],
    },
    Family {
        name: "Broadcom",
        modules: &["brcmfmac"],
        any_of: &[],
    },
];

/// Modules that are in the kernel but declare no firmware, so the report
/// cannot vouch for theirs: each must still be there and still declare
/// none (if it starts declaring, it must be covered like the others).
pub const UNDECLARED: &[&str] = &["ath12k"];

/// What the coverage says against [`FAMILIES`]: problems (each fails the
/// test) and notes (known gaps, printed).
pub fn check(summary: &Value) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let Some(kernels) = summary
        .pointer("/disk/wifi_coverage")
        .and_then(Value::as_array)
    else {
        return (
            vec!["the build's summary has no disk.wifi_coverage".into()],
            notes,
        );
    };
    let [kernel] = kernels.as_slice() else {
        return (
            vec![format!(
                "expected one kernel's coverage, found {}",
                kernels.len()
            )],
            notes,
        );
    };
    let modules: Vec<&Value> = kernel
        .get("modules")
        .and_then(Value::as_array)
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let find = |name: &str| modules.iter().find(|m| m["module"] == name).copied();
    let files = |m: &Value| -> Vec<String> {
        m["files"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for family in FAMILIES {
        for name in family.modules {
            match find(name) {
                None => problems.push(format!("{}: no module {name} in the kernel", family.name)),
                Some(m) if files(m).is_empty() => problems.push(format!(
                    "{}: {name} has none of its firmware (missing {})",
                    family.name, m["missing"]
                )),
                Some(_) => {}
            }
        }
        for prefix in family.any_of {
            let ok = modules.iter().any(|m| {
                m["module"].as_str().is_some_and(|n| n.starts_with(prefix)) && !files(m).is_empty()
            });
            if !ok {
                problems.push(format!(
                    "{}: no {prefix}* module with firmware present",
                    family.name
                ));
            }
        }
    }
    for name in UNDECLARED {
        match find(name) {
            None => problems.push(format!("no module {name} in the kernel")),
            Some(m) if m["groups"] != 0 => {
                if files(m).is_empty() {
                    problems.push(format!("{name} now declares firmware, none present"));
                }
            }
            Some(_) => notes.push(format!(
                "{name} is in the kernel but declares no firmware: the report cannot say \
                 whether the image has what it loads"
            )),
        }
    }
    for m in &modules {
        if let Some(missing) = m["missing"].as_array().filter(|a| !a.is_empty()) {
            if files(m).is_empty() {
                notes.push(format!(
                    "{} has none of its {} firmware group(s)",
                    m["module"].as_str().unwrap_or("?"),
                    missing.len()
                ));
            }
        }
    }
    (problems, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn module(name: &str, groups: usize, files: &[&str], missing: &[&str]) -> Value {
        json!({"module": name, "file": "x", "groups": groups, "present": files,
               "files": files, "missing": missing})
    }

    fn full() -> Vec<Value> {
        vec![
            module(
                "iwlwifi",
                2,
                &["iwlwifi-cc-a0-77.ucode"],
                &["iwlwifi-bz-b0.pnvm"],
            ),
            module("mt7921e", 1, &["mediatek/WIFI_RAM_CODE_MT7961_1.bin"], &[]),
            module(
                "mt7925e",
                1,
                &["mediatek/mt7925/WIFI_RAM_CODE_MT7925_1_1.bin"],
                &[],
            ),
            module("rt2800usb", 1, &["rt2870.bin"], &[]),
            module("ath11k_pci", 1, &["ath11k/WCN6855/hw2.0/amss.bin"], &[]),
            module("ath12k", 0, &[], &[]),
            module("ath9k_htc", 1, &["ath9k_htc/htc_9271-1.4.0.fw"], &[]),
            module("rtw88_8822b", 1, &["rtw88/rtw8822b_fw.bin"], &[]),
            module("rtw89_8852b", 1, &["rtw89/rtw8852b_fw-1.bin"], &[]),
            module("brcmfmac", 1, &["brcm/brcmfmac4356-sdio.bin"], &[]),
            module("mwl8k", 1, &[], &["mwl8k/fmimage_8366.fw"]),
        ]
    }

    fn summary(modules: Vec<Value>) -> Value {
        json!({"disk": {"wifi_coverage": [{"kernel": "6.12", "modules": modules}]}})
    }

    #[test]
    fn every_family_covered() {
        let (problems, notes) = check(&summary(full()));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("ath12k"));
        assert!(notes[1].contains("mwl8k has none"));
    }

    #[test]
    fn a_family_without_firmware_or_module_fails() {
        let mut m = full();
        m.retain(|m| m["module"] != "brcmfmac" && m["module"] != "rtw88_8822b");
        m.push(module("mt7925e", 1, &[], &["mediatek/mt7925/x.bin"]));
        m.retain(|v| !(v["module"] == "mt7925e" && v["groups"] == 1 && v["files"] != json!([])));
        let (problems, _) = check(&summary(m));
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("MediaTek: mt7925e has none"));
        assert!(problems[1].starts_with("Realtek: no rtw88_* module"));
        assert!(problems[2].starts_with("Broadcom: no module brcmfmac"));
        let (problems, _) = check(&json!({"disk": null}));
        assert_eq!(problems.len(), 1);
    }
}
