//! The one client of libvirt: every `virsh` the agent runs goes through
//! here, through the [`Host`] (a dry run records the changes and has no
//! libvirt to ask; the unit tests' fake host scripts the answers), against
//! one connection and in the C locale, so that the labels and columns
//! parsed below are the same on every machine. The parsers are pure.

use crate::cmd::CmdError;
use crate::host::Host;

/// The network driver's own URI: it works with the monolithic libvirtd and
/// with virtnetworkd, and without any hypervisor driver (the image has
/// none; qemu:///system needs QEMU's).
pub const NETWORK_DRIVER_URI: &str = "network:///system";

/// Which `virsh` and which libvirt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The `virsh` program.
    pub program: String,
    /// The connection URI (tests use `test:///default`).
    pub uri: String,
}

impl Default for Connection {
    /// The network driver, unless `LIBVIRT_DEFAULT_URI` names another
    /// libvirt, as it does for `virsh` itself (the live tests point it at
    /// a private daemon, or at none).
    fn default() -> Self {
        let uri = std::env::var("LIBVIRT_DEFAULT_URI")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| NETWORK_DRIVER_URI.to_string());
        Connection {
            program: "virsh".to_string(),
            uri,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LibvirtError {
    #[error("{program} not found (libvirt-clients not installed): {source}")]
    NotInstalled {
        program: String,
        #[source]
        source: CmdError,
    },
    #[error(transparent)]
    Command(CmdError),
    /// A dry run: there is no libvirt to ask.
    #[error("no libvirt to ask in a dry run")]
    NoSystem,
}

/// What `net-info` says of a network.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NetInfo {
    pub uuid: Option<String>,
    pub active: bool,
    pub autostart: bool,
    pub bridge: Option<String>,
}

/// One DHCP lease as `net-dhcp-leases` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lease {
    /// `None` where dnsmasq did not learn it (some DHCPv6 leases).
    pub mac: Option<String>,
    pub ipv6: bool,
    /// The address without its prefix length.
    pub address: String,
    pub hostname: Option<String>,
}

/// One port of a network: a VM's or container's interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Port {
    /// The libvirt domain that owns it.
    pub owner: String,
    pub mac: String,
}

/// `virsh` on a host.
pub struct Libvirt<'h> {
    host: &'h dyn Host,
    connection: Connection,
}

impl<'h> Libvirt<'h> {
    /// The default connection, on `host`.
    pub fn new(host: &'h dyn Host) -> Libvirt<'h> {
        Libvirt::with(host, Connection::default())
    }

    pub fn with(host: &'h dyn Host, connection: Connection) -> Libvirt<'h> {
        Libvirt { host, connection }
    }

    /// The command line and its environment. The connection goes in the
    /// environment, not as `-c`, so that the commands shown are the ones
    /// a person types on the appliance, whose `libvirt.conf` names the
    /// same default.
    fn call<'a>(&'a self, args: &[&'a str]) -> (Vec<&'a str>, [(&'a str, &'a str); 2]) {
        let mut full = vec![self.connection.program.as_str()];
        full.extend_from_slice(args);
        let env = [
            ("LC_ALL", "C"),
            ("LIBVIRT_DEFAULT_URI", self.connection.uri.as_str()),
        ];
        (full, env)
    }

    fn error(&self, e: CmdError) -> LibvirtError {
        match &e {
            CmdError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                LibvirtError::NotInstalled {
                    program: self.connection.program.clone(),
                    source: e,
                }
            }
            _ => LibvirtError::Command(e),
        }
    }

    fn query(&self, args: &[&str]) -> Result<String, LibvirtError> {
        let (full, env) = self.call(args);
        match self.host.query_env(&full, &env) {
            Some(r) => r.map_err(|e| self.error(e)),
            None => Err(LibvirtError::NoSystem),
        }
    }

    fn change(&self, args: &[&str]) -> Result<(), LibvirtError> {
        let (full, env) = self.call(args);
        self.host
            .change_env(&full, &env)
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// A network's UUID, activity, autostart and bridge; an error when it
    /// is not defined.
    pub fn net_info(&self, name: &str) -> Result<NetInfo, LibvirtError> {
        self.query(&["-q", "net-info", name])
            .map(|t| parse_net_info(&t))
    }

    /// The names of the networks: every defined one, or the active ones.
    pub fn network_names(&self, all: bool) -> Result<Vec<String>, LibvirtError> {
        let args: &[&str] = if all {
            &["net-list", "--all", "--name"]
        } else {
            &["net-list", "--name"]
        };
        self.query(args).map(|t| parse_names(&t))
    }

    /// A network's definition as it runs.
    pub fn dumpxml(&self, name: &str) -> Result<String, LibvirtError> {
        self.query(&["net-dumpxml", name])
    }

    /// A network's persistent definition (what a redefinition replaces).
    pub fn dumpxml_inactive(&self, name: &str) -> Result<String, LibvirtError> {
        self.query(&["net-dumpxml", "--inactive", name])
    }

    /// Defines (or redefines) a network from the file at `path`.
    pub fn define(&self, path: &str) -> Result<(), LibvirtError> {
        self.change(&["net-define", path])
    }

    pub fn undefine(&self, name: &str) -> Result<(), LibvirtError> {
        self.change(&["net-undefine", name])
    }

    pub fn start(&self, name: &str) -> Result<(), LibvirtError> {
        self.change(&["net-start", name])
    }

    /// Stops a network: its bridge, dnsmasq and firewall rules go with it.
    pub fn destroy(&self, name: &str) -> Result<(), LibvirtError> {
        self.change(&["net-destroy", name])
    }

    pub fn autostart(&self, name: &str) -> Result<(), LibvirtError> {
        self.change(&["net-autostart", name])
    }

    /// Creates a port of network `name` from the document at `path`.
    pub fn port_create(&self, name: &str, path: &str) -> Result<(), LibvirtError> {
        self.change(&["net-port-create", name, path])
    }

    /// Network `name`'s ports as `net-port-dumpxml` documents; an error
    /// only when the list cannot be had. A port unplugged between the two
    /// calls is simply gone.
    pub fn port_documents(&self, name: &str) -> Result<Vec<String>, LibvirtError> {
        let list = self.query(&["net-port-list", "--uuid", name])?;
        Ok(parse_port_uuids(&list)
            .into_iter()
            .filter_map(
                |uuid| match self.query(&["net-port-dumpxml", name, &uuid]) {
                    Ok(xml) => Some(xml),
                    Err(e) => {
                        tracing::debug!("network port {uuid}: {e}");
                        None
                    }
                },
            )
            .collect())
    }

    /// Network `name`'s DHCP leases.
    pub fn leases(&self, name: &str) -> Result<Vec<Lease>, LibvirtError> {
        self.query(&["net-dhcp-leases", name])
            .map(|t| parse_leases(&t))
    }
}

/// Parses `net-info` (`-q`, C locale): one `Label: value` a line.
pub fn parse_net_info(text: &str) -> NetInfo {
    let mut n = NetInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "UUID" => n.uuid = Some(v.to_string()).filter(|u| !u.is_empty()),
            "Active" => n.active = v == "yes",
            "Autostart" => n.autostart = v == "yes",
            "Bridge" => n.bridge = Some(v.to_string()).filter(|b| !b.is_empty()),
            _ => {}
        }
    }
    n
}

/// Parses `net-list --name`: one name a line.
fn parse_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A MAC address in one spelling, for comparisons.
pub fn norm_mac(mac: &str) -> String {
    mac.trim().to_ascii_lowercase()
}

fn is_mac(s: &str) -> bool {
    crate::config::network::is_mac(s)
}

/// Parses `net-dhcp-leases NAME` (C locale): a header, a line of dashes,
/// then one lease a line: expiry date and time, MAC address, protocol,
/// address/prefix, host name (`-` when none), client ID.
pub fn parse_leases(text: &str) -> Vec<Lease> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("---"))
        .skip(1)
        .filter_map(|line| {
            let t: Vec<&str> = line.split_whitespace().collect();
            let [_date, _time, mac, proto, addr, host, ..] = t.as_slice() else {
                return None;
            };
            let ipv6 = match *proto {
                "ipv4" => false,
                "ipv6" => true,
                _ => return None,
            };
            let address = addr.split('/').next().unwrap_or(addr).to_owned();
            Some(Lease {
                mac: is_mac(mac).then(|| norm_mac(mac)),
                ipv6,
                address,
                hostname: (*host != "-").then(|| (*host).to_owned()),
            })
        })
        .collect()
}

/// Parses `net-port-list --uuid NAME`: one UUID a line.
pub fn parse_port_uuids(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.len() == 36 && l.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .map(str::to_owned)
        .collect()
}

/// Parses one `net-port-dumpxml NAME UUID` document.
pub fn parse_port_xml(xml: &str) -> Result<Port, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("invalid XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "networkport" {
        return Err(format!(
            "expected <networkport>, found <{}>",
            root.tag_name().name()
        ));
    }
    fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
        n.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
    }
    let owner = child(root, "owner")
        .and_then(|o| child(o, "name"))
        .and_then(|n| n.text())
        .ok_or("no <owner><name>")?;
    let mac = child(root, "mac")
        .and_then(|m| m.attribute("address"))
        .filter(|m| is_mac(m))
        .ok_or("no <mac address=...>")?;
    Ok(Port {
        owner: owner.trim().to_owned(),
        mac: norm_mac(mac),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::fake::{Fake, Fault};

    /// libvirt 11's output, as run on the appliance.
    pub(crate) const LEASES: &str = " Expiry Time           MAC address         Protocol   IP address                  Hostname   Client ID or DUID
-----------------------------------------------------------------------------------------------------------------------------
 2026-12-01 21:00:00   02:00:00:00:01:00   ipv4       172.16.128.10/16            sta1       01:02:00:00:00:01:00
 2026-12-01 21:00:05   52:54:00:5A:00:01   ipv4       172.16.0.10/16              web        -
 2026-12-01 21:00:07   -                   ipv6       fd12:3456:789a:1000::1a2/64   web        00:04:8a:1e
 2026-12-01 21:00:09   52:54:00:aa:bb:cc   ipv4       172.16.128.99/16            -          -

";

    pub(crate) const PORT: &str = "<networkport>
  <uuid>2f7a9e1c-0b0e-4f4e-9c3e-6f1f3a1d2b4c</uuid>
  <owner>
    <name>web</name>
    <uuid>a1b2c3d4-0000-4000-8000-000000000001</uuid>
  </owner>
  <mac address='52:54:00:5a:00:01'/>
  <plug type='network' bridge='virbr0'/>
</networkport>
";

    #[test]
    fn leases_are_read_row_by_row() {
        let l = parse_leases(LEASES);
        assert_eq!(l.len(), 4);
        assert_eq!(l[0].mac.as_deref(), Some("02:00:00:00:01:00"));
        assert_eq!(l[0].address, "172.16.128.10");
        assert_eq!(l[0].hostname.as_deref(), Some("sta1"));
        assert_eq!(l[1].mac.as_deref(), Some("52:54:00:5a:00:01"));
        assert!(l[2].ipv6 && l[2].mac.is_none());
        assert_eq!(l[2].address, "fd12:3456:789a:1000::1a2");
        assert_eq!(l[3].hostname, None);
        assert_eq!(parse_leases(""), vec![]);
        assert_eq!(parse_leases("error: failed to get network 'x'\n"), vec![]);
    }

    #[test]
    fn ports_name_their_domain_and_mac() {
        let p = parse_port_xml(PORT).unwrap();
        assert_eq!(
            p,
            Port {
                owner: "web".into(),
                mac: "52:54:00:5a:00:01".into()
            }
        );
        assert!(parse_port_xml("<network/>").is_err());
        assert!(parse_port_xml("<networkport><mac address='x'/></networkport>").is_err());
        assert!(parse_port_xml("<networkport").is_err());
        let uuids = parse_port_uuids(" 2f7a9e1c-0b0e-4f4e-9c3e-6f1f3a1d2b4c\n\n UUID\n-----\n");
        assert_eq!(uuids, ["2f7a9e1c-0b0e-4f4e-9c3e-6f1f3a1d2b4c"]);
    }

    #[test]
    fn net_info_is_read_by_label() {
        let i = parse_net_info(
            "Name:           softap\nUUID:           x\nActive:         yes\nPersistent:     yes\nAutostart:      no\nBridge:         virbr0\n",
        );
        assert_eq!(
            i,
            NetInfo {
                uuid: Some("x".into()),
                active: true,
                autostart: false,
                bridge: Some("virbr0".into()),
            }
        );
        // A network without a bridge (or a label left blank).
        let i = parse_net_info("UUID:\nActive: no\nBridge:\n");
        assert_eq!(i, NetInfo::default());
        assert_eq!(parse_names("default\n\n softap \n"), ["default", "softap"]);
    }

    fn connection() -> Connection {
        Connection {
            program: "virsh".into(),
            uri: "test:///default".into(),
        }
    }

    #[test]
    fn every_call_has_the_one_connection_and_the_c_locale() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path()).answer("virsh -q net-info n", "Active: yes\n");
        let v = Libvirt::with(&host, connection());
        assert!(v.net_info("n").unwrap().active);
        v.start("n").unwrap();
        let env = |c: &str| host.env_of(c).unwrap();
        let want = vec![
            ("LC_ALL".to_string(), "C".to_string()),
            (
                "LIBVIRT_DEFAULT_URI".to_string(),
                "test:///default".to_string(),
            ),
        ];
        assert_eq!(env("virsh -q net-info n"), want);
        assert_eq!(env("virsh net-start n"), want);
        assert_eq!(host.commands(), ["virsh net-start n"]);
    }

    #[test]
    fn failures_keep_their_command_and_a_dry_run_has_no_libvirt() {
        let dir = tempfile::tempdir().unwrap();
        let host = Fake::new(dir.path()).fail(Fault::Command("virsh net-define".into()));
        let v = Libvirt::with(&host, connection());
        let e = v.define("/run/x.xml").unwrap_err();
        assert!(matches!(e, LibvirtError::Command(_)), "{e:?}");
        assert!(
            e.to_string()
                .contains("`virsh net-define /run/x.xml` failed"),
            "{e}"
        );
        // Not defined: the fake answers nothing it was not told.
        assert!(v.net_info("n").is_err());
        let dry = crate::host::DryRun::new(dir.path());
        let v = Libvirt::with(&dry, connection());
        assert!(matches!(v.net_info("n"), Err(LibvirtError::NoSystem)));
        v.destroy("n").unwrap();
        assert_eq!(dry.commands(), ["virsh net-destroy n"]);
    }

    #[test]
    fn a_missing_virsh_says_which_package_has_it() {
        let host = crate::host::Linux::new();
        let v = Libvirt::with(
            &host,
            Connection {
                program: "/nonexistent/virsh".into(),
                uri: "test:///default".into(),
            },
        );
        let e = v.network_names(true).unwrap_err();
        assert!(matches!(e, LibvirtError::NotInstalled { .. }), "{e:?}");
        assert!(e.to_string().contains("libvirt-clients"), "{e}");
    }

    #[test]
    fn port_documents_skip_a_port_gone_between_the_calls() {
        let dir = tempfile::tempdir().unwrap();
        let a = "2f7a9e1c-0b0e-4f4e-9c3e-6f1f3a1d2b4c";
        let b = "2f7a9e1c-0b0e-4f4e-9c3e-6f1f3a1d2b4d";
        let host = Fake::new(dir.path())
            .answer("virsh net-port-list --uuid n", &format!("{a}\n{b}\n"))
            .answer(&format!("virsh net-port-dumpxml n {a}"), PORT);
        let v = Libvirt::with(&host, connection());
        assert_eq!(v.port_documents("n").unwrap(), [PORT]);
        assert!(v.port_documents("other").is_err());
    }
}
