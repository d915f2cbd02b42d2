//! The names the agent and its commands agree on at run time: the systemd
//! units it drives and the files it keeps under `/run/softap` (gone with a
//! reboot or the container).

/// The unit the image ships to run hostapd on our configuration (Debian
/// masks `hostapd.service` on install).
pub const HOSTAPD_UNIT: &str = "softap-hostapd.service";
pub const NETWORKD_UNIT: &str = "systemd-networkd.service";
pub const LIBVIRT_UNIT: &str = "libvirtd.service";

/// The AP interface this bring-up had NetworkManager leave alone, for
/// `softap-agent down` to give back.
pub const NM_UNMANAGED_RECORD: &str = "/run/softap/nm-unmanaged";

/// The network XML with the existing network's UUID, for redefinition.
pub const NETWORK_DEFINE_XML: &str = "/run/softap/network.define.xml";

/// The network's definition from before a failed apply, given back to
/// libvirt by the rollback.
pub const NETWORK_ROLLBACK_XML: &str = "/run/softap/network.rollback.xml";

/// A guest's port of the network, given back to libvirt after a restart.
pub const NETWORK_PORT_XML: &str = "/run/softap/network.port.xml";

/// Each upstream link's `accept_ra` from before the bring-up set it to 2
/// (a file per link, named by the link, holding the value), on the state
/// volume for `softap-agent down` to put back.
pub const ACCEPT_RA_BEFORE_DIR: &str = "/var/lib/softap/host/accept_ra-before";

/// The kernel parameter of a link's `accept_ra`, as under /proc/sys.
pub fn accept_ra_key(link: &str) -> String {
    format!("net/ipv6/conf/{link}/accept_ra")
}

/// What a waiting `watch` waits for (a radio, a free subnet...), while it
/// waits; `status` reads it.
pub const WAITING_FILE: &str = "/run/softap/waiting.json";
