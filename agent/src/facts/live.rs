//! The live machine: nl80211, sysfs, rtnetlink, libvirt and machine-id
//! gathered into one [`Facts`] for the current network namespace.

use std::path::PathBuf;

use super::error::FactsError;
use super::libvirt::Virsh;
use super::model::Facts;
use super::{nl80211, rtnl, sysfs};

/// Where the live gatherer looks; the defaults are the real system.
#[derive(Debug, Clone)]
pub struct Sources {
    pub virsh: Virsh,
    /// sysfs mount point.
    pub sys: PathBuf,
    pub machine_id: PathBuf,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            virsh: Virsh::default(),
            sys: PathBuf::from("/sys"),
            machine_id: PathBuf::from("/etc/machine-id"),
        }
    }
}

/// Facts of this machine. No wireless, no libvirt or no machine-id are
/// facts (empty, unreachable, absent); only failing to ask the kernel is an
/// error.
pub fn gather() -> Result<Facts, FactsError> {
    gather_from(&Sources::default())
}

pub fn gather_from(sources: &Sources) -> Result<Facts, FactsError> {
    let (mut phys, interfaces) = nl80211::gather()?;
    let sysfs_phys = sysfs::read_phys(&sources.sys);
    for phy in &mut phys {
        match sysfs_phys.iter().find(|s| s.index == phy.index) {
            Some(s) => {
                if s.name != phy.name {
                    tracing::warn!(
                        "wiphy {} is {} in nl80211 but {} in sysfs",
                        phy.index,
                        phy.name,
                        s.name
                    );
                }
                phy.driver = s.driver.clone();
                phy.mac = s.mac.clone();
            }
            None => tracing::warn!("wiphy {} ({}) has no sysfs entry", phy.index, phy.name),
        }
    }
    for s in &sysfs_phys {
        if !phys.iter().any(|p| p.index == s.index) {
            // E.g. a phy moved into another network namespace.
            tracing::info!("{} is in sysfs but not visible over nl80211 here", s.name);
        }
    }
    let (addresses, routes) = rtnl::gather()?;
    let libvirt = sources.virsh.gather();
    let machine_id = std::fs::read_to_string(&sources.machine_id)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    Ok(Facts {
        phys,
        interfaces,
        addresses,
        routes,
        libvirt,
        machine_id,
    })
}
