CREATE TABLE zones (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    dns1 TEXT,
    dns2 TEXT,
    internal_dns1 TEXT,
    network_type TEXT NOT NULL,
    allocation_state TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE pods (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    zone_id BIGINT NOT NULL,
    gateway TEXT,
    netmask TEXT,
    start_ip TEXT,
    end_ip TEXT,
    allocation_state TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE clusters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    zone_id BIGINT NOT NULL,
    pod_id BIGINT NOT NULL,
    hypervisor TEXT NOT NULL,
    cluster_type TEXT NOT NULL,
    allocation_state TEXT NOT NULL,
    arch TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE hosts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    guid TEXT NOT NULL,
    zone_id BIGINT NOT NULL,
    pod_id BIGINT NOT NULL,
    cluster_id BIGINT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL,
    resource_state TEXT NOT NULL,
    hypervisor TEXT NOT NULL,
    host_tags TEXT,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE service_offerings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    display_text TEXT NOT NULL,
    cpu_number BIGINT NOT NULL,
    cpu_speed BIGINT NOT NULL,
    memory BIGINT NOT NULL,
    host_tags TEXT,
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    display_text TEXT NOT NULL,
    format TEXT NOT NULL,
    hypervisor TEXT NOT NULL,
    os_type TEXT NOT NULL,
    extension_id BIGINT,
    arch TEXT NOT NULL,
    is_public BIGINT NOT NULL DEFAULT 1,
    is_featured BIGINT NOT NULL DEFAULT 0,
    account_id BIGINT NOT NULL,
    zone_id BIGINT,
    url TEXT NOT NULL,
    size BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE network_offerings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    display_text TEXT NOT NULL,
    guest_ip_type TEXT NOT NULL,
    specify_vlan BIGINT NOT NULL DEFAULT 1,
    state TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE networks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    display_text TEXT NOT NULL,
    zone_id BIGINT NOT NULL,
    network_offering_id BIGINT NOT NULL,
    guest_type TEXT NOT NULL,
    broadcast_uri TEXT,
    gateway TEXT,
    netmask TEXT,
    start_ip TEXT,
    end_ip TEXT,
    dns1 TEXT,
    dns2 TEXT,
    account_id BIGINT NOT NULL,
    domain_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE vm_instances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    instance_name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    account_id BIGINT NOT NULL,
    domain_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    zone_id BIGINT NOT NULL,
    host_id BIGINT,
    last_host_id BIGINT,
    template_id BIGINT NOT NULL,
    service_offering_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    power_state TEXT NOT NULL,
    power_state_updated BIGINT,
    generation BIGINT NOT NULL DEFAULT 1,
    vnc_password TEXT NOT NULL,
    ha_enabled BIGINT NOT NULL DEFAULT 0,
    user_data TEXT,
    started_once BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE INDEX idx_vm_instances_host ON vm_instances (host_id);
CREATE INDEX idx_vm_instances_state ON vm_instances (state);
CREATE TABLE nics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    instance_id BIGINT NOT NULL,
    network_id BIGINT NOT NULL,
    device_id BIGINT NOT NULL,
    mac TEXT NOT NULL,
    ip TEXT,
    netmask TEXT,
    gateway TEXT,
    is_default BIGINT NOT NULL DEFAULT 0,
    broadcast_uri TEXT,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE INDEX idx_nics_instance ON nics (instance_id);
CREATE UNIQUE INDEX idx_nics_mac ON nics (mac);
