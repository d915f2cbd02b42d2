//! Between steps 1 and 2, before the network starts: the upstream links whose kernel
//! handles router advertisements keep taking them while libvirt turns IPv6
//! forwarding on (`accept_ra` 2; see `plan::ra`), so libvirt starts the
//! network's IPv6 and the upstream keeps its own. Each link's value from
//! before is kept on the state volume for `softap-agent down`; a record
//! already there holds the host's value from before an earlier run and
//! stays.

use std::path::PathBuf;
use std::time::Instant;

use super::{note, ApplyError, Run, Undo};
use crate::fsutil;
use crate::plan::ra::ROUTER_ACCEPT_RA;
use crate::runtime::{accept_ra_key, ACCEPT_RA_BEFORE_DIR};

/// Where a link's value from before is kept, under `root`.
pub(super) fn record_path(root: &std::path::Path, link: &str) -> PathBuf {
    fsutil::under(root, ACCEPT_RA_BEFORE_DIR).join(link)
}

impl Run<'_> {
    pub(super) fn accept_ra(&mut self) -> Result<(), ApplyError> {
        let host = self.host;
        let plan = self.plan;
        if plan.accept_ra.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let mut done = Vec::new();
        let to = ROUTER_ACCEPT_RA.to_string();
        for fix in &plan.accept_ra {
            let record = record_path(host.root(), &fix.link);
            if !record.exists() {
                let before = format!("{}\n", fix.from);
                if let Err(e) = host.write_atomic(&record, before.as_bytes(), 0o644) {
                    return Err(self.fail("accept_ra", e, None));
                }
                self.undo.accept_ra_records.push(record);
            }
            if let Err(e) = host.set_sysctl(&accept_ra_key(&fix.link), &to) {
                return Err(self.fail("accept_ra", e, None));
            }
            self.undo.accept_ra.push((fix.link.clone(), fix.from));
            done.push(format!("{} {} -> {to}", fix.link, fix.from));
        }
        self.record("accept_ra", start, true, done.join(", "));
        Ok(())
    }

    pub(super) fn undo_accept_ra(&self, undo: &Undo, problems: &mut Vec<String>) {
        for (link, from) in undo.accept_ra.iter().rev() {
            note(
                problems,
                self.host
                    .set_sysctl(&accept_ra_key(link), &from.to_string()),
            );
        }
        for record in &undo.accept_ra_records {
            note(problems, self.host.remove(record));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::plan::ra::AcceptRa;

    fn with_fix(c: &mut Case) {
        c.plan.accept_ra = vec![AcceptRa {
            link: "eth0".into(),
            from: 1,
            kernel_routes: true,
        }];
    }

    #[test]
    fn accept_ra_goes_to_2_before_the_network_starts_and_the_value_before_is_kept() {
        let mut c = case();
        with_fix(&mut c);
        let host = c.host();
        let out = c.apply(&host).unwrap();
        let steps: Vec<&str> = out.steps.iter().map(|s| s.step).collect();
        assert_eq!(steps[..3], ["files", "accept_ra", "libvirt"]);
        let cmds = strs(&out.commands);
        assert_eq!(cmds[0], "sysctl -w net/ipv6/conf/eth0/accept_ra=2");
        let record = super::record_path(c.root(), "eth0");
        assert_eq!(std::fs::read_to_string(&record).unwrap(), "1\n");
        // A second run keeps the host's value from before the first.
        let host = c.host();
        std::fs::write(&record, "0\n").unwrap();
        c.apply(&host).unwrap();
        assert_eq!(std::fs::read_to_string(&record).unwrap(), "0\n");
    }

    #[test]
    fn a_later_failure_puts_accept_ra_back_and_forgets_the_record() {
        let mut c = case();
        with_fix(&mut c);
        let host = c.host().fail(Fault::Ap);
        c.apply(&host).unwrap_err();
        let all = host.commands();
        let cmds = strs(&all);
        assert!(
            cmds.contains(&"sysctl -w net/ipv6/conf/eth0/accept_ra=1"),
            "{cmds:?}"
        );
        assert!(!super::record_path(c.root(), "eth0").exists());
    }

    #[test]
    fn a_refused_write_fails_the_step_naming_the_parameter() {
        let mut c = case();
        with_fix(&mut c);
        let host = c.host().fail(Fault::Write("eth0/accept_ra".into()));
        let e = c.apply(&host).unwrap_err().to_string();
        assert!(
            e.starts_with("accept_ra: /proc/sys/net/ipv6/conf/eth0/accept_ra"),
            "{e}"
        );
    }
}
