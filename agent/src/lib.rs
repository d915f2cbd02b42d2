//! softap-agent: gathers facts, plans, renders and applies the access point.
pub mod facts;
