//! Writes a layer's entries as a deterministic tar stream: ustar headers with
//! every field set here (no host defaults), PAX records for long names, long
//! link targets and xattrs, hard links pointing at the first path of their
//! group.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use tar::{EntryType, Header};

use super::entry::{Entry, Kind};

const BLOCK: usize = 512;

/// Writes `entries` (sorted, parents first: see [`super::Layer::finish`]) to
/// `out`; `on_bytes` is called with the size of each file's data written.
pub fn write_tar<W: Write>(
    entries: &[Entry],
    mut out: W,
    on_bytes: &mut dyn FnMut(u64),
) -> io::Result<W> {
    let mut first_of_group: HashMap<u64, &str> = HashMap::new();
    for e in entries {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let mut h = Header::new_ustar();
        h.set_mode(e.mode & 0o7777);
        set_id(&mut h, e.uid, e.gid, &mut pax);
        h.set_mtime(e.mtime);
        h.set_username("")?;
        h.set_groupname("")?;
        h.set_device_major(0)?;
        h.set_device_minor(0)?;
        h.set_size(0);
        let mut data: Option<(u64, &super::entry::Data)> = None;
        let name = match &e.kind {
            Kind::Dir => {
                h.set_entry_type(EntryType::Directory);
                format!("{}/", e.path)
            }
            Kind::Symlink(target) => {
                h.set_entry_type(EntryType::Symlink);
                set_link(&mut h, target, &mut pax)?;
                e.path.clone()
            }
            Kind::File {
                size,
                data: d,
                link_group,
            } => {
                let leader = link_group.and_then(|g| match first_of_group.get(&g) {
                    Some(first) => Some(*first),
                    None => {
                        first_of_group.insert(g, &e.path);
                        None
                    }
                });
                match leader {
                    Some(first) => {
                        h.set_entry_type(EntryType::Link);
                        set_link(&mut h, first, &mut pax)?;
                    }
                    None => {
                        h.set_entry_type(EntryType::Regular);
                        h.set_size(*size);
                        data = Some((*size, d));
                    }
                }
                e.path.clone()
            }
        };
        if h.set_path(&name).is_err() {
            pax.push(("path".to_owned(), name.as_bytes().to_vec()));
            truncate_into(&mut h.as_old_mut().name, name.as_bytes());
        }
        for (k, v) in &e.xattrs {
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        if !pax.is_empty() {
            write_pax(&mut out, &pax, e.mtime)?;
        }
        h.set_cksum();
        out.write_all(h.as_bytes())?;
        if let Some((size, d)) = data {
            let mut r = d.open(size)?;
            let n = copy_counted(&mut r, &mut out, on_bytes)?;
            if n != size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: expected {size} bytes, read {n}", e.path),
                ));
            }
            pad(&mut out, n)?;
        }
    }
    out.write_all(&[0u8; BLOCK * 2])?;
    Ok(out)
}

fn set_id(h: &mut Header, uid: u64, gid: u64, pax: &mut Vec<(String, Vec<u8>)>) {
    // ustar's octal fields hold 7 digits; larger ids go to PAX.
    const MAX: u64 = 0o7777777;
    h.set_uid(uid.min(MAX));
    h.set_gid(gid.min(MAX));
    if uid > MAX {
        pax.push(("uid".to_owned(), uid.to_string().into_bytes()));
    }
    if gid > MAX {
        pax.push(("gid".to_owned(), gid.to_string().into_bytes()));
    }
}

/// Link targets are stored byte for byte (`set_link_name` would normalise
/// `//a` or `a/./b`, changing what the link says).
fn set_link(h: &mut Header, target: &str, pax: &mut Vec<(String, Vec<u8>)>) -> io::Result<()> {
    if target.len() > 100 {
        pax.push(("linkpath".to_owned(), target.as_bytes().to_vec()));
    }
    truncate_into(&mut h.as_old_mut().linkname, target.as_bytes());
    Ok(())
}

fn truncate_into(field: &mut [u8], value: &[u8]) {
    field.fill(0);
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

fn write_pax<W: Write>(out: &mut W, records: &[(String, Vec<u8>)], mtime: u64) -> io::Result<()> {
    let mut body = Vec::new();
    for (key, value) in records {
        // The length prefix counts itself.
        let rest = 3 + key.len() + value.len();
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        write!(body, "{len} {key}=")?;
        body.extend_from_slice(value);
        body.push(b'\n');
    }
    let mut h = Header::new_ustar();
    h.set_path("PaxHeader")?;
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_username("")?;
    h.set_groupname("")?;
    h.set_entry_type(EntryType::XHeader);
    h.set_size(body.len() as u64);
    h.set_cksum();
    out.write_all(h.as_bytes())?;
    out.write_all(&body)?;
    pad(out, body.len() as u64)
}

fn pad<W: Write>(out: &mut W, len: u64) -> io::Result<()> {
    let rem = (len % BLOCK as u64) as usize;
    if rem != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
    }
    Ok(())
}

fn copy_counted(
    r: &mut dyn Read,
    w: &mut dyn Write,
    on_bytes: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
        on_bytes(n as u64);
    }
}
