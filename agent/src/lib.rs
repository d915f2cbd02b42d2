//! softap-agent: gathers facts, plans, renders and applies the access point.
pub mod apply;
pub mod cli;
pub mod config;
pub mod console;
pub mod detect;
pub mod facts;
pub mod fsutil;
pub mod hostapd;
pub mod overrides;
pub mod plan;
pub mod render;
pub mod state;
pub mod status;
pub mod sys;
pub mod watch;
