//! The machine-readable lines the guest overlay prints to the serial console.
//!
//! ```text
//! SOFTAP-E2E <check> ok|fail <detail...>    one assertion
//! SOFTAP-E2E-INFO <key> <value...>          a value the harness compares across boots
//! SOFTAP-E2E-TIME <event> <seconds>         guest uptime at an event (figures)
//! SOFTAP-E2E-DONE <scenario>                the guest has finished
//! ```
//! The marker may be preceded by anything (a console prefix, escape codes),
//! since the systemd status output shares the serial line.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Check {
        name: String,
        outcome: Outcome,
        detail: String,
    },
    Info {
        key: String,
        value: String,
    },
    Time {
        event: String,
        seconds: f64,
    },
    Done {
        scenario: String,
    },
}

const CHECK: &str = "SOFTAP-E2E ";
const INFO: &str = "SOFTAP-E2E-INFO ";
const TIME: &str = "SOFTAP-E2E-TIME ";
const DONE: &str = "SOFTAP-E2E-DONE ";
const DUMP_PREFIXES: &[&str] = &["E2E-DIAG ", "E2E-AGENT ", "E2E-DETECT "];

/// Parses one console line; `None` when it carries no (well-formed) marker.
pub fn parse_line(raw: &str) -> Option<Line> {
    let line = raw.trim_end_matches(['\r', '\n']);
    // The overlay's dumps (journal, agent log, detect) repeat earlier result
    // lines from the journal; only the lines said directly count.
    let marker_at = line.find("SOFTAP-E2E")?;
    if DUMP_PREFIXES
        .iter()
        .any(|p| line.find(p).is_some_and(|at| at < marker_at))
    {
        return None;
    }
    if let Some(rest) = after(line, DONE) {
        let scenario = rest.split_whitespace().next()?.to_owned();
        return Some(Line::Done { scenario });
    }
    if let Some(rest) = after(line, INFO) {
        let (key, value) = split_word(rest)?;
        return Some(Line::Info {
            key: key.to_owned(),
            value: value.to_owned(),
        });
    }
    if let Some(rest) = after(line, TIME) {
        let (event, value) = split_word(rest)?;
        let seconds = value.split_whitespace().next()?.parse().ok()?;
        return Some(Line::Time {
            event: event.to_owned(),
            seconds,
        });
    }
    if let Some(rest) = after(line, CHECK) {
        let (name, rest) = split_word(rest)?;
        let (word, detail) = split_word(rest).unwrap_or((rest.trim(), ""));
        let outcome = match word {
            "ok" => Outcome::Ok,
            "fail" => Outcome::Fail,
            _ => return None,
        };
        return Some(Line::Check {
            name: name.to_owned(),
            outcome,
            detail: detail.to_owned(),
        });
    }
    None
}

/// The text after the first `marker` anywhere in the line. The markers end in
/// a space, so `SOFTAP-E2E ` never matches inside `SOFTAP-E2E-INFO `.
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|at| &line[at + marker.len()..])
}

fn split_word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    match s.find(char::is_whitespace) {
        Some(at) => Some((&s[..at], s[at..].trim())),
        None => Some((s, "")),
    }
}

/// Everything a boot reported, in order of appearance.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Checks by name; a check reported twice keeps every outcome.
    pub checks: BTreeMap<String, Vec<(Outcome, String)>>,
    pub info: BTreeMap<String, String>,
    pub times: BTreeMap<String, f64>,
    pub done: Option<String>,
}

impl Report {
    pub fn add(&mut self, line: Line) {
        match line {
            Line::Check {
                name,
                outcome,
                detail,
            } => self.checks.entry(name).or_default().push((outcome, detail)),
            Line::Info { key, value } => {
                self.info.insert(key, value);
            }
            Line::Time { event, seconds } => {
                self.times.insert(event, seconds);
            }
            Line::Done { scenario } => self.done = Some(scenario),
        }
    }

    pub fn from_text(text: &str) -> Report {
        let mut report = Report::default();
        text.lines()
            .filter_map(parse_line)
            .for_each(|l| report.add(l));
        report
    }

    /// Problems with the expected checks: missing, or any outcome `fail`.
    pub fn problems(&self, expected: &[&str]) -> Vec<String> {
        let mut problems = Vec::new();
        for name in expected {
            match self.checks.get(*name) {
                None => problems.push(format!("check `{name}` was never reported")),
                Some(outcomes) => {
                    for (outcome, detail) in outcomes {
                        if *outcome == Outcome::Fail {
                            problems.push(format!("check `{name}` failed: {detail}"));
                        }
                    }
                }
            }
        }
        // A failure the guest reported under a name the scenario did not
        // expect is still a failure.
        for (name, outcomes) in &self.checks {
            if expected.contains(&name.as_str()) {
                continue;
            }
            for (outcome, detail) in outcomes {
                if *outcome == Outcome::Fail {
                    problems.push(format!("check `{name}` failed: {detail}"));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_check_with_detail() {
        assert_eq!(
            parse_line("SOFTAP-E2E lease ok 10.3.128.17/16 in 10.3.0.0/16\r\n"),
            Some(Line::Check {
                name: "lease".into(),
                outcome: Outcome::Ok,
                detail: "10.3.128.17/16 in 10.3.0.0/16".into()
            })
        );
    }

    #[test]
    fn parses_a_failure_without_detail() {
        assert_eq!(
            parse_line("SOFTAP-E2E sae fail"),
            Some(Line::Check {
                name: "sae".into(),
                outcome: Outcome::Fail,
                detail: String::new()
            })
        );
    }

    #[test]
    fn finds_the_marker_after_console_noise() {
        let line = "\x1b[0m[  OK  ] Started x.\x1b[KSOFTAP-E2E phy ok phy0";
        assert!(matches!(parse_line(line), Some(Line::Check { name, .. }) if name == "phy"));
    }

    #[test]
    fn info_time_and_done_are_not_checks() {
        assert_eq!(
            parse_line("SOFTAP-E2E-INFO subnet 10.3.0.0/16"),
            Some(Line::Info {
                key: "subnet".into(),
                value: "10.3.0.0/16".into()
            })
        );
        assert_eq!(
            parse_line("SOFTAP-E2E-TIME ap-enabled 23.51"),
            Some(Line::Time {
                event: "ap-enabled".into(),
                seconds: 23.51
            })
        );
        assert_eq!(
            parse_line("SOFTAP-E2E-DONE a"),
            Some(Line::Done {
                scenario: "a".into()
            })
        );
    }

    #[test]
    fn journal_echoes_in_the_dumps_are_not_results() {
        for line in [
            "E2E-DIAG [   85.34] softap run[493]: SOFTAP-E2E watch fail old news",
            "E2E-AGENT [ 1.0] x: SOFTAP-E2E-DONE a",
            "E2E-DETECT SOFTAP-E2E-INFO subnet 1.2.3.0/24",
            "softap login: E2E-DIAG [ 9.1] run[1]: SOFTAP-E2E ap ok",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn rejects_malformed_lines() {
        for line in [
            "",
            "SOFTAP-E2E",
            "SOFTAP-E2E phy",
            "SOFTAP-E2E phy maybe",
            "SOFTAP-E2E-TIME x notanumber",
            "SOFTAP-E2E-DONE ",
            "echo SOFTAP-E2Ex ok",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn report_lists_missing_and_failed_checks() {
        let report = Report::from_text(
            "SOFTAP-E2E phy ok phy0\n\
             SOFTAP-E2E wpa2 fail no association after 20 s\n\
             SOFTAP-E2E extra fail something else\n\
             SOFTAP-E2E-DONE a\n",
        );
        let problems = report.problems(&["phy", "wpa2", "sae"]);
        assert_eq!(
            problems,
            vec![
                "check `wpa2` failed: no association after 20 s".to_owned(),
                "check `sae` was never reported".to_owned(),
                "check `extra` failed: something else".to_owned(),
            ]
        );
        assert_eq!(report.done.as_deref(), Some("a"));
    }

    #[test]
    fn a_check_reported_ok_then_fail_is_a_problem() {
        let report = Report::from_text("SOFTAP-E2E ping ok\nSOFTAP-E2E ping fail later\n");
        assert_eq!(report.problems(&["ping"]).len(), 1);
    }
}
