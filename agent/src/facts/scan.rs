//! The access points around: the kernel's cached scan results
//! (`NL80211_CMD_GET_SCAN` dump of each wireless interface; no new scan is
//! started), each access point's address, frequency and Country element,
//! and the country they agree on.

use std::collections::BTreeMap;

use netlink_sys::protocols::NETLINK_GENERIC;
use wl_nl80211::{Nl80211Attr, Nl80211Command};

use super::model::{ScannedBss, WirelessInterface};
use super::netlink;
use super::nl80211::{attributes_after_headers, nlas, request, resolve_family, u32_of};

const NL80211_ATTR_BSS: u16 = 47;
const NL80211_BSS_BSSID: u16 = 1;
const NL80211_BSS_FREQUENCY: u16 = 2;
const NL80211_BSS_INFORMATION_ELEMENTS: u16 = 6;
const NL80211_BSS_BEACON_IES: u16 = 11;
/// The Country element's id (IEEE 802.11 element 7): two letters, the
/// environment, then the channel triplets.
const ELEMENT_COUNTRY: u8 = 7;

/// The cached scan results of every interface, each access point once.
/// Scan results are a hint, never a reason to fail: an interface that
/// cannot be asked (down, not a station) is logged and skipped.
pub fn gather(interfaces: &[WirelessInterface]) -> Vec<ScannedBss> {
    let mut out: Vec<ScannedBss> = Vec::new();
    if interfaces.is_empty() {
        return out;
    }
    let socket = match netlink::open(NETLINK_GENERIC, "generic") {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("scan results: {e}");
            return out;
        }
    };
    let family = match resolve_family(&socket, "nl80211") {
        Ok(Some(f)) => f,
        Ok(None) => return out,
        Err(e) => {
            tracing::debug!("scan results: {e}");
            return out;
        }
    };
    for iface in interfaces {
        let dumped = netlink::dump(&socket, "NL80211_CMD_GET_SCAN dump", |seq| {
            request(
                family.id,
                Nl80211Command::GetScan,
                vec![Nl80211Attr::IfIndex(iface.ifindex)],
                seq,
            )
        });
        match dumped {
            Ok(messages) => merge(&mut out, messages.iter().filter_map(|m| bss_of_message(m))),
            Err(e) => tracing::debug!("scan results of {}: {e}", iface.name),
        }
    }
    out
}

/// Adds access points not yet listed (two interfaces of one radio see the
/// same ones).
fn merge(out: &mut Vec<ScannedBss>, found: impl Iterator<Item = ScannedBss>) {
    for b in found {
        if !out.iter().any(|o| o.bssid == b.bssid) {
            out.push(b);
        }
    }
}

/// Pure part: the access point one GET_SCAN message describes.
pub fn bss_of_message(bytes: &[u8]) -> Option<ScannedBss> {
    let (_, bss) = nlas(attributes_after_headers(bytes)?).find(|(k, _)| *k == NL80211_ATTR_BSS)?;
    let mut bssid = None;
    let mut freq_mhz = None;
    let mut probe_ies = None;
    let mut beacon_ies = None;
    for (kind, value) in nlas(bss) {
        match kind {
            NL80211_BSS_BSSID if value.len() == 6 => {
                bssid = Some(
                    value
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                )
            }
            NL80211_BSS_FREQUENCY => freq_mhz = u32_of(value),
            NL80211_BSS_INFORMATION_ELEMENTS => probe_ies = Some(value),
            NL80211_BSS_BEACON_IES => beacon_ies = Some(value),
            _ => {}
        }
    }
    let country = probe_ies
        .and_then(country_element)
        .or_else(|| beacon_ies.and_then(country_element));
    Some(ScannedBss {
        bssid: bssid?,
        freq_mhz: freq_mhz?,
        country,
    })
}

/// The two letters of the Country element in a run of elements (id,
/// length, body), as announced; `None` without one or when they are not
/// two ASCII letters.
pub fn country_element(mut ies: &[u8]) -> Option<String> {
    while let [id, len, rest @ ..] = ies {
        let body = rest.get(..usize::from(*len))?;
        if *id == ELEMENT_COUNTRY {
            let two = body.get(..2)?;
            return two
                .iter()
                .all(u8::is_ascii_alphabetic)
                .then(|| String::from_utf8_lossy(two).to_ascii_uppercase());
        }
        ies = &rest[usize::from(*len)..];
    }
    None
}

/// The country the access points around agree on, and how many announce
/// it: all that announce a (real, assigned) country announce the same, or
/// at least two do and they are more than half. Never the world domain or
/// the codes that name no country (`00`, `98`, `99`, `XX`, unassigned).
pub fn agreed_country(scan: &[ScannedBss]) -> Option<(String, usize)> {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for b in scan {
        if let Some(c) = b.country.as_deref().filter(|c| real(c)) {
            *votes.entry(c).or_default() += 1;
        }
    }
    let total: usize = votes.values().sum();
    // The most votes; among equals the first in alphabetical order, so
    // the answer does not depend on the order of the scan.
    let (country, n) = votes
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(c, n)| (*c, *n))?;
    let agreed = n == total || (n >= 2 && 2 * n > total);
    agreed.then(|| (country.to_string(), n))
}

fn real(code: &str) -> bool {
    code != "XX" && softap_config::country::is_country(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let len = 4 + value.len();
        let mut out = Vec::new();
        out.extend_from_slice(&(len as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    /// A GET_SCAN answer as the kernel sends it: netlink and generic
    /// netlink headers, then NL80211_ATTR_BSS with the nested attributes.
    fn message(bssid: [u8; 6], freq: u32, ies: &[u8], beacon: Option<&[u8]>) -> Vec<u8> {
        let mut bss = nla(NL80211_BSS_BSSID, &bssid);
        bss.extend(nla(NL80211_BSS_FREQUENCY, &freq.to_ne_bytes()));
        bss.extend(nla(NL80211_BSS_INFORMATION_ELEMENTS, ies));
        if let Some(b) = beacon {
            bss.extend(nla(NL80211_BSS_BEACON_IES, b));
        }
        let mut body = nla(3, &7u32.to_ne_bytes()); // NL80211_ATTR_IFINDEX
        body.extend(nla(NL80211_ATTR_BSS | 0x8000, &bss));
        let mut out = Vec::new();
        out.extend_from_slice(&((20 + body.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&[34, 1, 0, 0]); // NL80211_CMD_NEW_SCAN_RESULTS
        out.extend(body);
        out
    }

    /// SSID "cafe", supported rates, then Country "DE" (indoor and
    /// outdoor) with one triplet: channels 1-13 at 20 dBm.
    const IES_DE: &[u8] = &[
        0, 4, b'c', b'a', b'f', b'e', 1, 2, 0x82, 0x84, 7, 6, b'D', b'E', b' ', 1, 13, 20,
    ];

    #[test]
    fn a_scan_result_names_its_access_point_and_country() {
        let m = message([2, 0, 0, 0, 1, 0], 2437, IES_DE, None);
        assert_eq!(
            bss_of_message(&m),
            Some(ScannedBss {
                bssid: "02:00:00:00:01:00".into(),
                freq_mhz: 2437,
                country: Some("DE".into()),
            })
        );
        // No Country element in the probe response: the beacon's.
        let m = message([2, 0, 0, 0, 1, 1], 5180, &[0, 1, b'x'], Some(IES_DE));
        assert_eq!(bss_of_message(&m).unwrap().country.as_deref(), Some("DE"));
        let m = message([2, 0, 0, 0, 1, 2], 5180, &[0, 1, b'x'], None);
        assert_eq!(bss_of_message(&m).unwrap().country, None);
    }

    #[test]
    fn broken_elements_name_no_country() {
        assert_eq!(country_element(&[7, 6, b'D', b'E']), None);
        // The world domain's "00" is no pair of letters.
        assert_eq!(country_element(&[7, 3, b'0', b'0', b' ']), None);
        assert_eq!(country_element(&[7, 1, b'D']), None);
        assert_eq!(
            country_element(&[7, 3, b'd', b'e', b'I']),
            Some("DE".into())
        );
        assert_eq!(country_element(&[]), None);
    }

    fn bss(n: u8, country: Option<&str>) -> ScannedBss {
        ScannedBss {
            bssid: format!("02:00:00:00:00:{n:02x}"),
            freq_mhz: 2437,
            country: country.map(str::to_string),
        }
    }

    #[test]
    fn the_access_points_must_agree() {
        let de = |n| bss(n, Some("DE"));
        // One alone, or all that announce one.
        assert_eq!(agreed_country(&[de(1)]), Some(("DE".into(), 1)));
        assert_eq!(
            agreed_country(&[de(1), de(2), bss(3, None)]),
            Some(("DE".into(), 2))
        );
        // A majority of at least two.
        assert_eq!(
            agreed_country(&[de(1), de(2), bss(3, Some("FR"))]),
            Some(("DE".into(), 2))
        );
        // One against one, two against two: no country.
        assert_eq!(agreed_country(&[de(1), bss(2, Some("FR"))]), None);
        assert_eq!(
            agreed_country(&[de(1), de(2), bss(3, Some("FR")), bss(4, Some("FR"))]),
            None
        );
        // Codes that name no country do not vote.
        for fake in ["00", "98", "99", "XX", "ZZ"] {
            assert_eq!(agreed_country(&[bss(1, Some(fake))]), None, "{fake}");
            assert_eq!(
                agreed_country(&[de(1), bss(2, Some(fake))]),
                Some(("DE".into(), 1)),
                "{fake}"
            );
        }
        assert_eq!(agreed_country(&[]), None);
    }
}
