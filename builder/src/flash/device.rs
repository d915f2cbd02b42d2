//! Is the target a whole, removable, unmounted, unused and large enough
//! disk? Answered from sysfs and the mount table, before anything is opened
//! for writing.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::error::{io_err, FlashError};

/// The device as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Kernel name (`sdb`).
    pub name: String,
    pub model: String,
    pub size: u64,
    pub removable: bool,
    /// `major:minor` of the disk and of each of its partitions.
    pub devs: Vec<String>,
    /// Names of the partitions (`sdb1`).
    pub partitions: Vec<String>,
    pub holders: Vec<String>,
}

/// Where the target is and how it is examined.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target<'a> {
    pub device: &'a Path,
    /// Where sysfs is (`/sys`).
    pub sysfs_root: &'a Path,
    /// The mount table (`/proc/self/mountinfo`).
    pub mountinfo: &'a Path,
    /// Accept a regular file as the device (tests).
    pub allow_regular_file: bool,
}

fn read_trimmed(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

/// Reads `<sysfs>/class/block/<name>`.
pub fn device_info(sysfs: &Path, device: &Path, name: &str) -> Result<DeviceInfo, FlashError> {
    let dir = sysfs.join("class/block").join(name);
    let size_path = dir.join("size");
    let sectors = read_trimmed(&size_path).ok_or_else(|| FlashError::UnknownDevice {
        device: device.to_owned(),
        name: name.to_owned(),
        path: size_path.clone(),
    })?;
    if dir.join("partition").exists() {
        let parent = fs::canonicalize(&dir)
            .ok()
            .and_then(|p| {
                p.parent()
                    .and_then(|q| q.file_name())
                    .map(|f| f.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "its disk".to_owned());
        return Err(FlashError::Partition {
            device: device.to_owned(),
            parent: format!("/dev/{parent}"),
        });
    }
    let model = [dir.join("device/vendor"), dir.join("device/model")]
        .iter()
        .filter_map(|p| read_trimmed(p))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut partitions = Vec::new();
    let mut devs: Vec<String> = read_trimmed(&dir.join("dev")).into_iter().collect();
    if let Ok(rd) = fs::read_dir(&dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(name) && e.path().join("partition").exists() {
                devs.extend(read_trimmed(&e.path().join("dev")));
                partitions.push(n);
            }
        }
    }
    partitions.sort();
    let mut holders: Vec<String> = fs::read_dir(dir.join("holders"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    holders.sort();
    Ok(DeviceInfo {
        name: name.to_owned(),
        model: if model.is_empty() {
            "unknown model".to_owned()
        } else {
            model
        },
        size: sectors.parse::<u64>().unwrap_or(0) * 512,
        removable: read_trimmed(&dir.join("removable")).as_deref() == Some("1"),
        devs,
        partitions,
        holders,
    })
}

/// The first mount (source, mount point) of the device or its partitions in
/// a `/proc/self/mountinfo` text, matched by `major:minor` or source path.
pub fn find_mount(mountinfo: &str, device: &Path, info: &DeviceInfo) -> Option<(String, String)> {
    let dev = device.to_string_lossy();
    let dir = device.parent().unwrap_or(Path::new("/dev"));
    let mut sources: Vec<String> = vec![dev.clone().into_owned()];
    sources.extend(
        info.partitions
            .iter()
            .map(|p| dir.join(p).to_string_lossy().into_owned()),
    );
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 5 {
            continue;
        }
        let source = f
            .iter()
            .position(|x| *x == "-")
            .and_then(|i| f.get(i + 2))
            .copied()
            .unwrap_or("");
        let majmin = f[2];
        if info.devs.iter().any(|d| d == majmin) || sources.iter().any(|s| s == source) {
            return Some((source.to_owned(), unescape(f[4])));
        }
    }
    None
}

/// mountinfo escapes spaces and the like as `\040`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Every refusal, checked before the device is opened for writing. Returns
/// the device's canonical path and what sysfs says of it.
pub(super) fn examine(
    t: &Target<'_>,
    image_size: u64,
) -> Result<(PathBuf, DeviceInfo), FlashError> {
    let device = fs::canonicalize(t.device).map_err(io_err(t.device))?;
    let meta = fs::metadata(&device).map_err(io_err(&device))?;
    let is_block = meta.file_type().is_block_device();
    if !(is_block || t.allow_regular_file && meta.is_file()) {
        return Err(FlashError::NotBlockDevice { device });
    }
    let name = if is_block {
        // The kernel's name, whatever /dev path led here.
        let rdev = meta.rdev();
        let link = t.sysfs_root.join(format!(
            "dev/block/{}:{}",
            rustix::fs::major(rdev),
            rustix::fs::minor(rdev)
        ));
        fs::canonicalize(&link)
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let name = if name.is_empty() {
        device
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        name
    };
    let info = device_info(t.sysfs_root, &device, &name)?;
    if !info.removable {
        return Err(FlashError::NotRemovable {
            device,
            model: info.model,
        });
    }
    let mounts = fs::read_to_string(t.mountinfo).map_err(io_err(t.mountinfo))?;
    if let Some((what, mountpoint)) = find_mount(&mounts, &device, &info) {
        return Err(FlashError::Mounted {
            device,
            what,
            mountpoint,
        });
    }
    if !info.holders.is_empty() {
        return Err(FlashError::InUse {
            device,
            holders: info.holders.join(", "),
        });
    }
    if info.size < image_size {
        return Err(FlashError::TooSmall {
            device,
            device_size: info.size,
            image_size,
        });
    }
    Ok((device, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_match_by_devnum_or_partition_path() {
        let info = DeviceInfo {
            name: "sdz".into(),
            model: "m".into(),
            size: 1,
            removable: true,
            devs: vec!["8:208".into(), "8:209".into()],
            partitions: vec!["sdz1".into()],
            holders: vec![],
        };
        let dev = Path::new("/dev/sdz");
        let by_num =
            "36 25 8:209 / /media/usb\\040stick rw,relatime shared:1 - vfat /dev/disk/x rw\n";
        assert_eq!(
            find_mount(by_num, dev, &info),
            Some(("/dev/disk/x".into(), "/media/usb stick".into()))
        );
        let by_path = "36 25 0:99 / /mnt rw - ext4 /dev/sdz1 rw\n";
        assert_eq!(find_mount(by_path, dev, &info).unwrap().1, "/mnt");
        let other = "36 25 8:1 / / rw - ext4 /dev/sda1 rw\n";
        assert_eq!(find_mount(other, dev, &info), None);
    }
}
