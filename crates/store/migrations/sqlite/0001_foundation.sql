CREATE TABLE servers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    started BIGINT NOT NULL,
    heartbeat BIGINT NOT NULL
);
CREATE TABLE domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    parent_id BIGINT,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role_type TEXT NOT NULL,
    description TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    domain_id BIGINT NOT NULL,
    role_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    account_id BIGINT NOT NULL,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    firstname TEXT NOT NULL,
    lastname TEXT NOT NULL,
    email TEXT,
    api_key TEXT UNIQUE,
    secret_key TEXT,
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE sessions (
    session_key TEXT PRIMARY KEY,
    jsession_id TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE TABLE configurations (
    name TEXT PRIMARY KEY,
    value TEXT,
    default_value TEXT,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    is_dynamic BIGINT NOT NULL DEFAULT 1
);
CREATE TABLE async_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    cmd TEXT NOT NULL,
    params TEXT NOT NULL,
    status BIGINT NOT NULL DEFAULT 0,
    result_code BIGINT NOT NULL DEFAULT 0,
    result_type TEXT,
    result TEXT,
    instance_type TEXT,
    instance_uuid TEXT,
    owner TEXT,
    lease_until BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    step TEXT,
    created BIGINT NOT NULL,
    completed BIGINT
);
CREATE INDEX idx_async_jobs_pending ON async_jobs (status, id);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    level TEXT NOT NULL,
    state TEXT NOT NULL,
    description TEXT NOT NULL,
    user_id BIGINT,
    account_id BIGINT,
    domain_id BIGINT,
    resource_type TEXT,
    resource_uuid TEXT,
    created BIGINT NOT NULL
);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    type_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_sent BIGINT NOT NULL
);
CREATE TABLE extensions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    ext_type TEXT NOT NULL,
    relative_path TEXT NOT NULL,
    path_ready BIGINT NOT NULL DEFAULT 0,
    is_user_defined BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE extension_resource_maps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    extension_id BIGINT NOT NULL,
    resource_id BIGINT NOT NULL,
    resource_type TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE INDEX idx_extension_resource ON extension_resource_maps (resource_id, resource_type);
CREATE TABLE custom_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    extension_id BIGINT NOT NULL,
    resource_type TEXT,
    allowed_role_types BIGINT NOT NULL DEFAULT 1,
    success_message TEXT,
    error_message TEXT,
    enabled BIGINT NOT NULL DEFAULT 0,
    timeout BIGINT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE details (
    owner_kind TEXT NOT NULL,
    owner_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    display BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (owner_kind, owner_id, name)
);
CREATE TABLE extension_checksums (
    extension_id BIGINT NOT NULL,
    server_id TEXT NOT NULL,
    checksum TEXT,
    checked BIGINT NOT NULL,
    PRIMARY KEY (extension_id, server_id)
);
