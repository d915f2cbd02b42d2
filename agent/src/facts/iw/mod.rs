//! Facts from the text of `iw list` (and `iw dev`) as people paste it into
//! bug reports, so a card can be checked from any machine. The live path uses
//! nl80211 directly (see `nl80211.rs`); this importer exists for fixtures and
//! for users who only have a paste.
//!
//! The parser is line-driven rather than indentation-driven: pasted outputs
//! mix tabs and spaces, lose or double their indentation in Markdown, and
//! differ between iw versions. Lines it does not know are skipped (iw grows
//! with every release); lines it knows but cannot read are errors naming the
//! line.

mod band;
mod dev;
mod list;

use dev::parse_dev;
use list::parse_list;

use super::model::{Facts, IfType, WirelessInterface};

/// Which of the two texts an error points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IwInput {
    List,
    Dev,
}

impl std::fmt::Display for IwInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IwInput::List => "iw list",
            IwInput::Dev => "iw dev",
        })
    }
}

/// A known line that could not be read, or a text that holds nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct IwParseError {
    pub input: IwInput,
    /// 1-based line number in that text; 0 when the text as a whole is wrong.
    pub line: usize,
    pub what: String,
    /// The offending line, trimmed.
    pub text: String,
}

impl IwParseError {
    fn message(&self) -> String {
        if self.line == 0 {
            format!("{} output: {}", self.input, self.what)
        } else {
            format!(
                "{} output, line {}: {} (line reads {:?})",
                self.input, self.line, self.what, self.text
            )
        }
    }
}

/// Builds facts from `iw list` text and, optionally, `iw dev` (or
/// `iw dev NAME info`) text. Only the wireless parts of [`Facts`] are filled:
/// addresses, routes and libvirt are left empty (a paste of `iw` knows
/// nothing about them). A text without a phy, or an `iw dev` text without an
/// interface, is an error: it is the wrong file or a cut paste, and an empty
/// success would read as "this machine has no radio".
pub fn from_iw_text(list: &str, dev: Option<&str>) -> Result<Facts, IwParseError> {
    let phys = parse_list(list)?;
    if phys.is_empty() {
        return Err(err(
            IwInput::List,
            0,
            "no phy in this text (no `Wiphy phyN` line)",
            "",
        ));
    }
    let interfaces = match dev {
        Some(text) => interfaces_from_iw_dev(text)?,
        None => Vec::new(),
    };
    Ok(Facts {
        phys,
        interfaces,
        ..Facts::default()
    })
}

/// The interfaces in `iw dev` or `iw dev NAME info` text; at least one.
pub fn interfaces_from_iw_dev(text: &str) -> Result<Vec<WirelessInterface>, IwParseError> {
    let interfaces = parse_dev(text)?;
    if interfaces.is_empty() {
        return Err(err(
            IwInput::Dev,
            0,
            "no interface in this text (no `Interface NAME` line)",
            "",
        ));
    }
    Ok(interfaces)
}

pub(super) fn err(
    input: IwInput,
    line: usize,
    what: impl Into<String>,
    text: &str,
) -> IwParseError {
    IwParseError {
        input,
        line,
        what: what.into(),
        text: text.to_string(),
    }
}

/// A line without its indentation and without the `> ` quoting that
/// replies on GitHub and mailing lists add to pasted output.
pub(super) fn unquote(raw: &str) -> &str {
    let mut line = raw.trim();
    while let Some(rest) = line.strip_prefix('>') {
        line = rest.trim();
    }
    line
}

/// Interface type names as iw prints them.
pub fn iftype_from_iw(name: &str) -> Option<IfType> {
    Some(match name.trim() {
        "IBSS" => IfType::Ibss,
        "managed" => IfType::Managed,
        "AP" => IfType::Ap,
        "AP/VLAN" => IfType::ApVlan,
        "WDS" => IfType::Wds,
        "monitor" => IfType::Monitor,
        "mesh point" => IfType::MeshPoint,
        "P2P-client" => IfType::P2pClient,
        "P2P-GO" => IfType::P2pGo,
        "P2P-device" => IfType::P2pDevice,
        "outside context of a BSS" => IfType::Ocb,
        "NAN" => IfType::Nan,
        _ => return None,
    })
}

/// The channel number of a frequency, as the kernel's
/// `ieee80211_freq_khz_to_channel` computes it (2.4, 5, 6 and 60 GHz).
pub fn channel_from_freq(freq_mhz: u32) -> Option<u16> {
    let ch = match freq_mhz {
        2484 => 14,
        2407..=2483 => (freq_mhz - 2407) / 5,
        5955..=7115 => (freq_mhz - 5950) / 5,
        5935 => 2,
        4910..=4980 => (freq_mhz - 4000) / 5,
        5000..=5934 => (freq_mhz - 5000) / 5,
        58_320..=70_200 => (freq_mhz - 56_160) / 2160,
        _ => return None,
    };
    u16::try_from(ch).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_numbers() {
        assert_eq!(channel_from_freq(2412), Some(1));
        assert_eq!(channel_from_freq(2484), Some(14));
        assert_eq!(channel_from_freq(5180), Some(36));
        assert_eq!(channel_from_freq(5955), Some(1));
        assert_eq!(channel_from_freq(58320), Some(1));
        assert_eq!(channel_from_freq(100), None);
    }
}
