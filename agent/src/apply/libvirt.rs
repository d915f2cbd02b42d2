//! Step 2: the libvirt network defined, autostarted, started and its bridge
//! up; restarted when its definition moved, with the guests' ports given
//! back to libvirt and their interfaces plugged into the new bridge.

use std::time::Instant;

use super::{note, ApplyError, Changed, Run, StepFailure, Undo};
use crate::fsutil;
use crate::libvirt::{LibvirtError, NetInfo};
use crate::render::{Consumer, RenderedFile};
use crate::runtime::{LIBVIRT_UNIT, NETWORK_DEFINE_XML, NETWORK_PORT_XML, NETWORK_ROLLBACK_XML};
use crate::state::{content_hash, State};

/// Inserts `<uuid>` right after `<name>...</name>`.
fn with_uuid(xml: &str, uuid: &str) -> String {
    match xml.find("</name>") {
        Some(i) => {
            let at = i + "</name>".len();
            format!("{}\n  <uuid>{uuid}</uuid>{}", &xml[..at], &xml[at..])
        }
        None => xml.to_string(),
    }
}

impl Run<'_> {
    /// Returns whether the network was (re)started.
    pub(super) fn libvirt(
        &mut self,
        files: &[RenderedFile],
        previous: &State,
        changed: Changed,
    ) -> Result<bool, ApplyError> {
        let host = self.host;
        let plan = self.plan;
        let start = Instant::now();
        let name = plan.network_name.as_str();
        let xml_path = crate::render::NETWORK_XML;
        let virsh = &self.libvirt;
        let info = match virsh.net_info(name) {
            // Dry run: no libvirt to ask; the previous state says whether this
            // root has seen our network defined and started.
            Err(LibvirtError::NoSystem) => previous.subnet.map(|_| NetInfo {
                uuid: None,
                active: true,
                autostart: true,
                bridge: previous.bridge.clone(),
            }),
            Ok(info) => Some(info),
            // "Network not found": not defined yet.
            Err(_) => None,
        };
        let mut did = Vec::new();
        let subnet_moved = previous.subnet != Some(plan.subnet.net);
        let bridge_moved = info
            .as_ref()
            .is_some_and(|i| i.bridge.as_deref() != Some(plan.bridge.as_str()));
        let needs_define = info.is_none() || changed.libvirt;
        // A running network takes a new definition (reservations, the
        // domain, isolation, IPv6) only when restarted. Its rendered file is
        // under /run, so it is new at every boot: what the last completed
        // apply defined is the state's hash of it.
        let definition_moved = files
            .iter()
            .find(|f| f.consumer == Consumer::Libvirt)
            .is_some_and(|f| previous.files.get(f.path) != Some(&content_hash(&f.content)));
        let restart = info.as_ref().is_some_and(|i| i.active)
            && needs_define
            && (subnet_moved || bridge_moved || definition_moved);
        if needs_define {
            let old = info
                .as_ref()
                .and_then(|i| virsh.dumpxml_inactive(name).ok().map(|xml| (xml, i.active)));
            // libvirt refuses a definition of an existing name without its
            // UUID ("already exists with uuid"): redefine with the UUID it has.
            let define_path = match info.as_ref().and_then(|i| i.uuid.as_deref()) {
                Some(uuid) => {
                    let xml = files
                        .iter()
                        .find(|f| f.consumer == Consumer::Libvirt)
                        .map(|f| with_uuid(&f.content, uuid))
                        .unwrap_or_default();
                    let path = fsutil::under(host.root(), NETWORK_DEFINE_XML);
                    if let Err(e) = host.write_atomic(&path, xml.as_bytes(), 0o644) {
                        return Err(self.fail("libvirt", e, None));
                    }
                    NETWORK_DEFINE_XML
                }
                None => xml_path,
            };
            if let Err(e) = virsh.define(define_path) {
                return Err(self.fail("libvirt", e, Some(LIBVIRT_UNIT)));
            }
            // Only what succeeded is undone.
            self.undo.libvirt_new = info.is_none();
            self.undo.libvirt_old = old;
            did.push(if info.is_some() {
                "redefined"
            } else {
                "defined"
            });
        }
        // Stopping the network deletes its bridge and forgets its ports, and
        // libvirt does not plug running VMs' and containers' interfaces into
        // the new one (only a restart of their hypervisor driver would):
        // remember both.
        let (ports, guests): (Vec<String>, Vec<String>) = if restart {
            let old_bridge = info.as_ref().and_then(|i| i.bridge.as_deref());
            (
                // None where libvirt cannot say.
                virsh.port_documents(name).unwrap_or_default(),
                old_bridge
                    .map(|b| host.bridge_ports(b))
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|p| *p != plan.interface)
                    .collect(),
            )
        } else {
            Default::default()
        };
        if restart {
            if let Err(e) = virsh.destroy(name) {
                return Err(self.fail("libvirt", e, Some(LIBVIRT_UNIT)));
            }
            self.undo.libvirt_started = true;
            did.push(if subnet_moved || bridge_moved {
                "stopped for the new subnet"
            } else {
                "stopped for the new definition"
            });
        }
        if !info.as_ref().is_some_and(|i| i.autostart) {
            if let Err(e) = virsh.autostart(name) {
                return Err(self.fail("libvirt", e, Some(LIBVIRT_UNIT)));
            }
            did.push("autostart set");
        }
        let started = restart || !info.as_ref().is_some_and(|i| i.active);
        if started {
            if let Err(e) = virsh.start(name) {
                // libvirtd's own autostart may have started it meanwhile (it
                // reports ready before its networks are up).
                let now_active = virsh.net_info(name).is_ok_and(|i| i.active);
                if !now_active {
                    return Err(self.fail("libvirt", e, Some(LIBVIRT_UNIT)));
                }
            }
            self.undo.libvirt_started = true;
            did.push("started");
        }
        if !host.wait_link(&plan.bridge, self.timeouts.bridge) {
            let m = format!(
                "the bridge {} did not appear within {:?} after starting the libvirt network {name}",
                plan.bridge, self.timeouts.bridge
            );
            return Err(self.fail("libvirt", StepFailure::Missing(m), Some(LIBVIRT_UNIT)));
        }
        self.reclaim(&ports);
        let plugged = self.replug(&guests);
        let replugged = format!(
            "guests' interfaces plugged into the new bridge ({})",
            plugged.join(" ")
        );
        if !plugged.is_empty() {
            did.push(&replugged);
        }
        let detail = if did.is_empty() {
            format!("network {name} on {} unchanged and active", plan.bridge)
        } else {
            format!("network {name} on {}: {}", plan.bridge, did.join(", "))
        };
        self.record("libvirt", start, !did.is_empty(), detail);
        Ok(started)
    }

    /// Gives the stopped network's ports (`net-port-dumpxml` documents)
    /// back to libvirt, the same port (UUID, owner, MAC) created anew, so
    /// that it knows the guests again (`net-port-list`, their interfaces'
    /// release at shutdown). A failure is logged, not fatal.
    fn reclaim(&self, ports: &[String]) {
        let host = self.host;
        let name = self.plan.network_name.as_str();
        let path = fsutil::under(host.root(), NETWORK_PORT_XML);
        for xml in ports {
            let done = host
                .write_atomic(&path, port_to_create(xml).as_bytes(), 0o600)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    self.libvirt
                        .port_create(name, NETWORK_PORT_XML)
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = done {
                tracing::warn!("could not give libvirt back a port of {name}: {e}");
            }
        }
        // Only this step's own temporary: a leftover harms nothing.
        let _ = host.remove(&path);
    }

    /// Plugs `ports` (guests' interfaces of the stopped network's bridge)
    /// into the new bridge, isolated as libvirt would when clients are
    /// isolated. Ones gone meanwhile (a guest shut down) are skipped; a
    /// port that cannot be plugged is logged, not fatal: the AP serves
    /// without it, and the guest's hypervisor driver reconnects it at its
    /// next restart. Returns the ports plugged in.
    fn replug(&self, ports: &[String]) -> Vec<String> {
        let host = self.host;
        let bridge = self.plan.bridge.as_str();
        let mut done = Vec::new();
        for port in ports {
            if !host.link_exists(port) {
                continue;
            }
            let mut result = host.change(&["ip", "link", "set", "dev", port, "master", bridge]);
            if result.is_ok() && self.plan.isolate_clients {
                result = host.change(&[
                    "ip",
                    "link",
                    "set",
                    "dev",
                    port,
                    "type",
                    "bridge_slave",
                    "isolated",
                    "on",
                ]);
            }
            match result {
                Ok(_) => done.push(port.clone()),
                Err(e) => tracing::warn!("could not plug {port} into {bridge}: {e}"),
            }
        }
        done
    }

    pub(super) fn undo_libvirt(&self, undo: &Undo, problems: &mut Vec<String>) {
        let host = self.host;
        let virsh = &self.libvirt;
        let name = self.plan.network_name.as_str();
        if undo.libvirt_new {
            if undo.libvirt_started {
                note(problems, virsh.destroy(name));
            }
            note(problems, virsh.undefine(name));
        } else if let Some((xml, was_active)) = &undo.libvirt_old {
            // Under /run/softap, root's own directory, written and renamed
            // like every other file: no name another user could have placed.
            let path = fsutil::under(host.root(), NETWORK_ROLLBACK_XML);
            match host.write_atomic(&path, xml.as_bytes(), 0o600) {
                Ok(()) => {
                    note(problems, virsh.define(NETWORK_ROLLBACK_XML));
                    let _ = host.remove(&path);
                }
                Err(e) => problems.push(e.to_string()),
            }
            if undo.libvirt_started {
                note(problems, virsh.destroy(name));
                if *was_active {
                    note(problems, virsh.start(name));
                }
            }
        }
    }
}

/// A port as `net-port-dumpxml` gives it, without its `<plug>` (where the
/// network put it): libvirt creates a port only from one it places itself.
fn port_to_create(xml: &str) -> String {
    xml.lines()
        .filter(|l| !l.trim_start().starts_with("<plug"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::with_uuid;
    use crate::apply::StepFailure;
    use crate::libvirt::LibvirtError;

    #[test]
    fn a_new_subnet_plugs_the_guests_of_the_old_bridge_into_the_new_one() {
        let mut c = case();
        let n = c.plan.network_name.clone();
        let bridge = c.plan.bridge.clone();
        let ap = c.plan.interface.clone();
        let previous = State {
            subnet: Some("10.99.0.0/24".parse().unwrap()),
            ..State::default()
        };
        let host = |c: &Case| {
            c.host()
                .answer(
                    "virsh -q net-info",
                    &format!("Name: {n}\nUUID: u-1\nActive: yes\nPersistent: yes\nAutostart: yes\nBridge: {bridge}\n"),
                )
                .answer("virsh net-port-list --uuid", "5d3f0c1e-0000-4000-8000-000000000001\n")
                .answer(
                    "virsh net-port-dumpxml",
                    "<networkport>\n  <uuid>5d3f0c1e-0000-4000-8000-000000000001</uuid>\n  <owner>\n    <name>vm1</name>\n    <uuid>5d3f0c1e-0000-4000-8000-000000000002</uuid>\n  </owner>\n  <mac address='52:54:00:5f:e2:10'/>\n  <plug type='network' bridge='virbr0'/>\n</networkport>\n",
                )
                .port(&bridge, &ap)
                .port(&bridge, "vnet0")
        };
        let run = |c: &Case, h: &Fake| {
            apply(h, &c.plan, &c.files, &previous, &Timeouts::default()).unwrap();
            let cmds = h.commands();
            let start = cmds
                .iter()
                .position(|x| *x == format!("virsh net-start {n}"));
            let plugged = cmds
                .iter()
                .position(|x| *x == format!("ip link set dev vnet0 master {bridge}"));
            assert!(start.is_some() && plugged > start, "{cmds:?}");
            // libvirt gets its port back, after the start.
            let reclaimed = cmds
                .iter()
                .position(|x| *x == format!("virsh net-port-create {n} {NETWORK_PORT_XML}"));
            assert!(reclaimed > start, "{cmds:?}");
            // The AP interface is hostapd's to plug in.
            assert!(!cmds.iter().any(|x| x.contains(&format!("dev {ap} master"))));
            cmds
        };
        let cmds = run(&c, &host(&c));
        assert!(!cmds.iter().any(|x| x.contains("isolated")), "{cmds:?}");
        c.plan.isolate_clients = true;
        let templates = crate::render::Templates::embedded();
        c.files = crate::render::render(&c.plan, Some("a passphrase"), &templates).unwrap();
        let cmds = run(&c, &host(&c));
        assert!(
            cmds.contains(&"ip link set dev vnet0 type bridge_slave isolated on".to_string()),
            "{cmds:?}"
        );
    }

    #[test]
    fn a_running_network_restarts_only_for_a_definition_it_has_not_had() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = || {
            c.host().answer(
                "virsh -q net-info",
                &format!(
                    "Name: {n}\nUUID: u-1\nActive: yes\nPersistent: yes\nAutostart: yes\nBridge: {}\n",
                    c.plan.bridge
                ),
            )
        };
        let applied = new_state(&c.plan, None, &State::default(), "h", &c.files);
        let destroy = format!("virsh net-destroy {n}");
        // A reboot: the file under /run is new, the definition is not.
        let h = host();
        apply(&h, &c.plan, &c.files, &applied, &Timeouts::default()).unwrap();
        assert!(!h.commands().contains(&destroy), "{:?}", h.commands());
        // A reservation added, same subnet: the running network must take it.
        let mut before = applied.clone();
        before.files.clear();
        let h = host();
        let _ = std::fs::remove_file(fsutil::under(c.root.path(), crate::render::NETWORK_XML));
        apply(&h, &c.plan, &c.files, &before, &Timeouts::default()).unwrap();
        let cmds = h.commands();
        let destroy_at = cmds.iter().position(|x| *x == destroy);
        let start_at = cmds
            .iter()
            .position(|x| *x == format!("virsh net-start {n}"));
        assert!(destroy_at.is_some() && start_at > destroy_at, "{cmds:?}");
    }

    /// A machine whose system bus has NetworkManager, which lists the AP

    #[test]
    fn a_failed_network_start_undefines_the_new_network_and_removes_the_files() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Command("virsh net-start".into()));
        let (step, problems, after) = c.fail(&host, "virsh net-start");
        assert_eq!(step, "libvirt");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(strs(&after), [format!("virsh net-undefine {n}")]);
        assert!(c.written().is_empty());
    }

    #[test]
    fn a_bridge_that_never_appears_destroys_and_undefines_the_network() {
        let c = case();
        let n = c.plan.network_name.clone();
        let host = c.host().fail(Fault::Link(c.plan.bridge.clone()));
        let (step, _, after) = c.fail(&host, "virsh net-start");
        assert_eq!(step, "libvirt");
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
    fn a_redefined_network_gets_its_old_definition_back_without_following_links() {
        let c = case();
        let n = c.plan.network_name.clone();
        let old = "<network><name>softap</name><uuid>u-1</uuid></network>\n";
        let host = c
            .host()
            .answer(
                "virsh -q net-info",
                &format!("Name: {n}\nUUID: u-1\nActive: no\nAutostart: yes\n"),
            )
            .answer("virsh net-dumpxml --inactive", old)
            .fail(Fault::Ap);
        // A link planted where the rollback writes must not be followed.
        let victim = c.root.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let rollback = fsutil::under(c.root.path(), NETWORK_ROLLBACK_XML);
        std::fs::create_dir_all(rollback.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&victim, &rollback).unwrap();
        let (step, problems, after) = c.fail(&host, "systemctl restart");
        assert_eq!(step, "verify");
        assert!(problems.is_empty(), "{problems:?}");
        let define = format!("virsh net-define {NETWORK_ROLLBACK_XML}");
        assert!(after.contains(&define), "{after:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        assert!(!rollback.exists() && rollback.symlink_metadata().is_err());
    }

    #[test]
    fn a_failed_definition_keeps_libvirt_s_error_and_every_call_its_connection() {
        let c = case();
        let host = c.host().fail(Fault::Command("virsh net-define".into()));
        let e = c.apply(&host).unwrap_err();
        let ApplyError::Step { step, cause, .. } = &e;
        assert_eq!(*step, "libvirt");
        assert!(
            matches!(
                **cause,
                StepFailure::Libvirt(LibvirtError::Command(crate::cmd::CmdError::Failed { .. }))
            ),
            "{cause:?}"
        );
        for call in ["virsh -q net-info", "virsh net-define"] {
            let env = host.env_of(call).unwrap();
            assert!(
                env.contains(&("LC_ALL".into(), "C".into())),
                "{call}: {env:?}"
            );
            assert!(
                env.iter().any(|(k, _)| k == "LIBVIRT_DEFAULT_URI"),
                "{call}: {env:?}"
            );
        }
    }

    #[test]
    fn a_redefinition_carries_the_uuid_libvirt_has() {
        assert_eq!(
            with_uuid("<network>\n  <name>n</name>\n</network>\n", "u-1"),
            "<network>\n  <name>n</name>\n  <uuid>u-1</uuid>\n</network>\n"
        );
    }
}
