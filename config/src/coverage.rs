//! The Wi-Fi coverage report's text: for every Wi-Fi driver module of an
//! image's kernel, the firmware groups it declares and the file the image
//! has for each. The builder writes it into the disk
//! ([`crate::paths::WIFI_COVERAGE_FILE`]) and the agent parses it back to
//! say why a loaded driver has no phy; both go through this one writer and
//! parser, so the format cannot drift between them. Pure.

use std::fmt::Write;

use serde::Serialize;

/// The header: how a person reads the file.
const HEADER: &str = "\
# Wi-Fi drivers of this image's kernel and the firmware the image has for them,
# from each module's declared firmware (modinfo -F firmware); made by softap-build.
# module NAME FILE groups=G present=P missing=M, then per firmware group
# `present GROUP FILE` or `missing GROUP`. {N<=77} is any version up to 77 (the
# driver tries the newest first, some also the unnumbered name); * is any name.
";

/// One kernel's Wi-Fi driver modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelReport {
    pub kernel: String,
    /// In the order they are written (the builder sorts them by name).
    pub modules: Vec<ModuleReport>,
}

/// One driver module and its firmware groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleReport {
    /// The name the kernel loads it as.
    pub name: String,
    /// Its file, relative to the kernel's module directory.
    pub file: String,
    pub groups: Vec<GroupReport>,
}

/// One firmware group: its name (`iwlwifi-cc-a0-{N<=77}.ucode`) and what
/// the image has for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    pub group: String,
    pub found: Found,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Missing,
    /// The best file present and how many others would also do.
    Present {
        file: String,
        more: usize,
    },
}

/// The counts of one kernel's report, as its `totals` line and the
/// builder's `--json` give them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Wi-Fi driver modules.
    pub modules: usize,
    /// Those declaring any firmware.
    pub with_firmware: usize,
    /// Those with every declared group present.
    pub covered: usize,
    pub groups: usize,
    pub present: usize,
    pub missing: usize,
}

impl ModuleReport {
    /// The groups with a file present.
    pub fn present(&self) -> usize {
        self.groups
            .iter()
            .filter(|g| matches!(g.found, Found::Present { .. }))
            .count()
    }

    /// The names of the groups with no file, in order.
    pub fn missing(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .filter(|g| g.found == Found::Missing)
            .map(|g| g.group.as_str())
    }
}

impl KernelReport {
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for m in &self.modules {
            let present = m.present();
            t.modules += 1;
            if !m.groups.is_empty() {
                t.with_firmware += 1;
                if present == m.groups.len() {
                    t.covered += 1;
                }
            }
            t.groups += m.groups.len();
            t.present += present;
            t.missing += m.groups.len() - present;
        }
        t
    }
}

/// The report file: the header, then per kernel a `kernel` line, a `module`
/// line per driver with a line per firmware group, and a `totals` line.
/// The same reports give the same bytes.
pub fn write(kernels: &[KernelReport]) -> String {
    let mut s = String::from(HEADER);
    for k in kernels {
        // Writing to a String cannot fail.
        let _ = writeln!(s, "kernel {}", k.kernel);
        for m in &k.modules {
            let present = m.present();
            let _ = writeln!(
                s,
                "module {} {} groups={} present={present} missing={}",
                m.name,
                m.file,
                m.groups.len(),
                m.groups.len() - present
            );
            for g in &m.groups {
                let _ = match &g.found {
                    Found::Missing => writeln!(s, "  missing {}", g.group),
                    Found::Present { file, more: 0 } => {
                        writeln!(s, "  present {} {file}", g.group)
                    }
                    Found::Present { file, more } => {
                        writeln!(s, "  present {} {file} (and {more} more)", g.group)
                    }
                };
            }
        }
        let t = k.totals();
        let _ = writeln!(
            s,
            "totals modules={} with-firmware={} covered={} groups={} present={} missing={}",
            t.modules, t.with_firmware, t.covered, t.groups, t.present, t.missing
        );
    }
    s
}

/// A line [`parse`] cannot place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}: {text:?}")]
pub struct ParseError {
    /// From 1.
    pub line: usize,
    pub problem: &'static str,
    pub text: String,
}

/// The reports in `text`, as [`write`] makes them. Comments and blank lines
/// are skipped; the counts on `module` and `totals` lines are not read, as
/// they follow from the group lines.
pub fn parse(text: &str) -> Result<Vec<KernelReport>, ParseError> {
    let mut kernels: Vec<KernelReport> = Vec::new();
    // Whether the last kernel is still open (no `totals` line yet).
    let mut open = false;
    for (i, line) in text.lines().enumerate() {
        let fail = |problem| ParseError {
            line: i + 1,
            problem,
            text: line.to_owned(),
        };
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if first.starts_with('#') {
            continue;
        }
        let kernel = kernels.last_mut().filter(|_| open);
        match (first, line.starts_with(' '), kernel) {
            ("kernel", false, _) => {
                let kernel = words.next().ok_or_else(|| fail("no kernel version"))?;
                kernels.push(KernelReport {
                    kernel: kernel.to_owned(),
                    modules: Vec::new(),
                });
                open = true;
            }
            ("module", false, Some(k)) => {
                let (Some(name), Some(file)) = (words.next(), words.next()) else {
                    return Err(fail("a module line needs a name and a file"));
                };
                k.modules.push(ModuleReport {
                    name: name.to_owned(),
                    file: file.to_owned(),
                    groups: Vec::new(),
                });
            }
            ("totals", false, Some(_)) => open = false,
            ("missing" | "present", true, Some(k)) => {
                let m = k
                    .modules
                    .last_mut()
                    .ok_or_else(|| fail("a firmware group outside a module"))?;
                let group = words.next().ok_or_else(|| fail("no group name"))?;
                let found = if first == "missing" {
                    Found::Missing
                } else {
                    let file = words.next().ok_or_else(|| fail("no file"))?;
                    let more = match (words.next(), words.next(), words.next()) {
                        (None, _, _) => 0,
                        (Some("(and"), Some(n), Some("more)")) => {
                            n.parse().map_err(|_| fail("not a count"))?
                        }
                        _ => return Err(fail("unexpected words after the file")),
                    };
                    Found::Present {
                        file: file.to_owned(),
                        more,
                    }
                };
                m.groups.push(GroupReport {
                    group: group.to_owned(),
                    found,
                });
            }
            (_, _, None) => return Err(fail("outside a kernel's report")),
            _ => return Err(fail("not a line of the report")),
        }
    }
    Ok(kernels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(group: &str, file: &str, more: usize) -> GroupReport {
        GroupReport {
            group: group.to_owned(),
            found: Found::Present {
                file: file.to_owned(),
                more,
            },
        }
    }

    fn missing(group: &str) -> GroupReport {
        GroupReport {
            group: group.to_owned(),
            found: Found::Missing,
        }
    }

    fn module(name: &str, groups: Vec<GroupReport>) -> ModuleReport {
        ModuleReport {
            name: name.to_owned(),
            file: format!("kernel/drivers/net/wireless/{name}.ko.xz"),
            groups,
        }
    }

    fn sample() -> Vec<KernelReport> {
        vec![
            KernelReport {
                kernel: "6.12.0-amd64".to_owned(),
                modules: vec![
                    module(
                        "iwlwifi",
                        vec![
                            missing("iwlwifi-bz-b0-fm-c0-{N<=92}.ucode"),
                            present("iwlwifi-cc-a0-{N<=77}.ucode", "iwlwifi-cc-a0-72.ucode", 0),
                        ],
                    ),
                    module("mac80211_hwsim", vec![]),
                    module(
                        "ath11k_pci",
                        vec![present(
                            "ath11k/WCN6855/hw2.0/*",
                            "ath11k/WCN6855/hw2.0/amss.bin",
                            1,
                        )],
                    ),
                ],
            },
            KernelReport {
                kernel: "6.13.0-amd64".to_owned(),
                modules: vec![],
            },
        ]
    }

    #[test]
    fn the_text_parses_back_to_the_same_reports() {
        let text = write(&sample());
        assert_eq!(parse(&text), Ok(sample()));
        assert_eq!(parse(HEADER), Ok(vec![]));
    }

    #[test]
    fn totals_follow_from_the_groups() {
        assert_eq!(
            sample()[0].totals(),
            Totals {
                modules: 3,
                with_firmware: 2,
                covered: 1,
                groups: 3,
                present: 2,
                missing: 1,
            }
        );
        let text = write(&sample());
        assert!(text.contains(
            "\ntotals modules=3 with-firmware=2 covered=1 groups=3 present=2 missing=1\n"
        ));
        assert!(text.ends_with("kernel 6.13.0-amd64\ntotals modules=0 with-firmware=0 covered=0 groups=0 present=0 missing=0\n"));
    }

    #[test]
    fn misplaced_or_unknown_lines_are_refused_with_their_number() {
        let text = write(&sample());
        for (bad, line, problem) in [
            ("  missing x\n", 6, "outside a kernel's report"),
            (
                "kernel 1\n  missing x\n",
                7,
                "a firmware group outside a module",
            ),
            (
                "kernel 1\nmodule m\n",
                7,
                "a module line needs a name and a file",
            ),
            (
                "kernel 1\nmodule m f\n  present g f (and x more)\n",
                8,
                "not a count",
            ),
            (
                "kernel 1\nmodule m f\n  present g f soon\n",
                8,
                "unexpected words after the file",
            ),
            ("kernel 1\nfirmware x\n", 7, "not a line of the report"),
        ] {
            let e = parse(&format!("{HEADER}{bad}")).unwrap_err();
            assert_eq!((e.line, e.problem), (line, problem), "{bad:?}");
        }
        // After its totals a kernel takes no more lines.
        let e = parse(&format!("{text}module m f\n")).unwrap_err();
        assert_eq!(e.problem, "outside a kernel's report");
    }
}
