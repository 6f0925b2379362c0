//! Choosing between KVM and TCG.
//!
//! `/dev/kvm` being present and writable does not mean KVM works: under nested virtualisation a
//! vCPU can fail or hang on its first instructions. So the choice is made by trying it: a
//! throw-away QEMU boots a 64 KiB firmware image whose reset vector writes one byte to an
//! `isa-debug-exit` port, which makes QEMU exit with a known code. That proves a vCPU ran guest
//! code under KVM, in well under a second, and a hang is cut off by a short deadline. A failed
//! probe is remembered for an hour in the state directory so that every start does not pay for
//! it again.

use crate::deadline::Deadline;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

/// The accelerator a VM runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// What was chosen and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub accel: Accel,
    pub reason: String,
}

/// The longest the probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a failed probe is remembered.
pub const NEGATIVE_CACHE: Duration = Duration::from_secs(3600);

/// The byte the probe firmware writes; QEMU exits with `(value << 1) | 1`.
const PROBE_VALUE: u8 = 0x2a;
const PROBE_EXIT_CODE: i32 = ((PROBE_VALUE as i32) << 1) | 1;
const PROBE_PORT: u8 = 0xf4;
const FIRMWARE_SIZE: usize = 64 * 1024;

/// File names in the state directory.
const FIRMWARE_FILE: &str = "kvm-probe.bin";
const NEGATIVE_FILE: &str = "kvm-unusable";

/// The probe firmware: `hlt` everywhere, and at the reset vector (16 bytes before the end)
/// `mov al, 0x2a; out 0xf4, al; hlt; jmp $-3`.
pub fn probe_firmware() -> Vec<u8> {
    let mut image = vec![0xf4u8; FIRMWARE_SIZE];
    let code = [0xb0, PROBE_VALUE, 0xe6, PROBE_PORT, 0xf4, 0xeb, 0xfd];
    let start = FIRMWARE_SIZE - 16;
    image[start..start + code.len()].copy_from_slice(&code);
    image
}

/// Decides for `Auto`: KVM when `/dev/kvm` opens read-write and the probe passes.
pub fn choose_automatically(qemu: &Path, state_dir: &Path, deadline: Deadline) -> Decision {
    let tcg = |reason: String| Decision {
        accel: Accel::Tcg,
        reason,
    };
    if let Err(error) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return tcg(format!("/dev/kvm is not usable ({error})"));
    }
    let negative = state_dir.join(NEGATIVE_FILE);
    if let Some(reason) = remembered_failure(&negative) {
        return tcg(format!("kvm failed a recent probe ({reason})"));
    }
    match probe(qemu, state_dir, deadline.capped(PROBE_TIMEOUT)) {
        Ok(()) => Decision {
            accel: Accel::Kvm,
            reason: "kvm passed the probe".into(),
        },
        Err(reason) => {
            let _ = std::fs::write(&negative, &reason);
            tcg(format!("kvm failed the probe ({reason})"))
        }
    }
}

fn remembered_failure(path: &Path) -> Option<String> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age > NEGATIVE_CACHE {
        let _ = std::fs::remove_file(path);
        return None;
    }
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
}

/// Forgets a remembered probe failure (after KVM was seen working).
pub fn forget_failure(state_dir: &Path) {
    let _ = std::fs::remove_file(state_dir.join(NEGATIVE_FILE));
}

/// Runs the probe under KVM; `Err` says why KVM is not usable.
pub fn probe(qemu: &Path, state_dir: &Path, deadline: Deadline) -> Result<(), String> {
    let firmware_path = state_dir.join(FIRMWARE_FILE);
    let firmware = probe_firmware();
    if std::fs::read(&firmware_path).ok().as_deref() != Some(&firmware[..]) {
        std::fs::write(&firmware_path, &firmware)
            .map_err(|error| format!("cannot write {}: {error}", firmware_path.display()))?;
    }
    let device = format!("isa-debug-exit,iobase={PROBE_PORT:#x},iosize=0x04");
    let mut child = Command::new(qemu)
        .args(["-accel", "kvm", "-machine", "pc", "-m", "16"])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .arg("-bios")
        .arg(&firmware_path)
        .args(["-device", &device])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run {}: {error}", qemu.display()))?;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return if status.code() == Some(PROBE_EXIT_CODE) {
                    Ok(())
                } else {
                    let last = stderr
                        .lines()
                        .rev()
                        .find(|line| !line.trim().is_empty())
                        .unwrap_or("no message");
                    Err(format!("qemu exited with {status}: {}", last.trim()))
                };
            }
            Ok(None) if deadline.has_passed() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the probe vm did not finish in time".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => return Err(format!("cannot wait for the probe: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_firmware_puts_its_code_at_the_reset_vector() {
        let image = probe_firmware();
        assert_eq!(image.len(), 65536);
        assert_eq!(
            &image[65520..65527],
            &[0xb0, 0x2a, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]
        );
        assert_eq!(PROBE_EXIT_CODE, 85);
    }

    #[test]
    fn a_failure_is_remembered_for_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NEGATIVE_FILE);
        assert_eq!(remembered_failure(&path), None);
        std::fs::write(&path, "hangs\n").unwrap();
        assert_eq!(remembered_failure(&path).as_deref(), Some("hangs"));
        forget_failure(dir.path());
        assert_eq!(remembered_failure(&path), None);
    }
}
