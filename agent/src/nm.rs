//! NetworkManager on the machine: it manages every Wi-Fi device it sees,
//! the AP interface too (it scans on it and hands it to its own
//! wpa_supplicant, which breaks hostapd). While the AP runs, its device is
//! marked unmanaged through NetworkManager's D-Bus API, the device's
//! `Managed` property, as `nmcli device set IFNAME managed no` does: a
//! run-time setting that leaves no file behind and that NetworkManager
//! forgets with the device. Its connections are never touched. No
//! NetworkManager on the bus: nothing to do.
//!
//! The bus is reached with `busctl --address=`, through the [`Host`]: in a
//! container, the host's system bus socket mounted at [`HOST_BUS`] (the
//! container's own bus has no NetworkManager); on a machine running the
//! agent directly, its system bus.

use std::time::{Duration, Instant};

use crate::cmd::CmdError;
use crate::host::Host;

/// Where the container's run command mounts the host's system bus socket:
/// beside, not over, the container's own `/run/dbus`.
pub const HOST_BUS: &str = "/run/host/dbus/system_bus_socket";
/// The machine's own system bus.
pub const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";

const NM_NAME: &str = "org.freedesktop.NetworkManager";
const NM_PATH: &str = "/org/freedesktop/NetworkManager";
const DEVICE_IFACE: &str = "org.freedesktop.NetworkManager.Device";

/// NetworkManager, found on one bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nm {
    address: String,
}

/// `b true` / `b false`, as busctl prints a boolean.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["b", "true"] => Some(true),
        ["b", "false"] => Some(false),
        _ => None,
    }
}

/// `o "/org/freedesktop/NetworkManager/Devices/7"`, as busctl prints an
/// object path.
pub fn parse_object_path(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix("o ")?;
    let path = rest.trim().trim_matches('"');
    path.starts_with('/').then(|| path.to_string())
}

impl Nm {
    /// NetworkManager on the host's bus, else on this machine's; `None`
    /// when neither bus has it (or there is no bus to ask, as in a dry run).
    pub fn find(host: &dyn Host) -> Option<Nm> {
        [HOST_BUS, SYSTEM_BUS].into_iter().find_map(|socket| {
            let nm = Nm {
                address: format!("--address=unix:path={socket}"),
            };
            let owned = host.query(&nm.args(&[
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "NameHasOwner",
                "s",
                NM_NAME,
            ]));
            match owned {
                Some(Ok(text)) if parse_bool(&text) == Some(true) => Some(nm),
                Some(Err(e)) => {
                    tracing::debug!("no NetworkManager on {socket}: {e}");
                    None
                }
                _ => None,
            }
        })
    }

    /// Which bus, for messages.
    pub fn address(&self) -> &str {
        self.address.trim_start_matches("--address=")
    }

    fn args<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["busctl", self.address.as_str()];
        a.extend_from_slice(rest);
        a
    }

    /// The device NetworkManager has for `iface`, if it has seen it.
    pub fn device(&self, host: &dyn Host, iface: &str) -> Option<String> {
        host.query(&self.args(&[
            "call",
            NM_NAME,
            NM_PATH,
            NM_NAME,
            "GetDeviceByIpIface",
            "s",
            iface,
        ]))
        .and_then(|r| r.ok())
        .and_then(|t| parse_object_path(&t))
    }

    /// Waits for NetworkManager to see `iface` (it learns of a new link
    /// once udev has set it up).
    pub fn wait_device(&self, host: &dyn Host, iface: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(d) = self.device(host, iface) {
                return Some(d);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The device's `Managed` property.
    pub fn managed(&self, host: &dyn Host, device: &str) -> Option<bool> {
        host.query(&self.args(&["get-property", NM_NAME, device, DEVICE_IFACE, "Managed"]))
            .and_then(|r| r.ok())
            .and_then(|t| parse_bool(&t))
    }

    /// Sets the device's `Managed` property (run time only).
    pub fn set_managed(
        &self,
        host: &dyn Host,
        device: &str,
        managed: bool,
    ) -> Result<String, CmdError> {
        host.change(&self.args(&[
            "set-property",
            NM_NAME,
            device,
            DEVICE_IFACE,
            "Managed",
            "b",
            if managed { "true" } else { "false" },
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::Fake;

    #[test]
    fn busctl_answers_are_parsed() {
        assert_eq!(parse_bool("b true\n"), Some(true));
        assert_eq!(parse_bool("b false"), Some(false));
        assert_eq!(parse_bool("s \"true\""), None);
        assert_eq!(
            parse_object_path("o \"/org/freedesktop/NetworkManager/Devices/7\"\n").as_deref(),
            Some("/org/freedesktop/NetworkManager/Devices/7")
        );
        assert_eq!(parse_object_path("b true"), None);
    }

    const HOST_CALL: &str =
        "busctl --address=unix:path=/run/host/dbus/system_bus_socket call org.freedesktop.DBus";

    #[test]
    fn no_networkmanager_on_any_bus_is_nothing_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path());
        assert_eq!(Nm::find(&host), None);
        let host = Fake::new(dir.path()).answer(HOST_CALL, "b false");
        assert_eq!(Nm::find(&host), None);
        assert!(host.commands().is_empty());
        // A dry run has no bus to ask.
        let dry = crate::host::DryRun::new(dir.path());
        assert_eq!(Nm::find(&dry), None);
    }

    #[test]
    fn the_host_bus_comes_first_and_the_property_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path())
            .answer(HOST_CALL, "b true")
            .answer(
                "busctl --address=unix:path=/run/host/dbus/system_bus_socket call org.freedesktop.NetworkManager",
                "o \"/org/freedesktop/NetworkManager/Devices/4\"",
            );
        let nm = Nm::find(&host).unwrap();
        assert_eq!(nm.address(), "unix:path=/run/host/dbus/system_bus_socket");
        let dev = nm.wait_device(&host, "softap", Duration::ZERO).unwrap();
        assert_eq!(dev, "/org/freedesktop/NetworkManager/Devices/4");
        nm.set_managed(&host, &dev, false).unwrap();
        assert_eq!(
            host.commands(),
            [
                "busctl --address=unix:path=/run/host/dbus/system_bus_socket set-property \
              org.freedesktop.NetworkManager /org/freedesktop/NetworkManager/Devices/4 \
              org.freedesktop.NetworkManager.Device Managed b false"
            ]
        );
    }
}
