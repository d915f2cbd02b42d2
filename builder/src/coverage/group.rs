//! Firmware groups: the files a driver declares, merged where any one of
//! them does, and matched against the firmware an image has.
//!
//! A driver declares one name per file it may load, but a request can be
//! met by several files: iwlwifi declares its newest API version
//! (`iwlwifi-cc-a0-77.ucode`) and loads the newest it finds from there
//! down, rtw89 falls back from `rtw8852b_fw-1.bin` to `rtw8852b_fw.bin`,
//! ath10k from `board-2.bin` to `board.bin`; ath11k and brcmfmac declare
//! patterns (`ath11k/WCN6855/hw2.0/*`, `brcm/brcmfmac*-sdio.*.bin`).

use std::collections::BTreeMap;

/// What satisfies one group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Want {
    /// This file.
    Exact(String),
    /// `{stem}-{N}{ext}` for any N up to `max`, or `{stem}{ext}` (the
    /// unnumbered first version).
    Numbered { stem: String, ext: String, max: u32 },
    /// A shell pattern: `*` any run of characters but `/`, `?` one.
    Pattern(String),
}

/// One group: what satisfies it and the declared names it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub want: Want,
    pub declared: Vec<String>,
}

impl Want {
    /// The group's name in reports: the file, the pattern, or
    /// `stem-{N<=max}.ext`.
    pub fn name(&self) -> String {
        match self {
            Want::Exact(f) | Want::Pattern(f) => f.clone(),
            Want::Numbered { stem, ext, max } => format!("{stem}-{{N<={max}}}{ext}"),
        }
    }

    /// The present firmware files (keys of `firmware`, the names a driver
    /// asks for) that satisfy this group, best first: the highest version
    /// of a numbered group, every match of a pattern in name order.
    pub fn found<'a, V>(&self, firmware: &'a BTreeMap<String, V>) -> Vec<&'a str> {
        match self {
            Want::Exact(f) => firmware
                .get_key_value(f)
                .map(|(k, _)| vec![k.as_str()])
                .unwrap_or_default(),
            Want::Numbered { stem, ext, max } => {
                let mut best: Option<(u32, &str)> = None;
                for (k, _) in with_prefix(firmware, stem) {
                    let version = match &k[stem.len()..] {
                        rest if rest == ext => Some(0),
                        rest => rest
                            .strip_prefix('-')
                            .and_then(|r| r.strip_suffix(ext.as_str()))
                            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                            .and_then(|n| n.parse::<u32>().ok()),
                    };
                    if let Some(v) = version.filter(|v| v <= max) {
                        if best.is_none_or(|(b, _)| v > b) {
                            best = Some((v, k));
                        }
                    }
                }
                best.map(|(_, k)| vec![k]).unwrap_or_default()
            }
            Want::Pattern(p) => {
                let literal = &p[..p.find(['*', '?']).unwrap_or(p.len())];
                // As in the shell, a pattern names no hidden file (a
                // package's `.notice`) unless it says so.
                let hidden_ok = p.rsplit('/').next().is_some_and(|l| l.starts_with('.'));
                with_prefix(firmware, literal)
                    .filter(|(k, _)| {
                        hidden_ok || !k.rsplit('/').next().is_some_and(|l| l.starts_with('.'))
                    })
                    .filter(|(k, _)| matches(p.as_bytes(), k.as_bytes()))
                    .map(|(k, _)| k.as_str())
                    .collect()
            }
        }
    }
}

fn with_prefix<'a, 'p, V>(
    map: &'a BTreeMap<String, V>,
    prefix: &'p str,
) -> impl Iterator<Item = (&'a String, &'a V)> + use<'a, 'p, V> {
    map.range(prefix.to_owned()..)
        .take_while(move |(k, _)| k.starts_with(prefix))
}

/// Shell-style matching of a firmware name: `*` stops at `/`, as a
/// directory's pattern (`hw2.0/*`) names the files in it.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => {
            let mut i = 0;
            loop {
                if matches(rest, &name[i..]) {
                    return true;
                }
                if i == name.len() || name[i] == b'/' {
                    return false;
                }
                i += 1;
            }
        }
        Some((b'?', rest)) => {
            matches!(name.split_first(), Some((c, tail)) if *c != b'/' && matches(rest, tail))
        }
        Some((c, rest)) => {
            matches!(name.split_first(), Some((n, tail)) if n == c && matches(rest, tail))
        }
    }
}

/// What one declared name asks for.
fn want_of(declared: &str) -> Want {
    if declared.contains(['*', '?']) {
        return Want::Pattern(declared.to_owned());
    }
    let (dir, file) = match declared.rfind('/') {
        Some(i) => declared.split_at(i + 1),
        None => ("", declared),
    };
    let (base, ext) = match file.rfind('.') {
        Some(i) if i > 0 => file.split_at(i),
        _ => (file, ""),
    };
    if let Some((stem, n)) = base.rsplit_once('-') {
        if !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(max) = n.parse::<u32>() {
                return Want::Numbered {
                    stem: format!("{dir}{stem}"),
                    ext: ext.to_owned(),
                    max,
                };
            }
        }
    }
    Want::Exact(declared.to_owned())
}

/// The groups of a module's declared firmware, in name order; the numbered
/// versions of one file become one group up to the highest declared, and an
/// unnumbered name joins its numbered group.
pub fn groups(declared: &[String]) -> Vec<Group> {
    // Keyed by what is wanted with the version left out, so every version
    // of a file (and its unnumbered form) lands in one group.
    let mut by_key: BTreeMap<(String, String, bool), Group> = BTreeMap::new();
    for d in declared {
        let want = want_of(d);
        let key = match &want {
            Want::Numbered { stem, ext, .. } => (stem.clone(), ext.clone(), true),
            Want::Exact(f) | Want::Pattern(f) => (f.clone(), String::new(), false),
        };
        match by_key.get_mut(&key) {
            Some(g) => {
                if let (Want::Numbered { max, .. }, Want::Numbered { max: m, .. }) =
                    (&mut g.want, &want)
                {
                    *max = (*max).max(*m);
                }
                g.declared.push(d.clone());
            }
            None => {
                by_key.insert(
                    key,
                    Group {
                        want,
                        declared: vec![d.clone()],
                    },
                );
            }
        }
    }
    // An unnumbered name (`board.bin`) whose numbered group exists
    // (`board-2.bin`) is that group's first version.
    let exact_keys: Vec<(String, String, bool)> = by_key.keys().filter(|k| !k.2).cloned().collect();
    for key in exact_keys {
        let Some(Group {
            want: Want::Exact(f),
            ..
        }) = by_key.get(&key)
        else {
            continue;
        };
        let (base, ext) = match f.rfind('.') {
            Some(i) if i > 0 && !f[i..].contains('/') => f.split_at(i),
            _ => (f.as_str(), ""),
        };
        let numbered = (base.to_owned(), ext.to_owned(), true);
        if by_key.contains_key(&numbered) {
            if let Some(g) = by_key.remove(&key) {
                if let Some(n) = by_key.get_mut(&numbered) {
                    n.declared.extend(g.declared);
                }
            }
        }
    }
    let mut out: Vec<Group> = by_key.into_values().collect();
    for g in &mut out {
        g.declared.sort();
    }
    out.sort_by_key(|g| g.want.name());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn present(v: &[&str]) -> BTreeMap<String, ()> {
        v.iter().map(|s| ((*s).to_owned(), ())).collect()
    }

    #[test]
    fn numbered_versions_are_one_group_up_to_the_highest() {
        let g = groups(&names(&[
            "iwlwifi-cc-a0-77.ucode",
            "iwlwifi-cc-a0-72.ucode",
            "iwlwifi-so-a0-gf-a0.pnvm",
            "htc_9271-1.4.0.fw",
        ]));
        let shown: Vec<String> = g.iter().map(|g| g.want.name()).collect();
        assert_eq!(
            shown,
            [
                "htc_9271-1.4.0.fw",
                "iwlwifi-cc-a0-{N<=77}.ucode",
                "iwlwifi-so-a0-gf-a0.pnvm"
            ]
        );
        assert_eq!(
            g[1].declared,
            ["iwlwifi-cc-a0-72.ucode", "iwlwifi-cc-a0-77.ucode"]
        );
        let fw = present(&[
            "iwlwifi-cc-a0-59.ucode",
            "iwlwifi-cc-a0-72.ucode",
            "iwlwifi-cc-a0-78.ucode",
            "iwlwifi-cc-a0-7x.ucode",
            "iwlwifi-cc-a0.pnvm",
        ]);
        // 78 is newer than the driver knows: it would never load it.
        assert_eq!(g[1].want.found(&fw), ["iwlwifi-cc-a0-72.ucode"]);
        assert!(g[2].want.found(&fw).is_empty());
        assert!(g[0].want.found(&fw).is_empty());
    }

    #[test]
    fn an_unnumbered_name_is_the_first_version_of_its_group() {
        let g = groups(&names(&[
            "ath10k/QCA6174/hw3.0/board-2.bin",
            "ath10k/QCA6174/hw3.0/board.bin",
            "rtw89/rtw8852b_fw-1.bin",
        ]));
        assert_eq!(g.len(), 2, "{g:?}");
        assert_eq!(g[0].want.name(), "ath10k/QCA6174/hw3.0/board-{N<=2}.bin");
        assert_eq!(g[0].declared.len(), 2);
        let fw = present(&["ath10k/QCA6174/hw3.0/board.bin", "rtw89/rtw8852b_fw.bin"]);
        assert_eq!(g[0].want.found(&fw), ["ath10k/QCA6174/hw3.0/board.bin"]);
        assert_eq!(g[1].want.found(&fw), ["rtw89/rtw8852b_fw.bin"]);
    }

    #[test]
    fn patterns_match_within_their_directory() {
        let g = groups(&names(&[
            "ath11k/WCN6855/hw2.0/*",
            "brcm/brcmfmac*-sdio.*.bin",
        ]));
        let fw = present(&[
            "ath11k/WCN6855/hw2.0/.notice",
            "ath11k/WCN6855/hw2.0/amss.bin",
            "ath11k/WCN6855/hw2.0/board-2.bin",
            "ath11k/WCN6855/hw2.0/sub/x.bin",
            "brcm/brcmfmac43455-sdio.raspberrypi,4-model-b.bin",
            "brcm/brcmfmac43455-sdio.bin",
            "brcm/brcmfmac43455-sdio.AP6255.txt",
        ]);
        assert_eq!(
            g[0].want.found(&fw),
            [
                "ath11k/WCN6855/hw2.0/amss.bin",
                "ath11k/WCN6855/hw2.0/board-2.bin"
            ]
        );
        assert_eq!(
            g[1].want.found(&fw),
            ["brcm/brcmfmac43455-sdio.raspberrypi,4-model-b.bin"]
        );
        assert!(matches(b"a?c", b"abc"));
        assert!(!matches(b"a?c", b"a/c"));
        assert!(!matches(b"a*", b"a/b"));
    }

    #[test]
    fn a_dash_that_is_no_version_stays_exact() {
        for n in [
            "rt2870.bin",
            "mediatek/WIFI_RAM_CODE_MT7961_1.bin",
            "a-b.c/d",
            "-1.bin",
        ] {
            assert_eq!(want_of(n), Want::Exact(n.to_owned()), "{n}");
        }
    }
}
