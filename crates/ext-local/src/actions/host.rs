//! What the actions need from the machine they run on: the state directory, its available
//! memory, and randomness (MAC addresses, uuids, console passwords).

use crate::error::ActionError;
use crate::machine;
use crate::settings::Settings;
use std::io::Read;

/// Creates the state directory (mode 0700) if needed.
pub(super) fn create_state_dir(settings: &Settings) -> Result<(), ActionError> {
    use std::os::unix::fs::DirBuilderExt;
    let directory = machine::machines_dir(&settings.state_dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&directory)
        .map_err(|source| ActionError::io(format!("create {}", directory.display()), source))
}

/// Refuses a VM that needs more memory than the machine has available.
pub(super) fn check_memory(name: &str, memory_mib: u64) -> Result<(), ActionError> {
    let Some(available_mib) = available_memory_mib() else {
        return Ok(());
    };
    if memory_mib > available_mib {
        return Err(ActionError::InsufficientCapacity(format!(
            "vm {name} needs {memory_mib} MiB of memory but only {available_mib} MiB are available on this machine"
        )));
    }
    Ok(())
}

/// `MemAvailable` from `/proc/meminfo`, in MiB.
fn available_memory_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| kib / 1024)
}

/// `aa:bb:cc:dd:ee:ff` in lower case, if `mac` is a unicast MAC address.
pub fn normalise_mac(mac: &str) -> Option<String> {
    let parts: Vec<&str> = mac.split([':', '-']).collect();
    if parts.len() != 6
        || !parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return None;
    }
    let first = u8::from_str_radix(parts[0], 16).ok()?;
    if first & 1 == 1 {
        return None;
    }
    Some(parts.join(":").to_ascii_lowercase())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Ok(mut source) = std::fs::File::open("/dev/urandom") {
        let _ = source.read_exact(&mut bytes);
    }
    bytes
}

pub(super) fn random_hex(bytes: usize) -> String {
    random_bytes::<16>()
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A MAC address in QEMU's locally administered range.
pub(super) fn random_mac() -> String {
    let [a, b, c] = random_bytes::<3>();
    format!("52:54:00:{a:02x}:{b:02x}:{c:02x}")
}

/// A random (version 4) uuid.
pub(super) fn random_uuid() -> String {
    let mut bytes = random_bytes::<16>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
