//! Facts about the machine: the data model and the gatherers that fill it.
pub mod iw;
pub mod model;

pub use model::*;
