//! Messages for people at the machine: the credentials banner with a QR code
//! a phone can scan, written to every active console (the last `console=`
//! is /dev/console, but a laptop's screen is tty0/tty1).

use std::io::Write;
use std::path::{Path, PathBuf};

use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

use crate::security::SecurityMode;

/// `text` safe to print on a terminal: control characters (C0, DEL, C1,
/// which start terminal escape sequences or move the cursor) and the
/// invisible bidirectional overrides (which reorder what is shown) become
/// `\u{..}` escapes; everything else, non-ASCII letters included, is kept.
/// SSIDs may hold any bytes, and state files any text.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes `\ ; , : "` as the Wi-Fi QR format (ZXing's `WIFI:`) requires.
fn wifi_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if matches!(c, '\\' | ';' | ',' | ':' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The text a phone's camera understands: `WIFI:T:WPA;S:<ssid>;P:<pass>;;`.
pub fn wifi_uri(ssid: &str, passphrase: Option<&str>, security: SecurityMode) -> String {
    match (security, passphrase) {
        (SecurityMode::Open, _) | (_, None) => format!("WIFI:T:nopass;S:{};;", wifi_escape(ssid)),
        (_, Some(p)) => format!("WIFI:T:WPA;S:{};P:{};;", wifi_escape(ssid), wifi_escape(p)),
    }
}

/// The QR code drawn with Unicode half blocks (two rows per line), dark on
/// light with the quiet zone, so it scans from a dark terminal too.
pub fn qr_text(data: &str) -> String {
    match QrCode::new(data.as_bytes()) {
        Ok(code) => code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(e) => format!("(no QR code: {e})"),
    }
}

/// The banner: SSID, passphrase and the QR code.
pub fn banner(
    ssid: &str,
    passphrase: Option<&str>,
    security: SecurityMode,
    subnet: &str,
) -> String {
    let uri = wifi_uri(ssid, passphrase, security);
    let mut s = String::new();
    s.push_str("\n==== softap: Wi-Fi access point is up ====\n");
    s.push_str(&format!("  SSID:       {}\n", printable(ssid)));
    match passphrase {
        Some(p) if security != SecurityMode::Open => {
            s.push_str(&format!("  Passphrase: {}\n", printable(p)))
        }
        _ => s.push_str("  Passphrase: (open network)\n"),
    }
    s.push_str(&format!("  Network:    {}\n", printable(subnet)));
    s.push_str("  Scan to join:\n");
    s.push_str(&qr_text(&uri));
    s.push('\n');
    s
}

/// The channel the AP is on, as the console names it. Under hostapd's
/// automatic channel selection (`acs`) the plan knows only which channels
/// hostapd may pick: the one it reported picking (`running`) is named, and
/// until it has reported one, that it is still choosing.
pub fn channel_text(planned: u16, acs: bool, running: Option<u16>) -> String {
    match (acs, running) {
        (true, Some(c)) => format!("channel {c}, chosen automatically (ACS)"),
        (true, None) => "channel: choosing (ACS)".into(),
        (false, c) => format!("channel {}", c.unwrap_or(planned)),
    }
}

/// The consoles the kernel writes to (`/sys/class/tty/console/active`),
/// resolved to their device nodes; `tty0` means the foreground VT.
pub fn active_consoles(sysfs: &Path, dev: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(sysfs.join("class/tty/console/active")) else {
        return vec![];
    };
    text.split_whitespace().map(|name| dev.join(name)).collect()
}

/// Writes `text` to every active console, best effort: a console that cannot
/// be opened is logged, not fatal. Returns the consoles written.
pub fn to_consoles(text: &str) -> Vec<PathBuf> {
    to_consoles_in(Path::new("/sys"), Path::new("/dev"), text)
}

/// [`to_consoles`] with the sysfs and /dev directories given.
pub fn to_consoles_in(sysfs: &Path, dev_dir: &Path, text: &str) -> Vec<PathBuf> {
    let mut written = Vec::new();
    // A console takes CR LF; a raw "\n" would stair-step on a serial line.
    let crlf = text.replace('\n', "\r\n");
    for dev in active_consoles(sysfs, dev_dir) {
        let r = std::fs::OpenOptions::new()
            .write(true)
            .open(&dev)
            .and_then(|mut f| f.write_all(crlf.as_bytes()));
        match r {
            Ok(()) => written.push(dev),
            Err(e) => tracing::warn!("{}: cannot write the banner: {e}", dev.display()),
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wifi_uri_escapes_specials() {
        assert_eq!(
            wifi_uri("a;b", Some("p:w\"d"), SecurityMode::Wpa2),
            "WIFI:T:WPA;S:a\\;b;P:p\\:w\\\"d;;"
        );
        assert_eq!(
            wifi_uri("x", None, SecurityMode::Open),
            "WIFI:T:nopass;S:x;;"
        );
    }

    #[test]
    fn terminal_escapes_are_shown_not_obeyed() {
        assert_eq!(printable("Café ☕ net"), "Café ☕ net");
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(
            printable("x\ry\n\u{9b}\u{202e}"),
            "x\\u{d}y\\u{a}\\u{9b}\\u{202e}"
        );
        let b = banner(
            "evil\x1b]0;owned\x07",
            Some("abcdefghijkmnopqrstuvwxy"),
            SecurityMode::Wpa2,
            "172.16.0.0/16",
        );
        assert!(!b.contains('\x1b') && !b.contains('\x07'), "{b:?}");
        assert!(b.contains("SSID:       evil\\u{1b}]0;owned\\u{7}\n"), "{b}");
    }

    #[test]
    fn the_channel_is_the_one_hostapd_runs_on() {
        assert_eq!(
            channel_text(36, true, Some(44)),
            "channel 44, chosen automatically (ACS)"
        );
        assert_eq!(channel_text(36, true, None), "channel: choosing (ACS)");
        assert_eq!(channel_text(36, false, Some(36)), "channel 36");
        assert_eq!(channel_text(6, false, None), "channel 6");
    }

    #[test]
    fn qr_has_a_square_shape() {
        let q = qr_text("WIFI:T:WPA;S:softap-1234;P:abcdefghijkmnopqrstuvwxy;;");
        let lines: Vec<&str> = q.lines().collect();
        let w = lines[0].chars().count();
        assert!(w > 20);
        assert!(lines.iter().all(|l| l.chars().count() == w));
        // Two modules per character row.
        assert_eq!(lines.len(), w.div_ceil(2));
    }

    #[test]
    fn consoles_from_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("class/tty/console")).unwrap();
        std::fs::write(dir.path().join("class/tty/console/active"), "tty0 ttyS0\n").unwrap();
        assert_eq!(
            active_consoles(dir.path(), Path::new("/dev")),
            vec![PathBuf::from("/dev/tty0"), PathBuf::from("/dev/ttyS0")]
        );
    }

    #[test]
    fn banner_goes_to_every_console_that_opens() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        let dev = dir.path().join("dev");
        std::fs::create_dir_all(sys.join("class/tty/console")).unwrap();
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(sys.join("class/tty/console/active"), "tty1 ttyS0\n").unwrap();
        // ttyS0 exists, tty1 does not: one failure must not stop the other.
        std::fs::write(dev.join("ttyS0"), "").unwrap();
        let text = banner(
            "softap-1234",
            Some("abcdefghijkmnopqrstuvwxy"),
            SecurityMode::Wpa2,
            "172.16.0.0/16",
        );
        let written = to_consoles_in(&sys, &dev, &text);
        assert_eq!(written, vec![dev.join("ttyS0")]);
        let got = std::fs::read_to_string(dev.join("ttyS0")).unwrap();
        assert!(got.contains("SSID:       softap-1234\r\n"), "{got}");
        assert!(got.contains("Passphrase: abcdefghijkmnopqrstuvwxy\r\n"));
        assert!(
            !got.replace("\r\n", "").contains('\n'),
            "bare LF on a console"
        );
    }
}
