//! A client of hostapd's control interface: a UNIX datagram socket at
//! `<ctrl_interface>/<interface>`. hostapd answers to the sender's address,
//! so the client binds its own socket first.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where hostapd.conf's `ctrl_interface` points.
pub const CTRL_DIR: &str = "/run/hostapd";

#[derive(Debug, thiserror::Error)]
pub enum CtrlError {
    #[error("hostapd control socket {path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("hostapd control socket {path}: no answer to {command} within {timeout:?}")]
    Timeout {
        path: PathBuf,
        command: String,
        timeout: Duration,
    },
    #[error("hostapd control socket {path}: unexpected answer to {command}: {answer:?}")]
    Unexpected {
        path: PathBuf,
        command: String,
        answer: String,
    },
}

pub struct Ctrl {
    sock: UnixDatagram,
    path: PathBuf,
    local: PathBuf,
    /// Whether hostapd counts this socket among its event monitors.
    attached: AtomicBool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Ctrl {
    /// Connects to hostapd's socket for one interface.
    pub fn open(path: &Path) -> Result<Ctrl, CtrlError> {
        let io = |action| {
            move |source| CtrlError::Io {
                path: path.to_path_buf(),
                action,
                source,
            }
        };
        let local = std::env::temp_dir().join(format!(
            "softap-agent-ctrl-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&local);
        let sock = UnixDatagram::bind(&local).map_err(io("bind a local socket"))?;
        let ctrl = Ctrl {
            sock,
            path: path.to_path_buf(),
            local,
            attached: AtomicBool::new(false),
        };
        ctrl.sock.connect(path).map_err(io("connect"))?;
        Ok(ctrl)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends a command and returns hostapd's reply, skipping unsolicited
    /// event messages (`<N>...`) that arrive while attached.
    pub fn request(&self, command: &str, timeout: Duration) -> Result<String, CtrlError> {
        let io = |action| {
            move |source| CtrlError::Io {
                path: self.path.clone(),
                action,
                source,
            }
        };
        self.sock.send(command.as_bytes()).map_err(io("send"))?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.recv_until(deadline)? {
                Some(msg) if msg.starts_with('<') => continue,
                Some(msg) => return Ok(msg),
                None => {
                    return Err(CtrlError::Timeout {
                        path: self.path.clone(),
                        command: command.into(),
                        timeout,
                    })
                }
            }
        }
    }

    /// Receives one message before `deadline`, or `None` on timeout.
    pub fn recv_until(&self, deadline: Instant) -> Result<Option<String>, CtrlError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        self.sock
            .set_read_timeout(Some(left))
            .map_err(|source| CtrlError::Io {
                path: self.path.clone(),
                action: "set timeout",
                source,
            })?;
        let mut buf = vec![0u8; 8192];
        match self.sock.recv(&mut buf) {
            Ok(n) => Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned())),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(source) => Err(CtrlError::Io {
                path: self.path.clone(),
                action: "receive",
                source,
            }),
        }
    }

    pub fn ping(&self, timeout: Duration) -> Result<(), CtrlError> {
        let a = self.request("PING", timeout)?;
        if a.trim() == "PONG" {
            Ok(())
        } else {
            Err(CtrlError::Unexpected {
                path: self.path.clone(),
                command: "PING".into(),
                answer: a,
            })
        }
    }

    /// `STATUS` as key/value pairs.
    pub fn status(&self, timeout: Duration) -> Result<Vec<(String, String)>, CtrlError> {
        Ok(parse_kv(&self.request("STATUS", timeout)?))
    }

    pub fn attach(&self, timeout: Duration) -> Result<(), CtrlError> {
        let a = self.request("ATTACH", timeout)?;
        if a.trim() == "OK" {
            self.attached.store(true, Ordering::Relaxed);
            Ok(())
        } else {
            Err(CtrlError::Unexpected {
                path: self.path.clone(),
                command: "ATTACH".into(),
                answer: a,
            })
        }
    }

    /// Associated stations via `STA-FIRST` / `STA-NEXT <addr>`.
    pub fn stations(&self, timeout: Duration) -> Result<Vec<Station>, CtrlError> {
        let mut out = Vec::new();
        let mut reply = self.request("STA-FIRST", timeout)?;
        // hostapd answers an empty string (or FAIL) after the last station.
        while let Some(st) = Station::parse(&reply) {
            let next = format!("STA-NEXT {}", st.addr);
            out.push(st);
            if out.len() > 4096 {
                break;
            }
            reply = self.request(&next, timeout)?;
        }
        Ok(out)
    }
}

impl Drop for Ctrl {
    fn drop(&mut self) {
        // hostapd keeps an attached socket as a monitor until sending it an
        // event fails; `watch` attaches every probe, so without DETACH a
        // quiet AP collects one stale monitor per probe and then, with the
        // next burst of events (a crowd of stations joining), tries each of
        // them for every event. No wait for the answer: a busy hostapd
        // must not hold up the caller, and an unanswered DETACH costs it
        // no more than the stale monitor would.
        if self.attached.load(Ordering::Relaxed) {
            let _ = self.sock.set_nonblocking(true);
            let _ = self.sock.send(b"DETACH");
        }
        let _ = std::fs::remove_file(&self.local);
    }
}

/// One station as `STA-FIRST` describes it: its MAC on the first line, then
/// key=value lines.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Station {
    pub addr: String,
    pub fields: Vec<(String, String)>,
}

impl Station {
    pub fn parse(reply: &str) -> Option<Station> {
        let mut lines = reply.lines();
        let addr = lines.next()?.trim();
        if addr.len() != 17 || addr.matches(':').count() != 5 {
            return None;
        }
        Some(Station {
            addr: addr.to_string(),
            fields: parse_kv(&lines.collect::<Vec<_>>().join("\n")),
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub fn parse_kv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub fn get<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// How long one request may wait before it is sent again on a fresh
/// socket. A hostapd that is still setting up the radio (on a reboot under
/// TCG: ~3 s) answers late; one silent request is not a verdict.
const ATTEMPT: Duration = Duration::from_secs(2);

/// Waits until hostapd reports `state=ENABLED` (by `STATUS`, or the
/// `AP-ENABLED` event once attached). Returns the final STATUS.
///
/// Every failure before `timeout` (socket not there yet, no answer, state
/// still `COUNTRY_UPDATE`...) is retried on a fresh socket: a reply that
/// arrives after its request timed out must not be read as the answer to the
/// next one. Only the last failure is reported, once the deadline passed.
pub fn wait_enabled(socket: &Path, timeout: Duration) -> Result<Vec<(String, String)>, CtrlError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let step = Duration::from_millis(100);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let last = match attempt(socket, deadline) {
            Ok(Ok(status)) => return Ok(status),
            Ok(Err(status)) => CtrlError::Unexpected {
                path: socket.to_path_buf(),
                command: "STATUS".into(),
                answer: format!(
                    "state={} after {:?}",
                    get(&status, "state").unwrap_or("?"),
                    started.elapsed()
                ),
            },
            Err(e) => e,
        };
        if Instant::now() + step >= deadline {
            return Err(match last {
                CtrlError::Timeout { path, command, .. } => CtrlError::Timeout {
                    path,
                    command: format!("{command} (after {attempts} attempts)"),
                    timeout,
                },
                other => other,
            });
        }
        std::thread::sleep(step);
    }
}

/// One connection: PING, ATTACH, then STATUS until `ENABLED` or `deadline`.
/// `Ok(Err(status))`: hostapd answered but never said ENABLED in time.
#[allow(clippy::type_complexity)]
fn attempt(
    socket: &Path,
    deadline: Instant,
) -> Result<Result<Vec<(String, String)>, Vec<(String, String)>>, CtrlError> {
    // The socket appears only once hostapd has read its configuration.
    let ctrl = Ctrl::open(socket)?;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(100), ATTEMPT)
    };
    ctrl.ping(left())?;
    ctrl.attach(left())?;
    let mut last = ctrl.status(left())?;
    loop {
        if get(&last, "state") == Some("ENABLED") {
            return Ok(Ok(last));
        }
        // Wait for an event, then ask again: events can be missed between
        // the STATUS reply and ATTACH, STATUS cannot.
        let slice = (Instant::now() + Duration::from_millis(500)).min(deadline);
        while let Some(msg) = ctrl.recv_until(slice)? {
            if msg.contains("AP-ENABLED") {
                break;
            }
        }
        if Instant::now() >= deadline {
            return Ok(Err(last));
        }
        last = ctrl.status(left())?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_parsing() {
        let s = Station::parse("02:00:00:00:01:00\nflags=[AUTH][ASSOC]\nrx_packets=3\n").unwrap();
        assert_eq!(s.addr, "02:00:00:00:01:00");
        assert_eq!(s.get("rx_packets"), Some("3"));
        assert!(Station::parse("").is_none());
        assert!(Station::parse("FAIL\n").is_none());
    }
}
