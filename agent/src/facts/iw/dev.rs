//! `iw dev`: the interfaces, their types, SSIDs and channels.

use super::{err, iftype_from_iw, unquote, IwInput, IwParseError};
use crate::facts::model::{IfType, WirelessInterface};

/// `iw dev`: `phy#0`, then `Interface wlp2s0` with `ifindex`, `type`, `ssid`,
/// `channel 11 (2462 MHz), width: ...` lines. `iw dev wlp2s0 info` prints one
/// interface without the `phy#N` header and names its phy on a `wiphy N`
/// line instead.
pub(super) fn parse_dev(text: &str) -> Result<Vec<WirelessInterface>, IwParseError> {
    struct Draft {
        line: usize,
        header: String,
        name: String,
        /// From the `phy#N` header above the interface.
        header_phy: Option<u32>,
        /// From the interface's own `wiphy N` line.
        wiphy: Option<(u32, usize)>,
        ifindex: Option<u32>,
        iftype: Option<IfType>,
        ssid: Option<String>,
        channel: Option<u16>,
        freq_mhz: Option<u32>,
        width_mhz: Option<u32>,
        center1_mhz: Option<u32>,
    }
    fn finish(d: Draft, out: &mut Vec<WirelessInterface>) -> Result<(), IwParseError> {
        let ifindex = d.ifindex.ok_or_else(|| {
            err(
                IwInput::Dev,
                d.line,
                format!("interface {} has no `ifindex` line", d.name),
                &d.header,
            )
        })?;
        let iftype = d.iftype.ok_or_else(|| {
            err(
                IwInput::Dev,
                d.line,
                format!("interface {} has no `type` line", d.name),
                &d.header,
            )
        })?;
        let phy = match (d.header_phy, d.wiphy) {
            (Some(h), Some((w, line))) if h != w => {
                return Err(err(
                    IwInput::Dev,
                    line,
                    format!(
                        "interface {} says wiphy {w}, but is listed under phy#{h}",
                        d.name
                    ),
                    &format!("wiphy {w}"),
                ))
            }
            (Some(p), _) | (None, Some((p, _))) => p,
            (None, None) => {
                return Err(err(
                    IwInput::Dev,
                    d.line,
                    format!(
                        "interface {} has neither a `phy#N` line above it nor a `wiphy N` line",
                        d.name
                    ),
                    &d.header,
                ))
            }
        };
        out.push(WirelessInterface {
            name: d.name,
            ifindex,
            phy,
            iftype,
            ssid: d.ssid,
            channel: d.channel,
            freq_mhz: d.freq_mhz,
            width_mhz: d.width_mhz,
            center1_mhz: d.center1_mhz,
        });
        Ok(())
    }

    let mut out = Vec::new();
    let mut phy: Option<u32> = None;
    let mut current: Option<Draft> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = unquote(raw);
        if line.is_empty() {
            continue;
        }
        if let Some(num) = line.strip_prefix("phy#") {
            if let Some(d) = current.take() {
                finish(d, &mut out)?;
            }
            let n = num
                .trim()
                .parse::<u32>()
                .map_err(|_| err(IwInput::Dev, lineno, "`phy#N` without a number", line))?;
            phy = Some(n);
            continue;
        }
        if let Some(name) = line.strip_prefix("Interface ") {
            if let Some(d) = current.take() {
                finish(d, &mut out)?;
            }
            let name = name.trim();
            if name.is_empty() {
                return Err(err(
                    IwInput::Dev,
                    lineno,
                    "`Interface` without a name",
                    line,
                ));
            }
            current = Some(Draft {
                line: lineno,
                header: line.to_string(),
                name: name.to_string(),
                header_phy: phy,
                wiphy: None,
                ifindex: None,
                iftype: None,
                ssid: None,
                channel: None,
                freq_mhz: None,
                width_mhz: None,
                center1_mhz: None,
            });
            continue;
        }
        if line.starts_with("Unnamed/non-netdev interface") {
            if let Some(d) = current.take() {
                finish(d, &mut out)?;
            }
            // A non-netdev interface (P2P-device): nothing to route or bridge.
            continue;
        }
        let Some(d) = current.as_mut() else {
            // Prose, prompts and the unnamed interface's lines.
            continue;
        };
        if let Some(rest) = line.strip_prefix("ifindex ") {
            d.ifindex = Some(
                rest.trim()
                    .parse()
                    .map_err(|_| err(IwInput::Dev, lineno, "`ifindex` is not a number", line))?,
            );
        } else if let Some(rest) = line.strip_prefix("wiphy ") {
            let n = rest
                .trim()
                .parse()
                .map_err(|_| err(IwInput::Dev, lineno, "`wiphy` is not a number", line))?;
            d.wiphy = Some((n, lineno));
        } else if let Some(rest) = line.strip_prefix("type ") {
            let t = iftype_from_iw(rest)
                .ok_or_else(|| err(IwInput::Dev, lineno, "unknown interface type", line))?;
            d.iftype = Some(t);
        } else if let Some(rest) = line.strip_prefix("ssid ") {
            d.ssid = Some(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("channel ") {
            let (number, after) = rest.split_once(' ').unwrap_or((rest, ""));
            let number = number.trim_end_matches(',');
            d.channel =
                Some(number.parse().map_err(|_| {
                    err(IwInput::Dev, lineno, "channel number is not a number", line)
                })?);
            if let Some(inner) = after.trim_start().strip_prefix('(') {
                let freq = inner.split_once("MHz").map(|(f, _)| f.trim()).unwrap_or("");
                let freq: f64 = freq.parse().map_err(|_| {
                    err(
                        IwInput::Dev,
                        lineno,
                        "channel frequency is not a number",
                        line,
                    )
                })?;
                d.freq_mhz = Some(freq.round() as u32);
            }
            // `channel 36 (5180 MHz), width: 80 MHz, center1: 5210 MHz`
            d.width_mhz = mhz_after(rest, "width:");
            d.center1_mhz = mhz_after(rest, "center1:");
        }
    }
    if let Some(d) = current.take() {
        finish(d, &mut out)?;
    }
    Ok(out)
}

/// The whole MHz after `label` (`width: 80 MHz`); `None` where it is
/// absent or not a plain width (`20 MHz (no HT)` still reads as 20).
fn mhz_after(text: &str, label: &str) -> Option<u32> {
    let (_, after) = text.split_once(label)?;
    let value = after.trim_start().split(' ').next()?;
    value.parse::<f64>().ok().map(|v| v.round() as u32)
}
