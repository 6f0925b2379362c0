//! Shared plumbing of the conformance test files: a store per backend and row fixtures.
#![allow(dead_code)]

use trellis_model::entity::{
    Cluster, Event, Host, Instance, Network, NetworkOffering, Nic, Pod, ServiceOffering, Template,
    Zone,
};
use trellis_model::infra::{AllocationState, HostStatus, ResourceState};
use trellis_store::{testing, Store};

pub async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (Store::open(&url).await.unwrap(), dir)
}

/// Run `f` on a fresh SQLite store and, when `TRELLIS_TEST_POSTGRES_URL` is set, on a fresh
/// PostgreSQL schema.
pub async fn each_backend<F, Fut>(f: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (s, _dir) = sqlite().await;
    f(s).await;
    match testing::postgres_url() {
        Some(url) => {
            f(testing::isolated_postgres(&url)
                .await
                .expect("postgres store"))
            .await
        }
        None => eprintln!(
            "TRELLIS_TEST_POSTGRES_URL not set: PostgreSQL leg of the store suite skipped"
        ),
    }
}

pub fn uuid() -> String {
    trellis_model::ids::new_uuid()
}

pub fn zone(name: &str) -> Zone {
    Zone {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        description: Some(format!("{name} zone")),
        dns1: Some("8.8.8.8".into()),
        dns2: None,
        internal_dns1: Some("10.0.0.2".into()),
        network_type: "Advanced".into(),
        allocation_state: AllocationState::Enabled,
        created: 1,
    }
}

pub fn pod(name: &str, zone_id: i64) -> Pod {
    Pod {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        zone_id,
        gateway: Some("10.1.0.1".into()),
        netmask: Some("255.255.255.0".into()),
        start_ip: Some("10.1.0.10".into()),
        end_ip: Some("10.1.0.20".into()),
        allocation_state: AllocationState::Enabled,
        created: 2,
    }
}

pub fn cluster(name: &str, zone_id: i64, pod_id: i64) -> Cluster {
    Cluster {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        zone_id,
        pod_id,
        hypervisor: "External".into(),
        cluster_type: "CloudManaged".into(),
        allocation_state: AllocationState::Enabled,
        arch: "x86_64".into(),
        created: 3,
    }
}

pub fn host(name: &str, c: &Cluster) -> Host {
    Host {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        guid: format!("guid-{name}"),
        zone_id: c.zone_id,
        pod_id: c.pod_id,
        cluster_id: c.id,
        url: format!("http://{name}"),
        status: HostStatus::Up,
        resource_state: ResourceState::Enabled,
        hypervisor: "External".into(),
        host_tags: Some("fast".into()),
        created: 4,
    }
}

pub fn offering(name: &str) -> ServiceOffering {
    ServiceOffering {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        display_text: format!("{name} offering"),
        cpu_number: 2,
        cpu_speed: 1000,
        memory: 2048,
        host_tags: None,
        state: "Active".into(),
        created: 5,
    }
}

pub fn template(name: &str, extension_id: Option<i64>, account_id: i64) -> Template {
    Template {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        display_text: format!("{name} template"),
        format: "EXTERNAL".into(),
        hypervisor: "External".into(),
        os_type: "Other".into(),
        extension_id,
        arch: "x86_64".into(),
        is_public: true,
        is_featured: false,
        account_id,
        zone_id: None,
        url: "none".into(),
        size: 10,
        state: "Active".into(),
        created: 6,
    }
}

pub fn network_offering(name: &str) -> NetworkOffering {
    NetworkOffering {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        display_text: format!("{name} network offering"),
        guest_ip_type: "Isolated".into(),
        specify_vlan: true,
        state: "Enabled".into(),
        is_default: false,
        created: 7,
    }
}

pub fn network(name: &str, zone_id: i64, offering_id: i64, account_id: i64) -> Network {
    Network {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        display_text: format!("{name} network"),
        zone_id,
        network_offering_id: offering_id,
        guest_type: "Isolated".into(),
        broadcast_uri: Some("vlan://100".into()),
        gateway: Some("10.2.0.1".into()),
        netmask: Some("255.255.255.0".into()),
        start_ip: Some("10.2.0.10".into()),
        end_ip: Some("10.2.0.200".into()),
        dns1: Some("10.2.0.1".into()),
        dns2: None,
        account_id,
        domain_id: 1,
        state: "Implemented".into(),
        created: 8,
    }
}

/// An instance row to insert (id, internal name and generation are the store's).
pub fn instance(name: &str, account_id: i64, zone_id: i64, template_id: i64) -> Instance {
    Instance {
        id: 0,
        uuid: uuid(),
        name: name.into(),
        instance_name: String::new(),
        display_name: format!("{name} display"),
        account_id,
        domain_id: 1,
        user_id: 1,
        zone_id,
        host_id: None,
        last_host_id: None,
        template_id,
        service_offering_id: 1,
        state: trellis_model::instance::VmState::Stopped,
        power_state: "PowerUnknown".into(),
        power_state_updated: None,
        generation: 0,
        vnc_password: "vnc".into(),
        ha_enabled: false,
        user_data: Some("dXNlcmRhdGE=".into()),
        started_once: false,
        created: 9,
        removed: None,
    }
}

pub fn nic(network_id: i64, device_id: i64, mac: &str, ip: Option<&str>) -> Nic {
    Nic {
        id: 0,
        uuid: uuid(),
        instance_id: 0,
        network_id,
        device_id,
        mac: mac.into(),
        ip: ip.map(Into::into),
        netmask: Some("255.255.255.0".into()),
        gateway: Some("10.2.0.1".into()),
        is_default: device_id == 0,
        broadcast_uri: Some("vlan://100".into()),
        created: 10,
    }
}

pub fn event(event_type: &str, account_id: i64, resource_uuid: &str, description: &str) -> Event {
    Event {
        id: 0,
        uuid: uuid(),
        event_type: event_type.into(),
        level: "INFO".into(),
        state: "Completed".into(),
        description: description.into(),
        user_id: Some(1),
        account_id: Some(account_id),
        domain_id: Some(1),
        resource_type: Some("VirtualMachine".into()),
        resource_uuid: Some(resource_uuid.into()),
        created: 11,
    }
}
