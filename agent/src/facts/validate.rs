//! Facts that did not come from the kernel (a `--facts` file, a paste of
//! `iw`) are held to the rules the kernel holds its own to, because the
//! planner copies names and channels from them into networkd, libvirt and
//! hostapd files: an interface name with a newline would add lines to a
//! `.netdev`, `channel 0` would let hostapd pick a channel itself.

use std::collections::BTreeSet;

use super::model::{BandId, Facts, Phy, WirelessInterface};

/// One fact that breaks a rule, named by its place in the JSON
/// (`phys[0].bands[1].channels[3].number`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem} (value {value:?})")]
pub struct InvalidFact {
    pub field: String,
    pub value: String,
    pub problem: String,
}

fn invalid(field: String, value: impl ToString, problem: impl Into<String>) -> InvalidFact {
    InvalidFact {
        field,
        value: value.to_string(),
        problem: problem.into(),
    }
}

/// The longest network interface name: `IFNAMSIZ` (16) less the NUL.
pub const IFNAME_MAX: usize = 15;
/// The longest phy name (`NL80211_WIPHY_NAME_MAXLEN`).
pub const PHY_NAME_MAX: usize = 64;

/// Why `name` is not a network interface name the kernel accepts
/// (`dev_valid_name`): 1-15 bytes, not `.` or `..`, no `/`, `:` or
/// whitespace. Control characters are refused as well: they have no place in
/// the files the name is written into.
pub fn ifname_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("empty".into());
    }
    if name.len() > IFNAME_MAX {
        return Some(format!(
            "{} bytes, interface names have at most {IFNAME_MAX}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some("not a valid interface name".into());
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Some("contains `/`, `:`, whitespace or a control character".into());
    }
    None
}

/// Why `name` is not a phy name the kernel accepts and networkd reads as a
/// name: 1-64 bytes, a valid sysfs directory name (no `/`), no whitespace or
/// control characters, `phyN` only for index N, and not all digits (networkd's
/// `PhysicalDevice=` reads digits as an index).
pub fn phy_name_problem(name: &str, index: u32) -> Option<String> {
    if name.is_empty() {
        return Some("empty".into());
    }
    if name.len() > PHY_NAME_MAX {
        return Some(format!(
            "{} bytes, phy names have at most {PHY_NAME_MAX}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some("not a valid phy name".into());
    }
    if name
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Some("contains `/`, whitespace or a control character".into());
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Some("all digits, which networkd would read as a phy index".into());
    }
    if let Some(n) = name.strip_prefix("phy") {
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n.parse() != Ok(index) {
            return Some(format!(
                "the kernel names a phy `phyN` only for index N, and this one has index {index}"
            ));
        }
    }
    None
}

/// Why `text` cannot be shown or compared as a name: control characters
/// or more than `max` bytes.
fn text_problem(text: &str, max: usize) -> Option<String> {
    if text.len() > max {
        return Some(format!("{} bytes, at most {max} expected", text.len()));
    }
    if text.chars().any(char::is_control) {
        return Some("contains a control character".into());
    }
    None
}

/// The centre frequency of `channel` on `band` (the kernel's
/// `ieee80211_channel_to_freq_khz`), or `None` where the band has no such
/// channel.
pub fn channel_freq(band: BandId, channel: u16) -> Option<u32> {
    let ch = u32::from(channel);
    match band {
        BandId::Band2G4 => match ch {
            14 => Some(2484),
            1..=13 => Some(2407 + ch * 5),
            _ => None,
        },
        BandId::Band5G => match ch {
            182..=196 => Some(4000 + ch * 5),
            1..=181 => Some(5000 + ch * 5),
            _ => None,
        },
        BandId::Band6G => match ch {
            2 => Some(5935),
            1..=233 => Some(5950 + ch * 5),
            _ => None,
        },
        BandId::Band60G => match ch {
            1..=6 => Some(56_160 + ch * 2160),
            _ => None,
        },
    }
}

/// Whether `freq_mhz` is where `channel` lies on `band`. Channels 182-196
/// of the 5 GHz band name two frequencies: 4.9 GHz in Japan, and the
/// 5.9 GHz ITS channels that drivers (mac80211_hwsim among them) list
/// under the same numbers.
pub fn channel_at(band: BandId, channel: u16, freq_mhz: u32) -> bool {
    let its = band == BandId::Band5G
        && (182..=196).contains(&channel)
        && freq_mhz == 5000 + 5 * u32::from(channel);
    its || channel_freq(band, channel) == Some(freq_mhz)
}

/// Checks every fact the planner or the renderer reads; the first broken
/// rule is the error.
pub fn validate(f: &Facts) -> Result<(), InvalidFact> {
    validate_phys(&f.phys)?;
    // Shown by `detect`: no control characters from a facts file.
    for (i, d) in f.drivers_without_phy.iter().enumerate() {
        let texts = std::iter::once(("module".to_owned(), &d.module)).chain(
            d.missing_firmware
                .iter()
                .enumerate()
                .map(|(j, m)| (format!("missing_firmware[{j}]"), m)),
        );
        for (field, text) in texts {
            if let Some(why) = text_problem(text, 256) {
                return Err(invalid(
                    format!("drivers_without_phy[{i}].{field}"),
                    text,
                    why,
                ));
            }
        }
    }
    validate_interfaces(&f.interfaces)?;
    // The plan may name these links in a path under /proc/sys.
    for (i, l) in f.ipv6_ra.links.iter().enumerate() {
        if let Some(why) = ifname_problem(&l.name) {
            return Err(invalid(format!("ipv6_ra.links[{i}].name"), &l.name, why));
        }
    }
    validate_network(f)
}

/// The phys: names, indexes, bands and channels.
pub fn validate_phys(phys: &[Phy]) -> Result<(), InvalidFact> {
    let mut names = BTreeSet::new();
    let mut indexes = BTreeSet::new();
    for (i, p) in phys.iter().enumerate() {
        let at = |field: &str| format!("phys[{i}].{field}");
        if let Some(why) = phy_name_problem(&p.name, p.index) {
            return Err(invalid(at("name"), &p.name, why));
        }
        if !names.insert(p.name.as_str()) {
            return Err(invalid(at("name"), &p.name, "a second phy with this name"));
        }
        if !indexes.insert(p.index) {
            return Err(invalid(
                at("index"),
                p.index,
                "a second phy with this index",
            ));
        }
        for (field, text) in [("driver", &p.driver), ("module", &p.module)] {
            if let Some(d) = text {
                if let Some(why) = text_problem(d, 64) {
                    return Err(invalid(at(field), d, why));
                }
            }
        }
        let mut bands = BTreeSet::new();
        for (b, band) in p.bands.iter().enumerate() {
            if !bands.insert(band.band) {
                return Err(invalid(
                    at(&format!("bands[{b}].band")),
                    format!("{:?}", band.band),
                    "listed twice",
                ));
            }
            for (c, ch) in band.channels.iter().enumerate() {
                let field = at(&format!("bands[{b}].channels[{c}]"));
                match channel_freq(band.band, ch.number) {
                    None => {
                        return Err(invalid(
                            format!("{field}.number"),
                            ch.number,
                            "no such channel on this band",
                        ))
                    }
                    Some(freq) if !channel_at(band.band, ch.number, ch.freq_mhz) => {
                        return Err(invalid(
                            format!("{field}.freq_mhz"),
                            ch.freq_mhz,
                            format!("channel {} is at {freq} MHz", ch.number),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}

/// The wireless interfaces: names and channels.
pub fn validate_interfaces(interfaces: &[WirelessInterface]) -> Result<(), InvalidFact> {
    for (i, w) in interfaces.iter().enumerate() {
        let at = |field: &str| format!("interfaces[{i}].{field}");
        if let Some(why) = ifname_problem(&w.name) {
            return Err(invalid(at("name"), &w.name, why));
        }
        if w.channel == Some(0) {
            return Err(invalid(at("channel"), 0, "no such channel"));
        }
        if let (Some(ch), Some(freq)) = (w.channel, w.freq_mhz) {
            if super::iw::channel_from_freq(freq) != Some(ch) {
                return Err(invalid(
                    at("channel"),
                    ch,
                    format!("not the channel of {freq} MHz"),
                ));
            }
        }
        if let Some(ssid) = &w.ssid {
            // iw prints an SSID's odd bytes as `\xNN`, so up to four
            // characters for each of its 32 bytes.
            if let Some(why) = text_problem(ssid, 4 * 32) {
                return Err(invalid(at("ssid"), ssid, why));
            }
        }
    }
    Ok(())
}

/// Addresses, routes, libvirt networks and the machine id.
fn validate_network(f: &Facts) -> Result<(), InvalidFact> {
    for (i, a) in f.addresses.iter().enumerate() {
        if let Some(why) = ifname_problem(&a.ifname) {
            return Err(invalid(format!("addresses[{i}].ifname"), &a.ifname, why));
        }
    }
    for (i, r) in f.routes.iter().enumerate() {
        if let Some(dev) = &r.dev {
            if let Some(why) = ifname_problem(dev) {
                return Err(invalid(format!("routes[{i}].dev"), dev, why));
            }
        }
    }
    for (i, n) in f.libvirt.networks.iter().enumerate() {
        let at = |field: &str| format!("libvirt.networks[{i}].{field}");
        if n.name.is_empty() || n.name.contains('/') {
            return Err(invalid(at("name"), &n.name, "empty or contains `/`"));
        }
        if let Some(why) = text_problem(&n.name, 255) {
            return Err(invalid(at("name"), &n.name, why));
        }
        if let Some(b) = &n.bridge {
            if let Some(why) = ifname_problem(b) {
                return Err(invalid(at("bridge"), b, why));
            }
            // The AP joins this bridge, whose name goes into libvirt's XML.
            if b.contains(['<', '>', '&', '\'', '"']) {
                return Err(invalid(at("bridge"), b, "contains XML markup"));
            }
        }
    }
    if let Some(e) = &f.libvirt.error {
        // Shown by `detect`, one line: a reason, not a log.
        if e.len() > 4096 {
            return Err(invalid("libvirt.error".into(), "…", "more than 4096 bytes"));
        }
    }
    if let Some(m) = &f.machine_id {
        if let Some(why) = text_problem(m, 64) {
            return Err(invalid("machine_id".into(), m, why));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_the_kernel() {
        for ok in ["wlan0", "wlp0s20f3", "a", "x-y_z.1", "123456789012345"] {
            assert_eq!(ifname_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:1",
            "a b",
            "a\nb",
            "1234567890123456",
            "wlan0\n[Match]",
        ] {
            assert!(ifname_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn phy_names_follow_the_kernel_and_networkd() {
        assert_eq!(phy_name_problem("phy0", 0), None);
        assert_eq!(phy_name_problem("phy12", 12), None);
        assert_eq!(phy_name_problem("radio-left", 3), None);
        assert!(phy_name_problem("phy1", 0).is_some());
        assert!(phy_name_problem("7", 7).is_some());
        assert!(phy_name_problem("phy0\n[Match]", 0).is_some());
        assert!(phy_name_problem(&"p".repeat(65), 0).is_some());
    }

    #[test]
    fn channel_frequencies_match_the_kernel() {
        use super::super::iw::channel_from_freq;
        for (band, ch, freq) in [
            (BandId::Band2G4, 1, 2412),
            (BandId::Band2G4, 14, 2484),
            (BandId::Band5G, 36, 5180),
            (BandId::Band5G, 184, 4920),
            (BandId::Band6G, 1, 5955),
            (BandId::Band6G, 2, 5935),
            (BandId::Band60G, 2, 60_480),
        ] {
            assert_eq!(channel_freq(band, ch), Some(freq), "{band:?} {ch}");
            assert_eq!(channel_from_freq(freq), Some(ch));
        }
        assert_eq!(channel_freq(BandId::Band2G4, 0), None);
        assert_eq!(channel_freq(BandId::Band2G4, 36), None);
        assert_eq!(channel_freq(BandId::Band5G, 0), None);
        assert!(channel_at(BandId::Band5G, 182, 5910));
        assert!(channel_at(BandId::Band5G, 182, 4910));
        assert!(!channel_at(BandId::Band5G, 36, 5185));
        assert!(!channel_at(BandId::Band2G4, 1, 2417));
    }
}
