//! The Wi-Fi coverage report a disk carries: for every Wi-Fi driver module
//! of the image's kernel, the firmware it declares and whether the image
//! has it. `modinfo` reads a module's declarations, `group` merges the
//! numbered versions and patterns of a file, `report` (pure) matches them
//! into the report `softap_config::coverage` writes and makes the summary,
//! `tree` reads the image's layers.

pub mod group;
pub mod modinfo;
pub mod report;
pub mod tree;

pub use report::{summary, CoverageSummary};
pub use tree::{gather, CoverageError};
