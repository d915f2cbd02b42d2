//! Steps 3 and 4: networkd makes the AP interface on the phy found now,
//! and NetworkManager, when the machine runs it, keeps off it.

use std::time::Instant;

use super::{note, ApplyError, Changed, Run, StepFailure, Undo};
use crate::cmd::CmdError;
use crate::fsutil;
use crate::host::Host;
use crate::runtime::{NETWORKD_UNIT, NM_UNMANAGED_RECORD};

impl Run<'_> {
    // 3. networkd makes the AP interface on the phy found now.

    /// Returns whether networkd was reloaded (the interface may be new).
    pub(super) fn networkd(&mut self, changed: Changed) -> Result<bool, ApplyError> {
        let host = self.host;
        let plan = self.plan;
        let start = Instant::now();
        let iface = plan.interface.as_str();
        let existed = host.dry_run() || host.link_exists(iface);
        let mut did = Vec::new();
        if changed.networkd || !existed {
            if changed.netdev && existed && !host.dry_run() {
                // A netdev is created once; on another phy it must be recreated.
                if let Err(e) = delete_wlan(host, iface) {
                    return Err(self.fail("networkd", e, Some(NETWORKD_UNIT)));
                }
                did.push("old interface deleted");
            }
            if let Err(e) = host.change(&["networkctl", "reload"]) {
                return Err(self.fail("networkd", e, Some(NETWORKD_UNIT)));
            }
            self.undo.networkd_reloaded = true;
            self.undo.link_created = !existed || changed.networkd;
            did.push("reloaded");
        }
        if !host.wait_link(iface, self.timeouts.link) {
            let m = format!(
                "the interface {iface} did not appear on {} within {:?} (check that the phy still exists: `iw dev`, `networkctl status {iface}`)",
                plan.phy.name, self.timeouts.link
            );
            return Err(self.fail("networkd", StepFailure::Missing(m), Some(NETWORKD_UNIT)));
        }
        let detail = if did.is_empty() {
            format!("{iface} on {} unchanged", plan.phy.name)
        } else {
            format!("{iface} on {}: {}", plan.phy.name, did.join(", "))
        };
        self.record("networkd", start, !did.is_empty(), detail);
        Ok(!did.is_empty())
    }

    pub(super) fn undo_networkd(&self, undo: &Undo, problems: &mut Vec<String>) {
        if undo.networkd_reloaded {
            if undo.link_created {
                note(problems, delete_wlan(self.host, &self.plan.interface));
            }
            note(problems, self.host.change(&["networkctl", "reload"]));
        }
    }

    // 4. NetworkManager, when the machine runs it, keeps off the AP
    // interface while the AP runs (see `nm`). Absent, nothing happens.

    pub(super) fn networkmanager(&mut self) -> Result<(), ApplyError> {
        let host = self.host;
        let start = Instant::now();
        let Some(nm) = crate::nm::Nm::find(host) else {
            return Ok(());
        };
        let iface = self.plan.interface.as_str();
        let Some(device) = nm.wait_device(host, iface, self.timeouts.link) else {
            let m = format!(
                "NetworkManager ({}) did not list the interface {iface} within {:?}; it would take it over once it does (`nmcli device`)",
                nm.address(),
                self.timeouts.link
            );
            return Err(self.fail("networkmanager", StepFailure::Missing(m), None));
        };
        // Set even when the property already reads false: NetworkManager
        // reports a device it has just seen as unmanaged until udev has set
        // it up, and then manages it. Set explicitly, it stays unmanaged for
        // as long as the device exists.
        let changed = nm.managed(host, &device) != Some(false);
        if let Err(e) = nm.set_managed(host, &device, false) {
            return Err(self.fail("networkmanager", e, None));
        }
        if changed {
            self.undo.nm_unmanaged = Some((nm.clone(), device.clone()));
            // For `softap-agent down`, after this process is gone.
            let record = fsutil::under(host.root(), NM_UNMANAGED_RECORD);
            if let Err(e) = host.write_atomic(&record, format!("{iface}\n").as_bytes(), 0o644) {
                return Err(self.fail("networkmanager", e, None));
            }
        }
        self.record(
            "networkmanager",
            start,
            changed,
            format!(
                "{iface} ({device}) {} by NetworkManager on {}",
                if changed {
                    "now unmanaged"
                } else {
                    "read unmanaged, set unmanaged for good"
                },
                nm.address()
            ),
        );
        Ok(())
    }

    pub(super) fn undo_networkmanager(&self, undo: &Undo, problems: &mut Vec<String>) {
        if let Some((nm, device)) = &undo.nm_unmanaged {
            note(problems, nm.set_managed(self.host, device, true));
            let record = fsutil::under(self.host.root(), NM_UNMANAGED_RECORD);
            let _ = self.host.remove(&record);
        }
    }
}

/// Deletes a wireless interface so that `networkctl reload` makes it again
/// from the current netdev file. systemd 252's `networkctl delete` answers
/// "Operation not supported" for a `Kind=wlan` netdev; nl80211 deletes it
/// (via `iw`, shipped in the image). An interface already gone is fine.
fn delete_wlan(host: &dyn Host, iface: &str) -> Result<String, CmdError> {
    if !host.dry_run() && !host.link_exists(iface) {
        return Ok(String::new());
    }
    host.change(&["iw", "dev", iface, "del"])
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    fn with_networkmanager(host: Fake) -> Fake {
        let bus = "busctl --address=unix:path=/run/host/dbus/system_bus_socket";
        host.answer(&format!("{bus} call org.freedesktop.DBus"), "b true")
            .answer(
                &format!("{bus} call org.freedesktop.NetworkManager"),
                "o \"/org/freedesktop/NetworkManager/Devices/9\"",
            )
            .answer(&format!("{bus} get-property"), "b true")
    }

    const NM_SET: &str =
        "busctl --address=unix:path=/run/host/dbus/system_bus_socket set-property \
        org.freedesktop.NetworkManager /org/freedesktop/NetworkManager/Devices/9 \
        org.freedesktop.NetworkManager.Device Managed b";

    #[test]
    fn networkmanager_leaves_the_ap_interface_before_hostapd_starts() {
        let c = case();
        let host = with_networkmanager(c.host());
        let out = c.apply(&host).unwrap();
        let steps: Vec<&str> = out.steps.iter().map(|s| s.step).collect();
        assert_eq!(
            steps,
            [
                "files",
                "libvirt",
                "networkd",
                "networkmanager",
                "hostapd",
                "verify"
            ]
        );
        let cmds = strs(&out.commands);
        let unmanaged = cmds.iter().position(|c| *c == format!("{NM_SET} false"));
        let hostapd = cmds.iter().position(|c| c.starts_with("systemctl restart"));
        assert!(unmanaged.is_some() && unmanaged < hostapd, "{cmds:?}");
        let record = fsutil::under(c.root.path(), NM_UNMANAGED_RECORD);
        assert_eq!(std::fs::read_to_string(record).unwrap(), "softap\n");
    }

    #[test]
    fn a_device_that_reads_unmanaged_is_set_unmanaged_all_the_same() {
        let c = case();
        let bus = "busctl --address=unix:path=/run/host/dbus/system_bus_socket";
        let host = c
            .host()
            .answer(&format!("{bus} get-property"), "b false")
            .answer(&format!("{bus} call org.freedesktop.DBus"), "b true")
            .answer(
                &format!("{bus} call org.freedesktop.NetworkManager"),
                "o \"/org/freedesktop/NetworkManager/Devices/9\"",
            );
        let out = c.apply(&host).unwrap();
        let sets: Vec<&String> = out
            .commands
            .iter()
            .filter(|c| c.contains("set-property"))
            .collect();
        assert_eq!(sets.len(), 1, "{sets:?}");
        assert!(sets[0].ends_with("Managed b false"), "{sets:?}");
        let nm = out
            .steps
            .iter()
            .find(|s| s.step == "networkmanager")
            .unwrap();
        assert!(!nm.changed, "{nm:?}");
    }

    #[test]
    fn a_failure_after_networkmanager_gives_the_device_back() {
        let c = case();
        let host = with_networkmanager(c.host()).fail(Fault::Ap);
        let (step, problems, _) = c.fail(&host, "none");
        assert_eq!(step, "verify");
        assert!(problems.is_empty(), "{problems:?}");
        let cmds = host.commands();
        let given_back = cmds.iter().position(|c| *c == format!("{NM_SET} true"));
        let deleted = cmds.iter().rposition(|c| c == "networkctl reload");
        assert!(given_back.is_some() && given_back < deleted, "{cmds:?}");
        assert!(!fsutil::under(c.root.path(), NM_UNMANAGED_RECORD).exists());
    }

    #[test]
    fn networkmanager_that_never_lists_the_interface_fails_the_step() {
        let c = case();
        let bus = "busctl --address=unix:path=/run/host/dbus/system_bus_socket";
        let host = c
            .host()
            .answer(&format!("{bus} call org.freedesktop.DBus"), "b true");
        let timeouts = Timeouts {
            link: Duration::from_millis(300),
            ..Timeouts::default()
        };
        let e = apply(&host, &c.plan, &c.files, &State::default(), &timeouts).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("networkmanager: NetworkManager"), "{text}");
        assert!(text.contains("rolled back"), "{text}");
        assert!(!host.commands().iter().any(|c| c.contains("set-property")));
    }

    #[test]
    fn a_failed_networkd_reload_rolls_back_libvirt_and_the_files() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Command("networkctl reload".into()));
        let (step, problems, after) = c.fail(&host, "networkctl reload");
        assert_eq!(step, "networkd");
        // The reload that failed is tried again by nobody: nothing to undo.
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(
            strs(&after),
            [
                format!("virsh net-destroy {n}"),
                format!("virsh net-undefine {n}")
            ]
        );
        assert!(c.written().is_empty());
    }

    #[test]
    fn an_interface_that_never_appears_reloads_networkd_again() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Link(c.plan.interface.clone()));
        let (step, _, after) = c.fail(&host, "networkctl reload");
        assert_eq!(step, "networkd");
        assert_eq!(
            strs(&after),
            [
                format!("virsh net-destroy {n}"),
                format!("virsh net-undefine {n}"),
                "networkctl reload".to_string(),
            ]
        );
    }
}
