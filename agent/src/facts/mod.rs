//! Facts about the machine: the data model and the gatherers that fill it.
pub mod coverage;
mod error;
pub mod events;
pub mod hostapd_probe;
pub mod ipv6_ra;
pub mod iw;
pub mod libvirt;
pub mod live;
pub mod model;
mod netlink;
pub mod nl80211;
pub mod rtnl;
pub mod scan;
pub mod sysfs;
pub mod validate;

pub use error::FactsError;
pub use model::*;
