//! softap-agent: gathers facts, plans, renders and applies the access point.
pub mod apply;
pub mod bringup;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod console;
pub mod detect;
pub mod facts;
pub mod fsutil;
pub mod host;
pub mod hostapd;
pub mod plan;
pub mod render;
pub mod security;
pub mod state;
pub mod status;
pub mod watch;
