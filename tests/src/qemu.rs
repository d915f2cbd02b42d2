//! One QEMU run of the appliance disk, watched through its serial console.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::console::{sleep_until, Console};
use crate::error::HarnessError;
use crate::results::{parse_line, Line, Report};
use crate::tools::{Accel, Ovmf};

/// How the disk is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskBus {
    /// `qemu-xhci` + `usb-storage`: what a user's stick is (and OVMF boots it).
    UsbStick,
}

/// What the guest boots from: the raw disk under OVMF, or (for quick
/// experiments with a bare rootfs) a kernel and initrd given directly.
#[derive(Debug, Clone)]
pub enum Firmware {
    Ovmf(Ovmf),
    Direct {
        kernel: PathBuf,
        initrd: PathBuf,
        append: String,
    },
}

#[derive(Debug, Clone)]
pub struct VmSpec {
    pub qemu: PathBuf,
    pub accel: Accel,
    pub firmware: Firmware,
    /// The disk QEMU writes to: the caller's own copy.
    pub disk: PathBuf,
    pub bus: DiskBus,
    /// QEMU's user-mode network; its default (10.0.2.0/24) when `None`.
    pub user_net: Option<UserNet>,
    /// Passed to the guest as fw_cfg `opt/softap-e2e` (a file path).
    pub fw_cfg_file: Option<PathBuf>,
    /// A file the guest reads as a read-only virtio disk with serial
    /// `softap-oci` (`/dev/disk/by-id/virtio-softap-oci`): the product's OCI
    /// archive for the container scenario.
    pub oci_archive: Option<PathBuf>,
    /// Where this run keeps its files (console, vars copy).
    pub work_dir: PathBuf,
    pub memory_mib: u32,
    pub cpus: u32,
    /// QEMU's `i6300esb` watchdog, which resets the machine when it fires
    /// (under `-no-reboot` that reset ends QEMU).
    pub watchdog: bool,
    /// The firmware's variables: a fresh copy, or an earlier boot's file
    /// used as it is (the machine relaunched; `efi_pstore` keeps the kernel's
    /// crash record there).
    pub vars: Vars,
}

/// Where a boot's OVMF variables come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vars {
    /// A fresh copy of the firmware's template in the run directory: OVMF
    /// boots the stick from its fallback path, as a new machine would.
    Fresh,
    /// This file, as an earlier boot of the same machine left it.
    Kept(PathBuf),
}

impl VmSpec {
    pub fn console_path(&self) -> PathBuf {
        self.work_dir.join("serial.log")
    }

    pub fn vars_path(&self) -> PathBuf {
        match &self.vars {
            Vars::Fresh => self.work_dir.join("OVMF_VARS.fd"),
            Vars::Kept(file) => file.clone(),
        }
    }

    /// The same machine again (disk, firmware variables), files in `work_dir`.
    pub fn relaunched(&self, work_dir: PathBuf) -> VmSpec {
        VmSpec {
            vars: Vars::Kept(self.vars_path()),
            work_dir,
            ..self.clone()
        }
    }

    /// The QEMU command line (pure, so it is checked by plain tests).
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| (*s).to_owned()));
        let secure = matches!(&self.firmware, Firmware::Ovmf(o) if o.secure_boot);
        // Secure Boot firmware keeps its variables in SMM-protected flash.
        push(&[
            "-name",
            "softap-e2e",
            "-machine",
            if secure { "q35,smm=on" } else { "q35" },
        ]);
        if secure {
            push(&["-global", "driver=cfi.pflash01,property=secure,value=on"]);
        }
        push(&self.accel.qemu_args());
        push(&["-m", &self.memory_mib.to_string()]);
        push(&["-smp", &self.cpus.to_string()]);
        match &self.firmware {
            Firmware::Ovmf(ovmf) => {
                push(&[
                    "-drive",
                    &format!(
                        "if=pflash,format=raw,unit=0,readonly=on,file={}",
                        escape(&ovmf.code)
                    ),
                ]);
                push(&[
                    "-drive",
                    &format!(
                        "if=pflash,format=raw,unit=1,file={}",
                        escape(&self.vars_path())
                    ),
                ]);
            }
            Firmware::Direct {
                kernel,
                initrd,
                append,
            } => {
                push(&["-kernel", &kernel.to_string_lossy()]);
                push(&["-initrd", &initrd.to_string_lossy()]);
                push(&["-append", append]);
            }
        }
        push(&[
            "-drive",
            &format!(
                "if=none,id=stick,format=raw,cache=unsafe,file={}",
                escape(&self.disk)
            ),
        ]);
        match self.bus {
            DiskBus::UsbStick => {
                push(&["-device", "qemu-xhci,id=xhci"]);
                push(&["-device", "usb-storage,bus=xhci.0,drive=stick,removable=on"]);
            }
        }
        if let Some(archive) = &self.oci_archive {
            push(&[
                "-drive",
                &format!(
                    "if=none,id=oci,format=raw,readonly=on,file={}",
                    escape(archive)
                ),
            ]);
            push(&["-device", "virtio-blk-pci,drive=oci,serial=softap-oci"]);
        }
        let mut nic = "user,model=virtio-net-pci".to_owned();
        if let Some(net) = &self.user_net {
            nic.push_str(&format!(",net={},host={}", net.net, net.host));
            if !net.ipv6 {
                nic.push_str(",ipv6=off");
            }
        }
        push(&["-nic", &nic]);
        // Early-boot entropy for hostapd and wpa_supplicant.
        push(&["-device", "virtio-rng-pci"]);
        if let Some(file) = &self.fw_cfg_file {
            push(&[
                "-fw_cfg",
                &format!("name=opt/softap-e2e,file={}", escape(file)),
            ]);
        }
        push(&[
            "-serial",
            &format!("file:{}", self.console_path().to_string_lossy()),
        ]);
        if self.watchdog {
            push(&["-device", "i6300esb", "-action", "watchdog=reset"]);
        }
        // A reboot or reset of the guest ends QEMU: the harness relaunches
        // it when a boot is meant to end so.
        push(&["-display", "none", "-monitor", "none", "-no-reboot"]);
        a
    }
}

/// QEMU's user-mode network. The host address is given explicitly: by
/// default slirp keeps 10.0.2.2's low bits inside `net` (172.16.2.2 in a /16),
/// which is easy to get wrong on the guest side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNet {
    pub net: String,
    /// Where the guest reaches the host's loopback (the listener).
    pub host: String,
    /// Whether slirp also gives the guest IPv6 (router advertisements and
    /// a default route): its default.
    pub ipv6: bool,
}

impl UserNet {
    /// `net` as `a.b.c.d/len`; the host is the network's second address.
    pub fn new(net: &str) -> Option<UserNet> {
        let (addr, len) = net.split_once('/')?;
        let len: u32 = len.parse().ok().filter(|l| *l <= 30)?;
        let addr: std::net::Ipv4Addr = addr.parse().ok()?;
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        let base = u32::from(addr) & mask;
        Some(UserNet {
            net: format!("{}/{len}", std::net::Ipv4Addr::from(base)),
            host: std::net::Ipv4Addr::from(base + 2).to_string(),
            ipv6: true,
        })
    }
}

/// The host as the guest sees it when the scenario keeps QEMU's default net.
pub const DEFAULT_USER_HOST: &str = "10.0.2.2";
/// The host's IPv6 address as the guest sees it (QEMU's default
/// `ipv6-prefix` fec0::/64): QEMU takes connections to it to `::1`.
pub const DEFAULT_USER_HOST6: &str = "fec0::2";

/// QEMU's option parser splits on commas; a literal comma is doubled.
fn escape(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

/// Copies `from` to `to` keeping holes (the disk is mostly empty).
pub fn sparse_copy(from: &Path, to: &Path) -> Result<(), HarnessError> {
    crate::run::run(
        Command::new("cp")
            .arg("--sparse=always")
            .arg("--reflink=auto")
            .arg(from)
            .arg(to),
    )
    .map(drop)
}

/// The result of a boot that reached `SOFTAP-E2E-DONE`.
#[derive(Debug)]
pub struct Boot {
    pub report: Report,
    /// Wall time from spawning QEMU to the done line.
    pub elapsed: Duration,
    /// QEMU start → guest uptime 0, estimated from the first TIME line.
    pub firmware_offset: Option<Duration>,
    pub console: Console,
    /// From the done line to QEMU's own exit, when it exited by itself.
    pub exited_after: Option<Duration>,
}

impl Boot {
    /// Guest event time converted to "seconds since QEMU started".
    pub fn since_qemu_start(&self, event: &str) -> Option<f64> {
        let t = self.report.times.get(event)?;
        Some(self.firmware_offset?.as_secs_f64() + t)
    }
}

/// How a boot ends once the guest has reported `SOFTAP-E2E-DONE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The guest powers off; QEMU is killed if it has not within `grace`.
    PowerOff { grace: Duration },
    /// The guest crashes or hangs on purpose: the reset must end QEMU
    /// (`-no-reboot`) within `within`; fatal console markers no longer are.
    Restart { within: Duration },
}

/// Runs QEMU until the guest prints `SOFTAP-E2E-DONE` and then ends as
/// `end` says, a fatal console marker appears, QEMU exits, or `timeout`
/// passes. With [`End::Restart`] the result's `exited_after` is the time
/// from the done line to QEMU's exit.
pub fn boot(
    scenario: &str,
    spec: &VmSpec,
    timeout: Duration,
    end: End,
) -> Result<Boot, HarnessError> {
    let Spawned {
        mut vm,
        started,
        console_path,
        qemu_log,
    } = spawn(scenario, spec)?;
    let mut console = Console::new(&console_path, started);
    let mut report = Report::default();
    let mut firmware_offset = None;
    let deadline = started + timeout;

    let fail = |console: &Console, reason: String| {
        let qemu_out = std::fs::read_to_string(&qemu_log).unwrap_or_default();
        let reason = if qemu_out.trim().is_empty() {
            reason
        } else {
            format!("{reason}\n--- QEMU's own output ---\n{}", qemu_out.trim())
        };
        HarnessError::Boot {
            scenario: scenario.to_owned(),
            reason,
            console: console.path().to_owned(),
            console_tail: console.tail(120),
        }
    };

    let mut done_at = None;
    let mut done_line = None;
    let mut exited_after = None;
    loop {
        let first_new = console.poll()?;
        for (i, line) in console.lines().iter().enumerate().skip(first_new) {
            if let Some(parsed) = parse_line(&line.text) {
                if matches!(parsed, Line::Done { .. }) && done_line.is_none() {
                    done_line = Some(i);
                }
                if let Line::Time { seconds, .. } = &parsed {
                    // The first TIME line fixes the offset between QEMU's
                    // start and the guest's clock (within a poll period).
                    if firmware_offset.is_none() {
                        firmware_offset = line.at.checked_sub(Duration::from_secs_f64(*seconds));
                    }
                }
                report.add(parsed);
            }
        }
        // A boot that ends in a crash: only lines before the done line can
        // be fatal (the crash may follow in the same poll).
        let fatal = match (end, done_line) {
            (End::Restart { .. }, Some(d)) => console.lines()[first_new.min(d)..d]
                .iter()
                .find_map(|l| crate::console::fatal_reason(&l.text)),
            _ => console.fatal_since(first_new),
        };
        if let Some(reason) = fatal {
            vm.kill();
            return Err(fail(&console, reason));
        }
        if report.done.is_some() && done_at.is_none() {
            done_at = Some(started.elapsed());
        }
        if let Some(status) = vm.try_wait() {
            console.poll()?;
            if let Some(at) = done_at {
                exited_after = Some(started.elapsed().saturating_sub(at));
                break;
            }
            return Err(fail(
                &console,
                format!("QEMU exited ({status}) before the guest reported done"),
            ));
        }
        if let (Some(at), End::Restart { within }) = (done_at, end) {
            if started.elapsed() > at + within {
                vm.kill();
                console.poll()?;
                let why =
                    format!("after the done line QEMU did not exit (no reset) within {within:?}");
                return Err(fail(&console, why));
            }
        } else if let (
            Some(at),
            End::PowerOff {
                grace: shutdown_grace,
            },
        ) = (done_at, end)
        {
            if started.elapsed() > at + shutdown_grace {
                // The guest said everything it had to; a slow power-off is
                // not the test's business, but note it.
                eprintln!(
                    "softap-e2e[{scenario}]: guest did not power off within {shutdown_grace:?}; killing QEMU"
                );
                vm.kill();
                break;
            }
        } else if !sleep_until(deadline, Duration::from_millis(100)) {
            vm.kill();
            console.poll()?;
            return Err(fail(
                &console,
                format!("no SOFTAP-E2E-DONE within {timeout:?}"),
            ));
        }
        if done_at.is_some() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(Boot {
        report,
        elapsed: done_at.unwrap_or_else(|| started.elapsed()),
        firmware_offset,
        console,
        exited_after,
    })
}

/// A QEMU just started.
struct Spawned {
    vm: Running,
    started: Instant,
    console_path: PathBuf,
    qemu_log: PathBuf,
}

/// Starts QEMU on `spec` with a fresh console file and fresh firmware
/// variables.
fn spawn(scenario: &str, spec: &VmSpec) -> Result<Spawned, HarnessError> {
    std::fs::create_dir_all(&spec.work_dir)
        .map_err(|e| HarnessError::io("creating the run directory", &spec.work_dir, e))?;
    if let (Firmware::Ovmf(ovmf), Vars::Fresh) = (&spec.firmware, &spec.vars) {
        std::fs::copy(&ovmf.vars, spec.vars_path())
            .map_err(|e| HarnessError::io("copying OVMF vars", &ovmf.vars, e))?;
    }
    let console_path = spec.console_path();
    // A stale console from an earlier run would be read as this one's.
    let _ = std::fs::remove_file(&console_path);
    let qemu_log = spec.work_dir.join("qemu.log");
    let log = std::fs::File::create(&qemu_log)
        .map_err(|e| HarnessError::io("creating the QEMU log", &qemu_log, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| HarnessError::io("creating the QEMU log", &qemu_log, e))?;
    let args = spec.args();
    eprintln!(
        "softap-e2e[{scenario}]: {} {}",
        spec.qemu.display(),
        args.join(" ")
    );
    let started = Instant::now();
    let child = Command::new(&spec.qemu)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| HarnessError::io("starting QEMU", &spec.qemu, e))?;
    Ok(Spawned {
        vm: Running { child },
        started,
        console_path,
        qemu_log,
    })
}

/// Runs QEMU until a console line contains `needle`, then kills it at once,
/// as a power cut would (the disk keeps what the guest wrote, nothing more).
/// Returns the console, with the line's index. A fatal console marker, QEMU
/// exiting first or `timeout` fail it.
pub fn boot_until(
    scenario: &str,
    spec: &VmSpec,
    needle: &str,
    timeout: Duration,
) -> Result<(Console, usize), HarnessError> {
    let Spawned {
        mut vm,
        started,
        console_path,
        ..
    } = spawn(scenario, spec)?;
    let mut console = Console::new(&console_path, started);
    let deadline = started + timeout;
    let fail = |console: &Console, reason: String| HarnessError::Boot {
        scenario: scenario.to_owned(),
        reason,
        console: console.path().to_owned(),
        console_tail: console.tail(120),
    };
    loop {
        let first_new = console.poll()?;
        if let Some(i) = console.lines()[first_new..]
            .iter()
            .position(|l| l.text.contains(needle))
        {
            vm.kill();
            return Ok((console, first_new + i));
        }
        if let Some(reason) = console.fatal_since(first_new) {
            vm.kill();
            return Err(fail(&console, reason));
        }
        if let Some(status) = vm.try_wait() {
            console.poll()?;
            return Err(fail(
                &console,
                format!("QEMU exited ({status}) before the console showed `{needle}`"),
            ));
        }
        if !sleep_until(deadline, Duration::from_millis(50)) {
            vm.kill();
            console.poll()?;
            return Err(fail(
                &console,
                format!("the console did not show `{needle}` within {timeout:?}"),
            ));
        }
    }
}

/// Kills QEMU when the harness leaves early (panic or error).
struct Running {
    child: Child,
}

impl Running {
    fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> VmSpec {
        VmSpec {
            qemu: "/usr/bin/qemu-system-x86_64".into(),
            accel: Accel::Tcg,
            firmware: Firmware::Ovmf(Ovmf {
                code: "/usr/share/OVMF/OVMF_CODE_4M.fd".into(),
                vars: "/usr/share/OVMF/OVMF_VARS_4M.fd".into(),
                secure_boot: false,
            }),
            disk: "/tmp/run,1/disk.raw".into(),
            bus: DiskBus::UsbStick,
            user_net: UserNet::new("172.16.0.0/16"),
            fw_cfg_file: Some("/tmp/run/cfg".into()),
            oci_archive: None,
            work_dir: "/tmp/run".into(),
            memory_mib: 2048,
            cpus: 2,
            watchdog: false,
            vars: Vars::Fresh,
        }
    }

    fn has_pair(args: &[String], flag: &str, value: &str) -> bool {
        args.windows(2).any(|w| w[0] == flag && w[1] == value)
    }

    /// The OVMF variables and the stick of the run in `/tmp/run` (a
    /// relaunch keeps both).
    fn assert_uses_the_run_s_variables_and_stick(args: &[String]) {
        assert!(has_pair(
            args,
            "-drive",
            "if=pflash,format=raw,unit=1,file=/tmp/run/OVMF_VARS.fd"
        ));
        assert!(has_pair(
            args,
            "-drive",
            "if=none,id=stick,format=raw,cache=unsafe,file=/tmp/run,,1/disk.raw"
        ));
    }

    #[test]
    fn boots_the_disk_as_a_usb_stick_under_ovmf_with_tcg() {
        let args = spec().args();
        assert!(has_pair(&args, "-accel", "tcg,thread=multi"));
        assert!(has_pair(&args, "-cpu", "max"));
        assert!(has_pair(&args, "-machine", "q35"));
        assert!(has_pair(&args, "-m", "2048"));
        assert!(has_pair(
            &args,
            "-drive",
            "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
        ));
        assert_uses_the_run_s_variables_and_stick(&args);
        assert!(has_pair(
            &args,
            "-device",
            "usb-storage,bus=xhci.0,drive=stick,removable=on"
        ));
        assert!(has_pair(
            &args,
            "-nic",
            "user,model=virtio-net-pci,net=172.16.0.0/16,host=172.16.0.2"
        ));
        assert!(has_pair(
            &args,
            "-fw_cfg",
            "name=opt/softap-e2e,file=/tmp/run/cfg"
        ));
        assert!(has_pair(&args, "-serial", "file:/tmp/run/serial.log"));
        assert!(!args.iter().any(|a| a.contains("virtio-blk")));
        assert!(!args
            .iter()
            .any(|a| a.contains("smm") || a.contains("secure")));
    }

    #[test]
    fn secure_boot_firmware_gets_smm_and_a_secure_flash() {
        let mut s = spec();
        s.firmware = Firmware::Ovmf(Ovmf {
            code: "/usr/share/OVMF/OVMF_CODE_4M.ms.fd".into(),
            vars: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd".into(),
            secure_boot: true,
        });
        let args = s.args();
        assert!(has_pair(&args, "-machine", "q35,smm=on"));
        assert!(has_pair(
            &args,
            "-global",
            "driver=cfi.pflash01,property=secure,value=on"
        ));
        assert!(has_pair(
            &args,
            "-drive",
            "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.ms.fd"
        ));
        // The variables are still the run's own copy.
        assert!(has_pair(
            &args,
            "-drive",
            "if=pflash,format=raw,unit=1,file=/tmp/run/OVMF_VARS.fd"
        ));
    }

    #[test]
    fn the_oci_archive_is_a_read_only_virtio_disk_with_a_serial() {
        let mut s = spec();
        s.oci_archive = Some("/tmp/o,ci/softap.oci.tar".into());
        let args = s.args();
        assert!(has_pair(
            &args,
            "-drive",
            "if=none,id=oci,format=raw,readonly=on,file=/tmp/o,,ci/softap.oci.tar"
        ));
        assert!(has_pair(
            &args,
            "-device",
            "virtio-blk-pci,drive=oci,serial=softap-oci"
        ));
    }

    #[test]
    fn a_relaunch_keeps_disk_and_variables_and_a_watchdog_resets() {
        let args = spec().args();
        assert!(args.iter().any(|a| a == "-no-reboot"));
        assert!(!args.iter().any(|a| a.contains("i6300esb")));
        let mut s = spec();
        s.watchdog = true;
        let again = s.relaunched("/tmp/run-again".into());
        let args = again.args();
        assert!(args.iter().any(|a| a == "-no-reboot"));
        assert!(has_pair(&args, "-device", "i6300esb"));
        assert!(has_pair(&args, "-action", "watchdog=reset"));
        assert_uses_the_run_s_variables_and_stick(&args);
        assert!(has_pair(&args, "-serial", "file:/tmp/run-again/serial.log"));
    }

    #[test]
    fn user_net_host_is_the_second_address() {
        assert_eq!(
            UserNet::new("172.16.9.9/16"),
            Some(UserNet {
                net: "172.16.0.0/16".into(),
                host: "172.16.0.2".into(),
                ipv6: true,
            })
        );
        assert_eq!(UserNet::new("10.0.2.0"), None);
        assert_eq!(UserNet::new("10.0.2.0/31"), None);
        assert_eq!(UserNet::new("nonsense/8"), None);
    }

    #[test]
    fn direct_kernel_boot_has_no_pflash() {
        let mut s = spec();
        s.firmware = Firmware::Direct {
            kernel: "/k".into(),
            initrd: "/i".into(),
            append: "root=/dev/sda console=ttyS0".into(),
        };
        let args = s.args();
        assert!(has_pair(&args, "-kernel", "/k"));
        assert!(has_pair(&args, "-append", "root=/dev/sda console=ttyS0"));
        assert!(!args.iter().any(|a| a.contains("pflash")));
    }
}
