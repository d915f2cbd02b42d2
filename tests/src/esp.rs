//! The stick's EFI system partition, read as the firmware reads it: found in
//! the GPT (`sfdisk --json`), its files read and written with mtools at the
//! partition's offset (no mount), the loaders' signatures read with sbverify.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::HarnessError;
use crate::run::run;
use crate::tools::find_program;

/// The GPT type of an EFI system partition.
const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

/// The only files the removable-media directory may hold: shim, systemd-boot
/// as the `grubx64.efi` shim chain-loads, MokManager. With `fbx64.efi` or
/// `BOOTX64.CSV` shim would run its fallback loader and write boot entries
/// into the NVRAM of every machine the stick is plugged into.
pub const SIGNED_BOOT_FILES: &[&str] = &["BOOTX64.EFI", "grubx64.efi", "mmx64.efi"];

/// Who must have signed each loader (a part of the issuer's name as
/// `sbverify --list` prints it): shim by Microsoft's UEFI CA, which the
/// firmware trusts; systemd-boot and MokManager by the Debian Secure Boot CA,
/// which shim embeds.
pub const SIGNERS: &[(&str, &str)] = &[
    ("BOOTX64.EFI", "CN=Microsoft Corporation UEFI CA 2011"),
    ("grubx64.efi", "CN=Debian Secure Boot CA"),
    ("mmx64.efi", "CN=Debian Secure Boot CA"),
];

/// The byte offset of the ESP in `disk`.
pub fn offset(disk: &Path) -> Result<u64, HarnessError> {
    let sfdisk = find_program("sfdisk", "fdisk")?;
    let out = run(Command::new(sfdisk).arg("--json").arg(disk))?;
    let bad = |why: &str| HarnessError::Command {
        command: format!("sfdisk --json {}", disk.display()),
        status: "succeeded".into(),
        output_tail: format!("but {why}"),
    };
    let table: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|_| bad("printed no JSON"))?;
    let table = &table["partitiontable"];
    let sector = table["sectorsize"].as_u64().unwrap_or(512);
    table["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["type"].as_str() == Some(ESP_TYPE))
        .and_then(|p| p["start"].as_u64())
        .map(|start| start * sector)
        .ok_or_else(|| bad("found no EFI system partition"))
}

fn mtool(name: &str, disk: &Path, offset: u64) -> Result<Command, HarnessError> {
    let mut c = Command::new(find_program(name, "mtools")?);
    c.env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(format!("{}@@{offset}", disk.display()));
    Ok(c)
}

/// The names of the files in directory `dir` of the ESP (e.g. `EFI/BOOT`).
pub fn list(disk: &Path, dir: &str) -> Result<Vec<String>, HarnessError> {
    let at = offset(disk)?;
    let out = run(mtool("mdir", disk, at)?.arg("-b").arg(format!("::/{dir}")))?;
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim_end().rsplit('/').next())
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .map(str::to_owned)
        .collect();
    names.sort();
    Ok(names)
}

/// Copies the ESP file `path` out to `to`.
pub fn copy_out(disk: &Path, path: &str, to: &Path) -> Result<(), HarnessError> {
    let at = offset(disk)?;
    run(mtool("mcopy", disk, at)?
        .arg("-n")
        .arg(format!("::/{path}"))
        .arg(to))
    .map(drop)
}

/// Writes `text` as the ESP's `softap.toml`, as a user editing the stick
/// would.
pub fn write_softap_toml(disk: &Path, text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let file = dir.path().join("softap.toml");
    std::fs::write(&file, text).map_err(|e| format!("writing {}: {e}", file.display()))?;
    copy_in(disk, &file, "softap.toml").map_err(|e| e.to_string())
}

/// Replaces the ESP file `path` with `from`.
pub fn copy_in(disk: &Path, from: &Path, path: &str) -> Result<(), HarnessError> {
    let at = offset(disk)?;
    run(mtool("mcopy", disk, at)?
        .arg("-o")
        .arg(from)
        .arg(format!("::/{path}")))
    .map(drop)
}

/// What `sbverify --list` says about `file`'s signatures.
pub fn signatures(file: &Path) -> Result<String, HarnessError> {
    let sbverify = find_program("sbverify", "sbsigntool")?;
    let out = Command::new(sbverify)
        .arg("--list")
        .arg(file)
        .output()
        .map_err(|e| HarnessError::io("running sbverify", file, e))?;
    // An unsigned image makes it exit non-zero after saying so.
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Whether `sbverify --list` output lists at least one signature.
pub fn is_signed(listing: &str) -> bool {
    listing.lines().any(|l| l.starts_with("signature "))
}

/// What is wrong with the built disk's signed boot chain: the files of
/// `EFI/BOOT` (those of [`SIGNED_BOOT_FILES`] and nothing else), each
/// loader's signer, and `editor no` in `loader/loader.conf`.
pub fn check_signed_chain(disk: &Path) -> Result<Vec<String>, HarnessError> {
    let mut problems = Vec::new();
    let found = list(disk, "EFI/BOOT")?;
    let mut wanted: Vec<String> = SIGNED_BOOT_FILES.iter().map(|s| (*s).to_owned()).collect();
    wanted.sort();
    if found != wanted {
        problems.push(format!("EFI/BOOT holds {found:?}, not exactly {wanted:?}"));
    }
    let scratch = tempfile::tempdir()
        .map_err(|e| HarnessError::io("making a scratch directory", std::env::temp_dir(), e))?;
    for (name, signer) in SIGNERS {
        if !found.iter().any(|f| f == name) {
            continue;
        }
        let file = scratch.path().join(name);
        copy_out(disk, &format!("EFI/BOOT/{name}"), &file)?;
        let listing = signatures(&file)?;
        if !is_signed(&listing) || !listing.contains(signer) {
            problems.push(format!(
                "EFI/BOOT/{name} is not signed by {signer:?}; sbverify --list says:\n{listing}"
            ));
        }
    }
    let conf = scratch.path().join("loader.conf");
    copy_out(disk, "loader/loader.conf", &conf)?;
    let text = std::fs::read_to_string(&conf)
        .map_err(|e| HarnessError::io("reading loader.conf", &conf, e))?;
    if !text
        .lines()
        .any(|l| l.split_whitespace().eq(["editor", "no"]))
    {
        problems.push(format!(
            "loader/loader.conf lacks `editor no` (anyone at the console could edit the kernel command line):\n{text}"
        ));
    }
    Ok(problems)
}

/// Makes `to`, a copy of `disk` whose `EFI/BOOT/BOOTX64.EFI` is the same shim
/// with every signature removed (`sbattach --remove`): an unsigned loader,
/// which Secure Boot firmware must refuse.
pub fn unsigned_copy(disk: &Path, to: &Path) -> Result<PathBuf, HarnessError> {
    crate::qemu::sparse_copy(disk, to)?;
    let scratch = tempfile::tempdir()
        .map_err(|e| HarnessError::io("making a scratch directory", std::env::temp_dir(), e))?;
    let loader = scratch.path().join("BOOTX64.EFI");
    copy_out(to, "EFI/BOOT/BOOTX64.EFI", &loader)?;
    let sbattach = find_program("sbattach", "sbsigntool")?;
    // sbattach removes one signature a call; shim carries two.
    for _ in 0..8 {
        if !is_signed(&signatures(&loader)?) {
            break;
        }
        run(Command::new(&sbattach).arg("--remove").arg(&loader))?;
    }
    let left = signatures(&loader)?;
    if is_signed(&left) {
        return Err(HarnessError::Command {
            command: format!("sbattach --remove {}", loader.display()),
            status: "succeeded".into(),
            output_tail: format!("but signatures are left:\n{left}"),
        });
    }
    copy_in(to, &loader, "EFI/BOOT/BOOTX64.EFI")?;
    Ok(to.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_with_a_signature_counts_as_signed() {
        let signed = "signature 1\nimage signature issuers:\n - /C=US/ST=Washington/L=Redmond/O=Microsoft Corporation/CN=Microsoft Corporation UEFI CA 2011\n";
        assert!(is_signed(signed));
        assert!(!is_signed("No signature table present\n"));
    }

    #[test]
    fn every_loader_has_a_signer() {
        for f in SIGNED_BOOT_FILES {
            assert!(SIGNERS.iter().any(|(n, _)| n == f), "{f}");
        }
        assert!(!SIGNED_BOOT_FILES.contains(&"fbx64.efi"));
        assert!(!SIGNED_BOOT_FILES.contains(&"BOOTX64.CSV"));
    }
}
