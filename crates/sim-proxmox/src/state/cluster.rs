//! What the simulated cluster holds besides VMs: nodes with their network interfaces, storages,
//! task and VNC ticket records, and the requests the simulator answered.

use std::collections::BTreeMap;

/// A network interface of a node (`GET /nodes/{node}/network`).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkInterface {
    pub iface: String,
    /// `eth`, `bridge`, `bond`, ...
    pub kind: String,
    /// `static`, `manual`, `dhcp`.
    pub method: String,
    pub address: Option<String>,
    pub netmask: Option<String>,
    pub cidr: Option<String>,
    pub gateway: Option<String>,
    pub bridge_ports: Option<String>,
    pub vlan_aware: bool,
}

/// A cluster node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub network: Vec<NetworkInterface>,
}

impl Node {
    /// A node with a physical NIC and the bridges `vmbr0` (holding `address`) and `vmbr1`.
    pub fn new(name: impl Into<String>, address: &str) -> Node {
        let physical = NetworkInterface {
            iface: "eno1".into(),
            kind: "eth".into(),
            method: "manual".into(),
            address: None,
            netmask: None,
            cidr: None,
            gateway: None,
            bridge_ports: None,
            vlan_aware: false,
        };
        let management = NetworkInterface {
            iface: "vmbr0".into(),
            kind: "bridge".into(),
            method: "static".into(),
            address: Some(address.to_string()),
            netmask: Some("255.255.255.0".into()),
            cidr: Some(format!("{address}/24")),
            gateway: None,
            bridge_ports: Some("eno1".into()),
            vlan_aware: true,
        };
        let guests = NetworkInterface {
            iface: "vmbr1".into(),
            kind: "bridge".into(),
            method: "manual".into(),
            address: None,
            netmask: None,
            cidr: None,
            gateway: None,
            bridge_ports: None,
            vlan_aware: true,
        };
        Node {
            name: name.into(),
            network: vec![physical, management, guests],
        }
    }

    pub fn has_bridge(&self, bridge: &str) -> bool {
        self.network
            .iter()
            .any(|interface| interface.kind == "bridge" && interface.iface == bridge)
    }
}

/// A storage (shared by all nodes of the simulated cluster).
#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    pub id: String,
    /// `dir`, `lvmthin`, ...
    pub kind: String,
    /// `images`, `iso`, ...
    pub content: Vec<String>,
    /// Volume ids of stored ISO images and the like.
    pub volumes: Vec<String>,
}

impl Storage {
    pub fn holds_images(&self) -> bool {
        self.content.iter().any(|content| content == "images")
    }
}

/// A task as reported by `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    pub upid: String,
    pub node: String,
    pub pid: u32,
    pub pstart: u32,
    pub starttime: u64,
    /// `qmclone`, `qmstart`, ...
    pub kind: String,
    /// The VMID the task works on (as text, like in the UPID).
    pub id: String,
    /// The user, with the token id (`root@pam!trellis`).
    pub user: String,
    /// `None` while running, then `OK` or the error text.
    pub exitstatus: Option<String>,
}

impl TaskInfo {
    pub fn is_running(&self) -> bool {
        self.exitstatus.is_none()
    }

    pub fn succeeded(&self) -> bool {
        self.exitstatus.as_deref() == Some("OK")
    }
}

/// A VNC proxy ticket handed out by `vncproxy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VncTicket {
    pub vmid: u32,
    pub port: u16,
    pub ticket: String,
}

/// A request the simulator answered (the `Authorization` header is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path below `/api2/json`, percent-decoded.
    pub path: String,
    /// Query and body parameters.
    pub params: BTreeMap<String, String>,
    pub status: u16,
}
