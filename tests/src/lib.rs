//! Harness shared by the end-to-end tests: building images, booting them in
//! QEMU, reading what the guest reports on its serial console.
pub mod console;
pub mod error;
pub mod esp;
pub mod faults;
pub mod guest;
pub mod images;
pub mod lan;
pub mod listener;
pub mod qemu;
pub mod readme;
pub mod relaunch;
pub mod results;
pub mod run;
pub mod scenario;
pub mod tools;
pub mod wifi;

pub use error::HarnessError;
