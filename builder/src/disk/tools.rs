//! Host programs the builder drives, found up front so a missing one is
//! reported once, naming the Debian packages to install.

use std::path::{Path, PathBuf};

/// A program and the Debian/Ubuntu package that ships it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

impl Tool {
    pub const fn new(program: &'static str, package: &'static str) -> Self {
        Self { program, package }
    }
}

/// Directories searched besides `$PATH`: the mkfs tools live in sbin, which
/// an unprivileged user's `$PATH` often lacks.
const SBIN: &[&str] = &["/usr/sbin", "/sbin"];

/// The full path of `program`, from `$PATH` or the sbin directories.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The tools of `wanted` that are not installed.
pub fn missing(wanted: &[Tool]) -> Vec<Tool> {
    wanted
        .iter()
        .filter(|t| find(t.program).is_none())
        .cloned()
        .collect()
}

/// One sentence naming the missing programs and the exact install command.
pub fn missing_message(missing: &[Tool]) -> String {
    let programs: Vec<&str> = missing.iter().map(|t| t.program).collect();
    let mut packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    packages.sort_unstable();
    packages.dedup();
    format!(
        "missing host tools: {} (install them with: apt-get install --no-install-recommends {})",
        programs.join(", "),
        packages.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_programs_and_unique_packages() {
        let m = missing_message(&[
            Tool::new("mkfs.vfat", "dosfstools"),
            Tool::new("mcopy", "mtools"),
            Tool::new("fsck.vfat", "dosfstools"),
        ]);
        assert_eq!(
            m,
            "missing host tools: mkfs.vfat, mcopy, fsck.vfat (install them with: apt-get install --no-install-recommends dosfstools mtools)"
        );
    }

    #[test]
    fn finds_sh_and_not_nonsense() {
        assert!(find("sh").is_some());
        assert!(find("no-such-program-softap").is_none());
        assert_eq!(missing(&[Tool::new("sh", "dash")]), vec![]);
    }
}
