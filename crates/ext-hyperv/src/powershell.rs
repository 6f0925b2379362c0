//! The PowerShell this extension sends, and the quoting that keeps user input inert.
//!
//! Every value from the payload reaches PowerShell as a single-quoted literal: inside single
//! quotes PowerShell expands nothing (`$`, `$(…)` and backticks are plain text) and the only
//! special characters are the quotes themselves, which are doubled. PowerShell treats the
//! typographic quotes ‘ ’ ‚ ‛ as single quotes too, so they are doubled as well. On top of that,
//! names are validated (no wildcards, no control characters) so that `-Name` parameters, which
//! accept wildcards, always address exactly one object.

use trellis_winrm::{encoded_command_line, MAX_COMMAND_LINE};

/// Characters PowerShell accepts as a single quote.
fn is_single_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
}

/// A single-quoted PowerShell string literal for `text`.
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for c in text.chars() {
        if is_single_quote(c) {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// The first line of every script: stop at the first error, and keep progress records (CLIXML
/// noise on stderr) away.
const PREAMBLE: &str =
    "$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\n";

fn script(lines: &[String]) -> String {
    let mut text = PREAMBLE.to_string();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Packs statements into as few scripts as fit the remote command-line limit, in order.
/// `None` when one statement alone is too long.
pub fn pack(lines: &[String]) -> Option<Vec<String>> {
    let mut scripts = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for line in lines {
        current.push(line.clone());
        if encoded_command_line(&script(&current)).len() > MAX_COMMAND_LINE {
            current.pop();
            if current.is_empty() {
                return None;
            }
            scripts.push(script(&current));
            current = vec![line.clone()];
            if encoded_command_line(&script(&current)).len() > MAX_COMMAND_LINE {
                return None;
            }
        }
    }
    if !current.is_empty() {
        scripts.push(script(&current));
    }
    Some(scripts)
}

/// What `state` prints for a VM that does not exist.
pub const NOT_FOUND: &str = "NotFound";

/// Prints the VM's state (`Running`, `Off`, …) or [`NOT_FOUND`].
pub fn state(vm: &str) -> String {
    let q = quote(vm);
    script(&[
        format!("$vm = Get-VM -Name {q} -ErrorAction SilentlyContinue"),
        format!("if ($vm) {{ $vm.State.ToString() }} else {{ '{NOT_FOUND}' }}"),
    ])
}

/// Every VM with its state, as a JSON array of `{"Name":…,"State":…}`.
pub fn all_states() -> String {
    script(&["ConvertTo-Json -Compress -InputObject @(Get-VM | Select-Object Name, @{Name='State';Expression={$_.State.ToString()}})".to_string()])
}

/// Starts (or resumes) the VM unless it is running.
pub fn start(vm: &str) -> String {
    let q = quote(vm);
    script(&[
        format!("$vm = Get-VM -Name {q}"),
        format!("if ($vm.State -eq 'Paused') {{ Resume-VM -Name {q} }}"),
        format!("elseif ($vm.State -ne 'Running') {{ Start-VM -Name {q} }}"),
    ])
}

/// Shuts the VM down (turns it off when paused or saved); a missing VM counts as stopped.
pub fn stop(vm: &str) -> String {
    let q = quote(vm);
    script(&[
        format!("$vm = Get-VM -Name {q} -ErrorAction SilentlyContinue"),
        format!("if ($vm -and $vm.State -eq 'Running') {{ Stop-VM -Name {q} -Force }}"),
        format!("elseif ($vm -and $vm.State -ne 'Off') {{ Stop-VM -Name {q} -TurnOff -Force }}"),
    ])
}

/// Restarts a running VM; starts one that is not running.
pub fn reboot(vm: &str) -> String {
    let q = quote(vm);
    script(&[
        format!("$vm = Get-VM -Name {q}"),
        format!("if ($vm.State -eq 'Running') {{ Restart-VM -Name {q} -Force }}"),
        format!("else {{ if ($vm.State -ne 'Off') {{ Stop-VM -Name {q} -TurnOff -Force }}; Start-VM -Name {q} }}"),
    ])
}

/// Turns the VM off and removes it with its disks and configuration directory (each only if
/// present).
pub fn delete(vm: &str, disks: &[String], vm_directory: Option<&str>) -> String {
    let q = quote(vm);
    let mut lines = vec![
        format!("$vm = Get-VM -Name {q} -ErrorAction SilentlyContinue"),
        format!("if ($vm -and $vm.State -ne 'Off') {{ Stop-VM -Name {q} -TurnOff -Force }}"),
        format!("if ($vm) {{ Remove-VM -Name {q} -Force }}"),
    ];
    for vhd in disks {
        let p = quote(vhd);
        lines.push(format!(
            "if (Test-Path -LiteralPath {p}) {{ Remove-Item -LiteralPath {p} -Force }}"
        ));
    }
    if let Some(directory) = vm_directory {
        let p = quote(directory);
        lines.push(format!(
            "if (Test-Path -LiteralPath {p}) {{ Remove-Item -LiteralPath {p} -Recurse -Force }}"
        ));
    }
    script(&lines)
}

/// How the instance's system disk comes about.
pub enum Disk<'a> {
    /// Copy a template disk image.
    Template { template: &'a str },
    /// A new empty disk plus an installation ISO.
    Iso { iso: &'a str, size_bytes: u64 },
}

/// A network adapter to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    pub name: String,
    /// Twelve hex digits.
    pub mac: Option<String>,
    pub vlan: Option<u16>,
}

/// What `create` builds.
pub struct CreateSpec<'a> {
    pub vm: &'a str,
    pub switch: &'a str,
    pub vhd: &'a str,
    pub vm_path: Option<&'a str>,
    pub disk: Disk<'a>,
    pub generation: u8,
    pub memory_bytes: u64,
    pub cpus: u32,
    pub secure_boot: bool,
    pub adapters: Vec<Adapter>,
}

/// The statements that create and configure the VM (not yet started), in order.
pub fn create_statements(spec: &CreateSpec<'_>) -> Vec<String> {
    let q = quote(spec.vm);
    let vhd = quote(spec.vhd);
    let mut lines = vec![format!(
        "Get-VMSwitch -Name {} | Out-Null",
        quote(spec.switch)
    )];
    let path = spec
        .vm_path
        .map(|p| format!(" -Path {}", quote(p)))
        .unwrap_or_default();
    let new_vm = format!(
        "New-VM -Name {q} -MemoryStartupBytes {} -Generation {}{path}",
        spec.memory_bytes, spec.generation
    );
    match spec.disk {
        Disk::Template { template } => {
            lines.push(format!(
                "Copy-Item -LiteralPath {} -Destination {vhd}",
                quote(template)
            ));
            lines.push(format!("{new_vm} -VHDPath {vhd} | Out-Null"));
        }
        Disk::Iso { iso, size_bytes } => {
            lines.push(format!(
                "if (Test-Path -LiteralPath {vhd}) {{ Remove-Item -LiteralPath {vhd} -Force }}"
            ));
            lines.push(format!(
                "{new_vm} -NewVHDPath {vhd} -NewVHDSizeBytes {size_bytes} | Out-Null"
            ));
            lines.push(format!("Add-VMDvdDrive -VMName {q} -Path {}", quote(iso)));
        }
    }
    lines.push(format!("Set-VMProcessor -VMName {q} -Count {}", spec.cpus));
    if spec.generation == 2 {
        let secure_boot = if spec.secure_boot { "On" } else { "Off" };
        let boot_device = match spec.disk {
            Disk::Iso { .. } => format!(" -FirstBootDevice (Get-VMDvdDrive -VMName {q})"),
            Disk::Template { .. } => String::new(),
        };
        lines.push(format!(
            "Set-VMFirmware -VMName {q} -EnableSecureBoot {secure_boot}{boot_device}"
        ));
    }
    // New-VM adds an unconnected "Network Adapter"; the instance gets exactly its own NICs.
    lines.push(format!(
        "Get-VMNetworkAdapter -VMName {q} | Remove-VMNetworkAdapter"
    ));
    for adapter in &spec.adapters {
        let name = quote(&adapter.name);
        let mac = adapter
            .mac
            .as_ref()
            .map(|m| format!(" -StaticMacAddress {}", quote(m)))
            .unwrap_or_default();
        lines.push(format!(
            "Add-VMNetworkAdapter -VMName {q} -SwitchName {} -Name {name}{mac}",
            quote(spec.switch)
        ));
        if let Some(vlan) = adapter.vlan {
            lines.push(format!("Set-VMNetworkAdapterVlan -VMName {q} -VMNetworkAdapterName {name} -Access -VlanId {vlan}"));
        }
    }
    lines
}

/// `Start-VM` as a single statement.
pub fn start_statement(vm: &str) -> String {
    format!("Start-VM -Name {}", quote(vm))
}

pub fn suspend(vm: &str) -> String {
    script(&[format!("Suspend-VM -Name {}", quote(vm))])
}

pub fn resume(vm: &str) -> String {
    script(&[format!("Resume-VM -Name {}", quote(vm))])
}

/// The VM's checkpoints as a JSON array of `{"Name":…,"CreationTime":…}` (ISO 8601).
pub fn list_snapshots(vm: &str) -> String {
    script(&[format!(
        "ConvertTo-Json -Compress -InputObject @(Get-VMSnapshot -VMName {} | Select-Object Name, @{{Name='CreationTime';Expression={{$_.CreationTime.ToString('s')}}}})",
        quote(vm)
    )])
}

/// Creates a checkpoint, refusing a name that is already taken (Hyper-V would allow it and
/// later restores and deletes would be ambiguous).
pub fn create_snapshot(vm: &str, snapshot: &str) -> String {
    let q = quote(vm);
    let s = quote(snapshot);
    script(&[
        format!("Get-VM -Name {q} | Out-Null"),
        format!(
            "if (Get-VMSnapshot -VMName {q} -Name {s} -ErrorAction SilentlyContinue) {{ throw {} }}",
            quote(&format!("a snapshot named '{snapshot}' already exists"))
        ),
        format!("Checkpoint-VM -Name {q} -SnapshotName {s}"),
    ])
}

pub fn restore_snapshot(vm: &str, snapshot: &str) -> String {
    script(&[format!(
        "Restore-VMSnapshot -VMName {} -Name {} -Confirm:$false",
        quote(vm),
        quote(snapshot)
    )])
}

pub fn delete_snapshot(vm: &str, snapshot: &str) -> String {
    script(&[format!(
        "Remove-VMSnapshot -VMName {} -Name {} -Confirm:$false",
        quote(vm),
        quote(snapshot)
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_every_kind_of_single_quote() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        assert_eq!(quote("$(x) `n"), "'$(x) `n'");
    }

    #[test]
    fn packing_splits_long_statement_lists() {
        let lines: Vec<String> = (0..200)
            .map(|i| format!("Set-VMProcessor -VMName 'vm-{i:03}' -Count 2"))
            .collect();
        let scripts = pack(&lines).unwrap();
        assert!(scripts.len() > 1);
        for script in &scripts {
            assert!(encoded_command_line(script).len() <= MAX_COMMAND_LINE);
            assert!(script.starts_with(PREAMBLE));
        }
        let joined: String = scripts
            .iter()
            .map(|s| s.trim_start_matches(PREAMBLE))
            .collect();
        assert_eq!(
            joined,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>()
        );
        assert!(pack(&["x".repeat(5000)]).is_none());
    }
}
