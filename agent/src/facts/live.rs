//! The live machine: nl80211, sysfs, rtnetlink, libvirt and machine-id
//! gathered into one [`Facts`] for the current network namespace.

use std::path::{Path, PathBuf};

use super::error::FactsError;
use super::model::{Facts, HostapdFacts};
use super::{coverage, hostapd_probe, ipv6_ra, libvirt, nl80211, rtnl, scan, sysfs};
use crate::libvirt::Connection;

/// Where the live gatherer looks; the defaults are the real system.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Which libvirt to ask about its networks.
    pub libvirt: Connection,
    /// sysfs mount point.
    pub sys: PathBuf,
    /// procfs mount point (IPv6 routes and `accept_ra`).
    pub proc: PathBuf,
    pub machine_id: PathBuf,
    /// The image's Wi-Fi coverage report.
    pub coverage: PathBuf,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            libvirt: Connection::default(),
            sys: PathBuf::from("/sys"),
            proc: PathBuf::from("/proc"),
            machine_id: Path::new("/").join(MACHINE_ID),
            coverage: Path::new("/").join(softap_config::paths::WIFI_COVERAGE_FILE),
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
                phy.module = s.module.clone();
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
    let drivers_without_phy = without_phy(sources, &sysfs_phys);
    let scan = scan::gather(&interfaces);
    let (addresses, routes) = rtnl::gather()?;
    let libvirt = libvirt::gather(&sources.libvirt);
    let machine_id = machine_id(&sources.machine_id);
    Ok(Facts {
        phys,
        interfaces,
        addresses,
        routes,
        libvirt,
        machine_id,
        drivers_without_phy,
        ipv6_ra: ipv6_ra::gather(&sources.proc),
        scan,
        hostapd: hostapd(),
    })
}

/// Where the machine id is, under a root.
pub const MACHINE_ID: &str = "etc/machine-id";

/// The machine id in `path` (`/etc/machine-id`); none when the file is
/// absent or empty (an image's machine id is made at first boot).
pub fn machine_id(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// What the image's hostapd accepts, asked once per process: the agent
/// plans at every change it watches, and the program does not change under
/// it. A hostapd that could not be asked accepts nothing new.
pub fn hostapd() -> HostapdFacts {
    static ASKED: std::sync::OnceLock<HostapdFacts> = std::sync::OnceLock::new();
    ASKED
        .get_or_init(|| {
            let host = crate::host::Linux::new();
            let asked = HostapdFacts {
                ieee80211be: hostapd_probe::ieee80211be(&host, hostapd_probe::PROGRAM)
                    .map_err(|e| {
                        tracing::warn!(
                            "whether {} accepts ieee80211be: {e}",
                            hostapd_probe::PROGRAM
                        );
                    })
                    .ok(),
            };
            if let Some(said) = asked.ieee80211be_text() {
                tracing::info!("{} {said}", hostapd_probe::PROGRAM);
            }
            asked
        })
        .clone()
}

/// Wi-Fi drivers loaded with no phy that lack firmware (see
/// [`coverage::drivers_without_phy`]); none without the image's report.
/// Every phy in sysfs counts, those in other namespaces too.
pub fn without_phy(
    sources: &Sources,
    sysfs_phys: &[sysfs::SysfsPhy],
) -> Vec<super::model::DriverWithoutPhy> {
    let Some(report) = coverage::read(&sources.coverage) else {
        return Vec::new();
    };
    let with_phy: Vec<&str> = sysfs_phys
        .iter()
        .filter_map(|p| p.module.as_deref())
        .collect();
    coverage::drivers_without_phy(&report, &sysfs::loaded_modules(&sources.sys), &with_phy)
}
