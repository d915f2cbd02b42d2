//! Building the test image with the real builder, as a user would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::HarnessError;
use crate::run::run;

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_owned()
}

pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
}

/// `SOFTAP_CACHE`, else `~/.cache/softap`: shared with the builder's own
/// runs, so the Debian base is made once per machine.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SOFTAP_CACHE") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".cache/softap")
}

#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub disk: PathBuf,
    pub took: Duration,
    /// What `softap-build build --json` printed; none for a ready disk
    /// (`SOFTAP_E2E_DISK`).
    pub summary: Option<serde_json::Value>,
}

/// The cargo profile the image's programs are built with (the workspace's
/// `Cargo.toml`: release, stripped).
pub const IMAGE_PROFILE: &str = "image";

/// Compiler flags for the image build: the checkout, cargo's home and the
/// target directory become fixed names, so no build-host path is left in the
/// binaries. rustc lets the last matching prefix win, so the target
/// directory (often inside the checkout) comes after the checkout. Encoded
/// for `CARGO_ENCODED_RUSTFLAGS` (0x1f between flags), so paths with spaces
/// stay whole.
pub fn remap_rustflags(root: &Path, target: &Path, cargo_home: &Path) -> String {
    [
        (root, "/softap"),
        (target, "/target"),
        (cargo_home, "/cargo"),
    ]
    .iter()
    .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
    .collect::<Vec<_>>()
    .join("\x1f")
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            Path::new(&home).join(".cargo")
        })
}

/// Builds `spec` (relative to the workspace) into `out`, after building the
/// builder and the agent with the image profile. `SOFTAP_E2E_DISK` names a ready
/// disk instead (for iterating on the guest side).
pub fn build_disk(spec: &str, image_name: &str, out: &Path) -> Result<BuiltImage, HarnessError> {
    if let Some(disk) = std::env::var_os("SOFTAP_E2E_DISK") {
        return Ok(BuiltImage {
            disk: disk.into(),
            took: Duration::ZERO,
            summary: None,
        });
    }
    let started = Instant::now();
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("softap-e2e: building softap-build and softap-agent (profile {IMAGE_PROFILE})");
    run(Command::new(&cargo)
        .current_dir(&root)
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            remap_rustflags(&root, &target_dir(&root), &cargo_home()),
        )
        .args(["build", "--profile", IMAGE_PROFILE, "--locked"])
        .args(["-p", "softap-build", "-p", "softap-agent"]))?;
    let (disk, summary) = run_builder(&root, spec, out, &format!("{image_name}.raw"), "disk")?;
    Ok(BuiltImage {
        disk,
        took: started.elapsed(),
        summary: Some(summary),
    })
}

/// The product's OCI archive for the container scenario: `spec` (relative to
/// the workspace) built into `out` with the builder `build_disk` made. Its
/// Debian base is the product's, cached apart from the e2e image's (which
/// adds the guest scripts' tools). `SOFTAP_E2E_OCI` names a ready archive.
pub fn build_oci_archive(
    spec: &str,
    image_name: &str,
    out: &Path,
) -> Result<PathBuf, HarnessError> {
    if let Some(archive) = std::env::var_os("SOFTAP_E2E_OCI") {
        return Ok(archive.into());
    }
    run_builder(
        &workspace_root(),
        spec,
        out,
        &format!("{image_name}.oci.tar"),
        "OCI archive",
    )
    .map(|(archive, _)| archive)
}

/// Runs the release `softap-build build SPEC --json` into `out` with the
/// shared cache and returns `out/file`, which the build must have written
/// (`what` names it in the error), and the summary it printed.
fn run_builder(
    root: &Path,
    spec: &str,
    out: &Path,
    file: &str,
    what: &str,
) -> Result<(PathBuf, serde_json::Value), HarnessError> {
    let builder = target_dir(root).join(IMAGE_PROFILE).join("softap-build");
    eprintln!(
        "softap-e2e: {} build {spec} --out {} --cache {}",
        builder.display(),
        out.display(),
        cache_dir().display()
    );
    let output = run(Command::new(&builder)
        .current_dir(root)
        .arg("build")
        .arg(spec)
        .arg("--json")
        .arg("--out")
        .arg(out)
        .arg("--cache")
        .arg(cache_dir()))?;
    let summary = serde_json::from_slice(&output.stdout).map_err(|e| HarnessError::Command {
        command: format!("softap-build build {spec} --json"),
        status: "succeeded".into(),
        output_tail: format!("but printed no JSON summary: {e}"),
    })?;
    let written = out.join(file);
    if !written.is_file() {
        return Err(HarnessError::Command {
            command: format!("softap-build build {spec}"),
            status: "succeeded".into(),
            output_tail: format!("but wrote no {what} at {}", written.display()),
        });
    }
    Ok((written, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guest scripts' tools, which the product image does without.
    const TEST_PACKAGES: [&str; 4] = ["jq", "grepcidr", "libvirt-daemon-driver-lxc", "busybox"];

    fn base_of(spec: &str) -> toml::Value {
        let path = workspace_root().join("images").join(spec);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let table: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
        table
            .get("base")
            .cloned()
            .unwrap_or_else(|| panic!("{} has no [base]", path.display()))
    }

    /// `extends` replaces `[base]` as a whole, so the e2e image spells out
    /// the product's: it must stay the product's plus the test tools.
    #[test]
    fn e2e_base_is_the_product_base_plus_the_test_tools() {
        let mut want = base_of("softap.toml");
        want.get_mut("packages")
            .and_then(toml::Value::as_array_mut)
            .expect("softap.toml's [base] lists packages")
            .extend(TEST_PACKAGES.map(toml::Value::from));
        assert_eq!(base_of("softap-e2e.toml"), want);
    }

    #[test]
    fn every_build_host_path_is_remapped_the_inner_one_last() {
        let flags = remap_rustflags(
            Path::new("/w/my tree"),
            Path::new("/w/my tree/target"),
            Path::new("/root/.cargo"),
        );
        let flags: Vec<&str> = flags.split('\x1f').collect();
        assert_eq!(
            flags,
            [
                "--remap-path-prefix=/w/my tree=/softap",
                "--remap-path-prefix=/w/my tree/target=/target",
                "--remap-path-prefix=/root/.cargo=/cargo",
            ]
        );
    }
}
