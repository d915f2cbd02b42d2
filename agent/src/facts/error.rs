//! Why facts could not be gathered.

use std::path::PathBuf;

/// A failure to read the machine's state. Missing things (no wireless, no
/// libvirt) are facts, not errors; these are the cases where asking failed.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("opening a {protocol} netlink socket: {source}")]
    Socket {
        protocol: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("netlink request {request}: {source}")]
    Request {
        request: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("netlink request {request}: the kernel answered error {errno} ({message})")]
    Kernel {
        request: &'static str,
        errno: i32,
        message: String,
    },
    #[error("netlink request {request}: cannot decode the answer: {detail}")]
    Decode {
        request: &'static str,
        detail: String,
    },
    #[error(
        "netlink request {request}: dump kept being interrupted by changes ({attempts} attempts)"
    )]
    Interrupted {
        request: &'static str,
        attempts: u32,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("waiting for netlink events: {source}")]
    Poll {
        #[source]
        source: std::io::Error,
    },
}
