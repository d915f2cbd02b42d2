//! The human-readable form of the facts that `detect` prints.

use std::fmt::Write;

use crate::facts::{BandId, Facts};
use crate::plan::phy::{combination_text, modes_text};

fn band_name(b: BandId) -> &'static str {
    match b {
        BandId::Band2G4 => "2.4 GHz",
        BandId::Band5G => "5 GHz",
        BandId::Band6G => "6 GHz",
        BandId::Band60G => "60 GHz",
    }
}

/// `, driver iwlwifi`, with the module when its name differs
/// (`, driver rtw_8822be (module rtw88_8822be)`).
fn driver_text(driver: Option<&str>, module: Option<&str>) -> String {
    match (driver, module) {
        (Some(d), Some(m)) if m != d => format!(", driver {d} (module {m})"),
        (Some(d), _) => format!(", driver {d}"),
        (None, Some(m)) => format!(", module {m}"),
        (None, None) => String::new(),
    }
}

pub fn describe(f: &Facts) -> String {
    let mut s = String::new();
    if f.phys.is_empty() {
        s.push_str("No wireless phys.\n");
    }
    for p in &f.phys {
        let _ = writeln!(
            s,
            "{} (index {}{}){}",
            p.name,
            p.index,
            driver_text(p.driver.as_deref(), p.module.as_deref()),
            if p.self_managed_reg {
                ", self-managed regulatory domain"
            } else {
                ""
            }
        );
        let _ = writeln!(s, "  modes: {}", modes_text(p));
        let _ = writeln!(s, "  SAE (WPA3): {}", if p.sae { "yes" } else { "no" });
        if p.combinations.is_empty() {
            let _ = writeln!(s, "  combinations: none");
        }
        for c in &p.combinations {
            let _ = writeln!(s, "  combination: {}", combination_text(c));
        }
        for b in &p.bands {
            let usable: Vec<String> = b
                .channels
                .iter()
                .map(|c| {
                    let mut flags = Vec::new();
                    if c.disabled {
                        flags.push("disabled");
                    }
                    if c.no_ir {
                        flags.push("no-IR");
                    }
                    if c.radar {
                        flags.push("radar");
                    }
                    if flags.is_empty() {
                        c.number.to_string()
                    } else {
                        format!("{}({})", c.number, flags.join(","))
                    }
                })
                .collect();
            let _ = writeln!(
                s,
                "  {}{}{}: {}",
                band_name(b.band),
                if b.ht { " HT" } else { "" },
                if b.vht { " VHT" } else { "" },
                usable.join(" ")
            );
        }
    }
    for d in &f.drivers_without_phy {
        let _ = writeln!(
            s,
            "driver {} is loaded but has no phy: this image lacks {} of its {} firmware \
             group(s): {}",
            d.module,
            d.missing_firmware.len(),
            d.firmware_groups,
            d.missing_firmware.join(", ")
        );
    }
    if let Some(said) = f.hostapd.ieee80211be_text() {
        let _ = writeln!(s, "hostapd: {said}");
    }
    for i in &f.interfaces {
        let _ = writeln!(
            s,
            "interface {} on phy index {}: {}{}{}",
            i.name,
            i.phy,
            crate::plan::phy::iftype_name(i.iftype),
            i.ssid
                .as_deref()
                .map(|x| format!(", ssid {x:?}"))
                .unwrap_or_default(),
            i.channel
                .map(|c| format!(", channel {c}"))
                .unwrap_or_default()
        );
    }
    for a in &f.addresses {
        let _ = writeln!(s, "address {} on {}", a.addr, a.ifname);
    }
    for r in &f.routes {
        let _ = writeln!(
            s,
            "route {}{}{} table {}",
            r.dst,
            r.gateway.map(|g| format!(" via {g}")).unwrap_or_default(),
            r.dev
                .as_deref()
                .map(|d| format!(" dev {d}"))
                .unwrap_or_default(),
            r.table
        );
    }
    // Only the links where the kernel takes router advertisements or holds
    // routes from them: what the plan's IPv6 looks at.
    for l in &f.ipv6_ra.links {
        if l.kernel_ra_routes || l.accept_ra.is_some_and(|a| a != 0) && l.name != "lo" {
            let _ = writeln!(
                s,
                "router advertisements on {}: accept_ra {}{}",
                l.name,
                l.accept_ra.map_or("unknown".to_string(), |a| a.to_string()),
                if l.kernel_ra_routes {
                    ", the kernel holds routes from them"
                } else {
                    ""
                }
            );
        }
    }
    if f.libvirt.reachable {
        for n in &f.libvirt.networks {
            let subnets: Vec<String> = n.subnets.iter().map(|x| x.to_string()).collect();
            let _ = writeln!(
                s,
                "libvirt network {} ({}){}: {}",
                n.name,
                if n.active { "active" } else { "inactive" },
                n.bridge
                    .as_deref()
                    .map(|b| format!(" on {b}"))
                    .unwrap_or_default(),
                subnets.join(", ")
            );
        }
    } else {
        let _ = writeln!(
            s,
            "libvirt: not reachable{}",
            f.libvirt
                .error
                .as_deref()
                // virsh's own words: shown escaped, never obeyed.
                .map(|e| format!(" ({})", crate::console::printable(e)))
                .unwrap_or_default()
        );
    }
    if let Some(m) = &f.machine_id {
        let _ = writeln!(s, "machine id: {m}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{DriverWithoutPhy, Phy};

    fn phy(name: &str, index: u32, driver: &str, module: &str) -> Phy {
        Phy {
            name: name.into(),
            index,
            driver: Some(driver.into()),
            module: Some(module.into()),
            ..Phy::default()
        }
    }

    #[test]
    fn names_each_phys_driver_and_the_drivers_without_firmware() {
        let f = Facts {
            phys: vec![
                phy("phy0", 0, "mac80211_hwsim", "mac80211_hwsim"),
                phy("phy1", 1, "rtw_8822be", "rtw88_8822be"),
            ],
            drivers_without_phy: vec![DriverWithoutPhy {
                module: "mt7925e".into(),
                firmware_groups: 2,
                missing_firmware: vec![
                    "mediatek/mt7925/a.bin".into(),
                    "mediatek/mt7925/b.bin".into(),
                ],
            }],
            ..Facts::default()
        };
        let text = describe(&f);
        assert!(
            text.contains("phy0 (index 0, driver mac80211_hwsim)\n"),
            "{text}"
        );
        assert!(
            text.contains("phy1 (index 1, driver rtw_8822be (module rtw88_8822be))\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "driver mt7925e is loaded but has no phy: this image lacks 2 of its 2 \
                 firmware group(s): mediatek/mt7925/a.bin, mediatek/mt7925/b.bin\n"
            ),
            "{text}"
        );
        assert!(!text.contains("hostapd"), "not asked, not shown: {text}");
        let asked = Facts {
            hostapd: crate::facts::HostapdFacts {
                ieee80211be: Some(false),
            },
            ..f
        };
        assert!(describe(&asked).contains("hostapd: does not accept ieee80211be (802.11be)\n"));
    }
}
