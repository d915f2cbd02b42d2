//! Image hygiene: no build-host data in the image. A tool run while the base
//! is made can copy the build machine's state into it (systemd-resolved's
//! install kept the host's `resolv.conf` as a backup). Before anything is
//! written, every text file of every layer (the disk-only ones too, so both
//! outputs are covered) is searched for the build host's nameservers,
//! hostname, machine id and paths (home, cargo home, the spec's and the
//! working directory, the cache and the output directory); a hit fails the
//! build naming the layer, the file and what was found.
//!
//! A file is text unless its first 8 KiB hold a NUL (binaries carry build
//! paths in debug sections that say nothing about the host's state); at
//! most [`READ_CAP`] bytes of each file are read.
//!
//! Known-safe values, never searched for (each would be found in stock
//! package files whatever the build host):
//! - nameservers on loopback (`127.0.0.0/8`, `::1`: a local stub resolver,
//!   as systemd-resolved's own `nameserver 127.0.0.53`) and the public
//!   resolvers systemd names as its fallbacks in `resolved.conf`
//!   ([`PUBLIC_RESOLVERS`]);
//! - hostnames shorter than four characters, `localhost`, and names that
//!   are words of every Debian image ([`GENERIC_HOSTNAMES`]);
//! - paths of fewer than two components (`/root`, `/home`, `/tmp` are in
//!   every `passwd` and tmpfiles rule).

use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use aho_corasick::AhoCorasick;

use crate::layer::{Kind, Layer};

/// Bytes read from each file at most.
pub const READ_CAP: u64 = 1 << 20;
/// A NUL in this many first bytes makes a file binary.
const BINARY_PROBE: usize = 8 << 10;

/// The resolvers systemd's `resolved.conf` lists as `FallbackDNS`.
pub const PUBLIC_RESOLVERS: &[&str] = &[
    "1.1.1.1",
    "1.0.0.1",
    "8.8.8.8",
    "8.8.4.4",
    "9.9.9.9",
    "149.112.112.112",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    "2620:fe::fe",
    "2620:fe::9",
];

/// Hostnames that are words of every image (a host called `debian` cannot
/// be told from the distribution's name).
pub const GENERIC_HOSTNAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "debian",
    "ubuntu",
    "nixos",
    "softap",
    "build",
    "builder",
    "runner",
    "ubuntu-latest",
];

/// What of the build host a needle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Nameserver,
    Hostname,
    MachineId,
    Path,
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            What::Nameserver => "nameserver",
            What::Hostname => "hostname",
            What::MachineId => "machine id",
            What::Path => "path",
        })
    }
}

/// The build host's data, as gathered (see [`HostData::gather`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostData {
    pub nameservers: Vec<String>,
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
    pub paths: Vec<PathBuf>,
}

/// One value to search for, known-safe ones already left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    pub what: What,
    pub text: String,
}

impl HostData {
    /// Reads the host's resolver configuration (the stub's upstream servers
    /// too), hostname and machine id; `paths` are the build's own (cache,
    /// output, spec directory), to which the home directory, the cargo
    /// home and the working directory are added. Whatever cannot be read is
    /// left out.
    pub fn gather(paths: &[&Path]) -> HostData {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let mut nameservers = Vec::new();
        for f in ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"] {
            nameservers.extend(read(f).map(|t| parse_nameservers(&t)).unwrap_or_default());
        }
        let mut all: Vec<PathBuf> = paths.iter().map(|p| absolute(p)).collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        if let Some(h) = &home {
            all.push(h.clone());
        }
        if let Some(c) = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".cargo")))
        {
            all.push(c);
        }
        if let Ok(d) = std::env::current_dir() {
            all.push(d);
        }
        HostData {
            nameservers,
            hostname: read("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()),
            machine_id: read("/etc/machine-id").map(|m| m.trim().to_owned()),
            paths: all,
        }
    }

    /// The values to search for: the known-safe ones (module documentation)
    /// left out, duplicates removed.
    pub fn needles(&self) -> Vec<Needle> {
        let mut out: Vec<Needle> = Vec::new();
        let mut push = |what, text: String| {
            if !out.iter().any(|n| n.text == text) {
                out.push(Needle { what, text });
            }
        };
        for n in &self.nameservers {
            let loopback = n.starts_with("127.") || n == "::1";
            if !loopback && !PUBLIC_RESOLVERS.contains(&n.as_str()) {
                push(What::Nameserver, n.clone());
            }
        }
        if let Some(h) = &self.hostname {
            let lower = h.to_ascii_lowercase();
            if h.len() >= 4 && !GENERIC_HOSTNAMES.contains(&lower.as_str()) {
                push(What::Hostname, h.clone());
            }
        }
        if let Some(m) = &self.machine_id {
            if m.len() == 32 && m.bytes().all(|b| b.is_ascii_hexdigit()) {
                push(What::MachineId, m.clone());
            }
        }
        for p in &self.paths {
            let deep = p
                .components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .count()
                >= 2;
            if p.is_absolute() && deep {
                if let Some(s) = p.to_str() {
                    push(What::Path, s.trim_end_matches('/').to_owned());
                }
            }
        }
        out
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.to_owned()))
}

/// The addresses of a `resolv.conf`'s `nameserver` lines (an IPv6 zone,
/// `%eth0`, dropped).
pub fn parse_nameservers(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .map(|a| a.split('%').next().unwrap_or(a).to_owned())
        .collect()
}

/// One piece of build-host data in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub layer: String,
    pub path: String,
    pub what: What,
    pub found: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "layer {}: /{}: the build host's {} `{}`",
            self.layer, self.path, self.what, self.found
        )
    }
}

/// Findings shown in the error at most.
const SHOWN: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum HygieneError {
    #[error("build-host data in the image: {}", list(.0))]
    Found(Vec<Finding>),
    #[error("hygiene check: the build host's values cannot be searched for")]
    Search(#[from] aho_corasick::BuildError),
    #[error("layer {layer}: reading /{path} for the hygiene check")]
    Read {
        layer: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn list(found: &[Finding]) -> String {
    let mut s: Vec<String> = found.iter().take(SHOWN).map(Finding::to_string).collect();
    if found.len() > SHOWN {
        s.push(format!("and {} more", found.len() - SHOWN));
    }
    s.join("; ")
}

/// Whether a byte continues the token a needle is part of: a needle found
/// inside a longer address, name or path is not that needle.
fn continues(what: What, b: u8) -> bool {
    match what {
        What::Nameserver => b.is_ascii_alphanumeric() || b == b'.' || b == b':',
        What::Hostname => b.is_ascii_alphanumeric() || b == b'-' || b == b'_',
        What::MachineId => b.is_ascii_hexdigit(),
        What::Path => b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-',
    }
}

/// The needles in `bytes` (each once), by index into `needles`.
pub fn scan(bytes: &[u8], finder: &AhoCorasick, needles: &[Needle]) -> Vec<usize> {
    let mut hits = Vec::new();
    for m in finder.find_overlapping_iter(bytes) {
        let i = m.pattern().as_usize();
        let what = needles[i].what;
        // A path is bounded before by anything but a name character (the
        // needle starts with `/`); after by anything but one (`/` goes on
        // below it, which is the same leak).
        let before = m.start().checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(m.end()).copied();
        let bounded =
            before.is_none_or(|b| !continues(what, b)) && after.is_none_or(|b| !continues(what, b));
        if bounded && !hits.contains(&i) {
            hits.push(i);
        }
    }
    hits
}

/// Searches every text file of `layers` for `needles`.
pub fn check(layers: &[Layer], needles: &[Needle]) -> Result<(), HygieneError> {
    if needles.is_empty() {
        return Ok(());
    }
    let finder = AhoCorasick::new(needles.iter().map(|n| n.text.as_bytes()))?;
    let mut found = Vec::new();
    let mut buf = Vec::new();
    for l in layers {
        for e in &l.entries {
            let Kind::File { size, data, .. } = &e.kind else {
                continue;
            };
            let read_err = |source| HygieneError::Read {
                layer: l.name.clone(),
                path: e.path.clone(),
                source,
            };
            buf.clear();
            let mut r = data.open(*size).map_err(read_err)?;
            // The probe first, so a binary's bytes past it are never read.
            (&mut r)
                .take(BINARY_PROBE as u64)
                .read_to_end(&mut buf)
                .map_err(read_err)?;
            if buf.contains(&0) {
                continue;
            }
            r.take(READ_CAP.min(*size).saturating_sub(buf.len() as u64))
                .read_to_end(&mut buf)
                .map_err(read_err)?;
            let hits = scan(&buf, &finder, needles);
            // A path below another found one says the same: name the longer.
            let below = |i: usize| {
                hits.iter().any(|&j| {
                    needles[i].what == What::Path
                        && needles[j].what == What::Path
                        && needles[j]
                            .text
                            .strip_prefix(needles[i].text.as_str())
                            .is_some_and(|rest| rest.starts_with('/'))
                })
            };
            for i in hits.iter().copied().filter(|&i| !below(i)) {
                found.push(Finding {
                    layer: l.name.clone(),
                    path: e.path.clone(),
                    what: needles[i].what,
                    found: needles[i].text.clone(),
                });
            }
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(HygieneError::Found(found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Entry;

    fn host() -> HostData {
        HostData {
            nameservers: parse_nameservers(
                "# from DHCP\nnameserver 10.0.2.3\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver 8.8.8.8\noptions edns0\n",
            ),
            hostname: Some("buildbox-7".into()),
            machine_id: Some("0123456789abcdef0123456789abcdef".into()),
            paths: vec![
                "/home/dev/src/softap".into(),
                "/root".into(),
                "/home/dev/.cache/softap/".into(),
            ],
        }
    }

    fn layer(name: &str, files: &[(&str, &[u8])]) -> Layer {
        let entries = files
            .iter()
            .map(|(p, b)| Entry::bytes(*p, b.to_vec(), 0o644, 0))
            .collect();
        Layer::finish(name, entries, None, 0)
    }

    #[test]
    fn known_safe_values_are_left_out() {
        let texts: Vec<(What, String)> = host()
            .needles()
            .into_iter()
            .map(|n| (n.what, n.text))
            .collect();
        assert_eq!(
            texts,
            [
                (What::Nameserver, "10.0.2.3".to_owned()),
                (What::Nameserver, "fe80::1".to_owned()),
                (What::Hostname, "buildbox-7".to_owned()),
                (
                    What::MachineId,
                    "0123456789abcdef0123456789abcdef".to_owned()
                ),
                (What::Path, "/home/dev/src/softap".to_owned()),
                (What::Path, "/home/dev/.cache/softap".to_owned()),
            ]
        );
        let generic = HostData {
            hostname: Some("Debian".into()),
            ..HostData::default()
        };
        assert!(generic.needles().is_empty());
    }

    #[test]
    fn each_kind_is_found_and_named() {
        let base = layer(
            "base",
            &[
                (
                    "etc/.resolv.conf.systemd-resolved.bak",
                    b"nameserver 10.0.2.3\n",
                ),
                (
                    "etc/systemd/resolved.conf",
                    b"#FallbackDNS=8.8.8.8 1.1.1.1\n#DNS=127.0.0.53\n",
                ),
                ("etc/hosts", b"127.0.1.1 buildbox-7\n"),
                ("var/lib/x", b"id=0123456789abcdef0123456789abcdef\n"),
                ("etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n"),
                ("usr/bin/tool", b"\x7fELF\0\0/home/dev/src/softap/target\n"),
            ],
        );
        let kernel = layer(
            "kernel",
            &[(
                "boot/config",
                b"CMDLINE=\"/home/dev/.cache/softap/tmp/x\"\nSRC=/home/dev/src/softap/x\n",
            )],
        );
        let err = check(&[base, kernel], &host().needles()).unwrap_err();
        let HygieneError::Found(found) = &err else {
            panic!("{err}");
        };
        let got: Vec<(&str, &str, What)> = found
            .iter()
            .map(|f| (f.layer.as_str(), f.path.as_str(), f.what))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "base",
                    "etc/.resolv.conf.systemd-resolved.bak",
                    What::Nameserver
                ),
                ("base", "etc/hosts", What::Hostname),
                ("base", "var/lib/x", What::MachineId),
                ("kernel", "boot/config", What::Path),
                ("kernel", "boot/config", What::Path),
            ]
        );
        let nested = HostData {
            paths: vec!["/home/dev/src".into(), "/home/dev/src/softap".into()],
            ..HostData::default()
        };
        let l = layer("base", &[("x", b"at /home/dev/src/softap/images\n")]);
        let HygieneError::Found(found) = check(&[l], &nested.needles()).unwrap_err() else {
            panic!("not a finding");
        };
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].found, "/home/dev/src/softap");
        assert!(err.to_string().starts_with(
            "build-host data in the image: layer base: /etc/.resolv.conf.systemd-resolved.bak: the build host's nameserver `10.0.2.3`"
        ), "{err}");
    }

    #[test]
    fn longer_tokens_are_not_the_needle() {
        let l = layer(
            "base",
            &[
                ("a", b"nameserver 10.0.2.30\nserver 110.0.2.3\n"),
                ("b", b"buildbox-77 mybuildbox-7\n"),
                ("c", b"/home/dev/src/softapx /opt/home/dev/src/softap2\n"),
            ],
        );
        check(&[l], &host().needles()).unwrap();
        let below = layer("base", &[("d", b"see /home/dev/src/softap/README\n")]);
        assert!(check(&[below], &host().needles()).is_err());
    }

    #[test]
    fn only_the_first_bytes_are_read() {
        let mut big = vec![b'x'; READ_CAP as usize];
        big.extend_from_slice(b" 10.0.2.3\n");
        check(&[layer("base", &[("big", &big)])], &host().needles()).unwrap();
    }
}
