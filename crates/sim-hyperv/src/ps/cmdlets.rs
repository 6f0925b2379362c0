//! The cmdlets the simulator implements, over the Hyper-V model, with Hyper-V's error texts.

use super::eval::{CmdletRun, Interpreter};
use super::value::{has_wildcards, render_json, wildcard_match, PsObject, Value};
use crate::model::{
    normalize_path, parent_directory, Checkpoint, HyperV, NetworkAdapter, Vm, VmState,
};
use chrono::Timelike;
use uuid::Uuid;

/// A cmdlet failure before it is turned into an error record.
#[derive(Debug, Clone)]
pub(crate) struct CmdletError {
    pub message: String,
    pub category: &'static str,
    pub reason: &'static str,
    pub target: String,
    pub error_id: &'static str,
}

impl CmdletError {
    pub fn new(
        message: impl Into<String>,
        category: &'static str,
        reason: &'static str,
        target: impl Into<String>,
        error_id: &'static str,
    ) -> CmdletError {
        CmdletError {
            message: message.into(),
            category,
            reason,
            target: target.into(),
            error_id,
        }
    }
}

/// Parameters bound by canonical name.
#[derive(Debug, Default)]
pub(crate) struct Bound {
    values: Vec<(&'static str, Value)>,
}

impl Bound {
    pub fn set(&mut self, name: &'static str, value: Value) {
        self.values.retain(|(n, _)| *n != name);
        self.values.push((name, value));
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(Value::to_text)
    }

    fn switch(&self, name: &str) -> bool {
        self.get(name).is_some_and(Value::truthy)
    }

    fn required(&self, name: &str) -> Result<String, CmdletError> {
        self.text(name).filter(|t| !t.is_empty()).ok_or_else(|| {
            CmdletError::new(
                format!("Cannot process command because of one or more missing mandatory parameters: {name}."),
                "InvalidArgument",
                "ParameterBindingException",
                "",
                "MissingMandatoryParameter",
            )
        })
    }

    /// A string-array parameter (`-Name a,b`).
    fn texts(&self, name: &str) -> Option<Vec<String>> {
        self.get(name)
            .map(|v| v.clone().into_items().iter().map(Value::to_text).collect())
    }
}

type Run = fn(&mut Interpreter<'_>, &Bound, Vec<Value>) -> Result<Vec<Value>, CmdletRun>;

pub(crate) struct CmdletSpec {
    pub name: &'static str,
    /// Implementing class, for the FullyQualifiedErrorId.
    pub class: &'static str,
    pub params: &'static [&'static str],
    pub switches: &'static [&'static str],
    pub aliases: &'static [(&'static str, &'static str)],
    pub positional: &'static [&'static str],
    pub hyperv_module: bool,
    pub run: Run,
}

const COMMON_PARAMS: [&str; 7] = [
    "ErrorAction",
    "WarningAction",
    "InformationAction",
    "ErrorVariable",
    "WarningVariable",
    "OutVariable",
    "OutBuffer",
];
const COMMON_SWITCHES: [&str; 4] = ["Verbose", "Debug", "WhatIf", "Confirm"];
const COMMON_ALIASES: [(&str, &str); 3] = [
    ("ea", "ErrorAction"),
    ("wa", "WarningAction"),
    ("ev", "ErrorVariable"),
];

impl CmdletSpec {
    /// The canonical name of a parameter given as typed: exact, alias or unique prefix.
    pub fn resolve(&self, typed: &str) -> Option<&'static str> {
        let all = || {
            self.params
                .iter()
                .chain(self.switches.iter())
                .chain(COMMON_PARAMS.iter())
                .chain(COMMON_SWITCHES.iter())
                .copied()
        };
        if let Some(exact) = all().find(|p| p.eq_ignore_ascii_case(typed)) {
            return Some(exact);
        }
        if let Some((_, canonical)) = self
            .aliases
            .iter()
            .chain(COMMON_ALIASES.iter())
            .find(|(a, _)| a.eq_ignore_ascii_case(typed))
        {
            return Some(canonical);
        }
        let lowered = typed.to_ascii_lowercase();
        let mut candidates = all().filter(|p| p.to_ascii_lowercase().starts_with(&lowered));
        match (candidates.next(), candidates.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    pub fn is_switch(&self, canonical: &str) -> bool {
        self.switches
            .iter()
            .chain(COMMON_SWITCHES.iter())
            .any(|s| s.eq_ignore_ascii_case(canonical))
    }
}

macro_rules! hv {
    ($name:literal, $class:literal, [$($p:literal),*], [$($s:literal),*], [$($a:expr),*], [$($pos:literal),*], $run:expr) => {
        CmdletSpec {
            name: $name,
            class: concat!("Microsoft.HyperV.PowerShell.Commands.", $class),
            params: &[$($p),*],
            switches: &[$($s),*],
            aliases: &[$($a),*],
            positional: &[$($pos),*],
            hyperv_module: true,
            run: $run,
        }
    };
}

macro_rules! core {
    ($name:literal, $class:literal, [$($p:literal),*], [$($s:literal),*], [$($a:expr),*], [$($pos:literal),*], $run:expr) => {
        CmdletSpec {
            name: $name,
            class: concat!("Microsoft.PowerShell.Commands.", $class),
            params: &[$($p),*],
            switches: &[$($s),*],
            aliases: &[$($a),*],
            positional: &[$($pos),*],
            hyperv_module: false,
            run: $run,
        }
    };
}

static CMDLETS: &[CmdletSpec] = &[
    hv!(
        "Get-VM",
        "GetVM",
        ["Name", "Id", "ComputerName"],
        [],
        [("VMName", "Name")],
        ["Name"],
        get_vm
    ),
    hv!(
        "New-VM",
        "NewVM",
        [
            "Name",
            "MemoryStartupBytes",
            "Generation",
            "Path",
            "VHDPath",
            "NewVHDPath",
            "NewVHDSizeBytes",
            "SwitchName",
            "BootDevice",
            "Version"
        ],
        ["NoVHD", "Force", "Prerelease", "Experimental"],
        [("VMName", "Name")],
        ["Name", "MemoryStartupBytes", "Generation"],
        new_vm
    ),
    hv!(
        "Start-VM",
        "StartVM",
        ["Name", "VM"],
        ["Passthru", "AsJob"],
        [("VMName", "Name")],
        ["Name"],
        start_vm
    ),
    hv!(
        "Stop-VM",
        "StopVM",
        ["Name", "VM"],
        ["Force", "TurnOff", "Save", "Passthru", "AsJob"],
        [("VMName", "Name")],
        ["Name"],
        stop_vm
    ),
    hv!(
        "Restart-VM",
        "RestartVM",
        ["Name", "VM", "Type"],
        ["Force", "Passthru", "AsJob", "Wait"],
        [("VMName", "Name")],
        ["Name"],
        restart_vm
    ),
    hv!(
        "Suspend-VM",
        "SuspendVM",
        ["Name", "VM"],
        ["Passthru", "AsJob"],
        [("VMName", "Name")],
        ["Name"],
        suspend_vm
    ),
    hv!(
        "Resume-VM",
        "ResumeVM",
        ["Name", "VM"],
        ["Passthru", "AsJob"],
        [("VMName", "Name")],
        ["Name"],
        resume_vm
    ),
    hv!(
        "Remove-VM",
        "RemoveVM",
        ["Name", "VM"],
        ["Force", "Passthru", "AsJob"],
        [("VMName", "Name")],
        ["Name"],
        remove_vm
    ),
    hv!(
        "Set-VMProcessor",
        "SetVMProcessor",
        ["VMName", "VM", "Count"],
        ["Passthru"],
        [],
        ["VMName"],
        set_vm_processor
    ),
    hv!(
        "Set-VMFirmware",
        "SetVMFirmware",
        [
            "VMName",
            "VM",
            "EnableSecureBoot",
            "FirstBootDevice",
            "SecureBootTemplate"
        ],
        ["Passthru"],
        [],
        ["VMName"],
        set_vm_firmware
    ),
    hv!(
        "Get-VMFirmware",
        "GetVMFirmware",
        ["VMName", "VM"],
        [],
        [],
        ["VMName"],
        get_vm_firmware
    ),
    hv!(
        "Add-VMDvdDrive",
        "AddVMDvdDrive",
        [
            "VMName",
            "VM",
            "Path",
            "ControllerNumber",
            "ControllerLocation"
        ],
        ["Passthru", "AllowUnverifiedPaths"],
        [],
        ["VMName", "ControllerNumber", "ControllerLocation", "Path"],
        add_vm_dvd_drive
    ),
    hv!(
        "Get-VMDvdDrive",
        "GetVMDvdDrive",
        ["VMName", "VM"],
        [],
        [],
        ["VMName"],
        get_vm_dvd_drive
    ),
    hv!(
        "Get-VMHardDiskDrive",
        "GetVMHardDiskDrive",
        ["VMName", "VM"],
        [],
        [],
        ["VMName"],
        get_vm_hard_disk_drive
    ),
    hv!(
        "Get-VMNetworkAdapter",
        "GetVMNetworkAdapter",
        ["VMName", "VM", "Name"],
        ["All"],
        [],
        ["VMName"],
        get_vm_network_adapter
    ),
    hv!(
        "Add-VMNetworkAdapter",
        "AddVMNetworkAdapter",
        ["VMName", "VM", "SwitchName", "Name", "StaticMacAddress"],
        ["Passthru", "IsLegacy", "DynamicMacAddress"],
        [],
        ["VMName"],
        add_vm_network_adapter
    ),
    hv!(
        "Remove-VMNetworkAdapter",
        "RemoveVMNetworkAdapter",
        ["VMName", "VM", "Name", "VMNetworkAdapter"],
        ["Passthru"],
        [],
        ["VMName", "Name"],
        remove_vm_network_adapter
    ),
    hv!(
        "Set-VMNetworkAdapter",
        "SetVMNetworkAdapter",
        [
            "VMName",
            "VM",
            "Name",
            "StaticMacAddress",
            "VMNetworkAdapter"
        ],
        ["Passthru", "DynamicMacAddress"],
        [],
        ["VMName"],
        set_vm_network_adapter
    ),
    hv!(
        "Set-VMNetworkAdapterVlan",
        "SetVMNetworkAdapterVlan",
        [
            "VMName",
            "VM",
            "VMNetworkAdapterName",
            "VlanId",
            "VMNetworkAdapter"
        ],
        ["Access", "Untagged", "Passthru"],
        [("AccessVlanId", "VlanId")],
        ["VMName"],
        set_vm_network_adapter_vlan
    ),
    hv!(
        "Get-VMNetworkAdapterVlan",
        "GetVMNetworkAdapterVlan",
        ["VMName", "VM", "VMNetworkAdapterName"],
        [],
        [],
        ["VMName"],
        get_vm_network_adapter_vlan
    ),
    hv!(
        "Get-VMSwitch",
        "GetVMSwitch",
        ["Name", "SwitchType"],
        [],
        [("SwitchName", "Name")],
        ["Name"],
        get_vm_switch
    ),
    hv!(
        "Checkpoint-VM",
        "CheckpointVM",
        ["Name", "VM", "SnapshotName"],
        ["Passthru", "AsJob"],
        [("VMName", "Name")],
        ["Name", "SnapshotName"],
        checkpoint_vm
    ),
    hv!(
        "Get-VMSnapshot",
        "GetVMSnapshot",
        ["VMName", "VM", "Name", "SnapshotType"],
        [],
        [],
        ["VMName", "Name"],
        get_vm_snapshot
    ),
    hv!(
        "Restore-VMSnapshot",
        "RestoreVMSnapshot",
        ["VMName", "Name", "VMSnapshot"],
        ["Passthru", "AsJob"],
        [],
        ["Name", "VMName"],
        restore_vm_snapshot
    ),
    hv!(
        "Remove-VMSnapshot",
        "RemoveVMSnapshot",
        ["VMName", "Name", "VMSnapshot"],
        ["IncludeAllChildSnapshots", "Passthru", "AsJob"],
        [],
        ["VMName", "Name"],
        remove_vm_snapshot
    ),
    core!(
        "Copy-Item",
        "CopyItemCommand",
        ["Path", "LiteralPath", "Destination"],
        ["Force", "Recurse", "PassThru"],
        [("PSPath", "LiteralPath"), ("LP", "LiteralPath")],
        ["Path", "Destination"],
        copy_item
    ),
    core!(
        "Remove-Item",
        "RemoveItemCommand",
        ["Path", "LiteralPath"],
        ["Force", "Recurse"],
        [("PSPath", "LiteralPath"), ("LP", "LiteralPath")],
        ["Path"],
        remove_item
    ),
    core!(
        "Test-Path",
        "TestPathCommand",
        ["Path", "LiteralPath", "PathType"],
        [],
        [("PSPath", "LiteralPath"), ("LP", "LiteralPath")],
        ["Path"],
        test_path
    ),
    core!(
        "Select-Object",
        "SelectObjectCommand",
        ["Property", "ExpandProperty", "First", "InputObject"],
        [],
        [],
        ["Property"],
        select_object
    ),
    core!(
        "ConvertTo-Json",
        "ConvertToJsonCommand",
        ["InputObject", "Depth"],
        ["Compress"],
        [],
        ["InputObject"],
        convert_to_json
    ),
    core!(
        "Out-Null",
        "OutNullCommand",
        ["InputObject"],
        [],
        [],
        [],
        out_null
    ),
    core!(
        "Out-String",
        "OutStringCommand",
        ["InputObject", "Width"],
        ["Stream"],
        [],
        [],
        out_string
    ),
    core!(
        "Write-Output",
        "WriteOutputCommand",
        ["InputObject"],
        ["NoEnumerate"],
        [],
        ["InputObject"],
        write_output
    ),
    core!(
        "Write-Error",
        "WriteErrorCommand",
        ["Message", "Category", "ErrorId", "TargetObject"],
        [],
        [],
        ["Message"],
        write_error
    ),
    core!(
        "Where-Object",
        "WhereObjectCommand",
        ["FilterScript", "InputObject"],
        [],
        [],
        ["FilterScript"],
        where_object
    ),
    core!(
        "ForEach-Object",
        "ForEachObjectCommand",
        ["Process", "InputObject"],
        [],
        [],
        ["Process"],
        foreach_object
    ),
];

/// The cmdlet named `name` (case-insensitive), also through the usual aliases.
pub(crate) fn lookup(name: &str) -> Option<&'static CmdletSpec> {
    let canonical = match name.to_ascii_lowercase().as_str() {
        "select" => "Select-Object",
        "where" | "?" => "Where-Object",
        "foreach" | "%" => "ForEach-Object",
        "echo" | "write" => "Write-Output",
        "copy" | "cp" | "cpi" => "Copy-Item",
        "del" | "rm" | "ri" | "erase" => "Remove-Item",
        _ => name,
    };
    CMDLETS
        .iter()
        .find(|spec| spec.name.eq_ignore_ascii_case(canonical))
}

type CmdletResult = Result<Vec<Value>, CmdletRun>;

// ---------------------------------------------------------------------------------------------
// Errors with Hyper-V's texts.

fn vm_not_found(name: &str) -> CmdletError {
    CmdletError::new(
        format!("Hyper-V was unable to find a virtual machine with name \"{name}\"."),
        "InvalidArgument",
        "VirtualizationException",
        name,
        "InvalidParameter",
    )
}

fn invalid_state(vm: &str, action: &str) -> CmdletError {
    CmdletError::new(
        format!("'{vm}' failed to {action}.\r\nThe operation cannot be performed while the object is in its current state."),
        "InvalidOperation",
        "VirtualizationException",
        vm,
        "InvalidState",
    )
}

fn invalid_argument(message: impl Into<String>, target: &str) -> CmdletError {
    CmdletError::new(
        message,
        "InvalidArgument",
        "VirtualizationException",
        target,
        "InvalidParameter",
    )
}

fn path_not_found(path: &str) -> CmdletError {
    CmdletError::new(
        format!("Cannot find path '{path}' because it does not exist."),
        "ObjectNotFound",
        "ItemNotFoundException",
        path,
        "PathNotFound",
    )
}

fn file_in_use(path: &str) -> CmdletError {
    CmdletError::new(
        format!("The process cannot access the file '{path}' because it is being used by another process."),
        "WriteError",
        "IOException",
        path,
        "RemoveFileSystemItemIOError",
    )
}

// ---------------------------------------------------------------------------------------------
// VM resolution.

/// Names from `-Name`/`-VMName`, from `-VM` objects, or from pipeline input objects.
fn names_from(bound: &Bound, keys: &[&str], input: &[Value]) -> Result<Vec<String>, CmdletError> {
    for key in keys {
        if let Some(value) = bound.get(key) {
            let names: Vec<String> = value
                .clone()
                .into_items()
                .iter()
                .map(|v| match v {
                    Value::Object(_) => v.property("Name").to_text(),
                    other => other.to_text(),
                })
                .collect();
            return Ok(names);
        }
    }
    if !input.is_empty() {
        return Ok(input
            .iter()
            .map(|item| match item.property("VMName") {
                Value::Null => item.property("Name").to_text(),
                name => name.to_text(),
            })
            .collect());
    }
    Err(CmdletError::new(
        format!(
            "Cannot process command because of one or more missing mandatory parameters: {}.",
            keys[0]
        ),
        "InvalidArgument",
        "ParameterBindingException",
        "",
        "MissingMandatoryParameter",
    ))
}

/// Resolves VM names (with wildcards) to model indexes. A plain name that matches nothing is
/// an error; a wildcard that matches nothing is not.
fn resolve_vms(host: &HyperV, names: &[String]) -> Result<Vec<usize>, CmdletError> {
    let mut indexes = Vec::new();
    for name in names {
        let matched: Vec<usize> = host
            .vms
            .iter()
            .enumerate()
            .filter(|(_, vm)| {
                if has_wildcards(name) {
                    wildcard_match(name, &vm.name)
                } else {
                    vm.name.eq_ignore_ascii_case(name)
                }
            })
            .map(|(index, _)| index)
            .collect();
        if matched.is_empty() && !has_wildcards(name) {
            return Err(vm_not_found(name));
        }
        for index in matched {
            if !indexes.contains(&index) {
                indexes.push(index);
            }
        }
    }
    Ok(indexes)
}

fn vm_indexes(
    interp: &Interpreter<'_>,
    bound: &Bound,
    keys: &[&str],
    input: &[Value],
) -> Result<Vec<usize>, CmdletError> {
    let names = names_from(bound, keys, input)?;
    resolve_vms(interp.host, &names)
}

fn vm_object(vm: &Vm) -> Value {
    Value::object(
        PsObject::new("VirtualMachine")
            .with("Name", Value::str(vm.name.clone()))
            .with("State", Value::str(vm.state.name()))
            .with("Generation", Value::Int(vm.generation.into()))
            .with("MemoryStartup", Value::Int(vm.memory_startup_bytes as i64))
            .with("ProcessorCount", Value::Int(vm.processor_count.into()))
            .with("Path", Value::str(vm.path.clone()))
            .with("Id", Value::str(vm.id.to_string()))
            .with("VMName", Value::str(vm.name.clone())),
    )
}

fn passthru(bound: &Bound, host: &HyperV, indexes: &[usize]) -> Vec<Value> {
    if bound.switch("Passthru") {
        indexes.iter().map(|i| vm_object(&host.vms[*i])).collect()
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------------
// VM cmdlets.

fn get_vm(interp: &mut Interpreter<'_>, bound: &Bound, _input: Vec<Value>) -> CmdletResult {
    let host = &*interp.host;
    let indexes = match bound.texts("Name") {
        Some(names) => resolve_vms(host, &names)?,
        None => (0..host.vms.len()).collect(),
    };
    Ok(indexes.iter().map(|i| vm_object(&host.vms[*i])).collect())
}

/// The Hyper-V minimum startup memory.
const MIN_MEMORY: i64 = 32 * 1024 * 1024;

fn new_vm(interp: &mut Interpreter<'_>, bound: &Bound, _input: Vec<Value>) -> CmdletResult {
    let name = bound.required("Name")?;
    let host = &mut *interp.host;
    if host.vm(&name).is_some() {
        return Err(CmdletError::new(
            format!("Failed to create a new virtual machine.\r\nA virtual machine with the name \"{name}\" already exists."),
            "ResourceExists",
            "VirtualizationException",
            &name,
            "ObjectAlreadyExists",
        )
        .into());
    }
    let generation = match bound.get("Generation").map(|g| g.to_i64()) {
        None => 1,
        Some(Some(g @ (1 | 2))) => g as u8,
        Some(_) => {
            return Err(invalid_argument(
                "Cannot validate argument on parameter 'Generation'. The argument is not valid: supported generations are 1 and 2.",
                &name,
            )
            .into())
        }
    };
    let memory = match bound.get("MemoryStartupBytes") {
        None => 1024 * 1024 * 1024,
        Some(value) => value.to_i64().filter(|m| *m > 0).ok_or_else(|| {
            invalid_argument(
                format!(
                    "Cannot convert value \"{}\" to type \"System.Int64\".",
                    value.to_text()
                ),
                &name,
            )
        })?,
    };
    if memory < MIN_MEMORY {
        return Err(invalid_argument(
            format!("Failed to modify device 'Memory'.\r\nInvalid startup memory amount assigned for '{name}'. The minimum amount of memory you can assign to this virtual machine is '32' MB."),
            &name,
        )
        .into());
    }
    if memory % (2 * 1024 * 1024) != 0 {
        return Err(invalid_argument(
            format!("Failed to modify device 'Memory'.\r\nInvalid startup memory amount assigned for '{name}'. The amount of memory must be a multiple of 2 MB."),
            &name,
        )
        .into());
    }
    let mut hard_drives = Vec::new();
    if let Some(vhd) = bound.text("VHDPath") {
        if !host.file_exists(&vhd) {
            return Err(invalid_argument(
                format!("Failed to add device 'Virtual Hard Disk'.\r\nThe system cannot find the file specified. ('{vhd}')"),
                &name,
            )
            .into());
        }
        if generation == 2 && normalize_path(&vhd).ends_with(".vhd") {
            return Err(invalid_argument(
                format!("Failed to add device 'Virtual Hard Disk'.\r\nGeneration 2 virtual machines do not support the VHD format; convert '{vhd}' to VHDX."),
                &name,
            )
            .into());
        }
        if host.vm_using_file(&vhd).is_some() {
            return Err(file_in_use(&vhd).into());
        }
        hard_drives.push(vhd);
    } else if let Some(vhd) = bound.text("NewVHDPath") {
        let size = bound
            .get("NewVHDSizeBytes")
            .and_then(Value::to_i64)
            .ok_or_else(|| {
                invalid_argument(
                    "The parameter NewVHDSizeBytes is required when NewVHDPath is specified.",
                    &name,
                )
            })?;
        if size < 3 * 1024 * 1024 {
            return Err(invalid_argument(
                "Failed to create the virtual hard disk.\r\nThe size is too small.",
                &name,
            )
            .into());
        }
        if host.file_exists(&vhd) {
            return Err(invalid_argument(
                format!(
                    "Failed to create the virtual hard disk.\r\nThe file '{vhd}' already exists."
                ),
                &name,
            )
            .into());
        }
        match parent_directory(&vhd) {
            Some(parent) if host.directory_exists(&parent) => {}
            _ => {
                return Err(invalid_argument(
                    format!("Failed to create the virtual hard disk.\r\nThe system cannot find the path specified. ('{vhd}')"),
                    &name,
                )
                .into())
            }
        }
        host.add_file(&vhd, size as u64);
        hard_drives.push(vhd);
    }
    let switch_name = match bound.text("SwitchName") {
        Some(switch) => match host.switch(&switch) {
            Some(found) => Some(found.name.clone()),
            None => return Err(switch_not_found(&switch).into()),
        },
        None => None,
    };
    let base = bound
        .text("Path")
        .unwrap_or_else(|| "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V".to_string());
    let path = format!("{}\\{name}", base.trim_end_matches('\\'));
    host.add_directory(&path);
    host.vms.push(Vm {
        id: Uuid::new_v4(),
        name: name.clone(),
        state: VmState::Off,
        generation,
        memory_startup_bytes: memory as u64,
        processor_count: 1,
        path,
        hard_drives,
        dvd_drives: Vec::new(),
        secure_boot: generation == 2,
        first_boot_device: None,
        network_adapters: vec![NetworkAdapter {
            name: "Network Adapter".to_string(),
            switch_name,
            static_mac: None,
            access_vlan: None,
        }],
        checkpoints: Vec::new(),
        boot_count: 0,
    });
    Ok(vec![vm_object(host.vms.last().expect("just pushed"))])
}

fn start_vm(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let indexes = vm_indexes(interp, bound, &["Name", "VM"], &input)?;
    for index in &indexes {
        let vm = &mut interp.host.vms[*index];
        match vm.state {
            VmState::Off | VmState::Saved => {
                vm.state = VmState::Running;
                vm.boot_count += 1;
            }
            _ => return Err(invalid_state(&vm.name, "start").into()),
        }
    }
    Ok(passthru(bound, interp.host, &indexes))
}

fn stop_vm(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let indexes = vm_indexes(interp, bound, &["Name", "VM"], &input)?;
    let save = bound.switch("Save");
    for index in &indexes {
        let vm = &mut interp.host.vms[*index];
        vm.state = match (vm.state, save) {
            (VmState::Running | VmState::Paused, true) => VmState::Saved,
            (VmState::Off, true) => return Err(invalid_state(&vm.name, "save").into()),
            // Stopping an Off VM only warns in Hyper-V; nothing changes.
            _ => VmState::Off,
        };
    }
    Ok(passthru(bound, interp.host, &indexes))
}

fn restart_vm(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let indexes = vm_indexes(interp, bound, &["Name", "VM"], &input)?;
    for index in &indexes {
        let vm = &mut interp.host.vms[*index];
        if vm.state != VmState::Running {
            return Err(invalid_state(&vm.name, "restart").into());
        }
        vm.boot_count += 1;
    }
    Ok(passthru(bound, interp.host, &indexes))
}

fn suspend_vm(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let indexes = vm_indexes(interp, bound, &["Name", "VM"], &input)?;
    for index in &indexes {
        let vm = &mut interp.host.vms[*index];
        if vm.state != VmState::Running {
            return Err(invalid_state(&vm.name, "pause").into());
        }
        vm.state = VmState::Paused;
    }
    Ok(passthru(bound, interp.host, &indexes))
}

fn resume_vm(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let indexes = vm_indexes(interp, bound, &["Name", "VM"], &input)?;
    for index in &indexes {
        let vm = &mut interp.host.vms[*index];
        if vm.state != VmState::Paused {
            return Err(invalid_state(&vm.name, "resume").into());
        }
        vm.state = VmState::Running;
    }
    Ok(passthru(bound, interp.host, &indexes))
}

fn remove_vm(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let indexes = vm_indexes(interp, bound, &["Name", "VM"], &input)?;
    for index in &indexes {
        let vm = &interp.host.vms[*index];
        if matches!(vm.state, VmState::Running | VmState::Paused) {
            return Err(invalid_state(&vm.name, "delete").into());
        }
    }
    let mut sorted = indexes.clone();
    sorted.sort_unstable();
    for index in sorted.into_iter().rev() {
        // The configuration goes, the disks stay (as in Hyper-V).
        interp.host.vms.remove(index);
    }
    Ok(Vec::new())
}

/// The single VM named by `-VMName`/`-VM`/input, for the per-VM configuration cmdlets.
fn single_vm(
    interp: &Interpreter<'_>,
    bound: &Bound,
    input: &[Value],
) -> Result<usize, CmdletError> {
    let indexes = vm_indexes(interp, bound, &["VMName", "VM"], input)?;
    match indexes.as_slice() {
        [one] => Ok(*one),
        [] => Err(vm_not_found(&bound.text("VMName").unwrap_or_default())),
        _ => Err(invalid_argument(
            "The operation applies to more than one virtual machine.",
            "",
        )),
    }
}

fn require_off(vm: &Vm, device: &str) -> Result<(), CmdletError> {
    if vm.state == VmState::Off {
        Ok(())
    } else {
        Err(CmdletError::new(
            format!("Failed to modify device '{device}'.\r\nThe operation cannot be performed while the virtual machine '{}' is in its current state.", vm.name),
            "InvalidOperation",
            "VirtualizationException",
            &vm.name,
            "InvalidState",
        ))
    }
}

fn set_vm_processor(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let index = single_vm(interp, bound, &input)?;
    let limit = interp.host.logical_processors;
    let vm = &mut interp.host.vms[index];
    if let Some(count) = bound.get("Count") {
        let count = count.to_i64().unwrap_or(0);
        require_off(vm, "Processor")?;
        if count < 1 || count > i64::from(limit) {
            return Err(invalid_argument(
                format!("Failed to modify device 'Processor'.\r\nThe virtual machine '{}' cannot be assigned {count} processors; the host has {limit} logical processors.", vm.name),
                &vm.name,
            )
            .into());
        }
        vm.processor_count = count as u32;
    }
    Ok(Vec::new())
}

fn generation_one_error(vm: &Vm) -> CmdletError {
    invalid_argument(
        format!("The virtual machine '{}' is a generation 1 virtual machine; this operation is supported only on generation 2 virtual machines.", vm.name),
        &vm.name,
    )
}

fn set_vm_firmware(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let index = single_vm(interp, bound, &input)?;
    let vm = &mut interp.host.vms[index];
    if vm.generation != 2 {
        return Err(generation_one_error(vm).into());
    }
    if let Some(value) = bound.get("EnableSecureBoot") {
        vm.secure_boot = match value.to_text().to_ascii_lowercase().as_str() {
            "on" => true,
            "off" => false,
            other => {
                return Err(invalid_argument(
                    format!("Cannot bind parameter 'EnableSecureBoot'. Cannot convert value \"{other}\" to type \"Microsoft.HyperV.PowerShell.OnOffState\"."),
                    &vm.name,
                )
                .into())
            }
        };
    }
    if let Some(device) = bound.get("FirstBootDevice") {
        let kind = match device {
            Value::Object(object) => object.type_name.to_string(),
            other => other.to_text(),
        };
        vm.first_boot_device = Some(kind);
    }
    Ok(Vec::new())
}

fn get_vm_firmware(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let index = single_vm(interp, bound, &input)?;
    let vm = &interp.host.vms[index];
    if vm.generation != 2 {
        return Err(generation_one_error(vm).into());
    }
    Ok(vec![Value::object(
        PsObject::new("VMFirmware")
            .with("VMName", Value::str(vm.name.clone()))
            .with(
                "SecureBoot",
                Value::str(if vm.secure_boot { "On" } else { "Off" }),
            )
            .with(
                "FirstBootDevice",
                vm.first_boot_device
                    .clone()
                    .map(Value::Str)
                    .unwrap_or(Value::Null),
            ),
    )])
}

fn dvd_object(vm: &Vm, position: usize, path: &Option<String>) -> Value {
    let (controller_type, controller) = if vm.generation == 1 {
        ("IDE", 1)
    } else {
        ("SCSI", 0)
    };
    Value::object(
        PsObject::new("DvdDrive")
            .with("VMName", Value::str(vm.name.clone()))
            .with("ControllerType", Value::str(controller_type))
            .with("ControllerNumber", Value::Int(controller))
            .with("ControllerLocation", Value::Int(position as i64))
            .with("Path", path.clone().map(Value::Str).unwrap_or(Value::Null)),
    )
}

fn add_vm_dvd_drive(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let index = single_vm(interp, bound, &input)?;
    let path = bound.text("Path");
    if let Some(path) = &path {
        if !interp.host.file_exists(path) {
            return Err(invalid_argument(
                format!("Failed to add device 'Virtual CD/DVD Disk'.\r\nThe system cannot find the file specified. ('{path}')"),
                &interp.host.vms[index].name,
            )
            .into());
        }
    }
    let vm = &mut interp.host.vms[index];
    vm.dvd_drives.push(path);
    let position = vm.dvd_drives.len() - 1;
    if bound.switch("Passthru") {
        return Ok(vec![dvd_object(vm, position, &vm.dvd_drives[position])]);
    }
    Ok(Vec::new())
}

fn get_vm_dvd_drive(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let index = single_vm(interp, bound, &input)?;
    let vm = &interp.host.vms[index];
    Ok(vm
        .dvd_drives
        .iter()
        .enumerate()
        .map(|(position, path)| dvd_object(vm, position, path))
        .collect())
}

fn get_vm_hard_disk_drive(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let index = single_vm(interp, bound, &input)?;
    let vm = &interp.host.vms[index];
    Ok(vm
        .hard_drives
        .iter()
        .enumerate()
        .map(|(position, path)| {
            Value::object(
                PsObject::new("HardDiskDrive")
                    .with("VMName", Value::str(vm.name.clone()))
                    .with(
                        "ControllerType",
                        Value::str(if vm.generation == 1 { "IDE" } else { "SCSI" }),
                    )
                    .with("ControllerLocation", Value::Int(position as i64))
                    .with("Path", Value::str(path.clone())),
            )
        })
        .collect())
}

fn adapter_object(vm: &Vm, adapter: &NetworkAdapter) -> Value {
    Value::object(
        PsObject::new("VMNetworkAdapter")
            .with("VMName", Value::str(vm.name.clone()))
            .with("Name", Value::str(adapter.name.clone()))
            .with(
                "SwitchName",
                adapter
                    .switch_name
                    .clone()
                    .map(Value::Str)
                    .unwrap_or(Value::Null),
            )
            .with(
                "MacAddress",
                Value::str(
                    adapter
                        .static_mac
                        .clone()
                        .unwrap_or_else(|| "000000000000".to_string()),
                ),
            )
            .with(
                "DynamicMacAddressEnabled",
                Value::Bool(adapter.static_mac.is_none()),
            ),
    )
}

fn adapter_not_found() -> CmdletError {
    CmdletError::new(
        "No network adapter is found with the given input.",
        "InvalidArgument",
        "VirtualizationException",
        "",
        "InvalidParameter",
    )
}

fn switch_not_found(name: &str) -> CmdletError {
    CmdletError::new(
        format!("Hyper-V was unable to find a virtual switch with name \"{name}\"."),
        "InvalidArgument",
        "VirtualizationException",
        name,
        "InvalidParameter",
    )
}

fn get_vm_network_adapter(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let index = single_vm(interp, bound, &input)?;
    let vm = &interp.host.vms[index];
    let adapters: Vec<Value> = vm
        .network_adapters
        .iter()
        .filter(|a| {
            bound
                .text("Name")
                .is_none_or(|name| wildcard_match(&name, &a.name))
        })
        .map(|adapter| adapter_object(vm, adapter))
        .collect();
    if adapters.is_empty() && bound.text("Name").is_some_and(|n| !has_wildcards(&n)) {
        return Err(adapter_not_found().into());
    }
    Ok(adapters)
}

/// Hyper-V accepts `00155D010203` and `00-15-5D-01-02-03`; returns the 12-digit form.
fn parse_mac(text: &str) -> Option<String> {
    let digits: String = if text.len() == 17
        && text.chars().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        }) {
        text.chars().filter(|c| *c != '-').collect()
    } else {
        text.to_string()
    };
    if digits.len() != 12 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let first = u8::from_str_radix(&digits[..2], 16).ok()?;
    // Multicast addresses cannot be assigned to an adapter.
    (first & 1 == 0).then(|| digits.to_ascii_uppercase())
}

fn invalid_mac(text: &str, vm: &str) -> CmdletError {
    invalid_argument(
        format!("Failed to set the static MAC address for the network adapter.\r\nThe MAC address '{text}' is not valid; specify 12 hexadecimal digits of a unicast address."),
        vm,
    )
}

fn add_vm_network_adapter(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let index = single_vm(interp, bound, &input)?;
    let switch_name = match bound.text("SwitchName") {
        Some(switch) => match interp.host.switch(&switch) {
            Some(found) => Some(found.name.clone()),
            None => return Err(switch_not_found(&switch).into()),
        },
        None => None,
    };
    let vm = &mut interp.host.vms[index];
    let static_mac = match bound.text("StaticMacAddress") {
        Some(mac) => Some(parse_mac(&mac).ok_or_else(|| invalid_mac(&mac, &vm.name))?),
        None => None,
    };
    let name = bound
        .text("Name")
        .unwrap_or_else(|| "Network Adapter".to_string());
    vm.network_adapters.push(NetworkAdapter {
        name,
        switch_name,
        static_mac,
        access_vlan: None,
    });
    if bound.switch("Passthru") {
        return Ok(vec![adapter_object(
            vm,
            vm.network_adapters.last().expect("just pushed"),
        )]);
    }
    Ok(Vec::new())
}

/// (VM index, adapter name) pairs from `-VMName`/`-Name` or adapter objects in the input.
fn adapters_from(
    interp: &Interpreter<'_>,
    bound: &Bound,
    input: &[Value],
    name_key: &str,
) -> Result<Vec<(usize, String)>, CmdletError> {
    let objects: Vec<Value> = match bound.get("VMNetworkAdapter") {
        Some(value) => value.clone().into_items(),
        None if bound.get("VMName").is_none() && bound.get("VM").is_none() => input.to_vec(),
        None => Vec::new(),
    };
    if !objects.is_empty() {
        let mut pairs = Vec::new();
        for object in objects {
            let vm_name = object.property("VMName").to_text();
            let vm = resolve_vms(interp.host, &[vm_name])?;
            pairs.push((vm[0], object.property("Name").to_text()));
        }
        return Ok(pairs);
    }
    let index = single_vm(interp, bound, &[])?;
    let vm = &interp.host.vms[index];
    let pattern = bound.text(name_key);
    let names: Vec<String> = vm
        .network_adapters
        .iter()
        .filter(|a| {
            pattern
                .as_deref()
                .is_none_or(|p| wildcard_match(p, &a.name))
        })
        .map(|a| a.name.clone())
        .collect();
    if names.is_empty() {
        return Err(adapter_not_found());
    }
    Ok(names.into_iter().map(|name| (index, name)).collect())
}

fn remove_vm_network_adapter(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let pairs = adapters_from(interp, bound, &input, "Name")?;
    for (index, name) in pairs {
        let vm = &mut interp.host.vms[index];
        let position = vm
            .network_adapters
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(&name))
            .ok_or_else(adapter_not_found)?;
        vm.network_adapters.remove(position);
    }
    Ok(Vec::new())
}

fn set_vm_network_adapter(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let pairs = adapters_from(interp, bound, &input, "Name")?;
    for (index, name) in pairs {
        let vm = &mut interp.host.vms[index];
        let vm_name = vm.name.clone();
        let adapter = vm
            .network_adapters
            .iter_mut()
            .find(|a| a.name.eq_ignore_ascii_case(&name))
            .ok_or_else(adapter_not_found)?;
        if let Some(mac) = bound.text("StaticMacAddress") {
            adapter.static_mac = Some(parse_mac(&mac).ok_or_else(|| invalid_mac(&mac, &vm_name))?);
        }
        if bound.switch("DynamicMacAddress") {
            adapter.static_mac = None;
        }
    }
    Ok(Vec::new())
}

fn set_vm_network_adapter_vlan(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let pairs = adapters_from(interp, bound, &input, "VMNetworkAdapterName")?;
    let vlan = if bound.switch("Untagged") {
        None
    } else if bound.switch("Access") {
        let id = bound
            .get("VlanId")
            .and_then(Value::to_i64)
            .ok_or_else(|| invalid_argument("The access VLAN id is required with -Access.", ""))?;
        if !(1..=4094).contains(&id) {
            return Err(invalid_argument(
                format!("Cannot validate argument on parameter 'VlanId'. The {id} argument is greater than the maximum allowed range of 4094 or less than the minimum of 1."),
                "",
            )
            .into());
        }
        Some(id as u16)
    } else {
        return Err(invalid_argument("Specify -Access or -Untagged.", "").into());
    };
    for (index, name) in pairs {
        let vm = &mut interp.host.vms[index];
        let adapter = vm
            .network_adapters
            .iter_mut()
            .find(|a| a.name.eq_ignore_ascii_case(&name))
            .ok_or_else(adapter_not_found)?;
        adapter.access_vlan = vlan;
    }
    Ok(Vec::new())
}

fn get_vm_network_adapter_vlan(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let pairs = adapters_from(interp, bound, &input, "VMNetworkAdapterName")?;
    Ok(pairs
        .into_iter()
        .filter_map(|(index, name)| {
            let vm = &interp.host.vms[index];
            let adapter = vm.adapter(&name)?;
            Some(Value::object(
                PsObject::new("VMNetworkAdapterVlanSetting")
                    .with("VMName", Value::str(vm.name.clone()))
                    .with("AdapterName", Value::str(adapter.name.clone()))
                    .with(
                        "OperationMode",
                        Value::str(if adapter.access_vlan.is_some() {
                            "Access"
                        } else {
                            "Untagged"
                        }),
                    )
                    .with(
                        "AccessVlanId",
                        Value::Int(adapter.access_vlan.map(i64::from).unwrap_or(0)),
                    ),
            ))
        })
        .collect())
}

fn get_vm_switch(interp: &mut Interpreter<'_>, bound: &Bound, _input: Vec<Value>) -> CmdletResult {
    let pattern = bound.text("Name");
    let switches: Vec<Value> = interp
        .host
        .switches
        .iter()
        .filter(|s| {
            pattern.as_deref().is_none_or(|p| {
                if has_wildcards(p) {
                    wildcard_match(p, &s.name)
                } else {
                    s.name.eq_ignore_ascii_case(p)
                }
            })
        })
        .map(|s| {
            Value::object(
                PsObject::new("VMSwitch")
                    .with("Name", Value::str(s.name.clone()))
                    .with("SwitchType", Value::str(s.switch_type.clone())),
            )
        })
        .collect();
    if let Some(name) = pattern {
        if switches.is_empty() && !has_wildcards(&name) {
            return Err(switch_not_found(&name).into());
        }
    }
    Ok(switches)
}

// ---------------------------------------------------------------------------------------------
// Checkpoints.

fn snapshot_object(vm: &Vm, checkpoint: &Checkpoint) -> Value {
    Value::object(
        PsObject::new("VMSnapshot")
            .with("VMName", Value::str(vm.name.clone()))
            .with("Name", Value::str(checkpoint.name.clone()))
            .with("SnapshotType", Value::str("Standard"))
            .with("CreationTime", Value::DateTime(checkpoint.creation_time))
            .with(
                "ParentSnapshotName",
                checkpoint
                    .parent
                    .clone()
                    .map(Value::Str)
                    .unwrap_or(Value::Null),
            )
            .with("Id", Value::str(checkpoint.id.to_string())),
    )
}

fn snapshot_not_found(name: &str) -> CmdletError {
    CmdletError::new(
        format!("Hyper-V was unable to find a checkpoint named \"{name}\"."),
        "InvalidArgument",
        "VirtualizationException",
        name,
        "InvalidParameter",
    )
}

fn checkpoint_vm(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let indexes = vm_indexes(interp, bound, &["Name", "VM"], &input)?;
    let now = chrono::Local::now()
        .naive_local()
        .with_nanosecond(0)
        .unwrap_or_default();
    for index in &indexes {
        let vm = &mut interp.host.vms[*index];
        let name = bound.text("SnapshotName").unwrap_or_else(|| {
            format!(
                "{} - ({})",
                vm.name,
                now.format("%-m/%-d/%Y - %-I:%M:%S %p")
            )
        });
        let parent = vm.checkpoints.last().map(|c| c.name.clone());
        vm.checkpoints.push(Checkpoint {
            id: Uuid::new_v4(),
            name,
            creation_time: now,
            parent,
            memory_startup_bytes: vm.memory_startup_bytes,
            processor_count: vm.processor_count,
        });
    }
    Ok(Vec::new())
}

/// (VM index, checkpoint name) pairs from parameters or snapshot objects.
fn snapshots_from(
    interp: &Interpreter<'_>,
    bound: &Bound,
    input: &[Value],
) -> Result<Vec<(usize, String)>, CmdletError> {
    let objects: Vec<Value> = match bound.get("VMSnapshot") {
        Some(value) => value.clone().into_items(),
        None if bound.get("VMName").is_none() => input.to_vec(),
        None => Vec::new(),
    };
    if !objects.is_empty() {
        let mut pairs = Vec::new();
        for object in objects {
            let vm = resolve_vms(interp.host, &[object.property("VMName").to_text()])?;
            pairs.push((vm[0], object.property("Name").to_text()));
        }
        return Ok(pairs);
    }
    let index = single_vm(interp, bound, &[])?;
    let name = bound.required("Name")?;
    let vm = &interp.host.vms[index];
    let names: Vec<String> = vm
        .checkpoints
        .iter()
        .filter(|c| {
            if has_wildcards(&name) {
                wildcard_match(&name, &c.name)
            } else {
                c.name.eq_ignore_ascii_case(&name)
            }
        })
        .map(|c| c.name.clone())
        .collect();
    if names.is_empty() {
        return Err(snapshot_not_found(&name));
    }
    Ok(names.into_iter().map(|n| (index, n)).collect())
}

fn get_vm_snapshot(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let index = single_vm(interp, bound, &input)?;
    let vm = &interp.host.vms[index];
    let pattern = bound.text("Name");
    let snapshots: Vec<Value> = vm
        .checkpoints
        .iter()
        .filter(|c| {
            pattern.as_deref().is_none_or(|p| {
                if has_wildcards(p) {
                    wildcard_match(p, &c.name)
                } else {
                    c.name.eq_ignore_ascii_case(p)
                }
            })
        })
        .map(|c| snapshot_object(vm, c))
        .collect();
    if let Some(name) = pattern {
        if snapshots.is_empty() && !has_wildcards(&name) {
            return Err(snapshot_not_found(&name).into());
        }
    }
    Ok(snapshots)
}

fn restore_vm_snapshot(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let pairs = snapshots_from(interp, bound, &input)?;
    if pairs.len() > 1 {
        return Err(invalid_argument(
            "More than one checkpoint matches; specify a single checkpoint.",
            &pairs[0].1,
        )
        .into());
    }
    for (index, name) in pairs {
        let vm = &mut interp.host.vms[index];
        let checkpoint = vm
            .checkpoint(&name)
            .cloned()
            .ok_or_else(|| snapshot_not_found(&name))?;
        vm.memory_startup_bytes = checkpoint.memory_startup_bytes;
        vm.processor_count = checkpoint.processor_count;
        // Production checkpoints hold no memory state: the VM is off after applying one.
        vm.state = VmState::Off;
    }
    Ok(Vec::new())
}

fn remove_vm_snapshot(
    interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let pairs = snapshots_from(interp, bound, &input)?;
    for (index, name) in pairs {
        let vm = &mut interp.host.vms[index];
        let parent = vm.checkpoint(&name).and_then(|c| c.parent.clone());
        vm.checkpoints
            .retain(|c| !c.name.eq_ignore_ascii_case(&name));
        for child in vm.checkpoints.iter_mut().filter(|c| {
            c.parent
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(&name))
        }) {
            child.parent = parent.clone();
        }
    }
    Ok(Vec::new())
}

// ---------------------------------------------------------------------------------------------
// Files.

/// `-LiteralPath` as given, or `-Path` (which would expand wildcards; the simulator's file
/// system only holds literal names, so a wildcard path matches nothing).
fn path_argument(bound: &Bound) -> Result<(String, bool), CmdletError> {
    if let Some(path) = bound.text("LiteralPath") {
        return Ok((path, true));
    }
    bound.required("Path").map(|p| (p, false))
}

fn copy_item(interp: &mut Interpreter<'_>, bound: &Bound, _input: Vec<Value>) -> CmdletResult {
    let (source, literal) = path_argument(bound)?;
    let destination = bound.required("Destination")?;
    let host = &mut *interp.host;
    let Some(file) = host
        .file(&source)
        .filter(|_| literal || !has_wildcards(&source))
        .cloned()
    else {
        return Err(path_not_found(&source).into());
    };
    let target = if host.directory_exists(&destination) {
        let file_name = file
            .path
            .rsplit(['\\', '/'])
            .next()
            .unwrap_or(&file.path)
            .to_string();
        format!("{}\\{file_name}", destination.trim_end_matches('\\'))
    } else {
        destination.clone()
    };
    match parent_directory(&target) {
        Some(parent) if host.directory_exists(&parent) => {}
        _ => {
            return Err(CmdletError::new(
                format!("Could not find a part of the path '{target}'."),
                "WriteError",
                "DirectoryNotFoundException",
                &target,
                "CopyFileInfoItemIOError",
            )
            .into())
        }
    }
    if let Some(owner) = host.vm_using_file(&target) {
        if owner.state != VmState::Off {
            return Err(file_in_use(&target).into());
        }
    }
    host.add_file(&target, file.size_bytes);
    Ok(Vec::new())
}

fn remove_item(interp: &mut Interpreter<'_>, bound: &Bound, _input: Vec<Value>) -> CmdletResult {
    let (path, _) = path_argument(bound)?;
    let host = &mut *interp.host;
    let key = normalize_path(&path);
    if host.files.contains_key(&key) {
        if host.vm_using_file(&path).is_some() {
            return Err(file_in_use(&path).into());
        }
        host.files.remove(&key);
        return Ok(Vec::new());
    }
    if host.directories.contains(&key) {
        let prefix = format!("{key}\\");
        let has_children = host.files.keys().any(|f| f.starts_with(&prefix))
            || host.directories.iter().any(|d| d.starts_with(&prefix));
        if has_children && !bound.switch("Recurse") {
            return Err(CmdletError::new(
                format!(
                    "The item at {path} has children and the Recurse parameter was not specified."
                ),
                "WriteError",
                "IOException",
                &path,
                "DirectoryNotEmpty",
            )
            .into());
        }
        if let Some(file) = host
            .files
            .keys()
            .filter(|f| f.starts_with(&prefix))
            .find(|f| host.vm_using_file(f).is_some())
        {
            return Err(file_in_use(&host.files[file].path).into());
        }
        host.files.retain(|f, _| !f.starts_with(&prefix));
        host.directories
            .retain(|d| !d.starts_with(&prefix) && *d != key);
        return Ok(Vec::new());
    }
    Err(path_not_found(&path).into())
}

fn test_path(interp: &mut Interpreter<'_>, bound: &Bound, _input: Vec<Value>) -> CmdletResult {
    let (path, _) = path_argument(bound)?;
    let host = &*interp.host;
    let exists = match bound.text("PathType").map(|t| t.to_ascii_lowercase()) {
        Some(kind) if kind == "leaf" => host.file_exists(&path),
        Some(kind) if kind == "container" => host.directory_exists(&path),
        _ => host.file_exists(&path) || host.directory_exists(&path),
    };
    Ok(vec![Value::Bool(exists)])
}

// ---------------------------------------------------------------------------------------------
// Pipeline utilities.

fn select_object(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let items = match bound.get("InputObject") {
        Some(value) => vec![value.clone()],
        None => input,
    };
    let first = bound
        .get("First")
        .and_then(Value::to_i64)
        .map(|n| n.max(0) as usize);
    let items: Vec<Value> = match first {
        Some(n) => items.into_iter().take(n).collect(),
        None => items,
    };
    if let Some(expand) = bound.text("ExpandProperty") {
        return Ok(items
            .iter()
            .flat_map(|item| item.property(&expand).into_items())
            .collect());
    }
    let Some(properties) = bound.get("Property").cloned() else {
        return Ok(items);
    };
    let properties = properties.into_items();
    let mut outputs = Vec::new();
    for item in &items {
        let mut object = PsObject::new("Selected.Object");
        for property in &properties {
            match property {
                Value::Hash(entries) => {
                    let find = |keys: &[&str]| {
                        entries
                            .iter()
                            .find(|(k, _)| keys.iter().any(|key| k.eq_ignore_ascii_case(key)))
                            .map(|(_, v)| v.clone())
                    };
                    let name = find(&["Name", "N", "Label", "L"])
                        .map(|v| v.to_text())
                        .unwrap_or_default();
                    let value = match find(&["Expression", "E"]) {
                        Some(Value::Block(block, _)) => {
                            let outputs = interp.run_script_block(&block, item)?;
                            super::eval::collapse(outputs)
                        }
                        Some(other) => item.property(&other.to_text()),
                        None => Value::Null,
                    };
                    object.props.push((name, value));
                }
                other => {
                    let name = other.to_text();
                    if name == "*" {
                        if let Value::Object(source) = item {
                            object.props.extend(source.props.iter().cloned());
                        }
                        continue;
                    }
                    let value = item.property(&name);
                    object.props.push((name, value));
                }
            }
        }
        outputs.push(Value::object(object));
    }
    Ok(outputs)
}

fn convert_to_json(
    _interp: &mut Interpreter<'_>,
    bound: &Bound,
    input: Vec<Value>,
) -> CmdletResult {
    let value = match bound.get("InputObject") {
        Some(value) => value.clone(),
        None => match input.len() {
            0 => return Ok(Vec::new()),
            1 => input.into_iter().next().expect("one item"),
            _ => Value::Array(input),
        },
    };
    let depth = bound
        .get("Depth")
        .and_then(Value::to_i64)
        .unwrap_or(2)
        .clamp(0, 100) as usize;
    let json = value.to_json(depth + 1);
    Ok(vec![Value::Str(render_json(
        &json,
        bound.switch("Compress"),
    ))])
}

fn out_null(_interp: &mut Interpreter<'_>, _bound: &Bound, _input: Vec<Value>) -> CmdletResult {
    Ok(Vec::new())
}

fn out_string(_interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let items = match bound.get("InputObject") {
        Some(value) => value.clone().into_items(),
        None => input,
    };
    let text: String = items
        .iter()
        .map(|v| format!("{}\r\n", v.to_text()))
        .collect();
    Ok(vec![Value::Str(text)])
}

fn write_output(_interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    match bound.get("InputObject") {
        Some(value) if bound.switch("NoEnumerate") => Ok(vec![value.clone()]),
        Some(value) => Ok(value.clone().into_items()),
        None => Ok(input),
    }
}

fn write_error(_interp: &mut Interpreter<'_>, bound: &Bound, _input: Vec<Value>) -> CmdletResult {
    let message = bound.text("Message").unwrap_or_default();
    Err(CmdletError::new(
        message.clone(),
        "NotSpecified",
        "WriteErrorException",
        message,
        "Microsoft.PowerShell.Commands.WriteErrorException",
    )
    .into())
}

fn where_object(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let Some(Value::Block(block, _)) = bound.get("FilterScript").cloned() else {
        return Err(invalid_argument("Where-Object needs a script block.", "").into());
    };
    let mut kept = Vec::new();
    for item in input {
        if super::eval::collapse(interp.run_script_block(&block, &item)?).truthy() {
            kept.push(item);
        }
    }
    Ok(kept)
}

fn foreach_object(interp: &mut Interpreter<'_>, bound: &Bound, input: Vec<Value>) -> CmdletResult {
    let Some(Value::Block(block, _)) = bound.get("Process").cloned() else {
        return Err(invalid_argument("ForEach-Object needs a script block.", "").into());
    };
    let mut outputs = Vec::new();
    for item in input {
        outputs.extend(interp.run_script_block(&block, &item)?);
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_normalized() {
        assert_eq!(
            parse_mac("02-00-2f-6e-00-05").as_deref(),
            Some("02002F6E0005")
        );
        assert_eq!(parse_mac("02002F6E0005").as_deref(), Some("02002F6E0005"));
        assert!(parse_mac("02:00:2f:6e:00:05").is_none());
        assert!(parse_mac("01005E000001").is_none());
    }

    #[test]
    fn parameters_resolve_by_alias_and_prefix() {
        let spec = lookup("new-vm").unwrap();
        assert_eq!(spec.resolve("MemoryStartup"), Some("MemoryStartupBytes"));
        assert_eq!(spec.resolve("vmname"), Some("Name"));
        assert_eq!(spec.resolve("ea"), Some("ErrorAction"));
        assert_eq!(spec.resolve("N"), None);
        assert!(lookup("select").is_some());
    }
}
