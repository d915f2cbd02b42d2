//! Finding QEMU and OVMF, and choosing the accelerator.

use std::path::{Path, PathBuf};

use crate::error::HarnessError;

/// How QEMU executes the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl Accel {
    pub fn qemu_args(self) -> [&'static str; 4] {
        match self {
            Accel::Tcg => ["-accel", "tcg,thread=multi", "-cpu", "max"],
            Accel::Kvm => ["-accel", "kvm", "-cpu", "host"],
        }
    }
}

/// TCG unless the CPU really has hardware virtualisation or `SOFTAP_QEMU_ACCEL`
/// asks: `/dev/kvm` on these machines is a paravirtual variant (`kvm_pvm`)
/// under which stock kernels hang right after the firmware, so the device
/// node's presence proves nothing.
pub fn choose_accel(cpuinfo: &str, env: Option<&str>) -> Accel {
    match env.map(str::trim) {
        Some("kvm") => return Accel::Kvm,
        Some("tcg") => return Accel::Tcg,
        _ => {}
    }
    let hardware = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    if hardware && Path::new("/dev/kvm").exists() {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

pub fn host_accel() -> Accel {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    choose_accel(&cpuinfo, std::env::var("SOFTAP_QEMU_ACCEL").ok().as_deref())
}

/// The firmware pair: code (read-only) and the variables template, of the
/// same flash size.
#[derive(Debug, Clone)]
pub struct Ovmf {
    pub code: PathBuf,
    pub vars: PathBuf,
    /// Secure Boot enforced: code built with it (needs SMM and a secure
    /// flash), variables with Microsoft's keys enrolled, as on a laptop.
    pub secure_boot: bool,
}

/// Candidate pairs, most common first: Debian/Ubuntu's `ovmf` package.
const OVMF_PAIRS: &[(&str, &str)] = &[
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
    (
        "/usr/share/edk2/ovmf/OVMF_CODE.fd",
        "/usr/share/edk2/ovmf/OVMF_VARS.fd",
    ),
];

/// Secure Boot pairs: code with Secure Boot and SMM, variables with
/// Microsoft's UEFI CA enrolled (what shim is signed with). Both from the
/// same 4 MB build: the 2 MB code with 4 MB variables crashes at once.
const OVMF_SECURE_PAIRS: &[(&str, &str)] = &[
    (
        "/usr/share/OVMF/OVMF_CODE_4M.ms.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
    ),
];

/// The firmware without Secure Boot. `SOFTAP_OVMF_CODE` +
/// `SOFTAP_OVMF_VARS` override the search.
pub fn find_ovmf() -> Result<Ovmf, HarnessError> {
    if let (Ok(code), Ok(vars)) = (
        std::env::var("SOFTAP_OVMF_CODE"),
        std::env::var("SOFTAP_OVMF_VARS"),
    ) {
        return Ok(Ovmf {
            code: code.into(),
            vars: vars.into(),
            secure_boot: false,
        });
    }
    find_pair(OVMF_PAIRS, false, "OVMF (UEFI firmware for QEMU)")
}

/// The firmware with Secure Boot enforced and Microsoft's keys.
/// `SOFTAP_OVMF_SECURE_CODE` + `SOFTAP_OVMF_SECURE_VARS` override the search.
pub fn find_secure_ovmf() -> Result<Ovmf, HarnessError> {
    if let (Ok(code), Ok(vars)) = (
        std::env::var("SOFTAP_OVMF_SECURE_CODE"),
        std::env::var("SOFTAP_OVMF_SECURE_VARS"),
    ) {
        return Ok(Ovmf {
            code: code.into(),
            vars: vars.into(),
            secure_boot: true,
        });
    }
    find_pair(
        OVMF_SECURE_PAIRS,
        true,
        "OVMF with Secure Boot and Microsoft's keys",
    )
}

fn find_pair(pairs: &[(&str, &str)], secure_boot: bool, what: &str) -> Result<Ovmf, HarnessError> {
    pairs
        .iter()
        .map(|(c, v)| (Path::new(c), Path::new(v)))
        .find(|(c, v)| c.is_file() && v.is_file())
        .map(|(c, v)| Ovmf {
            code: c.to_owned(),
            vars: v.to_owned(),
            secure_boot,
        })
        .ok_or_else(|| HarnessError::MissingTool {
            what: what.into(),
            looked: pairs
                .iter()
                .flat_map(|(c, v)| [*c, *v])
                .collect::<Vec<_>>()
                .join(", "),
            package: "ovmf".into(),
        })
}

/// A program on `PATH`, or the error naming its package.
pub fn find_program(name: &str, package: &str) -> Result<PathBuf, HarnessError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| HarnessError::MissingTool {
            what: format!("`{name}`"),
            looked: "PATH".into(),
            package: package.into(),
        })
}

pub fn find_qemu() -> Result<PathBuf, HarnessError> {
    find_program("qemu-system-x86_64", "qemu-system-x86")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PVM: &str = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm\n";

    #[test]
    fn paravirtual_kvm_without_cpu_flags_means_tcg() {
        assert_eq!(choose_accel(PVM, None), Accel::Tcg);
    }

    #[test]
    fn environment_decides_when_set() {
        assert_eq!(choose_accel(PVM, Some("kvm")), Accel::Kvm);
        let vmx = "flags\t\t: fpu vmx sse\n";
        assert_eq!(choose_accel(vmx, Some("tcg")), Accel::Tcg);
    }

    #[test]
    fn a_flag_must_be_a_whole_word() {
        assert_eq!(choose_accel("flags : svmx vmxe\n", None), Accel::Tcg);
    }

    #[test]
    fn tcg_arguments_match_the_machine_facts() {
        assert_eq!(
            Accel::Tcg.qemu_args(),
            ["-accel", "tcg,thread=multi", "-cpu", "max"]
        );
    }
}
