//! Synchronous netlink plumbing shared by the rtnetlink and nl80211
//! gatherers: one socket, one dump at a time, no async runtime. The message
//! types come from the rust-netlink crates; only the request/response loop
//! lives here.

use std::sync::atomic::{AtomicU32, Ordering};

use netlink_packet_core::{NetlinkBuffer, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP_INTR};
use netlink_sys::{Socket, SocketAddr};

use super::error::FactsError;

/// How often a dump interrupted by concurrent changes is retried.
const DUMP_ATTEMPTS: u32 = 5;

static SEQUENCE: AtomicU32 = AtomicU32::new(1);

pub(crate) fn next_sequence() -> u32 {
    SEQUENCE.fetch_add(1, Ordering::Relaxed)
}

/// Opens a netlink socket of `protocol` bound to a kernel-chosen port.
pub(crate) fn open(protocol: isize, name: &'static str) -> Result<Socket, FactsError> {
    let mut socket = Socket::new(protocol).map_err(|source| FactsError::Socket {
        protocol: name,
        source,
    })?;
    socket
        .bind(&SocketAddr::new(0, 0))
        .map_err(|source| FactsError::Socket {
            protocol: name,
            source,
        })?;
    Ok(socket)
}

/// One netlink message out of a datagram.
pub(crate) struct RawMessage<'a> {
    pub kind: u16,
    pub flags: u16,
    pub sequence: u32,
    /// The whole message, header included.
    pub bytes: &'a [u8],
    /// The payload after the netlink header.
    pub payload: &'a [u8],
}

/// Splits a datagram into its messages.
pub(crate) fn split(datagram: &[u8]) -> Result<Vec<RawMessage<'_>>, String> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < datagram.len() {
        let rest = &datagram[offset..];
        let buffer = NetlinkBuffer::new_checked(rest).map_err(|e| e.to_string())?;
        let length = buffer.length() as usize;
        if length < 16 || length > rest.len() {
            return Err(format!("message length {length} out of bounds"));
        }
        out.push(RawMessage {
            kind: buffer.message_type(),
            flags: buffer.flags(),
            sequence: buffer.sequence_number(),
            bytes: &rest[..length],
            payload: &rest[16..length],
        });
        // Messages are 4-byte aligned inside a datagram.
        offset += (length + 3) & !3;
    }
    Ok(out)
}

/// The errno of an NLMSG_ERROR payload (0 is an acknowledgement).
pub(crate) fn error_code(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .unwrap_or(0)
}

/// Sends the dump request `build(sequence)` and collects every answer
/// message (header included) until NLMSG_DONE. A dump that the kernel marks
/// interrupted (the state changed meanwhile) is started over.
pub(crate) fn dump(
    socket: &Socket,
    request: &'static str,
    build: impl Fn(u32) -> Vec<u8>,
) -> Result<Vec<Vec<u8>>, FactsError> {
    for _ in 0..DUMP_ATTEMPTS {
        let sequence = next_sequence();
        let bytes = build(sequence);
        socket
            .send(&bytes, 0)
            .map_err(|source| FactsError::Request { request, source })?;
        let mut messages = Vec::new();
        let mut interrupted = false;
        'receive: loop {
            let (datagram, _) = socket
                .recv_from_full()
                .map_err(|source| FactsError::Request { request, source })?;
            let parts =
                split(&datagram).map_err(|detail| FactsError::Decode { request, detail })?;
            for message in parts {
                if message.sequence != sequence {
                    continue;
                }
                if message.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match message.kind {
                    NLMSG_DONE => break 'receive,
                    NLMSG_ERROR => {
                        let errno = -error_code(message.payload);
                        if errno == 0 {
                            continue;
                        }
                        return Err(FactsError::Kernel {
                            request,
                            errno,
                            message: std::io::Error::from_raw_os_error(errno).to_string(),
                        });
                    }
                    _ => messages.push(message.bytes.to_vec()),
                }
            }
        }
        if !interrupted {
            return Ok(messages);
        }
    }
    Err(FactsError::Interrupted {
        request,
        attempts: DUMP_ATTEMPTS,
    })
}

/// Sends a non-dump request and returns the one answer message (header
/// included); `None` when the kernel answers ENOENT (no such object).
pub(crate) fn request_one(
    socket: &Socket,
    request: &'static str,
    bytes: &[u8],
    sequence: u32,
) -> Result<Option<Vec<u8>>, FactsError> {
    socket
        .send(bytes, 0)
        .map_err(|source| FactsError::Request { request, source })?;
    loop {
        let (datagram, _) = socket
            .recv_from_full()
            .map_err(|source| FactsError::Request { request, source })?;
        let parts = split(&datagram).map_err(|detail| FactsError::Decode { request, detail })?;
        for message in parts {
            if message.sequence != sequence {
                continue;
            }
            if message.kind == NLMSG_ERROR {
                let errno = -error_code(message.payload);
                if errno == 0 {
                    continue;
                }
                if errno == libc::ENOENT {
                    return Ok(None);
                }
                return Err(FactsError::Kernel {
                    request,
                    errno,
                    message: std::io::Error::from_raw_os_error(errno).to_string(),
                });
            }
            return Ok(Some(message.bytes.to_vec()));
        }
    }
}
