//! `iw list`: the phys, their bands and channels, interface modes,
//! combinations and the features SAE detection needs.

use super::band::BandLines;
use super::{channel_from_freq, err, iftype_from_iw, unquote, IwInput, IwParseError};
use crate::facts::model::{Band, BandId, Channel, Combination, Limit, Phy};

/// The list a `*` item line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Anything whose items we do not need (ciphers, bitrates, frame types...).
    Other,
    Modes,
    Combinations,
    Commands,
    ExtFeatures,
    Frequencies,
}

/// A phy under construction, with what SAE detection needs on the side.
struct PhyDraft {
    phy: Phy,
    explicit_index: Option<u32>,
    /// `Device supports SAE with AUTHENTICATE command` (NL80211_FEATURE_SAE).
    feature_sae: bool,
    /// `[ SAE_OFFLOAD_AP ]` extended feature.
    sae_offload_ap: bool,
    /// The `Supported commands:` list was present.
    saw_commands: bool,
    /// The `Supported interface modes:` list was present.
    saw_modes: bool,
    has_authenticate_cmd: bool,
}

impl PhyDraft {
    fn new(name: &str) -> Self {
        PhyDraft {
            phy: Phy {
                name: name.to_string(),
                ..Phy::default()
            },
            explicit_index: None,
            feature_sae: false,
            sae_offload_ap: false,
            saw_commands: false,
            saw_modes: false,
            has_authenticate_cmd: false,
        }
    }

    fn finish(mut self, ordinal: u32) -> Phy {
        self.phy.index = self
            .explicit_index
            .or_else(|| index_from_name(&self.phy.name))
            .unwrap_or(ordinal);
        // SAE in AP mode runs in hostapd over the authenticate command
        // (NL80211_FEATURE_SAE), or in the firmware (SAE_OFFLOAD_AP). A paste
        // that cut the command list still counts the feature line.
        if !self.saw_modes {
            // A fragment without the modes list: cfg80211 only accepts
            // combinations whose types the wiphy supports, so they are modes.
            for t in self
                .phy
                .combinations
                .iter()
                .flat_map(|c| &c.limits)
                .flat_map(|l| &l.types)
            {
                if !self.phy.modes.contains(t) {
                    self.phy.modes.push(*t);
                }
            }
            self.phy.modes.sort();
        }
        let authenticate_ok = !self.saw_commands || self.has_authenticate_cmd;
        self.phy.sae = (self.feature_sae && authenticate_ok) || self.sae_offload_ap;
        self.phy
    }
}

fn index_from_name(name: &str) -> Option<u32> {
    name.strip_prefix("phy")?.parse().ok()
}

/// A combination whose continuation lines may still follow.
struct PendingCombination {
    line: usize,
    first_text: String,
    text: String,
}

struct ListParser {
    phys: Vec<Phy>,
    current: Option<PhyDraft>,
    section: Section,
    band: Option<Band>,
    pending: Option<PendingCombination>,
    /// The band's capability lines read so far.
    band_lines: BandLines,
}

pub(super) fn parse_list(text: &str) -> Result<Vec<Phy>, IwParseError> {
    let mut p = ListParser {
        phys: Vec::new(),
        current: None,
        section: Section::Other,
        band: None,
        pending: None,
        band_lines: BandLines::default(),
    };
    let mut meaningful_lines = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = unquote(raw);
        if line.is_empty() {
            continue;
        }
        meaningful_lines += 1;
        p.line(lineno, line)?;
    }
    p.close_phy()?;
    if p.phys.is_empty() && meaningful_lines > 0 {
        return Err(err(
            IwInput::List,
            1,
            "no `Wiphy phyN` header found: is this the output of `iw list`?",
            text.lines().next().unwrap_or("").trim(),
        ));
    }
    p.phys.sort_by_key(|phy| phy.index);
    Ok(p.phys)
}

impl ListParser {
    fn line(&mut self, lineno: usize, line: &str) -> Result<(), IwParseError> {
        if let Some(rest) = line.strip_prefix("Wiphy ") {
            self.close_phy()?;
            let name = rest.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err(IwInput::List, lineno, "expected `Wiphy <name>`", line));
            }
            self.current = Some(PhyDraft::new(name));
            self.section = Section::Other;
            return Ok(());
        }

        if self.current.is_none() {
            // Prompts, headings and prose before the first phy are skipped.
            // A fragment pasted without its `Wiphy` line (`iw list | grep -A5
            // valid`, common in bug reports) still describes one phy.
            if !starts_phy_content(line) {
                return Ok(());
            }
            self.current = Some(PhyDraft::new("phy0"));
            self.section = Section::Other;
        }

        if let Some(item) = line.strip_prefix('*') {
            return self.item(lineno, line, item.trim());
        }

        // Continuation of a combination: `total <= 3, #channels <= 2`.
        if self.section == Section::Combinations
            && (line.starts_with("total") || line.starts_with("#channels"))
        {
            if let Some(pending) = self.pending.as_mut() {
                pending.text.push(' ');
                pending.text.push_str(line);
                return Ok(());
            }
            return Err(err(
                IwInput::List,
                lineno,
                "combination continuation without a `* #{ ... }` line before it",
                line,
            ));
        }
        // DFS sub-lines under a channel keep the channel list open.
        if self.section == Section::Frequencies && line.starts_with("DFS ") {
            return Ok(());
        }

        self.flush_combination()?;

        if let Some(rest) = line.strip_prefix("wiphy index:") {
            let value = rest.trim();
            // Reports anonymised by hand say `Wiphy phyX` / `wiphy index: X`.
            let placeholder = value.len() == 1 && value.chars().all(|c| c.is_ascii_alphabetic());
            if !placeholder {
                let index = value.parse::<u32>().map_err(|_| {
                    err(
                        IwInput::List,
                        lineno,
                        "`wiphy index:` is not a number",
                        line,
                    )
                })?;
                if let Some(phy) = self.current.as_mut() {
                    phy.explicit_index = Some(index);
                }
            }
            self.section = Section::Other;
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix("Band ") {
            if let Some(num) = rest.strip_suffix(':') {
                let n = num
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| err(IwInput::List, lineno, "band number is not a number", line))?;
                self.close_band();
                // iw prints the nl80211 band enum plus one.
                let id = match n {
                    1 => Some(BandId::Band2G4),
                    2 => Some(BandId::Band5G),
                    3 => Some(BandId::Band60G),
                    4 => Some(BandId::Band6G),
                    // S1G and later bands: not for an AP here.
                    _ => None,
                };
                self.band = id.map(|band| Band {
                    band,
                    ..Band::default()
                });
                self.band_lines = BandLines::default();
                self.section = Section::Other;
                return Ok(());
            }
        }

        match line {
            "Supported interface modes:" => {
                self.close_band();
                if let Some(phy) = self.current.as_mut() {
                    phy.saw_modes = true;
                }
                self.section = Section::Modes;
            }
            // Only the wiphy-wide list: `Globally valid` and `Radio's valid`
            // (multi-radio wiphys) describe other scopes.
            "valid interface combinations:" => {
                self.close_band();
                self.section = Section::Combinations;
            }
            "Supported commands:" => {
                self.close_band();
                if let Some(phy) = self.current.as_mut() {
                    phy.saw_commands = true;
                }
                self.section = Section::Commands;
            }
            "Supported extended features:" => {
                self.close_band();
                self.section = Section::ExtFeatures;
            }
            "Frequencies:" => {
                self.section = if self.band.is_some() {
                    Section::Frequencies
                } else {
                    Section::Other
                };
            }
            "interface combinations are not supported" => {
                self.close_band();
                self.section = Section::Other;
            }
            "Device supports SAE with AUTHENTICATE command" => {
                self.close_band();
                if let Some(phy) = self.current.as_mut() {
                    phy.feature_sae = true;
                }
                self.section = Section::Other;
            }
            _ => {
                if let Some(band) = self.band.as_mut() {
                    if self.band_lines.read(band, lineno, line)? {
                        self.section = Section::Other;
                        return Ok(());
                    }
                }
                if is_phy_level_header(line) {
                    self.close_band();
                }
                self.section = Section::Other;
            }
        }
        Ok(())
    }

    fn item(&mut self, lineno: usize, line: &str, item: &str) -> Result<(), IwParseError> {
        match self.section {
            Section::Other => Ok(()),
            Section::Modes => {
                if let Some(t) = iftype_from_iw(item) {
                    if let Some(phy) = self.current.as_mut() {
                        if !phy.phy.modes.contains(&t) {
                            phy.phy.modes.push(t);
                        }
                    }
                    Ok(())
                } else if item.starts_with("Unknown mode") {
                    Ok(())
                } else {
                    Err(err(
                        IwInput::List,
                        lineno,
                        format!("unknown interface mode {item:?}"),
                        line,
                    ))
                }
            }
            Section::Combinations => {
                self.flush_combination()?;
                self.pending = Some(PendingCombination {
                    line: lineno,
                    first_text: line.to_string(),
                    text: item.to_string(),
                });
                Ok(())
            }
            Section::Commands => {
                if item == "authenticate" {
                    if let Some(phy) = self.current.as_mut() {
                        phy.has_authenticate_cmd = true;
                    }
                }
                Ok(())
            }
            Section::ExtFeatures => {
                if item.contains("[ SAE_OFFLOAD_AP ]") {
                    if let Some(phy) = self.current.as_mut() {
                        phy.sae_offload_ap = true;
                    }
                }
                Ok(())
            }
            Section::Frequencies => {
                let channel =
                    parse_frequency(item).map_err(|what| err(IwInput::List, lineno, what, line))?;
                if let Some(band) = self.band.as_mut() {
                    band.channels.push(channel);
                }
                Ok(())
            }
        }
    }

    fn flush_combination(&mut self) -> Result<(), IwParseError> {
        if let Some(pending) = self.pending.take() {
            let combination = parse_combination(&pending.text)
                .map_err(|what| err(IwInput::List, pending.line, what, &pending.first_text))?;
            if let Some(phy) = self.current.as_mut() {
                phy.phy.combinations.push(combination);
            }
        }
        Ok(())
    }

    fn close_band(&mut self) {
        if let (Some(band), Some(phy)) = (self.band.take(), self.current.as_mut()) {
            phy.phy.bands.push(band);
        }
    }

    fn close_phy(&mut self) -> Result<(), IwParseError> {
        self.flush_combination()?;
        self.close_band();
        if let Some(draft) = self.current.take() {
            let ordinal = u32::try_from(self.phys.len()).unwrap_or(u32::MAX);
            self.phys.push(draft.finish(ordinal));
        }
        self.section = Section::Other;
        Ok(())
    }
}

/// Lines that only appear inside a phy's description.
fn starts_phy_content(line: &str) -> bool {
    matches!(
        line,
        "valid interface combinations:"
            | "Supported interface modes:"
            | "Frequencies:"
            | "Supported commands:"
            | "Supported extended features:"
            | "interface combinations are not supported"
    ) || line.starts_with("wiphy index:")
        || (line.starts_with("Band ") && line.ends_with(':'))
}

/// Headers that sit at phy level and therefore end a band.
fn is_phy_level_header(line: &str) -> bool {
    const PHY_LEVEL: &[&str] = &[
        "Supported Ciphers:",
        "Supported TX frame types:",
        "Supported RX frame types:",
        "software interface modes (can always be added):",
        "WoWLAN support:",
        "HT Capability overrides:",
        "VHT Capability overrides:",
        "Supported wiphy radios:",
    ];
    PHY_LEVEL.contains(&line)
        || line.starts_with("Device supports")
        || line.starts_with("Driver supports")
        || line.starts_with("max #")
        || line.starts_with("Available Antennas")
        || line.starts_with("Configured Antennas")
}

/// `2412 MHz [1] (20.0 dBm) (no IR, radar detection)`; newer iw prints
/// `2412.0 MHz`, very old iw leaves out the channel number.
fn parse_frequency(item: &str) -> Result<Channel, String> {
    let Some((freq_text, rest)) = item.split_once("MHz") else {
        return Err("frequency line without `MHz`".to_string());
    };
    let freq: f64 = freq_text
        .trim()
        .parse()
        .map_err(|_| format!("frequency {:?} is not a number", freq_text.trim()))?;
    if !(1.0..=100_000.0).contains(&freq) {
        return Err(format!("frequency {freq} MHz is out of range"));
    }
    // Whole MHz for every band an AP can use; S1G's fractions are dropped.
    let freq_mhz = freq.round() as u32;
    let mut rest = rest.trim_start();
    let number = if let Some(after) = rest.strip_prefix('[') {
        let Some((num, tail)) = after.split_once(']') else {
            return Err("channel number `[` without `]`".to_string());
        };
        rest = tail;
        num.trim()
            .parse::<u16>()
            .map_err(|_| format!("channel number {:?} is not a number", num.trim()))?
    } else {
        channel_from_freq(freq_mhz)
            .ok_or_else(|| format!("no channel number and {freq_mhz} MHz maps to none"))?
    };
    let mut channel = Channel {
        number,
        freq_mhz,
        ..Channel::default()
    };
    // Parenthesised groups, each a comma-separated list of flags.
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix('(') else {
            // Unknown trailing text: iw adds annotations over time.
            break;
        };
        let Some((group, tail)) = after.split_once(')') else {
            return Err("`(` without `)` in the channel flags".to_string());
        };
        for flag in group.split(',') {
            let flag = flag.trim();
            if let Some(power) = flag.strip_suffix("dBm") {
                let dbm: f32 = power
                    .trim()
                    .parse()
                    .map_err(|_| format!("power {:?} is not a number", power.trim()))?;
                channel.max_power_dbm = Some(dbm);
            } else {
                match flag {
                    "disabled" => channel.disabled = true,
                    // Old kernels had two flags where 3.14+ has NO_IR; both
                    // forbid beaconing.
                    "no IR" | "passive scanning" | "no IBSS" | "no-IR" => channel.no_ir = true,
                    "radar detection" => channel.radar = true,
                    _ => {}
                }
            }
        }
        rest = tail.trim_start();
    }
    Ok(channel)
}

/// `#{ managed } <= 1, #{ AP, P2P-client, P2P-GO } <= 1, total <= 3,
/// #channels <= 2, STA/AP BI must match, radar detect widths: { ... }`.
fn parse_combination(text: &str) -> Result<Combination, String> {
    let mut limits = Vec::new();
    let mut total = None;
    let mut channels = None;
    let mut beacon_int_must_match = false;
    let mut rest = text.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix("#{") {
            let Some((types_text, tail)) = after.split_once('}') else {
                return Err("`#{` without `}` in a combination".to_string());
            };
            let mut types = Vec::new();
            for name in types_text.split(',') {
                let name = name.trim();
                if name.is_empty() || name.starts_with("Unknown mode") {
                    continue;
                }
                let t = iftype_from_iw(name)
                    .ok_or_else(|| format!("unknown interface type {name:?} in a combination"))?;
                types.push(t);
            }
            let (max, tail) = le_number(tail, "a limit `#{ ... }`")?;
            limits.push(Limit { max, types });
            rest = tail;
        } else if let Some(after) = rest.strip_prefix("total") {
            let (n, tail) = le_number(after, "`total`")?;
            total = Some(n);
            rest = tail;
        } else if let Some(after) = rest.strip_prefix("#channels") {
            let (n, tail) = le_number(after, "`#channels`")?;
            channels = Some(n);
            rest = tail;
        } else if let Some(after) = rest.strip_prefix("STA/AP BI must match") {
            beacon_int_must_match = true;
            rest = after;
        } else {
            // Unknown attribute (radar detect widths/regions, beacon int min
            // gcd, whatever iw adds next): skip it, braces included.
            rest = skip_attribute(rest);
        }
    }
    if limits.is_empty() {
        return Err("combination without any `#{ ... } <= N` limit".to_string());
    }
    let total = total.ok_or("combination without `total <= N`")?;
    let channels = channels.ok_or("combination without `#channels <= N`")?;
    Ok(Combination {
        limits,
        total,
        channels,
        beacon_int_must_match,
    })
}

/// Reads `<= N` at the start of `text`.
fn le_number<'a>(text: &'a str, what: &str) -> Result<(u32, &'a str), String> {
    let text = text.trim_start();
    let Some(after) = text.strip_prefix("<=") else {
        return Err(format!("expected `<= N` after {what}"));
    };
    let after = after.trim_start();
    let digits_end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    let (digits, tail) = after.split_at(digits_end);
    let n = digits
        .parse::<u32>()
        .map_err(|_| format!("expected a number after {what} `<=`"))?;
    Ok((n, tail))
}

/// Skips one comma-separated attribute, treating `{ ... }` as one unit.
fn skip_attribute(text: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => return &text[i + 1..],
            _ => {}
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::model::IfType;

    #[test]
    fn frequency_flags_and_power() {
        let c = parse_frequency("5260 MHz [52] (20.0 dBm) (no IR, radar detection)").unwrap();
        assert_eq!((c.number, c.freq_mhz), (52, 5260));
        assert!(c.no_ir && c.radar && !c.disabled);
        assert_eq!(c.max_power_dbm, Some(20.0));
        let c = parse_frequency("2484 MHz [14] (disabled)").unwrap();
        assert!(c.disabled && c.max_power_dbm.is_none());
        let c = parse_frequency("2467.0 MHz [12] (20.0 dBm) (passive scanning, no IBSS)").unwrap();
        assert!(c.no_ir);
        assert_eq!(c.freq_mhz, 2467);
        let c = parse_frequency("2437 MHz (20.0 dBm)").unwrap();
        assert_eq!(c.number, 6);
    }

    #[test]
    fn combination_whole() {
        let c = parse_combination(
            "#{ managed } <= 2048, #{ AP, mesh point } <= 8, #{ P2P-client, P2P-GO } <= 1, \
             #{ IBSS } <= 1, total <= 2048, #channels <= 1, STA/AP BI must match, \
             radar detect widths: { 20 MHz (no HT), 20 MHz, 40 MHz }",
        )
        .unwrap();
        assert_eq!(c.limits.len(), 4);
        assert_eq!(c.limits[1].types, vec![IfType::Ap, IfType::MeshPoint]);
        assert_eq!((c.total, c.channels), (2048, 1));
        assert!(c.beacon_int_must_match);
        assert!(parse_combination("#{ managed } <= 1, total <= 2").is_err());
        assert!(parse_combination("#{ managed } <= x, total <= 2, #channels <= 1").is_err());
    }
}
