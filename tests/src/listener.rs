//! The "far side" of the NAT: a TCP listener on the host's loopback that a
//! station in the guest reaches through the appliance's NAT and QEMU's
//! user-mode network (whose host address QEMU forwards to 127.0.0.1).
//!
//! Protocol, one line each way: the listener sends `SOFTAP-LISTENER <token>`,
//! the client answers with its name (e.g. `wpa2`), the listener closes. The
//! guest checks the token (so it reached this listener, not something else on
//! the way) and the harness checks which clients came.
//!
//! Bounded: it stops by itself after `max_clients` or `lifetime`.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::HarnessError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub peer: SocketAddr,
    /// What the client said (its name), trimmed.
    pub said: String,
}

pub struct Listener {
    port: u16,
    token: String,
    visits: Arc<Mutex<Vec<Visit>>>,
    handle: Option<JoinHandle<()>>,
}

impl Listener {
    /// On 127.0.0.1, where QEMU's user network takes the guest's IPv4
    /// connections to its host address.
    pub fn start(
        token: &str,
        max_clients: usize,
        lifetime: Duration,
    ) -> Result<Listener, HarnessError> {
        Listener::start_on(IpAddr::from([127, 0, 0, 1]), token, max_clients, lifetime)
    }

    /// On `address` (`::1` takes what the guest sends to QEMU's IPv6 host
    /// address), on a free port.
    pub fn start_on(
        address: IpAddr,
        token: &str,
        max_clients: usize,
        lifetime: Duration,
    ) -> Result<Listener, HarnessError> {
        let socket = TcpListener::bind(SocketAddr::new(address, 0))
            .map_err(|e| HarnessError::Listener(format!("bind {address} port 0: {e}")))?;
        let port = socket
            .local_addr()
            .map_err(|e| HarnessError::Listener(format!("local_addr: {e}")))?
            .port();
        // Non-blocking accept so the thread notices its deadline.
        socket
            .set_nonblocking(true)
            .map_err(|e| HarnessError::Listener(format!("set_nonblocking: {e}")))?;
        let visits = Arc::new(Mutex::new(Vec::new()));
        let greeting = format!("SOFTAP-LISTENER {token}\n");
        let shared = Arc::clone(&visits);
        let deadline = Instant::now() + lifetime;
        let handle = std::thread::spawn(move || {
            serve(&socket, &greeting, &shared, max_clients, deadline);
        });
        Ok(Listener {
            port,
            token: token.to_owned(),
            visits,
            handle: Some(handle),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn visits(&self) -> Vec<Visit> {
        self.visits.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // The thread ends by itself at its deadline; do not block a failing
        // test on it.
        drop(self.handle.take());
    }
}

fn serve(
    socket: &TcpListener,
    greeting: &str,
    visits: &Mutex<Vec<Visit>>,
    max_clients: usize,
    deadline: Instant,
) {
    let mut served = 0;
    while served < max_clients && Instant::now() < deadline {
        match socket.accept() {
            Ok((stream, peer)) => {
                served += 1;
                let said = greet(stream, greeting).unwrap_or_else(|e| format!("<error: {e}>"));
                if let Ok(mut v) = visits.lock() {
                    v.push(Visit { peer, said });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn greet(stream: TcpStream, greeting: &str) -> std::io::Result<String> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = stream.try_clone()?;
    writer.write_all(greeting.as_bytes())?;
    writer.flush()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim().chars().take(200).collect())
}

/// A token that differs between runs, so a stale console or cached answer
/// cannot pass.
pub fn fresh_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("t{:x}{:x}", std::process::id(), nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn greets_records_and_stops_by_itself() -> Result<(), Box<dyn std::error::Error>> {
        let listener = Listener::start("tok123", 2, Duration::from_secs(20))?;
        let mut client = TcpStream::connect(("127.0.0.1", listener.port()))?;
        client.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(client.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        assert_eq!(line, "SOFTAP-LISTENER tok123\n");
        client.write_all(b"wpa2\n")?;
        let mut rest = String::new();
        reader.read_to_string(&mut rest)?;
        assert_eq!(rest, "", "the listener closes after one line");

        let deadline = Instant::now() + Duration::from_secs(5);
        while listener.visits().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let visits = listener.visits();
        assert_eq!(visits.len(), 1);
        assert_eq!(visits[0].said, "wpa2");
        Ok(())
    }

    #[test]
    fn stops_after_its_lifetime() -> Result<(), Box<dyn std::error::Error>> {
        let listener = Listener::start("x", 5, Duration::from_millis(200))?;
        let port = listener.port();
        std::thread::sleep(Duration::from_millis(600));
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing listens after the lifetime"
        );
        Ok(())
    }

    #[test]
    fn listens_on_ipv6_loopback_too() -> Result<(), Box<dyn std::error::Error>> {
        let listener = Listener::start_on(
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            "tok6",
            1,
            Duration::from_secs(20),
        )?;
        let client = TcpStream::connect(("::1", listener.port()))?;
        client.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut line = String::new();
        BufReader::new(client).read_line(&mut line)?;
        assert_eq!(line, "SOFTAP-LISTENER tok6\n");
        Ok(())
    }

    #[test]
    fn tokens_differ() {
        let a = fresh_token();
        std::thread::sleep(Duration::from_millis(2));
        assert_ne!(a, fresh_token());
    }
}
