//! softap-agent: gathers facts, plans, renders and applies the access point.
pub mod cli;
pub mod config;
pub mod detect;
pub mod facts;
pub mod fsutil;
pub mod plan;
pub mod render;
pub mod state;
