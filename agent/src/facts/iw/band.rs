//! One band's capability lines in `iw list`: the HT and VHT capability
//! words, the HT and VHT MCS sets (spatial streams) and the HE blocks per
//! interface type, of which the AP's counts.

use super::{err, IwInput, IwParseError};
use crate::facts::model::Band;

/// The block of lines being read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Block {
    #[default]
    None,
    /// An `HE Iftypes: …` block: its MAC and PHY capabilities and MCS sets.
    He,
    /// The `N streams: MCS 0-M` lines under a VHT or HE MCS set header.
    Streams(StreamsOf),
}

/// Whose MCS map the `N streams:` lines describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamsOf {
    Vht,
    /// HE receive MCS up to 80 MHz of the AP interface type.
    HeAp,
    Ignored,
}

/// The state of one band's capability lines.
#[derive(Debug, Default)]
pub(super) struct BandLines {
    /// The `HE Iftypes:` block being read lists AP.
    he_for_ap: bool,
    block: Block,
}

impl BandLines {
    /// Reads `line` into `band` when it is one of the band's capability
    /// lines: the capability words, the MCS sets and the HE blocks. False
    /// when it is none of them.
    pub(super) fn read(
        &mut self,
        band: &mut Band,
        lineno: usize,
        line: &str,
    ) -> Result<bool, IwParseError> {
        let block = std::mem::take(&mut self.block);
        let bad = |what: &str| err(IwInput::List, lineno, what, line);
        if let Some(word) = line.strip_prefix("Capabilities: 0x") {
            band.ht = true;
            band.ht_capa = Some(
                u16::from_str_radix(word.trim(), 16)
                    .map_err(|_| bad("the HT capability word is not hexadecimal"))?,
            );
            return Ok(true);
        }
        if let Some(rest) = line.strip_prefix("VHT Capabilities") {
            band.vht = true;
            // `VHT Capabilities (0x338001b2):`
            let word = rest
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(':')
                .trim_end_matches(')');
            if let Some(hex) = word.strip_prefix("0x") {
                band.vht_capa = Some(
                    u32::from_str_radix(hex, 16)
                        .map_err(|_| bad("the VHT capability word is not hexadecimal"))?,
                );
            }
            return Ok(true);
        }
        // `HT TX/RX MCS rate indexes supported: 0-15` (or `HT RX MCS …`).
        if line.starts_with("HT ") && line.contains("MCS rate indexes supported:") {
            let list = line.rsplit(':').next().unwrap_or("");
            band.ht_streams = ht_streams(list);
            return Ok(true);
        }
        if line == "VHT RX MCS set:" {
            self.block = Block::Streams(StreamsOf::Vht);
            return Ok(true);
        }
        if let Some(types) = line.strip_prefix("HE Iftypes:") {
            self.he_for_ap = types.split(',').any(|t| t.trim() == "AP");
            if self.he_for_ap {
                band.he_ap = Some(Default::default());
            }
            self.block = Block::He;
            return Ok(true);
        }
        if line.starts_with("EHT Iftypes:") {
            let for_ap = line
                .split(':')
                .nth(1)
                .unwrap_or("")
                .split(',')
                .any(|t| t.trim() == "AP");
            if let (true, Some(he)) = (for_ap, band.he_ap.as_mut()) {
                he.eht = true;
            }
            self.he_for_ap = false;
            return Ok(true);
        }
        if let Some(rest) = line.strip_prefix("HE PHY Capabilities:") {
            if self.he_for_ap {
                // `HE PHY Capabilities: (0x0420ce…):` the first byte first.
                let hex = rest.trim().trim_start_matches("(0x");
                let byte0 = hex.get(..2).and_then(|b| u8::from_str_radix(b, 16).ok());
                let byte0 =
                    byte0.ok_or_else(|| bad("the HE PHY capabilities are not hexadecimal"))?;
                if let Some(he) = band.he_ap.as_mut() {
                    he.phy_cap0 = byte0;
                }
            }
            self.block = Block::He;
            return Ok(true);
        }
        if line == "HE RX MCS and NSS set <= 80 MHz" {
            let of = if self.he_for_ap {
                StreamsOf::HeAp
            } else {
                StreamsOf::Ignored
            };
            self.block = Block::Streams(of);
            return Ok(true);
        }
        if let Block::Streams(of) = block {
            // `2 streams: MCS 0-9` / `3 streams: not supported`
            if let Some((n, what)) = line.split_once(" streams:") {
                let n: u8 = n
                    .trim()
                    .parse()
                    .map_err(|_| bad("stream count is not a number"))?;
                if what.trim().starts_with("MCS") {
                    match of {
                        StreamsOf::Vht => {
                            band.vht_streams = Some(band.vht_streams.unwrap_or(0).max(n))
                        }
                        StreamsOf::HeAp => {
                            if let Some(he) = band.he_ap.as_mut() {
                                he.streams = he.streams.max(n);
                            }
                        }
                        StreamsOf::Ignored => {}
                    }
                }
                self.block = block;
                return Ok(true);
            }
        }
        // The HE block's other lines (MAC capabilities, their flags, PPE
        // thresholds, the TX and wider MCS sets) keep it open.
        let in_he = matches!(
            block,
            Block::He | Block::Streams(StreamsOf::HeAp | StreamsOf::Ignored)
        );
        if in_he && !line.starts_with("Bitrates") {
            self.block = Block::He;
            return Ok(true);
        }
        Ok(false)
    }
}

/// Spatial streams of an HT MCS index list (`0-15`, `0-7, 32`): MCS 0-7
/// are one stream, 8-15 two, 16-23 three, 24-31 four; 32 is a 40 MHz
/// duplicate format, not a stream.
fn ht_streams(list: &str) -> Option<u8> {
    let mut highest: Option<u32> = None;
    for part in list.split(',') {
        let part = part.trim();
        let last = part.rsplit('-').next().unwrap_or(part);
        if let Ok(n) = last.trim().parse::<u32>() {
            if n < 32 {
                highest = Some(highest.map_or(n, |h| h.max(n)));
            }
        }
    }
    highest.map(|h| (h / 8 + 1) as u8)
}
